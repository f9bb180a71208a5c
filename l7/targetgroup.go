package l7

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"time"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/internal/runtime"
)

// TargetGroup is the compiled, balancing form of one config.TargetGroup
// over the live target state of a runtime.Group. It is rebuilt with each
// config snapshot (cheap), while the runtime.Group and the Transport's
// pools outlive it. Safe for concurrent use.
type TargetGroup struct {
	name  string
	group *runtime.Group
	tr    *Transport
	algo  algorithm
	isTLS bool
	rr    atomic.Uint64
	set   atomic.Pointer[backendSet]
	// affinity, when set, may choose a target before the balancer does:
	// the seam for target stickiness (lb_cookie, app_cookie) and future
	// slow-start weighting.
	affinity stickiness
	// slowStart ramps a newly healthy target's share linearly over this
	// window (0 = off); now is the clock it is measured with.
	slowStart time.Duration
	now       func() time.Time
}

// stickiness is target-level stickiness. prefer returns the backend the
// request is pinned to (nil: let the balancer choose); remember records the
// choice on the response (a cookie).
type stickiness interface {
	prefer(v *RequestView, s *backendSet) *backend
	remember(x *exchange, b *backend)
}

// NewTargetGroup compiles cfg over g, with connections from tr. Only the
// HTTP-side fields matter here (name, protocol, algorithm, stickiness);
// targets, health and draining live in g.
func NewTargetGroup(cfg config.TargetGroup, g *runtime.Group, tr *Transport) (*TargetGroup, error) {
	if g == nil || tr == nil {
		return nil, fmt.Errorf("l7: target group %s: nil runtime group or transport", cfg.Name)
	}
	tg := &TargetGroup{name: cfg.Name, group: g, tr: tr}
	switch strings.ToUpper(cfg.Protocol) {
	case "", "HTTP":
	case "HTTPS":
		tg.isTLS = true
	default:
		return nil, fmt.Errorf("l7: target group %s: protocol %q cannot take HTTP traffic", cfg.Name, cfg.Protocol)
	}
	switch cfg.Algorithm {
	case "", "round_robin":
		tg.algo = algoRoundRobin
	case "least_outstanding_requests":
		tg.algo = algoLeastOutstanding
	case "weighted_random":
		tg.algo = algoWeightedRandom
	default:
		return nil, fmt.Errorf("l7: target group %s: unknown algorithm %q", cfg.Name, cfg.Algorithm)
	}
	if d := cfg.SlowStart.D(); d > 0 {
		if tg.algo == algoLeastOutstanding {
			return nil, fmt.Errorf("l7: target group %s: slow_start cannot be combined with least_outstanding_requests", cfg.Name)
		}
		tg.slowStart = d
		tg.now = time.Now
	}
	if st := cfg.Stickiness; st != nil && st.Type != "" {
		a, err := newAffinity(cfg.Name, st)
		if err != nil {
			return nil, fmt.Errorf("l7: target group %s: %w", cfg.Name, err)
		}
		tg.affinity = a
	}
	return tg, nil
}

// Name returns the group's name.
func (tg *TargetGroup) Name() string { return tg.name }

// Pick chooses a target for v by the group's algorithm (and stickiness).
// It takes no lock and allocates nothing while the group's view is
// unchanged. It returns ErrNoHealthyTarget when no target is registered.
func (tg *TargetGroup) Pick(v *RequestView) (*runtime.Target, error) {
	b := tg.pick(v, nil)
	if b == nil {
		return nil, ErrNoHealthyTarget
	}
	return b.t, nil
}

func (tg *TargetGroup) pick(v *RequestView, avoid *runtime.Target) *backend {
	s := tg.currentSet()
	if len(s.backends) == 0 {
		return nil
	}
	if tg.affinity != nil && avoid == nil {
		if b := tg.affinity.prefer(v, s); b != nil {
			return b
		}
	}
	b := tg.pickFrom(s, avoid)
	if tg.slowStart > 0 && len(s.backends) > 1 {
		now := tg.now()
		// A ramping target keeps a pick with probability equal to its ramp
		// fraction, else the balancer picks again: its share grows
		// linearly from ~0 to full over the window (elb.md §2.3).
		for range 3 {
			f := tg.ramp(s, b, now)
			if f >= 1 || rand.Float64() < f {
				break
			}
			b = tg.pickFrom(s, avoid)
		}
	}
	return b
}

// ramp returns b's slow-start fraction in [0, 1]: 1 when it is not in slow
// start. A target is in slow start during the window after it became
// healthy, when at least one other routable target is not.
func (tg *TargetGroup) ramp(s *backendSet, b *backend, now time.Time) float64 {
	since := b.t.HealthySince()
	if since.IsZero() {
		return 1
	}
	el := now.Sub(since)
	if el >= tg.slowStart {
		return 1
	}
	for i := range s.backends {
		o := &s.backends[i]
		if o == b {
			continue
		}
		if hs := o.t.HealthySince(); hs.IsZero() || now.Sub(hs) >= tg.slowStart {
			return float64(el) / float64(tg.slowStart)
		}
	}
	return 1
}
