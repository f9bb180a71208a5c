//go:build linux

package l7

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
	"github.com/valyala/fasthttp"

	"github.com/switchyard/switchyard/config"
	iruntime "github.com/switchyard/switchyard/internal/runtime"
	"github.com/switchyard/switchyard/internal/testenv"
)

// startParkLB is an lb in front of one target whose idle connections park
// after 50 ms; fasthttp's idle workers end after 50 ms too.
func startParkLB(t *testing.T, idle time.Duration, wrap func(net.Listener) net.Listener) *harness {
	t.Helper()
	shortPark(t, 50*time.Millisecond)
	target := newBackend(t, "a", nil)
	return startLB(t, lbSetup{
		listener: config.Listener{Protocol: "HTTP", IdleTimeout: config.Duration(idle), DefaultAction: fwd("web")},
		groups:   []config.TargetGroup{group("web", target.addr())},
		wrap:     wrap,
		tune:     func(s *Server) { s.fs.MaxIdleWorkerDuration = 50 * time.Millisecond },
		// Parking is the goroutine path's: connections stay off the loops.
		goroutinePath: true,
	})
}

type rawClient struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawClient {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawClient{t: t, c: c, br: bufio.NewReader(c)}
}

func (rc *rawClient) send(s string) {
	rc.t.Helper()
	_ = rc.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(rc.c, s); err != nil {
		rc.t.Fatalf("write: %v", err)
	}
}

// answer reads one whole keep-alive 200 answer.
func (rc *rawClient) answer() string {
	rc.t.Helper()
	_ = rc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(rc.br, nil)
	if err != nil {
		rc.t.Fatalf("read answer: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || resp.Close {
		rc.t.Fatalf("answer: %v status %d close=%v", err, resp.StatusCode, resp.Close)
	}
	return string(b)
}

func (rc *rawClient) get(path string) string {
	rc.t.Helper()
	rc.send("GET " + path + " HTTP/1.1\r\nHost: a\r\n\r\n")
	return rc.answer()
}

// closedWithin waits for the server to close the connection, with nothing
// more sent, and returns how long that took.
func (rc *rawClient) closedWithin(d time.Duration) time.Duration {
	rc.t.Helper()
	start := time.Now()
	_ = rc.c.SetReadDeadline(start.Add(d))
	b, err := rc.br.ReadByte()
	if err == nil {
		rest, _ := rc.br.Peek(rc.br.Buffered())
		rc.t.Fatalf("got %q, want the connection closed", append([]byte{b}, rest...))
	}
	if !errors.Is(err, io.EOF) && !strings.Contains(err.Error(), "reset") {
		rc.t.Fatalf("read: %v, want the connection closed within %v", err, d)
	}
	return time.Since(start)
}

func waitParked(t *testing.T, h *harness, n int) {
	t.Helper()
	testenv.Eventually(t, 3*time.Second, "parked connections", func() bool { return h.srv.park.parkedCount() == n })
}

// A parked connection serves its next request, and the one after that,
// on the same TCP connection, under the same conn_trace_id.
func TestParkedConnectionServesNextRequests(t *testing.T) {
	h := startParkLB(t, time.Minute, nil)
	rc := dialRaw(t, h.addr)
	if got := rc.get("/1"); got != "a" {
		t.Fatalf("body %q", got)
	}
	for i := 2; i <= 3; i++ {
		waitParked(t, h, 1)
		if got := rc.get("/" + string(rune('0'+i))); got != "a" {
			t.Fatalf("request %d after parking: body %q", i, got)
		}
	}
	waitParked(t, h, 1)
	recs := h.obs.all()
	if len(recs) != 3 {
		t.Fatalf("%d records, want 3", len(recs))
	}
	for _, r := range recs {
		if r.ConnID != recs[0].ConnID || r.Client != recs[0].Client {
			t.Fatalf("records of one connection differ: %d %v vs %d %v", r.ConnID, r.Client, recs[0].ConnID, recs[0].Client)
		}
	}
}

// Idle keep-alive connections leave no goroutine behind each.
func TestIdleConnectionsHoldNoGoroutine(t *testing.T) {
	h := startParkLB(t, time.Minute, nil)
	rc := dialRaw(t, h.addr)
	rc.get("/warm")
	waitParked(t, h, 1)
	time.Sleep(200 * time.Millisecond) // idle fasthttp workers end
	g0 := runtime.NumGoroutine()
	const n = 200
	for range n {
		dialRaw(t, h.addr).get("/x")
	}
	waitParked(t, h, n+1)
	var g int
	testenv.Eventually(t, 3*time.Second, "goroutines back to the idle level", func() bool {
		g = runtime.NumGoroutine()
		return g-g0 < n/20
	})
	t.Logf("%d idle connections: %d goroutines more than with one", n, g-g0)
	rc.get("/after") // still served
}

// A parked connection closes at the listener's idle timeout, not before.
func TestParkedConnectionClosesAtIdleTimeout(t *testing.T) {
	h := startParkLB(t, time.Second, nil)
	rc := dialRaw(t, h.addr)
	rc.get("/x")
	start := time.Now()
	waitParked(t, h, 1)
	rc.closedWithin(4 * time.Second)
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Fatalf("closed after %v, idle timeout is 1s", d)
	}
	waitParked(t, h, 0)
}

// Shutdown closes parked connections at once.
func TestShutdownClosesParkedConnections(t *testing.T) {
	h := startParkLB(t, time.Minute, nil)
	a, b := dialRaw(t, h.addr), dialRaw(t, h.addr)
	a.get("/x")
	b.get("/x")
	waitParked(t, h, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start := time.Now()
	if err := h.srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("shutdown took %v with only parked connections", d)
	}
	a.closedWithin(time.Second)
	b.closedWithin(time.Second)
	waitParked(t, h, 0)
}

// Pipelined bytes are never lost: two requests in one write to a parked
// connection are both answered, and a request whose head comes in two
// pieces, further apart than the park time, is answered (only the wait
// before a request's first byte parks).
func TestParkedConnectionKeepsPipelinedBytes(t *testing.T) {
	h := startParkLB(t, time.Minute, nil)
	rc := dialRaw(t, h.addr)
	rc.get("/x")
	waitParked(t, h, 1)
	rc.send("GET /p1 HTTP/1.1\r\nHost: a\r\n\r\nGET /p2 HTTP/1.1\r\nHost: a\r\n\r\n")
	rc.answer()
	rc.answer()
	waitParked(t, h, 1)
	rc.send("GET /slow HTTP/1.1\r\nHo")
	time.Sleep(200 * time.Millisecond)
	rc.send("st: a\r\n\r\n")
	rc.answer()
	// Pipelined with the second head arriving late.
	rc.send("GET /q1 HTTP/1.1\r\nHost: a\r\n\r\nGET /q2 HTTP/1.1\r\n")
	time.Sleep(200 * time.Millisecond)
	rc.send("Host: a\r\n\r\n")
	rc.answer()
	rc.answer()
	waitParked(t, h, 1)
	if n := len(h.obs.all()); n != 6 {
		t.Fatalf("%d requests recorded, want 6", n)
	}
}

// A client that half-closes while parked is closed cleanly: no bytes, no
// error answer, nothing left parked.
func TestParkedConnectionHalfClosed(t *testing.T) {
	h := startParkLB(t, time.Minute, nil)
	rc := dialRaw(t, h.addr)
	rc.get("/x")
	waitParked(t, h, 1)
	if err := rc.c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	rc.closedWithin(2 * time.Second)
	waitParked(t, h, 0)
	if n := len(h.obs.all()); n != 1 {
		t.Fatalf("%d records, want 1 (no error answer)", n)
	}
}

type connGauge struct{ open, accepted atomic.Int64 }

func (g *connGauge) ConnOpened() { g.open.Add(1); g.accepted.Add(1) }
func (g *connGauge) ConnClosed() { g.open.Add(-1) }

// startCountedParkLB starts a parking server behind internal/runtime's
// Socket (as cmd/lb runs it), whose connections g counts.
func startCountedParkLB(t *testing.T) (*harness, *connGauge) {
	t.Helper()
	g := &connGauge{}
	var sock *iruntime.Socket
	h := startParkLB(t, time.Minute, func(ln net.Listener) net.Listener {
		sock = iruntime.NewSocket("test", ln, g)
		return sock.Handoff()
	})
	t.Cleanup(func() { sock.Close() })
	return h, g
}

// The active-connections count (cmd/lb counts with internal/runtime's
// Socket) does not change when a connection parks or wakes, and drops when
// a parked one closes.
func TestParkedConnectionsStayCounted(t *testing.T) {
	h, g := startCountedParkLB(t)
	cs := []*rawClient{dialRaw(t, h.addr), dialRaw(t, h.addr), dialRaw(t, h.addr)}
	for _, c := range cs {
		c.get("/x")
	}
	waitParked(t, h, 3)
	if n := g.open.Load(); n != 3 {
		t.Fatalf("active connections %d with 3 parked, want 3", n)
	}
	cs[0].get("/again")
	waitParked(t, h, 3)
	if n, a := g.open.Load(), g.accepted.Load(); n != 3 || a != 3 {
		t.Fatalf("active %d accepted %d after a parked connection was served again, want 3 and 3", n, a)
	}
	cs[1].c.Close()
	testenv.Eventually(t, 3*time.Second, "active connections 2", func() bool { return g.open.Load() == 2 })
	waitParked(t, h, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_ = h.srv.Shutdown(ctx)
	testenv.Eventually(t, 3*time.Second, "active connections 0", func() bool { return g.open.Load() == 0 })
}

type opaqueConn struct{ net.Conn }

// Only connections with nothing buffered above the socket may park.
func TestParkable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, tc := range []struct {
		name string
		c    net.Conn
		want bool
	}{
		{"tcp", c, true},
		{"wrapped tcp", &deadlineConn{Conn: c}, true},
		{"tls", tls.Client(c, &tls.Config{}), false},
		{"proxy protocol", proxyproto.NewConn(c), false},
		{"unknown wrapper", opaqueConn{c}, false},
	} {
		if got := parkable(tc.c); got != tc.want {
			t.Errorf("%s: parkable %v, want %v", tc.name, got, tc.want)
		}
	}
}

// fakeConn answers every Read with one byte and counts read deadlines.
type fakeConn struct {
	net.Conn
	deadlines int
}

func (f *fakeConn) Read(b []byte) (int, error)             { b[0] = 'G'; return 1, nil }
func (f *fakeConn) SetReadDeadline(time.Time) error        { f.deadlines++; return nil }
func (f *fakeConn) SetWriteDeadline(time.Time) error       { return nil }
func (f *fakeConn) SetDeadline(t time.Time) error          { return nil }
func (f *fakeConn) RemoteAddr() net.Addr                   { return &net.TCPAddr{} }
func (f *fakeConn) Write(b []byte) (int, error)            { return len(b), nil }
func (f *fakeConn) Close() error                           { return nil }
func (f *fakeConn) LocalAddr() net.Addr                    { return &net.TCPAddr{} }
func (f *fakeConn) SetKeepAlive(bool) error                { return nil }
func (f *fakeConn) SetKeepAlivePeriod(time.Duration) error { return nil }

// Under keep-alive load the park cap costs no timer update: the idle
// wait's capped deadline and the header read's later one alternate every
// request, and neither reaches the socket more than once a quarter of
// the park time. The cycle allocates nothing.
func TestParkCapCostsNothingUnderLoad(t *testing.T) {
	f := &fakeConn{}
	p := &parker{s: &Server{fs: &fasthttp.Server{}}, idle: time.Minute, after: time.Second, busyAfter: 20 * time.Millisecond, busyWaiters: 128}
	c := &deadlineConn{Conn: f, p: p}
	now := time.Now()
	buf := make([]byte, 16)
	cycle := func() {
		now = now.Add(time.Millisecond) // a request per millisecond
		connIdle(c)
		_ = c.SetReadDeadline(now.Add(time.Minute)) // idle wait
		if _, err := c.Read(buf); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(now.Add(time.Minute)) // header read
		if _, err := c.Read(buf); err != nil {
			t.Fatal(err)
		}
	}
	for range 1000 { // one second of requests
		cycle()
	}
	if f.deadlines > 5 {
		t.Fatalf("%d read deadlines reached the socket in 1000 requests over 1s, want at most 5", f.deadlines)
	}
	if c.state.Load() != connOpen {
		t.Fatalf("state %d after a served request, want open", c.state.Load())
	}
	if a := testing.AllocsPerRun(100, cycle); a != 0 {
		t.Fatalf("%v allocations per request cycle, want 0", a)
	}
}

// Shutdown while parked connections wake (their clients all close at
// once) neither hangs nor leaves a connection open.
func TestShutdownWhileParkedConnectionsWake(t *testing.T) {
	h, g := startCountedParkLB(t)
	const n = 100
	cs := make([]*rawClient, n)
	for i := range cs {
		cs[i] = dialRaw(t, h.addr)
		cs[i].get("/x")
	}
	waitParked(t, h, n)
	for i, c := range cs {
		if i%2 == 0 {
			c.send("GET /y HTTP/1.1\r\nHost: a\r\n\r\n")
		} else {
			c.c.Close()
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- h.srv.Shutdown(ctx) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown hangs")
	}
	testenv.Eventually(t, 3*time.Second, "every connection closed", func() bool { return g.open.Load() == 0 })
}

// Connections with bytes buffered above the socket are never parked:
// behind PROXY protocol (go-proxyproto's reader) an idle connection keeps
// its goroutine and is served as before. HTTPS servers have no parker.
func TestProxyProtocolConnectionsDoNotPark(t *testing.T) {
	h := startParkLB(t, time.Minute, func(ln net.Listener) net.Listener {
		return &proxyproto.Listener{Listener: ln}
	})
	rc := dialRaw(t, h.addr)
	rc.send("PROXY TCP4 192.0.2.7 127.0.0.1 40000 80\r\n")
	rc.get("/x")
	time.Sleep(200 * time.Millisecond) // four park waits
	if n := h.srv.park.parkedCount(); n != 0 {
		t.Fatalf("%d PROXY-protocol connections parked, want 0", n)
	}
	rc.get("/y")
	if got := h.obs.last(t).Client.Addr().String(); got != "192.0.2.7" {
		t.Fatalf("client %s, want the PROXY header's 192.0.2.7", got)
	}

	s, err := NewServer(h.srv.Router(), ServerOptions{Listener: config.Listener{Name: "tls", Protocol: "HTTPS"}})
	if err != nil {
		t.Fatal(err)
	}
	if s.park != nil {
		t.Fatal("an HTTPS server parks connections")
	}
}

// A connection woken soon after it parked (a client with short gaps)
// waits with its goroutine for the long park time next, even when many
// connections idle-wait; one woken late parks after the short one again.
func TestWarmConnectionWaitsLonger(t *testing.T) {
	shortPark(t, 50*time.Millisecond)
	parkAfter = 700 * time.Millisecond
	parkBusyWaiters = -1 << 20 // every wait is a busy one
	target := newBackend(t, "a", nil)
	h := startLB(t, lbSetup{
		listener:      config.Listener{Protocol: "HTTP", IdleTimeout: config.Duration(time.Minute), DefaultAction: fwd("web")},
		groups:        []config.TargetGroup{group("web", target.addr())},
		goroutinePath: true,
	})
	rc := dialRaw(t, h.addr)
	rc.get("/1")
	waitParked(t, h, 1) // after the busy wait
	rc.get("/2")        // woken at once: warm
	time.Sleep(300 * time.Millisecond)
	if n := h.srv.park.parkedCount(); n != 0 {
		t.Fatal("a connection woken right after parking parked again after the short wait")
	}
	waitParked(t, h, 1) // after the long wait
	time.Sleep(300 * time.Millisecond)
	rc.get("/3") // woken late: not warm
	start := time.Now()
	waitParked(t, h, 1)
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Fatalf("a connection woken late parked after %v, want the short wait", d)
	}
}

// readCountConn counts the reads of a client connection that returned
// bytes. It unwraps (NetConn) to the TCP connection, so it may park.
type readCountConn struct {
	net.Conn
	reads *atomic.Int32
}

func (c readCountConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.reads.Add(1)
	}
	return n, err
}

func (c readCountConn) NetConn() net.Conn { return c.Conn }

type readCountListener struct {
	net.Listener
	reads *atomic.Int32
}

func (l readCountListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return c, err
	}
	return readCountConn{Conn: c, reads: l.reads}, nil
}

// TestParkingServerReadsFirstRequestWhole: where idle connections park,
// fasthttp runs without ReduceMemoryUsage, so a new connection's request
// (and the first after an unpark) is read by one read, not by a 1-byte
// read and another (fasthttp's first-byte reader, which would then sit
// under every later read too); a parked connection still holds no buffer
// (TestIdleKeepAliveConnectionHoldsNoBuffer).
func TestParkingServerReadsFirstRequestWhole(t *testing.T) {
	var reads atomic.Int32
	h := startLB(t, lbSetup{listener: config.Listener{Protocol: "HTTP", DefaultAction: fixed("hi")},
		wrap:          func(ln net.Listener) net.Listener { return readCountListener{Listener: ln, reads: &reads} },
		goroutinePath: true})
	if h.srv.park == nil {
		t.Fatal("a plain-HTTP server without MaxConnsPerIP parks idle connections")
	}
	if h.srv.fs.ReduceMemoryUsage {
		t.Fatal("ReduceMemoryUsage is on although idle connections park")
	}
	c, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for i := range 3 {
		before := reads.Load()
		if _, err := io.WriteString(c, "GET /x HTTP/1.1\r\nHost: a.example\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "hi" {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
		if n := reads.Load() - before; n != 1 {
			t.Fatalf("request %d took %d reads that returned bytes, want 1 (the whole request in one read)", i, n)
		}
	}
}
