//go:build linux

package l7

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/switchyard/switchyard/config"
)

// The rest of the package's tests run on the event loops too (see
// testEventLoop); these check that the loops carry what they should, hand
// over what they should not, and keep their own timeouts.

func startLoopLB(t *testing.T, lc config.Listener, be *testTarget, so ServerOptions) *harness {
	t.Helper()
	if lc.DefaultAction.Forward == nil && lc.DefaultAction.FixedResponse == nil {
		lc.DefaultAction = fwd("web")
	}
	lc.Protocol = "HTTP"
	so.EventLoop = true
	h := startLB(t, lbSetup{listener: lc, groups: []config.TargetGroup{group("web", be.addr())}, server: so})
	if h.srv.loops == nil {
		t.Fatal("a plain-HTTP server with EventLoop has no event loops")
	}
	return h
}

func TestLoopCarriesPlainKeepAliveRequests(t *testing.T) {
	be := newBackend(t, "a", nil)
	h := startLoopLB(t, config.Listener{}, be, ServerOptions{})
	served, handed := loopServed.Load(), loopHandOffs.Load()
	rc := dialRaw(t, h.addr)
	for i := range 20 {
		if body := rc.get("/k" + strconv.Itoa(i)); body != "a" {
			t.Fatalf("request %d: body %q", i, body)
		}
	}
	if got := loopServed.Load() - served; got < 20 {
		t.Fatalf("the loops answered %d of 20 requests", got)
	}
	if got := loopHandOffs.Load() - handed; got != 0 {
		t.Fatalf("%d hand-offs for plain GETs, want 0", got)
	}
	// What the target saw is what the goroutine path sends.
	r := be.received()[19]
	if r.URI != "/k19" || r.Header.Get("X-Forwarded-For") != "127.0.0.1" || r.Header.Get("X-Forwarded-Proto") != "http" ||
		!strings.HasPrefix(r.Header.Get("X-Amzn-Trace-Id"), "Root=1-") {
		t.Fatalf("target saw %+v", r)
	}
	if rec := h.obs.last(t); rec.Status != 200 || rec.TargetStatus != 200 || string(rec.URI) != "/k19" {
		t.Fatalf("record: status %d target %d uri %q", rec.Status, rec.TargetStatus, rec.URI)
	}
}

func TestLoopServesPipelinedRequestsInOrder(t *testing.T) {
	be := newBackend(t, "a", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, r.URL.Path) })
	h := startLoopLB(t, config.Listener{}, be, ServerOptions{})
	rc := dialRaw(t, h.addr)
	rc.send("GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\nGET /3 HTTP/1.1\r\nHost: a\r\n\r\n")
	for _, want := range []string{"/1", "/2", "/3"} {
		if got := rc.answer(); got != want {
			t.Fatalf("answer %q, want %q", got, want)
		}
	}
}

func TestLoopHandsOverBodiesAndKeepsTheConnection(t *testing.T) {
	be := newBackend(t, "a", nil)
	h := startLoopLB(t, config.Listener{}, be, ServerOptions{})
	rc := dialRaw(t, h.addr)
	if body := rc.get("/first"); body != "a" {
		t.Fatalf("first: %q", body)
	}
	handed := loopHandOffs.Load()
	rc.send("POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello")
	if body := rc.answer(); body != "a" {
		t.Fatalf("POST: %q", body)
	}
	if got := loopHandOffs.Load() - handed; got != 1 {
		t.Fatalf("%d hand-offs for a request with a body, want 1", got)
	}
	if r := be.received()[1]; r.Method != "POST" || r.Body != "hello" {
		t.Fatalf("target saw %s %q", r.Method, r.Body)
	}
	// The connection goes on, on the goroutine path.
	if body := rc.get("/after"); body != "a" {
		t.Fatalf("after: %q", body)
	}
}

func TestLoopHandsOverLargeAndChunkedResponses(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 20<<10) // 320 KiB
	be := newBackend(t, "a", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/chunked" {
			w.(http.Flusher).Flush()
			_, _ = io.WriteString(w, "part1")
			w.(http.Flusher).Flush()
			_, _ = io.WriteString(w, "part2")
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(big)))
		_, _ = w.Write(big)
	})
	h := startLoopLB(t, config.Listener{}, be, ServerOptions{})
	// Each on a connection of its own: a connection handed over stays on
	// the goroutine path.
	for _, tc := range []struct{ path, want string }{{"/big", string(big)}, {"/chunked", "part1part2"}} {
		handed := loopHandOffs.Load()
		rc := dialRaw(t, h.addr)
		if body := rc.get(tc.path); body != tc.want {
			t.Fatalf("%s: %d bytes, want %d", tc.path, len(body), len(tc.want))
		}
		if got := loopHandOffs.Load() - handed; got != 1 {
			t.Fatalf("%s: %d hand-offs, want 1", tc.path, got)
		}
		// The connection goes on after the streamed answer.
		if body := rc.get("/big"); body != string(big) {
			t.Fatalf("%s, then /big: %d bytes", tc.path, len(body))
		}
	}
}

func TestLoopHeaderReadTimeout(t *testing.T) {
	be := newBackend(t, "a", nil)
	h := startLoopLB(t, config.Listener{}, be, ServerOptions{ReadTimeout: 300 * time.Millisecond})
	start := time.Now()
	resp := h.raw("GET /slow HTTP/1.1\r\nHost: a\r\n") // never finished
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("closed after %v, read timeout 300ms", took)
	}
	if rawStatus(t, resp) != 408 {
		t.Fatalf("answer %q, want 408", resp)
	}
	if be.count() != 0 {
		t.Fatal("a partial request reached the target")
	}
}

func TestLoopClosesIdleConnections(t *testing.T) {
	be := newBackend(t, "a", nil)
	h := startLoopLB(t, config.Listener{IdleTimeout: config.Duration(500 * time.Millisecond)}, be, ServerOptions{})
	rc := dialRaw(t, h.addr)
	rc.get("/")
	if took := rc.closedWithin(3 * time.Second); took < 400*time.Millisecond {
		t.Fatalf("closed after %v, idle timeout 500ms", took)
	}
	if n := h.srv.loops.conns.Load(); n != 0 {
		t.Fatalf("the loops still hold %d connections", n)
	}
}

func TestLoopAnswersAfterClientHalfClose(t *testing.T) {
	be := newBackend(t, "a", nil)
	h := startLoopLB(t, config.Listener{}, be, ServerOptions{})
	rc := dialRaw(t, h.addr)
	rc.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	if err := rc.c.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if body := rc.answer(); body != "a" {
		t.Fatalf("answer %q", body)
	}
	rc.closedWithin(3 * time.Second)
}

func TestHeadEnd(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{
		{"GET / HTTP/1.1\r\nHost: a\r\n\r\nrest", 27},
		{"GET / HTTP/1.1\nHost: a\n\n", 24},
		{"GET / HTTP/1.1\r\nHost: a\n\r\n", 26},
		{"GET / HTTP/1.1\r\nHost: a\r\n", -1},
		{"GET / HTTP/1.1\r\nHost: a\r\n\r", -1},
		{"", -1},
	} {
		if got := headEnd([]byte(tc.in)); got != tc.want {
			t.Errorf("headEnd(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

// A client that does not read: the loop's write would block, so the rest
// of the answer and the connection go to the goroutine path, and every
// byte still arrives in order.
func TestLoopHandsOverBlockedWrites(t *testing.T) {
	body := bytes.Repeat([]byte("z"), 60<<10) // carried by the loop (≤ 64 KiB)
	be := newBackend(t, "a", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
	})
	h := startLoopLB(t, config.Listener{}, be, ServerOptions{})
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	c, err := d.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	handed := loopHandOffs.Load()
	const n = 128 // ~7.5 MiB: more than loopback send buffers grow to
	if _, err := io.WriteString(c, strings.Repeat("GET /big HTTP/1.1\r\nHost: a\r\n\r\n", n)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the answers pile up unread
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	for i := range n {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		got, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != 200 || !bytes.Equal(got, body) {
			t.Fatalf("answer %d: %v status %d, %d bytes", i, err, resp.StatusCode, len(got))
		}
	}
	if got := loopHandOffs.Load() - handed; got != 1 {
		t.Fatalf("%d hand-offs, want 1 (the write that would block)", got)
	}
}

// withoutSweep makes the loops started from now on sweep once an hour, so
// that what a test sees did not wait for the sweep. Call it before
// startLoopLB: the loops read the period when they start, and the old one
// is put back after the server's own cleanup.
func withoutSweep(t *testing.T) {
	old := loopTick
	loopTick = time.Hour
	t.Cleanup(func() { loopTick = old })
}

// A target whose deregistration delay ends while a loop waits for its
// answer: the request is answered 502 at once (the drain watch wakes the
// loop), not at the next sweep nor when the target answers.
func TestLoopDrainCutsWaitingRequestAtOnce(t *testing.T) {
	withoutSweep(t)
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	defer close(release)
	be := newBackend(t, "a", func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-release:
		case <-time.After(10 * time.Second):
		}
		_, _ = io.WriteString(w, "late")
	})
	h := startLoopLB(t, config.Listener{}, be, ServerOptions{})
	handed := loopHandOffs.Load()
	rc := dialRaw(t, h.addr)
	rc.send("GET /wait HTTP/1.1\r\nHost: a\r\n\r\n")
	select {
	case <-arrived:
	case <-time.After(5 * time.Second):
		t.Fatal("request never reached the target")
	}
	h.reg.Lookup("web").Deregister([]string{be.addr()}, 0)
	_ = rc.c.SetReadDeadline(time.Now().Add(3 * time.Second))
	resp, err := http.ReadResponse(rc.br, nil)
	if err != nil {
		t.Fatalf("no answer within 3 s of the delay's end: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 502 {
		t.Fatalf("status %d, want 502", resp.StatusCode)
	}
	rec := h.obs.last(t)
	if rec.ErrorReason != ReasonDeregistered || rec.Target != be.addr() {
		t.Fatalf("record: reason %q target %q", rec.ErrorReason, rec.Target)
	}
	if got := loopHandOffs.Load() - handed; got != 0 {
		t.Fatalf("%d hand-offs, want the loop to answer", got)
	}
}

// Idle pooled connections of a loop to a target close when its
// deregistration delay ends, not after MaxIdleConnDuration.
func TestLoopDrainClosesIdleTargetConnections(t *testing.T) {
	withoutSweep(t)
	var closed atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "a")
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateClosed {
			closed.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	be := &testTarget{name: "a", srv: srv}
	h := startLoopLB(t, config.Listener{}, be, ServerOptions{})
	rc := dialRaw(t, h.addr)
	for range 3 {
		if body := rc.get("/"); body != "a" {
			t.Fatalf("body %q", body)
		}
	}
	time.Sleep(50 * time.Millisecond)
	if n := closed.Load(); n != 0 {
		t.Fatalf("%d target connections closed before the deregistration", n)
	}
	h.reg.Lookup("web").Deregister([]string{be.addr()}, 0)
	deadline := time.Now().Add(3 * time.Second)
	for closed.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the idle target connection is still open 3 s after the delay ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A response handed to the goroutine path (chunked) is cut when its
// target's deregistration delay ends while the body is still coming, as
// the goroutine path's own connections are.
func TestLoopDrainCutsHandedOverResponse(t *testing.T) {
	withoutSweep(t)
	release := make(chan struct{})
	defer close(release)
	be := newBackend(t, "a", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "part1")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-time.After(10 * time.Second):
		}
		_, _ = io.WriteString(w, "part2")
	})
	h := startLB(t, lbSetup{listener: config.Listener{Protocol: "HTTP", DefaultAction: fwd("web")},
		groups: []config.TargetGroup{group("web", be.addr())}, server: ServerOptions{EventLoop: true},
		transport: TransportOptions{ResponseTimeout: 20 * time.Second}})
	handed := loopHandOffs.Load()
	rc := dialRaw(t, h.addr)
	rc.send("GET /stream HTTP/1.1\r\nHost: a\r\n\r\n")
	_ = rc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(rc.br, nil)
	if err != nil {
		t.Fatalf("read head: %v", err)
	}
	defer resp.Body.Close()
	first := make([]byte, 5)
	if _, err := io.ReadFull(resp.Body, first); err != nil || string(first) != "part1" {
		t.Fatalf("first part %q: %v", first, err)
	}
	if got := loopHandOffs.Load() - handed; got != 1 {
		t.Fatalf("%d hand-offs, want the chunked response handed over", got)
	}
	h.reg.Lookup("web").Deregister([]string{be.addr()}, 0)
	start := time.Now()
	rest, err := io.ReadAll(resp.Body)
	if err == nil || bytes.Contains(rest, []byte("part2")) {
		t.Fatalf("body went on after the delay ended: %q, %v", rest, err)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Fatalf("the body was cut %v after the delay ended", el)
	}
}

// waitClosed waits until every connection h's listener counted is counted
// closed again.
func waitClosed(t *testing.T, h *harness) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for h.conns.open() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d client connections still counted open (opened %d)", h.conns.open(), h.conns.opened.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The loops accept on a runtime.Socket's descriptor themselves (cmd/lb's
// plain-HTTP listeners): the connection is served in the loop with the
// client's own address, and the listener's count goes back down.
func TestLoopAcceptsOnTheListeningSocket(t *testing.T) {
	be := newBackend(t, "a", nil)
	h := startLoopLB(t, config.Listener{}, be, ServerOptions{})
	if h.conns == nil {
		t.Fatal("the harness gave the loops no Direct listener")
	}
	accepted, handed := loopAccepted.Load(), loopHandOffs.Load()
	rc := dialRaw(t, h.addr)
	for i := range 5 {
		if body := rc.get("/a" + strconv.Itoa(i)); body != "a" {
			t.Fatalf("request %d: body %q", i, body)
		}
	}
	if got := loopAccepted.Load() - accepted; got != 1 {
		t.Fatalf("the loops accepted %d connections, want 1", got)
	}
	if got := loopHandOffs.Load() - handed; got != 0 {
		t.Fatalf("%d hand-offs, want 0", got)
	}
	client := rc.c.LocalAddr().(*net.TCPAddr).AddrPort()
	if rec := h.obs.last(t); rec.Client != client {
		t.Fatalf("record client %v, want %v", rec.Client, client)
	}
	_, port, _ := net.SplitHostPort(h.addr)
	if hd := be.received()[4].Header; hd.Get("X-Forwarded-For") != "127.0.0.1" || hd.Get("X-Forwarded-Port") != port {
		t.Fatalf("X-Forwarded-For %q, X-Forwarded-Port %q (listener port %s)", hd.Get("X-Forwarded-For"), hd.Get("X-Forwarded-Port"), port)
	}
	if n := h.conns.open(); n != 1 {
		t.Fatalf("%d connections counted open, want 1", n)
	}
	rc.c.Close()
	waitClosed(t, h)
}

// One request per connection, as a client without keep-alive sends:
// every connection is accepted by a loop, answered and closed, and
// counted closed.
func TestLoopAcceptsShortConnections(t *testing.T) {
	be := newBackend(t, "a", nil)
	h := startLoopLB(t, config.Listener{}, be, ServerOptions{})
	accepted := loopAccepted.Load()
	const n = 50
	for i := range n {
		resp := h.raw("GET /s" + strconv.Itoa(i) + " HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
		if !strings.HasPrefix(resp, "HTTP/1.1 200 ") || !strings.HasSuffix(resp, "\r\n\r\na") {
			t.Fatalf("connection %d: %q", i, resp)
		}
	}
	if got := loopAccepted.Load() - accepted; got != n {
		t.Fatalf("the loops accepted %d of %d connections", got, n)
	}
	waitClosed(t, h)
	if got := h.conns.opened.Load(); got != n {
		t.Fatalf("listener counted %d connections, want %d", got, n)
	}
}

// A connection the loop accepted and then hands to the goroutine path (a
// request body) gets a real socket there: the answer comes, the
// connection goes on, and its close is counted once.
func TestLoopAcceptedConnectionHandsOver(t *testing.T) {
	be := newBackend(t, "a", nil)
	h := startLoopLB(t, config.Listener{}, be, ServerOptions{})
	accepted, handed := loopAccepted.Load(), loopHandOffs.Load()
	rc := dialRaw(t, h.addr)
	rc.send("POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello")
	if got := rc.answer(); got != "a" {
		t.Fatalf("answer %q", got)
	}
	if got := rc.get("/g"); got != "a" {
		t.Fatalf("answer after the hand-off %q", got)
	}
	if r := be.received(); len(r) != 2 || r[0].Method != "POST" || r[0].Body != "hello" || r[1].URI != "/g" {
		t.Fatalf("target saw %+v", r)
	}
	if a, hd := loopAccepted.Load()-accepted, loopHandOffs.Load()-handed; a != 1 || hd != 1 {
		t.Fatalf("accepted %d, handed over %d; want 1 and 1", a, hd)
	}
	client := rc.c.LocalAddr().(*net.TCPAddr).AddrPort()
	if rec := h.obs.last(t); rec.Client != client {
		t.Fatalf("record client %v, want %v", rec.Client, client)
	}
	rc.c.Close()
	waitClosed(t, h)
	if got := h.conns.closed.Load(); got != 1 {
		t.Fatalf("closed counted %d times, want 1", got)
	}
}

// A reload that replaces the server keeps the socket (cmd/lb): once the
// old server's Shutdown returns its loops no longer accept, the new
// server's loops take every next connection, and closing the socket
// refuses connections at once even though the loops held duplicates of
// it; the loops then drop them and the listener's count balances.
func TestLoopAcceptReplaceAndClose(t *testing.T) {
	be := newBackend(t, "a", nil)
	h := startLoopLB(t, config.Listener{}, be, ServerOptions{})
	if st, _, _ := h.get("/old"); st != 200 {
		t.Fatalf("old server: %d", st)
	}
	h.hc.CloseIdleConnections()

	rec2 := &recorder{}
	srv2, err := NewServer(h.srv.Router(), ServerOptions{Listener: config.Listener{Name: "web", Protocol: "HTTP"},
		Observer: rec2, EventLoop: true})
	if err != nil {
		t.Fatal(err)
	}
	done2 := make(chan error, 1)
	go func() { done2 <- srv2.Serve(h.sock.Direct()) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_ = srv2.Shutdown(ctx)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.srv.Shutdown(ctx); err != nil {
		t.Fatalf("old Shutdown: %v", err)
	}
	waitAccepting(t, h.srv, 0)
	for i := range 10 {
		resp := h.raw("GET /new" + strconv.Itoa(i) + " HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
		if !strings.HasPrefix(resp, "HTTP/1.1 200 ") {
			t.Fatalf("connection %d after the replacement: %q", i, resp)
		}
	}
	if n := len(rec2.all()); n != 10 {
		t.Fatalf("the new server answered %d of 10", n)
	}

	h.sock.Close()
	if c, err := net.DialTimeout("tcp", h.addr, 3*time.Second); err == nil {
		c.Close()
		t.Fatal("connect succeeded after the socket's Close")
	}
	select {
	case <-done2:
	case <-time.After(5 * time.Second):
		t.Fatal("the new server's Serve did not return after the socket's Close")
	}
	waitAccepting(t, srv2, 0)
	waitClosed(t, h)
	if got := h.conns.opened.Load(); got != 11 {
		t.Fatalf("listener counted %d connections, want 11", got)
	}
}

// waitAccepting waits until s's loops hold want listening descriptors.
func waitAccepting(t *testing.T, s *Server, want int64) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for s.loops.accepting.Load() != want {
		if time.Now().After(deadline) {
			t.Fatalf("the loops hold %d listening descriptors, want %d", s.loops.accepting.Load(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// scriptedTarget answers every request on a connection with the next of
// answers (cycling), counting its connections.
func scriptedTarget(t *testing.T, conns *atomic.Int32, answers ...string) string {
	return rawTarget(t, func(c net.Conn) {
		conns.Add(1)
		br := bufio.NewReader(c)
		for i := 0; ; i++ {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, req.Body)
			if _, err := io.WriteString(c, answers[i%len(answers)]); err != nil {
				return
			}
		}
	})
}

// The loop forwards a plain response head as bytes: the status line and
// fields as the target sent them (names' case too), without the hop-by-hop
// ones, with what lb adds (stickiness cookies), and nothing invented; a
// target's Connection: close keeps its connection out of the pool.
func TestLoopForwardsResponseHeadAsBytes(t *testing.T) {
	var conns atomic.Int32
	addr := scriptedTarget(t, &conns,
		"HTTP/1.1 200 Made\r\nDate: d1\r\nconnection: keep-alive\r\nKeep-Alive: timeout=5\r\nx-custom:  A  B \r\nSet-Cookie: app=1; Path=/\r\nContent-Length: 2\r\n\r\nhi",
		"HTTP/1.1 200 OK\r\nDate: d2\r\nConnection: close\r\nContent-Length: 3\r\n\r\nbye")
	g := group("web", addr)
	g.Stickiness = &config.Stickiness{Type: "lb_cookie"}
	h := startLB(t, lbSetup{listener: config.Listener{Protocol: "HTTP", DefaultAction: fwd("web")},
		groups: []config.TargetGroup{g}, server: ServerOptions{EventLoop: true}})
	raw := loopRawAnswers.Load()
	rc := dialRaw(t, h.addr)
	rc.send("GET /1 HTTP/1.1\r\nHost: a\r\n\r\n")
	_ = rc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var head []string
	for {
		line, err := rc.br.ReadString('\n')
		if err != nil {
			t.Fatalf("read head: %v (so far %q)", err, head)
		}
		if line == "\r\n" {
			break
		}
		head = append(head, strings.TrimSuffix(line, "\r\n"))
	}
	body := make([]byte, 2)
	if _, err := io.ReadFull(rc.br, body); err != nil || string(body) != "hi" {
		t.Fatalf("body %q: %v", body, err)
	}
	if head[0] != "HTTP/1.1 200 Made" || head[1] != "Date: d1" || head[2] != "x-custom:  A  B " ||
		head[3] != "Set-Cookie: app=1; Path=/" || head[4] != "Content-Length: 2" {
		t.Fatalf("head %q", head)
	}
	var cookies int
	for _, l := range head[5:] {
		if !strings.HasPrefix(l, "Set-Cookie: AWSALB") {
			t.Fatalf("unexpected field %q in %q", l, head)
		}
		cookies++
	}
	if cookies != 2 {
		t.Fatalf("%d stickiness cookies in %q, want AWSALB and AWSALBCORS", cookies, head)
	}
	rec := h.obs.last(t)
	if rec.Status != 200 || rec.TargetStatus != 200 || rec.SentBytes != int64(len(strings.Join(head, "\r\n"))+4+2) {
		t.Fatalf("record: status %d target %d sent %d", rec.Status, rec.TargetStatus, rec.SentBytes)
	}
	if got := rc.get("/2"); got != "bye" {
		t.Fatalf("second answer %q", got)
	}
	if got := rc.get("/3"); got != "hi" {
		t.Fatalf("third answer %q", got)
	}
	if got := loopRawAnswers.Load() - raw; got != 3 {
		t.Fatalf("%d answers forwarded as bytes, want 3", got)
	}
	if n := conns.Load(); n != 2 {
		t.Fatalf("target saw %d connections, want 2 (its Connection: close ends the first)", n)
	}
}

// A head the raw path does not take (no Date: fasthttp adds one) is
// parsed as before.
func TestLoopParsesHeadsTheRawPathRefuses(t *testing.T) {
	var conns atomic.Int32
	addr := scriptedTarget(t, &conns, "HTTP/1.1 200 OK\r\nSet-Cookie: s=1\r\nContent-Length: 2\r\n\r\nok")
	h := startLB(t, lbSetup{listener: config.Listener{Protocol: "HTTP", DefaultAction: fwd("web")},
		groups: []config.TargetGroup{group("web", addr)}, server: ServerOptions{EventLoop: true}})
	raw, served := loopRawAnswers.Load(), loopServed.Load()
	st, hdr, body := h.get("/")
	if st != 200 || body != "ok" || hdr.Get("Set-Cookie") != "s=1" || hdr.Get("Date") == "" {
		t.Fatalf("%d %q %v", st, body, hdr)
	}
	if loopRawAnswers.Load() != raw || loopServed.Load() == served {
		t.Fatal("want the loop's parsed path")
	}
}

// TestLoopSendsRequestHeadsAsBytes: a plain request goes to the target as
// bytes (rawreq.go) with lb's edits: every copy of the forwarded fields
// replaced, hop-by-hop fields and those Connection names gone, the
// client's other fields kept.
func TestLoopSendsRequestHeadsAsBytes(t *testing.T) {
	be := newBackend(t, "a", nil)
	h := startLoopLB(t, config.Listener{}, be, ServerOptions{})
	raw := loopRawRequests.Load()
	rc := dialRaw(t, h.addr)
	rc.send("GET /r?q=1 HTTP/1.1\r\nHost: Example.com\r\nX-Forwarded-For: 127.0.0.9\r\n" +
		"X-Forwarded-Proto: https\r\nx-forwarded-proto: https\r\nConnection: keep-alive, X-Secret\r\n" +
		"X-Secret: s\r\nKeep-Alive: timeout=5\r\nX-Kept: k\r\nCookie: a=1\r\n\r\n")
	if body := rc.answer(); body != "a" {
		t.Fatalf("answer %q", body)
	}
	if got := loopRawRequests.Load() - raw; got != 1 {
		t.Fatalf("%d request heads sent as bytes, want 1", got)
	}
	r := be.received()[0]
	_, port, _ := net.SplitHostPort(h.addr)
	want := map[string]string{
		"X-Forwarded-For": "127.0.0.9, 127.0.0.1", "X-Forwarded-Proto": "http", "X-Forwarded-Port": port,
		"X-Kept": "k", "Cookie": "a=1", "X-Secret": "", "Keep-Alive": "",
	}
	for k, v := range want {
		if got := strings.Join(r.Header.Values(k), "|"); got != v {
			t.Errorf("%s: target saw %q, want %q", k, got, v)
		}
	}
	if r.URI != "/r?q=1" || r.Host != "example.com:"+port {
		t.Errorf("target saw %s for host %q", r.URI, r.Host)
	}
}

// TestLoopRawRequestFilledForTheGoroutinePath: a target the loop cannot
// dial itself (a host name) takes the exchange to the goroutine path after
// forward chose to send the head as bytes; the request is then built the
// parsed way, with the same forwarded fields.
func TestLoopRawRequestFilledForTheGoroutinePath(t *testing.T) {
	be := newBackend(t, "a", nil)
	_, port, _ := net.SplitHostPort(be.addr())
	h := startLB(t, lbSetup{
		listener: config.Listener{Protocol: "HTTP", DefaultAction: fwd("web")},
		groups:   []config.TargetGroup{group("web", "localhost:"+port)},
		server:   ServerOptions{EventLoop: true},
	})
	handed, raw := loopHandOffs.Load(), loopRawRequests.Load()
	rc := dialRaw(t, h.addr)
	rc.send("GET /h HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 127.0.0.9\r\nX-Amzn-Trace-Id: Root=1-2-3\r\n\r\n")
	if body := rc.answer(); body != "a" {
		t.Fatalf("answer %q", body)
	}
	if got := loopHandOffs.Load() - handed; got != 1 {
		t.Fatalf("%d hand-offs, want 1", got)
	}
	if got := loopRawRequests.Load() - raw; got != 0 {
		t.Fatalf("%d heads sent as bytes to a host-name target", got)
	}
	r := be.received()[0]
	if got := r.Header.Values("X-Forwarded-For"); len(got) != 1 || got[0] != "127.0.0.9, 127.0.0.1" {
		t.Errorf("X-Forwarded-For %q", got)
	}
	if tr := r.Header.Values("X-Amzn-Trace-Id"); len(tr) != 1 || !strings.HasPrefix(tr[0], "Self=1-") || !strings.HasSuffix(tr[0], ";Root=1-2-3") {
		t.Errorf("trace %q", tr)
	}
	if r.Header.Get("X-Forwarded-Proto") != "http" || r.URI != "/h" {
		t.Errorf("target saw %+v", r)
	}
	if rec := h.obs.last(t); !strings.HasPrefix(string(rec.TraceID), "Self=1-") || strings.Count(string(rec.TraceID), "Self=") != 1 {
		t.Errorf("logged trace %q", rec.TraceID)
	}
}
