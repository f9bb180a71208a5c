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

	g        *Group
	state    atomic.Int32
	reason   atomic.Pointer[string]
	inFlight atomic.Int64
	// healthySince is the Unix-nano time the target last became healthy;
	// slow start ramps from it.
	healthySince atomic.Int64
	drained      chan struct{} // closed when the deregistration delay ends
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

// State returns the current state.
func (t *Target) State() State { return State(t.state.Load()) }

// Reason returns the ELB reason code of the current state ("" for healthy).
func (t *Target) Reason() string {
	if r := t.reason.Load(); r != nil {
		return *r
	}
	return ""
}

func (t *Target) setState(s State, reason string) {
	r := reason
	t.reason.Store(&r)
	t.state.Store(int32(s))
}

// InFlight is the number of requests or flows the target is serving now.
func (t *Target) InFlight() int64 { return t.inFlight.Load() }

// Acquire counts one more request or flow on t. Pair with Release.
func (t *Target) Acquire() { t.inFlight.Add(1) }

// Release ends a request or flow started with Acquire.
func (t *Target) Release() { t.inFlight.Add(-1) }

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
// response) seen by the data path. Package health reads and clears the
// count between checks; after the unhealthy threshold of passive failures
// the target is marked unhealthy at once.
func (t *Target) ReportFailure() int32 { return t.fails.Add(1) }

// TakeFailures returns and clears the passive failure count.
func (t *Target) TakeFailures() int32 { return t.fails.Swap(0) }

// SetHealth moves a registered (not draining) target to healthy or
// unhealthy with the given reason and republishes the group's view when
// routability changed. It is the only way health checks change state.
func (t *Target) SetHealth(healthy bool, reason string) {
	t.g.setHealth(t, healthy, reason)
}
