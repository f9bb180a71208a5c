package edge

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/valyala/fasthttp"

	"github.com/switchyard/switchyard/cache"
)

func TestRangeFromCache(t *testing.T) {
	body := strings.Repeat("0123456789", 100)
	o := newOrigin(t, reply(200, body, "Cache-Control", "max-age=60", "Content-Type", "application/octet-stream"))
	te := startEdge(t, siteYAML(o.URL, ""), edgeOpt{})
	te.get(t, "/blob")
	te.wait()
	a := te.get(t, "/blob", "Range", "bytes=10-19")
	if a.Status != 206 || a.Body != "0123456789" || a.Header.Get("Content-Range") != "bytes 10-19/1000" {
		t.Fatalf("range: %d %q %q", a.Status, a.Body, a.Header.Get("Content-Range"))
	}
	a = te.get(t, "/blob", "Range", "bytes=5000-")
	if a.Status != 416 || a.Header.Get("Content-Range") != "bytes */1000" {
		t.Fatalf("unsatisfiable range: %d %q", a.Status, a.Header.Get("Content-Range"))
	}
	if o.Hits() != 1 || o.last().Header.Get("Range") != "" {
		t.Fatalf("origin hits %d (want 1), Range sent %q", o.Hits(), o.last().Header.Get("Range"))
	}
}

// TestCompressionNegotiation: gzip, br and identity variants are each
// fetched once and cached per encoding; ETags of compressed variants are weak.
func TestCompressionNegotiation(t *testing.T) {
	text := strings.Repeat("compress me please, CloudFront style. ", 100)
	o := newOrigin(t, reply(200, text, "Cache-Control", "max-age=60", "Content-Type", "text/plain", "ETag", `"e1"`))
	te := startEdge(t, siteYAML(o.URL, "      compress: true\n"), edgeOpt{})
	decode := map[string]func([]byte) (string, error){
		"gzip": func(b []byte) (string, error) {
			r, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				return "", err
			}
			out, err := io.ReadAll(r)
			return string(out), err
		},
		"br": func(b []byte) (string, error) {
			out, err := io.ReadAll(brotli.NewReader(bytes.NewReader(b)))
			return string(out), err
		},
		"": func(b []byte) (string, error) { return string(b), nil },
	}
	for _, tc := range []struct{ ae, want string }{{"gzip, deflate", "gzip"}, {"gzip, br", "br"}, {"", ""}, {"zstd", ""}} {
		for _, x := range []string{"Miss from edge", "Hit from edge"} {
			a := te.get(t, "/t.txt", "Accept-Encoding", tc.ae)
			wantStatus(t, a, 200, "")
			if a.Header.Get("Content-Encoding") != tc.want {
				t.Fatalf("Accept-Encoding %q: Content-Encoding %q, want %q", tc.ae, a.Header.Get("Content-Encoding"), tc.want)
			}
			if tc.ae != "zstd" && a.Header.Get("X-Cache") != x {
				t.Fatalf("Accept-Encoding %q: X-Cache %q, want %q", tc.ae, a.Header.Get("X-Cache"), x)
			}
			plain, err := decode[tc.want]([]byte(a.Body))
			if err != nil || plain != text {
				t.Fatalf("Accept-Encoding %q: body does not decode to the original (%v)", tc.ae, err)
			}
			if tc.want != "" && a.Header.Get("ETag") != `W/"e1"` {
				t.Fatalf("compressed ETag %q", a.Header.Get("ETag"))
			}
			te.wait()
		}
	}
	if o.Hits() != 3 {
		t.Fatalf("origin hits %d, want 3 (one per encoding)", o.Hits())
	}
	if ae := o.last().Header.Get("Accept-Encoding"); ae != "" {
		t.Fatalf("identity fetch sent Accept-Encoding %q", ae)
	}
}

const failoverYAML = `
listeners: [{address: "127.0.0.1:0"}]
distributions:
  - name: site
    origins:
      - {id: primary, url: "PRIMARY", connect_timeout: 1s, response_timeout: 2s}
      - {id: secondary, url: "SECONDARY"}
    origin_groups:
      - {id: ha, members: [primary, secondary], failover_status_codes: [500, 503]}
    default_cache_behavior:
      target_origin: ha
      allowed_methods: [GET, HEAD, OPTIONS, PUT, PATCH, POST, DELETE]
`

func TestOriginGroupFailover(t *testing.T) {
	primary := newOrigin(t, reply(503, "primary down", "Cache-Control", "no-store"))
	secondary := newOrigin(t, reply(200, "from secondary", "Cache-Control", "no-store"))
	yaml := strings.NewReplacer("PRIMARY", primary.URL, "SECONDARY", secondary.URL).Replace(failoverYAML)
	te := startEdge(t, yaml, edgeOpt{})

	a := te.get(t, "/f")
	if a.Status != 200 || a.Body != "from secondary" || primary.Hits() != 1 || secondary.Hits() != 1 {
		t.Fatalf("status failover: %d %q, primary %d secondary %d", a.Status, a.Body, primary.Hits(), secondary.Hits())
	}
	// 404 is not a failover code: the primary's answer stands.
	primary.set(reply(404, "primary 404", "Cache-Control", "no-store"))
	if a = te.get(t, "/f"); a.Status != 404 || secondary.Hits() != 1 {
		t.Fatalf("non-failover code: %d %q, secondary %d", a.Status, a.Body, secondary.Hits())
	}
	// POST never fails over.
	primary.set(reply(503, "primary down"))
	a, err := te.try("POST", "/f", "data")
	if err != nil || a.Status != 503 || secondary.Hits() != 1 || primary.last().Body != "data" {
		t.Fatalf("POST: %d %q %v, secondary %d, primary body %q", a.Status, a.Body, err, secondary.Hits(), primary.last().Body)
	}
	// A dead primary (connection refused) fails over too.
	primary.close()
	te.e.CloseIdleConnections()
	if a = te.get(t, "/f"); a.Status != 200 || a.Body != "from secondary" {
		t.Fatalf("connection failover: %d %q", a.Status, a.Body)
	}
}

func TestCustomErrorResponses(t *testing.T) {
	o := newOrigin(t, func(ctx *fasthttp.RequestCtx) {
		switch string(ctx.Path()) {
		case "/errors/404.html":
			ctx.Response.Header.Set("Content-Type", "text/html")
			ctx.Response.Header.Set("Cache-Control", "max-age=300")
			ctx.SetBodyString("<h1>custom not found</h1>")
		case "/spa/route":
			ctx.SetStatusCode(403)
			ctx.SetBodyString("denied")
		default:
			ctx.SetStatusCode(404)
			ctx.SetBodyString("plain 404")
		}
	})
	te := startEdge(t, siteYAML(o.URL, "")+`    custom_error_responses:
      - {error_code: 404, response_code: 404, response_page_path: /errors/404.html, error_caching_min_ttl: 30s}
      - {error_code: 403, response_code: 200, response_page_path: /errors/404.html}
`, edgeOpt{})
	a := te.get(t, "/nope")
	if a.Status != 404 || a.Body != "<h1>custom not found</h1>" || a.Header.Get("Content-Type") != "text/html" {
		t.Fatalf("custom 404: %d %q %q", a.Status, a.Body, a.Header.Get("Content-Type"))
	}
	te.wait()
	// The error is cached for error_caching_min_ttl, the page like any object.
	te.clk.Advance(29 * time.Second)
	hits := o.Hits()
	if a = te.get(t, "/nope"); a.Status != 404 || o.Hits() != hits {
		t.Fatalf("cached error: %d, origin hits %d → %d", a.Status, hits, o.Hits())
	}
	if a = te.get(t, "/spa/route"); a.Status != 200 || a.Body != "<h1>custom not found</h1>" {
		t.Fatalf("403 → 200: %d %q", a.Status, a.Body)
	}
}

func TestInvalidationWildcards(t *testing.T) {
	n := 0
	o := newOrigin(t, func(ctx *fasthttp.RequestCtx) {
		n++
		ctx.Response.Header.Set("Cache-Control", "max-age=600")
		fmt.Fprintf(ctx, "%s#%d", ctx.Path(), n)
	})
	te := startEdge(t, siteYAML(o.URL, "      cache_key: {query_strings: all}\n"), edgeOpt{})
	paths := []string{"/img/a.png", "/img/b/c.png", "/index.html", "/index.html?v=2", "/other"}
	first := map[string]string{}
	for _, p := range paths {
		first[p] = te.get(t, p).Body
	}
	te.wait()
	if err := te.e.Invalidate("site", []string{"/img/*", "/index.html"}); err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		a := te.get(t, p)
		changed := a.Body != first[p]
		if want := p != "/other"; changed != want {
			t.Fatalf("%s after invalidation: %q (was %q), want changed=%v", p, a.Body, first[p], want)
		}
	}
	if err := te.e.Invalidate("nope", []string{"/*"}); err == nil {
		t.Fatal("invalidating an unknown distribution succeeded")
	}
	if err := te.e.Invalidate("site", []string{"/a*b"}); err == nil {
		t.Fatal("a '*' before the end was accepted")
	}
}

// TestBehaviorPrecedence: the first matching pattern in list order wins,
// '?' is one byte, matching is case-sensitive, the default catches the rest,
// and a pattern longer than lb's 128-byte condition limit works.
func TestBehaviorPrecedence(t *testing.T) {
	a := newOrigin(t, reply(200, "A", "Cache-Control", "no-store"))
	b := newOrigin(t, reply(200, "B", "Cache-Control", "no-store"))
	d := newOrigin(t, reply(200, "D", "Cache-Control", "no-store"))
	// CloudFront allows 255-character patterns, lb's conditions 128: a
	// long one still compiles and matches across the 128-byte mark.
	long := "/" + strings.Repeat("l", 150) + "/*" + strings.Repeat("m", 60)
	yaml := `
listeners: [{address: "127.0.0.1:0"}]
distributions:
  - name: site
    origins: [{id: a, url: "` + a.URL + `"}, {id: b, url: "` + b.URL + `"}, {id: d, url: "` + d.URL + `"}]
    default_cache_behavior: {target_origin: d}
    cache_behaviors:
      - {path_pattern: /img/*.jpg, target_origin: a}
      - {path_pattern: /img/*, target_origin: b}
      - {path_pattern: "v?/x", target_origin: a}
      - {path_pattern: "` + long + `", target_origin: b}
`
	te := startEdge(t, yaml, edgeOpt{})
	for path, want := range map[string]string{
		"/img/deep/p.jpg": "A", "/img/p.png": "B", "/IMG/p.jpg": "D", "/v1/x": "A", "/v10/x": "D", "/": "D",
		"/" + strings.Repeat("l", 150) + "/any/" + strings.Repeat("m", 60): "B",
		"/" + strings.Repeat("l", 150) + "/any/" + strings.Repeat("m", 59): "D",
	} {
		if got := te.get(t, path).Body; got != want {
			t.Errorf("%s → origin %s, want %s", path, got, want)
		}
	}
}

// TestCacheKeyIsolation: a header outside the key never changes a cached
// answer and never reaches the origin; X-Forwarded-Host never does either.
func TestCacheKeyIsolation(t *testing.T) {
	o := newOrigin(t, func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("Cache-Control", "max-age=60")
		fmt.Fprintf(ctx, "host=%s xfh=%s lang=%s", ctx.Host(), ctx.Request.Header.Peek("X-Forwarded-Host"),
			ctx.Request.Header.Peek("Accept-Language"))
	})
	te := startEdge(t, siteYAML(o.URL, "      cache_key: {headers: [Accept-Language]}\n"), edgeOpt{})
	a := te.get(t, "/k", "X-Forwarded-Host", "evil.example", "X-Poison", "1", "Accept-Language", "en",
		"Authorization", "Bearer viewer", "X-HTTP-Method-Override", "DELETE", "X-Original-URL", "/admin")
	want := "host=" + o.Addr + " xfh= lang=en"
	if a.Body != want {
		t.Fatalf("origin answer %q, want %q", a.Body, want)
	}
	if l := o.last(); l.Header.Get("X-Forwarded-Host") != "" || l.Header.Get("X-Poison") != "" || l.Header.Get("Authorization") != "" ||
		l.Header.Get("X-HTTP-Method-Override") != "" || l.Header.Get("X-Original-URL") != "" || l.Method != "GET" {
		t.Fatalf("unkeyed headers reached the origin: %v", l.Header)
	}
	te.wait()
	a = te.get(t, "/k", "X-Forwarded-Host", "other.example", "Accept-Language", "en")
	wantStatus(t, a, 200, "Hit from edge")
	if a.Body != want {
		t.Fatalf("cached answer changed: %q", a.Body)
	}
	// A keyed header makes its own object.
	a = te.get(t, "/k", "Accept-Language", "fr")
	wantStatus(t, a, 200, "Miss from edge")
	if !strings.HasSuffix(a.Body, "lang=fr") {
		t.Fatalf("keyed variant %q", a.Body)
	}
}

// TestMemoryBound: 10× max_size of distinct objects never holds more
// than max_size.
func TestMemoryBound(t *testing.T) {
	const maxSize = 1 << 20
	body := strings.Repeat("m", 16<<10)
	o := newOrigin(t, reply(200, body, "Cache-Control", "max-age=600"))
	te := startEdge(t, siteYAML(o.URL, ""), edgeOpt{maxSize: maxSize, maxObject: 64 << 10})
	for i := range 10 * maxSize / len(body) {
		if a := te.get(t, fmt.Sprintf("/obj/%d", i)); a.Status != 200 || len(a.Body) != len(body) {
			t.Fatalf("object %d: %d, %d bytes", i, a.Status, len(a.Body))
		}
		if i%64 == 0 {
			te.wait()
			if st := te.e.store.Stats(); st.Bytes > maxSize {
				t.Fatalf("after %d objects the store holds %d bytes > max_size %d", i+1, st.Bytes, maxSize)
			}
		}
	}
	te.wait()
	if st := te.e.store.Stats(); st.Bytes > maxSize || st.Objects == 0 {
		t.Fatalf("store holds %d bytes in %d objects, max_size %d", st.Bytes, st.Objects, maxSize)
	}
}

// TestLargeObjectStreamsUncached: an answer over max_object_size reaches
// the viewer whole but is never stored.
func TestLargeObjectStreamsUncached(t *testing.T) {
	big := strings.Repeat("L", 300<<10)
	o := newOrigin(t, reply(200, big, "Cache-Control", "max-age=600"))
	te := startEdge(t, siteYAML(o.URL, ""), edgeOpt{maxSize: 8 << 20, maxObject: 100 << 10})
	for i := range 2 {
		a := te.get(t, "/big")
		if a.Status != 200 || a.Body != big {
			t.Fatalf("big object %d: %d, %d bytes", i, a.Status, len(a.Body))
		}
		te.wait()
	}
	if st := te.e.store.Stats(); st.Objects != 0 {
		t.Fatalf("store holds %d objects", st.Objects)
	}
	// Content-Length is known: one origin request per viewer, not two.
	if o.Hits() != 2 {
		t.Fatalf("origin hits %d, want 2", o.Hits())
	}
}

// TestCookieForwarding: only the cookies the policy names reach the origin
// and the key; with cookies forwarded, concurrent misses are not collapsed.
func TestCookieForwarding(t *testing.T) {
	o := newOrigin(t, func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("Cache-Control", "max-age=60")
		fmt.Fprintf(ctx, "cookie=%s", ctx.Request.Header.Peek("Cookie"))
	})
	te := startEdge(t, siteYAML(o.URL, "      cache_key: {cookies: [session]}\n"), edgeOpt{})
	a := te.get(t, "/c", "Cookie", "tracking=1; session=abc; other=2")
	if a.Body != "cookie=session=abc" {
		t.Fatalf("origin got %q", a.Body)
	}
	te.wait()
	wantStatus(t, te.get(t, "/c", "Cookie", "session=abc; tracking=9"), 200, "Hit from edge")
	wantStatus(t, te.get(t, "/c", "Cookie", "session=xyz"), 200, "Miss from edge")
	if b := te.e.Snapshot().dists["site"].behaviors[0]; b.flow.Collapse {
		t.Fatal("collapsing on with cookies forwarded")
	}
}

// TestOptionsCached: OPTIONS is cached apart from GET when cached_methods
// has it.
func TestOptionsCached(t *testing.T) {
	o := newOrigin(t, func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("Cache-Control", "max-age=60")
		ctx.SetBodyString(string(ctx.Method()))
	})
	te := startEdge(t, siteYAML(o.URL, "      allowed_methods: [GET, HEAD, OPTIONS]\n      cached_methods: [GET, HEAD, OPTIONS]\n"), edgeOpt{})
	if a := te.do(t, "OPTIONS", "/o"); a.Body != "OPTIONS" {
		t.Fatalf("OPTIONS: %q", a.Body)
	}
	if a := te.get(t, "/o"); a.Body != "GET" || a.Header.Get("X-Cache") != "Miss from edge" {
		t.Fatalf("GET after OPTIONS: %q %q", a.Body, a.Header.Get("X-Cache"))
	}
	te.wait()
	a := te.do(t, "OPTIONS", "/o")
	wantStatus(t, a, 200, "Hit from edge")
	if a.Body != "OPTIONS" || o.Hits() != 2 {
		t.Fatalf("cached OPTIONS: %q, origin hits %d", a.Body, o.Hits())
	}
}

// TestResponseHopByHop: hop-by-hop fields and those the origin's
// Connection header names never reach the viewer or the cache.
func TestResponseHopByHop(t *testing.T) {
	o := newOrigin(t, func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("Cache-Control", "max-age=60")
		ctx.Response.Header.DisableNormalizing()
		ctx.Response.Header.Set("connection", "x-private-hop")
		ctx.Response.Header.Set("x-private-hop", "secret")
		ctx.Response.Header.Set("Keep-Alive", "timeout=5")
		ctx.Response.Header.Set("X-Kept", "yes")
		ctx.SetBodyString("hop")
	})
	te := startEdge(t, siteYAML(o.URL, ""), edgeOpt{})
	for range 2 {
		a := te.get(t, "/hop")
		if a.Header.Get("X-Private-Hop") != "" || a.Header.Get("Keep-Alive") != "" || a.Header.Get("X-Kept") != "yes" {
			t.Fatalf("viewer got %v", a.Header)
		}
		te.wait()
	}
}

// TestHTTPSOrigin: an https:// origin is reached over TLS.
func TestHTTPSOrigin(t *testing.T) {
	var sni atomic.Value
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sni.Store(r.TLS != nil)
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprint(w, "over tls")
	}))
	srv.StartTLS()
	t.Cleanup(srv.Close)
	te := startEdge(t, siteYAML(srv.URL, ""), edgeOpt{})
	a := te.get(t, "/tls")
	if a.Status != 200 || a.Body != "over tls" || sni.Load() != true {
		t.Fatalf("https origin: %d %q", a.Status, a.Body)
	}
}

// TestAppendFiltered: list policies keep the named query parameters and
// cookies in request order, raw (query) or trimmed (cookies), re-joined.
func TestAppendFiltered(t *testing.T) {
	names := []string{"a", "s"}
	for _, tc := range []struct{ got, want string }{
		{string(appendFilteredQuery(nil, cache.List, names, []byte("x=1&a=2&&s&b=3&a= 4"))), "a=2&s&a= 4"},
		{string(appendFilteredQuery(nil, cache.All, names, []byte("x=1&a=2"))), "x=1&a=2"},
		{string(appendFilteredQuery(nil, cache.None, names, []byte("a=2"))), ""},
		{string(appendFilteredCookie(nil, cache.List, names, []byte("t=1; a=x;s=y ;  ;q=2"))), "a=x; s=y"},
		{string(appendFilteredCookie(nil, cache.List, names, []byte("t=1"))), ""},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
