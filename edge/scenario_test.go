package edge

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/switchyard/switchyard/cache"
)

func TestHitMissAgeVia(t *testing.T) {
	o := newOrigin(t, reply(200, "hello", "Cache-Control", "max-age=60", "Content-Type", "text/plain"))
	te := startEdge(t, siteYAML(o.URL, ""), edgeOpt{})
	a := te.get(t, "/a")
	wantStatus(t, a, 200, "Miss from edge")
	if a.Body != "hello" || !strings.HasSuffix(a.Header.Get("Via"), ".edge (Switchyard)") || len(a.Header.Get("X-Edge-Request-Id")) != 56 {
		t.Fatalf("miss answer: %+v", a)
	}
	te.wait()
	te.clk.Advance(10 * time.Second)
	a = te.get(t, "/a")
	wantStatus(t, a, 200, "Hit from edge")
	if a.Body != "hello" || a.Header.Get("Age") != "10" {
		t.Fatalf("hit answer: body %q Age %q", a.Body, a.Header.Get("Age"))
	}
	if o.Hits() != 1 {
		t.Fatalf("origin saw %d requests, want 1", o.Hits())
	}
	// Past max-age: the origin is asked again.
	te.clk.Advance(60 * time.Second)
	a = te.get(t, "/a")
	wantStatus(t, a, 200, "Miss from edge")
	if o.Hits() != 2 {
		t.Fatalf("origin saw %d requests, want 2", o.Hits())
	}
	l := o.last()
	if l.Header.Get("X-Forwarded-For") != "127.0.0.1" || !strings.HasSuffix(l.Header.Get("Via"), "(Switchyard)") || l.Host != o.Addr {
		t.Fatalf("origin request: %+v", l)
	}
}

// TestTTLRules walks representative rows of CloudFront's TTL table end to
// end (the cache package unit-tests the whole table): how long each origin
// answer stays a Hit under min 0 / default 100 s / max 1000 s.
func TestTTLRules(t *testing.T) {
	cases := []struct {
		name  string
		hdr   []string
		fresh time.Duration // still a Hit just before; 0 = never cached
	}{
		{"s-maxage wins over max-age", []string{"Cache-Control", "max-age=10, s-maxage=50"}, 50 * time.Second},
		{"max-age", []string{"Cache-Control", "max-age=30"}, 30 * time.Second},
		{"nothing: default_ttl", nil, 100 * time.Second},
		{"max-age clamped to max_ttl", []string{"Cache-Control", "max-age=99999"}, 1000 * time.Second},
		{"no-store", []string{"Cache-Control", "no-store"}, 0},
		{"private", []string{"Cache-Control", "private, max-age=60"}, 0},
		{"set-cookie", []string{"Cache-Control", "max-age=60", "Set-Cookie", "s=1"}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := newOrigin(t, reply(200, "body", tc.hdr...))
			te := startEdge(t, siteYAML(o.URL, "      default_ttl: 100s\n      max_ttl: 1000s\n"), edgeOpt{})
			wantStatus(t, te.get(t, "/x"), 200, "Miss from edge")
			te.wait()
			if tc.fresh == 0 {
				a := te.get(t, "/x")
				wantStatus(t, a, 200, "Miss from edge")
				if o.Hits() != 2 || a.Header.Get("Set-Cookie") != "" && tc.name != "set-cookie" {
					t.Fatalf("origin hits %d, want 2", o.Hits())
				}
				return
			}
			te.clk.Advance(tc.fresh - time.Second)
			wantStatus(t, te.get(t, "/x"), 200, "Hit from edge")
			te.clk.Advance(2 * time.Second)
			wantStatus(t, te.get(t, "/x"), 200, "Miss from edge")
			if o.Hits() != 2 {
				t.Fatalf("origin hits %d, want 2", o.Hits())
			}
		})
	}
}

// TestMinTTLCachesPrivate: with min_ttl > 0 CloudFront caches even what
// the origin calls private, for min_ttl; a 404 is cached for the error
// caching minimum (10 s).
func TestMinTTLAndErrorCaching(t *testing.T) {
	o := newOrigin(t, reply(200, "p", "Cache-Control", "no-cache"))
	te := startEdge(t, siteYAML(o.URL, "      min_ttl: 20s\n"), edgeOpt{})
	te.get(t, "/p")
	te.wait()
	te.clk.Advance(19 * time.Second)
	wantStatus(t, te.get(t, "/p"), 200, "Hit from edge")

	o.set(reply(404, "gone"))
	wantStatus(t, te.get(t, "/missing"), 404, "Error from edge")
	te.wait()
	te.clk.Advance(9 * time.Second)
	a := te.get(t, "/missing")
	wantStatus(t, a, 404, "Error from edge")
	if o.Hits() != 2 {
		t.Fatalf("404 not cached: origin hits %d, want 2", o.Hits())
	}
	te.clk.Advance(2 * time.Second)
	te.get(t, "/missing")
	if o.Hits() != 3 {
		t.Fatalf("404 cached past 10 s: origin hits %d, want 3", o.Hits())
	}
}

// TestRevalidationRefreshHit: an expired object with an ETag is
// revalidated; a 304 makes it a RefreshHit and fresh again.
func TestRevalidationRefreshHit(t *testing.T) {
	o := newOrigin(t, func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("Cache-Control", "max-age=10")
		ctx.Response.Header.Set("ETag", `"v1"`)
		if string(ctx.Request.Header.Peek("If-None-Match")) == `"v1"` {
			ctx.SetStatusCode(304)
			return
		}
		ctx.SetBodyString("version one")
	})
	te := startEdge(t, siteYAML(o.URL, ""), edgeOpt{})
	te.get(t, "/r")
	te.wait()
	te.clk.Advance(11 * time.Second)
	a := te.get(t, "/r")
	wantStatus(t, a, 200, "RefreshHit from edge")
	if a.Body != "version one" || o.last().Header.Get("If-None-Match") != `"v1"` {
		t.Fatalf("refresh: body %q, origin saw If-None-Match %q", a.Body, o.last().Header.Get("If-None-Match"))
	}
	te.wait()
	wantStatus(t, te.get(t, "/r"), 200, "Hit from edge")
	if o.Hits() != 2 {
		t.Fatalf("origin hits %d, want 2", o.Hits())
	}
	// A viewer's own conditional is answered from the cache.
	a = te.get(t, "/r", "If-None-Match", `"v1"`)
	if a.Status != 304 || a.Body != "" || o.Hits() != 2 {
		t.Fatalf("viewer conditional: %d %q, origin hits %d", a.Status, a.Body, o.Hits())
	}
}

// TestStaleIfErrorOriginDown: with the origin gone, an expired object is
// served (RefreshHit) instead of an error; without one the viewer gets 502.
func TestStaleIfErrorOriginDown(t *testing.T) {
	o := newOrigin(t, reply(200, "still here", "Cache-Control", "max-age=10, stale-if-error=600"))
	te := startEdge(t, siteYAML(o.URL, ""), edgeOpt{})
	te.get(t, "/s")
	te.wait()
	o.close()
	te.e.CloseIdleConnections()
	te.clk.Advance(60 * time.Second)
	a := te.get(t, "/s")
	wantStatus(t, a, 200, "RefreshHit from edge")
	if a.Body != "still here" {
		t.Fatalf("stale body %q", a.Body)
	}
	a = te.get(t, "/never-cached")
	wantStatus(t, a, 502, "Error from edge")
	if !strings.Contains(a.Body, "502 ERROR") || !strings.Contains(a.Body, a.Header.Get("X-Edge-Request-Id")) {
		t.Fatalf("error page: %q", a.Body)
	}
}

// TestCollapsing: 100 concurrent misses for one key make one origin
// request; 100 for a private answer make 100.
func TestCollapsing(t *testing.T) {
	release := make(chan struct{})
	o := newOrigin(t, func(ctx *fasthttp.RequestCtx) {
		select {
		case <-release:
		case <-time.After(5 * time.Second):
		}
		if strings.HasPrefix(string(ctx.Path()), "/private") {
			ctx.Response.Header.Set("Cache-Control", "private")
		} else {
			ctx.Response.Header.Set("Cache-Control", "max-age=60")
		}
		ctx.SetBodyString("shared")
	})
	te := startEdge(t, siteYAML(o.URL, ""), edgeOpt{})
	for _, tc := range []struct {
		path string
		want int
	}{{"/shared", 1}, {"/private", 100}} {
		before := o.Hits()
		var wg sync.WaitGroup
		errs := make(chan error, 100)
		for range 100 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				a, err := te.try("GET", tc.path, "")
				if err == nil && (a.Status != 200 || a.Body != "shared") {
					err = fmt.Errorf("got %d %q", a.Status, a.Body)
				}
				if err != nil {
					errs <- err
				}
			}()
		}
		// Let the other 99 queue behind the first fetch, then answer.
		key, _ := te.e.Snapshot().dists["site"].behaviors[0].key.AppendKey(nil, "site",
			&cache.Request{Method: "GET", Path: []byte(tc.path)})
		for deadline := time.Now().Add(5 * time.Second); te.e.coalescer.Waiting(key) < 99 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		close(release)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if got := o.Hits() - before; got != tc.want {
			t.Fatalf("%s: origin saw %d requests for 100 concurrent misses, want %d", tc.path, got, tc.want)
		}
		release = make(chan struct{})
	}
}

// TestStaleWhileRevalidate: inside the window an expired object is served
// at once (Hit) while one background request refreshes it.
func TestStaleWhileRevalidate(t *testing.T) {
	n := 0
	var mu sync.Mutex
	o := newOrigin(t, func(ctx *fasthttp.RequestCtx) {
		mu.Lock()
		n++
		v := n
		mu.Unlock()
		ctx.Response.Header.Set("Cache-Control", "max-age=10, stale-while-revalidate=60")
		fmt.Fprintf(ctx, "v%d", v)
	})
	te := startEdge(t, siteYAML(o.URL, ""), edgeOpt{})
	te.get(t, "/swr")
	te.wait()
	te.clk.Advance(20 * time.Second)
	a := te.get(t, "/swr")
	wantStatus(t, a, 200, "Hit from edge")
	if a.Body != "v1" {
		t.Fatalf("stale answer %q, want v1", a.Body)
	}
	for deadline := time.Now().Add(5 * time.Second); o.Hits() < 2 && time.Now().Before(deadline); {
		time.Sleep(2 * time.Millisecond)
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		te.wait()
		if a = te.get(t, "/swr"); a.Body == "v2" {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	if a.Body != "v2" || a.Header.Get("X-Cache") != "Hit from edge" || o.Hits() != 2 {
		t.Fatalf("after background refresh: %q %q, origin hits %d", a.Body, a.Header.Get("X-Cache"), o.Hits())
	}
}
