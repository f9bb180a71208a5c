package runtime_test

import (
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/runtime"
)

func addrs(ts []*runtime.Target) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.Addr)
	}
	return out
}

func specs(as ...string) []runtime.TargetSpec {
	var out []runtime.TargetSpec
	for _, a := range as {
		out = append(out, runtime.TargetSpec{Addr: a})
	}
	return out
}

func eq(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestStateNames(t *testing.T) {
	want := map[runtime.State]string{
		runtime.StateInitial: "initial", runtime.StateHealthy: "healthy", runtime.StateUnhealthy: "unhealthy",
		runtime.StateDraining: "draining", runtime.StateUnused: "unused", runtime.StateUnavailable: "unavailable",
		runtime.State(-1): "unknown", runtime.State(99): "unknown",
	}
	for s, n := range want {
		if s.String() != n {
			t.Errorf("State(%d).String() = %q, want %q", s, s.String(), n)
		}
	}
}

func TestRegisterStartsInitialAndFailsOpen(t *testing.T) {
	reg := runtime.NewRegistry(newFakeClock())
	g := reg.Group("web")
	if v := g.View(); v == nil || len(v.Routable) != 0 || v.FailOpen {
		t.Fatalf("empty group view = %+v, want empty, not fail-open", v)
	}
	added := g.Register([]runtime.TargetSpec{{Addr: "127.0.0.1:1", Weight: 0}, {Addr: "127.0.0.1:2", Weight: 3}})
	if !eq(addrs(added), []string{"127.0.0.1:1", "127.0.0.1:2"}) {
		t.Fatalf("added = %v", addrs(added))
	}
	if added[0].Weight != 1 || added[1].Weight != 3 {
		t.Errorf("weights = %d,%d, want 1,3 (0 means 1)", added[0].Weight, added[1].Weight)
	}
	for _, tg := range added {
		if tg.State() != runtime.StateInitial || tg.Reason() != runtime.ReasonRegistrationInProgress {
			t.Errorf("%s: %v/%s, want initial/%s", tg.Addr, tg.State(), tg.Reason(), runtime.ReasonRegistrationInProgress)
		}
		if tg.Group != "web" {
			t.Errorf("Group = %q", tg.Group)
		}
	}
	v := g.View()
	if !v.FailOpen || len(v.Routable) != 2 {
		t.Errorf("no healthy target: view FailOpen=%v routable=%v, want fail-open to both", v.FailOpen, addrs(v.Routable))
	}
	if again := g.Register(specs("127.0.0.1:1")); len(again) != 0 {
		t.Errorf("re-registering a registered target added %v", addrs(again))
	}
}

func TestHealthChangesView(t *testing.T) {
	clk := newFakeClock()
	reg := runtime.NewRegistry(clk)
	g := reg.Group("web")
	ts := g.Register(specs("a:1", "b:1", "c:1"))
	ts[0].SetHealth(true, "")
	v := g.View()
	if v.FailOpen || !eq(addrs(v.Routable), []string{"a:1"}) || len(v.Registered) != 3 {
		t.Fatalf("one healthy: routable=%v failOpen=%v", addrs(v.Routable), v.FailOpen)
	}
	if !ts[0].HealthySince().Equal(clk.Now()) || ts[0].Reason() != "" {
		t.Errorf("HealthySince=%v reason=%q", ts[0].HealthySince(), ts[0].Reason())
	}
	ts[1].SetHealth(true, "")
	ts[0].SetHealth(false, runtime.ReasonTimeout)
	v = g.View()
	if !eq(addrs(v.Routable), []string{"b:1"}) {
		t.Fatalf("routable=%v, want b:1", addrs(v.Routable))
	}
	if ts[0].State() != runtime.StateUnhealthy || ts[0].Reason() != runtime.ReasonTimeout || !ts[0].HealthySince().IsZero() {
		t.Errorf("a: %v/%s since %v", ts[0].State(), ts[0].Reason(), ts[0].HealthySince())
	}
	gen := v.Gen
	ts[0].SetHealth(false, runtime.ReasonTimeout) // no change: no new view
	if g.View().Gen != gen {
		t.Errorf("unchanged health rebuilt the view")
	}
	ts[0].SetHealth(false, runtime.ReasonResponseCodeMismatch)
	if ts[0].Reason() != runtime.ReasonResponseCodeMismatch {
		t.Errorf("reason not updated: %s", ts[0].Reason())
	}
	ts[1].SetHealth(false, runtime.ReasonFailedHealthChecks)
	ts[2].SetHealth(false, runtime.ReasonFailedHealthChecks)
	v = g.View()
	if !v.FailOpen || len(v.Routable) != 3 {
		t.Errorf("all unhealthy: failOpen=%v routable=%v, want all three", v.FailOpen, addrs(v.Routable))
	}
	ts[2].SetHealth(true, "")
	if v := g.View(); v.FailOpen || !eq(addrs(v.Routable), []string{"c:1"}) {
		t.Errorf("recovered: failOpen=%v routable=%v", v.FailOpen, addrs(v.Routable))
	}
}

func TestSetInitialReason(t *testing.T) {
	g := runtime.NewRegistry(newFakeClock()).Group("g")
	tg := g.Register(specs("a:1"))[0]
	tg.SetInitialReason(runtime.ReasonInitialHealthChecking)
	if tg.State() != runtime.StateInitial || tg.Reason() != runtime.ReasonInitialHealthChecking {
		t.Errorf("%v/%s", tg.State(), tg.Reason())
	}
	tg.SetHealth(true, "")
	tg.SetInitialReason(runtime.ReasonInitialHealthChecking)
	if tg.State() != runtime.StateHealthy || tg.Reason() != "" {
		t.Errorf("a healthy target changed by SetInitialReason: %v/%s", tg.State(), tg.Reason())
	}
}

func TestDrainingThenUnused(t *testing.T) {
	clk := newFakeClock()
	reg := runtime.NewRegistry(clk)
	g := reg.Group("web")
	ts := g.Register(specs("a:1", "b:1"))
	for _, x := range ts {
		x.SetHealth(true, "")
	}
	b := ts[1]
	b.Acquire()
	dr := g.Deregister([]string{"b:1", "nope:1"}, 300*time.Second)
	if !eq(addrs(dr), []string{"b:1"}) {
		t.Fatalf("drained = %v", addrs(dr))
	}
	if b.State() != runtime.StateDraining || b.Reason() != runtime.ReasonDeregistrationInProgress || !b.Draining() {
		t.Errorf("b: %v/%s", b.State(), b.Reason())
	}
	v := g.View()
	if !eq(addrs(v.Routable), []string{"a:1"}) || !eq(addrs(v.Registered), []string{"a:1"}) {
		t.Errorf("draining target still in view: routable=%v registered=%v", addrs(v.Routable), addrs(v.Registered))
	}
	if len(g.Deregister([]string{"b:1"}, time.Second)) != 0 {
		t.Errorf("deregistering twice started a second drain")
	}
	b.SetHealth(true, "") // a health result must not bring a draining target back
	if b.State() != runtime.StateDraining {
		t.Errorf("SetHealth moved a draining target to %v", b.State())
	}
	// In-flight work finishing early does not end the state before the delay (ALB).
	b.Release()
	clk.Advance(299 * time.Second)
	if b.State() != runtime.StateDraining || g.Lookup("b:1") != b {
		t.Fatalf("before the delay: %v", b.State())
	}
	select {
	case <-b.Drained():
		t.Fatal("Drained closed before the delay")
	default:
	}
	clk.Advance(time.Second)
	if b.State() != runtime.StateUnused || b.Reason() != runtime.ReasonNotRegistered {
		t.Errorf("after the delay: %v/%s, want unused/%s", b.State(), b.Reason(), runtime.ReasonNotRegistered)
	}
	select {
	case <-b.Drained():
	default:
		t.Error("Drained not closed after the delay")
	}
	if g.Lookup("b:1") != nil || len(g.Targets()) != 1 {
		t.Errorf("unused target still listed: %v", addrs(g.Targets()))
	}
}

func TestDeregisterZeroDelay(t *testing.T) {
	clk := newFakeClock()
	g := runtime.NewRegistry(clk).Group("g")
	tg := g.Register(specs("a:1"))[0]
	g.Deregister([]string{"a:1"}, 0)
	clk.Advance(0)
	if tg.State() != runtime.StateUnused {
		t.Errorf("state %v, want unused", tg.State())
	}
	if v := g.View(); len(v.Registered) != 0 || len(v.Routable) != 0 || v.FailOpen {
		t.Errorf("view %+v, want empty", v)
	}
}

func TestReRegisterWhileDraining(t *testing.T) {
	clk := newFakeClock()
	g := runtime.NewRegistry(clk).Group("g")
	old := g.Register(specs("a:1"))[0]
	old.SetHealth(true, "")
	old.Acquire()
	g.Deregister([]string{"a:1"}, 10*time.Second)
	clk.Advance(5 * time.Second)
	added := g.Register(specs("a:1"))
	if len(added) != 1 || added[0] == old {
		t.Fatalf("re-registration did not create a fresh target: %v", added)
	}
	fresh := added[0]
	if fresh.State() != runtime.StateInitial || fresh.InFlight() != 0 {
		t.Errorf("fresh: %v in-flight %d", fresh.State(), fresh.InFlight())
	}
	if g.Lookup("a:1") != fresh {
		t.Errorf("Lookup does not return the fresh target")
	}
	clk.Advance(5 * time.Second) // old timer ends: must not touch the fresh target
	if old.State() != runtime.StateUnused {
		t.Errorf("old: %v, want unused", old.State())
	}
	if fresh.State() != runtime.StateInitial || g.Lookup("a:1") != fresh {
		t.Errorf("old drain timer hit the fresh target: %v", fresh.State())
	}
	if n := g.View().Registered; len(n) != 1 || n[0] != fresh {
		t.Errorf("registered = %v", addrs(n))
	}
	if got := g.Lookup("a:1"); got.InFlight() != 0 || old.InFlight() != 1 {
		t.Errorf("in-flight moved between targets")
	}
}

func TestSyncOnReload(t *testing.T) {
	clk := newFakeClock()
	reg := runtime.NewRegistry(clk)
	g := reg.Group("web")
	g.Sync([]runtime.TargetSpec{{Addr: "a:1"}, {Addr: "b:1"}, {Addr: "c:1"}}, 30*time.Second)
	a, b := g.Lookup("a:1"), g.Lookup("b:1")
	a.SetHealth(true, "")
	b.SetHealth(false, runtime.ReasonTimeout)
	// Reload: c dropped, d added, b's weight changed.
	g.Sync([]runtime.TargetSpec{{Addr: "a:1"}, {Addr: "b:1", Weight: 5}, {Addr: "d:1"}}, 30*time.Second)
	if reg.Group("web") != g || reg.Lookup("web") != g {
		t.Fatal("Group returned a different group for the same name")
	}
	if g.Lookup("a:1") != a || a.State() != runtime.StateHealthy {
		t.Errorf("a lost its state across the reload: %v", a.State())
	}
	nb := g.Lookup("b:1")
	if nb.Weight != 5 || nb.State() != runtime.StateUnhealthy || nb.Reason() != runtime.ReasonTimeout {
		t.Errorf("b after weight change: weight %d %v/%s, want 5 unhealthy/%s", nb.Weight, nb.State(), nb.Reason(), runtime.ReasonTimeout)
	}
	if b.Weight != 1 {
		t.Errorf("old b target mutated")
	}
	if c := g.Lookup("c:1"); c == nil || c.State() != runtime.StateDraining {
		t.Fatalf("c dropped from the file must drain, not vanish: %v", c)
	}
	if d := g.Lookup("d:1"); d == nil || d.State() != runtime.StateInitial {
		t.Errorf("d not registered")
	}
	if got := addrs(g.View().Registered); !eq(got, []string{"a:1", "b:1", "d:1"}) {
		t.Errorf("registered = %v", got)
	}
	if got := addrs(g.View().Routable); !eq(got, []string{"a:1"}) {
		t.Errorf("routable = %v", got)
	}
	clk.Advance(30 * time.Second)
	if g.Lookup("c:1") != nil {
		t.Errorf("c still listed after its delay")
	}
	// The same file again changes nothing.
	gen := g.View().Gen
	g.Sync([]runtime.TargetSpec{{Addr: "a:1"}, {Addr: "b:1", Weight: 5}, {Addr: "d:1"}}, 30*time.Second)
	if g.View().Gen != gen {
		t.Errorf("an unchanged reload rebuilt the view")
	}
	// Registry lists groups by name.
	reg.Group("api")
	gs := reg.Groups()
	if len(gs) != 2 || gs[0].Name != "api" || gs[1].Name != "web" {
		t.Errorf("Groups() order wrong")
	}
	if reg.Lookup("none") != nil {
		t.Errorf("Lookup of an unknown group is not nil")
	}
	if reg.Clock() != runtime.Clock(clk) {
		t.Errorf("Clock() is not the injected clock")
	}
}

func TestChecksDisabled(t *testing.T) {
	g := runtime.NewRegistry(newFakeClock()).Group("g")
	a := g.Register(specs("a:1"))[0]
	g.SetChecksDisabled(true)
	b := g.Register(specs("b:1"))[0]
	for _, x := range []*runtime.Target{a, b} {
		if x.State() != runtime.StateUnavailable || x.Reason() != runtime.ReasonHealthCheckDisabled {
			t.Errorf("%s: %v/%s", x.Addr, x.State(), x.Reason())
		}
	}
	v := g.View()
	if v.FailOpen || len(v.Routable) != 2 {
		t.Errorf("unavailable targets must be routable without fail-open: %+v", v)
	}
	a.SetHealth(false, runtime.ReasonTimeout)
	if a.State() != runtime.StateUnavailable {
		t.Errorf("SetHealth changed a target of a group without checks")
	}
	g.SetChecksDisabled(false)
	if a.State() != runtime.StateInitial || !g.View().FailOpen {
		t.Errorf("re-enabling checks: %v", a.State())
	}
	if g.ChecksDisabled() {
		t.Error("ChecksDisabled still true")
	}
}

func TestWatchOrderAndCancel(t *testing.T) {
	g := runtime.NewRegistry(newFakeClock()).Group("g")
	var mu sync.Mutex
	var gens []uint64
	cancel := g.Watch(func(v *runtime.View) {
		mu.Lock()
		gens = append(gens, v.Gen)
		mu.Unlock()
	})
	// Concurrent changes: every watcher call must see a newer Gen.
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := string(rune('a'+i)) + ":1"
			ts := g.Register(specs(a))
			ts[0].SetHealth(true, "")
			ts[0].SetHealth(false, runtime.ReasonTimeout)
		}()
	}
	wg.Wait()
	mu.Lock()
	got := append([]uint64(nil), gens...)
	mu.Unlock()
	if len(got) < 2 || got[0] != 0 {
		t.Fatalf("watcher calls %v: want the initial view (Gen 0) first", got)
	}
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			t.Fatalf("views out of order: %v", got)
		}
	}
	if last := got[len(got)-1]; last != g.View().Gen {
		t.Errorf("last view delivered %d, current %d", last, g.View().Gen)
	}
	cancel()
	n := len(got)
	g.Register(specs("z:1"))
	mu.Lock()
	defer mu.Unlock()
	if len(gens) != n {
		t.Errorf("watcher called after cancel")
	}
}

func TestSlowStart(t *testing.T) {
	clk := newFakeClock()
	g := runtime.NewRegistry(clk).Group("g")
	const d = 100 * time.Second
	g.SetSlowStart(d)
	a := g.Register(specs("a:1"))[0]
	a.SetHealth(true, "")
	// A single registration into an empty group takes full traffic at once.
	if f := a.SlowStartFactor(clk.Now(), d); f != 1 || a.InSlowStart(clk.Now(), d) {
		t.Fatalf("first target factor %v, want 1", f)
	}
	b := g.Register(specs("b:1"))[0]
	clk.Advance(time.Second)
	b.SetHealth(true, "")
	start := clk.Now()
	for _, c := range []struct {
		at   time.Duration
		want float64
	}{{0, 0}, {25 * time.Second, 0.25}, {50 * time.Second, 0.5}, {99 * time.Second, 0.99}, {d, 1}, {3 * d, 1}} {
		if f := b.SlowStartFactor(start.Add(c.at), d); f < c.want-1e-9 || f > c.want+1e-9 {
			t.Errorf("factor at %v = %v, want %v", c.at, f, c.want)
		}
	}
	if f := a.SlowStartFactor(start.Add(10*time.Second), d); f != 1 {
		t.Errorf("the old target ramps too: %v", f)
	}
	if f := b.SlowStartFactor(start.Add(10*time.Second), 0); f != 1 {
		t.Errorf("d=0 must mean off: %v", f)
	}
	// A third target that turns healthy while b ramps ramps too (a is out of slow start).
	c := g.Register(specs("c:1"))[0]
	clk.Advance(10 * time.Second)
	c.SetHealth(true, "")
	if !c.InSlowStart(clk.Now(), d) {
		t.Errorf("c not in slow start")
	}
	// Unhealthy exits slow start; healthy again re-enters from zero.
	clk.Advance(40 * time.Second)
	b.SetHealth(false, runtime.ReasonTimeout)
	if f := b.SlowStartFactor(clk.Now(), d); f != 1 || b.InSlowStart(clk.Now(), d) {
		t.Errorf("unhealthy target still ramping: %v", f)
	}
	b.SetHealth(true, "")
	if f := b.SlowStartFactor(clk.Now(), d); f != 0 {
		t.Errorf("re-entered slow start at %v, want 0", f)
	}
	// Two targets both ramping, the only non-ramping one leaves: a target
	// that turns healthy now does not ramp (every other healthy one ramps).
	g.Deregister([]string{"a:1"}, time.Hour)
	e := g.Register(specs("e:1"))[0]
	e.SetHealth(true, "")
	if e.InSlowStart(clk.Now(), d) {
		t.Errorf("e ramps though every other healthy target is in slow start")
	}
}

func TestSlowStartEnabledLaterDoesNotRampHealthyTargets(t *testing.T) {
	clk := newFakeClock()
	g := runtime.NewRegistry(clk).Group("g")
	ts := g.Register(specs("a:1", "b:1"))
	ts[0].SetHealth(true, "")
	ts[1].SetHealth(true, "")
	g.SetSlowStart(time.Minute)
	for _, x := range ts {
		if f := x.SlowStartFactor(clk.Now(), time.Minute); f != 1 {
			t.Errorf("%s factor %v after enabling slow start, want 1", x.Addr, f)
		}
	}
}

func TestReportFailureHook(t *testing.T) {
	g := runtime.NewRegistry(newFakeClock()).Group("g")
	a := g.Register(specs("a:1"))[0]
	if n := a.ReportFailure(); n != 1 {
		t.Errorf("first failure count %d", n)
	}
	var seen []*runtime.Target
	g.OnFailure(func(t *runtime.Target) { seen = append(seen, t) })
	a.ReportFailure()
	if len(seen) != 1 || seen[0] != a {
		t.Errorf("hook saw %v", seen)
	}
	if n := a.TakeFailures(); n != 2 {
		t.Errorf("TakeFailures = %d, want 2", n)
	}
	if n := a.TakeFailures(); n != 0 {
		t.Errorf("TakeFailures after take = %d", n)
	}
	g.OnFailure(nil)
	a.ReportFailure()
	if len(seen) != 1 {
		t.Errorf("hook called after removal")
	}
}

func TestViewReadsAreRaceFree(t *testing.T) {
	g := runtime.NewRegistry(nil).Group("g")
	g.Register(specs("a:1", "b:1"))
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			for _, x := range g.View().Routable {
				x.Acquire()
				_ = x.State()
				_ = x.SlowStartFactor(time.Now(), time.Second)
				x.Release()
			}
		}
	}()
	for i := range 200 {
		x := g.Lookup("a:1")
		x.SetHealth(i%2 == 0, runtime.ReasonTimeout)
	}
	close(done)
	wg.Wait()
}

func TestAcquireReleaseAllocFree(t *testing.T) {
	g := runtime.NewRegistry(nil).Group("g")
	x := g.Register(specs("a:1"))[0]
	now := time.Now()
	if n := testing.AllocsPerRun(1000, func() {
		x.Acquire()
		_ = x.SlowStartFactor(now, time.Minute)
		x.Release()
		_ = g.View().Routable
	}); n != 0 {
		t.Errorf("hot path allocates %v per run", n)
	}
}

func TestDescribe(t *testing.T) {
	clk := newFakeClock()
	g := runtime.NewRegistry(clk).Group("web")
	ts := g.Register([]runtime.TargetSpec{{Addr: "a:1"}, {Addr: "b:1", Weight: 2}, {Addr: "c:1"}})
	ts[0].SetHealth(true, "")
	ts[0].Acquire()
	ts[1].SetHealth(false, runtime.ReasonTimeout)
	g.Deregister([]string{"c:1"}, time.Minute)
	got := g.Describe()
	want := []runtime.TargetHealth{
		{ID: "a:1", State: "healthy", InFlight: 1, Weight: 1},
		{ID: "b:1", State: "unhealthy", Reason: "Target.Timeout", Weight: 2},
		{ID: "c:1", State: "draining", Reason: "Target.DeregistrationInProgress", Weight: 1},
	}
	if len(got) != len(want) {
		t.Fatalf("Describe = %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("target %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

func BenchmarkPickPath(b *testing.B) {
	g := runtime.NewRegistry(nil).Group("g")
	ts := g.Register(specs("a:1", "b:1", "c:1"))
	for _, x := range ts {
		x.SetHealth(true, "")
	}
	now := time.Now()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		v := g.View()
		x := v.Routable[i%len(v.Routable)]
		_ = x.SlowStartFactor(now, time.Minute)
		x.Acquire()
		x.Release()
		i++
	}
}

// A reload with 1000 targets (SPEC §6: a reload with 1000 rules and 1000
// targets compiles in under 100 ms): Sync of an unchanged set, and of a
// set where every weight changed.
func BenchmarkSync1000(b *testing.B) {
	g := runtime.NewRegistry(newFakeClock()).Group("g")
	same := make([]runtime.TargetSpec, 1000)
	heavier := make([]runtime.TargetSpec, 1000)
	for i := range same {
		a := "127.0.0.1:" + string(rune('0'+i/1000)) + string(rune('0'+i/100%10)) + string(rune('0'+i/10%10)) + string(rune('0'+i%10))
		same[i] = runtime.TargetSpec{Addr: a, Weight: 1}
		heavier[i] = runtime.TargetSpec{Addr: a, Weight: 2}
	}
	g.Sync(same, time.Minute)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i%2 == 0 {
			g.Sync(heavier, time.Minute)
		} else {
			g.Sync(same, time.Minute)
		}
		i++
	}
}
