package l7

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/internal/runtime"
)

// seen is what a test backend received.
type seen struct {
	Method, URI, Host, Proto string
	Header                   http.Header
	Body                     string
}

// testTarget is a scripted target on 127.0.0.1:0 that records every request.
type testTarget struct {
	name string
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []seen
}

func (b *testTarget) addr() string { return b.srv.Listener.Addr().String() }

func (b *testTarget) received() []seen {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]seen(nil), b.reqs...)
}

func (b *testTarget) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.reqs)
}

// newBackend starts a target; h (optional) writes the response, else the
// backend answers 200 with its name.
func newBackend(t *testing.T, name string, h http.HandlerFunc) *testTarget {
	t.Helper()
	b := &testTarget{name: name}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		b.mu.Lock()
		b.reqs = append(b.reqs, seen{Method: r.Method, URI: r.RequestURI, Host: r.Host, Proto: r.Proto, Header: r.Header.Clone(), Body: string(body)})
		b.mu.Unlock()
		if h != nil {
			h(w, r)
			return
		}
		w.Header().Set("X-Backend", name)
		_, _ = io.WriteString(w, name)
	}))
	t.Cleanup(b.srv.Close)
	return b
}

// harness is an l7 server on 127.0.0.1:0 in front of registered targets.
type harness struct {
	t    *testing.T
	addr string
	srv  *Server
	reg  *runtime.Registry
	tr   *Transport
	obs  *recorder
	hc   *http.Client
	// conns counts the connections of a Direct listener, whose Socket
	// is sock (both nil otherwise).
	conns *connCount
	sock  *runtime.Socket
}

type lbSetup struct {
	listener  config.Listener
	groups    []config.TargetGroup
	transport TransportOptions
	server    ServerOptions
	// listen is the address to listen on (default 127.0.0.1:0).
	listen string
	// wrap, when set, wraps the listener (TLS, as cmd/lb does).
	wrap func(net.Listener) net.Listener
	// tune, when set, adjusts the server before it serves.
	tune func(*Server)
	// goroutinePath keeps every connection off the event loops (tests of
	// the goroutine path's own machinery: parking, fasthttp's limits).
	goroutinePath bool
	// direct: with event loops the server gets a runtime.Socket's Direct
	// (the loops accept) unless directOff (Go accepts, loops take over).
	direct int
}

const directOff = 1

// connCount is a runtime.ConnCounter for tests.
type connCount struct{ opened, closed atomic.Int64 }

func (c *connCount) ConnOpened() { c.opened.Add(1) }
func (c *connCount) ConnClosed() { c.closed.Add(1) }

// open is the number of connections counted open now.
func (c *connCount) open() int64 { return c.opened.Load() - c.closed.Load() }

// testEventLoop says whether harness servers run with event loops: on,
// unless L7_PATH=goroutine (make test runs the package both ways).
var testEventLoop = os.Getenv("L7_PATH") != "goroutine"

func startLBWithListener(t *testing.T, lc config.Listener, groups []config.TargetGroup, wrap func(net.Listener) net.Listener) *harness {
	return startLB(t, lbSetup{listener: lc, groups: groups, wrap: wrap})
}

func startLB(t *testing.T, s lbSetup) *harness {
	t.Helper()
	reg := runtime.NewRegistry(nil)
	to := s.transport
	if to.ConnectTimeout == 0 {
		to.ConnectTimeout = 2 * time.Second
	}
	if to.ResponseTimeout == 0 {
		to.ResponseTimeout = 5 * time.Second
	}
	tr := NewTransport(to)
	groups := map[string]*TargetGroup{}
	for _, gc := range s.groups {
		g := reg.Group(gc.Name)
		g.SetChecksDisabled(true)
		var specs []runtime.TargetSpec
		for _, tc := range gc.Targets {
			specs = append(specs, runtime.TargetSpec{Addr: tc.Address, Weight: tc.Weight})
		}
		g.Register(specs)
		tg, err := NewTargetGroup(gc, g, tr)
		if err != nil {
			t.Fatalf("NewTargetGroup: %v", err)
		}
		groups[gc.Name] = tg
	}
	if s.listener.Name == "" {
		s.listener.Name = "web"
	}
	r, err := NewRouter(s.listener, groups, RouterOptions{})
	if err != nil {
		t.Fatalf("NewRouter: %v", err)
	}
	obs := &recorder{}
	so := s.server
	so.Listener = s.listener
	so.EventLoop = so.EventLoop || (testEventLoop && !s.goroutinePath)
	if so.Observer == nil {
		so.Observer = obs
	}
	srv, err := NewServer(r, so)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	if s.listen == "" {
		s.listen = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", s.listen)
	if err != nil {
		t.Skipf("listen %s: %v", s.listen, err)
	}
	addr := ln.Addr().String()
	var cc *connCount
	var sock *runtime.Socket
	switch {
	case s.wrap != nil:
		ln = s.wrap(ln)
	case so.EventLoop && s.direct != directOff:
		// As cmd/lb serves a plain-HTTP listener: the loops accept on the
		// socket themselves.
		cc = &connCount{}
		sock = runtime.NewSocket("test", ln, cc)
		t.Cleanup(sock.Close) // after the server's Shutdown (cleanups run last first)
		ln = sock.Direct()
	}
	if s.tune != nil {
		s.tune(srv)
	}
	done := make(chan struct{})
	go func() {
		if err := srv.Serve(ln); err != nil {
			t.Logf("serve: %v", err)
		}
		close(done)
	}()
	h := &harness{t: t, addr: addr, srv: srv, reg: reg, tr: tr, obs: obs, conns: cc, sock: sock,
		hc: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
		h.hc.CloseIdleConnections()
	})
	return h
}

func (h *harness) url(path string) string { return "http://" + h.addr + path }

// get sends a request through the proxy and returns status, headers, body.
func (h *harness) do(req *http.Request) (int, http.Header, string) {
	h.t.Helper()
	resp, err := h.hc.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func (h *harness) get(path string, hdr ...string) (int, http.Header, string) {
	h.t.Helper()
	req, _ := http.NewRequest("GET", h.url(path), nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		if strings.EqualFold(hdr[i], "Host") {
			req.Host = hdr[i+1]
			continue
		}
		req.Header.Add(hdr[i], hdr[i+1])
	}
	return h.do(req)
}

// raw sends raw bytes on a new connection and returns everything read
// until the server closes or 3 s pass.
func (h *harness) raw(data string) string {
	h.t.Helper()
	c, err := net.Dial("tcp", h.addr)
	if err != nil {
		h.t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.WriteString(c, data); err != nil {
		h.t.Fatalf("write: %v", err)
	}
	b, _ := io.ReadAll(c)
	return string(b)
}

// rawStatus reads one response from a raw exchange and returns its status.
func rawStatus(t *testing.T, resp string) int {
	t.Helper()
	r, err := http.ReadResponse(bufio.NewReader(strings.NewReader(resp)), nil)
	if err != nil {
		t.Fatalf("read response from %q: %v", resp, err)
	}
	return r.StatusCode
}

// recorder is an Observer keeping copies of the records.
type recorder struct {
	mu      sync.Mutex
	recs    []Record
	panicOn atomic.Bool
}

func (r *recorder) ObserveRequest(rec *Record) {
	if r.panicOn.Load() {
		panic("observer panic")
	}
	c := *rec
	c.Method = append([]byte(nil), rec.Method...)
	c.URI = append([]byte(nil), rec.URI...)
	c.TraceID = append([]byte(nil), rec.TraceID...)
	c.RedirectURL = append([]byte(nil), rec.RedirectURL...)
	c.Host = append([]byte(nil), rec.Host...)
	c.UserAgent = append([]byte(nil), rec.UserAgent...)
	c.Port = append([]byte(nil), rec.Port...)
	c.Proto = append([]byte(nil), rec.Proto...)
	r.mu.Lock()
	r.recs = append(r.recs, c)
	r.mu.Unlock()
}

func (r *recorder) all() []Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Record(nil), r.recs...)
}

// last waits briefly for at least n records and returns the last.
func (r *recorder) last(t *testing.T) Record {
	t.Helper()
	for i := 0; i < 200; i++ {
		if recs := r.all(); len(recs) > 0 {
			return recs[len(recs)-1]
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("no record observed")
	return Record{}
}

func fwd(group string) config.Action {
	return config.Action{Forward: &config.Forward{TargetGroup: group}}
}

func fixed(body string) config.Action {
	return config.Action{FixedResponse: &config.FixedResponse{Status: 200, ContentType: "text/plain", Body: body}}
}

func group(name string, addrs ...string) config.TargetGroup {
	g := config.TargetGroup{Name: name, Protocol: "HTTP"}
	for _, a := range addrs {
		g.Targets = append(g.Targets, config.Target{Address: a})
	}
	return g
}

func mustAddrPort(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

type fasthttpHeader struct{ fasthttp.RequestHeader }

func (h *fasthttpHeader) parse(s string) error {
	return h.Read(bufio.NewReader(strings.NewReader(s)))
}
