package cache

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// miniEdge is the edge's per-request cache flow written against this
// package's API (KeyPolicy, Flow) with net/http, so scenario tests drive a
// real origin on 127.0.0.1:0 and check both what the viewer got and what the
// origin saw.
type miniEdge struct {
	t      *testing.T
	origin atomic.Pointer[string]
	store  *Store
	coal   Coalescer
	policy *KeyPolicy
	flow   *Flow
	clock  *fakeClock
	client *http.Client
}

type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

type viewerAnswer struct {
	status int
	result string // Hit, Miss, RefreshHit, Error (CloudFront X-Cache words)
	header http.Header
	body   string
}

func newMiniEdge(t *testing.T, origin http.Handler, policy *KeyPolicy) *miniEdge {
	t.Helper()
	srv := httptest.NewServer(origin)
	t.Cleanup(srv.Close)
	clock := &fakeClock{}
	clock.ns.Store(t0.UnixNano())
	s := newStore(t, Options{MaxSize: 8 << 20, Now: clock.Now})
	m := &miniEdge{t: t, store: s, policy: policy, clock: clock, client: &http.Client{Timeout: 10 * time.Second}}
	m.origin.Store(&srv.URL)
	m.flow = &Flow{Store: s, Coalescer: &m.coal, TTL: DefaultTTLPolicy(), Collapse: policy.Collapsible(),
		Compress: policy.Gzip || policy.Brotli, KeepSetCookie: policy.Cookies != None}
	return m
}

func (m *miniEdge) get(path, query string, h http.Header) viewerAnswer {
	if h == nil {
		h = http.Header{}
	}
	r := Request{Method: "GET", Path: []byte(path), Query: []byte(query), Cookie: []byte(h.Get("Cookie")),
		AcceptEncoding: []byte(h.Get("Accept-Encoding")), Header: headerPeeker(h)}
	var buf [256]byte
	key, enc := m.policy.AppendKey(buf[:0], "site", &r)
	e, res, err := m.flow.Serve(context.Background(), key, enc, func(ctx context.Context, v Validators) (*OriginAnswer, error) {
		return m.fetch(ctx, path, query, h, enc, v)
	})
	m.store.Wait() // Sets are asynchronous; tests want them applied
	if err != nil {
		return viewerAnswer{status: 502, result: res.String()}
	}
	return m.answer(e, res.String(), h)
}

func (m *miniEdge) fetch(ctx context.Context, path, query string, h http.Header, enc Encoding, v Validators) (*OriginAnswer, error) {
	u := *m.origin.Load() + path
	if q := m.policy.AppendQuery(nil, []byte(query)); len(q) > 0 {
		u += "?" + string(q)
	}
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return nil, err
	}
	for _, name := range m.policy.Headers {
		if v := h.Get(name); v != "" {
			req.Header.Set(name, v)
		}
	}
	if c := m.policy.AppendCookie(nil, []byte(h.Get("Cookie"))); len(c) > 0 {
		req.Header.Set("Cookie", string(c))
	}
	req.Header.Set("Accept-Encoding", enc.Token())
	if v.IfNoneMatch != "" {
		req.Header.Set("If-None-Match", v.IfNoneMatch)
	}
	if v.IfModifiedSince != "" {
		req.Header.Set("If-Modified-Since", v.IfModifiedSince)
	}
	reqTime := m.clock.Now()
	resp, err := m.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("origin: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	var fields []Field
	for name, vs := range resp.Header {
		for _, v := range vs {
			fields = append(fields, Field{name, v})
		}
	}
	return &OriginAnswer{Status: resp.StatusCode, Header: fields, Body: body, RequestTime: reqTime, ResponseTime: m.clock.Now()}, nil
}

func (m *miniEdge) answer(e *Entry, result string, h http.Header) viewerAnswer {
	if e.Status >= 400 {
		result = "Error"
	}
	a := viewerAnswer{status: e.Status, result: result, header: http.Header{}, body: string(e.Body)}
	for _, f := range e.Header {
		a.header.Add(f.Name, f.Value)
	}
	a.header.Set("Age", fmt.Sprint(e.AgeSeconds(m.clock.Now())))
	if vary := m.policy.AppendVary(nil, []byte(a.header.Get("Vary"))); len(vary) > 0 {
		a.header.Set("Vary", string(vary))
	} else {
		a.header.Del("Vary")
	}
	if e.NotModified([]byte(h.Get("If-None-Match")), []byte(h.Get("If-Modified-Since"))) {
		a.status, a.body = 304, ""
		return a
	}
	if rr := e.Range([]byte(h.Get("Range")), []byte(h.Get("If-Range"))); rr.Status == 206 {
		a.status, a.body = 206, string(e.Body[rr.Start:rr.End+1])
		a.header.Set("Content-Range", string(AppendContentRange(nil, rr, int64(len(e.Body)))))
	} else if rr.Status == 416 {
		a.status, a.body = 416, ""
		a.header.Set("Content-Range", string(AppendContentRange(nil, rr, int64(len(e.Body)))))
	}
	return a
}

type headerPeeker http.Header

func (h headerPeeker) Peek(name string) []byte {
	if v := http.Header(h).Get(name); v != "" {
		return []byte(v)
	}
	return nil
}

// scriptedOrigin records what it receives.
type scriptedOrigin struct {
	mu       sync.Mutex
	requests []*http.Request
	handler  func(w http.ResponseWriter, r *http.Request)
}

func (o *scriptedOrigin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o.mu.Lock()
	o.requests = append(o.requests, r.Clone(context.Background()))
	o.mu.Unlock()
	o.handler(w, r)
}

func (o *scriptedOrigin) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.requests)
}

func (o *scriptedOrigin) last() *http.Request {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.requests[len(o.requests)-1]
}

func expect(t *testing.T, step string, a viewerAnswer, status int, result, body string) {
	t.Helper()
	if a.status != status || a.result != result || a.body != body {
		t.Errorf("%s: got %d %s %q, want %d %s %q", step, a.status, a.result, a.body, status, result, body)
	}
}

func TestScenarioRevalidationAndStaleIfError(t *testing.T) {
	version := "v1"
	o := &scriptedOrigin{handler: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60, stale-if-error=600")
		w.Header().Set("ETag", `"`+version+`"`)
		if r.Header.Get("If-None-Match") == `"`+version+`"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		io.WriteString(w, "page "+version)
	}}
	m := newMiniEdge(t, o, &KeyPolicy{})

	expect(t, "first", m.get("/page", "", nil), 200, "Miss", "page v1")
	expect(t, "second", m.get("/page", "", nil), 200, "Hit", "page v1")
	if o.count() != 1 {
		t.Fatalf("origin requests = %d", o.count())
	}
	m.clock.Advance(30 * time.Second)
	a := m.get("/page", "", nil)
	expect(t, "at 30s", a, 200, "Hit", "page v1")
	if a.header.Get("Age") != "30" {
		t.Errorf("Age = %q", a.header.Get("Age"))
	}

	m.clock.Advance(31 * time.Second)
	expect(t, "expired, origin answers 304", m.get("/page", "", nil), 200, "RefreshHit", "page v1")
	if o.count() != 2 || o.last().Header.Get("If-None-Match") != `"v1"` {
		t.Errorf("origin got %d requests, If-None-Match %q", o.count(), o.last().Header.Get("If-None-Match"))
	}
	a = m.get("/page", "", nil)
	expect(t, "after refresh", a, 200, "Hit", "page v1")
	if a.header.Get("Age") != "0" {
		t.Errorf("Age after refresh = %q", a.header.Get("Age"))
	}

	// Viewer conditionals and ranges are answered from the cache.
	expect(t, "viewer If-None-Match", m.get("/page", "", http.Header{"If-None-Match": {`"v1"`}}), 304, "Hit", "")
	a = m.get("/page", "", http.Header{"Range": {"bytes=5-6"}})
	expect(t, "viewer Range", a, 206, "Hit", "v1")
	if a.header.Get("Content-Range") != "bytes 5-6/7" {
		t.Errorf("Content-Range %q", a.header.Get("Content-Range"))
	}
	expect(t, "unsatisfiable Range", m.get("/page", "", http.Header{"Range": {"bytes=70-"}}), 416, "Hit", "")
	if o.count() != 2 {
		t.Errorf("viewer conditionals reached the origin: %d", o.count())
	}

	// The origin goes down; within stale-if-error the stale copy is served.
	m.clock.Advance(2 * time.Minute)
	dead := "http://127.0.0.1:1" // nothing listens there
	m.origin.Store(&dead)
	expect(t, "origin down", m.get("/page", "", nil), 200, "RefreshHit", "page v1")
	m.clock.Advance(10 * time.Minute)
	expect(t, "origin down past stale-if-error", m.get("/page", "", nil), 502, "Error", "")
}

func TestScenarioCollapsingWithOrigin(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cc      string
		fetches int
	}{{"cacheable", "max-age=60", 1}, {"private", "private", 100}} {
		t.Run(tc.name, func(t *testing.T) {
			gate := make(chan struct{})
			o := &scriptedOrigin{handler: func(w http.ResponseWriter, r *http.Request) {
				<-gate
				w.Header().Set("Cache-Control", tc.cc)
				io.WriteString(w, "body")
			}}
			m := newMiniEdge(t, o, &KeyPolicy{})
			key, _ := m.policy.AppendKey(nil, "site", &Request{Method: "GET", Path: []byte("/hot")})
			var wg sync.WaitGroup
			answers := make([]viewerAnswer, 100)
			for i := range answers {
				wg.Go(func() { answers[i] = m.get("/hot", "", nil) })
			}
			// Wait (bounded) until one fetch is at the origin and 99 wait.
			deadline := time.Now().Add(10 * time.Second)
			for (m.coal.Waiting(key) != 99 || o.count() != 1) && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			if w := m.coal.Waiting(key); w != 99 {
				t.Fatalf("waiting = %d", w)
			}
			close(gate)
			wg.Wait()
			if o.count() != tc.fetches {
				t.Errorf("origin requests = %d, want %d", o.count(), tc.fetches)
			}
			for i, a := range answers {
				if a.status != 200 || a.body != "body" {
					t.Fatalf("viewer %d got %+v", i, a)
				}
			}
		})
	}
}

// Cache-key isolation: headers and parameters outside the key never reach
// the origin and never change a cached answer.
func TestScenarioKeyIsolation(t *testing.T) {
	o := &scriptedOrigin{handler: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprintf(w, "host=%s q=%s", r.Header.Get("X-Forwarded-Host"), r.URL.RawQuery)
	}}
	m := newMiniEdge(t, o, &KeyPolicy{Query: List, QueryNames: []string{"v"}})
	expect(t, "poison attempt", m.get("/a", "v=1&utm=evil", http.Header{"X-Forwarded-Host": {"evil.example"}}), 200, "Miss", "host= q=v=1")
	expect(t, "victim", m.get("/a", "v=1", nil), 200, "Hit", "host= q=v=1")
	if got := o.last().Header.Get("X-Forwarded-Host"); got != "" {
		t.Errorf("origin received X-Forwarded-Host %q", got)
	}
	expect(t, "other version", m.get("/a", "v=2", nil), 200, "Miss", "host= q=v=2")
}

func TestScenarioCompressionPerEncoding(t *testing.T) {
	page := strings.Repeat("<p>hello edge</p>", 200)
	o := &scriptedOrigin{handler: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("ETag", `"p1"`)
		io.WriteString(w, page)
	}}
	m := newMiniEdge(t, o, &KeyPolicy{Gzip: true, Brotli: true})
	br := m.get("/", "", http.Header{"Accept-Encoding": {"gzip, deflate, br"}})
	gz := m.get("/", "", http.Header{"Accept-Encoding": {"gzip"}})
	id := m.get("/", "", nil)
	if br.header.Get("Content-Encoding") != "br" || gz.header.Get("Content-Encoding") != "gzip" || id.header.Get("Content-Encoding") != "" {
		t.Errorf("encodings %q %q %q", br.header.Get("Content-Encoding"), gz.header.Get("Content-Encoding"), id.header.Get("Content-Encoding"))
	}
	if br.header.Get("ETag") != `W/"p1"` || id.header.Get("ETag") != `"p1"` || br.header.Get("Vary") != "Accept-Encoding" {
		t.Errorf("ETag %q / %q, Vary %q", br.header.Get("ETag"), id.header.Get("ETag"), br.header.Get("Vary"))
	}
	if id.body != page || len(br.body) >= len(page)/4 {
		t.Errorf("bodies: identity %d, br %d bytes", len(id.body), len(br.body))
	}
	expect(t, "br again", m.get("/", "", http.Header{"Accept-Encoding": {"br;q=1, gzip;q=0.5"}}), 200, "Hit", br.body)
	if o.count() != 3 {
		t.Errorf("origin requests = %d, want one per encoding", o.count())
	}
	if ae := o.last().Header.Get("Accept-Encoding"); ae != "" {
		t.Errorf("identity fetch sent Accept-Encoding %q", ae)
	}
}

func TestScenarioStaleWhileRevalidate(t *testing.T) {
	var version atomic.Int32
	version.Store(1)
	o := &scriptedOrigin{handler: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60, stale-while-revalidate=30")
		fmt.Fprintf(w, "v%d", version.Load())
	}}
	m := newMiniEdge(t, o, &KeyPolicy{})
	expect(t, "first", m.get("/swr", "", nil), 200, "Miss", "v1")
	version.Store(2)
	m.clock.Advance(70 * time.Second)
	// Inside the window: the stale copy at once, a background refresh.
	expect(t, "stale while revalidating", m.get("/swr", "", nil), 200, "Hit", "v1")
	deadline := time.Now().Add(10 * time.Second)
	for o.count() < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	key, _ := m.policy.AppendKey(nil, "site", &Request{Method: "GET", Path: []byte("/swr")})
	for m.coal.InFlight() > 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	m.store.Wait()
	if e, st := m.store.Get(key); st != Fresh || string(e.Body) != "v2" {
		t.Fatalf("background revalidation did not store v2: %v", st)
	}
	expect(t, "after background refresh", m.get("/swr", "", nil), 200, "Hit", "v2")
	// Past the window the viewer waits for the origin.
	version.Store(3)
	m.clock.Advance(100 * time.Second)
	expect(t, "past the window", m.get("/swr", "", nil), 200, "Miss", "v3")
	if o.count() != 3 {
		t.Errorf("origin requests = %d, want 3", o.count())
	}
}

func TestScenarioOriginErrors(t *testing.T) {
	var status atomic.Int32
	status.Store(200)
	var cc atomic.Value
	cc.Store("max-age=60")
	o := &scriptedOrigin{handler: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", cc.Load().(string))
		w.WriteHeader(int(status.Load()))
		fmt.Fprintf(w, "status %d", status.Load())
	}}
	m := newMiniEdge(t, o, &KeyPolicy{})

	// A 5xx from the origin with a stale copy: the stale copy (no
	// stale-if-error directive: CloudFront's older behaviour).
	expect(t, "fill", m.get("/e", "", nil), 200, "Miss", "status 200")
	m.clock.Advance(2 * time.Minute)
	status.Store(503)
	expect(t, "origin 503, stale copy", m.get("/e", "", nil), 200, "RefreshHit", "status 200")

	// A 4xx is passed on, not replaced by the stale copy.
	status.Store(404)
	cc.Store("")
	expect(t, "origin 404", m.get("/e", "", nil), 404, "Error", "status 404")
	// ... and cached for the error caching minimum TTL (10 s).
	n := o.count()
	m.clock.Advance(9 * time.Second)
	expect(t, "404 cached", m.get("/e", "", nil), 404, "Error", "status 404")
	if o.count() != n {
		t.Errorf("cached 404 went to the origin")
	}
	m.clock.Advance(2 * time.Second)
	status.Store(200)
	cc.Store("max-age=60")
	expect(t, "404 expired", m.get("/e", "", nil), 200, "Miss", "status 200")

	// stale-if-error=0 turns serve-stale off.
	cc.Store("max-age=1, stale-if-error=0")
	expect(t, "sie=0 fill", m.get("/sie0", "", nil), 200, "Miss", "status 200")
	m.clock.Advance(5 * time.Second)
	status.Store(502)
	cc.Store("")
	expect(t, "sie=0 origin 502", m.get("/sie0", "", nil), 502, "Error", "status 502")

	// Uncacheable answers always go to the origin.
	status.Store(200)
	cc.Store("no-store")
	n = o.count()
	m.get("/ns", "", nil)
	m.get("/ns", "", nil)
	if o.count() != n+2 {
		t.Errorf("no-store answer was cached")
	}
	// Nothing cached and the origin unreachable: Error.
	dead := "http://127.0.0.1:1"
	m.origin.Store(&dead)
	expect(t, "origin down, nothing cached", m.get("/never", "", nil), 502, "Error", "")
}
