package l7

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/switchyard/switchyard/config"
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
