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
// View (or something built from one) and never lock.
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

	reg      *Registry
	mu       sync.Mutex
	targets  []*Target // registered and draining, in order
	view     atomic.Pointer[View]
	gen      uint64
	watchers []func(*View)
	// checksDisabled: targets go straight to unavailable and are routable.
	checksDisabled bool
}

// View returns the current view. Never nil.
func (g *Group) View() *View { return g.view.Load() }

// Watch calls fn with every new view (from the goroutine that changed the
// state; fn must not block). It is called once at once with the current view.
func (g *Group) Watch(fn func(*View)) {
	g.mu.Lock()
	g.watchers = append(g.watchers, fn)
	v := g.view.Load()
	g.mu.Unlock()
	fn(v)
}

// Targets returns every target of the group, draining ones included.
func (g *Group) Targets() []*Target {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.targets)
}

// Lookup returns the target with addr, draining or not.
func (g *Group) Lookup(addr string) *Target {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, t := range g.targets {
		if t.Addr == addr {
			return t
		}
	}
	return nil
}

// SetChecksDisabled marks the group as having no health checks: its
// targets are reported unavailable and always routable.
func (g *Group) SetChecksDisabled(off bool) {
	g.mu.Lock()
	g.checksDisabled = off
	if off {
		for _, t := range g.targets {
			if !t.Draining() {
				t.setState(StateUnavailable, ReasonHealthCheckDisabled)
			}
		}
	}
	g.publishLocked()
	g.mu.Unlock()
}

// Register adds targets that are not registered yet (a draining target
// registered again comes back as initial). It returns the new targets.
func (g *Group) Register(specs []TargetSpec) []*Target {
	g.mu.Lock()
	defer g.mu.Unlock()
	var added []*Target
	for _, s := range specs {
		if i := g.indexLocked(s.Addr); i >= 0 {
			t := g.targets[i]
			if !t.Draining() {
				continue
			}
			// Re-registration during draining: a fresh target replaces the old one,
			// whose in-flight work finishes on its own.
			g.targets = slices.Delete(g.targets, i, i+1)
		}
		t := newTarget(g, s)
		if g.checksDisabled {
			t.setState(StateUnavailable, ReasonHealthCheckDisabled)
		}
		g.targets = append(g.targets, t)
		added = append(added, t)
	}
	if len(added) > 0 {
		g.publishLocked()
	}
	return added
}

// Deregister starts draining the named targets: they leave the view at once,
// keep their in-flight work, and become unused when delay has passed. It
// returns the targets that started draining.
func (g *Group) Deregister(addrs []string, delay time.Duration) []*Target {
	g.mu.Lock()
	var drained []*Target
	for _, a := range addrs {
		i := g.indexLocked(a)
		if i < 0 || g.targets[i].Draining() {
			continue
		}
		t := g.targets[i]
		t.setState(StateDraining, ReasonDeregistrationInProgress)
		drained = append(drained, t)
	}
	if len(drained) > 0 {
		g.publishLocked()
	}
	g.mu.Unlock()
	for _, t := range drained {
		t := t
		g.reg.clock.AfterFunc(delay, func() { g.finishDrain(t) })
	}
	return drained
}

// Sync makes the registered set equal to specs: new addresses are
// registered, missing ones deregistered with delay. Used by config reloads.
func (g *Group) Sync(specs []TargetSpec, delay time.Duration) {
	want := make(map[string]bool, len(specs))
	for _, s := range specs {
		want[s.Addr] = true
	}
	var gone []string
	for _, t := range g.Targets() {
		if !want[t.Addr] && !t.Draining() {
			gone = append(gone, t.Addr)
		}
	}
	g.Register(specs)
	if len(gone) > 0 {
		g.Deregister(gone, delay)
	}
}

func (g *Group) finishDrain(t *Target) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if t.State() != StateDraining {
		return
	}
	t.setState(StateUnused, ReasonNotRegistered)
	close(t.drained)
	if i := slices.Index(g.targets, t); i >= 0 {
		g.targets = slices.Delete(g.targets, i, i+1)
	}
}

func (g *Group) setHealth(t *Target, healthy bool, reason string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if t.Draining() || g.checksDisabled {
		return
	}
	was := t.State()
	if healthy {
		if was == StateHealthy {
			return
		}
		t.healthySince.Store(g.reg.clock.Now().UnixNano())
		t.setState(StateHealthy, "")
	} else {
		if was == StateUnhealthy && t.Reason() == reason {
			return
		}
		t.healthySince.Store(0)
		t.setState(StateUnhealthy, reason)
	}
	g.publishLocked()
}

func (g *Group) indexLocked(addr string) int {
	for i, t := range g.targets {
		if t.Addr == addr {
			return i
		}
	}
	return -1
}

// publishLocked rebuilds and stores the view and tells the watchers.
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
	for _, w := range g.watchers {
		w(v)
	}
}
