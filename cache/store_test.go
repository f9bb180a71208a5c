package cache

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func newStore(t *testing.T, o Options) *Store {
	t.Helper()
	s, err := NewStore(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// entry builds a stored-shape entry answered now with the given
// Cache-Control, as the edge would after an origin fetch.
func entry(t *testing.T, p *TTLPolicy, now time.Time, status int, cc string, body string, extra ...Field) *Entry {
	t.Helper()
	hdr := append([]Field{{"Content-Type", "text/plain"}}, extra...)
	if cc != "" {
		hdr = append(hdr, Field{"Cache-Control", cc})
	}
	resp := Fields(hdr).Response(status)
	d := Decide(p, &resp, now)
	return NewEntry(EntryInput{Status: status, Header: hdr, Body: []byte(body), Decision: d, RequestTime: now, ResponseTime: now})
}

func mustKey(dist, path string) []byte {
	k, _ := (&KeyPolicy{}).AppendKey(nil, dist, &Request{Method: "GET", Path: []byte(path)})
	return k
}

// Story: an answer with max-age=60 is a hit for a minute, stale afterwards,
// and a 304 from the origin refreshes it.
func TestStoreFreshStaleRefresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newStore(t, Options{MaxSize: 1 << 20})
		p := DefaultTTLPolicy()
		k := mustKey("site", "/page")

		if _, st := s.Get(k); st != Miss {
			t.Fatalf("empty store: %v", st)
		}
		e := entry(t, &p, time.Now(), 200, "max-age=60", "v1", Field{"ETag", `"v1"`}, Field{"Last-Modified", "Sun, 06 Nov 1994 08:49:37 GMT"})
		if !s.Set(k, e) {
			t.Fatal("Set refused")
		}
		s.Wait()

		got, st := s.Get(k)
		if st != Fresh || string(got.Body) != "v1" {
			t.Fatalf("after Set: %v %v", st, got)
		}
		time.Sleep(59 * time.Second)
		if _, st := s.Get(k); st != Fresh {
			t.Fatalf("at 59s: %v", st)
		}
		if got.AgeSeconds(time.Now()) != 59 {
			t.Errorf("Age = %d", got.AgeSeconds(time.Now()))
		}
		time.Sleep(time.Second)
		got, st = s.Get(k)
		if st != Stale || got == nil {
			t.Fatalf("at 60s: %v", st)
		}
		inm, ims := got.Validators()
		if inm != `"v1"` || ims != "Sun, 06 Nov 1994 08:49:37 GMT" {
			t.Errorf("validators %q %q", inm, ims)
		}
		// The origin answers 304 with a new max-age.
		req := time.Now()
		time.Sleep(100 * time.Millisecond)
		fresh, d := got.Refresh(&p, []Field{{"Cache-Control", "max-age=120"}, {"X-New", "1"}}, req, time.Now())
		if !d.Store || d.TTL != 2*time.Minute {
			t.Fatalf("refresh decision %+v", d)
		}
		if string(fresh.Body) != "v1" || fresh.Header[len(fresh.Header)-1].Value != "1" {
			t.Errorf("refreshed entry %+v", fresh)
		}
		if cc, _ := Fields(fresh.Header).Get("Cache-Control"); cc != "max-age=120" {
			t.Errorf("Cache-Control after refresh = %q", cc)
		}
		if !s.Set(k, fresh) {
			t.Fatal("Set refreshed refused")
		}
		s.Wait()
		got, st = s.Get(k)
		if st != Fresh || got != fresh {
			t.Fatalf("after refresh: %v", st)
		}
		if age := got.AgeSeconds(time.Now()); age != 0 {
			t.Errorf("age after refresh = %d, want 0 (fetch took 100ms)", age)
		}
		st2 := s.Stats()
		if st2.Hits != 3 || st2.Misses != 2 || st2.Objects != 1 || st2.Bytes <= 0 {
			t.Errorf("stats %+v", st2)
		}
	})
}

func TestStoreRefusals(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newStore(t, Options{MaxSize: 1 << 20, MaxObjectSize: 4096})
		p := DefaultTTLPolicy()
		now := time.Now()
		if s.Set(mustKey("d", "/private"), entry(t, &p, now, 200, "private", "x")) {
			t.Error("private answer stored")
		}
		if s.Set(mustKey("d", "/big"), entry(t, &p, now, 200, "max-age=60", string(make([]byte, 5000)))) {
			t.Error("object over max_object_size stored")
		}
		if s.Stats().Rejected != 1 {
			t.Errorf("rejected = %d", s.Stats().Rejected)
		}
		if s.Set(mustKey("d", "/short"), entry(t, &p, now, 200, "max-age=60", "abc", Field{"Content-Length", "10"})) {
			t.Error("truncated answer stored")
		}
		if s.Set(mustKey("d", "/head"), entry(t, &p, now, 200, "max-age=60", "", Field{"Content-Length", "5"})) {
			t.Error("HEAD answer stored under the GET key")
		}
		if s.Stats().Truncated != 2 {
			t.Errorf("truncated = %d", s.Stats().Truncated)
		}
		if !s.Set(mustKey("d", "/exact"), entry(t, &p, now, 200, "max-age=60", "abc", Field{"Content-Length", "3"})) {
			t.Error("complete answer refused")
		}
		e := entry(t, &p, now, 200, "max-age=60", "x")
		if !s.Set(mustKey("d", "/a"), e) || s.Set(mustKey("d", "/b"), e) {
			t.Error("an entry may be stored once")
		}
		if _, err := NewStore(Options{MaxSize: 10, MaxObjectSize: 11}); err == nil {
			t.Error("max_object_size > max_size accepted")
		}
		if _, err := NewStore(Options{}); err == nil {
			t.Error("max_size 0 accepted")
		}
	})
}

// Ristretto keys by hash only; an entry reached through a colliding hash
// must be a miss because the full key is compared.
func TestStoreComparesFullKey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newStore(t, Options{MaxSize: 1 << 20})
		p := DefaultTTLPolicy()
		a, b := mustKey("d", "/a"), mustKey("d", "/b")
		e := entry(t, &p, time.Now(), 200, "max-age=60", "secret for /a")
		if !s.Set(a, e) {
			t.Fatal("Set refused")
		}
		// Simulate a hash collision: b's slot holds a's entry.
		s.c.Set(b, e, e.cost)
		s.Wait()
		if got, st := s.Get(a); st != Fresh || got != e {
			t.Fatalf("Get(a) = %v", st)
		}
		if got, st := s.Get(b); st != Miss || got != nil {
			t.Fatalf("Get(b) served a's entry: %v", st)
		}
	})
}

func TestStoreGetHitAllocatesNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newStore(t, Options{MaxSize: 1 << 20})
		p := DefaultTTLPolicy()
		k := mustKey("d", "/a")
		s.Set(k, entry(t, &p, time.Now(), 200, "max-age=60", "x"))
		s.Wait()
		if err := s.Invalidate("d", []string{"/other", "/x/*"}); err != nil {
			t.Fatal(err)
		}
		allocs := testing.AllocsPerRun(1000, func() {
			if _, st := s.Get(k); st != Fresh {
				panic("not fresh")
			}
		})
		if allocs != 0 {
			t.Errorf("Get hit allocs = %v, want 0", allocs)
		}
	})
}

// Memory bound: ten times max_size of distinct objects go through an 8 MiB
// store; the store's accounted bytes stay within max_size and the live heap
// stays near it.
func TestStoreMemoryBound(t *testing.T) {
	const maxSize = 8 << 20
	s := newStore(t, Options{MaxSize: maxSize})
	p := DefaultTTLPolicy()
	now := time.Now()
	body := make([]byte, 8<<10)
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	n := 10 * maxSize / len(body)
	for i := range n {
		k := mustKey("d", fmt.Sprintf("/obj/%d", i))
		s.Set(k, entry(t, &p, now, 200, "max-age=600", string(body)))
		if i%256 == 0 {
			s.Wait()
		}
	}
	s.Wait()
	st := s.Stats()
	if st.Bytes > maxSize {
		t.Errorf("accounted bytes %d > max_size %d", st.Bytes, maxSize)
	}
	if st.Objects <= 0 || st.Objects > maxSize/int64(len(body)) {
		t.Errorf("objects = %d", st.Objects)
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	growth := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	if growth > 2*maxSize+8<<20 {
		t.Errorf("heap grew by %d MiB for an 8 MiB store", growth>>20)
	}
	t.Logf("stored %d objects, %d bytes accounted, heap growth %d KiB", st.Objects, st.Bytes, growth>>10)
}

func BenchmarkStoreGetHit(b *testing.B) {
	s, err := NewStore(Options{MaxSize: 64 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	pol := &KeyPolicy{Query: All, Gzip: true, Brotli: true}
	r := &Request{Method: "GET", Path: []byte("/static/app.js"), Query: []byte("v=3"), AcceptEncoding: []byte("gzip, br")}
	k, _ := pol.AppendKey(nil, "site", r)
	p := DefaultTTLPolicy()
	hdr := []Field{{"Content-Type", "text/plain"}, {"Cache-Control", "max-age=600"}}
	resp := Fields(hdr).Response(200)
	now := time.Now()
	s.Set(k, NewEntry(EntryInput{Status: 200, Header: hdr, Body: make([]byte, 1024), Decision: Decide(&p, &resp, now), ResponseTime: now}))
	s.Wait()
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = pol.AppendKey(buf[:0], "site", r)
		if _, st := s.Get(buf); st != Fresh {
			b.Fatal("miss")
		}
	}
}

// Concurrent lookups, stores, refreshes and invalidations: run under -race,
// every answer served belongs to the key asked for.
func TestStoreConcurrentUse(t *testing.T) {
	s := newStore(t, Options{MaxSize: 1 << 20})
	p := DefaultTTLPolicy()
	done := make(chan struct{})
	var wg, inv sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 2000 {
				path := fmt.Sprintf("/k/%d", (i*7+w)%50)
				k := mustKey("d", path)
				if e, st := s.Get(k); st != Miss && string(e.Body) != path {
					t.Errorf("Get(%s) served %q", path, e.Body)
					return
				}
				if i%3 == 0 {
					s.Set(k, entry(t, &p, time.Now(), 200, "max-age=60", path))
				}
			}
		})
	}
	inv.Go(func() {
		for i := 0; i < 100_000; i++ {
			select {
			case <-done:
				return
			default:
			}
			if err := s.Invalidate("d", []string{fmt.Sprintf("/k/%d", i%50), "/k/1*"}); err != nil {
				t.Error(err)
				return
			}
			_ = s.Stats()
		}
	})
	wg.Wait()
	close(done)
	inv.Wait()
}
