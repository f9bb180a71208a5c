package runtime

import (
	"sync/atomic"
	"time"
)

// State is a target's health state, named as in the ELB
// describe-target-health API.
type State int32

// The ELB target states.
const (
	StateInitial State = iota
	StateHealthy
	StateUnhealthy
	StateDraining
	StateUnused
	// StateUnavailable is reported when health checks are disabled for the group.
	StateUnavailable
)

var stateNames = [...]string{"initial", "healthy", "unhealthy", "draining", "unused", "unavailable"}

// String returns the ELB name of s.
func (s State) String() string {
	if s < 0 || int(s) >= len(stateNames) {
		return "unknown"
	}
	return stateNames[s]
}

// The ELB reason codes used with the states.
const (
	ReasonRegistrationInProgress   = "Elb.RegistrationInProgress"
	ReasonInitialHealthChecking    = "Elb.InitialHealthChecking"
	ReasonResponseCodeMismatch     = "Target.ResponseCodeMismatch"
	ReasonTimeout                  = "Target.Timeout"
	ReasonFailedHealthChecks       = "Target.FailedHealthChecks"
	ReasonInternalError            = "Elb.InternalError"
	ReasonNotRegistered            = "Target.NotRegistered"
	ReasonNotInUse                 = "Target.NotInUse"
	ReasonDeregistrationInProgress = "Target.DeregistrationInProgress"
	ReasonHealthCheckDisabled      = "Target.HealthCheckDisabled"
)

// Target is one registered address of a group. Its counters and state are
// safe for concurrent use; Addr, Group and Weight never change after
// registration (a weight change re-registers).
type Target struct {
	Group  string
	Addr   string // host:port, as given in the config or the API
	Weight int    // ≥ 1; extra turns for weighted_random and Maglev

	g *Group
	// st holds state and reason together so that readers never see the
	// reason of one state with another.
	st       atomic.Pointer[status]
	inFlight atomic.Int64
	// healthySince is the Unix-nano time the target last became healthy;
	// slow start ramps from it.
	healthySince atomic.Int64
	// rampFrom is the Unix-nano start of this target's slow start, 0 when
	// it does not ramp (slow start off, or no other healthy target then).
	rampFrom atomic.Int64
	drained  chan struct{} // closed when the deregistration delay ends
	// fails counts passive failures (connect errors) since the last check.
	fails atomic.Int32
}

func newTarget(g *Group, spec TargetSpec) *Target {
	w := spec.Weight
	if w <= 0 {
		w = 1
	}
	t := &Target{Group: g.Name, Addr: spec.Addr, Weight: w, g: g, drained: make(chan struct{})}
	t.setState(StateInitial, ReasonRegistrationInProgress)
	return t
}

type status struct {
	state  State
	reason string
}

// State returns the current state.
func (t *Target) State() State { return t.st.Load().state }

// Reason returns the ELB reason code of the current state ("" for healthy).
func (t *Target) Reason() string { return t.st.Load().reason }

// Status returns the state and its reason as one consistent pair.
func (t *Target) Status() (State, string) {
	s := t.st.Load()
	return s.state, s.reason
}

func (t *Target) setState(s State, reason string) {
	t.st.Store(&status{state: s, reason: reason})
}

// InFlight is the number of requests or flows the target is serving now.
func (t *Target) InFlight() int64 { return t.inFlight.Load() }

// Acquire counts one more request or flow on t. Pair with Release.
func (t *Target) Acquire() { t.inFlight.Add(1) }

// Release ends a request or flow started with Acquire.
func (t *Target) Release() {
	if t.inFlight.Add(-1) == 0 && t.g.reg.idleWaiters.Load() > 0 {
		t.g.reg.wakeIdle()
	}
}

// HealthySince is when t last became healthy (zero if it is not healthy).
func (t *Target) HealthySince() time.Time {
	n := t.healthySince.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// Drained is closed when the target's deregistration delay has ended; flows
// with connection_termination close then, and HTTP requests still running
// get 502.
func (t *Target) Drained() <-chan struct{} { return t.drained }

// Draining reports whether t is being deregistered (or has left).
func (t *Target) Draining() bool {
	s := t.State()
	return s == StateDraining || s == StateUnused
}

// ReportFailure records a passive failure (connect refused, reset before a
// response) seen by the data path and returns the count not yet taken. The
// group's OnFailure hook (installed by package health) runs at once and
// counts it as a failed health check, so a target that refuses connections
// turns unhealthy after the unhealthy threshold without waiting for the
// next interval. Allocation-free; safe to call from any goroutine.
func (t *Target) ReportFailure() int32 {
	n := t.fails.Add(1)
	if fn := t.g.onFailure.Load(); fn != nil {
		(*fn)(t)
	}
	return n
}

// TakeFailures returns and clears the passive failure count.
func (t *Target) TakeFailures() int32 { return t.fails.Swap(0) }

// SetHealth moves a registered (not draining) target to healthy or
// unhealthy with the given reason and republishes the group's view when
// routability changed. It is the only way health checks change state.
// A target no longer in its group (replaced or gone) is left alone.
func (t *Target) SetHealth(healthy bool, reason string) {
	t.g.setHealth(t, healthy, reason)
}

// SetInitialReason changes the reason of a target still in initial (health
// checks use ReasonInitialHealthChecking once the first check has run);
// other states are left alone.
func (t *Target) SetInitialReason(reason string) {
	t.g.setInitialReason(t, reason)
}

// SlowStartFactor is the share of its full weight t should get at now, for
// a group with slow-start duration d: it ramps linearly from 0 to 1 over d
// from the moment t became healthy, and is 1 when slow start is off (d ≤ 0),
// when t did not enter slow start (it became healthy while no other healthy
// target was out of slow start, or before Group.SetSlowStart enabled it),
// or once d has passed. Balancers multiply the target's weight by it; it
// is allocation-free and lock-free.
func (t *Target) SlowStartFactor(now time.Time, d time.Duration) float64 {
	from := t.rampFrom.Load()
	if d <= 0 || from == 0 {
		return 1
	}
	el := now.UnixNano() - from
	if el <= 0 {
		return 0
	}
	if el >= int64(d) {
		return 1
	}
	return float64(el) / float64(d)
}

// InSlowStart reports whether t is ramping at now for duration d.
func (t *Target) InSlowStart(now time.Time, d time.Duration) bool {
	return t.rampingAt(now, d)
}

func (t *Target) rampingAt(now time.Time, d time.Duration) bool {
	from := t.rampFrom.Load()
	return d > 0 && from != 0 && now.UnixNano()-from < int64(d)
}

// copyHealth gives t the state of old (a weight change replaces a target).
func (t *Target) copyHealth(old *Target) {
	t.st.Store(old.st.Load())
	t.healthySince.Store(old.healthySince.Load())
	t.rampFrom.Store(old.rampFrom.Load())
}
