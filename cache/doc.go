// Package cache holds the edge's CloudFront caching semantics: the cache key,
// RFC 9111 freshness as CloudFront applies it, a byte-bounded ristretto
// object store, request collapsing, invalidation, and the viewer-side helpers
// (Range, conditional requests, compression).
//
// It does not speak HTTP: it reads small value types (a Request view for the
// key, a Response view for the TTL rules, []Field headers and a body for an
// Entry) and never imports fasthttp or l7, so it is testable on its own and
// a later HTTP/2 front end can feed it. It does not talk to origins, choose
// behaviours, strip hop-by-hop headers or write X-Cache/Age/Via: the edge
// pipeline does, in its fixed phase order. It keeps objects in memory only.
//
// Once per config snapshot, per cache behaviour:
//
//	kp, err := cache.NewKeyPolicy(cache.NameList(b.CacheKey.Headers), cache.NameList(b.CacheKey.Cookies),
//		cache.NameList(b.CacheKey.QueryStrings), b.Compress, b.MaxTTL.D())
//	flow := &cache.Flow{Store: store, Coalescer: coalescer, TTL: cache.NewTTLPolicy(...),
//		Collapse: kp.Collapsible(), Compress: b.Compress, KeepSetCookie: kp.Cookies != cache.None}
//
// Per request (GET/HEAD, see CacheableMethod):
//
//	key, enc := kp.AppendKey(buf[:0], dist.Name, &cache.Request{Method: m, Path: p, Query: q,
//		Cookie: c, AcceptEncoding: ae, Header: &ctx.Request.Header})
//	e, res, err := flow.Serve(ctx, key, enc, originFetch) // originFetch sends kp.AppendQuery/AppendCookie,
//	                                                      // enc.Token() and the Validators it is given
//	// send e.Status/e.Header/e.Body with Age: e.AgeSeconds(now), X-Cache: res, Vary: kp.AppendVary,
//	// after e.NotModified(inm, ims) → 304 and e.Range(rng, ifRange) → 206/416.
//
// The pieces Flow is made of (Store.Get/Set, Coalescer.Do, Decide, NewEntry,
// Entry.Refresh, Compress) are exported for pipelines that need another order.
// Store, Coalescer, Flow and compiled policies are safe for concurrent use; an
// Entry is immutable once stored.
package cache
