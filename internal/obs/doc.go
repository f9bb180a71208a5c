// Package obs is the observability floor shared by lb and edge: the slog
// logger set up from the -log-level and -log-format flags, the access-log
// writers (ALB field order or JSON, plus a tcp/tls line per l4 flow) behind a bounded, non-blocking buffer,
// the Prometheus registry with metric structs resolved once per config
// snapshot, and the small helpers every admin API needs (JSON errors, the
// bearer-token check, /healthz and /readyz).
//
// It does not decide what a request did — the data path (l7, l4, edge)
// fills a Record and the metric structs; obs only formats, counts and
// serves. It imports neither l7 nor fasthttp, so the hot path can call it
// without a cycle and without an interface call per request.
//
//	log, _ := obs.NewLogger("info", "text", os.Stderr)
//	m := obs.NewMetrics("lb")
//	al, _ := obs.OpenAccessLog("stdout", "alb", m.AccessLogDrops)
//	defer al.Close()
//	rm := m.Route("web", "api") // once per snapshot
//	rm.Observe(200, 3*time.Millisecond)
//	al.Log(&obs.Record{ELBStatus: 200 /* … */})
//	al.LogFlow(&obs.FlowRecord{Type: "tcp", SentBytes: 42 /* … */})
//	http.Handle("/metrics", m.Handler())
package obs
