// Package edge is the CloudFront-style pipeline of the edge binary:
// distributions chosen by Host, cache behaviours chosen by path pattern,
// origins and origin groups with failover, and the fixed order of the
// phases a viewer request goes through (pipeline.go, request.run):
//
//	viewer address → distribution/behaviour → viewer protocol policy →
//	allowed methods → geo restriction → signed URL/cookies → cache lookup →
//	(miss: coalesce → origin request → failover → store) → custom error
//	responses → respond (X-Cache, Age, Via, X-Edge-Request-Id) → access log
//
// Config turns phases on; it never reorders them. The caching semantics
// (key, TTLs, collapsing, revalidation, stale content, Range, compression,
// invalidation) are the cache package's; signature checks are signing's;
// countries and viewer facts are geo's. This package wires them to
// fasthttp and to origins.
//
// The proxy machinery is lb's (package l7), shared rather than copied:
// origin pools are l7.Transport pools, hop-by-hop fields are
// l7.HopByHop's, path patterns l7.PathPattern, origin errors are mapped by
// l7.UpstreamError and the listeners get l7.ApplyServerLimits. CloudFront's
// rules on top of them (forwarding policies, CloudFront-* headers, error
// pages, result types) are this package's.
//
// It does not open listeners, parse PROXY protocol, terminate TLS, load
// config files or serve the admin API: cmd/edge does, and hands each
// listener's server an already wrapped net.Listener.
//
//	store, _ := cache.NewStore(cache.StoreOptions(int64(cfg.Cache.MaxSize), int64(cfg.Cache.MaxObjectSize)))
//	db, _ := geo.Open(cfg.Geo.Database)
//	e, _ := edge.New(edge.Options{Store: store, Geo: db, Metrics: edge.NewMetrics(reg, db), Log: log})
//	snap, err := e.Compile(cfg) // per config snapshot (reload: compile, then Swap)
//	e.Swap(snap)
//	srv := e.NewServer(edge.ListenerOptions{Name: "http", TrustedProxies: trusted})
//	go srv.Serve(ln)
//	e.Invalidate("site", []string{"/img/*"})
//
// Edge, Snapshot and the servers are safe for concurrent use.
package edge
