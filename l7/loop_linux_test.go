//go:build linux

package l7

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
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
