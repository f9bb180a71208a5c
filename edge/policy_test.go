package edge

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/l7"
)

func TestViewerProtocolPolicy(t *testing.T) {
	o := newOrigin(t, reply(200, "ok"))
	yaml := `
listeners: [{address: "127.0.0.1:0"}]
distributions:
  - name: site
    origins: [{id: app, url: "` + o.URL + `"}]
    default_cache_behavior: {target_origin: app, viewer_protocol_policy: redirect-to-https,
      allowed_methods: [GET, HEAD, OPTIONS, PUT, PATCH, POST, DELETE]}
    cache_behaviors:
      - {path_pattern: /secure/*, target_origin: app, viewer_protocol_policy: https-only}
`
	te := startEdge(t, yaml, edgeOpt{})
	a := te.get(t, "/page?x=1", "Host", "cdn.example.com")
	if a.Status != 301 || a.Header.Get("Location") != "https://cdn.example.com/page?x=1" ||
		len(a.Body) != 167 || a.Header.Get("X-Cache") != "Redirect from edge" {
		t.Fatalf("redirect: %d %q %d bytes %q", a.Status, a.Header.Get("Location"), len(a.Body), a.Header.Get("X-Cache"))
	}
	if a, _ = te.try("POST", "/page", "x"); a.Status != 307 {
		t.Fatalf("POST redirect: %d", a.Status)
	}
	if a = te.get(t, "/secure/x"); a.Status != 403 {
		t.Fatalf("https-only over HTTP: %d", a.Status)
	}
	if o.Hits() != 0 {
		t.Fatalf("origin hits %d", o.Hits())
	}
}

func TestAllowedMethods(t *testing.T) {
	o := newOrigin(t, reply(200, "ok"))
	te := startEdge(t, siteYAML(o.URL, ""), edgeOpt{})
	a, err := te.try("POST", "/m", "data")
	if err != nil || a.Status != 403 || !strings.Contains(a.Body, "not configured to allow the HTTP request method") {
		t.Fatalf("POST: %d %v %q", a.Status, err, a.Body)
	}
	a, err = te.try("GET", "/m", "a body")
	if err != nil || a.Status != 403 {
		t.Fatalf("GET with a body: %d %v", a.Status, err)
	}
	if o.Hits() != 0 {
		t.Fatalf("origin hits %d", o.Hits())
	}
	wantStatus(t, te.get(t, "/m"), 200, "")
}

// TestDistributionByHost: aliases case-insensitive, port and trailing dot
// ignored; anything else goes to the default distribution.
func TestDistributionByHost(t *testing.T) {
	a := newOrigin(t, reply(200, "A"))
	b := newOrigin(t, reply(200, "B"))
	yaml := `
listeners: [{address: "127.0.0.1:0"}]
distributions:
  - name: a
    aliases: [cdn.example.com, img.example.com]
    origins: [{id: o, url: "` + a.URL + `"}]
    default_cache_behavior: {target_origin: o}
  - name: b
    origins: [{id: o, url: "` + b.URL + `"}]
    default_cache_behavior: {target_origin: o}
`
	te := startEdge(t, yaml, edgeOpt{})
	for host, want := range map[string]string{"cdn.example.com": "A", "CDN.Example.COM:8080": "A", "img.example.com.": "A",
		"other.example.com": "B", "127.0.0.1": "B"} {
		if got := te.get(t, "/", "Host", host).Body; got != want {
			t.Errorf("Host %s → %s, want %s", host, got, want)
		}
	}
}

func TestOriginCustomHeadersAndPrefix(t *testing.T) {
	o := newOrigin(t, reply(200, "ok", "Cache-Control", "no-store"))
	yaml := `
listeners: [{address: "127.0.0.1:0"}]
distributions:
  - name: site
    origins: [{id: app, url: "` + o.URL + `/base/", custom_headers: {X-Origin-Verify: s3cr3t}}]
    default_cache_behavior: {target_origin: app, cache_key: {query_strings: [a]}, origin_request: {query_strings: [b]}}
`
	te := startEdge(t, yaml, edgeOpt{})
	te.get(t, "/x/../p%20q?c=3&b=2&a=1", "X-Origin-Verify", "forged")
	l := o.last()
	if l.URI != "/base/p%20q?b=2&a=1" || l.Header.Get("X-Origin-Verify") != "s3cr3t" || len(l.Header.Values("X-Origin-Verify")) != 1 {
		t.Fatalf("origin saw %q %v", l.URI, l.Header)
	}
}

func TestAccessLogCloudFrontFormat(t *testing.T) {
	o := newOrigin(t, reply(200, "logged", "Cache-Control", "max-age=60", "Content-Type", "text/plain"))
	te := startEdge(t, siteYAML(o.URL, ""), edgeOpt{logFormat: "cloudfront"})
	te.get(t, "/l?q=1", "User-Agent", "test agent")
	lines := strings.Split(strings.TrimSpace(te.logs.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("log lines: %q", lines)
	}
	f := strings.Split(lines[0], "\t")
	if len(f) != len(CloudFrontFields) {
		t.Fatalf("%d fields, want %d: %q", len(f), len(CloudFrontFields), lines[0])
	}
	got := map[string]string{}
	for i, n := range CloudFrontFields {
		got[n] = f[i]
	}
	if got["cs-method"] != "GET" || got["cs-uri-stem"] != "/l" || got["cs-uri-query"] != "q=1" || got["sc-status"] != "200" ||
		got["x-edge-result-type"] != "Miss" || got["c-ip"] != "127.0.0.1" || got["cs(User-Agent)"] != "test%20agent" ||
		len(got["x-edge-request-id"]) != 56 || got["cs(Host)"] != "site" {
		t.Fatalf("fields: %v", got)
	}
}

// TestHead: a HEAD miss fetches and stores the object; HEAD and GET share it.
func TestHead(t *testing.T) {
	o := newOrigin(t, reply(200, strings.Repeat("h", 5000), "Cache-Control", "max-age=60", "Content-Type", "text/plain"))
	te := startEdge(t, siteYAML(o.URL, ""), edgeOpt{})
	a := te.do(t, "HEAD", "/h")
	if a.Status != 200 || a.Body != "" || a.Header.Get("Content-Length") != "5000" || o.last().Method != "GET" {
		t.Fatalf("HEAD miss: %d %q CL %q, origin method %s", a.Status, a.Body, a.Header.Get("Content-Length"), o.last().Method)
	}
	te.wait()
	a = te.get(t, "/h")
	wantStatus(t, a, 200, "Hit from edge")
	if len(a.Body) != 5000 {
		t.Fatalf("GET after HEAD: %d bytes", len(a.Body))
	}
	a = te.do(t, "HEAD", "/h")
	wantStatus(t, a, 200, "Hit from edge")
	if a.Header.Get("Content-Length") != "5000" || o.Hits() != 1 {
		t.Fatalf("HEAD hit: CL %q, origin hits %d", a.Header.Get("Content-Length"), o.Hits())
	}
}

// TestCustomErrorOnGeoBlock: a geo refusal passes through custom error
// responses like an origin error.
func TestCustomErrorOnGeoBlock(t *testing.T) {
	o := newOrigin(t, reply(200, "<p>not in your country</p>", "Cache-Control", "max-age=60", "Content-Type", "text/html"))
	te := startEdge(t, siteYAML(o.URL, "")+`    geo_restriction: {type: blacklist, locations: [US]}
    custom_error_responses:
      - {error_code: 403, response_code: 404, response_page_path: /blocked.html}
`, edgeOpt{})
	a := te.get(t, "/anything")
	if a.Status != 404 || a.Body != "<p>not in your country</p>" || o.last().URI != "/blocked.html" {
		t.Fatalf("geo block page: %d %q, origin saw %q", a.Status, a.Body, o.last().URI)
	}
}

// TestOversizedRequest: a request line and headers over 20 KiB get 413.
func TestOversizedRequest(t *testing.T) {
	o := newOrigin(t, reply(200, "ok"))
	te := startEdge(t, siteYAML(o.URL, ""), edgeOpt{})
	req := "GET /big HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("b", 30<<10) + "\r\n\r\n"
	if status := rawStatus(t, te.addr, req); status != 413 {
		t.Fatalf("oversized header: %d, want 413", status)
	}
	// A body declared over MaxBodySize is refused before it is read.
	req = "POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: " + strconv.Itoa(MaxBodySize+1) + "\r\n\r\nabc"
	if status := rawStatus(t, te.addr, req); status != 413 {
		t.Fatalf("oversized body: %d, want 413", status)
	}
	if o.Hits() != 0 {
		t.Fatal("oversized request reached the origin")
	}
	s := te.e.NewServer(ListenerOptions{IdleTimeout: 7 * time.Second})
	if s.ReadBufferSize != MaxHeaderBytes+4096 || s.MaxRequestBodySize != MaxBodySize || s.IdleTimeout != 7*time.Second ||
		s.ReadTimeout != 7*time.Second || !s.DisablePreParseMultipartForm || !s.NoDefaultServerHeader {
		t.Fatalf("server limits not applied: %+v", s)
	}
}

// TestOriginTimeout: an origin silent past response_timeout is a 504.
func TestOriginTimeout(t *testing.T) {
	release := make(chan struct{})
	o := newOrigin(t, func(ctx *fasthttp.RequestCtx) {
		select {
		case <-release:
		case <-time.After(5 * time.Second):
		}
		ctx.SetBodyString("late")
	})
	t.Cleanup(func() { close(release) })
	te := startEdge(t, strings.Replace(siteYAML(o.URL, ""), "response_timeout: 2s", "response_timeout: 1s", 1), edgeOpt{})
	start := time.Now()
	a := te.get(t, "/slow")
	wantStatus(t, a, 504, "Error from edge")
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("504 after %v", d)
	}
}

func TestAccessLogJSON(t *testing.T) {
	o := newOrigin(t, reply(200, "logged", "Cache-Control", "max-age=60"))
	te := startEdge(t, siteYAML(o.URL, ""), edgeOpt{logFormat: "json"})
	te.get(t, "/j")
	var rec map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(te.logs.String())), &rec); err != nil {
		t.Fatalf("%v: %q", err, te.logs.String())
	}
	if rec["cs-uri-stem"] != "/j" || rec["x-edge-result-type"] != "Miss" || rec["sc-status"] != "200" || rec["cs-uri-query"] != nil {
		t.Fatalf("record %v", rec)
	}
}

// TestRequestHopByHop: a viewer header named in Connection is not
// forwarded even when the origin request policy lists it.
func TestRequestHopByHop(t *testing.T) {
	o := newOrigin(t, reply(200, "ok", "Cache-Control", "no-store"))
	te := startEdge(t, siteYAML(o.URL, "      origin_request: {headers: [X-A, X-B]}\n"), edgeOpt{})
	te.get(t, "/h", "Connection", "X-A", "X-A", "1", "X-B", "2")
	if h := o.last().Header; h.Get("X-A") != "" || h.Get("X-B") != "2" {
		t.Fatalf("origin saw %v", h)
	}
}

// TestRequestHopByHopEveryConnectionField: the names of every Connection
// field are stripped, not only the first field's (fasthttp's Peek).
func TestRequestHopByHopEveryConnectionField(t *testing.T) {
	o := newOrigin(t, reply(200, "ok", "Cache-Control", "no-store"))
	te := startEdge(t, siteYAML(o.URL, "      origin_request: {headers: all}\n"), edgeOpt{})
	st := rawStatus(t, te.addr, "GET /two HTTP/1.1\r\nHost: x\r\nConnection: X-A\r\nConnection: keep-alive, X-B\r\n"+
		"X-A: 1\r\nX-B: 2\r\nX-C: 3\r\n\r\n")
	if st != 200 {
		t.Fatalf("status %d", st)
	}
	if h := o.last().Header; h.Get("X-A") != "" || h.Get("X-B") != "" || h.Get("X-C") != "3" {
		t.Fatalf("origin saw %v", h)
	}
}

// TestRequestHopByHopAll: with an "all" origin request policy, l7's
// hop-by-hop fields still never reach the origin, while an ordinary viewer
// header does.
func TestRequestHopByHopAll(t *testing.T) {
	o := newOrigin(t, reply(200, "ok", "Cache-Control", "no-store"))
	te := startEdge(t, siteYAML(o.URL, "      origin_request: {headers: all}\n"), edgeOpt{})
	a := te.get(t, "/h", "Keep-Alive", "timeout=9", "Proxy-Authorization", "Basic eA==", "TE", "trailers",
		"Trailer", "X-T", "Upgrade", "h2c", "Proxy-Connection", "keep-alive", "X-Other", "1")
	if a.Status != 200 || a.Body != "ok" {
		t.Fatalf("viewer got %d %q", a.Status, a.Body)
	}
	h := o.last().Header
	for _, n := range []string{"Keep-Alive", "Proxy-Authorization", "Te", "Trailer", "Upgrade", "Proxy-Connection"} {
		if v := h.Get(n); v != "" {
			t.Errorf("origin got %s: %q", n, v)
		}
	}
	if h.Get("X-Other") != "1" {
		t.Fatalf("origin did not get X-Other: %v", h)
	}
}

// TestRequestConnectionNamesBounded: a viewer request whose Connection
// field lists more than l7.MaxConnectionNames names gets 400 and never
// reaches the origin; one at the bound is forwarded without the fields it
// names.
func TestRequestConnectionNamesBounded(t *testing.T) {
	o := newOrigin(t, reply(200, "ok", "Cache-Control", "no-store"))
	te := startEdge(t, siteYAML(o.URL, "      origin_request: {headers: all}\n"), edgeOpt{})
	names := func(n int) string {
		var b strings.Builder
		for i := range n {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "x-n%d", i)
		}
		return b.String()
	}
	a := te.get(t, "/c", "Connection", names(l7.MaxConnectionNames), "X-N1", "gone", "X-Kept", "k")
	if a.Status != 200 || o.Hits() != 1 {
		t.Fatalf("at the bound: status %d, origin hits %d", a.Status, o.Hits())
	}
	if h := o.last().Header; h.Get("X-N1") != "" || h.Get("X-Kept") != "k" {
		t.Fatalf("origin saw %v", h)
	}
	if a := te.get(t, "/c2", "Connection", names(l7.MaxConnectionNames+1)); a.Status != 400 {
		t.Fatalf("past the bound: status %d", a.Status)
	}
	if o.Hits() != 1 {
		t.Fatalf("origin hits %d, want 1", o.Hits())
	}
}

// TestSwapSnapshot: a new snapshot takes effect for the next request; the
// old origin's pool is dropped.
func TestSwapSnapshot(t *testing.T) {
	a := newOrigin(t, reply(200, "A", "Cache-Control", "no-store"))
	b := newOrigin(t, reply(200, "B", "Cache-Control", "no-store"))
	te := startEdge(t, siteYAML(a.URL, ""), edgeOpt{})
	if got := te.get(t, "/s").Body; got != "A" {
		t.Fatalf("before swap: %q", got)
	}
	cfg, err := config.ParseEdge(t.TempDir()+"/e.yaml", []byte(siteYAML(b.URL, "")))
	if err != nil {
		t.Fatal(err)
	}
	snap, err := te.e.Compile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	te.e.Swap(snap)
	if got := te.get(t, "/s").Body; got != "B" {
		t.Fatalf("after swap: %q", got)
	}
	te.e.pools.mu.Lock()
	var addrs []string
	for _, as := range te.e.pools.addrs {
		for a := range as {
			addrs = append(addrs, a)
		}
	}
	nTr := len(te.e.pools.transports)
	te.e.pools.mu.Unlock()
	if len(addrs) != 1 || addrs[0] != b.Addr || nTr != 1 {
		t.Fatalf("pools after the swap: %v in %d transports, want only %s", addrs, nTr, b.Addr)
	}
}

// TestHostileRequests: malformed and disguised requests never crash the
// edge or get a 5xx, and disguised paths reach the origin only in their
// canonical form.
func TestHostileRequests(t *testing.T) {
	o := newOrigin(t, reply(200, "ok", "Cache-Control", "max-age=60"))
	te := startEdge(t, siteYAML(o.URL, "      cache_key: {query_strings: all}\n"), edgeOpt{})
	reqs := []string{
		"GET /a/../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /a%2f..%2f..%2fadmin HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /%00%0d%0aX-Injected:%20yes HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET http://evil.example/abs?x=1 HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /dup HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
		"GET /te HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n",
		"GET /tebody HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /" + strings.Repeat("a", 9000) + " HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /h HTTP/1.1\r\nHost: x\r\nX-Bad: a\x01b\r\n\r\n",
		"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
		"\r\n\r\n",
	}
	for _, req := range reqs {
		c, err := net.DialTimeout("tcp", te.addr, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(time.Second))
		_, _ = c.Write([]byte(req))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		c.Close()
		if err == nil && resp.StatusCode >= 500 {
			t.Errorf("%q: %d", req[:min(len(req), 60)], resp.StatusCode)
		}
	}
	o.mu.Lock()
	for _, s := range o.reqs {
		if strings.Contains(s.URI, "tebody") {
			t.Errorf("a GET with a chunked body reached the origin")
		}
		if strings.Contains(s.URI, "..") || strings.Contains(strings.ToLower(s.URI), "%2f") || strings.ContainsAny(s.URI, "\r\n") || s.Header.Get("X-Injected") != "" {
			t.Errorf("origin saw a non-canonical request: %q", s.URI)
		}
	}
	o.mu.Unlock()
	wantStatus(t, te.get(t, "/still-alive"), 200, "")
}

// TestRequestInvalidHost: a Host field or absolute-form authority that is
// not a host, or the asterisk form (OPTIONS *, sent on as OPTIONS /*), gets 400 and never reaches the origin or the cache (fasthttp's
// URI parse would read "Host: a/b" as path "/": GET /a served and cached
// as /); valid hosts pass with the path intact.
func TestRequestInvalidHost(t *testing.T) {
	o := newOrigin(t, reply(200, "ok", "Cache-Control", "no-store"))
	te := startEdge(t, siteYAML(o.URL, ""), edgeOpt{})
	for _, req := range []string{
		"GET /a HTTP/1.1\r\nHost: a/b\r\n\r\n",
		"GET /a HTTP/1.1\r\nHost: a b\r\n\r\n",
		"GET /a HTTP/1.1\r\nHost: a@b\r\n\r\n",
		"GET /a HTTP/1.1\r\nHost: a:1:2\r\n\r\n",
		"GET /a HTTP/1.1\r\nHost: a%2fb\r\n\r\n",
		"GET http://a%80b/a HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET http://u@a.test/a HTTP/1.1\r\nHost: x\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
	} {
		if st := rawStatus(t, te.addr, req); st != 400 {
			t.Errorf("%q: status %d, want 400", req, st)
		}
	}
	if o.Hits() != 0 {
		t.Fatalf("origin hits %d, want 0 (last %+v)", o.Hits(), o.last())
	}
	if st := rawStatus(t, te.addr, "GET /a HTTP/1.1\r\nHost: A.Example.COM:8080\r\n\r\n"); st != 200 || o.last().URI != "/a" {
		t.Fatalf("valid host: status %d, origin saw %q", st, o.last().URI)
	}
}
