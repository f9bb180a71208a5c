package edge

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/valyala/fasthttp"

	"github.com/switchyard/switchyard/cache"
	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/geo"
	"github.com/switchyard/switchyard/geo/geotest"
)

// testClock is the injected clock of a scenario: TTLs and Age read it.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// seen is one request as an origin received it.
type seen struct {
	Method, URI, Host string
	Header            http.Header
	Body              string
}

// testOrigin is a scripted origin on 127.0.0.1:0.
type testOrigin struct {
	Addr    string
	URL     string
	hits    atomic.Int64
	mu      sync.Mutex
	reqs    []seen
	handler atomic.Pointer[fasthttp.RequestHandler]
	ln      net.Listener
}

func newOrigin(t testing.TB, h fasthttp.RequestHandler) *testOrigin {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &testOrigin{Addr: ln.Addr().String(), URL: "http://" + ln.Addr().String(), ln: ln}
	o.handler.Store(&h)
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		o.hits.Add(1)
		s := seen{Method: string(ctx.Method()), URI: string(ctx.RequestURI()), Host: string(ctx.Host()),
			Header: http.Header{}, Body: string(ctx.PostBody())}
		for k, v := range ctx.Request.Header.All() {
			s.Header.Add(string(k), string(v))
		}
		o.mu.Lock()
		o.reqs = append(o.reqs, s)
		o.mu.Unlock()
		(*o.handler.Load())(ctx)
	}, NoDefaultServerHeader: true, ReadTimeout: 5 * time.Second}
	go srv.Serve(ln) //nolint:errcheck // ends at Shutdown
	t.Cleanup(func() { _ = srv.Shutdown() })
	return o
}

func (o *testOrigin) set(h fasthttp.RequestHandler) { o.handler.Store(&h) }
func (o *testOrigin) Hits() int                     { return int(o.hits.Load()) }
func (o *testOrigin) last() seen {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.reqs) == 0 {
		return seen{Header: http.Header{}}
	}
	return o.reqs[len(o.reqs)-1]
}

// close stops the origin listening: later connections are refused.
func (o *testOrigin) close() { _ = o.ln.Close() }

type testEdge struct {
	e    *Edge
	addr string
	clk  *testClock
	c    *http.Client
	logs *lockedBuf
}

type lockedBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuf) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

type edgeOpt struct {
	maxSize, maxObject int64
	trusted            []string
	geoNets            map[string]string
	logFormat          string
	listener           func(net.Listener) net.Listener
}

// startEdge compiles yaml (a whole edge config; "ORIGIN" and "BACKUP" are
// replaced by the given origins' URLs) and serves it on 127.0.0.1:0.
func startEdge(t testing.TB, yaml string, o edgeOpt) *testEdge {
	t.Helper()
	cfg, err := config.ParseEdge(t.TempDir()+"/edge.yaml", []byte(yaml))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return startEdgeConfig(t, cfg, o)
}

func startEdgeConfig(t testing.TB, cfg *config.Edge, o edgeOpt) *testEdge {
	t.Helper()
	clk := &testClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	so := cache.StoreOptions(o.maxSize, o.maxObject)
	so.Now = clk.Now
	store, err := cache.NewStore(so)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	nets := o.geoNets
	if nets == nil {
		nets = map[string]string{"127.0.0.0/8": "US"}
	}
	dbPath, err := geotest.WriteFile(t.TempDir(), geotest.CountryCode, nets)
	if err != nil {
		t.Fatal(err)
	}
	db, err := geo.Open(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuf{}
	var al *AccessLog
	if o.logFormat != "" {
		al, err = NewAccessLog(logs, o.logFormat)
		if err != nil {
			t.Fatal(err)
		}
	}
	e, err := New(Options{Store: store, Geo: db, Now: clk.Now, EdgeID: "0123456789abcdef0123456789abcdef", AccessLog: al})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := e.Compile(cfg)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	e.Swap(snap)
	var trusted []netip.Prefix
	for _, s := range o.trusted {
		trusted = append(trusted, netip.MustParsePrefix(s))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if o.listener != nil {
		ln = o.listener(ln)
	}
	srv := e.NewServer(ListenerOptions{Name: "test", TrustedProxies: trusted})
	go srv.Serve(ln) //nolint:errcheck // ends at Shutdown
	t.Cleanup(func() { _ = srv.Shutdown(); e.CloseIdleConnections() })
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 200},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	t.Cleanup(c.CloseIdleConnections)
	return &testEdge{e: e, addr: addr, clk: clk, c: c, logs: logs}
}

type answer struct {
	Status int
	Header http.Header
	Body   string
}

// do sends one viewer request; hdr is name, value pairs ("Host" sets the Host).
func (te *testEdge) do(t *testing.T, method, path string, hdr ...string) answer {
	t.Helper()
	a, err := te.try(method, path, "", hdr...)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return a
}

func (te *testEdge) try(method, path, body string, hdr ...string) (answer, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://"+te.addr+path, rd)
	if err != nil {
		return answer{}, err
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			req.Host = hdr[i+1]
			continue
		}
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := te.c.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, err
	}
	return answer{Status: resp.StatusCode, Header: resp.Header, Body: string(b)}, nil
}

func (te *testEdge) get(t *testing.T, path string, hdr ...string) answer {
	t.Helper()
	return te.do(t, "GET", path, hdr...)
}

// siteYAML is a one-distribution config in front of origin with extra
// default-behaviour lines.
func siteYAML(origin, behavior string) string {
	return `
listeners: [{address: "127.0.0.1:0"}]
distributions:
  - name: site
    origins: [{id: app, url: "` + origin + `", response_timeout: 2s, connect_timeout: 1s}]
    default_cache_behavior:
      target_origin: app
` + behavior
}

// reply returns a handler answering status, body and the header pairs.
func reply(status int, body string, hdr ...string) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		for i := 0; i+1 < len(hdr); i += 2 {
			ctx.Response.Header.Set(hdr[i], hdr[i+1])
		}
		ctx.SetStatusCode(status)
		ctx.SetBodyString(body)
	}
}

func wantStatus(t *testing.T, a answer, status int, xcache string) {
	t.Helper()
	if a.Status != status || (xcache != "" && a.Header.Get("X-Cache") != xcache) {
		t.Fatalf("got %d %q (X-Cache %q), want %d %q", a.Status, a.Body, a.Header.Get("X-Cache"), status, xcache)
	}
}

// wait lets ristretto apply earlier Sets.
func (te *testEdge) wait() { te.e.store.Wait() }

// rawStatus sends a raw HTTP/1.1 request and returns the status code.
func rawStatus(t *testing.T, addr, req string) int {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// counterValue reads a Prometheus counter.
func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}
