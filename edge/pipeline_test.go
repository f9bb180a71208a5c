package edge

import (
	"testing"
	"time"

	"github.com/switchyard/switchyard/cache"
	"github.com/switchyard/switchyard/geo"
	"github.com/switchyard/switchyard/geo/geotest"
)

// TestRequestClock: with the real clock a request reads it once (its
// start, fasthttp's request time) for freshness and a hit's Age; with an
// injected clock (tests, Options.Now) every reading goes to that clock.
func TestRequestClock(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	injected := start.Add(time.Hour)
	wall := &request{e: &Edge{now: time.Now, realClock: true}, start: start}
	if got := wall.now(); !got.Equal(start) {
		t.Errorf("real clock: now() = %v, want the request's start %v", got, start)
	}
	fake := &request{e: &Edge{now: func() time.Time { return injected }}, start: start}
	if got := fake.now(); !got.Equal(injected) {
		t.Errorf("injected clock: now() = %v, want %v", got, injected)
	}
	store, err := cache.NewStore(cache.StoreOptions(1<<20, 0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	dbPath, err := geotest.WriteFile(t.TempDir(), geotest.CountryCode, map[string]string{"127.0.0.0/8": "US"})
	if err != nil {
		t.Fatal(err)
	}
	db, err := geo.Open(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(Options{Store: store, Geo: db})
	if err != nil {
		t.Fatal(err)
	}
	if !e.realClock {
		t.Error("New without Options.Now: realClock = false")
	}
}
