package l4

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/netip"
	goruntime "runtime"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/runtime"
)

// Many concurrent flows of random sizes arrive byte-exact, and each open
// flow costs the proxy two goroutines.
func TestProxyConcurrentFlows(t *testing.T) {
	targets := []string{
		startBackend(t, true, echo).addr,
		startBackend(t, true, echo).addr,
		startBackend(t, true, echo).addr,
	}
	env := startProxy(t, Config{ProxyProtocolV2: true}, nil, targets...)
	const flows = 64
	conns := make([]io.ReadWriteCloser, flows)
	base := goruntime.NumGoroutine()
	for i := range conns {
		c := dial(t, env.addr)
		roundTrip(t, c, "x") // the flow is established end to end
		conns[i] = c
	}
	// Proxy: 2 per flow; each backend: 1 per connection.
	if g := goruntime.NumGoroutine() - base; g > 3*flows+8 {
		t.Errorf("%d goroutines for %d open flows", g, flows)
	}
	var wg sync.WaitGroup
	errs := make(chan error, flows)
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			payload := randomBytes(1 + (i*7919)%(300<<10))
			go func() {
				_, _ = c.Write(payload)
				_ = c.(interface{ CloseWrite() error }).CloseWrite()
			}()
			got, err := io.ReadAll(c)
			c.Close()
			if err != nil || !bytes.Equal(got, payload) {
				errs <- fmt.Errorf("flow %d: %d of %d bytes, %v", i, len(got), len(payload), err)
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("flows did not finish in 60 s")
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for range flows {
		if r := env.record(t); r.CloseReason != ReasonClientClose && r.CloseReason != ReasonTargetClose {
			t.Errorf("record %+v", r)
		}
	}
	if a := env.p.Counters().ActiveFlows.Load(); a != 0 {
		t.Errorf("%d flows still active", a)
	}
}

// BenchmarkProxyFlow is one short flow end to end (connect, 1 KiB each way,
// close), client and target in the same process: a regression guard, not
// a peer comparison (bench/ does that).
func BenchmarkProxyFlow(b *testing.B) {
	be := startBackend(b, false, echo)
	env := startProxy(b, Config{}, nil, be.addr)
	go func() {
		for range env.records {
		}
	}()
	msg := bytes.Repeat([]byte("a"), 1024)
	buf := make([]byte, 1024)
	b.ReportAllocs()
	for b.Loop() {
		c := dial(b, env.addr)
		_, _ = c.Write(msg)
		_ = c.CloseWrite()
		_, _ = io.ReadFull(c, buf)
		c.Close()
	}
}

// BenchmarkProxyBulk moves 1 MiB through one flow per iteration.
func BenchmarkProxyBulk(b *testing.B) {
	be := startBackend(b, false, func(c net.Conn, br *bufio.Reader) {
		_, _ = io.Copy(io.Discard, br)
		_ = c.(*net.TCPConn).CloseWrite()
	})
	env := startProxy(b, Config{}, nil, be.addr)
	go func() {
		for range env.records {
		}
	}()
	payload := randomBytes(1 << 20)
	b.SetBytes(1 << 20)
	for b.Loop() {
		c := dial(b, env.addr)
		_, _ = c.Write(payload)
		_ = c.CloseWrite()
		_, _ = io.Copy(io.Discard, c)
		c.Close()
	}
}

// An IPv6 client on an IPv6 listener: the header to the target is TCP over
// IPv6 with the client's address.
func TestProxyIPv6(t *testing.T) {
	ln6, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	be := startBackend(t, true, echo)
	p, err := NewProxy(Config{Listener: "v6", Group: newTestGroup(t, be.addr), ProxyProtocolV2: true}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	go func() { _ = p.Serve(ln6) }()
	c, err := net.DialTimeout("tcp", ln6.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	roundTrip(t, c, "six")
	h, err := parseV2(be.header(0))
	if err != nil {
		t.Fatal(err)
	}
	if h.fam != 0x21 || h.src.String() != c.LocalAddr().String() || h.dst.String() != ln6.Addr().String() {
		t.Errorf("header fam %#x %v -> %v, want IPv6 %v -> %v", h.fam, h.src, h.dst, c.LocalAddr(), ln6.Addr())
	}
}

// source_ip sends every connection of a client address to one target;
// flow_hash spreads them over the group.
func TestProxySourceIPAlgorithm(t *testing.T) {
	addrs := make([]string, 5)
	for i := range addrs {
		addrs[i] = startBackend(t, false, echo).addr
	}
	for _, alg := range []Algorithm{SourceIP, FlowHash} {
		env := startProxy(t, Config{Algorithm: alg}, nil, addrs...)
		seen := map[string]int{}
		for range 20 {
			c := dialFrom(t, "127.0.0.5", env.addr)
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			roundTrip(t, c, "s")
			c.Close()
			seen[env.record(t).Target]++
		}
		if alg == SourceIP && len(seen) != 1 {
			t.Errorf("source_ip: one client reached %d targets: %v", len(seen), seen)
		}
		if alg == FlowHash && len(seen) < 3 {
			t.Errorf("flow_hash: 20 connections reached only %d targets: %v", len(seen), seen)
		}
	}
}

// Update to another target group: new flows go to the new group, the open
// flow stays on the old target.
func TestProxyUpdateGroup(t *testing.T) {
	a := startBackend(t, false, echo)
	b := startBackend(t, false, echo)
	env := startProxy(t, Config{}, nil, a.addr)
	c := dial(t, env.addr)
	roundTrip(t, c, "before")
	reg := runtime.NewRegistry(nil)
	g2 := reg.Group("other")
	g2.SetChecksDisabled(true)
	g2.Register([]runtime.TargetSpec{{Addr: b.addr}})
	if err := env.p.Update(Config{Listener: "tcp-test", Group: g2, OnFlow: func(r *Record) { env.records <- *r }}); err != nil {
		t.Fatal(err)
	}
	c2 := dial(t, env.addr)
	roundTrip(t, c2, "after")
	c2.Close()
	if r := env.record(t); r.Target != b.addr || r.TargetGroup != "other" {
		t.Errorf("new flow %+v", r)
	}
	roundTrip(t, c, "still")
	c.Close()
	if r := env.record(t); r.Target != a.addr || r.TargetGroup != "g" {
		t.Errorf("old flow %+v", r)
	}
	if err := env.p.Update(Config{}); err == nil {
		t.Error("Update without a group accepted")
	}
}

// With TerminateUnhealthy, a target turning unhealthy resets its flows;
// other targets' flows and a failing-open group's flows keep running.
func TestProxyTerminateUnhealthy(t *testing.T) {
	a := startBackend(t, false, echo)
	b := startBackend(t, false, echo)
	reg := runtime.NewRegistry(nil)
	g := reg.Group("nlb")
	g.Register([]runtime.TargetSpec{{Addr: a.addr}, {Addr: b.addr}})
	for _, tg := range g.Targets() {
		tg.SetHealth(true, "")
	}
	env := startProxy(t, Config{Group: g, TerminateUnhealthy: true}, nil)
	// Open flows until both targets carry one (bounded).
	ta := g.Lookup(a.addr)
	var onA, onB []net.Conn
	for i := 0; i < 64 && (len(onA) == 0 || len(onB) == 0); i++ {
		before := ta.InFlight()
		c := dial(t, env.addr)
		roundTrip(t, c, "x") // connected: the target's in-flight count is up
		if ta.InFlight() > before {
			onA = append(onA, c)
		} else {
			onB = append(onB, c)
		}
	}
	if len(onA) == 0 || len(onB) == 0 {
		t.Fatalf("flows on a: %d, on b: %d", len(onA), len(onB))
	}
	g.Lookup(a.addr).SetHealth(false, runtime.ReasonFailedHealthChecks)
	_ = onA[0].SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := onA[0].Read(make([]byte, 1)); !isReset(err) {
		t.Errorf("flow on the unhealthy target: %v, want a reset", err)
	}
	if r := env.record(t); r.CloseReason != ReasonUnhealthy || r.Target != a.addr {
		t.Errorf("record %+v", r)
	}
	roundTrip(t, onB[0], "still")

	// Both unhealthy: the group fails open and flows on b stay.
	g.Lookup(b.addr).SetHealth(false, runtime.ReasonFailedHealthChecks)
	roundTrip(t, onB[0], "open")
}

func TestNewStandalone(t *testing.T) {
	be := startBackend(t, true, echo)
	p, addr, err := NewStandalone("127.0.0.1:0", []string{be.addr}, true)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c := dial(t, addr.String())
	roundTrip(t, c, "standalone")
	if h, err := parseV2(be.header(0)); err != nil || h.src.String() != c.LocalAddr().String() {
		t.Errorf("header %+v, %v", h, err)
	}
	if _, _, err := NewStandalone("127.0.0.1:notaport", []string{be.addr}, false); err == nil {
		t.Error("bad listen address accepted")
	}
}

// Payload that arrives in the same segment as the PROXY header (buffered by
// go-proxyproto) reaches the target intact and before later bytes.
func TestProxyPayloadWithHeader(t *testing.T) {
	be := startBackend(t, true, echo)
	wrap := func(ln net.Listener) net.Listener {
		return NewProxyProtocolListener(ln, lo("127.0.0.0/8"), time.Second)
	}
	env := startProxy(t, Config{ProxyProtocolV2: true}, wrap, be.addr)
	hdr, _ := AppendHeaderV2(nil, netip.MustParseAddrPort("127.3.3.3:3333"), netip.MustParseAddrPort("127.0.0.1:1"), nil)
	first := randomBytes(200) // fits go-proxyproto's 256-byte buffer with the header
	rest := randomBytes(100 << 10)
	c := dial(t, env.addr)
	if _, err := c.Write(append(hdr, first...)); err != nil {
		t.Fatal(err)
	}
	go func() {
		_, _ = c.Write(rest)
		_ = c.CloseWrite()
	}()
	got, err := io.ReadAll(c)
	want := append(append([]byte(nil), first...), rest...)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("echo: %d bytes (want %d), %v", len(got), len(want), err)
	}
	if r := env.record(t); r.Received != int64(len(want)) || r.Client.String() != "127.3.3.3:3333" {
		t.Errorf("record %+v", r)
	}
}

// A TLS listener in front of a TLS target group: TLS on both legs, the
// PROXY header in clear before the target handshake, the client's SNI sent
// to the target.
func TestProxyTargetTLS(t *testing.T) {
	srvTLS := selfSignedTLS(t)
	sniSeen := make(chan string, 1)
	srvTLS.GetConfigForClient = func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		sniSeen <- h.ServerName
		return nil, nil
	}
	be := startBackend(t, true, func(c net.Conn, br *bufio.Reader) {
		tc := tls.Server(&bufferedConn{Conn: c, r: br}, srvTLS)
		defer tc.Close()
		_, _ = io.Copy(tc, tc)
		_ = tc.CloseWrite()
	})
	env := startProxy(t, Config{TLS: selfSignedTLS(t), ProxyProtocolV2: true,
		TargetTLS: &tls.Config{InsecureSkipVerify: true}}, nil, be.addr)
	c, err := tls.Dial("tcp", env.addr, &tls.Config{ServerName: "db.example.com", InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	payload := randomBytes(200 << 10)
	go func() {
		_, _ = c.Write(payload)
		_ = c.CloseWrite()
	}()
	got, err := io.ReadAll(c)
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("echo over TLS both ways: %d bytes, %v", len(got), err)
	}
	if sni := <-sniSeen; sni != "db.example.com" {
		t.Errorf("target saw SNI %q", sni)
	}
	if h, err := parseV2(be.header(0)); err != nil || string(h.tlvs[0x02]) != "db.example.com" {
		t.Errorf("header %+v %v", h, err)
	}
	if r := env.record(t); r.Received != 200<<10 || r.Sent != 200<<10 {
		t.Errorf("record %+v", r)
	}

	// A target that does not speak TLS: the flow ends with the reason.
	plain := startBackend(t, false, func(c net.Conn, br *bufio.Reader) { _, _ = io.WriteString(c, "not tls\r\n") })
	env2 := startProxy(t, Config{TargetTLS: &tls.Config{InsecureSkipVerify: true}}, nil, plain.addr)
	expectRefused(t, env2.addr)
	if r := env2.record(t); r.CloseReason != ReasonTargetTLSHandshake {
		t.Errorf("record %+v", r)
	}
}

// bufferedConn reads through the bufio.Reader the test backend used for
// the PROXY header.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (b *bufferedConn) Read(p []byte) (int, error) { return b.r.Read(p) }
