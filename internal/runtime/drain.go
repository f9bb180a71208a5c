package runtime

import (
	"context"
	"fmt"
	"sync/atomic"
)

// InFlight is the number of requests and flows in progress on every target
// of every group, draining and retired targets included.
func (r *Registry) InFlight() int64 {
	var n int64
	for _, g := range r.Groups() {
		n += g.inFlight()
	}
	return n
}

// WaitIdle blocks until no target of the registry has work in flight, or
// ctx ends; then it returns an error wrapping ctx.Err() that says how much
// was still running. It does not stop new work from starting: callers stop
// accepting first (see Drainer).
func (r *Registry) WaitIdle(ctx context.Context) error {
	return r.waitZero(ctx, "wait idle", r.InFlight)
}

// waitZero blocks until count returns 0 or ctx ends. Every Release that
// brings a target to zero while someone waits closes idleCh, which makes
// the loop count again.
func (r *Registry) waitZero(ctx context.Context, op string, count func() int64) error {
	r.idleWaiters.Add(1)
	defer r.idleWaiters.Add(-1)
	for {
		r.idleMu.Lock()
		ch := r.idleCh
		r.idleMu.Unlock()
		// Take the channel before counting: a Release that reaches zero
		// after the count closes ch, so no wake-up is lost.
		if count() == 0 {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("runtime: %s: %d in flight at deadline: %w", op, count(), ctx.Err())
		}
	}
}

func (r *Registry) wakeIdle() {
	r.idleMu.Lock()
	close(r.idleCh)
	r.idleCh = make(chan struct{})
	r.idleMu.Unlock()
}

// Drainer coordinates a graceful shutdown of the whole process (SIGTERM):
// Begin flips readiness (the admin /readyz answers 503, HTTP listeners add
// Connection: close to keep-alive responses and stop accepting), then Wait
// blocks until every target's in-flight work and every Track-ed piece of
// other work (hijacked connections, TCP flows not counted on a target) has
// finished, or the deadline passes. The zero value is not usable; build one
// with NewDrainer. Safe for concurrent use.
type Drainer struct {
	reg     *Registry
	started atomic.Bool
	begun   chan struct{}
	// other is work not counted on a target; it rides on a private group so
	// that WaitIdle sees it with the same wake-up machinery.
	other *Target
}

// NewDrainer returns a Drainer over reg's targets.
func NewDrainer(reg *Registry) *Drainer {
	g := &Group{Name: "", reg: reg}
	g.view.Store(&View{})
	d := &Drainer{reg: reg, begun: make(chan struct{})}
	d.other = newTarget(g, TargetSpec{Addr: "drainer"})
	return d
}

// Begin starts the drain; later calls do nothing.
func (d *Drainer) Begin() {
	if d.started.CompareAndSwap(false, true) {
		close(d.begun)
	}
}

// Draining reports whether Begin was called. Lock-free, for the data path
// and /readyz.
func (d *Drainer) Draining() bool { return d.started.Load() }

// Begun is closed by Begin; accept loops and keep-alive handlers select on it.
func (d *Drainer) Begun() <-chan struct{} { return d.begun }

// Track counts one piece of work the drain must wait for that is not a
// target's in-flight request (e.g. a hijacked WebSocket). Pair with Untrack.
func (d *Drainer) Track() { d.other.Acquire() }

// Untrack ends work started with Track.
func (d *Drainer) Untrack() { d.other.Release() }

// InFlight is the work Wait is waiting for: targets' plus Track-ed.
func (d *Drainer) InFlight() int64 { return d.reg.InFlight() + max(d.other.InFlight(), 0) }

// Wait begins the drain if needed and blocks until nothing is in flight or
// ctx ends (the shutdown_timeout); the error then wraps ctx.Err() and says
// how much was cut. The caller force-closes what is left.
func (d *Drainer) Wait(ctx context.Context) error {
	d.Begin()
	return d.reg.waitZero(ctx, "drain", d.InFlight)
}
