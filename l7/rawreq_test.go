//go:build linux

package l7

import (
	"bufio"
	"bytes"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// rawRequestCases are request heads the event loop carries (and some it
// does not, which the check skips), as a browser, curl, wrk or a hostile
// client sends them.
var rawRequestCases = []struct {
	head    string
	carried bool // as bytes, by the event loop
}{
	{"GET /small HTTP/1.1\r\nHost: 127.0.0.1:18181\r\n\r\n", true},
	{"GET /articles/2026/11/x?utm_source=y HTTP/1.1\r\n" + string(browserHeaders) + "\r\n", true},
	{"GET / HTTP/1.1\r\nHost: EXAMPLE.com:80\r\nUser-Agent: curl/8.0\r\nAccept: */*\r\n\r\n", true},
	{"GET /a/../b/./c/%7Ed?x=1&y=%20 HTTP/1.1\r\nHost: a\r\n\r\n", true},
	{"GET //double//slash HTTP/1.1\r\nHost: a\r\n\r\n", true},
	{"GET /x HTTP/1.1\r\nhost: a\r\nx-forwarded-for: 127.0.0.9\r\nX-Forwarded-For: 127.0.0.10, 127.0.0.11\r\n\r\n", true},
	{"GET /x HTTP/1.1\r\nHost: a\r\nX-Forwarded-Proto: https\r\nx-forwarded-proto: https\r\nX-Forwarded-Port: 443\r\nx-forwarded-port: 1\r\n\r\n", true},
	{"GET /x HTTP/1.1\r\nHost: a\r\nX-Amzn-Trace-Id: Root=1-5759e988-bd862e3fe1be46a994272793;Self=x;Sampled=1\r\n\r\n", true},
	{"GET /x HTTP/1.1\r\nHost: a\r\nX-Amzn-Trace-Id: Sampled=1\r\nx-amzn-trace-id: Root=1-2\r\n\r\n", true},
	{"GET /x HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Secret\r\nX-Secret: s\r\nKeep-Alive: timeout=5\r\nX-Kept: k\r\n\r\n", true},
	{"GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\nProxy-Authorization: Basic eA==\r\nTE: trailers\r\nTrailer: X\r\n\r\n", true},
	{"GET /x HTTP/1.1\r\nHost: a\r\nProxy-Connection: keep-alive\r\nUpgrade: h2c\r\n\r\n", false},
	{"GET /x HTTP/1.1\r\nHost: a\r\nConnection: Cookie, User-Agent, X-Forwarded-Proto\r\nCookie: a=1\r\nUser-Agent: u\r\n\r\n", true},
	{"GET /x HTTP/1.1\r\nHost: a\r\nCookie: a=1; b=2\r\nCookie: c=3\r\nX-A:\tv \r\n\r\n", true},
	{"GET /x HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nX-One: 1\r\nconnection: x-one, X-Two\r\nX-Two: 2\r\nX-Three: 3\r\n\r\n", true},
	{"GET /x HTTP/1.1\r\nHost: a\r\nUser-Agent: one\r\nUser-Agent: two\r\nContent-Type: a/b\r\nContent-Type: c/d\r\n\r\n", true},
	{"HEAD /x HTTP/1.1\r\nHost: a\r\n\r\n", true},
	{"DELETE /x HTTP/1.1\r\nHost: a\r\n\r\n", true},
	{"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", true},
	{"POST /x HTTP/1.1\r\nHost: a\r\nConnection: Content-Length\r\nContent-Length: 0\r\n\r\n", true},
	{"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", false}, // 400: fasthttp would send OPTIONS /%2A
	{"OPTIONS /x HTTP/1.1\r\nHost: a\r\n\r\n", true},
	{"GET /x HTTP/1.1\r\nHost: a/b\r\n\r\n", false}, // 400: not a host
	{"PUT /x HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\n\r\n", true},
	{"GET http://a.example/abs?q HTTP/1.1\r\nHost: b\r\n\r\n", true},
	{"GET /x HTTP/1.1\r\nHost: a\r\nConnection: a, b, c, d, e, f, g, h\r\nA: 1\r\nH: 2\r\nI: 3\r\n\r\n", true},
	{"GET /x HTTP/1.1\r\nHost: a\r\nConnection: a, b, c, d, e, f, g, h, i\r\n\r\n", false}, // too many names
	{"GET /x HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", false},
	{"GET /x HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n", false},
	{"GET /x HTTP/1.0\r\nHost: a\r\n\r\n", false},
	{"GET /x HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\n", false},
}

// rawRequestVariants are the router settings the forwarded fields depend
// on: the X-Forwarded-For modes, with and without the client port.
var rawRequestVariants = []Router{
	{xff: xffAppend}, {xff: xffAppend, xffPort: true}, {xff: xffPreserve}, {xff: xffRemove}, {xff: xffAppend, https: true},
}

// rawRequestPair builds the request the target gets for head both ways —
// appendRawRequest and fillRequest + Request.Write — from one exchange
// (so one trace id); ok is false when the event loop would not carry head
// as bytes.
func rawRequestPair(t testing.TB, head []byte, r *Router) (raw, parsed []byte, x *exchange, ok bool) {
	ctx := new(fasthttp.RequestCtx)
	ctx.Init(&fasthttp.Request{}, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 7), Port: 51000}, nil)
	h := &ctx.Request.Header
	if err := h.Read(bufio.NewReaderSize(bytes.NewReader(head), len(head)+16)); err != nil {
		return nil, nil, nil, false
	}
	x = acquireExchange()
	x.ctx, x.r = ctx, r
	x.rec.Received = time.Unix(1_790_000_000, 0)
	v := &x.view
	v.fill(ctx)
	v.ListenerPort = 8080 // ctx.Init's listener address has none
	x.verdict = classify(h, v.RawHeaders, h.RequestURI())
	x.hasXFF = x.verdict.xff
	tg := &TargetGroup{}
	// What the loop carries (loopCarries), serve lets through and forward
	// sends as bytes.
	if !loopCarries(h, &x.verdict) || len(h.Host()) == 0 || string(v.Method) == "TRACE" ||
		string(v.Method) == "CONNECT" || x.verdict.badTarget ||
		(x.hasXFF && countXFF(v) > maxXFFAddresses) || !x.rawRequestable(tg) {
		releaseExchange(x)
		return nil, nil, nil, false
	}
	x.forwardValues()
	raw = x.appendRawRequest(nil)
	x.fillRequest(tg)
	var buf bytes.Buffer
	bw := bufio.NewWriter(&buf)
	if err := x.req.Write(bw); err != nil {
		t.Fatalf("%q: Request.Write: %v", head, err)
	}
	_ = bw.Flush()
	return raw, buf.Bytes(), x, true
}

// targetView is what a target reads of a request head: the request line
// and the fields, names lower-cased, sorted (fasthttp parses it, as a
// target would; its collapsing of repeated User-Agent/Content-Type and
// cookies applies to both sides alike).
func targetView(t testing.TB, b []byte) []string {
	var h fasthttp.RequestHeader
	if err := h.Read(bufio.NewReader(bytes.NewReader(b))); err != nil {
		t.Fatalf("%q: target cannot read: %v", b, err)
	}
	out := []string{string(h.Method()) + " " + string(h.RequestURI()) + " " + string(h.Protocol())}
	for k, v := range h.All() {
		out = append(out, strings.ToLower(string(k))+": "+string(v))
	}
	slices.Sort(out[1:])
	return out
}

func classifyHead(b []byte) verdict {
	var h fasthttp.RequestHeader
	_ = h.Read(bufio.NewReaderSize(bytes.NewReader(b), len(b)+16))
	return classify(&h, h.RawHeaders(), h.RequestURI())
}

// checkRawRequestAgrees holds appendRawRequest to the parsed path: the
// target reads the same request line and the same fields, lb's own
// classification finds nothing in the head the parsed one lacks (nothing
// smuggled through), and building it allocates nothing once the buffer
// has grown.
func checkRawRequestAgrees(t *testing.T, head []byte, allocs bool) {
	for i := range rawRequestVariants {
		raw, parsed, x, ok := rawRequestPair(t, head, &rawRequestVariants[i])
		if !ok {
			return
		}
		got, want := targetView(t, raw), targetView(t, parsed)
		if !slices.Equal(got, want) {
			t.Fatalf("%q (router %+v): the target reads\nraw    %q\nparsed %q", head, rawRequestVariants[i], got, want)
		}
		// Nothing the parsed path would not send: the raw head classifies
		// no worse than the parsed one (both may carry what fasthttp made
		// of an absolute-form URI's host, e.g. %80 decoded), never
		// ambiguous, and without a hop-by-hop field.
		vr, vp := classifyHead(raw), classifyHead(parsed)
		if vr.class > vp.class || vr.class >= classAmbiguous || vr.hopByHop {
			t.Fatalf("%q: forwarded head %q classifies %v %s (parsed path %v %s), hop-by-hop %v",
				head, raw, vr.class, vr.reason, vp.class, vp.reason, vr.hopByHop)
		}
		// Not under the fuzzer: AllocsPerRun stops the world twice a call
		// (a fifth of the fuzzer's executions per second).
		if allocs {
			buf := make([]byte, 0, 2*len(raw))
			tg := &TargetGroup{}
			if n := testing.AllocsPerRun(20, func() { x.rawRequestable(tg); buf = x.appendRawRequest(buf[:0]) }); n != 0 {
				t.Fatalf("%q: the raw path allocates %v", head, n)
			}
		}
		releaseExchange(x)
	}
}

func TestRawRequestAgreesWithParsedPath(t *testing.T) {
	for _, tc := range rawRequestCases {
		_, _, x, ok := rawRequestPair(t, []byte(tc.head), &rawRequestVariants[0])
		if ok {
			releaseExchange(x)
		}
		if ok != tc.carried {
			t.Errorf("%q: carried as bytes %v, want %v", tc.head, ok, tc.carried)
		}
		checkRawRequestAgrees(t, []byte(tc.head), true)
	}
}

func FuzzRawRequestAgreesWithParsedPath(f *testing.F) {
	for _, tc := range rawRequestCases {
		f.Add([]byte(tc.head))
	}
	f.Fuzz(func(t *testing.T, head []byte) { checkRawRequestAgrees(t, head, false) })
}

// TestRawRequestBytes pins the exact head for the commonest request, and
// the edits: Host first and lower-cased, the client's fields in their
// order and case, lb's fields after them, every copy of theirs gone.
func TestRawRequestBytes(t *testing.T) {
	for _, tc := range []struct {
		head, want string
		r          Router
	}{
		{
			"GET /small HTTP/1.1\r\nHost: 127.0.0.1:18181\r\n\r\n",
			"GET /small HTTP/1.1\r\nHost: 127.0.0.1:18181\r\nX-Forwarded-For: 127.0.0.7\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Port: 8080\r\nX-Amzn-Trace-Id: TRACE\r\n\r\n",
			Router{xff: xffAppend},
		},
		{
			"GET /a/./b/../c?q=1 HTTP/1.1\r\nuser-agent: u\r\nHost: Example.COM\r\nx-forwarded-for: 127.0.0.9\r\nConnection: keep-alive, x-gone\r\nx-gone: 1\r\nX-Forwarded-Proto: https\r\nAccept: */*\r\n\r\n",
			"GET /a/c?q=1 HTTP/1.1\r\nHost: example.com:8080\r\nuser-agent: u\r\nAccept: */*\r\nX-Forwarded-For: 127.0.0.9, 127.0.0.7:51000\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Port: 8080\r\nX-Amzn-Trace-Id: TRACE\r\n\r\n",
			Router{xff: xffAppend, xffPort: true},
		},
		{
			"DELETE /x HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 127.0.0.9\r\n\r\n",
			"DELETE /x HTTP/1.1\r\nHost: a:8080\r\nX-Forwarded-For: 127.0.0.9\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Port: 8080\r\nX-Amzn-Trace-Id: TRACE\r\nContent-Length: 0\r\n\r\n",
			Router{xff: xffPreserve, https: true},
		},
		{
			"GET /x HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 127.0.0.9\r\n\r\n",
			"GET /x HTTP/1.1\r\nHost: a:8080\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Port: 8080\r\nX-Amzn-Trace-Id: TRACE\r\n\r\n",
			Router{xff: xffRemove},
		},
	} {
		raw, _, x, ok := rawRequestPair(t, []byte(tc.head), &tc.r)
		if !ok {
			t.Fatalf("%q: not carried as bytes", tc.head)
		}
		want := strings.Replace(tc.want, "TRACE", string(x.trace), 1)
		if string(raw) != want {
			t.Errorf("%q:\ngot  %q\nwant %q", tc.head, raw, want)
		}
		if !strings.HasPrefix(string(x.trace), "Root=1-") {
			t.Errorf("trace %q", x.trace)
		}
		releaseExchange(x)
	}
}

// BenchmarkForwardHead compares the two ways the request head reaches the
// target's buffer, on wrk's head and a browser's.
func BenchmarkForwardHead(b *testing.B) {
	// A block of many short lines with a hop-by-hop field: each line is
	// checked against the Connection names collected once (linear in the
	// block, not quadratic).
	many := "GET /m HTTP/1.1\r\nHost: a\r\nTE: trailers\r\nConnection: keep-alive, x-b\r\n" +
		strings.Repeat("x-a: 1\r\n", 4000) + "\r\n"
	for _, tc := range []struct{ name, head string }{
		{"wrk", rawRequestCases[0].head},
		{"browser", rawRequestCases[1].head},
		{"hop-by-hop-32KiB", many},
	} {
		r := Router{xff: xffAppend}
		_, _, x, ok := rawRequestPair(b, []byte(tc.head), &r)
		if !ok {
			b.Fatal("not carried")
		}
		tg := &TargetGroup{}
		b.Run(tc.name+"/raw", func(b *testing.B) {
			buf := make([]byte, 0, 4096)
			b.ReportAllocs()
			for b.Loop() {
				x.rec.TraceID = x.rec.TraceID[:0]
				x.forwardValues()
				buf = x.appendRawRequest(buf[:0])
			}
		})
		b.Run(tc.name+"/parsed", func(b *testing.B) {
			var out bytes.Buffer
			bw := bufio.NewWriter(&out)
			b.ReportAllocs()
			for b.Loop() {
				x.rec.TraceID = x.rec.TraceID[:0]
				x.forwardValues()
				x.fillRequest(tg)
				out.Reset()
				_ = x.req.Write(bw)
				_ = bw.Flush()
			}
		})
		releaseExchange(x)
	}
}
