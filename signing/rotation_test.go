package signing

import (
	"crypto"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Key rotation the CloudFront way (add the new key to the group, switch the
// signer, drop the old key) with a Verifier per config snapshot swapped
// under concurrent requests: no request fails while its key is in the
// group, and the old key stops working once it is removed.
func TestKeyRotationUnderLoad(t *testing.T) {
	oldKey, newKey := rsaKey(t), ecKey(t)
	clk := &testClock{t0}
	build := func(keys map[string]crypto.Signer) *Trusted { return trusted(t, clk, keys) }
	sign := func(id string, k crypto.Signer) *Request {
		s, err := NewURLSigner(id, k)
		if err != nil {
			t.Fatal(err)
		}
		u, err := s.Sign("https://h.test/v.mp4", t0.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return requestFor(t, u)
	}
	oldURL, newURL := sign("KOLD", oldKey), sign("KNEW", newKey)

	var current atomic.Pointer[Trusted]
	current.Store(build(map[string]crypto.Signer{"KOLD": oldKey}))
	// Phase: which URL the signer hands out (0 old, 1 new).
	var signerPhase atomic.Int32
	var failures atomic.Int64
	var checks [4]atomic.Int64 // per worker, so the test can wait for every one to move on
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1_000_000; i++ { // bounded; stop ends it long before
				select {
				case <-stop:
					return
				default:
				}
				// A request takes the snapshot at its start; the URL it
				// carries was handed out no later than that.
				snap := current.Load()
				r := oldURL
				if signerPhase.Load() == 1 {
					r = newURL
				}
				if _, err := snap.Verify(r); err != nil {
					failures.Add(1)
				}
				checks[w].Add(1)
			}
		}()
	}
	// waitChecks returns once every worker has finished n requests that
	// started after the call: nothing of the previous phase is in flight.
	waitChecks := func(n int64) {
		var start [len(checks)]int64
		for i := range checks {
			start[i] = checks[i].Load()
		}
		deadline := time.Now().Add(10 * time.Second)
		for i := range checks {
			for checks[i].Load() < start[i]+n+1 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond) // yields to the workers; the counters do the synchronising
			}
		}
		if time.Now().After(deadline) {
			t.Error("workers made no progress")
		}
	}
	waitChecks(50)
	current.Store(build(map[string]crypto.Signer{"KOLD": oldKey, "KNEW": newKey})) // reload: add the new key
	waitChecks(50)
	signerPhase.Store(1) // the signer switches
	waitChecks(50)
	current.Store(build(map[string]crypto.Signer{"KNEW": newKey})) // reload: drop the old key
	waitChecks(50)
	close(stop)
	wg.Wait()
	if f := failures.Load(); f != 0 {
		t.Fatalf("%d requests failed during rotation", f)
	}
	_, err := current.Load().Verify(oldURL)
	wantCode(t, err, InvalidKey)
}
