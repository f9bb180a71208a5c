package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// scripted is an in-memory origin for Flow tests under synctest.
type scripted struct {
	calls atomic.Int32
	last  atomic.Pointer[Validators]
	gate  chan struct{} // when set, each call waits for it
	reply func(n int32, v Validators) (*OriginAnswer, error)
}

func (s *scripted) fn(ctx context.Context, v Validators) (*OriginAnswer, error) {
	n := s.calls.Add(1)
	s.last.Store(&v)
	if s.gate != nil {
		<-s.gate
	}
	return s.reply(n, v)
}

func answer(status int, body string, hdr ...Field) *OriginAnswer {
	return &OriginAnswer{Status: status, Header: hdr, Body: []byte(body)}
}

func newFlow(t *testing.T, collapse bool) *Flow {
	s := newStore(t, Options{MaxSize: 1 << 20})
	return &Flow{Store: s, Coalescer: &Coalescer{}, TTL: DefaultTTLPolicy(), Collapse: collapse, Compress: true}
}

func TestFlowStaleWhileRevalidateOneBackgroundFetch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFlow(t, true)
		o := &scripted{reply: func(n int32, v Validators) (*OriginAnswer, error) {
			return answer(200, fmt.Sprintf("v%d", n), Field{"Cache-Control", "max-age=60, stale-while-revalidate=60"}, Field{"ETag", fmt.Sprintf(`"%d"`, n)}), nil
		}}
		k := mustKey("d", "/swr")
		if e, r, err := f.Serve(context.Background(), k, Identity, o.fn); err != nil || r != ResultMiss || string(e.Body) != "v1" {
			t.Fatalf("fill: %v %v", r, err)
		}
		f.Store.Wait()
		time.Sleep(90 * time.Second)
		o.gate = make(chan struct{})
		var wg sync.WaitGroup
		for range 10 {
			wg.Go(func() {
				e, r, err := f.Serve(context.Background(), k, Identity, o.fn)
				if err != nil || r != ResultHit || string(e.Body) != "v1" {
					t.Errorf("in window: %v %v", r, err)
				}
			})
		}
		wg.Wait()
		synctest.Wait()
		close(o.gate)
		synctest.Wait()
		f.Store.Wait()
		if n := o.calls.Load(); n != 2 {
			t.Errorf("origin calls = %d, want 2 (one background revalidation)", n)
		}
		if v := o.last.Load(); v.IfNoneMatch != `"1"` {
			t.Errorf("revalidation sent If-None-Match %q", v.IfNoneMatch)
		}
		if e, st := f.Store.Get(k); st != Fresh || string(e.Body) != "v2" {
			t.Errorf("after background fetch: %v", st)
		}
	})
}

func TestFlowNotBufferedIsNotShared(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFlow(t, true)
		o := &scripted{gate: make(chan struct{}), reply: func(int32, Validators) (*OriginAnswer, error) {
			return nil, fmt.Errorf("origin: 2 GiB: %w", ErrNotBuffered)
		}}
		k := mustKey("d", "/huge")
		var wg sync.WaitGroup
		for range 5 {
			wg.Go(func() {
				_, r, err := f.Serve(context.Background(), k, Identity, o.fn)
				if !errors.Is(err, ErrNotBuffered) || r != ResultError {
					t.Errorf("Serve = %v %v", r, err)
				}
			})
		}
		synctest.Wait()
		close(o.gate)
		wg.Wait()
		if n := o.calls.Load(); n != 5 {
			t.Errorf("origin calls = %d, want 5 (each viewer streams its own)", n)
		}
	})
}

func TestFlowCompressesAndStoresVariant(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFlow(t, true)
		page := strings.Repeat("compress me ", 200)
		o := &scripted{reply: func(int32, Validators) (*OriginAnswer, error) {
			return answer(200, page, Field{"Content-Type", "text/css"}, Field{"Cache-Control", "max-age=60"}), nil
		}}
		pol := &KeyPolicy{Gzip: true, Brotli: true}
		k, enc := pol.AppendKey(nil, "d", &Request{Path: []byte("/a.css"), AcceptEncoding: []byte("gzip")})
		e, r, err := f.Serve(context.Background(), k, enc, o.fn)
		if err != nil || r != ResultMiss || e.Encoding != Gzip || len(e.Body) >= len(page) {
			t.Fatalf("Serve: %v %v enc %v", r, err, e.Encoding)
		}
		f.Store.Wait()
		if got, st := f.Store.Get(k); st != Fresh || got.Encoding != Gzip {
			t.Errorf("stored variant: %v", st)
		}
		// Origin-encoded answers pass through untouched.
		o.reply = func(int32, Validators) (*OriginAnswer, error) {
			return answer(200, page, Field{"Content-Type", "text/css"}, Field{"Content-Encoding", "identity"}), nil
		}
		k2, _ := pol.AppendKey(nil, "d", &Request{Path: []byte("/b.css"), AcceptEncoding: []byte("gzip")})
		if e, _, _ := f.Serve(context.Background(), k2, enc, o.fn); e.Encoding != Identity || string(e.Body) != page {
			t.Error("answer with Content-Encoding was recompressed")
		}
	})
}

func TestFlowWithoutCollapsing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFlow(t, false)
		o := &scripted{gate: make(chan struct{}), reply: func(int32, Validators) (*OriginAnswer, error) {
			return answer(200, "x", Field{"Cache-Control", "max-age=60"}), nil
		}}
		k := mustKey("d", "/c")
		var wg sync.WaitGroup
		for range 10 {
			wg.Go(func() { f.Serve(context.Background(), k, Identity, o.fn) })
		}
		synctest.Wait()
		close(o.gate)
		wg.Wait()
		if n := o.calls.Load(); n != 10 {
			t.Errorf("origin calls = %d, want 10 with collapsing off (cookies forwarded)", n)
		}
	})
}

func TestFlowHitAllocatesNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFlow(t, true)
		o := &scripted{reply: func(int32, Validators) (*OriginAnswer, error) {
			return answer(200, "x", Field{"Cache-Control", "max-age=60"}), nil
		}}
		fn := OriginFunc(o.fn)
		k := mustKey("d", "/hit")
		f.Serve(context.Background(), k, Identity, fn)
		f.Store.Wait()
		ctx := context.Background()
		allocs := testing.AllocsPerRun(1000, func() {
			if _, r, _ := f.Serve(ctx, k, Identity, fn); r != ResultHit {
				panic("not a hit")
			}
		})
		if allocs != 0 {
			t.Errorf("Flow.Serve hit allocs = %v, want 0", allocs)
		}
	})
}

func BenchmarkFlowServeHit(b *testing.B) {
	s, err := NewStore(Options{MaxSize: 64 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	f := &Flow{Store: s, Coalescer: &Coalescer{}, TTL: DefaultTTLPolicy(), Collapse: true}
	fn := OriginFunc(func(context.Context, Validators) (*OriginAnswer, error) {
		return answer(200, strings.Repeat("x", 1024), Field{"Cache-Control", "max-age=600"}), nil
	})
	pol := &KeyPolicy{Query: All, Gzip: true, Brotli: true}
	r := &Request{Method: "GET", Path: []byte("/static/app.js"), Query: []byte("v=3"), AcceptEncoding: []byte("gzip, br")}
	k, enc := pol.AppendKey(nil, "site", r)
	f.Serve(context.Background(), k, enc, fn)
	s.Wait()
	ctx := context.Background()
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf, enc = pol.AppendKey(buf[:0], "site", r)
		if _, res, _ := f.Serve(ctx, buf, enc, fn); res != ResultHit {
			b.Fatal("miss")
		}
	}
}

// The viewer that started a collapsed fetch leaves and its key buffer is
// reused: the answer is still stored under the right key.
func TestFlowLeaderLeavesBufferReused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFlow(t, true)
		o := &scripted{gate: make(chan struct{}), reply: func(int32, Validators) (*OriginAnswer, error) {
			return answer(200, "a", Field{"Cache-Control", "max-age=60"}), nil
		}}
		buf := mustKey("d", "/a")
		want := bytes.Clone(buf)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { _, _, err := f.Serve(ctx, buf, Identity, o.fn); done <- err }()
		synctest.Wait()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Serve after the viewer left: %v", err)
		}
		copy(buf, mustKey("d", "/b")) // the buffer now holds another key
		close(o.gate)
		synctest.Wait()
		f.Store.Wait()
		if e, st := f.Store.Get(want); st != Fresh || string(e.Body) != "a" {
			t.Errorf("answer not stored under its key: %v", st)
		}
		if _, st := f.Store.Get(mustKey("d", "/b")); st != Miss {
			t.Errorf("answer stored under the reused buffer's key: %v", st)
		}
	})
}
