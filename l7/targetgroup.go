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
	// window (0 = off) by runtime.Target.SlowStartFactor; now is the clock
	// it is measured with (the runtime registry's clock in tests).
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
	}
	if st := cfg.Stickiness; st != nil && st.Type != "" {
		a, err := newAffinity(cfg.Name, st)
		if err != nil {
			return nil, fmt.Errorf("l7: target group %s: %w", cfg.Name, err)
		}
		tg.affinity = a
	}
	tg.now = time.Now
	// Which targets ramp is decided in runtime as they turn healthy (the
	// AWS rules: not a lone first target; only beside a healthy target out
	// of slow start), so the group must know the window. cmd/lb sets it
	// too; setting it again with the same value changes nothing.
	g.SetSlowStart(tg.slowStart)
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
		// A ramping target keeps a pick with probability equal to its
		// slow-start factor, else the balancer picks again: its share
		// grows linearly from ~0 to full over the window (elb.md §2.3).
		// Whether a target ramps at all is runtime's decision, made when
		// it turned healthy (Group.SetSlowStart).
		for range 3 {
			f := b.t.SlowStartFactor(now, tg.slowStart)
			if f >= 1 || rand.Float64() < f {
				break
			}
			b = tg.pickFrom(s, avoid)
		}
	}
	return b
}
