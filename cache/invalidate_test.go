package cache

import (
	"fmt"
	"testing"
	"testing/synctest"
	"time"
)

// Story: a distribution holds pages, images and query/encoding variants;
// invalidations with exact paths and trailing wildcards remove exactly the
// matching ones, in that distribution only, and new fetches are cached again.
func TestInvalidateExactAndWildcard(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newStore(t, Options{MaxSize: 1 << 20})
		p := DefaultTTLPolicy()
		pol := &KeyPolicy{Query: All, Gzip: true, Brotli: true}
		keyOf := func(dist, path, query, ae string) []byte {
			k, _ := pol.AppendKey(nil, dist, &Request{Method: "GET", Path: []byte(path), Query: []byte(query), AcceptEncoding: []byte(ae)})
			return k
		}
		keys := map[string][]byte{
			"index":       keyOf("site", "/index.html", "", ""),
			"index-q":     keyOf("site", "/index.html", "v=2", ""),
			"index-br":    keyOf("site", "/index.html", "", "br"),
			"img-a":       keyOf("site", "/img/a.png", "", ""),
			"img-deep":    keyOf("site", "/img/x/y.png", "", "gzip"),
			"imgs":        keyOf("site", "/imgs.html", "", ""),
			"other-index": keyOf("other", "/index.html", "", ""),
			"about":       keyOf("site", "/about", "", ""),
		}
		for name, k := range keys {
			if !s.Set(k, entry(t, &p, time.Now(), 200, "max-age=600", name)) {
				t.Fatalf("Set %s refused", name)
			}
		}
		s.Wait()
		time.Sleep(time.Second)

		if err := s.Invalidate("site", []string{"/index.html", "/img/*"}); err != nil {
			t.Fatal(err)
		}
		gone := map[string]bool{"index": true, "index-q": true, "index-br": true, "img-a": true, "img-deep": true}
		for name, k := range keys {
			_, st := s.Get(k)
			if gone[name] && st != Miss {
				t.Errorf("%s survived the invalidation: %v", name, st)
			}
			if !gone[name] && st != Fresh {
				t.Errorf("%s was invalidated: %v", name, st)
			}
		}

		// A fetch that started before the invalidation must not put the
		// old object back.
		old := entry(t, &p, time.Now().Add(-2*time.Second), 200, "max-age=600", "old")
		if s.Set(keys["index"], old) {
			t.Error("a fetch from before the invalidation was stored")
		}
		// A fetch after it is cached again.
		time.Sleep(time.Second)
		if !s.Set(keys["index"], entry(t, &p, time.Now(), 200, "max-age=600", "new")) {
			t.Fatal("Set after invalidation refused")
		}
		s.Wait()
		if e, st := s.Get(keys["index"]); st != Fresh || string(e.Body) != "new" {
			t.Errorf("after re-fetch: %v", st)
		}

		// "/*" clears the whole distribution and nothing else.
		time.Sleep(time.Second)
		if err := s.Invalidate("site", []string{"/*"}); err != nil {
			t.Fatal(err)
		}
		if _, st := s.Get(keys["about"]); st != Miss {
			t.Errorf("/* left /about: %v", st)
		}
		if _, st := s.Get(keys["other-index"]); st != Fresh {
			t.Errorf("/* in site removed other's object: %v", st)
		}
	})
}

func TestInvalidateRejectsBadPaths(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newStore(t, Options{MaxSize: 1 << 20})
		long := "/" + string(make([]byte, MaxInvalidationPathLen))
		for _, bad := range []string{"img/*", "/img/*.png", "/*/a", "", long} {
			if err := s.Invalidate("site", []string{"/ok", bad}); err == nil {
				t.Errorf("Invalidate(%.20q) accepted", bad)
			}
		}
		if n := s.InvalidationRecords(); n != 0 {
			t.Errorf("a rejected request recorded %d paths", n)
		}
	})
}

// The invalidation list stays bounded: records older than anything stored
// are pruned, and too many records fold into one "/*".
func TestInvalidationRecordsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newStore(t, Options{MaxSize: 1 << 20, KeepExpired: time.Minute})
		p := DefaultTTLPolicy()
		k := mustKey("site", "/keep")
		s.Set(k, entry(t, &p, time.Now(), 200, "max-age=60", "x"))
		s.Wait()

		time.Sleep(time.Second)
		paths := make([]string, 0, maxExactRecords+1)
		for i := range maxExactRecords + 1 {
			paths = append(paths, fmt.Sprintf("/p/%d", i))
		}
		if err := s.Invalidate("site", paths); err != nil {
			t.Fatal(err)
		}
		if n := s.InvalidationRecords(); n != 1 {
			t.Errorf("records = %d, want 1 folded record", n)
		}
		if _, st := s.Get(k); st != Miss {
			t.Errorf("folded invalidation must cover everything older: %v", st)
		}

		// Longer than the longest lifetime (60s TTL + 1 min kept) later,
		// the old record is pruned by the next invalidation.
		time.Sleep(3 * time.Minute)
		if err := s.Invalidate("site", []string{"/new"}); err != nil {
			t.Fatal(err)
		}
		if n := s.InvalidationRecords(); n != 1 {
			t.Errorf("records after prune = %d, want 1", n)
		}
	})
}

func TestInvalidatePrefixSupersedesOlderRecords(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newStore(t, Options{MaxSize: 1 << 20})
		if err := s.Invalidate("site", []string{"/a/1", "/a/2", "/a/b/*", "/c"}); err != nil {
			t.Fatal(err)
		}
		if err := s.Invalidate("site", []string{"/a/*"}); err != nil {
			t.Fatal(err)
		}
		if n := s.InvalidationRecords(); n != 2 {
			t.Errorf("records = %d, want 2 (/a/* and /c)", n)
		}
	})
}
