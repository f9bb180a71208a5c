package cache

import (
	"bytes"
	"context"
	"errors"
	"time"
)

// Result is how a request was answered, in CloudFront's X-Cache and
// x-edge-result-type words. The edge writes "<Result> from edge", except
// that answers with status ≥ 400 read "Error from edge" as in CloudFront.
type Result uint8

const (
	// ResultMiss: fetched from the origin (stored or not).
	ResultMiss Result = iota
	// ResultHit: served from the cache, including a stale object served
	// during stale-while-revalidate.
	ResultHit
	// ResultRefreshHit: a stale object the origin confirmed with a 304, or
	// served because the origin failed (stale-if-error).
	ResultRefreshHit
	// ResultError: the origin failed and nothing usable was cached.
	ResultError
)

func (r Result) String() string {
	switch r {
	case ResultHit:
		return "Hit"
	case ResultRefreshHit:
		return "RefreshHit"
	case ResultError:
		return "Error"
	}
	return "Miss"
}

// Validators are the conditional headers of a revalidation; both empty for a
// plain fetch.
type Validators struct {
	IfNoneMatch, IfModifiedSince string
}

// OriginAnswer is one buffered origin response.
type OriginAnswer struct {
	Status int
	// Header: see EntryInput.Header.
	Header []Field
	Body   []byte
	// RequestTime and ResponseTime bracket the origin exchange; zero means
	// the Flow's clock at return.
	RequestTime, ResponseTime time.Time
	// AuthorizationUnkeyed: see Response.
	AuthorizationUnkeyed bool
}

// OriginFunc makes one origin request, sending v's conditional headers when
// they are set, and the negotiated coding as Accept-Encoding. It should
// return an error wrapping ErrNotBuffered when it chose not to buffer the
// answer (Content-Length over Store.MaxObjectSize); the edge then streams a
// request of its own. It runs on a goroutine detached from the viewer (see
// FetchFunc) and must bound itself with the origin's timeouts. Because it
// may still run after the viewer that started it has gone (others wait for
// it), it must not reference the viewer's request buffers (a fasthttp
// RequestCtx): copy the path, query and headers it sends before Serve.
type OriginFunc func(ctx context.Context, v Validators) (*OriginAnswer, error)

// ErrNotBuffered tells Flow that the origin answer is to be streamed
// uncached rather than buffered.
var ErrNotBuffered = errors.New("cache: origin answer not buffered")

// Flow is the per-request cache flow of one cache behaviour: lookup, hit,
// stale-while-revalidate, collapsed fetch or revalidation (RefreshHit on
// 304), stale-if-error, compression and store. Build it once per config
// snapshot; safe for concurrent use.
type Flow struct {
	Store     *Store
	Coalescer *Coalescer
	TTL       TTLPolicy
	// Collapse enables request collapsing: KeyPolicy.Collapsible() and no
	// cookies forwarded by the origin request policy.
	Collapse bool
	// Compress lets Flow compress compressible answers into the
	// negotiated coding (the behaviour's compress flag).
	Compress bool
	// KeepSetCookie stores Set-Cookie with objects (cookies forwarded).
	KeepSetCookie bool
}

// Serve answers one viewer request for key. enc is the coding AppendKey
// negotiated. It returns the entry to send (Status, Header, Body; the edge
// adds Age from e.AgeSeconds, X-Cache from the Result, and applies e.Range
// and e.NotModified for the viewer), or an error with ResultError when the
// origin failed and nothing cached may stand in; errors.Is(err,
// ErrNotBuffered) means "stream it uncached".
func (f *Flow) Serve(ctx context.Context, key []byte, enc Encoding, origin OriginFunc) (*Entry, Result, error) {
	e, st := f.Store.Get(key)
	switch {
	case st == Fresh:
		return e, ResultHit, nil
	case st == Stale && e.StaleWhileRevalidate(f.Store.now()):
		// One background revalidation per key: later viewers in the
		// window do not queue behind it (an uncacheable answer would
		// otherwise send each of them to the origin).
		if f.Coalescer == nil || !f.Coalescer.running(key) {
			k := append([]byte(nil), key...)
			go f.fetch(context.WithoutCancel(ctx), k, enc, e, origin, true)
		}
		return e, ResultHit, nil
	}
	got, err := f.fetch(ctx, key, enc, e, origin, f.Collapse)
	now := f.Store.now()
	failed := err != nil || (got != nil && got.Status >= 500)
	if failed && e != nil && !errors.Is(err, ErrNotBuffered) && e.StaleIfError(now) {
		return e, ResultRefreshHit, nil
	}
	if err != nil {
		return nil, ResultError, err
	}
	if got.Refreshed() {
		return got, ResultRefreshHit, nil
	}
	return got, ResultMiss, nil
}

// fetch runs the origin request for key, collapsed when collapse is set,
// revalidating stale when it has validators. Background revalidations
// (stale-while-revalidate) are always collapsed: their answer only goes to
// the store, so one per key is enough.
func (f *Flow) fetch(ctx context.Context, key []byte, enc Encoding, stale *Entry, origin OriginFunc, collapse bool) (*Entry, error) {
	run := func(ctx context.Context) (*Entry, bool, error) {
		var v Validators
		if stale != nil {
			v.IfNoneMatch, v.IfModifiedSince = stale.Validators()
		}
		a, err := origin(ctx, v)
		if err != nil {
			// Share origin failures with the waiters (no herd on a dead
			// origin), but let each waiter stream an unbuffered answer.
			return nil, !errors.Is(err, ErrNotBuffered), err
		}
		now := f.Store.now()
		if a.ResponseTime.IsZero() {
			a.ResponseTime = now
		}
		if a.RequestTime.IsZero() {
			a.RequestTime = a.ResponseTime
		}
		if a.Status == 304 && stale != nil && (v.IfNoneMatch != "" || v.IfModifiedSince != "") {
			n, d := stale.Refresh(&f.TTL, a.Header, a.RequestTime, a.ResponseTime)
			if d.Store {
				f.Store.Set(key, n)
			}
			return n, d.Store, nil
		}
		resp := Fields(a.Header).Response(a.Status)
		resp.AuthorizationUnkeyed = a.AuthorizationUnkeyed
		d := Decide(&f.TTL, &resp, a.ResponseTime)
		n := NewEntry(EntryInput{Status: a.Status, Header: a.Header, Body: a.Body, Decision: d,
			RequestTime: a.RequestTime, ResponseTime: a.ResponseTime, KeepSetCookie: f.KeepSetCookie})
		if f.Compress && enc != Identity && n.Encoding == Identity {
			ct, _ := Fields(n.Header).Get("Content-Type")
			_, hasCE := Fields(a.Header).Get("Content-Encoding")
			var ce []byte
			if hasCE {
				ce = []byte("present")
			}
			if Compressible(n.Status, []byte(ct), ce, int64(len(n.Body))) {
				if c, err := Compress(n, enc); err == nil {
					n = c
				}
			}
		}
		if n.Status >= 500 && stale != nil && stale.StaleIfError(now) {
			// Keep the stale copy: it answers while the origin fails
			// (Serve falls back to it), instead of a cached 5xx.
			return n, true, nil
		}
		if d.Store {
			f.Store.Set(key, n)
		}
		return n, d.Store, nil
	}
	if !collapse || f.Coalescer == nil {
		e, _, err := safeFetch(ctx, run)
		return e, err
	}
	// The collapsed fetch may outlive this caller, whose key buffer is
	// then reused: run must store under its own copy.
	key = bytes.Clone(key)
	e, _, err := f.Coalescer.Do(ctx, key, run)
	return e, err
}
