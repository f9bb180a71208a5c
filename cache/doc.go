// Package cache holds the edge's CloudFront caching semantics: the cache key,
// RFC 9111 freshness as CloudFront applies it, a byte-bounded ristretto
// object store, request collapsing, invalidation, and the viewer-side helpers
// (Range, conditional requests, compression).
//
// It does not speak HTTP: it reads small value types (a Request view for the
// key, a Response view for the TTL rules, []Field headers and a body for an
// Entry) and never imports fasthttp or l7, so it is testable on its own and
// a later HTTP/2 front end can feed it. It does not fetch from origins,
// choose behaviours, strip hop-by-hop headers or write X-Cache/Age/Via: the
// edge pipeline does, in its fixed phase order.
//
// Per request, the edge does:
//
//	key, enc := policy.AppendKey(buf[:0], dist, &cache.Request{Method: m, Path: p, Query: q, Cookie: c, AcceptEncoding: ae, Header: &req.Header})
//	e, st := store.Get(key)
//	switch {
//	case st == cache.Fresh: // serve e (Hit), Age: e.AgeSeconds(now); e.Range / e.NotModified for the viewer
//	case st == cache.Stale && e.StaleWhileRevalidate(now): // serve e, revalidate in the background
//	default:
//		e, shared, err := coalescer.Do(ctx, key, func(ctx context.Context) (*cache.Entry, bool, error) {
//			// origin request (If-None-Match/If-Modified-Since from e.Validators() when revalidating),
//			// 304 → e.Refresh(&ttl, hdr, t0, t1); else d := cache.Decide(&ttl, &resp, t1) and
//			// n := cache.NewEntry(...); cache.Compress(n, enc) when cache.Compressible(...);
//			// if d.Store { store.Set(key, n) }; return n, d.Store, nil
//		})
//	}
//	store.Invalidate("site", []string{"/img/*", "/index.html"})
//
// Store, Coalescer and compiled policies are safe for concurrent use; an
// Entry is immutable once stored.
package cache
