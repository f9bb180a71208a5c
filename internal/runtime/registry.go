package runtime

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Clock is the time source of the registry; tests inject a fake one.
type Clock interface {
	Now() time.Time
	AfterFunc(d time.Duration, f func()) Stopper
}

// Stopper stops a timer made by a Clock.
type Stopper interface{ Stop() bool }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }
func (realClock) AfterFunc(d time.Duration, f func()) Stopper {
	return time.AfterFunc(d, f)
}

// RealClock is the wall clock.
var RealClock Clock = realClock{}

// Registry holds every target group's live state, keyed by name. It
// outlives config snapshots. Safe for concurrent use.
type Registry struct {
	clock  Clock
	mu     sync.Mutex
	groups map[string]*Group

	// idleWaiters counts WaitIdle calls in progress; Release looks at it so
	// that the data path pays for wake-ups only during a drain.
	idleWaiters atomic.Int32
	idleMu      sync.Mutex
	idleCh      chan struct{} // closed and replaced when some target goes idle
}

// NewRegistry returns an empty registry; a nil clock means the wall clock.
func NewRegistry(c Clock) *Registry {
	if c == nil {
		c = RealClock
	}
	return &Registry{clock: c, groups: make(map[string]*Group), idleCh: make(chan struct{})}
}

// Clock returns the registry's clock.
func (r *Registry) Clock() Clock { return r.clock }

// Group returns the group called name, creating it empty if needed.
func (r *Registry) Group(name string) *Group {
	r.mu.Lock()
	defer r.mu.Unlock()
	g, ok := r.groups[name]
	if !ok {
		g = &Group{Name: name, reg: r}
		g.view.Store(&View{})
		r.groups[name] = g
	}
	return g
}

// Lookup returns the group called name, or nil.
func (r *Registry) Lookup(name string) *Group {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.groups[name]
}

// Groups returns all groups sorted by name.
func (r *Registry) Groups() []*Group {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*Group, 0, len(r.groups))
	for _, g := range r.groups {
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b *Group) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return out
}
