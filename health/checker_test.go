package health_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/switchyard/switchyard/health"
	"github.com/switchyard/switchyard/internal/runtime"
)

const (
	tA = "127.0.0.1:9001"
	tB = "127.0.0.1:9002"
	tC = "127.0.0.1:9003"
)

// testCfg checks every 10 s with a 2 s timeout, healthy 3, unhealthy 2.
func testCfg() health.Config {
	return health.Config{Protocol: health.HTTP, Path: "/health", Interval: 10 * time.Second, Timeout: 2 * time.Second,
		HealthyThreshold: 3, UnhealthyThreshold: 2, Matcher: "200"}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// fixture is a group with a started checker over scripted backends.
type fixture struct {
	g    *runtime.Group
	be   *backends
	chk  *health.Checker
	logs *syncBuf
}

func start(t *testing.T, cfg health.Config, addrs ...string) *fixture {
	t.Helper()
	f := &fixture{be: newBackends(), logs: &syncBuf{}}
	f.g = runtime.NewRegistry(nil).Group("web")
	for _, a := range addrs {
		f.g.Register([]runtime.TargetSpec{{Addr: a}})
	}
	log := slog.New(slog.NewTextHandler(f.logs, nil))
	f.chk = health.NewChecker(f.g, cfg, health.Options{Dial: f.be.dial, Logger: log})
	return f
}

func (f *fixture) run(t *testing.T) {
	f.chk.Start(t.Context())
	t.Cleanup(func() {
		f.chk.Stop()
		time.Sleep(time.Minute) // scripted slow answers finish
	})
	synctest.Wait()
}

// at sleeps until offset past the start of the test bubble and lets every
// goroutine settle. Checks run at 0, 10 s, 20 s… so at(k*10s+1s) has seen
// k+1 checks.
func at(t *testing.T, start time.Time, offset time.Duration) {
	t.Helper()
	if d := time.Until(start.Add(offset)); d > 0 {
		time.Sleep(d)
	}
	synctest.Wait()
}

func state(t *testing.T, g *runtime.Group, addr string) (runtime.State, string) {
	t.Helper()
	x := g.Lookup(addr)
	if x == nil {
		t.Fatalf("no target %s", addr)
	}
	return x.State(), x.Reason()
}

func TestNewTargetNeedsOnePass(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := start(t, testCfg(), tA)
		f.be.script(tA, ok)
		t0 := time.Now()
		f.run(t)
		if s, _ := state(t, f.g, tA); s != runtime.StateHealthy {
			t.Fatalf("after one passing check: %v, want healthy (healthy_threshold 3 applies only to unhealthy targets)", s)
		}
		head := f.be.lastHead(tA)
		for _, want := range []string{"GET /health HTTP/1.1\r\n", "Host: 127.0.0.1:9001\r\n", "User-Agent: ELB-HealthChecker/2.0\r\n", "Connection: close\r\n"} {
			if !strings.Contains(head, want) {
				t.Errorf("backend received %q, missing %q", head, want)
			}
		}
		at(t, t0, 35*time.Second)
		if n := f.be.dialCount(tA); n != 4 {
			t.Errorf("%d checks in 35 s at a 10 s interval, want 4 (0, 10, 20, 30)", n)
		}
		if st := f.chk.Stats(); st.Checks != 4 || st.CheckFailures != 0 {
			t.Errorf("stats %+v", st)
		}
	})
}

func TestThresholdsExact(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := start(t, testCfg(), tA)
		seq := []struct {
			s    step
			want runtime.State
		}{
			{ok, runtime.StateHealthy},     // 0: one pass from initial
			{e500, runtime.StateHealthy},   // 10: 1 failure < 2
			{ok, runtime.StateHealthy},     // 20: resets the failures
			{e500, runtime.StateHealthy},   // 30: 1
			{e500, runtime.StateUnhealthy}, // 40: 2 = unhealthy_threshold
			{ok, runtime.StateUnhealthy},   // 50: 1 pass
			{ok, runtime.StateUnhealthy},   // 60: 2 passes
			{e500, runtime.StateUnhealthy}, // 70: resets the passes
			{ok, runtime.StateUnhealthy},   // 80: 1
			{ok, runtime.StateUnhealthy},   // 90: 2
			{ok, runtime.StateHealthy},     // 100: 3 = healthy_threshold
		}
		var steps []step
		for _, s := range seq {
			steps = append(steps, s.s)
		}
		f.be.script(tA, steps...)
		t0 := time.Now()
		f.run(t)
		for i, s := range seq {
			at(t, t0, time.Duration(i)*10*time.Second+time.Second)
			got, reason := state(t, f.g, tA)
			if got != s.want {
				t.Fatalf("after check %d (t=%ds): %v, want %v", i, i*10, got, s.want)
			}
			if got == runtime.StateUnhealthy && reason != runtime.ReasonResponseCodeMismatch {
				t.Errorf("check %d: reason %s, want %s", i, reason, runtime.ReasonResponseCodeMismatch)
			}
		}
		if !strings.Contains(f.logs.String(), "to=unhealthy") || !strings.Contains(f.logs.String(), "status=500") {
			t.Errorf("no state-change log line with the status: %s", f.logs.String())
		}
	})
}

// DRN-07: a backend that alternates every check never changes state.
func TestFlappingKeepsState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := start(t, testCfg(), tA, tB)
		var flapA, flapB []step
		for range 10 {
			flapA = append(flapA, e500, ok)
		}
		flapB = append(flapB, e500, e500) // B: unhealthy first, then flaps
		for range 10 {
			flapB = append(flapB, ok, e500)
		}
		f.be.script(tA, append([]step{ok}, flapA...)...)
		f.be.script(tB, flapB...)
		t0 := time.Now()
		f.run(t)
		for i := 2; i < 20; i++ {
			at(t, t0, time.Duration(i)*10*time.Second+time.Second)
			if s, _ := state(t, f.g, tA); s != runtime.StateHealthy {
				t.Fatalf("A left healthy at check %d: %v", i, s)
			}
			if s, _ := state(t, f.g, tB); s != runtime.StateUnhealthy {
				t.Fatalf("B left unhealthy at check %d: %v", i, s)
			}
		}
	})
}

func TestInitialFailuresThenUnhealthy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := start(t, testCfg(), tA)
		f.be.script(tA, refused)
		t0 := time.Now()
		f.run(t)
		if s, r := state(t, f.g, tA); s != runtime.StateInitial || r != runtime.ReasonInitialHealthChecking {
			t.Fatalf("after one failure: %v/%s, want initial/%s", s, r, runtime.ReasonInitialHealthChecking)
		}
		at(t, t0, 11*time.Second)
		if s, r := state(t, f.g, tA); s != runtime.StateUnhealthy || r != runtime.ReasonFailedHealthChecks {
			t.Fatalf("after two refused connects: %v/%s, want unhealthy/%s", s, r, runtime.ReasonFailedHealthChecks)
		}
	})
}

func TestSlowTargetTimesOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := start(t, testCfg(), tA, tB)
		f.be.script(tA, ok, step{status: 200, delay: 5 * time.Second}) // answers after the 2 s timeout
		f.be.script(tB, ok, step{status: 200, delay: 1 * time.Second}) // slow but in time
		t0 := time.Now()
		f.run(t)
		at(t, t0, 11*time.Second+500*time.Millisecond)
		// The check at 10 s must have given up at 12 s, not waited for the answer.
		if st := f.chk.Stats(); st.CheckFailures != 0 {
			t.Fatalf("a check failed before its timeout: %+v", st)
		}
		at(t, t0, 12*time.Second+time.Millisecond)
		if st := f.chk.Stats(); st.CheckFailures != 1 {
			t.Fatalf("failures at 12 s = %d, want 1 (timeout at exactly 2 s)", st.CheckFailures)
		}
		at(t, t0, 22*time.Second+time.Millisecond)
		if s, r := state(t, f.g, tA); s != runtime.StateUnhealthy || r != runtime.ReasonTimeout {
			t.Errorf("A: %v/%s, want unhealthy/%s", s, r, runtime.ReasonTimeout)
		}
		if s, _ := state(t, f.g, tB); s != runtime.StateHealthy {
			t.Errorf("B answering in 1 s: %v, want healthy", s)
		}
	})
}

func TestConnectHangTimesOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := start(t, testCfg(), tA)
		f.be.script(tA, step{hang: true})
		t0 := time.Now()
		f.run(t)
		at(t, t0, 13*time.Second)
		if s, r := state(t, f.g, tA); s != runtime.StateUnhealthy || r != runtime.ReasonTimeout {
			t.Errorf("%v/%s, want unhealthy/%s", s, r, runtime.ReasonTimeout)
		}
	})
}

func TestWrongStatusAndMatcherUpdate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testCfg()
		f := start(t, cfg, tA)
		f.be.script(tA, step{status: 204})
		t0 := time.Now()
		f.run(t)
		at(t, t0, 11*time.Second)
		if s, r := state(t, f.g, tA); s != runtime.StateUnhealthy || r != runtime.ReasonResponseCodeMismatch {
			t.Fatalf("204 against matcher 200: %v/%s", s, r)
		}
		cfg.Matcher = "200-299"
		cfg.Interval = 5 * time.Second
		f.chk.Update(cfg)
		// Next check at 20 s (the old interval), then every 5 s: 25, 30 → 3 passes.
		at(t, t0, 26*time.Second)
		if s, _ := state(t, f.g, tA); s != runtime.StateUnhealthy {
			t.Fatalf("healthy after 2 passes: %v", s)
		}
		at(t, t0, 31*time.Second)
		if s, _ := state(t, f.g, tA); s != runtime.StateHealthy {
			t.Fatalf("after 3 passes with the new matcher: %v", s)
		}
		if got := f.chk.Config().Matcher; got != "200-299" {
			t.Errorf("Config().Matcher = %q", got)
		}
	})
}

func TestPassiveFailures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := start(t, testCfg(), tA, tB)
		f.be.script(tA, ok)
		f.be.script(tB, ok)
		t0 := time.Now()
		f.run(t)
		a := f.g.Lookup(tA)
		at(t, t0, 3*time.Second)
		// One passive failure, then a passing check: the count restarts.
		a.ReportFailure()
		if a.State() != runtime.StateHealthy {
			t.Fatalf("one passive failure of 2: %v", a.State())
		}
		at(t, t0, 11*time.Second)
		a.ReportFailure()
		if a.State() != runtime.StateHealthy {
			t.Fatalf("a pass between failures must reset the count: %v", a.State())
		}
		// Two in a row between checks: unhealthy at once, without waiting.
		a.ReportFailure()
		if s, r := a.State(), a.Reason(); s != runtime.StateUnhealthy || r != runtime.ReasonFailedHealthChecks {
			t.Fatalf("two passive failures: %v/%s", s, r)
		}
		if v := f.g.View(); len(v.Routable) != 1 || v.Routable[0].Addr != tB {
			t.Errorf("unhealthy target still routable")
		}
		if st := f.chk.Stats(); st.PassiveFailures != 3 {
			t.Errorf("PassiveFailures = %d, want 3", st.PassiveFailures)
		}
		// Back after healthy_threshold passing checks: 20, 30, 40.
		at(t, t0, 31*time.Second)
		if a.State() != runtime.StateUnhealthy {
			t.Fatalf("back after 2 passes")
		}
		at(t, t0, 41*time.Second)
		if a.State() != runtime.StateHealthy {
			t.Fatalf("not back after 3 passes: %v", a.State())
		}
	})
}

func TestFailOpen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := start(t, testCfg(), tA, tB)
		f.be.script(tA, ok, e500, e500, ok)
		f.be.script(tB, ok, refused, refused, refused)
		t0 := time.Now()
		f.run(t)
		if f.chk.FailOpen() || f.g.View().FailOpen {
			t.Fatal("fail-open with healthy targets")
		}
		at(t, t0, 21*time.Second)
		v := f.g.View()
		if !v.FailOpen || len(v.Routable) != 2 {
			t.Fatalf("all unhealthy: view FailOpen=%v routable=%d, want fail-open to 2", v.FailOpen, len(v.Routable))
		}
		st := f.chk.Stats()
		if !st.FailOpen || st.FailOpenEvents != 1 {
			t.Errorf("stats %+v, want FailOpen and 1 event", st)
		}
		if !strings.Contains(f.logs.String(), "failing open") || !strings.Contains(f.logs.String(), "target_group=web") {
			t.Errorf("no fail-open log line: %s", f.logs.String())
		}
		// A is unhealthy: back after 3 passes (30, 40, 50).
		f.be.script(tA, ok)
		at(t, t0, 51*time.Second)
		if f.chk.FailOpen() || f.g.View().FailOpen {
			t.Errorf("still fail-open with A healthy again")
		}
		if v := f.g.View(); len(v.Routable) != 1 || v.Routable[0].Addr != tA {
			t.Errorf("routable after recovery wrong")
		}
		if !strings.Contains(f.logs.String(), "fail-open ended") {
			t.Errorf("no recovery line")
		}
	})
}

func TestFollowsRegistrations(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := start(t, testCfg(), tA)
		f.be.script(tA, ok)
		f.be.script(tB, ok)
		f.be.script(tC, ok)
		t0 := time.Now()
		f.run(t)
		at(t, t0, 5*time.Second)
		added := f.g.Register([]runtime.TargetSpec{{Addr: tB}})
		synctest.Wait()
		if added[0].State() != runtime.StateHealthy {
			t.Fatalf("target registered later not checked at once: %v", added[0].State())
		}
		f.g.Deregister([]string{tA}, time.Hour)
		synctest.Wait()
		n := f.be.dialCount(tA)
		at(t, t0, 60*time.Second)
		if got := f.be.dialCount(tA); got != n {
			t.Errorf("draining target still checked: %d → %d", n, got)
		}
		if s := f.g.Lookup(tA).State(); s != runtime.StateDraining {
			t.Errorf("checks changed a draining target to %v", s)
		}
		if got := f.be.dialCount(tB); got != 6 {
			t.Errorf("B checked %d times from 5 s to 60 s, want 6", got)
		}
		// Stop ends everything; no check after it.
		f.chk.Stop()
		nb := f.be.dialCount(tB)
		at(t, t0, 120*time.Second)
		if f.be.dialCount(tB) != nb {
			t.Errorf("checks after Stop")
		}
		f.g.Register([]runtime.TargetSpec{{Addr: tC}})
		synctest.Wait()
		if f.be.dialCount(tC) != 0 {
			t.Errorf("a stopped checker checked a new target")
		}
	})
}

func TestDisabledChecks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testCfg()
		cfg.Disabled = true
		f := start(t, cfg, tA)
		f.be.script(tA, ok)
		t0 := time.Now()
		f.run(t)
		at(t, t0, time.Minute)
		if s, r := state(t, f.g, tA); s != runtime.StateUnavailable || r != runtime.ReasonHealthCheckDisabled {
			t.Errorf("%v/%s, want unavailable", s, r)
		}
		if f.be.dialCount(tA) != 0 {
			t.Errorf("disabled checks dialed")
		}
		cfg.Disabled = false
		f.chk.Update(cfg)
		synctest.Wait()
		if s, _ := state(t, f.g, tA); s != runtime.StateHealthy {
			t.Errorf("checks re-enabled: %v, want healthy after one pass", s)
		}
	})
}

func TestTCPCheck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := health.Defaults("TCP")
		cfg.Interval, cfg.Timeout = 10*time.Second, 2*time.Second
		f := start(t, cfg, tA, tB)
		f.be.script(tA, ok)
		f.be.script(tB, ok, refused)
		t0 := time.Now()
		f.run(t)
		at(t, t0, 21*time.Second)
		if s, _ := state(t, f.g, tA); s != runtime.StateHealthy {
			t.Errorf("A: %v", s)
		}
		if s, r := state(t, f.g, tB); s != runtime.StateUnhealthy || r != runtime.ReasonFailedHealthChecks {
			t.Errorf("B: %v/%s", s, r)
		}
		if h := f.be.lastHead(tA); h != "" {
			t.Errorf("a TCP check sent bytes: %q", h)
		}
	})
}

func TestStartStopIdempotent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := start(t, testCfg(), tA)
		f.be.script(tA, ok)
		ctx, cancel := context.WithCancel(t.Context())
		f.chk.Start(ctx)
		f.chk.Start(ctx)
		synctest.Wait()
		f.chk.Stop()
		f.chk.Stop()
		cancel()
		time.Sleep(time.Minute)
		if f.be.dialCount(tA) != 1 {
			t.Errorf("dials %d, want 1", f.be.dialCount(tA))
		}
	})
}

func TestSetDial(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := start(t, testCfg(), tA)
		f.be.script(tA, ok)
		t0 := time.Now()
		f.run(t)
		other := newBackends()
		other.script(tA, e500)
		f.chk.SetDial(other.dial)
		at(t, t0, 21*time.Second)
		if n := other.dialCount(tA); n != 2 {
			t.Errorf("new dial hook used %d times, want 2 (checks at 10 s and 20 s)", n)
		}
		if n := f.be.dialCount(tA); n != 1 {
			t.Errorf("old dial hook used %d times after SetDial", n)
		}
		if s, _ := state(t, f.g, tA); s != runtime.StateUnhealthy {
			t.Errorf("state %v: results of the new hook not applied", s)
		}
	})
}
