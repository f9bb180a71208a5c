package l7

import (
	"testing"
	"time"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/internal/runtime"
)

// slowStartGroup registers addrs in a health-checked group with a slow
// start of d, on an injected clock, and compiles it (round robin).
func slowStartGroup(t *testing.T, d time.Duration, addrs ...string) (*fakeClock, *runtime.Group, *TargetGroup) {
	t.Helper()
	clk := &fakeClock{now: time.Unix(1_000_000, 0)}
	g := runtime.NewRegistry(clk).Group("g")
	var specs []runtime.TargetSpec
	for _, a := range addrs {
		specs = append(specs, runtime.TargetSpec{Addr: a})
	}
	g.Register(specs)
	tg, err := NewTargetGroup(config.TargetGroup{Name: "g", SlowStart: config.Duration(d)}, g, NewTransport(TransportOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	tg.now = clk.Now
	return clk, g, tg
}

// shareOf is the fraction of n picks that go to addr.
func shareOf(tg *TargetGroup, addr string, n int) float64 {
	hit := 0
	for range n {
		if tgt, err := tg.Pick(nil); err == nil && tgt.Addr == addr {
			hit++
		}
	}
	return float64(hit) / float64(n)
}

// TestSlowStartSecondTargetRampsBesideLoneFirst: the first target of a group
// takes full traffic at once (nobody else to carry it), but a second target
// that turns healthy while the first is healthy and not in slow start must
// ramp, even when the first turned healthy only a moment ago (AWS: "a
// target is in slow start mode only if there is at least one healthy
// target not in slow start").
func TestSlowStartSecondTargetRampsBesideLoneFirst(t *testing.T) {
	clk, g, tg := slowStartGroup(t, 100*time.Second, "127.0.0.1:1", "127.0.0.1:2")
	first, second := g.Lookup("127.0.0.1:1"), g.Lookup("127.0.0.1:2")
	first.SetHealth(true, "")
	if first.InSlowStart(clk.Now(), 100*time.Second) {
		t.Fatal("a lone first target entered slow start")
	}
	if s := shareOf(tg, first.Addr, 200); s != 1 {
		t.Fatalf("lone first target's share %.2f, want 1", s)
	}
	clk.Add(time.Second)
	second.SetHealth(true, "")
	if s := shareOf(tg, second.Addr, 4000); s > 0.1 {
		t.Fatalf("second target's share right after turning healthy %.2f, want ~0 (it ramps)", s)
	}
	if s := shareOf(tg, first.Addr, 4000); s < 0.9 {
		t.Fatalf("first target's share %.2f while the second ramps, want ~1", s)
	}
}

// TestSlowStartUnhealthyTargetsDoNotCount: a registered but unhealthy target
// is not "a healthy target not in slow start", so the first target to turn
// healthy beside it takes full traffic at once; the next one ramps beside
// that one.
func TestSlowStartUnhealthyTargetsDoNotCount(t *testing.T) {
	clk, g, tg := slowStartGroup(t, 100*time.Second, "127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3")
	down, b, c := g.Lookup("127.0.0.1:1"), g.Lookup("127.0.0.1:2"), g.Lookup("127.0.0.1:3")
	down.SetHealth(false, runtime.ReasonFailedHealthChecks)
	b.SetHealth(true, "")
	if f := b.SlowStartFactor(clk.Now(), 100*time.Second); f != 1 {
		t.Fatalf("first healthy target beside an unhealthy one has factor %.2f, want 1", f)
	}
	clk.Add(5 * time.Second)
	c.SetHealth(true, "")
	if s := shareOf(tg, b.Addr, 4000); s < 0.9 {
		t.Fatalf("b's share %.2f, want ~1: it is not in slow start, c is", s)
	}
	if s := shareOf(tg, down.Addr, 400); s != 0 {
		t.Fatalf("unhealthy target got %.2f of picks", s)
	}
}

// TestSlowStartLinearRamp: the new target's share follows its slow-start
// factor from ~0 to an even split over the window, on the injected clock.
func TestSlowStartLinearRamp(t *testing.T) {
	const d = 200 * time.Second
	clk, g, tg := slowStartGroup(t, d, "127.0.0.1:1", "127.0.0.1:2")
	old, fresh := g.Lookup("127.0.0.1:1"), g.Lookup("127.0.0.1:2")
	old.SetHealth(true, "")
	clk.Add(time.Hour)
	fresh.SetHealth(true, "")
	prev := -1.0
	for _, step := range []struct {
		at       time.Duration
		factor   float64
		min, max float64
	}{
		{0, 0, 0, 0.1},
		{d / 4, 0.25, 0.12, 0.35},
		{d * 3 / 4, 0.75, 0.35, 0.5},
		{d + time.Second, 1, 0.45, 0.55},
	} {
		clk.mu.Lock()
		clk.now = time.Unix(1_000_000, 0).Add(time.Hour + step.at)
		clk.mu.Unlock()
		if f := fresh.SlowStartFactor(clk.Now(), d); f < step.factor-1e-9 || f > step.factor+1e-9 {
			t.Fatalf("at %v factor %.3f, want %.2f", step.at, f, step.factor)
		}
		s := shareOf(tg, fresh.Addr, 4000)
		if s < step.min || s > step.max || s < prev {
			t.Fatalf("at %v share %.3f, want in [%.2f, %.2f] and ≥ %.3f", step.at, s, step.min, step.max, prev)
		}
		prev = s
	}
}

// TestSlowStartPickAllocs: picking while a target ramps allocates nothing.
func TestSlowStartPickAllocs(t *testing.T) {
	clk, g, tg := slowStartGroup(t, time.Minute, "127.0.0.1:1", "127.0.0.1:2")
	g.Lookup("127.0.0.1:1").SetHealth(true, "")
	clk.Add(time.Hour)
	g.Lookup("127.0.0.1:2").SetHealth(true, "")
	clk.Add(30 * time.Second)
	v := &RequestView{}
	if allocs := testing.AllocsPerRun(1000, func() { _, _ = tg.Pick(v) }); allocs != 0 {
		t.Fatalf("Pick in slow start: %v allocs, want 0", allocs)
	}
}
