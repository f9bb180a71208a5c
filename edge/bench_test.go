package edge

import (
	"io"
	"net"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// hitCtx returns a handler and a request context for GET path on te's
// edge, driven in memory (no socket), for allocation tests and benchmarks.
func hitCtx(te *testEdge, path string) (fasthttp.RequestHandler, *fasthttp.RequestCtx) {
	h := te.e.Handler(ListenerOptions{Name: "bench"})
	var req fasthttp.Request
	req.SetRequestURI("http://cdn.example.com" + path)
	ctx := &fasthttp.RequestCtx{}
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5555}, nil)
	return h, ctx
}

const benchCfg = "      cache_key: {query_strings: none, headers: none, cookies: none}\n"

// TestHitAllocations guards the hit path: serving a cached object
// allocates nothing in the edge (fasthttp's own buffers are reused).
func TestHitAllocations(t *testing.T) {
	o := newOrigin(t, reply(200, strings.Repeat("x", 1024), "Cache-Control", "max-age=600", "Content-Type", "text/plain"))
	te := startEdge(t, siteYAML(o.URL, benchCfg), edgeOpt{})
	te.get(t, "/hit")
	te.wait()
	h, ctx := hitCtx(te, "/hit")
	h(ctx)
	if got := string(ctx.Response.Header.Peek("X-Cache")); got != "Hit from edge" || len(ctx.Response.Body()) != 1024 {
		t.Fatalf("warm-up answer: %q, %d bytes", got, len(ctx.Response.Body()))
	}
	// The request context comes from a sync.Pool in serve, which drops
	// items at random under -race: drive serveWith with one directly.
	l := &listener{name: "alloc"}
	r := te.e.reqs.New().(*request)
	allocs := testing.AllocsPerRun(1000, func() {
		ctx.Response.Reset()
		te.e.serveWith(ctx, l, r)
	})
	if allocs > 0 {
		t.Fatalf("a cache hit allocates %.1f times, want 0", allocs)
	}
	if got := string(ctx.Response.Header.Peek("X-Cache")); got != "Hit from edge" {
		t.Fatalf("measured answer: %q", got)
	}
}

func benchmarkHit(b *testing.B, size int) {
	o := newOrigin(b, reply(200, strings.Repeat("x", size), "Cache-Control", "max-age=600", "Content-Type", "text/plain"))
	te := startEdge(b, siteYAML(o.URL, benchCfg), edgeOpt{})
	h, ctx := hitCtx(te, "/hit")
	h(ctx) // miss
	te.wait()
	b.ReportAllocs()
	b.SetBytes(int64(size))
	b.ResetTimer()
	for b.Loop() {
		ctx.Response.Reset()
		h(ctx)
	}
	if string(ctx.Response.Header.Peek("X-Cache")) != "Hit from edge" {
		b.Fatalf("not a hit: %q", ctx.Response.Header.Peek("X-Cache"))
	}
}

func BenchmarkHit1KiB(b *testing.B)   { benchmarkHit(b, 1<<10) }
func BenchmarkHit256KiB(b *testing.B) { benchmarkHit(b, 256<<10) }

// BenchmarkHit1KiBLogged is BenchmarkHit1KiB with the CloudFront access
// log on (lines to io.Discard), as bench/sut.sh runs the edge.
func BenchmarkHit1KiBLogged(b *testing.B) {
	o := newOrigin(b, reply(200, strings.Repeat("x", 1<<10), "Cache-Control", "max-age=600", "Content-Type", "text/plain"))
	te := startEdge(b, siteYAML(o.URL, benchCfg), edgeOpt{})
	al, err := NewAccessLog(io.Discard, "cloudfront")
	if err != nil {
		b.Fatal(err)
	}
	te.e.alog = al
	h, ctx := hitCtx(te, "/hit")
	h(ctx) // miss
	te.wait()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		ctx.Response.Reset()
		h(ctx)
	}
	if string(ctx.Response.Header.Peek("X-Cache")) != "Hit from edge" {
		b.Fatalf("not a hit: %q", ctx.Response.Header.Peek("X-Cache"))
	}
}

// TestLargeHitStreamsCachedBody: a cached body over the write buffer goes
// to fasthttp as a stream (two writes instead of one writev, see
// streamBodyOver); the viewer still gets every byte, ranges and HEAD stay
// right, the access log reads the length without draining the stream, and
// the hit allocates nothing.
func TestLargeHitStreamsCachedBody(t *testing.T) {
	var sb strings.Builder
	for i := range 256 << 10 {
		sb.WriteByte(byte('a' + i%26))
	}
	body := sb.String()
	o := newOrigin(t, reply(200, body, "Cache-Control", "max-age=600", "Content-Type", "application/octet-stream"))
	te := startEdge(t, siteYAML(o.URL, benchCfg), edgeOpt{logFormat: "cloudfront"})
	te.get(t, "/big")
	te.wait()
	a := te.get(t, "/big")
	if a.Header.Get("X-Cache") != "Hit from edge" || a.Body != body {
		t.Fatalf("hit: %q, %d bytes, equal %v", a.Header.Get("X-Cache"), len(a.Body), a.Body == body)
	}
	r := te.get(t, "/big", "Range", "bytes=100000-200000")
	if r.Status != 206 || r.Body != body[100000:200001] {
		t.Fatalf("range: %d, %d bytes", r.Status, len(r.Body))
	}
	h := te.do(t, "HEAD", "/big")
	if h.Status != 200 || h.Header.Get("Content-Length") != "262144" || h.Body != "" {
		t.Fatalf("head: %d, Content-Length %q, %d body bytes", h.Status, h.Header.Get("Content-Length"), len(h.Body))
	}
	if logs := te.logs.String(); !strings.Contains(logs, "\t262144\t") || !strings.Contains(logs, "\t100001\t") {
		t.Fatalf("access log lacks the body lengths:\n%s", logs)
	}

	handler, ctx := hitCtx(te, "/big")
	handler(ctx)
	if !ctx.Response.IsBodyStream() {
		t.Fatal("a 256 KiB hit is not streamed (or the access log drained the stream)")
	}
	if got := string(ctx.Response.Body()); got != body {
		t.Fatalf("streamed body: %d bytes, equal %v", len(got), got == body)
	}
	if raceEnabled {
		return // the stream comes from a sync.Pool, which drops items at random under -race
	}
	l := &listener{name: "alloc"}
	req := te.e.reqs.New().(*request)
	allocs := testing.AllocsPerRun(1000, func() {
		ctx.Response.Reset()
		te.e.serveWith(ctx, l, req)
	})
	if allocs > 0 {
		t.Fatalf("a 256 KiB hit allocates %.1f times, want 0", allocs)
	}
}
