package cache

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

type collapseResult struct {
	e      *Entry
	shared bool
	err    error
}

// runConcurrent starts n callers of Do for one key, lets them all queue
// behind a fetch held at gate, then opens the gate.
func runConcurrent(t *testing.T, c *Coalescer, n int, fetch FetchFunc, gate chan struct{}) []collapseResult {
	t.Helper()
	res := make([]collapseResult, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			e, shared, err := c.Do(context.Background(), []byte("k"), fetch)
			res[i] = collapseResult{e, shared, err}
		})
	}
	synctest.Wait() // every caller is now blocked: one fetch, n-1 waiters
	if w := c.Waiting([]byte("k")); w != n-1 {
		t.Errorf("waiting = %d, want %d", w, n-1)
	}
	close(gate)
	wg.Wait()
	return res
}

func TestCoalesce100MissesOneFetch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var c Coalescer
		var fetches atomic.Int32
		gate := make(chan struct{})
		want := &Entry{Status: 200, Body: []byte("shared")}
		fetch := func(ctx context.Context) (*Entry, bool, error) {
			fetches.Add(1)
			<-gate
			return want, true, nil
		}
		res := runConcurrent(t, &c, 100, fetch, gate)
		if n := fetches.Load(); n != 1 {
			t.Errorf("origin fetches = %d, want 1", n)
		}
		shared := 0
		for _, r := range res {
			if r.err != nil || r.e != want {
				t.Fatalf("result %+v", r)
			}
			if r.shared {
				shared++
			}
		}
		if shared != 99 {
			t.Errorf("shared = %d, want 99", shared)
		}
		if c.InFlight() != 0 {
			t.Error("call not cleaned up")
		}
	})
}

func TestCoalesceUncacheableAnswerRefetchedIndividually(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var c Coalescer
		var fetches atomic.Int32
		gate := make(chan struct{})
		fetch := func(ctx context.Context) (*Entry, bool, error) {
			n := fetches.Add(1)
			<-gate
			return &Entry{Status: 200, Body: []byte{byte(n)}}, false, nil // Cache-Control: private
		}
		res := runConcurrent(t, &c, 100, fetch, gate)
		if n := fetches.Load(); n != 100 {
			t.Errorf("origin fetches = %d, want 100", n)
		}
		seen := map[byte]bool{}
		for _, r := range res {
			if r.err != nil || r.shared {
				t.Fatalf("result %+v", r)
			}
			seen[r.e.Body[0]] = true
		}
		if len(seen) != 100 {
			t.Errorf("distinct private answers = %d, want 100", len(seen))
		}
	})
}

// A waiter whose viewer gives up stops waiting at once; the fetch goes on
// for the others, even when the viewer that started it leaves.
func TestCoalesceContextAware(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var c Coalescer
		gate := make(chan struct{})
		var fetchCancelled atomic.Bool
		fetch := func(ctx context.Context) (*Entry, bool, error) {
			<-gate
			fetchCancelled.Store(ctx.Err() != nil)
			return &Entry{Status: 200}, true, nil
		}
		leaderCtx, cancelLeader := context.WithCancel(context.Background())
		waiterCtx, cancelWaiter := context.WithCancel(context.Background())
		errs := make(chan error, 3)
		go func() { _, _, err := c.Do(leaderCtx, []byte("k"), fetch); errs <- err }()
		synctest.Wait()
		go func() { _, _, err := c.Do(waiterCtx, []byte("k"), fetch); errs <- err }()
		var stayed collapseResult
		done := make(chan struct{})
		go func() {
			defer close(done)
			e, shared, err := c.Do(context.Background(), []byte("k"), fetch)
			stayed = collapseResult{e, shared, err}
		}()
		synctest.Wait()

		cancelWaiter()
		if err := <-errs; !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled waiter: %v", err)
		}
		cancelLeader()
		if err := <-errs; !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled leader: %v", err)
		}
		close(gate)
		<-done
		if stayed.err != nil || !stayed.shared || stayed.e == nil {
			t.Errorf("remaining waiter got %+v", stayed)
		}
		if fetchCancelled.Load() {
			t.Error("the fetch context was cancelled by a leaving viewer")
		}
	})
}

func TestCoalesceMaxWaitFetchesIndividually(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := Coalescer{MaxWait: 5 * time.Second}
		gate := make(chan struct{})
		var fetches atomic.Int32
		fetch := func(ctx context.Context) (*Entry, bool, error) {
			if fetches.Add(1) == 1 {
				<-gate // the first fetch hangs
			}
			return &Entry{Status: 200}, true, nil
		}
		go c.Do(context.Background(), []byte("k"), fetch)
		synctest.Wait()
		start := time.Now()
		e, shared, err := c.Do(context.Background(), []byte("k"), fetch)
		if err != nil || shared || e == nil {
			t.Errorf("waiter after MaxWait: %v %v %v", e, shared, err)
		}
		if waited := time.Since(start); waited != 5*time.Second {
			t.Errorf("waited %v, want 5s", waited)
		}
		close(gate)
		synctest.Wait()
		if fetches.Load() != 2 {
			t.Errorf("fetches = %d, want 2", fetches.Load())
		}
	})
}

func TestCoalesceErrorsAndPanics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var c Coalescer
		boom := errors.New("origin down")
		gate := make(chan struct{})
		var fetches atomic.Int32
		res := runConcurrent(t, &c, 10, func(ctx context.Context) (*Entry, bool, error) {
			fetches.Add(1)
			<-gate
			return nil, true, boom
		}, gate)
		for _, r := range res {
			if !errors.Is(r.err, boom) {
				t.Errorf("err = %v", r.err)
			}
		}
		if fetches.Load() != 1 {
			t.Errorf("a shared error must not fan out: %d fetches", fetches.Load())
		}
		_, _, err := c.Do(context.Background(), []byte("p"), func(ctx context.Context) (*Entry, bool, error) { panic("bug") })
		if err == nil {
			t.Error("panic in fetch not turned into an error")
		}
		// Different keys are never collapsed.
		var n atomic.Int32
		f := func(ctx context.Context) (*Entry, bool, error) { n.Add(1); return &Entry{}, true, nil }
		c.Do(context.Background(), []byte("a"), f)
		c.Do(context.Background(), []byte("b"), f)
		if n.Load() != 2 {
			t.Errorf("fetches for two keys = %d", n.Load())
		}
	})
}
