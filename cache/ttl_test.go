package cache

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

func httpDate(t time.Time) string { return t.UTC().Format(time.RFC1123) }

func TestDecideTTLRules(t *testing.T) {
	def := DefaultTTLPolicy()
	min60 := def
	min60.MinTTL = time.Minute
	max1h := def
	max1h.MaxTTL = time.Hour
	short := TTLPolicy{MinTTL: 0, DefaultTTL: 5 * time.Minute, MaxTTL: time.Hour, ErrorCachingMinTTL: 10 * time.Second}

	tests := []struct {
		name   string
		p      TTLPolicy
		r      Response
		store  bool
		ttl    time.Duration
		reason string
	}{
		{"no caching header → default ttl", def, Response{Status: 200}, true, 24 * time.Hour, ""},
		{"default ttl raised to min ttl", TTLPolicy{MinTTL: 2 * time.Hour, DefaultTTL: time.Hour, MaxTTL: 3 * time.Hour}, Response{Status: 200}, true, 2 * time.Hour, ""},
		{"max-age", def, Response{Status: 200, CacheControl: []byte("max-age=120")}, true, 2 * time.Minute, ""},
		{"s-maxage wins over max-age", def, Response{Status: 200, CacheControl: []byte("max-age=120, s-maxage=30")}, true, 30 * time.Second, ""},
		{"max-age clamped to max ttl", max1h, Response{Status: 200, CacheControl: []byte("max-age=86400")}, true, time.Hour, ""},
		{"max-age raised to min ttl", min60, Response{Status: 200, CacheControl: []byte("max-age=5")}, true, time.Minute, ""},
		{"max-age=0 not stored", def, Response{Status: 200, CacheControl: []byte("max-age=0")}, false, 0, "ttl 0"},
		{"max-age=0 with min ttl", min60, Response{Status: 200, CacheControl: []byte("max-age=0")}, true, time.Minute, ""},
		{"quoted max-age accepted", def, Response{Status: 200, CacheControl: []byte(`max-age="90"`)}, true, 90 * time.Second, ""},
		{"malformed max-age is stale", def, Response{Status: 200, CacheControl: []byte("max-age=abc")}, false, 0, "ttl 0"},
		{"first max-age wins", def, Response{Status: 200, CacheControl: []byte("max-age=10, max-age=99")}, true, 10 * time.Second, ""},
		{"directive names case-insensitive", def, Response{Status: 200, CacheControl: []byte("Max-Age=42")}, true, 42 * time.Second, ""},
		{"huge max-age capped then clamped", def, Response{Status: 200, CacheControl: []byte("max-age=99999999999999999999999")}, true, DefaultMaxTTL, ""},
		{"expires minus date", def, Response{Status: 200, Expires: []byte(httpDate(t0.Add(10 * time.Minute))), Date: []byte(httpDate(t0))}, true, 10 * time.Minute, ""},
		{"expires minus now without date", def, Response{Status: 200, Expires: []byte(httpDate(t0.Add(5 * time.Minute)))}, true, 5 * time.Minute, ""},
		{"expires skewed origin clock uses its date", def, Response{Status: 200, Expires: []byte(httpDate(t0.Add(-time.Hour + time.Minute))), Date: []byte(httpDate(t0.Add(-time.Hour)))}, true, time.Minute, ""},
		{"expires in the past", def, Response{Status: 200, Expires: []byte(httpDate(t0.Add(-time.Minute)))}, false, 0, "ttl 0"},
		{"invalid expires means expired", def, Response{Status: 200, Expires: []byte("0")}, false, 0, "ttl 0"},
		{"max-age wins over expires", def, Response{Status: 200, CacheControl: []byte("max-age=60"), Expires: []byte(httpDate(t0.Add(time.Hour)))}, true, time.Minute, ""},
		{"expires clamped to max ttl", max1h, Response{Status: 200, Expires: []byte(httpDate(t0.Add(48 * time.Hour)))}, true, time.Hour, ""},
		{"public alone → default", short, Response{Status: 200, CacheControl: []byte("public")}, true, 5 * time.Minute, ""},

		{"no-store not cached", def, Response{Status: 200, CacheControl: []byte("no-store")}, false, 0, "no-store, no-cache, private, Set-Cookie or Vary: *"},
		{"no-cache not cached", def, Response{Status: 200, CacheControl: []byte("no-cache")}, false, 0, "no-store, no-cache, private, Set-Cookie or Vary: *"},
		{"no-cache with field names", def, Response{Status: 200, CacheControl: []byte(`no-cache="Set-Cookie, X-A", max-age=60`)}, false, 0, "no-store, no-cache, private, Set-Cookie or Vary: *"},
		{"private not cached", def, Response{Status: 200, CacheControl: []byte("private, max-age=600")}, false, 0, "no-store, no-cache, private, Set-Cookie or Vary: *"},
		{"set-cookie not cached", def, Response{Status: 200, CacheControl: []byte("max-age=600"), SetCookie: true}, false, 0, "no-store, no-cache, private, Set-Cookie or Vary: *"},
		{"vary star not cached", def, Response{Status: 200, Vary: []byte("Accept, *")}, false, 0, "no-store, no-cache, private, Set-Cookie or Vary: *"},
		{"min ttl overrides no-store", min60, Response{Status: 200, CacheControl: []byte("no-store")}, true, time.Minute, ""},
		{"min ttl overrides private with max-age", min60, Response{Status: 200, CacheControl: []byte("private, max-age=3600")}, true, time.Minute, ""},
		{"min ttl overrides set-cookie", min60, Response{Status: 200, SetCookie: true}, true, time.Minute, ""},
		{"quoted comma does not split", def, Response{Status: 200, CacheControl: []byte(`community="a,no-store", max-age=7`)}, true, 7 * time.Second, ""},

		{"203 cached", def, Response{Status: 203, CacheControl: []byte("max-age=9")}, true, 9 * time.Second, ""},
		{"204 cached", def, Response{Status: 204}, true, 24 * time.Hour, ""},
		{"301 cached", def, Response{Status: 301}, true, 24 * time.Hour, ""},
		{"302 cached", def, Response{Status: 302, CacheControl: []byte("max-age=30")}, true, 30 * time.Second, ""},
		{"307 without cache-control", def, Response{Status: 307}, false, 0, "307/308 without Cache-Control"},
		{"307 with cache-control", def, Response{Status: 307, CacheControl: []byte("max-age=60")}, true, time.Minute, ""},
		{"308 without cache-control", def, Response{Status: 308, Expires: []byte(httpDate(t0.Add(time.Hour)))}, false, 0, "307/308 without Cache-Control"},
		{"206 not cached", def, Response{Status: 206, CacheControl: []byte("max-age=60")}, false, 0, "status not cacheable"},
		{"201 not cached", def, Response{Status: 201}, false, 0, "status not cacheable"},
		{"401 not cached", def, Response{Status: 401, CacheControl: []byte("max-age=60")}, false, 0, "status not cacheable"},
		{"429 not cached", def, Response{Status: 429}, false, 0, "status not cacheable"},
		{"505 not cached", def, Response{Status: 505}, false, 0, "status not cacheable"},

		{"404 error caching minimum", def, Response{Status: 404}, true, 10 * time.Second, ""},
		{"404 longer origin max-age", def, Response{Status: 404, CacheControl: []byte("max-age=300")}, true, 5 * time.Minute, ""},
		{"404 shorter origin max-age", def, Response{Status: 404, CacheControl: []byte("max-age=2")}, true, 10 * time.Second, ""},
		{"404 no-store not cached", def, Response{Status: 404, CacheControl: []byte("no-store")}, false, 0, "error answer with no-store, no-cache, private or Set-Cookie"},
		{"404 min ttl does not override no-store", min60, Response{Status: 404, CacheControl: []byte("private")}, false, 0, "error answer with no-store, no-cache, private or Set-Cookie"},
		{"414 cached", def, Response{Status: 414}, true, 10 * time.Second, ""},
		{"500 cached", def, Response{Status: 500}, true, 10 * time.Second, ""},
		{"501 cached", def, Response{Status: 501}, true, 10 * time.Second, ""},
		{"502 cached", def, Response{Status: 502}, true, 10 * time.Second, ""},
		{"503 cached", def, Response{Status: 503}, true, 10 * time.Second, ""},
		{"504 cached", def, Response{Status: 504}, true, 10 * time.Second, ""},
		{"503 s-maxage", def, Response{Status: 503, CacheControl: []byte("s-maxage=60, max-age=1")}, true, time.Minute, ""},
		{"400 without max-age", def, Response{Status: 400}, false, 0, "error answer without max-age"},
		{"400 with max-age", def, Response{Status: 400, CacheControl: []byte("max-age=1")}, true, 10 * time.Second, ""},
		{"403 without max-age", def, Response{Status: 403}, false, 0, "error answer without max-age"},
		{"403 with s-maxage", def, Response{Status: 403, CacheControl: []byte("s-maxage=30")}, true, 30 * time.Second, ""},
		{"405 with max-age", def, Response{Status: 405, CacheControl: []byte("max-age=20")}, true, 20 * time.Second, ""},
		{"412 without max-age", def, Response{Status: 412}, false, 0, "error answer without max-age"},
		{"415 with max-age", def, Response{Status: 415, CacheControl: []byte("max-age=0")}, true, 10 * time.Second, ""},
		{"416 never", def, Response{Status: 416, CacheControl: []byte("max-age=600")}, false, 0, "416 is never cached"},
		{"custom error ttl per status", TTLPolicy{MaxTTL: time.Hour, ErrorCachingMinTTL: 10 * time.Second, ErrorTTLs: map[int]time.Duration{404: time.Minute, 503: 0}}, Response{Status: 404}, true, time.Minute, ""},
		{"custom error ttl 0 disables", TTLPolicy{MaxTTL: time.Hour, ErrorCachingMinTTL: 10 * time.Second, ErrorTTLs: map[int]time.Duration{503: 0}}, Response{Status: 503}, false, 0, "error caching minimum ttl 0"},
		{"unkeyed authorization not stored", def, Response{Status: 200, CacheControl: []byte("max-age=60"), AuthorizationUnkeyed: true}, false, 0, "answer to an authorized request without public, s-maxage or must-revalidate"},
		{"unkeyed authorization with public", def, Response{Status: 200, CacheControl: []byte("public, max-age=60"), AuthorizationUnkeyed: true}, true, time.Minute, ""},
		{"unkeyed authorization with s-maxage", def, Response{Status: 200, CacheControl: []byte("s-maxage=60"), AuthorizationUnkeyed: true}, true, time.Minute, ""},
		{"unkeyed authorization 404", def, Response{Status: 404, AuthorizationUnkeyed: true}, false, 0, "answer to an authorized request without public, s-maxage or must-revalidate"},
		{"zero policy caches nothing", TTLPolicy{}, Response{Status: 200, CacheControl: []byte("max-age=60")}, false, 0, "ttl 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := Decide(&tc.p, &tc.r, t0)
			if d.Store != tc.store || d.TTL != tc.ttl || d.Reason != tc.reason {
				t.Errorf("Decide = store %v ttl %v reason %q; want %v %v %q", d.Store, d.TTL, d.Reason, tc.store, tc.ttl, tc.reason)
			}
		})
	}
}

func TestDecideStaleDirectives(t *testing.T) {
	p := DefaultTTLPolicy()
	d := Decide(&p, &Response{Status: 200, CacheControl: []byte("max-age=60, stale-while-revalidate=30, stale-if-error=600")}, t0)
	if d.StaleWhileRevalidate != 30*time.Second || d.StaleIfError != 10*time.Minute || !d.StaleIfErrorSet || d.MustRevalidate {
		t.Errorf("decision %+v", d)
	}
	d = Decide(&p, &Response{Status: 200, CacheControl: []byte("max-age=60, stale-if-error=0, must-revalidate")}, t0)
	if !d.StaleIfErrorSet || d.StaleIfError != 0 || !d.MustRevalidate {
		t.Errorf("decision %+v", d)
	}
	d = Decide(&p, &Response{Status: 200, CacheControl: []byte("max-age=60")}, t0)
	if d.StaleIfErrorSet || d.StaleWhileRevalidate != 0 {
		t.Errorf("decision %+v", d)
	}
}

func TestCacheableMethod(t *testing.T) {
	for _, tc := range []struct {
		m    string
		opt  bool
		want bool
	}{{"GET", false, true}, {"HEAD", false, true}, {"OPTIONS", false, false}, {"OPTIONS", true, true}, {"POST", true, false}, {"PUT", false, false}, {"DELETE", false, false}, {"PATCH", false, false}} {
		if got := CacheableMethod(tc.m, tc.opt); got != tc.want {
			t.Errorf("CacheableMethod(%s, %v) = %v", tc.m, tc.opt, got)
		}
	}
}

func TestParseHTTPDate(t *testing.T) {
	want := time.Date(1994, 11, 6, 8, 49, 37, 0, time.UTC)
	for _, s := range []string{"Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"} {
		got, ok := ParseHTTPDate([]byte(s))
		if !ok || !got.Equal(want) {
			t.Errorf("ParseHTTPDate(%q) = %v %v", s, got, ok)
		}
	}
	if _, ok := ParseHTTPDate([]byte("yesterday")); ok {
		t.Error("garbage parsed")
	}
}

func FuzzCacheControl(f *testing.F) {
	for _, s := range []string{"max-age=60", `no-cache="a,b", s-maxage=5`, `x="\"`, "max-age=99999999999999999999", ",,,=,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p := DefaultTTLPolicy()
		d := Decide(&p, &Response{Status: 200, CacheControl: []byte(s)}, t0)
		if d.TTL < 0 || d.TTL > p.MaxTTL || (d.Store && d.TTL == 0) {
			t.Fatalf("Decide(%q) = %+v", s, d)
		}
	})
}
