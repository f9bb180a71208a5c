package runtime_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/switchyard/switchyard/internal/runtime"
)

func TestDrainerWaitsForInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := runtime.NewRegistry(nil)
		g := reg.Group("web")
		ts := g.Register(specs("a:1", "b:1"))
		d := runtime.NewDrainer(reg)
		if d.Draining() {
			t.Fatal("draining before Begin")
		}
		ts[0].Acquire()
		ts[0].Acquire()
		ts[1].Acquire()
		d.Track() // a hijacked connection
		if n := d.InFlight(); n != 4 {
			t.Fatalf("InFlight = %d, want 4", n)
		}
		// Each piece of work ends at its own time.
		go func() { time.Sleep(1 * time.Second); ts[0].Release() }()
		go func() { time.Sleep(2 * time.Second); ts[1].Release() }()
		go func() { time.Sleep(3 * time.Second); d.Untrack() }()
		go func() { time.Sleep(4 * time.Second); ts[0].Release() }()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		start := time.Now()
		if err := d.Wait(ctx); err != nil {
			t.Fatalf("Wait: %v", err)
		}
		if el := time.Since(start); el != 4*time.Second {
			t.Errorf("Wait returned after %v, want exactly 4s (when the last work ended)", el)
		}
		if !d.Draining() {
			t.Error("Wait did not Begin the drain")
		}
		select {
		case <-d.Begun():
		default:
			t.Error("Begun not closed")
		}
	})
}

func TestDrainerDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := runtime.NewRegistry(nil)
		x := reg.Group("web").Register(specs("a:1"))[0]
		x.Acquire()
		d := runtime.NewDrainer(reg)
		d.Begin()
		d.Begin() // idempotent
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		start := time.Now()
		err := d.Wait(ctx)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Wait = %v, want deadline exceeded", err)
		}
		if el := time.Since(start); el != 30*time.Second {
			t.Errorf("gave up after %v, want 30s", el)
		}
		if want := "runtime: drain: 1 in flight at deadline: context deadline exceeded"; err.Error() != want {
			t.Errorf("error %q, want %q", err, want)
		}
	})
}

func TestWaitIdleCountsRetiredTargets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := runtime.NewRegistry(nil)
		g := reg.Group("web")
		old := g.Register(specs("a:1"))[0]
		old.Acquire()
		g.Deregister([]string{"a:1"}, time.Second)
		time.Sleep(2 * time.Second) // drain delay ends: old leaves the group with work in flight
		synctest.Wait()
		if old.State() != runtime.StateUnused || g.Lookup("a:1") != nil {
			t.Fatalf("old: %v", old.State())
		}
		if n := reg.InFlight(); n != 1 {
			t.Fatalf("InFlight = %d, want the retired target's 1", n)
		}
		go func() { time.Sleep(5 * time.Second); old.Release() }()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		start := time.Now()
		if err := reg.WaitIdle(ctx); err != nil {
			t.Fatal(err)
		}
		if el := time.Since(start); el != 5*time.Second {
			t.Errorf("WaitIdle returned after %v, want 5s", el)
		}
	})
}

func TestWaitIdleWithNothingInFlight(t *testing.T) {
	reg := runtime.NewRegistry(nil)
	reg.Group("g").Register(specs("a:1"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := reg.WaitIdle(ctx); err != nil {
		t.Errorf("idle registry: %v", err)
	}
}
