package l7

import (
	"crypto/tls"
	"net"
	"sync"
	"sync/atomic"

	"github.com/switchyard/switchyard/internal/runtime"
)

// drainWatch cuts the target connections of requests still running on a
// target when its deregistration delay ends (runtime.Target.Drained), so
// a request waiting for response headers is answered 502 then, as ALB
// does, rather than after the target's answer or the response timeout.
//
// It costs nothing per request beyond an atomic store on the connection:
// connections are tracked from dial to close (rare with keep-alive), and
// one goroutine per routable target waits for its Drained channel.
//
// Event loops own their target connections as raw sockets, which the
// watch cannot close from its goroutine; a loop that holds connections of
// the Transport registers as a drainWaker instead and is told which
// target drained (it cuts that target's requests and idle connections in
// its next round).
type drainWatch struct {
	mu      sync.Mutex
	conns   map[*idleConn]struct{}
	watched map[*runtime.Target]struct{}
	wakers  map[drainWaker]struct{}
}

// drainWaker is told when a target's deregistration delay ends. drained
// must not block (it runs under the watch's lock).
type drainWaker interface{ drained(t *runtime.Target) }

func (w *drainWatch) addWaker(d drainWaker) {
	w.mu.Lock()
	if w.wakers == nil {
		w.wakers = make(map[drainWaker]struct{})
	}
	w.wakers[d] = struct{}{}
	w.mu.Unlock()
}

func (w *drainWatch) removeWaker(d drainWaker) {
	w.mu.Lock()
	delete(w.wakers, d)
	w.mu.Unlock()
}

func (w *drainWatch) add(c *idleConn) {
	w.mu.Lock()
	if w.conns == nil {
		w.conns = make(map[*idleConn]struct{})
	}
	w.conns[c] = struct{}{}
	w.mu.Unlock()
}

func (w *drainWatch) remove(c *idleConn) {
	w.mu.Lock()
	delete(w.conns, c)
	w.mu.Unlock()
}

// watch starts waiting for t's Drained, once per target.
func (w *drainWatch) watch(t *runtime.Target) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.watched == nil {
		w.watched = make(map[*runtime.Target]struct{})
	}
	if _, ok := w.watched[t]; ok {
		return
	}
	select {
	case <-t.Drained():
		return // already over: requests check Drained themselves
	default:
	}
	w.watched[t] = struct{}{}
	go func() {
		<-t.Drained()
		w.mu.Lock()
		defer w.mu.Unlock()
		delete(w.watched, t)
		for c := range w.conns {
			if c.cur.Load() == t {
				c.cut()
			}
		}
		for d := range w.wakers {
			d.drained(t)
		}
	}()
}

// targetDrained reports whether t's deregistration delay has ended.
func targetDrained(t *runtime.Target) bool {
	if t == nil {
		return false
	}
	select {
	case <-t.Drained():
		return true
	default:
		return false
	}
}

// asIdleConn finds the idleConn under c (a TLS target connection wraps it).
func asIdleConn(c net.Conn) *idleConn {
	switch t := c.(type) {
	case *idleConn:
		return t
	case *tls.Conn:
		ic, _ := t.NetConn().(*idleConn)
		return ic
	}
	return nil
}

// cut closes the socket under a connection whose request is still running,
// waking a blocked read; the exchange then sees the target drained.
func (c *idleConn) cut() { _ = c.Conn.Close() }

// idleConn bookkeeping for drainWatch.
type connTrack struct {
	// cur is the target whose request the connection carries, nil when idle.
	cur atomic.Pointer[runtime.Target]
	w   *drainWatch
	// closed makes Close idempotent for the watch.
	closed atomic.Bool
}

// Close closes the connection and stops tracking it.
func (c *idleConn) Close() error {
	if c.w != nil && c.closed.CompareAndSwap(false, true) {
		c.w.remove(c)
	}
	return c.Conn.Close()
}
