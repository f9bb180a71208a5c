package runtime

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// TargetSpec names a target to register.
type TargetSpec struct {
	Addr   string
	Weight int
}

// View is an immutable picture of a group's targets, rebuilt whenever a
// target is registered, deregistered or changes health. Balancers keep a
// View (or something built from one) and never lock. A View and its slices
// must not be modified.
type View struct {
	// Registered is every target not draining, in registration order.
	Registered []*Target
	// Routable is the set new traffic may go to: the healthy targets, or —
	// when none is healthy — all registered targets (ALB fails open).
	Routable []*Target
	// FailOpen is true when Routable holds unhealthy targets because no
	// target is healthy.
	FailOpen bool
	// Gen increases with every rebuild.
	Gen uint64
}

// Group is the live state of one target group. Safe for concurrent use.
type Group struct {
	Name string

	reg     *Registry
	mu      sync.Mutex
	targets []*Target // registered and draining, in order
	// retired are targets that left the list (unused, or replaced by a
	// re-registration or a weight change) while work was still in flight;
	// the drain coordinator waits for them too.
	retired []*Target
	view    atomic.Pointer[View]
	gen     uint64
	// checksDisabled: targets go straight to unavailable and are routable.
	checksDisabled bool
	// slowStart is the group's slow-start duration (0 = off), read when a
	// target becomes healthy to decide whether it ramps.
	slowStart time.Duration

	// notifyMu serialises watcher calls so that every watcher sees views in
	// Gen order, and is held while a watcher is added.
	notifyMu sync.Mutex
	watchers []*watcher // guarded by notifyMu
	nextW    int

	onFailure atomic.Pointer[func(*Target)]
}

type watcher struct {
	id  int
	fn  func(*View)
	gen uint64 // last Gen delivered
}

// View returns the current view. Never nil.
func (g *Group) View() *View { return g.view.Load() }

// Watch calls fn with the current view at once and then with every newer
// view, in Gen order, from the goroutine that changed the state. Views may
// be coalesced: a watcher always gets the latest one, not necessarily each
// intermediate one. fn must not block (hand long work to a goroutine); it
// may read the group (View, Targets, Lookup) but must not change it
// (Register, Deregister, SetHealth…) nor call Watch. The returned func stops the calls; after it
// returns fn is not called again.
func (g *Group) Watch(fn func(*View)) (cancel func()) {
	g.notifyMu.Lock()
	g.nextW++
	w := &watcher{id: g.nextW, fn: fn}
	g.watchers = append(g.watchers, w)
	v := g.view.Load()
	w.gen = v.Gen
	fn(v)
	g.notifyMu.Unlock()
	return func() {
		g.notifyMu.Lock()
		defer g.notifyMu.Unlock()
		g.watchers = slices.DeleteFunc(g.watchers, func(x *watcher) bool { return x.id == w.id })
	}
}

// notify delivers the current view to every watcher that has not seen it.
// Called without g.mu held.
func (g *Group) notify() {
	g.notifyMu.Lock()
	defer g.notifyMu.Unlock()
	v := g.view.Load()
	for _, w := range g.watchers {
		if w.gen < v.Gen {
			w.gen = v.Gen
			w.fn(v)
		}
	}
}

// Targets returns every target of the group, draining ones included, in
// registration order.
func (g *Group) Targets() []*Target {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.targets)
}

// Lookup returns the target with addr, draining or not, or nil.
func (g *Group) Lookup(addr string) *Target {
	g.mu.Lock()
	defer g.mu.Unlock()
	if i := g.indexLocked(addr); i >= 0 {
		return g.targets[i]
	}
	return nil
}

// SetChecksDisabled marks the group as having no health checks: its
// targets are reported unavailable and are always routable. Turning checks
// back on puts the registered targets in initial until checked again.
func (g *Group) SetChecksDisabled(off bool) {
	g.mu.Lock()
	changed := g.checksDisabled != off
	g.checksDisabled = off
	if changed {
		for _, t := range g.targets {
			if t.Draining() {
				continue
			}
			t.healthySince.Store(0)
			t.rampFrom.Store(0)
			if off {
				t.setState(StateUnavailable, ReasonHealthCheckDisabled)
			} else {
				t.setState(StateInitial, ReasonRegistrationInProgress)
			}
		}
		g.publishLocked()
	}
	g.mu.Unlock()
	if changed {
		g.notify()
	}
}

// ChecksDisabled reports whether SetChecksDisabled(true) is in effect.
func (g *Group) ChecksDisabled() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.checksDisabled
}

// SetSlowStart sets the group's slow-start duration (0 turns it off). It
// decides whether targets that become healthy from now on ramp up; targets
// already healthy are not put into slow start (as ALB). Balancers pass the
// same duration to Target.SlowStartFactor.
func (g *Group) SetSlowStart(d time.Duration) {
	g.mu.Lock()
	g.slowStart = d
	g.mu.Unlock()
}

// Register adds targets that are not registered yet and returns them. A
// draining target registered again comes back as a fresh target in initial
// (its in-flight work finishes on the old one). A registered target whose
// weight differs is replaced by a target with the new weight that keeps its
// health state.
func (g *Group) Register(specs []TargetSpec) []*Target {
	g.mu.Lock()
	added, changed := g.registerLocked(specs)
	if changed {
		g.publishLocked()
	}
	g.mu.Unlock()
	if changed {
		g.notify()
	}
	return added
}

func (g *Group) registerLocked(specs []TargetSpec) (added []*Target, changed bool) {
	for _, s := range specs {
		w := s.Weight
		if w <= 0 {
			w = 1
		}
		if i := g.indexLocked(s.Addr); i >= 0 {
			old := g.targets[i]
			if !old.Draining() {
				if old.Weight == w {
					continue
				}
				// Weight is immutable so balancers can read it without a lock:
				// a new Target carries the new weight and the old health.
				t := newTarget(g, TargetSpec{Addr: s.Addr, Weight: w})
				t.copyHealth(old)
				g.targets[i] = t
				g.retireLocked(old)
				changed = true
				continue
			}
			g.targets = slices.Delete(g.targets, i, i+1)
			g.retireLocked(old)
		}
		t := newTarget(g, s)
		if g.checksDisabled {
			t.setState(StateUnavailable, ReasonHealthCheckDisabled)
		}
		g.targets = append(g.targets, t)
		added = append(added, t)
		changed = true
	}
	return added, changed
}

// Deregister starts draining the named targets: they leave the view at once,
// keep their in-flight work, and become unused (and leave the group) when
// delay has passed on the registry's clock. It returns the targets that
// started draining; unknown or already draining addresses are ignored.
func (g *Group) Deregister(addrs []string, delay time.Duration) []*Target {
	g.mu.Lock()
	drained := g.deregisterLocked(addrs)
	if len(drained) > 0 {
		g.publishLocked()
	}
	g.mu.Unlock()
	g.afterDeregister(drained, delay)
	return drained
}

func (g *Group) deregisterLocked(addrs []string) []*Target {
	var drained []*Target
	for _, a := range addrs {
		i := g.indexLocked(a)
		if i < 0 || g.targets[i].Draining() {
			continue
		}
		t := g.targets[i]
		t.healthySince.Store(0)
		t.rampFrom.Store(0)
		t.setState(StateDraining, ReasonDeregistrationInProgress)
		drained = append(drained, t)
	}
	return drained
}

// afterDeregister tells the watchers and starts the drain timers; called
// without g.mu.
func (g *Group) afterDeregister(drained []*Target, delay time.Duration) {
	if len(drained) == 0 {
		return
	}
	g.notify()
	for _, t := range drained {
		g.reg.clock.AfterFunc(delay, func() { g.finishDrain(t) })
	}
}

// Sync makes the registered set equal to specs in one step: new addresses
// are registered, changed weights applied, missing ones deregistered with
// delay. Config reloads call it; the health of targets that stay is kept.
func (g *Group) Sync(specs []TargetSpec, delay time.Duration) {
	want := make(map[string]bool, len(specs))
	for _, s := range specs {
		want[s.Addr] = true
	}
	g.mu.Lock()
	var gone []string
	for _, t := range g.targets {
		if !want[t.Addr] && !t.Draining() {
			gone = append(gone, t.Addr)
		}
	}
	_, changed := g.registerLocked(specs)
	drained := g.deregisterLocked(gone)
	if changed || len(drained) > 0 {
		g.publishLocked()
	}
	g.mu.Unlock()
	if changed && len(drained) == 0 {
		g.notify()
	}
	g.afterDeregister(drained, delay)
}

// OnFailure installs fn to be called by Target.ReportFailure (passive
// health detection); package health uses it. fn runs on the data path and
// must not block. nil removes it.
func (g *Group) OnFailure(fn func(*Target)) {
	if fn == nil {
		g.onFailure.Store(nil)
		return
	}
	g.onFailure.Store(&fn)
}

func (g *Group) finishDrain(t *Target) {
	g.mu.Lock()
	if t.State() != StateDraining {
		g.mu.Unlock()
		return
	}
	t.setState(StateUnused, ReasonNotRegistered)
	close(t.drained)
	if i := slices.Index(g.targets, t); i >= 0 {
		g.targets = slices.Delete(g.targets, i, i+1)
	}
	g.retireLocked(t)
	g.mu.Unlock()
}

// retireLocked remembers t if it still has work in flight, and forgets
// retired targets that have finished.
func (g *Group) retireLocked(t *Target) {
	g.retired = slices.DeleteFunc(g.retired, func(x *Target) bool { return x.InFlight() <= 0 })
	if t.InFlight() > 0 {
		g.retired = append(g.retired, t)
	}
}

// inFlight sums the in-flight work of every target of the group, retired
// ones included.
func (g *Group) inFlight() int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	var n int64
	for _, t := range g.targets {
		n += max(t.InFlight(), 0)
	}
	for _, t := range g.retired {
		n += max(t.InFlight(), 0)
	}
	return n
}

func (g *Group) setHealth(t *Target, healthy bool, reason string) {
	g.mu.Lock()
	if t.Draining() || g.checksDisabled || !slices.Contains(g.targets, t) {
		g.mu.Unlock()
		return
	}
	was := t.State()
	now := g.reg.clock.Now()
	if healthy {
		if was == StateHealthy {
			g.mu.Unlock()
			return
		}
		// Slow start (elb.md §2.3): only when at least one other healthy
		// target is not itself ramping, so a lone first target takes full
		// traffic at once.
		ramp := false
		if g.slowStart > 0 {
			for _, o := range g.targets {
				if o != t && o.State() == StateHealthy && !o.rampingAt(now, g.slowStart) {
					ramp = true
					break
				}
			}
		}
		t.healthySince.Store(now.UnixNano())
		if ramp {
			t.rampFrom.Store(now.UnixNano())
		} else {
			t.rampFrom.Store(0)
		}
		t.setState(StateHealthy, "")
	} else {
		if was == StateUnhealthy && t.Reason() == reason {
			g.mu.Unlock()
			return
		}
		t.healthySince.Store(0)
		t.rampFrom.Store(0)
		t.setState(StateUnhealthy, reason)
	}
	g.publishLocked()
	g.mu.Unlock()
	g.notify()
}

func (g *Group) setInitialReason(t *Target, reason string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if t.State() == StateInitial && t.Reason() != reason {
		t.setState(StateInitial, reason)
	}
}

func (g *Group) indexLocked(addr string) int {
	for i, t := range g.targets {
		if t.Addr == addr {
			return i
		}
	}
	return -1
}

// publishLocked rebuilds and stores the view; the caller calls notify after
// unlocking g.mu.
func (g *Group) publishLocked() {
	g.gen++
	v := &View{Gen: g.gen}
	for _, t := range g.targets {
		if t.Draining() {
			continue
		}
		v.Registered = append(v.Registered, t)
		if s := t.State(); s == StateHealthy || s == StateUnavailable {
			v.Routable = append(v.Routable, t)
		}
	}
	if len(v.Routable) == 0 && len(v.Registered) > 0 {
		v.Routable = v.Registered
		v.FailOpen = true
	}
	g.view.Store(v)
}
