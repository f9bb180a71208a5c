package l4

import (
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/switchyard/switchyard/internal/runtime"
)

// Algorithm is how a Balancer turns a flow into a key.
type Algorithm int

const (
	// FlowHash hashes the 5-tuple (config `algorithm: flow_hash`, the default).
	FlowHash Algorithm = iota
	// SourceIP hashes the client address only (config `algorithm: source_ip`).
	SourceIP
)

// ParseAlgorithm maps the config words to an Algorithm; "" is FlowHash.
func ParseAlgorithm(s string) (Algorithm, bool) {
	switch s {
	case "", "flow_hash":
		return FlowHash, true
	case "source_ip":
		return SourceIP, true
	}
	return FlowHash, false
}

// Key returns the hash a flow from src to dst is placed by.
func (a Algorithm) Key(src, dst netip.AddrPort) uint64 {
	if a == SourceIP {
		return HashSource(src.Addr())
	}
	return HashFlow(src, dst)
}

// ring is one built table with the targets its indices name.
type ring struct {
	m       *Maglev
	targets []*runtime.Target
	gen     uint64
}

// Balancer picks targets of one runtime.Group by Maglev. It watches the
// group and rebuilds its table in a goroutine of its own whenever the
// routable set changes, then swaps it in atomically; Pick never waits for a
// build, takes no lock and allocates nothing. Established flows are not its
// concern: a flow keeps the target it was given. Safe for concurrent use.
type Balancer struct {
	g      *runtime.Group
	cur    atomic.Pointer[ring]
	cancel func()

	mu       sync.Mutex
	pending  *runtime.View // newest view not yet built
	building bool
	closed   bool
	// onBuild, when set (tests), is called after every swap.
	onBuild func(gen uint64)
}

// NewBalancer builds the table for g's current routable targets (at once,
// on the caller's goroutine) and keeps it up to date until Close.
func NewBalancer(g *runtime.Group) *Balancer {
	return newBalancer(g, nil)
}

func newBalancer(g *runtime.Group, onBuild func(uint64)) *Balancer {
	b := &Balancer{g: g, onBuild: onBuild}
	first := true
	b.cancel = g.Watch(func(v *runtime.View) {
		if first {
			// Watch calls back at once on this goroutine: build the first
			// table here so that the balancer is ready when returned.
			first = false
			b.build(v)
			return
		}
		b.enqueue(v)
	})
	return b
}

// Group returns the group the balancer picks from.
func (b *Balancer) Group() *runtime.Group { return b.g }

func (b *Balancer) enqueue(v *runtime.View) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	b.pending = v
	if b.building {
		return
	}
	b.building = true
	go b.drainPending()
}

// drainPending builds views until none is pending; views that arrive while
// it builds are coalesced into the newest.
func (b *Balancer) drainPending() {
	for {
		b.mu.Lock()
		v := b.pending
		b.pending = nil
		if v == nil || b.closed {
			b.building = false
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
		b.build(v)
	}
}

func (b *Balancer) build(v *runtime.View) {
	old := b.cur.Load()
	if old != nil && old.gen >= v.Gen {
		return
	}
	targets := v.Routable
	r := &ring{targets: targets, gen: v.Gen}
	switch {
	case old != nil && slices.Equal(old.targets, targets):
		r.m = old.m
	case old != nil && sameSet(old.targets, targets):
		// Same addresses and weights in the same order, new Target objects
		// (a re-registration): the table is still right.
		r.m = old.m
	default:
		names := make([]string, len(targets))
		weights := make([]int, len(targets))
		for i, t := range targets {
			names[i] = t.Addr
			weights[i] = t.Weight
		}
		r.m = NewMaglev(names, weights, 0)
	}
	b.cur.Store(r)
	if b.onBuild != nil {
		b.onBuild(v.Gen)
	}
}

func sameSet(a, b []*runtime.Target) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Addr != b[i].Addr || a[i].Weight != b[i].Weight {
			return false
		}
	}
	return true
}

// Pick returns the target owning key, or nil when the group has no routable
// target. Allocation-free.
func (b *Balancer) Pick(key uint64) *runtime.Target {
	r := b.cur.Load()
	var t *runtime.Target
	if i := r.m.Lookup(key); i >= 0 {
		t = r.targets[i]
	}
	if t == nil || t.Draining() {
		// The table is rebuilt off the accept path, so for a few
		// milliseconds it can lag the group. A deregistered target must
		// still get no new flow at once, and a group that just gained its
		// first target must not refuse: until the new table is in place,
		// pick from the current view by the same key.
		if v := b.g.View(); v.Gen != r.gen && len(v.Routable) > 0 {
			return v.Routable[key%uint64(len(v.Routable))]
		}
		if t != nil {
			return nil
		}
	}
	return t
}

// Alternate returns the retry target for key: a routable target other than
// the one Pick returned, or nil when there is none.
func (b *Balancer) Alternate(key uint64, not *runtime.Target) *runtime.Target {
	r := b.cur.Load()
	i := r.m.Alternate(key)
	if i < 0 || r.targets[i] == not || r.targets[i].Draining() {
		return nil
	}
	return r.targets[i]
}

// Gen is the view generation the current table was built from.
func (b *Balancer) Gen() uint64 { return b.cur.Load().gen }

// Table returns the current table (for tests and the status page).
func (b *Balancer) Table() *Maglev { return b.cur.Load().m }

// Close stops watching the group. Pick keeps working on the last table.
func (b *Balancer) Close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.cancel()
}
