// Package l7 is the ALB-style HTTP data path of lb: listener rules
// (conditions and actions), target groups and their balancers, forwarding
// over pooled keep-alive connections with streamed bodies, X-Forwarded-*
// and X-Amzn-Trace-Id, WebSocket tunnels, desync mitigation, and the
// mapping of every proxy error to the status ALB would answer.
//
// It does not open listeners, terminate TLS, parse PROXY protocol, probe
// target health, write access logs or export metrics: cmd/lb does those
// and hands l7 a net.Listener, a runtime.Group per target group, and an
// Observer that receives one Record per request.
//
// API summary (what cmd/lb calls):
//
//	tr := l7.NewTransport(l7.TransportOptions{})          // once per process: target pools
//	tg, err := l7.NewTargetGroup(cfgTG, reg.Group(cfgTG.Name), tr) // per snapshot
//	r, err := l7.NewRouter(cfgListener, map[string]*l7.TargetGroup{"web": tg}, l7.RouterOptions{})
//	srv, err := l7.NewServer(r, l7.ServerOptions{Listener: cfgListener, Observer: obs, Logger: log})
//	go srv.Serve(ln)          // ln already wrapped for PROXY protocol / TLS
//	srv.SetRouter(r2)         // reload: atomic swap; requests in flight keep r
//	srv.Counters()            // running totals for metrics
//	srv.Shutdown(ctx)         // drain: Connection: close, wait, force at deadline
//
// Rules read a RequestView (method, host, canonical path, query, raw
// headers, client address, TLS facts), not *fasthttp.RequestCtx, so a later
// HTTP/2 front end can feed the same Router.Match. Matching and
// TargetGroup.Pick allocate nothing.
//
// With ServerOptions.EventLoop (lb sets it), plain-HTTP connections are
// carried by event loops, one per CPU, with their own target pools; what a
// loop does not carry (bodies, upgrades, large or streamed responses, TLS
// or host-name targets, blocked writes) moves to the goroutine path
// described next. Served on a listener that lends its descriptor
// (runtime.Direct: Dup, Counter, AcceptInGo; lb passes one for plain
// HTTP), the loops also accept, so a client socket stays out of Go's
// netpoller while a loop holds it. Heads go both ways as bytes when they
// are plain (rawreq.go, rawresp.go). See loop_linux.go, accept_linux.go and
// docs/l7.md "Event loops".
//
// Idle keep-alive plain-HTTP client connections are parked (Linux): after
// a short wait with their fasthttp goroutine they wait in an epoll set of
// the Server with no goroutine or buffer, and go back to fasthttp
// (Server.ServeConn) when they turn readable; see parker and deadlineConn.
//
// Target stickiness is a seam in TargetGroup (affinity): lb_cookie (AWSALB)
// and app_cookie (AWSALBAPP-0) plug in there; slow start reweights picks
// after the balancer. Group stickiness (AWSALBTG) belongs to the forward
// action.
package l7
