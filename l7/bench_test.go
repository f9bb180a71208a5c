package l7

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/internal/runtime"
)

// BenchmarkProxiedRequest measures one keep-alive GET through the whole
// proxy (rules, X-Forwarded-*, trace id, observer) to an in-process
// fasthttp target answering 1 KiB.
func BenchmarkProxiedRequest(b *testing.B) {
	body := bytes.Repeat([]byte("x"), 1024)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	target := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { ctx.SetBody(body) }}
	go target.Serve(ln)
	defer target.Shutdown()

	lc := config.Listener{Name: "web", Protocol: "HTTP", Rules: []config.Rule{
		{Priority: 10, Conditions: config.Conditions{Host: []string{"api.example.com"}}, Action: fixed("api")},
		{Priority: 20, Conditions: config.Conditions{Path: []string{"/static/*"}}, Action: fixed("static")},
		{Priority: 30, Conditions: config.Conditions{Header: map[string][]string{"X-Env": {"canary"}}}, Action: fixed("canary")},
	}, DefaultAction: fwd("web")}
	h := startLB(&testing.T{}, lbSetup{listener: lc, groups: []config.TargetGroup{group("web", ln.Addr().String())},
		server: ServerOptions{Observer: nopObserver{}}})
	defer func() {
		h.srv.Shutdown(b.Context())
	}()
	c := &fasthttp.HostClient{Addr: h.addr, MaxConns: 64, ReadTimeout: 5 * time.Second}
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	req.SetRequestURI("http://" + h.addr + "/index.html")
	b.ReportAllocs()
	b.SetBytes(1024)
	for b.Loop() {
		if err := c.Do(req, resp); err != nil || resp.StatusCode() != 200 || len(resp.Body()) != 1024 {
			b.Fatalf("%v %d %d", err, resp.StatusCode(), len(resp.Body()))
		}
	}
}

type nopObserver struct{}

func (nopObserver) ObserveRequest(*Record) {}

// BenchmarkCompile1000Rules measures a reload's l7 part: 1000 rules over
// 10 groups holding 1000 targets (SPEC §6: under 100 ms).
func BenchmarkCompile1000Rules(b *testing.B) {
	reg := runtime.NewRegistry(nil)
	tr := NewTransport(TransportOptions{})
	var gcs []config.TargetGroup
	for g := 0; g < 10; g++ {
		gc := config.TargetGroup{Name: fmt.Sprintf("g%d", g), Protocol: "HTTP"}
		var specs []runtime.TargetSpec
		for i := 0; i < 100; i++ {
			a := fmt.Sprintf("127.0.%d.%d:8080", g, i+1)
			gc.Targets = append(gc.Targets, config.Target{Address: a})
			specs = append(specs, runtime.TargetSpec{Addr: a})
		}
		reg.Group(gc.Name).Register(specs)
		gcs = append(gcs, gc)
	}
	lc := config.Listener{Name: "web", Protocol: "HTTP", DefaultAction: fwd("g0")}
	for i := 0; i < 1000; i++ {
		lc.Rules = append(lc.Rules, config.Rule{Priority: i + 1, Conditions: config.Conditions{
			Host: []string{fmt.Sprintf("svc%d.example.com", i)}, Path: []string{fmt.Sprintf("/api/v%d/*", i)},
			Header: map[string][]string{"X-Tenant": {fmt.Sprintf("t%d", i)}}}, Action: fwd(fmt.Sprintf("g%d", i%10))})
	}
	b.ReportAllocs()
	for b.Loop() {
		groups := map[string]*TargetGroup{}
		for _, gc := range gcs {
			tg, err := NewTargetGroup(gc, reg.Group(gc.Name), tr)
			if err != nil {
				b.Fatal(err)
			}
			tg.Pick(nil) // builds the balancer over 100 targets
			groups[gc.Name] = tg
		}
		if _, err := NewRouter(lc, groups, RouterOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestProxiedRequestAllocatesNothing: a keep-alive GET through the whole
// proxy — client, lb and an in-process target together — allocates
// nothing per request.
func TestProxiedRequestAllocatesNothing(t *testing.T) {
	if raceOn {
		t.Skip("allocation counts of sync.Pool paths are random under -race; run without -race")
	}
	body := bytes.Repeat([]byte("x"), 1024)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { ctx.SetBody(body) }}
	go target.Serve(ln)
	defer target.Shutdown()
	h := startLB(t, lbSetup{listener: config.Listener{Protocol: "HTTP", DefaultAction: fwd("web")},
		groups: []config.TargetGroup{group("web", ln.Addr().String())}, server: ServerOptions{Observer: nopObserver{}}})
	c := &fasthttp.HostClient{Addr: h.addr, MaxConns: 1, ReadTimeout: 5 * time.Second}
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	req.SetRequestURI("http://" + h.addr + "/x")
	run := func() {
		if err := c.Do(req, resp); err != nil || resp.StatusCode() != 200 || len(resp.Body()) != 1024 {
			t.Fatalf("%v %d %d", err, resp.StatusCode(), len(resp.Body()))
		}
	}
	for range 50 {
		run()
	}
	if allocs := testing.AllocsPerRun(500, run); allocs != 0 {
		t.Fatalf("a proxied request allocates %.1f times", allocs)
	}
}

// browserHeaders is a header block as a desktop browser sends it (~0.6 KiB).
var browserHeaders = []byte("Host: www.example.com\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n" +
	"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\n" +
	"Accept-Language: en-US,en;q=0.5\r\n" +
	"Accept-Encoding: gzip, deflate, br, zstd\r\n" +
	"Referer: https://www.example.com/articles/2026/11/some-long-article-title\r\n" +
	"Cookie: session=0123456789abcdef0123456789abcdef; prefs=dark; _ga=GA1.2.123456789.1700000000\r\n" +
	"Upgrade-Insecure-Requests: 1\r\n" +
	"Sec-Fetch-Dest: document\r\n" +
	"Sec-Fetch-Mode: navigate\r\n" +
	"Sec-Fetch-Site: same-origin\r\n" +
	"Sec-Fetch-User: ?1\r\n" +
	"Priority: u=0, i\r\n")

// BenchmarkHeaderScans measures the scans every request's header block
// goes through on the forward path (X-Forwarded-For lookup, hop-by-hop
// check) on a browser-sized block.
func BenchmarkHeaderScans(b *testing.B) {
	v := RequestView{RawHeaders: browserHeaders}
	b.ReportAllocs()
	for b.Loop() {
		if v.Header("X-Forwarded-For", func([]byte) bool { return true }) || rawHasHopByHop(browserHeaders) {
			b.Fatal("found")
		}
	}
}

// BenchmarkClassify measures the desync classification of a browser-sized
// request (every request goes through it before routing).
func BenchmarkClassify(b *testing.B) {
	var h fasthttp.RequestHeader
	req := append([]byte("GET /articles/2026/11/some-long-article-title?utm_source=x HTTP/1.1\r\n"), browserHeaders...)
	req = append(req, "\r\n"...)
	if err := h.Read(bufio.NewReader(bytes.NewReader(req))); err != nil {
		b.Fatal(err)
	}
	raw, uri := h.RawHeaders(), h.RequestURI()
	b.ReportAllocs()
	for b.Loop() {
		if v := classify(&h, raw, uri); v.class != classCompliant {
			b.Fatal(v.reason)
		}
	}
}
