package cache

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// FetchFunc fetches one answer from the origin. It returns the entry to serve
// and whether concurrent waiters may be given the same answer: share is true
// only for a cacheable answer (Decision.Store), which the fetch should also
// Set in the Store before returning. An error is shared with the waiters
// when share is true, otherwise each waiter fetches for itself.
//
// The context passed to the coalesced fetch is detached from the caller's
// cancellation (it keeps its values), because other viewers may be waiting
// for it: the fetch must bound itself with the origin's timeouts.
type FetchFunc func(ctx context.Context) (e *Entry, share bool, err error)

// DefaultMaxWait is how long a waiter waits for another viewer's fetch when
// Coalescer.MaxWait is 0: CloudFront's default origin response timeout.
const DefaultMaxWait = 30 * time.Second

// Coalescer collapses concurrent misses for one key into one origin fetch
// (CloudFront request collapsing, §6.6). The zero value is ready to use;
// safe for concurrent use.
type Coalescer struct {
	// MaxWait bounds how long a waiter waits for another viewer's fetch
	// before it fetches for itself (nginx proxy_cache_lock_timeout), so a
	// hung fetch never holds its waiters forever. 0 means DefaultMaxWait;
	// a negative value waits until the fetch ends or the waiter's context
	// is done.
	MaxWait time.Duration

	mu    sync.Mutex
	calls map[string]*call
}

type call struct {
	done  chan struct{}
	e     *Entry
	share bool
	err   error
	// waiters is guarded by Coalescer.mu.
	waiters int
}

// Do returns the answer for key, fetching it once for all concurrent callers
// of the same key. The first caller's fetch runs on its own goroutine, so
// that a caller whose viewer gives up (ctx done) returns ctx.Err() at once
// without cancelling the fetch the others wait for. shared is true when the
// answer came from another caller's fetch. When that answer is not shareable
// (uncacheable: private, no-store, Set-Cookie, TTL 0 …), every waiter runs its
// own fetch, synchronously with its own ctx, as CloudFront and Varnish's
// hit-for-miss do.
func (c *Coalescer) Do(ctx context.Context, key []byte, fetch FetchFunc) (e *Entry, shared bool, err error) {
	c.mu.Lock()
	if cl, ok := c.calls[string(key)]; ok {
		cl.waiters++
		c.mu.Unlock()
		var timeout <-chan time.Time
		if wait := c.MaxWait; wait >= 0 {
			if wait == 0 {
				wait = DefaultMaxWait
			}
			t := time.NewTimer(wait)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-cl.done:
			if cl.share {
				return cl.e, true, cl.err
			}
		case <-ctx.Done():
			return nil, false, ctx.Err()
		case <-timeout:
		}
		e, _, err = safeFetch(ctx, fetch)
		return e, false, err
	}
	if c.calls == nil {
		c.calls = map[string]*call{}
	}
	k := string(key)
	cl := &call{done: make(chan struct{})}
	c.calls[k] = cl
	c.mu.Unlock()

	go func() {
		e, share, err := safeFetch(context.WithoutCancel(ctx), fetch)
		c.mu.Lock()
		delete(c.calls, k)
		cl.e, cl.share, cl.err = e, share, err
		c.mu.Unlock()
		close(cl.done)
	}()
	select {
	case <-cl.done:
		return cl.e, false, cl.err
	case <-ctx.Done():
		return nil, false, ctx.Err()
	}
}

// InFlight reports how many keys have a fetch running.
func (c *Coalescer) InFlight() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.calls)
}

// running reports whether a fetch for key is in flight.
func (c *Coalescer) running(key []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.calls[string(key)]
	return ok
}

// Waiting reports how many callers joined the running fetch for key.
func (c *Coalescer) Waiting(key []byte) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := c.calls[string(key)]; ok {
		return cl.waiters
	}
	return 0
}

// safeFetch turns a panic in fetch into an error: the fetch may run on a
// goroutine of its own, where a panic would end the process.
func safeFetch(ctx context.Context, fetch FetchFunc) (e *Entry, share bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			e, share, err = nil, false, fmt.Errorf("cache: fetch: panic: %v", r)
		}
	}()
	return fetch(ctx)
}
