package cache

import (
	"testing"
	"time"
)

func TestEntryAgeUsesOriginAgeAndFetchDelay(t *testing.T) {
	p := DefaultTTLPolicy()
	hdr := []Field{{"Cache-Control", "max-age=100"}, {"Age", "30"}, {"Date", httpDate(t0.Add(-time.Hour))}}
	resp := Fields(hdr).Response(200)
	e := NewEntry(EntryInput{Status: 200, Header: hdr, Decision: Decide(&p, &resp, t0), RequestTime: t0.Add(-2 * time.Second), ResponseTime: t0})
	// 30 (origin Age) + 2 (fetch) + 10 (resident); the skewed Date is ignored.
	if got := e.AgeSeconds(t0.Add(10 * time.Second)); got != 42 {
		t.Errorf("Age = %d, want 42", got)
	}
	if !e.Fresh(t0.Add(67*time.Second)) || e.Fresh(t0.Add(68*time.Second)) {
		t.Error("fresh until age reaches max-age")
	}
	if _, ok := Fields(e.Header).Get("Age"); ok {
		t.Error("the origin's Age header was stored")
	}
	if e.AgeSeconds(t0.Add(-time.Minute)) != 32 {
		t.Error("a clock step back must not make age negative")
	}
}

func TestEntryStaleWindows(t *testing.T) {
	p := DefaultTTLPolicy()
	mk := func(cc string) *Entry {
		resp := Response{Status: 200, CacheControl: []byte(cc)}
		return NewEntry(EntryInput{Status: 200, Decision: Decide(&p, &resp, t0), ResponseTime: t0})
	}
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

	swr := mk("max-age=60, stale-while-revalidate=30, stale-if-error=300")
	for _, tc := range []struct {
		at       int
		fresh    bool
		swr, sie bool
	}{{59, true, false, true}, {60, false, true, true}, {89, false, true, true}, {90, false, false, true}, {359, false, false, true}, {360, false, false, false}} {
		e := swr
		if e.Fresh(at(tc.at)) != tc.fresh || e.StaleWhileRevalidate(at(tc.at)) != tc.swr || (!tc.fresh && e.StaleIfError(at(tc.at)) != tc.sie) {
			t.Errorf("at %ds: fresh %v swr %v sie %v", tc.at, e.Fresh(at(tc.at)), e.StaleWhileRevalidate(at(tc.at)), e.StaleIfError(at(tc.at)))
		}
	}
	if e := mk("max-age=60"); !e.StaleIfError(at(100000)) || e.StaleWhileRevalidate(at(61)) {
		t.Error("without directives: stale on error always (CloudFront), never stale-while-revalidate")
	}
	if e := mk("max-age=60, stale-if-error=0"); e.StaleIfError(at(61)) {
		t.Error("stale-if-error=0 disables serve-stale")
	}
	if e := mk("max-age=60, must-revalidate, stale-while-revalidate=30, stale-if-error=30"); e.StaleIfError(at(61)) || e.StaleWhileRevalidate(at(61)) {
		t.Error("must-revalidate forbids stale")
	}
}

func TestNewEntryDropsSetCookieAndCopiesBody(t *testing.T) {
	body := []byte("hello")
	hdr := []Field{{"Set-Cookie", "sid=1"}, {"ETag", `"x"`}, {"Content-Encoding", "gzip"}}
	e := NewEntry(EntryInput{Status: 200, Header: hdr, Body: body})
	body[0] = 'j'
	if string(e.Body) != "hello" {
		t.Error("body not copied")
	}
	if _, ok := Fields(e.Header).Get("set-cookie"); ok {
		t.Error("Set-Cookie stored")
	}
	if e.Encoding != Gzip {
		t.Errorf("encoding %v", e.Encoding)
	}
	kept := NewEntry(EntryInput{Status: 200, Header: hdr, KeepSetCookie: true})
	if _, ok := Fields(kept.Header).Get("Set-Cookie"); !ok {
		t.Error("KeepSetCookie dropped it")
	}
}

func TestRefreshKeepsBodyLengthAndCoding(t *testing.T) {
	p := DefaultTTLPolicy()
	hdr := []Field{{"Content-Type", "text/html"}, {"Cache-Control", "max-age=10"}, {"ETag", `"a"`}, {"Content-Length", "5"}}
	resp := Fields(hdr).Response(200)
	e := NewEntry(EntryInput{Status: 200, Header: hdr, Body: []byte("hello"), Decision: Decide(&p, &resp, t0), ResponseTime: t0})
	n, d := e.Refresh(&p, []Field{{"Content-Length", "0"}, {"ETag", `"b"`}, {"Cache-Control", "no-store"}}, t0.Add(time.Minute), t0.Add(time.Minute))
	if d.Store {
		t.Error("a 304 saying no-store must not be stored")
	}
	if cl, _ := Fields(n.Header).Get("Content-Length"); cl != "5" || string(n.Body) != "hello" {
		t.Errorf("Content-Length %q body %q", cl, n.Body)
	}
	if inm, _ := n.Validators(); inm != `"b"` {
		t.Errorf("new validator %q", inm)
	}
}
