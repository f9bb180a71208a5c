package health

import (
	"context"
	"crypto/tls"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard/switchyard/internal/runtime"
)

// Options are the parts of a Checker that are not config.
type Options struct {
	// Logger receives state changes and fail-open lines; nil discards.
	Logger *slog.Logger
	// Dial opens check connections; nil uses a plain net.Dialer. A TCP
	// group that sends PROXY v2 passes a dial that writes a LOCAL header
	// after connecting (l4 provides it), as NLB does.
	Dial DialFunc
	// TLSConfig is used by HTTPS checks; nil skips certificate
	// verification, as ELB.
	TLSConfig *tls.Config
}

// Stats are a Checker's counters, for the metrics.
type Stats struct {
	// Checks is the number of active checks completed.
	Checks uint64
	// CheckFailures is how many of them failed.
	CheckFailures uint64
	// PassiveFailures counts connection failures reported by the data path.
	PassiveFailures uint64
	// FailOpen is true while every target is unhealthy and the group routes
	// to all of them.
	FailOpen bool
	// FailOpenEvents counts the times the group entered fail-open.
	FailOpenEvents uint64
}

type compiled struct {
	cfg Config
	m   Matcher
}

// Checker runs the active health checks of one target group and counts
// passive failures against it. It watches the group, so targets registered
// later are checked too and deregistered ones stop being checked. Safe for
// concurrent use.
type Checker struct {
	g *runtime.Group
	// dialTLS holds the Dial and TLSConfig of Options; SetDial swaps them
	// on reload (proxy_protocol_v2 switched on or off).
	dialTLS atomic.Pointer[Options]
	log     *slog.Logger
	cfg     atomic.Pointer[compiled]

	mu       sync.Mutex // guards probes, counters in each probe, running
	probes   map[*runtime.Target]*probeState
	running  bool
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	kick     chan struct{}
	unwatch  func()
	failOpen bool

	checks, checkFailures, passive, failOpenEvents atomic.Uint64
	failOpenNow                                    atomic.Bool
}

type probeState struct {
	t      *runtime.Target
	cancel context.CancelFunc
	passes int // consecutive passes; guarded by Checker.mu
	fails  int // consecutive failures; guarded by Checker.mu
}

// NewChecker returns a stopped checker of g. cfg is used as given (call
// Config.Validate first for the ELB ranges); a non-positive interval or
// threshold falls back to the ELB default.
func NewChecker(g *runtime.Group, cfg Config, opts Options) *Checker {
	c := &Checker{g: g, log: opts.Logger, probes: make(map[*runtime.Target]*probeState)}
	c.dialTLS.Store(&Options{Dial: opts.Dial, TLSConfig: opts.TLSConfig})
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.log = c.log.With("target_group", g.Name)
	c.cfg.Store(compile(cfg))
	return c
}

func compile(cfg Config) *compiled {
	def := Defaults("HTTP")
	if cfg.Protocol == TCP {
		def = Defaults("TCP")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = def.Interval
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = def.Timeout
	}
	if cfg.HealthyThreshold <= 0 {
		cfg.HealthyThreshold = def.HealthyThreshold
	}
	if cfg.UnhealthyThreshold <= 0 {
		cfg.UnhealthyThreshold = def.UnhealthyThreshold
	}
	if cfg.Matcher == "" {
		cfg.Matcher = def.Matcher
	}
	m, _ := ParseMatcher(cfg.Matcher) // a bad matcher matches nothing: every HTTP check fails
	return &compiled{cfg: cfg, m: m}
}

// Config returns the configuration in use, defaults filled in.
func (c *Checker) Config() Config { return c.cfg.Load().cfg }

// Start begins checking every registered target (each at once, then every
// interval) and installs the passive-failure hook on the group. It returns
// at once; ctx or Stop ends the checks. Calling Start twice does nothing.
func (c *Checker) Start(ctx context.Context) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running {
		return
	}
	c.running = true
	c.ctx, c.cancel = context.WithCancel(ctx)
	kick := make(chan struct{}, 1)
	c.kick = kick
	c.g.OnFailure(c.passiveFailure)
	// The watcher only signals: it runs under the group's notify lock and
	// must not take c.mu.
	c.unwatch = c.g.Watch(func(*runtime.View) {
		select {
		case kick <- struct{}{}:
		default:
		}
	})
	c.wg.Add(1)
	go c.manage(c.ctx, kick)
}

// Stop ends every check, removes the passive hook and waits for the
// check goroutines to return. Target states are left as they are.
func (c *Checker) Stop() {
	c.mu.Lock()
	if !c.running {
		c.mu.Unlock()
		return
	}
	c.running = false
	cancel, unwatch := c.cancel, c.unwatch
	c.mu.Unlock()
	unwatch()
	c.g.OnFailure(nil)
	cancel()
	c.wg.Wait()
	c.mu.Lock()
	clear(c.probes)
	c.mu.Unlock()
}

// Update swaps the configuration on reload. Counters of consecutive
// results are kept; the new interval applies from each target's next
// check, the new thresholds to the next result.
func (c *Checker) Update(cfg Config) {
	c.cfg.Store(compile(cfg))
	c.mu.Lock()
	if c.running {
		select {
		case c.kick <- struct{}{}:
		default:
		}
	}
	c.mu.Unlock()
}

// SetDial replaces the dial hook (nil: a plain net.Dialer) from each
// target's next check on; a reload that turns proxy_protocol_v2 on or off
// calls it.
func (c *Checker) SetDial(d DialFunc) {
	o := *c.dialTLS.Load()
	o.Dial = d
	c.dialTLS.Store(&o)
}

// Stats returns the counters.
func (c *Checker) Stats() Stats {
	return Stats{
		Checks:          c.checks.Load(),
		CheckFailures:   c.checkFailures.Load(),
		PassiveFailures: c.passive.Load(),
		FailOpen:        c.failOpenNow.Load(),
		FailOpenEvents:  c.failOpenEvents.Load(),
	}
}

// FailOpen reports whether the group routes to all its targets because
// every one of them is unhealthy. Lock-free, for a gauge.
func (c *Checker) FailOpen() bool { return c.failOpenNow.Load() }

// manage reconciles probe goroutines with the group's view on every change.
func (c *Checker) manage(ctx context.Context, kick <-chan struct{}) {
	defer c.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case <-kick:
		}
		c.reconcile(c.g.View())
	}
}

func (c *Checker) reconcile(v *runtime.View) {
	cfg := c.cfg.Load().cfg
	if c.g.ChecksDisabled() != cfg.Disabled {
		c.g.SetChecksDisabled(cfg.Disabled)
		v = c.g.View()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.running {
		return
	}
	want := make(map[*runtime.Target]bool, len(v.Registered))
	if !cfg.Disabled {
		for _, t := range v.Registered {
			want[t] = true
		}
	}
	for t, p := range c.probes {
		if !want[t] {
			p.cancel()
			delete(c.probes, t)
		}
	}
	for t := range want {
		if _, ok := c.probes[t]; ok {
			continue
		}
		ctx, cancel := context.WithCancel(c.ctx)
		p := &probeState{t: t, cancel: cancel}
		c.probes[t] = p
		c.wg.Add(1)
		go c.run(ctx, p)
	}
	c.noteFailOpenLocked(v)
}

// noteFailOpenLocked logs and counts the group entering and leaving
// fail-open. A group whose targets are all still initial routes to all too,
// but that is start-up, not an outage, so it is not counted.
func (c *Checker) noteFailOpenLocked(v *runtime.View) {
	now := false
	if v.FailOpen {
		for _, t := range v.Registered {
			if t.State() == runtime.StateUnhealthy {
				now = true
				break
			}
		}
	}
	if now == c.failOpen {
		return
	}
	c.failOpen = now
	c.failOpenNow.Store(now)
	if now {
		c.failOpenEvents.Add(1)
		c.log.Warn("health: no healthy target: failing open, routing to all registered targets",
			"targets", len(v.Registered))
	} else {
		c.log.Info("health: healthy targets again: fail-open ended")
	}
}

// run checks one target every interval until ctx ends.
func (c *Checker) run(ctx context.Context, p *probeState) {
	defer c.wg.Done()
	timer := time.NewTimer(0) // the first check at once: a new target needs one pass
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		cc := c.cfg.Load()
		start := time.Now()
		r := probe(ctx, cc.cfg, cc.m, p.t.Addr, *c.dialTLS.Load())
		if ctx.Err() != nil {
			return // stopped or deregistered mid-check: the result means nothing
		}
		c.record(p, r)
		next := cc.cfg.Interval - time.Since(start)
		timer.Reset(max(next, 0))
	}
}

// record applies one active result to the target's state.
func (c *Checker) record(p *probeState, r Result) {
	c.checks.Add(1)
	if !r.OK {
		c.checkFailures.Add(1)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.probes[p.t] != p {
		return
	}
	// Failures reported by the data path since the last check were counted
	// as they came; clear the count so it measures one interval.
	p.t.TakeFailures()
	c.applyLocked(p, r)
}

// passiveFailure is the group's OnFailure hook: a connection failure seen
// by the data path counts as one failed check, at once.
func (c *Checker) passiveFailure(t *runtime.Target) {
	c.passive.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.probes[t]
	if p == nil {
		return
	}
	t.TakeFailures()
	c.applyLocked(p, Result{Reason: runtime.ReasonFailedHealthChecks})
}

// applyLocked is the state machine of elb.md §2.6: one pass takes a new
// target to healthy; an unhealthy one needs HealthyThreshold consecutive
// passes; UnhealthyThreshold consecutive failures make initial or healthy
// targets unhealthy.
func (c *Checker) applyLocked(p *probeState, r Result) {
	cfg := c.cfg.Load().cfg
	t := p.t
	was := t.State()
	if r.OK {
		p.fails = 0
		p.passes++
		switch {
		case was == runtime.StateInitial,
			was == runtime.StateUnhealthy && p.passes >= cfg.HealthyThreshold:
			t.SetHealth(true, "")
		}
	} else {
		p.passes = 0
		p.fails++
		switch was {
		case runtime.StateInitial:
			if p.fails >= cfg.UnhealthyThreshold {
				t.SetHealth(false, r.Reason)
			} else {
				t.SetInitialReason(runtime.ReasonInitialHealthChecking)
			}
		case runtime.StateHealthy:
			if p.fails >= cfg.UnhealthyThreshold {
				t.SetHealth(false, r.Reason)
			}
		case runtime.StateUnhealthy:
			t.SetHealth(false, r.Reason) // keeps the latest reason
		}
	}
	if now := t.State(); now != was {
		lvl := slog.LevelInfo
		if now == runtime.StateUnhealthy {
			lvl = slog.LevelWarn
		}
		attrs := []any{"target", t.Addr, "from", was.String(), "to", now.String(), "reason", t.Reason()}
		if r.Err != nil {
			attrs = append(attrs, "err", r.Err)
		}
		if r.Status != 0 {
			attrs = append(attrs, "status", r.Status)
		}
		c.log.Log(context.Background(), lvl, "health: target state changed", attrs...)
	}
}
