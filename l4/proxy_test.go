package l4

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"

	proxyproto "github.com/pires/go-proxyproto"

	"github.com/switchyard/switchyard/internal/runtime"
)

// backend is a test target on 127.0.0.1:0 that records what it received.
type backend struct {
	ln   net.Listener
	addr string
	mu   sync.Mutex
	// headers are the PROXY headers read on each connection (when parse is on).
	headers [][]byte
	conns   int
	wg      sync.WaitGroup
}

// startBackend runs handle for every connection. With pp, the PROXY v2
// header is read (and recorded) first.
func startBackend(t testing.TB, pp bool, handle func(c net.Conn, br *bufio.Reader)) *backend {
	t.Helper()
	ln := mustListen(t)
	b := &backend{ln: ln, addr: ln.Addr().String()}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.wg.Add(1)
			go func() {
				defer b.wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(30 * time.Second))
				br := bufio.NewReader(c)
				b.mu.Lock()
				b.conns++
				b.mu.Unlock()
				if pp {
					hdr, err := readRawV2(br)
					if err != nil {
						return
					}
					b.mu.Lock()
					b.headers = append(b.headers, hdr)
					b.mu.Unlock()
				}
				handle(c, br)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); b.wg.Wait() })
	return b
}

func (b *backend) connCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.conns
}

func (b *backend) header(i int) []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	if i >= len(b.headers) {
		return nil
	}
	return b.headers[i]
}

// readRawV2 reads one PROXY v2 header's bytes.
func readRawV2(br *bufio.Reader) ([]byte, error) {
	fixed, err := br.Peek(16)
	if err != nil {
		return nil, err
	}
	n := 16 + (int(fixed[14])<<8 | int(fixed[15]))
	hdr := make([]byte, n)
	_, err = io.ReadFull(br, hdr)
	return hdr, err
}

// echo copies what it reads back, then half-closes.
func echo(c net.Conn, br *bufio.Reader) {
	_, _ = io.Copy(c, br)
	_ = c.(*net.TCPConn).CloseWrite()
	_, _ = io.Copy(io.Discard, br)
}

type proxyEnv struct {
	p        *Proxy
	addr     string
	g        *runtime.Group
	records  chan Record
	serveErr chan error
}

func startProxy(t testing.TB, cfg Config, wrap func(net.Listener) net.Listener, targets ...string) *proxyEnv {
	t.Helper()
	env := &proxyEnv{records: make(chan Record, 256), serveErr: make(chan error, 1)}
	if cfg.Group == nil {
		cfg.Group = newTestGroup(t, targets...)
	}
	env.g = cfg.Group
	cfg.OnFlow = func(r *Record) { env.records <- *r }
	if cfg.Listener == "" {
		cfg.Listener = "tcp-test"
	}
	p, err := NewProxy(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	env.p = p
	ln := mustListen(t)
	env.addr = ln.Addr().String()
	var l net.Listener = ln
	if wrap != nil {
		l = wrap(ln)
	}
	go func() { env.serveErr <- p.Serve(l) }()
	t.Cleanup(func() { p.Close() })
	return env
}

func (e *proxyEnv) record(t testing.TB) Record {
	t.Helper()
	select {
	case r := <-e.records:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no flow record")
		return Record{}
	}
}

func dial(t testing.TB, addr string) *net.TCPConn {
	t.Helper()
	c := dialFrom(t, "127.0.0.1", addr)
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	return c.(*net.TCPConn)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// 1 MiB each way arrives byte-exact at the target and back at the client,
// through the splice path, with the PROXY v2 header before the payload.
func TestProxyTransfer1MiB(t *testing.T) {
	var got []byte
	var gotMu sync.Mutex
	be := startBackend(t, true, func(c net.Conn, br *bufio.Reader) {
		var buf bytes.Buffer
		_, _ = io.Copy(io.MultiWriter(c, &buf), br)
		gotMu.Lock()
		got = buf.Bytes()
		gotMu.Unlock()
		_ = c.(*net.TCPConn).CloseWrite()
	})
	env := startProxy(t, Config{ProxyProtocolV2: true, EndpointID: "vpce-0123"}, nil, be.addr)
	payload := randomBytes(1 << 20)
	switches := spliceSwitches.Load()
	c := dial(t, env.addr)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(payload)
		if err == nil {
			err = c.CloseWrite()
		}
		errc <- err
	}()
	back, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back, payload) {
		t.Fatalf("client got %d bytes back, not the %d sent", len(back), len(payload))
	}
	r := env.record(t)
	if canSplice && spliceSwitches.Load() == switches {
		t.Error("a 1 MiB transfer never switched to splice")
	}
	gotMu.Lock()
	defer gotMu.Unlock()
	if !bytes.Equal(got, payload) {
		t.Fatalf("target received %d bytes, not the %d sent", len(got), len(payload))
	}
	p, err := parseV2(be.header(0))
	if err != nil {
		t.Fatalf("header: %v", err)
	}
	if p.src.String() != c.LocalAddr().String() || p.dst.String() != env.addr {
		t.Errorf("header addresses %v -> %v, want %v -> %v", p.src, p.dst, c.LocalAddr(), env.addr)
	}
	if len(p.tlvs[0x05]) != 16 || string(p.tlvs[0xEA]) != "\x01vpce-0123" {
		t.Errorf("unique id %x, aws tlv %q", p.tlvs[0x05], p.tlvs[0xEA])
	}
	if r.Received != 1<<20 || r.Sent != 1<<20 || r.Target != be.addr || r.CloseReason != ReasonClientClose {
		t.Errorf("record %+v", r)
	}
	if r.Client.String() != c.LocalAddr().String() {
		t.Errorf("record client %v", r.Client)
	}
	ctr := env.p.Counters()
	if ctr.BytesIn.Load() != 1<<20 || ctr.BytesOut.Load() != 1<<20 || ctr.NewFlows.Load() != 1 || ctr.ActiveFlows.Load() != 0 {
		t.Errorf("counters in %d out %d new %d active %d", ctr.BytesIn.Load(), ctr.BytesOut.Load(), ctr.NewFlows.Load(), ctr.ActiveFlows.Load())
	}
}

// The client half-closes; the target still answers after seeing EOF. Then
// the reverse: the target half-closes first and the client keeps sending.
func TestProxyHalfClose(t *testing.T) {
	late := make(chan string, 1)
	be := startBackend(t, false, func(c net.Conn, br *bufio.Reader) {
		first, _ := br.ReadByte()
		if first == 'Q' { // the client closes first
			rest, err := io.ReadAll(br)
			if err != nil {
				return
			}
			_, _ = io.WriteString(c, "answer to Q"+string(rest))
			return
		}
		// The target closes first, then reads what still comes.
		_, _ = io.WriteString(c, "bye")
		_ = c.(*net.TCPConn).CloseWrite()
		rest, _ := io.ReadAll(br)
		late <- string(rest)
	})
	env := startProxy(t, Config{}, nil, be.addr)

	c := dial(t, env.addr)
	_, _ = io.WriteString(c, "Q+more")
	_ = c.CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "answer to Q+more" {
		t.Fatalf("client got %q, %v", got, err)
	}
	if r := env.record(t); r.CloseReason != ReasonClientClose || r.Received != 6 || r.Sent != 16 {
		t.Errorf("record %+v", r)
	}

	c2 := dial(t, env.addr)
	_, _ = io.WriteString(c2, "T")
	br := bufio.NewReader(c2)
	b := make([]byte, 3)
	if _, err := io.ReadFull(br, b); err != nil || string(b) != "bye" {
		t.Fatalf("client got %q, %v", b, err)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("client did not see the target's FIN: %v", err)
	}
	_, _ = io.WriteString(c2, "after-fin")
	_ = c2.CloseWrite()
	if r := env.record(t); r.CloseReason != ReasonTargetClose || r.Received != 10 {
		t.Errorf("record %+v", r)
	}
	if got := <-late; got != "after-fin" {
		t.Errorf("target received %q after its FIN", got)
	}
}

func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET)
}

// A flow idle longer than the idle timeout is reset on both sides; flows
// with traffic in either direction are not.
func TestProxyIdleTimeout(t *testing.T) {
	const idle = 800 * time.Millisecond
	targetErr := make(chan error, 4)
	be := startBackend(t, false, func(c net.Conn, br *bufio.Reader) {
		cmd, err := br.ReadByte()
		if err != nil {
			return
		}
		switch cmd {
		case 'i': // idle: wait for the proxy to give up on us
			_, err = br.ReadByte()
			targetErr <- err
		case 's': // stream to the client for 3 idle timeouts
			for i := range 30 {
				if _, err := c.Write([]byte{byte(i)}); err != nil {
					targetErr <- err
					return
				}
				time.Sleep(idle / 10)
			}
			_ = c.(*net.TCPConn).CloseWrite()
			_, _ = io.Copy(io.Discard, br)
			targetErr <- nil
		case 'e': // echo what the client trickles
			_, _ = io.Copy(c, br)
			targetErr <- nil
		}
	})
	env := startProxy(t, Config{IdleTimeout: idle}, nil, be.addr)

	// Idle: reset at ~idle (within the idle/8 granularity), both sides.
	c := dial(t, env.addr)
	start := time.Now()
	_, _ = c.Write([]byte{'i'})
	_, err := c.Read(make([]byte, 1))
	el := time.Since(start)
	if !isReset(err) {
		t.Errorf("client read after idle: %v, want a reset", err)
	}
	if el < idle || el > 4*idle {
		t.Errorf("reset after %v, idle timeout %v", el, idle)
	}
	if err := <-targetErr; !isReset(err) && err != io.EOF {
		t.Errorf("target read after idle: %v", err)
	}
	if r := env.record(t); r.CloseReason != ReasonIdleTimeout {
		t.Errorf("record %+v", r)
	}

	// One-way stream from the target longer than the idle timeout survives
	// (the client direction is idle all along).
	c2 := dial(t, env.addr)
	_, _ = c2.Write([]byte{'s'})
	got, err := io.ReadAll(c2)
	if err != nil || len(got) != 30 {
		t.Errorf("stream: %d bytes, %v", len(got), err)
	}
	_ = c2.CloseWrite()
	if err := <-targetErr; err != nil {
		t.Errorf("stream target: %v", err)
	}
	if r := env.record(t); r.CloseReason != ReasonTargetClose {
		t.Errorf("stream record %+v", r)
	}

	// The client trickles a byte every idle/4 for 3 idle timeouts.
	c3 := dial(t, env.addr)
	_, _ = c3.Write([]byte{'e'})
	for i := range 12 {
		if _, err := c3.Write([]byte{byte(i)}); err != nil {
			t.Fatalf("trickle write %d: %v", i, err)
		}
		b := make([]byte, 1)
		if _, err := io.ReadFull(c3, b); err != nil || b[0] != byte(i) {
			t.Fatalf("trickle echo %d: %v %v", i, b, err)
		}
		time.Sleep(idle / 4)
	}
	_ = c3.CloseWrite()
	if _, err := io.ReadAll(c3); err != nil {
		t.Errorf("trickle end: %v", err)
	}
	<-targetErr
}

// deadAddr is a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().String()
	ln.Close()
	return a
}

// A refused connect is retried once on another target; the client never
// notices, and the refusing target gets passive failure reports.
func TestProxyConnectRetry(t *testing.T) {
	be := startBackend(t, false, echo)
	dead := deadAddr(t)
	env := startProxy(t, Config{ConnectTimeout: 2 * time.Second}, nil, dead, be.addr)
	for i := range 20 {
		c := dial(t, env.addr)
		_, _ = io.WriteString(c, "ping")
		_ = c.CloseWrite()
		got, err := io.ReadAll(c)
		if err != nil || string(got) != "ping" {
			t.Fatalf("flow %d: %q %v", i, got, err)
		}
		if r := env.record(t); r.Target != be.addr {
			t.Fatalf("flow %d went to %q", i, r.Target)
		}
	}
	errs := env.p.Counters().TargetConnectErrors.Load()
	if errs == 0 || errs == 20 {
		t.Errorf("%d connect errors over 20 flows; want some, not all (Maglev splits keys)", errs)
	}
	if f := env.g.Lookup(dead).TakeFailures(); uint64(f) != errs {
		t.Errorf("dead target has %d passive failures, want %d", f, errs)
	}
	if be.connCount() != 20 {
		t.Errorf("backend saw %d connections", be.connCount())
	}

	// With every target refusing, the client is reset and the record says why.
	env2 := startProxy(t, Config{}, nil, dead)
	expectRefused(t, env2.addr)
	if r := env2.record(t); r.CloseReason != ReasonConnectError || r.Err == nil {
		t.Errorf("record %+v", r)
	}
}

// expectRefused connects and expects a reset, either already while
// connecting (the RST can beat the connect's completion) or on first read.
func expectRefused(t testing.TB, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		if !isReset(err) {
			t.Errorf("dial: %v", err)
		}
		return
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); !isReset(err) {
		t.Errorf("read: %v, want a reset", err)
	}
}

func TestProxyNoTarget(t *testing.T) {
	env := startProxy(t, Config{}, nil)
	expectRefused(t, env.addr)
	if r := env.record(t); r.CloseReason != ReasonNoTarget {
		t.Errorf("record %+v", r)
	}
}

// roundTrip writes msg and reads len(msg) bytes back from an echo target.
func roundTrip(t testing.TB, c net.Conn, msg string) {
	t.Helper()
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatalf("write %q: %v", msg, err)
	}
	b := make([]byte, len(msg))
	if _, err := io.ReadFull(c, b); err != nil || string(b) != msg {
		t.Fatalf("echo of %q: %q %v", msg, b, err)
	}
}

// Established flows keep their target when it is deregistered, when others
// are added and when the listener's config is swapped; new flows follow the
// new state.
func TestProxyFlowsSurviveChanges(t *testing.T) {
	a := startBackend(t, false, echo)
	b := startBackend(t, false, echo)
	env := startProxy(t, Config{}, nil, a.addr)
	c := dial(t, env.addr)
	roundTrip(t, c, "one")

	env.g.Register([]runtime.TargetSpec{{Addr: b.addr}})
	env.g.Deregister([]string{a.addr}, time.Hour)
	if err := env.p.Update(Config{Listener: "renamed", Group: env.g, IdleTimeout: time.Minute, OnFlow: func(r *Record) { env.records <- *r }}); err != nil {
		t.Fatal(err)
	}
	roundTrip(t, c, "two")

	// New flows go to b only, once the table is rebuilt (bounded wait).
	deadline := time.Now().Add(10 * time.Second)
	for env.p.cfg.Load().balancer.Gen() < env.g.View().Gen && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	for i := range 10 {
		c2 := dial(t, env.addr)
		roundTrip(t, c2, "new")
		c2.Close()
		if r := env.record(t); r.Target != b.addr || r.Listener != "renamed" {
			t.Fatalf("new flow %d: %+v", i, r)
		}
	}
	roundTrip(t, c, "three")
	_ = c.CloseWrite()
	_, _ = io.ReadAll(c)
	if r := env.record(t); r.Target != a.addr || r.Listener != "tcp-test" || r.Received != 11 {
		t.Errorf("old flow record %+v", r)
	}
}

// connection_termination resets a target's flows when its deregistration
// delay ends.
func TestProxyConnectionTermination(t *testing.T) {
	a := startBackend(t, false, echo)
	env := startProxy(t, Config{ConnectionTermination: true}, nil, a.addr)
	c := dial(t, env.addr)
	roundTrip(t, c, "hi")
	env.g.Deregister([]string{a.addr}, 50*time.Millisecond)
	if _, err := c.Read(make([]byte, 1)); !isReset(err) {
		t.Errorf("read after termination: %v, want reset", err)
	}
	if r := env.record(t); r.CloseReason != ReasonDeregistered {
		t.Errorf("record %+v", r)
	}
}

// Shutdown stops accepting, waits for open flows and resets them at the
// deadline.
func TestProxyShutdown(t *testing.T) {
	a := startBackend(t, false, echo)
	env := startProxy(t, Config{}, nil, a.addr)
	c := dial(t, env.addr)
	roundTrip(t, c, "hi")

	// A flow that finishes within the deadline: Shutdown returns nil.
	done := make(chan error, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() { done <- env.p.Shutdown(ctx) }()
	select {
	case err := <-env.serveErr:
		if !errors.Is(err, ErrProxyClosed) {
			t.Errorf("Serve returned %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve still running after Shutdown")
	}
	if _, err := net.DialTimeout("tcp", env.addr, time.Second); err == nil {
		t.Error("new connection accepted after Shutdown")
	}
	roundTrip(t, c, "still open")
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned %v with a flow open", err)
	default:
	}
	_ = c.CloseWrite()
	_, _ = io.ReadAll(c)
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}

	// A flow still open at the deadline is reset.
	env2 := startProxy(t, Config{}, nil, a.addr)
	c2 := dial(t, env2.addr)
	roundTrip(t, c2, "hi")
	ctx2, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	if err := env2.p.Shutdown(ctx2); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown: %v", err)
	}
	if _, err := c2.Read(make([]byte, 1)); !isReset(err) {
		t.Errorf("read after forced shutdown: %v", err)
	}
	if r := env2.record(t); r.CloseReason != ReasonShutdown {
		t.Errorf("record %+v", r)
	}
}

// Behind a trusted load balancer the carried client drives the hash and the
// header sent onward; two proxies with the same targets pick the same
// target for the same carried 5-tuple.
func TestProxyBehindProxyProtocol(t *testing.T) {
	targets := make([]*backend, 5)
	addrs := make([]string, 5)
	for i := range targets {
		targets[i] = startBackend(t, true, echo)
		addrs[i] = targets[i].addr
	}
	wrap := func(ln net.Listener) net.Listener {
		return NewProxyProtocolListener(ln, lo("127.0.0.0/8"), time.Second)
	}
	one := startProxy(t, Config{ProxyProtocolV2: true}, wrap, addrs...)
	two := startProxy(t, Config{ProxyProtocolV2: true}, wrap, addrs...)
	dst := netip.MustParseAddrPort("127.0.0.1:8081")
	for i := range 20 {
		carried := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 10, 0, byte(i)}), uint16(30000+i))
		hdr, _ := AppendHeaderV2(nil, carried, dst, nil)
		var picked [2]string
		for j, env := range []*proxyEnv{one, two} {
			c := dial(t, env.addr)
			_, _ = c.Write(hdr)
			roundTrip(t, c, "x")
			_ = c.CloseWrite()
			_, _ = io.ReadAll(c)
			r := env.record(t)
			if r.Client != carried || r.Destination != dst {
				t.Fatalf("record client %v dst %v, want %v %v", r.Client, r.Destination, carried, dst)
			}
			picked[j] = r.Target
		}
		if picked[0] != picked[1] {
			t.Fatalf("key %d: proxies picked %s and %s", i, picked[0], picked[1])
		}
	}
	// The headers the targets received carry the original client.
	seen := 0
	for _, b := range targets {
		for i := 0; b.header(i) != nil; i++ {
			p, err := parseV2(b.header(i))
			if err != nil {
				t.Fatal(err)
			}
			if p.src.Addr().As4()[1] != 10 || p.dst != dst {
				t.Errorf("target header %v -> %v", p.src, p.dst)
			}
			seen++
		}
	}
	if seen != 40 {
		t.Errorf("targets received %d headers, want 40", seen)
	}
}

func selfSignedTLS(t *testing.T) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "db.example.com"},
		DNSNames:     []string{"db.example.com"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

// A TLS listener terminates TLS, forwards plaintext and sends the SNI as
// PP2_TYPE_AUTHORITY.
func TestProxyTLS(t *testing.T) {
	be := startBackend(t, true, echo)
	env := startProxy(t, Config{TLS: selfSignedTLS(t), ProxyProtocolV2: true}, nil, be.addr)
	c, err := tls.Dial("tcp", env.addr, &tls.Config{ServerName: "db.example.com", InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	payload := randomBytes(256 << 10)
	go func() {
		_, _ = c.Write(payload)
		_ = c.CloseWrite()
	}()
	got, err := io.ReadAll(c)
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("TLS echo: %d bytes, %v", len(got), err)
	}
	p, err := parseV2(be.header(0))
	if err != nil {
		t.Fatal(err)
	}
	if string(p.tlvs[0x02]) != "db.example.com" {
		t.Errorf("authority %q", p.tlvs[0x02])
	}
	r := env.record(t)
	if r.SNI != "db.example.com" || r.Received != 256<<10 || r.Sent != 256<<10 || r.TLSHandshakeTime <= 0 {
		t.Errorf("record %+v", r)
	}

	// A client that is not speaking TLS is closed and counted.
	raw := dial(t, env.addr)
	_, _ = io.WriteString(raw, "GET / HTTP/1.1\r\n\r\n")
	_, _ = io.ReadAll(raw)
	if r := env.record(t); r.CloseReason != ReasonTLSHandshake {
		t.Errorf("record %+v", r)
	}
}

// wrapped mimics cmd/lb's counted connection: a NetConn-unwrappable wrapper.
type wrapped struct{ net.Conn }

func (w wrapped) NetConn() net.Conn { return w.Conn }

// Copies between TCP sockets, even wrapped ones, take the splice path.
func TestSplicePath(t *testing.T) {
	ln := mustListen(t)
	c1 := dial(t, ln.Addr().String())
	s1, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s1.Close()
	pc := proxyproto.NewConn(wrapped{s1})
	d := newDirection(&flow{}, "target", pc, wrapped{c1}, nil)
	if d.srcTCP == nil || d.dstTCP == nil || !d.ppFirst {
		t.Error("proxyproto over a wrapper does not splice")
	}
	tc := tls.Server(s1, &tls.Config{})
	if d := newDirection(&flow{}, "target", tc, c1, nil); d.srcTCP != nil {
		t.Error("TLS must not be spliced")
	}
	if socketOf(tc) != s1 {
		t.Error("socketOf does not see through TLS")
	}
}

func tlsClient(c net.Conn, sni string) *tls.Conn {
	return tls.Client(c, &tls.Config{ServerName: sni, InsecureSkipVerify: true})
}
