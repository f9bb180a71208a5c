package l7

import (
	"math/rand/v2"

	"github.com/valyala/fasthttp"

	"github.com/switchyard/switchyard/internal/runtime"
)

// backend is a routable target with its connection pool.
type backend struct {
	t  *runtime.Target
	hc *fasthttp.HostClient
}

// backendSet is the immutable balancing state built from one runtime.View:
// rebuilt when the view changes, read without locks.
type backendSet struct {
	view     *runtime.View
	backends []backend
	// cum holds cumulative weights for weighted_random.
	cum   []uint32
	total uint32
}

func newBackendSet(v *runtime.View, tg *TargetGroup) *backendSet {
	s := &backendSet{view: v, backends: make([]backend, len(v.Routable))}
	if tg.algo == algoWeightedRandom {
		s.cum = make([]uint32, len(v.Routable))
	}
	for i, t := range v.Routable {
		s.backends[i] = backend{t: t, hc: tg.tr.client(t.Addr, tg.isTLS)}
		tg.tr.drain.watch(t)
		if s.cum != nil {
			w := t.Weight
			if w < 1 {
				w = 1
			}
			s.total += uint32(w)
			s.cum[i] = s.total
		}
	}
	return s
}

type algorithm uint8

const (
	algoRoundRobin algorithm = iota
	algoLeastOutstanding
	algoWeightedRandom
)

// pickFrom chooses one backend of s by the group's algorithm, skipping
// avoid (a target that just failed) when there is another. It takes no
// lock and allocates nothing.
func (tg *TargetGroup) pickFrom(s *backendSet, avoid *runtime.Target) *backend {
	n := len(s.backends)
	switch n {
	case 0:
		return nil
	case 1:
		return &s.backends[0]
	}
	switch tg.algo {
	case algoLeastOutstanding:
		start := int(tg.rr.Add(1) % uint64(n))
		var best *backend
		var bestN int64
		for i := 0; i < n; i++ {
			b := &s.backends[(start+i)%n]
			if b.t == avoid {
				continue
			}
			if f := b.t.InFlight(); best == nil || f < bestN {
				best, bestN = b, f
			}
		}
		return best
	case algoWeightedRandom:
		for range 4 {
			x := rand.Uint32N(s.total)
			lo, hi := 0, n-1
			for lo < hi {
				m := (lo + hi) / 2
				if s.cum[m] > x {
					hi = m
				} else {
					lo = m + 1
				}
			}
			if b := &s.backends[lo]; b.t != avoid {
				return b
			}
		}
		return tg.pickRR(s, avoid)
	default:
		return tg.pickRR(s, avoid)
	}
}

func (tg *TargetGroup) pickRR(s *backendSet, avoid *runtime.Target) *backend {
	n := uint64(len(s.backends))
	i := tg.rr.Add(1) - 1
	b := &s.backends[i%n]
	if b.t == avoid {
		b = &s.backends[(i+1)%n]
	}
	return b
}

// currentSet returns the backend set for the group's current view,
// rebuilding it (the only allocation, once per view change) if the view
// moved on.
func (tg *TargetGroup) currentSet() *backendSet {
	v := tg.group.View()
	s := tg.set.Load()
	if s != nil && s.view == v {
		return s
	}
	ns := newBackendSet(v, tg)
	// Losing the race is fine: the winner built the same set from the same
	// or a newer view.
	tg.set.CompareAndSwap(s, ns)
	return ns
}
