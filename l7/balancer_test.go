package l7

import (
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/internal/runtime"
)

func newTestGroup(t testing.TB, algo string, specs ...runtime.TargetSpec) (*TargetGroup, *runtime.Group) {
	t.Helper()
	reg := runtime.NewRegistry(nil)
	g := reg.Group("g")
	g.SetChecksDisabled(true)
	g.Register(specs)
	tg, err := NewTargetGroup(config.TargetGroup{Name: "g", Protocol: "HTTP", Algorithm: algo}, g, NewTransport(TransportOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	return tg, g
}

func TestRoundRobinCyclesTargets(t *testing.T) {
	tg, _ := newTestGroup(t, "round_robin", runtime.TargetSpec{Addr: "127.0.0.1:1"}, runtime.TargetSpec{Addr: "127.0.0.1:2"}, runtime.TargetSpec{Addr: "127.0.0.1:3"})
	counts := map[string]int{}
	for i := 0; i < 300; i++ {
		tgt, err := tg.Pick(nil)
		if err != nil {
			t.Fatal(err)
		}
		counts[tgt.Addr]++
	}
	for a, n := range counts {
		if n != 100 {
			t.Fatalf("%s picked %d times of 300: %v", a, n, counts)
		}
	}
}

func TestLeastOutstandingPrefersIdle(t *testing.T) {
	tg, g := newTestGroup(t, "least_outstanding_requests", runtime.TargetSpec{Addr: "127.0.0.1:1"}, runtime.TargetSpec{Addr: "127.0.0.1:2"})
	busy := g.Lookup("127.0.0.1:1")
	busy.Acquire()
	busy.Acquire()
	defer busy.Release()
	defer busy.Release()
	for i := 0; i < 50; i++ {
		tgt, _ := tg.Pick(nil)
		if tgt.Addr != "127.0.0.1:2" {
			t.Fatalf("picked the busy target on try %d", i)
		}
	}
}

func TestWeightedRandomFollowsTargetWeights(t *testing.T) {
	tg, _ := newTestGroup(t, "weighted_random", runtime.TargetSpec{Addr: "127.0.0.1:1", Weight: 1}, runtime.TargetSpec{Addr: "127.0.0.1:2", Weight: 3})
	counts := map[string]int{}
	const n = 40000
	for i := 0; i < n; i++ {
		tgt, _ := tg.Pick(nil)
		counts[tgt.Addr]++
	}
	if got := float64(counts["127.0.0.1:2"]) / n; got < 0.72 || got > 0.78 {
		t.Fatalf("weight 3 of 4 got %.3f", got)
	}
}

func TestPickFollowsRegistryChanges(t *testing.T) {
	tg, g := newTestGroup(t, "round_robin")
	if _, err := tg.Pick(nil); err != ErrNoHealthyTarget {
		t.Fatalf("empty group: %v", err)
	}
	g.Register([]runtime.TargetSpec{{Addr: "127.0.0.1:7"}})
	if tgt, err := tg.Pick(nil); err != nil || tgt.Addr != "127.0.0.1:7" {
		t.Fatalf("after register: %v %v", tgt, err)
	}
	g.Deregister([]string{"127.0.0.1:7"}, 0)
	if _, err := tg.Pick(nil); err != ErrNoHealthyTarget {
		t.Fatalf("after deregister: %v", err)
	}
}

func TestPickAllocatesNothing(t *testing.T) {
	for _, algo := range []string{"round_robin", "least_outstanding_requests", "weighted_random"} {
		tg, _ := newTestGroup(t, algo, runtime.TargetSpec{Addr: "127.0.0.1:1", Weight: 2}, runtime.TargetSpec{Addr: "127.0.0.1:2"}, runtime.TargetSpec{Addr: "127.0.0.1:3"})
		v := &RequestView{}
		tg.Pick(v) // builds the backend set once
		allocs := testing.AllocsPerRun(1000, func() {
			if _, err := tg.Pick(v); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: Pick allocates %.1f", algo, allocs)
		}
	}
}

func BenchmarkPick(b *testing.B) {
	for _, algo := range []string{"round_robin", "least_outstanding_requests", "weighted_random"} {
		b.Run(algo, func(b *testing.B) {
			tg, _ := newTestGroup(b, algo, runtime.TargetSpec{Addr: "127.0.0.1:1"}, runtime.TargetSpec{Addr: "127.0.0.1:2"}, runtime.TargetSpec{Addr: "127.0.0.1:3"})
			v := &RequestView{}
			b.ReportAllocs()
			for b.Loop() {
				tg.Pick(v)
			}
		})
	}
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}
func (c *fakeClock) AfterFunc(d time.Duration, f func()) runtime.Stopper {
	return time.AfterFunc(time.Hour, f)
}

func TestSlowStartRampsNewTarget(t *testing.T) {
	clk := &fakeClock{now: time.Unix(1_000_000, 0)}
	reg := runtime.NewRegistry(clk)
	g := reg.Group("g")
	g.Register([]runtime.TargetSpec{{Addr: "127.0.0.1:1"}, {Addr: "127.0.0.1:2"}})
	old := g.Lookup("127.0.0.1:1")
	old.SetHealth(true, "")
	clk.Add(time.Hour) // the first target is long past any slow start
	tg, err := NewTargetGroup(config.TargetGroup{Name: "g", SlowStart: config.Duration(100 * time.Second)}, g, NewTransport(TransportOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	tg.now = clk.Now
	g.Lookup("127.0.0.1:2").SetHealth(true, "") // becomes healthy now: ramps
	share := func() float64 {
		n := 0
		for i := 0; i < 4000; i++ {
			if tgt, _ := tg.Pick(nil); tgt.Addr == "127.0.0.1:2" {
				n++
			}
		}
		return float64(n) / 4000
	}
	s0 := share()
	clk.Add(50 * time.Second)
	s50 := share()
	clk.Add(60 * time.Second)
	s110 := share()
	if !(s0 < 0.1 && s50 > 0.2 && s50 < 0.45 && s110 > 0.45 && s110 < 0.55) {
		t.Fatalf("new target's share at 0s %.2f, 50s %.2f, 110s %.2f; want ~0, between, ~0.5", s0, s50, s110)
	}
	if _, err := NewTargetGroup(config.TargetGroup{Name: "g", Algorithm: "least_outstanding_requests", SlowStart: config.Duration(time.Minute)}, g, NewTransport(TransportOptions{})); err == nil {
		t.Fatal("slow start with least_outstanding_requests accepted")
	}
}
