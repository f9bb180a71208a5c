package cache

import (
	"bytes"
	"strings"
	"testing"
)

type hdrs map[string]string

func (h hdrs) Peek(name string) []byte {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return []byte(v)
		}
	}
	return nil
}

func key(p *KeyPolicy, dist string, r Request) string {
	k, _ := p.AppendKey(nil, dist, &r)
	return string(k)
}

func TestKeyDistributionPathMethod(t *testing.T) {
	p := &KeyPolicy{}
	base := key(p, "site", Request{Method: "GET", Path: []byte("/a")})
	if got := key(p, "site", Request{Method: "HEAD", Path: []byte("/a")}); got != base {
		t.Errorf("HEAD and GET must share a key")
	}
	for name, r := range map[string]Request{
		"other path":   {Method: "GET", Path: []byte("/b")},
		"path case":    {Method: "GET", Path: []byte("/A")},
		"OPTIONS":      {Method: "OPTIONS", Path: []byte("/a")},
		"trailing sla": {Method: "GET", Path: []byte("/a/")},
	} {
		if key(p, "site", r) == base {
			t.Errorf("%s: same key as GET /a", name)
		}
	}
	if key(p, "other", Request{Method: "GET", Path: []byte("/a")}) == base {
		t.Errorf("distributions must not share keys")
	}
}

// A header, cookie or query parameter the policy does not name never changes
// the key (cache-key isolation, hardening §4.3).
func TestKeyIsolationUnkeyedInputs(t *testing.T) {
	p := &KeyPolicy{Headers: []string{"x-device"}, Cookies: List, CookieNames: []string{"lang"}, Query: List, QueryNames: []string{"v"}}
	base := key(p, "site", Request{Method: "GET", Path: []byte("/p"), Query: []byte("v=1"), Cookie: []byte("lang=en"),
		Header: hdrs{"X-Device": "phone"}})
	for name, r := range map[string]Request{
		"x-forwarded-host": {Method: "GET", Path: []byte("/p"), Query: []byte("v=1"), Cookie: []byte("lang=en"),
			Header: hdrs{"X-Device": "phone", "X-Forwarded-Host": "evil.example"}},
		"x-original-url": {Method: "GET", Path: []byte("/p"), Query: []byte("v=1"), Cookie: []byte("lang=en"),
			Header: hdrs{"X-Device": "phone", "X-Original-URL": "/admin"}},
		"unkeyed cookie": {Method: "GET", Path: []byte("/p"), Query: []byte("v=1"), Cookie: []byte("session=abc; lang=en"),
			Header: hdrs{"X-Device": "phone"}},
		"unkeyed query": {Method: "GET", Path: []byte("/p"), Query: []byte("utm=x&v=1&z"), Cookie: []byte("lang=en"),
			Header: hdrs{"X-Device": "phone"}},
		"header name case": {Method: "GET", Path: []byte("/p"), Query: []byte("v=1"), Cookie: []byte("lang=en"),
			Header: hdrs{"x-DEVICE": "phone"}},
		"accept-encoding without compression": {Method: "GET", Path: []byte("/p"), Query: []byte("v=1"), Cookie: []byte("lang=en"),
			Header: hdrs{"X-Device": "phone"}, AcceptEncoding: []byte("gzip, br")},
	} {
		if got := key(p, "site", r); got != base {
			t.Errorf("%s changed the key", name)
		}
	}
	for name, r := range map[string]Request{
		"header value case": {Method: "GET", Path: []byte("/p"), Query: []byte("v=1"), Cookie: []byte("lang=en"), Header: hdrs{"X-Device": "Phone"}},
		"header absent":     {Method: "GET", Path: []byte("/p"), Query: []byte("v=1"), Cookie: []byte("lang=en")},
		"cookie value":      {Method: "GET", Path: []byte("/p"), Query: []byte("v=1"), Cookie: []byte("lang=fr"), Header: hdrs{"X-Device": "phone"}},
		"query value":       {Method: "GET", Path: []byte("/p"), Query: []byte("v=2"), Cookie: []byte("lang=en"), Header: hdrs{"X-Device": "phone"}},
		"query no value":    {Method: "GET", Path: []byte("/p"), Query: []byte("v"), Cookie: []byte("lang=en"), Header: hdrs{"X-Device": "phone"}},
		"query repeated":    {Method: "GET", Path: []byte("/p"), Query: []byte("v=1&v=1"), Cookie: []byte("lang=en"), Header: hdrs{"X-Device": "phone"}},
	} {
		if got := key(p, "site", r); got == base {
			t.Errorf("%s did not change the key", name)
		}
	}
}

func TestKeyQueryAllKeepsOrderAndCase(t *testing.T) {
	p := &KeyPolicy{Query: All}
	ab := key(p, "d", Request{Path: []byte("/"), Query: []byte("a=1&b=2")})
	if ab == key(p, "d", Request{Path: []byte("/"), Query: []byte("b=2&a=1")}) {
		t.Error("query order must matter (CloudFront §6.3)")
	}
	if key(p, "d", Request{Path: []byte("/"), Query: []byte("color=Red")}) == key(p, "d", Request{Path: []byte("/"), Query: []byte("color=red")}) {
		t.Error("query value case must matter")
	}
	none := &KeyPolicy{}
	if key(none, "d", Request{Path: []byte("/"), Query: []byte("a=1")}) != key(none, "d", Request{Path: []byte("/")}) {
		t.Error("query none must ignore the query")
	}
}

func TestKeyCookiesAllSortedByName(t *testing.T) {
	p := &KeyPolicy{Cookies: All}
	a := key(p, "d", Request{Path: []byte("/"), Cookie: []byte("b=2; a=1")})
	b := key(p, "d", Request{Path: []byte("/"), Cookie: []byte("a=1;b=2")})
	if a != b {
		t.Error("cookie order must not split the key")
	}
	if a == key(p, "d", Request{Path: []byte("/"), Cookie: []byte("a=1; b=3")}) {
		t.Error("cookie value must matter")
	}
	if p.Collapsible() {
		t.Error("forwarding cookies disables collapsing")
	}
}

// Separators inside values must not let two different requests meet on one
// key: every field is length-prefixed.
func TestKeyNoDelimiterCollisions(t *testing.T) {
	p := &KeyPolicy{Headers: []string{"a", "b"}, Cookies: All, Query: List, QueryNames: []string{"x", "y"}}
	reqs := []Request{
		{Path: []byte("/p"), Header: hdrs{"a": "1b2", "b": ""}},
		{Path: []byte("/p"), Header: hdrs{"a": "1", "b": "2"}},
		{Path: []byte("/p"), Header: hdrs{"a": "", "b": "12"}},
		{Path: []byte("/p"), Query: []byte("x=1&y=2")},
		{Path: []byte("/p"), Query: []byte("x=1%26y%3D2")},
		{Path: []byte("/p"), Query: []byte("x=1&y=2&x=1")},
		{Path: []byte("/p"), Cookie: []byte("a=1; b=2")},
		{Path: []byte("/p"), Cookie: []byte("a=1; b=2;")},
		{Path: []byte("/p"), Cookie: []byte("a=1;b=2")},
		{Path: []byte("/p"), Cookie: []byte("a=1%3B b=2")},
		{Path: []byte("/p"), Cookie: []byte("a=1 b=2")},
		{Path: []byte("/p\x00a")},
		{Path: []byte("/p"), Method: "OPTIONS"},
	}
	seen := map[string]int{}
	for i, r := range reqs {
		k := key(p, "d", r)
		if j, ok := seen[k]; ok {
			// Cookies "a=1; b=2", "a=1; b=2;" and "a=1;b=2" are the
			// same cookies; everything else must differ.
			if !(i <= 8 && j >= 6) {
				t.Errorf("request %d and %d share a key", j, i)
			}
			continue
		}
		seen[k] = i
	}
	// A distribution name cannot swallow the path.
	if key(&KeyPolicy{}, "d\x02/p", Request{Path: []byte("x")}) == key(&KeyPolicy{}, "d", Request{Path: []byte("/px")}) {
		t.Error("dist/path collision")
	}
}

func TestKeyAcceptEncodingBuckets(t *testing.T) {
	p := &KeyPolicy{Gzip: true, Brotli: true}
	bucket := func(ae string) (string, Encoding) {
		k, enc := p.AppendKey(nil, "d", &Request{Path: []byte("/"), AcceptEncoding: []byte(ae)})
		return string(k), enc
	}
	kBr, enc := bucket("gzip, deflate, br")
	if enc != Brotli {
		t.Fatalf("enc = %v, want br", enc)
	}
	if k, _ := bucket("br;q=1.0, gzip;q=0.8, zstd"); k != kBr {
		t.Error("br,gzip variants must share one bucket")
	}
	kGz, enc := bucket("gzip")
	if enc != Gzip || kGz == kBr {
		t.Errorf("gzip bucket: enc %v", enc)
	}
	if k, _ := bucket("deflate, gzip;q=0.5"); k != kGz {
		t.Error("q-value and other tokens must not split the gzip bucket")
	}
	kID, enc := bucket("")
	if enc != Identity || kID == kGz || kID == kBr {
		t.Error("identity bucket")
	}
	if k, _ := bucket("deflate, zstd, br;q=0, gzip;q=0"); k != kID {
		t.Error("refused codings must fall back to identity")
	}
}

func TestAppendQueryAndCookieForwardWhatIsKeyed(t *testing.T) {
	p := &KeyPolicy{Query: List, QueryNames: []string{"a", "c"}, Cookies: List, CookieNames: []string{"lang"}}
	if got := string(p.AppendQuery(nil, []byte("b=2&a=1&%61=9&c&a=3"))); got != "a=1&c&a=3" {
		t.Errorf("AppendQuery = %q", got)
	}
	if got := string(p.AppendCookie(nil, []byte("sid=x; lang=en ;theme=dark"))); got != "lang=en" {
		t.Errorf("AppendCookie = %q", got)
	}
	all := &KeyPolicy{Query: All}
	if got := string(all.AppendQuery(nil, []byte("z=1&a=2"))); got != "z=1&a=2" {
		t.Errorf("AppendQuery all = %q", got)
	}
	if got := (&KeyPolicy{}).AppendQuery(nil, []byte("a=1")); len(got) != 0 {
		t.Errorf("AppendQuery none = %q", got)
	}
}

func TestKeyParts(t *testing.T) {
	k, _ := (&KeyPolicy{Query: All}).AppendKey(nil, "site", &Request{Method: "OPTIONS", Path: []byte("/img/a.png"), Query: []byte("x")})
	d, p, ok := KeyParts(k)
	if !ok || string(d) != "site" || string(p) != "/img/a.png" {
		t.Errorf("KeyParts = %q %q %v", d, p, ok)
	}
	for _, bad := range [][]byte{nil, {1}, {1, 'D', 200}, {2, 'D', 0, 'P', 0}} {
		if _, _, ok := KeyParts(bad); ok {
			t.Errorf("KeyParts(%q) ok", bad)
		}
	}
}

func TestKeyBuildAllocatesNothing(t *testing.T) {
	p := &KeyPolicy{Headers: []string{"x-device", "cloudfront-viewer-country"}, Cookies: All, Query: List,
		QueryNames: []string{"v", "w"}, Gzip: true, Brotli: true}
	r := &Request{Method: "GET", Path: []byte("/static/app.js"), Query: []byte("v=3&utm=x&w"),
		Cookie: []byte("b=2; a=1; c=3"), AcceptEncoding: []byte("gzip, deflate, br"), Header: hdrsPeeker{}}
	buf := make([]byte, 0, 512)
	allocs := testing.AllocsPerRun(1000, func() {
		buf, _ = p.AppendKey(buf[:0], "site", r)
	})
	if allocs != 0 {
		t.Errorf("AppendKey allocs = %v, want 0", allocs)
	}
}

// hdrsPeeker is an allocation-free HeaderPeeker.
type hdrsPeeker struct{}

var phone = []byte("phone")

func (hdrsPeeker) Peek(name string) []byte {
	if name == "x-device" {
		return phone
	}
	return nil
}

func FuzzCacheKey(f *testing.F) {
	f.Add("GET", "/a", "x=1&y=2", "a=1; b=2", "v1", "v2", "GET", "/a", "y=2&x=1", "b=2; a=1", "v1", "v2")
	f.Add("GET", "/a", "x=1%26y=2", "", "1", "", "GET", "/a", "x=1&y=2", "", "", "1")
	f.Fuzz(func(t *testing.T, m1, p1, q1, c1, h1, g1, m2, p2, q2, c2, h2, g2 string) {
		pol := &KeyPolicy{Headers: []string{"h", "g"}, Cookies: All, Query: List, QueryNames: []string{"x", "y"}}
		r1 := Request{Method: m1, Path: []byte(p1), Query: []byte(q1), Cookie: []byte(c1), Header: hdrs{"h": h1, "g": g1}}
		r2 := Request{Method: m2, Path: []byte(p2), Query: []byte(q2), Cookie: []byte(c2), Header: hdrs{"h": h2, "g": g2}}
		k1a, _ := pol.AppendKey(nil, "d", &r1)
		k1b, _ := pol.AppendKey(make([]byte, 3), "d", &r1)
		if !bytes.Equal(k1a, k1b[3:]) {
			t.Fatal("key not deterministic")
		}
		k2, _ := pol.AppendKey(nil, "d", &r2)
		if !bytes.Equal(k1a, k2) {
			return
		}
		// Equal keys: every keyed component must be equal.
		norm := func(m string) string {
			if m == "HEAD" || m == "" {
				return "GET"
			}
			return m
		}
		if norm(m1) != norm(m2) || p1 != p2 || h1 != h2 || g1 != g2 ||
			string(pol.AppendQuery(nil, []byte(q1))) != string(pol.AppendQuery(nil, []byte(q2))) {
			t.Fatalf("collision: %q vs %q", k1a, k2)
		}
		if _, p, ok := KeyParts(k1a); !ok || string(p) != p1 {
			t.Fatalf("KeyParts path %q, want %q", p, p1)
		}
	})
}

func BenchmarkAppendKey(b *testing.B) {
	p := &KeyPolicy{Headers: []string{"x-device"}, Query: All, Gzip: true, Brotli: true}
	r := &Request{Method: "GET", Path: []byte("/static/app.js"), Query: []byte("v=3"),
		AcceptEncoding: []byte("gzip, deflate, br"), Header: hdrsPeeker{}}
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = p.AppendKey(buf[:0], "site", r)
	}
}

func TestAppendVary(t *testing.T) {
	p := &KeyPolicy{Headers: []string{"x-device"}, Cookies: List, CookieNames: []string{"a"}, Gzip: true}
	if got := string(p.AppendVary(nil, []byte("User-Agent, Accept-Encoding,X-Device , cookie, Origin"))); got != "Accept-Encoding, X-Device, cookie" {
		t.Errorf("AppendVary = %q", got)
	}
	if got := string((&KeyPolicy{}).AppendVary(nil, []byte("Accept-Encoding, User-Agent"))); got != "" {
		t.Errorf("AppendVary without compression = %q", got)
	}
	if got := string((&KeyPolicy{}).AppendVary(nil, []byte("*"))); got != "*" {
		t.Errorf("AppendVary(*) = %q", got)
	}
}
