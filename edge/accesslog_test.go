package edge

import (
	"io"
	"strings"
	"testing"
	"time"
)

func TestAppendLogValue(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", "-"},
		{"/img/a.png", "/img/a.png"},
		{"Mozilla/5.0 (X11)", "Mozilla/5.0%20(X11)"},
		{"a\tb\nc", "a%09b%0Ac"},
		{`q"\`, "q%22%5C"},
		{"\x7f\xff€", "%7F%FF%E2%82%AC"},
		{" ", "%20"},
		{"end ", "end%20"},
	} {
		if got := string(appendLogValue([]byte("x"), []byte(c.in))); got != "x"+c.want {
			t.Errorf("appendLogValue(%q) = %q, want %q", c.in, got[1:], c.want)
		}
	}
}

func TestAppendSeconds(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0.000"},
		{-time.Second, "0.000"},
		{499 * time.Microsecond, "0.000"},
		{500 * time.Microsecond, "0.001"},
		{12 * time.Millisecond, "0.012"},
		{1234567 * time.Microsecond, "1.235"},
		{61*time.Second + 5*time.Millisecond, "61.005"},
	} {
		if got := string(appendSeconds(nil, c.d)); got != c.want {
			t.Errorf("appendSeconds(%v) = %q, want %q", c.d, got, c.want)
		}
	}
}

// TestHitAllocationsLogged is TestHitAllocations with the CloudFront
// access log on: formatting the line allocates nothing either.
func TestHitAllocationsLogged(t *testing.T) {
	if raceEnabled {
		t.Skip("the log line buffer comes from a sync.Pool, which drops items at random under -race")
	}
	o := newOrigin(t, reply(200, strings.Repeat("x", 1024), "Cache-Control", "max-age=600", "Content-Type", "text/plain"))
	te := startEdge(t, siteYAML(o.URL, benchCfg), edgeOpt{})
	al, err := NewAccessLog(io.Discard, "cloudfront")
	if err != nil {
		t.Fatal(err)
	}
	te.e.alog = al
	te.get(t, "/hit")
	te.wait()
	_, ctx := hitCtx(te, "/hit")
	l := &listener{name: "alloc"}
	r := te.e.reqs.New().(*request)
	te.e.serveWith(ctx, l, r)
	if got := string(ctx.Response.Header.Peek("X-Cache")); got != "Hit from edge" {
		t.Fatalf("warm-up answer: %q", got)
	}
	allocs := testing.AllocsPerRun(1000, func() {
		ctx.Response.Reset()
		te.e.serveWith(ctx, l, r)
	})
	if allocs > 0 {
		t.Fatalf("a logged cache hit allocates %.1f times, want 0", allocs)
	}
}
