package l7

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/config"
)

// rawTarget is a TCP target with a scripted connection handler.
func rawTarget(t *testing.T, handle func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				go func() { <-stop; c.Close() }()
				handle(c)
			}()
		}
	}()
	t.Cleanup(func() { close(stop); ln.Close(); wg.Wait() })
	return ln.Addr().String()
}

// deadAddr returns a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().String()
	ln.Close()
	return a
}

func readRequestHead(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	if _, err := http.ReadRequest(br); err != nil {
		return
	}
}

func TestALBErrorStatuses(t *testing.T) {
	refused := deadAddr(t)
	reset := rawTarget(t, func(c net.Conn) {
		readRequestHead(c)
		c.(*net.TCPConn).SetLinger(0)
	})
	malformed := rawTarget(t, func(c net.Conn) {
		readRequestHead(c)
		io.WriteString(c, "THIS IS NOT HTTP\r\n\r\n")
	})
	hugeHeader := rawTarget(t, func(c net.Conn) {
		readRequestHead(c)
		io.WriteString(c, "HTTP/1.1 200 OK\r\nX-Big: "+strings.Repeat("a", 40<<10)+"\r\nContent-Length: 0\r\n\r\n")
	})
	silent := rawTarget(t, func(c net.Conn) {
		readRequestHead(c)
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		io.Copy(io.Discard, c)
	})
	bothCLTE := rawTarget(t, func(c net.Conn) {
		readRequestHead(c)
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!")
	})
	closedMid := rawTarget(t, func(c net.Conn) {
		readRequestHead(c)
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort")
	})
	empty := config.TargetGroup{Name: "empty", Protocol: "HTTP"}
	lc := config.Listener{Protocol: "HTTP", DefaultAction: fwd("ok"), Rules: []config.Rule{
		{Priority: 1, Conditions: config.Conditions{Path: []string{"/empty"}}, Action: fwd("empty")},
		{Priority: 2, Conditions: config.Conditions{Path: []string{"/refused"}}, Action: fwd("refused")},
		{Priority: 3, Conditions: config.Conditions{Path: []string{"/reset"}}, Action: fwd("reset")},
		{Priority: 4, Conditions: config.Conditions{Path: []string{"/malformed"}}, Action: fwd("malformed")},
		{Priority: 5, Conditions: config.Conditions{Path: []string{"/huge"}}, Action: fwd("huge")},
		{Priority: 6, Conditions: config.Conditions{Path: []string{"/silent"}}, Action: fwd("silent")},
		{Priority: 7, Conditions: config.Conditions{Path: []string{"/dupcl"}}, Action: fwd("dupcl")},
	}}
	ok := newBackend(t, "ok", nil)
	h := startLB(t, lbSetup{
		listener: lc,
		groups: []config.TargetGroup{empty, group("refused", refused), group("reset", reset), group("malformed", malformed),
			group("huge", hugeHeader), group("silent", silent), group("ok", ok.addr()), group("dupcl", bothCLTE)},
		transport: TransportOptions{ResponseTimeout: 300 * time.Millisecond},
	})
	cases := []struct {
		path   string
		status int
		reason string
	}{
		{"/empty", 503, ReasonNoTarget},
		{"/refused", 502, ReasonConnectRefused},
		{"/reset", 502, ReasonReset},
		{"/malformed", 502, ReasonMalformedResponse},
		{"/huge", 502, ReasonResponseTooLarge},
		{"/silent", 504, ReasonResponseTimeout},
		{"/dupcl", 502, ReasonMalformedResponse},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			// POST so no retry on another target muddles the answer.
			req, _ := http.NewRequest("POST", h.url(c.path), strings.NewReader("x"))
			st, _, body := h.do(req)
			if st != c.status || !strings.Contains(body, fmt.Sprint(c.status)) {
				t.Fatalf("got %d %q, want %d", st, body, c.status)
			}
			rec := h.obs.last(t)
			if rec.Status != c.status || rec.ErrorReason != c.reason {
				t.Fatalf("record status %d reason %q, want %d %q", rec.Status, rec.ErrorReason, c.status, c.reason)
			}
		})
	}
	t.Run("truncated body", func(t *testing.T) {
		// A small body is read whole before answering: the client gets 502.
		// A large one streams: the client connection is aborted mid-body.
		bigTrunc := rawTarget(t, func(c net.Conn) {
			readRequestHead(c)
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n"+strings.Repeat("x", 100<<10))
		})
		h2 := startLB(t, lbSetup{listener: config.Listener{Protocol: "HTTP", DefaultAction: fwd("c"), Rules: []config.Rule{
			{Priority: 1, Conditions: config.Conditions{Path: []string{"/big"}}, Action: fwd("big")}}},
			groups: []config.TargetGroup{group("c", closedMid), group("big", bigTrunc)}})
		if st, _, _ := h2.get("/small"); st != 502 {
			t.Fatalf("small truncated body: status %d, want 502", st)
		}
		resp, err := h2.hc.Get(h2.url("/big"))
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		if err == nil {
			t.Fatal("client read a truncated streamed body without error")
		}
	})
	t.Run("463 for more than 30 X-Forwarded-For addresses", func(t *testing.T) {
		before := ok.count()
		xff := strings.TrimSuffix(strings.Repeat("10.0.0.1, ", 31), ", ")
		if st, _, _ := h.get("/", "X-Forwarded-For", xff); st != 463 {
			t.Fatalf("status %d, want 463", st)
		}
		xff30 := strings.TrimSuffix(strings.Repeat("10.0.0.1, ", 30), ", ")
		if st, _, _ := h.get("/", "X-Forwarded-For", xff30); st != 200 {
			t.Fatalf("30 addresses: status %d, want 200", st)
		}
		if ok.count()-before != 1 {
			t.Fatalf("backend received %d requests, want only the 30-address one", ok.count()-before)
		}
	})
	t.Run("405 for TRACE", func(t *testing.T) {
		before := ok.count()
		req, _ := http.NewRequest("TRACE", h.url("/"), nil)
		if st, _, _ := h.do(req); st != 405 {
			t.Fatalf("status %d, want 405", st)
		}
		if ok.count() != before {
			t.Fatal("TRACE reached the backend")
		}
	})
}

func TestRetryOnAnotherTargetWhenConnectFails(t *testing.T) {
	ok := newBackend(t, "ok", nil)
	dead := deadAddr(t)
	h := startLB(t, lbSetup{listener: config.Listener{Protocol: "HTTP", DefaultAction: fwd("web")},
		groups: []config.TargetGroup{group("web", dead, ok.addr())}})
	for i := 0; i < 10; i++ {
		req, _ := http.NewRequest("POST", h.url("/p"), strings.NewReader(fmt.Sprint("body-", i)))
		if st, _, body := h.do(req); st != 200 || body != "ok" {
			t.Fatalf("request %d: %d %q", i, st, body)
		}
	}
	if n := ok.count(); n != 10 {
		t.Fatalf("live backend received %d, want 10", n)
	}
	for i, r := range ok.received() {
		if r.Body != fmt.Sprint("body-", i) {
			t.Fatalf("request %d body %q", i, r.Body)
		}
	}
	if h.srv.Counters().Retries.Load() == 0 {
		t.Fatal("no retry counted")
	}
	g := h.reg.Lookup("web").Lookup(dead)
	if g.TakeFailures() == 0 {
		t.Fatal("no passive failure reported for the dead target")
	}
}

// A non-idempotent request that reached a target which then dropped the
// connection is never replayed.
func TestNoRetryOfSentNonIdempotentRequest(t *testing.T) {
	var mu sync.Mutex
	hits := 0
	drop := rawTarget(t, func(c net.Conn) {
		readRequestHead(c)
		mu.Lock()
		hits++
		mu.Unlock()
	})
	other := newBackend(t, "other", nil)
	h := startLB(t, lbSetup{listener: config.Listener{Protocol: "HTTP", DefaultAction: fwd("web")},
		groups: []config.TargetGroup{group("web", drop, other.addr())}})
	// Round robin starts at the first target.
	req, _ := http.NewRequest("POST", h.url("/"), nil)
	if st, _, _ := h.do(req); st != 502 {
		t.Fatalf("status %d, want 502", st)
	}
	mu.Lock()
	defer mu.Unlock()
	if hits != 1 || other.count() != 0 {
		t.Fatalf("dropping target hit %d times, other %d: a sent POST was replayed", hits, other.count())
	}
}

func TestHandlerPanicIsRecovered(t *testing.T) {
	be := newBackend(t, "a", nil)
	// Set before the server serves: an event loop reads it with no other
	// synchronisation with this goroutine.
	h := startLB(t, lbSetup{listener: config.Listener{Protocol: "HTTP", DefaultAction: fwd("web")}, groups: []config.TargetGroup{group("web", be.addr())},
		tune: func(s *Server) {
			s.testHookRoute = func(v *RequestView) {
				if string(v.Path) == "/boom" {
					panic("injected")
				}
			}
		}})
	if st, _, _ := h.get("/boom"); st != 500 {
		t.Fatalf("status %d, want 500", st)
	}
	if st, _, _ := h.get("/fine"); st != 200 {
		t.Fatalf("after panic: status %d", st)
	}
	if h.srv.Counters().Panics.Load() != 1 {
		t.Fatalf("panics counted %d", h.srv.Counters().Panics.Load())
	}
	// A panic after the target answered (here: in the observer, which
	// runs when a streamed body ends) is contained too.
	h.obs.panicOn.Store(true)
	if st, _, body := h.get("/streamed"); st != 200 || body != "a" {
		t.Fatalf("observer panic broke the response: %d %q", st, body)
	}
	h.obs.panicOn.Store(false)
	if st, _, _ := h.get("/fine"); st != 200 {
		t.Fatal("server unhealthy after observer panic")
	}
	waitFor(t, func() bool { return h.srv.Counters().Panics.Load() == 2 })
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	for i := 0; i < 400; i++ {
		if ok() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("condition not reached")
}

// A target that closes idle keep-alive connections quickly: the next GET
// on the stale pooled connection is retried on a fresh one, even with a
// single target, and the client never sees the race.
func TestStalePooledConnectionIsRetried(t *testing.T) {
	var mu sync.Mutex
	n := 0
	closed := make(chan struct{}, 8)
	addr := rawTarget(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		mu.Lock()
		n++
		mu.Unlock()
		// Answer with keep-alive, then close without saying so.
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		c.Close()
		closed <- struct{}{}
	})
	h := startLB(t, lbSetup{listener: config.Listener{Protocol: "HTTP", DefaultAction: fwd("web")},
		groups: []config.TargetGroup{group("web", addr)}})
	for i := 0; i < 3; i++ {
		if st, _, body := h.get("/"); st != 200 || body != "ok" {
			t.Fatalf("request %d: %d %q", i, st, body)
		}
		select { // the pooled connection is now dead at the target
		case <-closed:
		case <-time.After(5 * time.Second):
			t.Fatal("target did not close")
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if n != 3 {
		t.Fatalf("target answered %d requests, want 3", n)
	}
	if r := h.srv.Counters().Retries.Load(); r == 0 {
		t.Fatal("no retry counted: the stale connection was never reused")
	}
}

// Response queue poisoning: bytes after a response's framed body never
// reach a later client as its response.
func TestExtraBytesAfterResponseNeverReachNextClient(t *testing.T) {
	addr := rawTarget(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for i := 0; ; i++ {
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			if i == 0 {
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nEVIL")
				continue
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ngood")
		}
	})
	h := startLB(t, lbSetup{listener: config.Listener{Protocol: "HTTP", DefaultAction: fwd("web")},
		groups: []config.TargetGroup{group("web", addr)}})
	if _, _, body := h.get("/1"); body != "ok" {
		t.Fatalf("first: %q", body)
	}
	for i := 0; i < 3; i++ {
		if _, _, body := h.get("/next"); body == "EVIL" {
			t.Fatal("a later client received the bytes smuggled after the first response")
		}
	}
}

// When a target's connection cap is reached, a request waits at most
// MaxConnWaitTimeout and then fails fast with 503 instead of piling up.
func TestTargetConnectionCapFailsFast(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	slow := newBackend(t, "slow", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			started <- struct{}{}
			<-release
		}
	})
	h := startLB(t, lbSetup{listener: config.Listener{Protocol: "HTTP", DefaultAction: fwd("web")},
		groups:    []config.TargetGroup{group("web", slow.addr())},
		transport: TransportOptions{MaxConnsPerTarget: 1, MaxConnWaitTimeout: 100 * time.Millisecond}})
	held := make(chan int, 1)
	go func() {
		resp, err := http.Get(h.url("/hold"))
		if err != nil {
			held <- 0
			return
		}
		resp.Body.Close()
		held <- resp.StatusCode
	}()
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("held request never reached the target")
	}
	start := time.Now()
	st, _, _ := h.get("/second")
	if st != 503 || time.Since(start) > 2*time.Second {
		t.Fatalf("second request: %d after %v, want a fast 503", st, time.Since(start))
	}
	close(release)
	if st := <-held; st != 200 {
		t.Fatalf("held request: %d", st)
	}
}
