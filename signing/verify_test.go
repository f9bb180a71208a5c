package signing

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/cloudfront/sign"
)

// SDK-made URLs and cookies verify here (reference/cloudfront.md §10.3).
func TestSDKInterop(t *testing.T) {
	rk, ek := rsaKey(t), ecKey(t)
	clk := &testClock{t0}
	tr := trusted(t, clk, map[string]crypto.Signer{"KRSA": rk, "KECDSA": ek})
	exp := t0.Add(time.Hour)
	const base = "https://d111111abcdef8.cloudfront.net/path/a%20b.jpg?x=1&y=%2F"

	type step struct {
		name    string
		url     string
		cookies string
		ip      string
		want    Code // 0 = pass
		query   string
	}
	var steps []step
	add := func(name, url, cookies, ip string, want Code, query string) {
		steps = append(steps, step{name, url, cookies, ip, want, query})
	}

	u, err := sign.NewURLSigner("KRSA", rk).Sign(base, exp)
	if err != nil {
		t.Fatal(err)
	}
	add("rsa canned url", u, "", "", 0, "x=1&y=%2F")

	u, err = sign.NewURLSigner("KECDSA", ek).Sign(base, exp)
	if err != nil {
		t.Fatal(err)
	}
	add("ecdsa canned url", u, "", "", 0, "x=1&y=%2F")

	custom := &sign.Policy{Statements: []sign.Statement{{
		Resource: "https://d111111abcdef8.cloudfront.net/path/*",
		Condition: sign.Condition{
			DateLessThan:    sign.NewAWSEpochTime(exp),
			DateGreaterThan: sign.NewAWSEpochTime(t0.Add(-time.Minute)),
			IPAddress:       &sign.IPAddress{SourceIP: "127.0.0.0/24"},
		},
	}}}
	u, err = sign.NewURLSigner("KRSA", rk).SignWithPolicy(base, custom)
	if err != nil {
		t.Fatal(err)
	}
	add("rsa custom url", u, "", "127.0.0.9", 0, "x=1&y=%2F")
	add("rsa custom url from outside the CIDR", u, "", "127.0.1.1", AccessDenied, "")
	other := strings.Replace(u, "/path/a%20b.jpg", "/path/deeper/other.png", 1)
	add("custom wildcard covers another path", other, "", "127.0.0.1", 0, "x=1&y=%2F")
	add("custom wildcard does not cover another tree", strings.Replace(u, "/path/", "/private/", 1), "", "127.0.0.1", AccessDenied, "")

	u, err = sign.NewURLSigner("KECDSA", ek).SignWithPolicy(base, custom)
	if err != nil {
		t.Fatal(err)
	}
	add("ecdsa custom url", u, "", "127.0.0.1", 0, "x=1&y=%2F")

	cookies, err := sign.NewCookieSigner("KRSA", rk).Sign("https://d111111abcdef8.cloudfront.net/*", exp,
		func(o *sign.CookieOptions) { o.Path = "/"; o.Secure = true })
	if err != nil {
		t.Fatal(err)
	}
	add("sdk cookies (CloudFront-Policy form)", base, cookieHeader(cookies), "", 0, "x=1&y=%2F")
	add("sdk cookies unlock another path", "https://d111111abcdef8.cloudfront.net/z", cookieHeader(cookies), "", 0, "")
	add("sdk cookies do not unlock another host", "https://evil.example/z", cookieHeader(cookies), "", AccessDenied, "")

	cookies, err = sign.NewCookieSigner("KRSA", rk).SignWithPolicy(custom)
	if err != nil {
		t.Fatal(err)
	}
	add("sdk custom cookies", base, cookieHeader(cookies), "127.0.0.2", 0, "x=1&y=%2F")
	add("sdk custom cookies wrong ip", base, cookieHeader(cookies), "10.0.0.1", AccessDenied, "")

	// Canned cookies with CloudFront-Expires, built from the SDK's policy
	// signer as the reference suggests (§10.3 step 5).
	b64sig, _, err := sign.NewCannedPolicy(base, exp).Sign(rk)
	if err != nil {
		t.Fatal(err)
	}
	canned := "CloudFront-Expires=" + itoa(exp.Unix()) + "; CloudFront-Signature=" + string(b64sig) + "; CloudFront-Key-Pair-Id=KRSA"
	add("canned cookies", base, canned, "", 0, "x=1&y=%2F")
	add("canned cookies only for the exact URL", base+"&z=3", canned, "", AccessDenied, "")

	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			r := requestFor(t, s.url)
			r.Cookies = s.cookies
			if s.ip != "" {
				r.ClientIP = netip.MustParseAddr(s.ip)
			}
			res, err := tr.Verify(r)
			if s.want != 0 {
				wantCode(t, err, s.want)
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if res.StrippedQuery != s.query {
				t.Errorf("StrippedQuery = %q, want %q", res.StrippedQuery, s.query)
			}
			wantMode := ModeURL
			if s.cookies != "" {
				wantMode = ModeCookie
			}
			if res.Mode != wantMode || !res.Expires.Equal(exp) {
				t.Errorf("result %+v", res)
			}
		})
	}
}

func cookieHeader(cs []*http.Cookie) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = c.Name + "=" + c.Value
	}
	return strings.Join(parts, "; ")
}

func itoa(n int64) string { return strings.TrimSpace(strings.Repeat(" ", 0) + formatInt(n)) }

func formatInt(n int64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

// sha256URL signs rawURL canned with SHA-256 by hand (the Go SDK cannot),
// as reference/cloudfront.md §10.3 step 7 describes.
func sha256URL(t *testing.T, key *rsa.PrivateKey, rawURL string, exp time.Time) string {
	t.Helper()
	d := sha256.Sum256(CannedPolicy(rawURL, exp).AppendJSON(nil))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, d[:])
	if err != nil {
		t.Fatal(err)
	}
	return rawURL + "?Expires=" + itoa(exp.Unix()) + "&Signature=" + Encode(sig) + "&Key-Pair-Id=KRSA&Hash-Algorithm=SHA256"
}

func TestHashAlgorithm(t *testing.T) {
	rk := rsaKey(t)
	clk := &testClock{t0}
	tr := trusted(t, clk, map[string]crypto.Signer{"KRSA": rk})
	exp := t0.Add(time.Hour)
	u := sha256URL(t, rk, "https://h.test/a", exp)
	if _, err := tr.Verify(requestFor(t, u)); err != nil {
		t.Fatalf("sha256: %v", err)
	}
	// The same signature claimed as SHA-1 (parameter dropped) fails.
	_, err := tr.Verify(requestFor(t, strings.TrimSuffix(u, "&Hash-Algorithm=SHA256")))
	wantCode(t, err, AccessDenied)
	for _, v := range []string{"sha256", "SHA512", "MD5", ""} {
		_, err = tr.Verify(requestFor(t, strings.Replace(u, "=SHA256", "="+v, 1)))
		wantCode(t, err, MalformedSignature)
	}
	// Our signer with WithHash(SHA256), URL and cookies, RSA and ECDSA.
	for id, k := range map[string]crypto.Signer{"KRSA": rk} {
		s, err := NewURLSigner(id, k, WithHash(SHA256))
		if err != nil {
			t.Fatal(err)
		}
		u, err := s.Sign("https://h.test/b?q=1", exp)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(u, "&Key-Pair-Id="+id+"&Hash-Algorithm=SHA256") {
			t.Errorf("param order: %s", u)
		}
		if _, err := tr.Verify(requestFor(t, u)); err != nil {
			t.Errorf("own sha256 url: %v", err)
		}
	}
}

func TestECDSAOwnSigner(t *testing.T) {
	ek := ecKey(t)
	clk := &testClock{t0}
	tr := trusted(t, clk, map[string]crypto.Signer{"KEC": ek})
	for _, h := range []Hash{SHA1, SHA256} {
		us, err := NewURLSigner("KEC", ek, WithHash(h))
		if err != nil {
			t.Fatal(err)
		}
		u, err := us.Sign("https://h.test/e.jpg", t0.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tr.Verify(requestFor(t, u)); err != nil {
			t.Errorf("%v url: %v", h, err)
		}
		cs, err := NewCookieSigner("KEC", ek, WithHash(h))
		if err != nil {
			t.Fatal(err)
		}
		cookies, err := cs.SignWithPolicy(&Policy{Resource: "https://h.test/*", Expires: t0.Add(time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		r := requestFor(t, "https://h.test/any/thing?x")
		var parts []string
		for _, c := range cookies {
			parts = append(parts, c.Name+"="+c.Value)
		}
		r.Cookies = "session=1; " + strings.Join(parts, "; ")
		if res, err := tr.Verify(r); err != nil || res.Mode != ModeCookie || res.StrippedQuery != "x" {
			t.Errorf("%v cookies: %+v %v", h, res, err)
		}
	}
}

// Expiry is strict (now must be before DateLessThan), start is strict (now
// must be after DateGreaterThan), both checked with the injected clock, and a
// cached signature does not outlive its policy.
func TestTimeBoundaries(t *testing.T) {
	rk := rsaKey(t)
	clk := &testClock{t0}
	tr := trusted(t, clk, map[string]crypto.Signer{"KRSA": rk})
	s, _ := NewURLSigner("KRSA", rk)
	exp, nbf := t0.Add(time.Hour), t0.Add(10*time.Minute)
	canned, err := s.Sign("https://h.test/a", exp)
	if err != nil {
		t.Fatal(err)
	}
	custom, err := s.SignWithPolicy("https://h.test/a", &Policy{Resource: "https://h.test/a", Expires: exp, Starts: nbf})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		at     time.Time
		url    string
		want   Code
		reason error
	}{
		{exp.Add(-time.Nanosecond), canned, 0, nil},
		{exp, canned, AccessDenied, ErrExpired},
		{exp.Add(time.Second), canned, AccessDenied, ErrExpired},
		{nbf, custom, AccessDenied, ErrNotYetValid},
		{nbf.Add(-time.Hour), custom, AccessDenied, ErrNotYetValid},
		{nbf.Add(time.Nanosecond), custom, 0, nil},
		{exp.Add(-time.Nanosecond), custom, 0, nil},
		{exp, custom, AccessDenied, ErrExpired},
		{exp.Add(-time.Nanosecond), canned, 0, nil}, // cached before; still valid
	} {
		clk.t = tc.at
		res, err := tr.Verify(requestFor(t, tc.url))
		if tc.want == 0 {
			if err != nil {
				t.Errorf("at %v: %v", tc.at, err)
			}
			continue
		}
		wantCode(t, err, tc.want)
		if !errors.Is(err, tc.reason) {
			t.Errorf("at %v: cause %v, want %v", tc.at, err, tc.reason)
		}
		_ = res
	}
}

// Every tampering is rejected with the documented code (reference §1.6,
// §10.3 step 6) and never reaches a valid verdict.
func TestTampering(t *testing.T) {
	rk := rsaKey(t)
	clk := &testClock{t0}
	tr := trusted(t, clk, map[string]crypto.Signer{"KRSA": rk})
	s, _ := NewURLSigner("KRSA", rk)
	exp := t0.Add(time.Hour)
	canned, _ := s.Sign("https://h.test/a?x=1", exp)
	custom, _ := s.SignWithPolicy("https://h.test/a?x=1", &Policy{Resource: "https://h.test/a*", Expires: exp})
	sigOf := func(u string) string {
		_, v, _ := strings.Cut(u, "Signature=")
		v, _, _ = strings.Cut(v, "&")
		return v
	}
	policyOf := func(u string) string {
		_, v, _ := strings.Cut(u, "Policy=")
		v, _, _ = strings.Cut(v, "&")
		return v
	}
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	sig, pol := sigOf(canned), policyOf(custom)
	// A policy that parses but was never signed: longer expiry.
	forged := Encode(CannedPolicy("https://h.test/a*", exp.Add(24*time.Hour)).AppendJSON(nil))
	for _, tc := range []struct {
		name, url string
		want      Code
	}{
		{"no key pair id", strings.Replace(canned, "&Key-Pair-Id=KRSA", "", 1), MissingKey},
		{"empty key pair id", strings.Replace(canned, "Key-Pair-Id=KRSA", "Key-Pair-Id=", 1), MissingKey},
		{"unsigned request", "https://h.test/a?x=1", MissingKey},
		{"unknown key id", strings.Replace(canned, "Key-Pair-Id=KRSA", "Key-Pair-Id=KNOPE", 1), InvalidKey},
		{"key id of an untrusted group", strings.Replace(canned, "Key-Pair-Id=KRSA", "Key-Pair-Id=KOTHER", 1), InvalidKey},
		{"key id case", strings.Replace(canned, "Key-Pair-Id=KRSA", "Key-Pair-Id=krsa", 1), InvalidKey},
		{"signature one char changed", strings.Replace(canned, sig, flip(sig, 10), 1), AccessDenied},
		{"signature truncated", strings.Replace(canned, sig, sig[:len(sig)-4], 1), AccessDenied},
		{"signature standard base64", strings.Replace(canned, sig, strings.NewReplacer("-", "+", "~", "/", "_", "=").Replace(sig), 1), MalformedSignature},
		{"signature unpadded", strings.Replace(canned, sig, strings.TrimRight(sig, "_"), 1), MalformedSignature},
		{"signature with NUL", strings.Replace(canned, sig, sig[:8]+"%00"+sig[11:], 1), MalformedSignature},
		{"signature empty", strings.Replace(canned, "Signature="+sig, "Signature=", 1), MalformedSignature},
		{"expires changed", strings.Replace(canned, "Expires="+itoa(exp.Unix()), "Expires="+itoa(exp.Unix()+3600), 1), AccessDenied},
		{"expires not a number", strings.Replace(canned, "Expires="+itoa(exp.Unix()), "Expires=1e10", 1), AccessDenied},
		{"expires negative", strings.Replace(canned, "Expires="+itoa(exp.Unix()), "Expires=-1", 1), AccessDenied},
		{"param appended after signing", canned + "&y=2", AccessDenied},
		{"param inserted before signing params", strings.Replace(canned, "?x=1", "?x=1&y=2", 1), AccessDenied},
		{"query value changed", strings.Replace(canned, "x=1", "x=2", 1), AccessDenied},
		{"scheme swapped", strings.Replace(canned, "https://", "http://", 1), AccessDenied},
		{"host changed", strings.Replace(canned, "h.test", "h.test:8443", 1), AccessDenied},
		{"path percent-decoded differently", strings.Replace(canned, "/a?", "/%61?", 1), AccessDenied},
		{"duplicate signature", canned + "&Signature=" + sig, AccessDenied},
		{"duplicate expires", canned + "&Expires=1", AccessDenied},
		{"policy and expires", custom + "&Expires=" + itoa(exp.Unix()), MalformedPolicy},
		{"policy one char changed", strings.Replace(custom, pol, flip(pol, 20), 1), MalformedPolicy},
		{"policy truncated", strings.Replace(custom, pol, pol[:len(pol)-8], 1), MalformedPolicy},
		{"policy not base64", strings.Replace(custom, pol, pol[:10]+"!!!!"+pol[14:], 1), MalformedPolicy},
		{"policy replaced by a forged one", strings.Replace(custom, pol, forged, 1), AccessDenied},
		{"policy empty", strings.Replace(custom, "Policy="+pol, "Policy=", 1), MalformedPolicy},
		{"no policy and no expires", strings.Replace(canned, "Expires="+itoa(exp.Unix())+"&", "", 1), MalformedPolicy},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tr.Verify(requestFor(t, tc.url))
			wantCode(t, err, tc.want)
		})
	}
	// The untampered ones pass (so the matrix above tests tampering, not a
	// broken fixture).
	for _, u := range []string{canned, custom} {
		if _, err := tr.Verify(requestFor(t, u)); err != nil {
			t.Fatalf("%s: %v", u, err)
		}
	}
}

func TestWrongKeyGroup(t *testing.T) {
	rk := rsaKey(t)
	pk, _ := NewPublicKey("KRSA", rk.Public())
	ok2, _ := NewPublicKey("KEC", ecKey(t).Public())
	v, err := NewVerifier([]KeyGroup{{Name: "a", Keys: []PublicKey{pk}}, {Name: "b", Keys: []PublicKey{ok2}}},
		WithClock((&testClock{t0}).now))
	if err != nil {
		t.Fatal(err)
	}
	s, _ := NewURLSigner("KRSA", rk)
	u, _ := s.Sign("https://h.test/a", t0.Add(time.Hour))
	trA, _ := v.Trust("a")
	trB, _ := v.Trust("b")
	trAB, _ := v.Trust("b", "a")
	if _, err := trA.Verify(requestFor(t, u)); err != nil {
		t.Errorf("group a: %v", err)
	}
	if _, err := trAB.Verify(requestFor(t, u)); err != nil {
		t.Errorf("groups b,a: %v", err)
	}
	_, err = trB.Verify(requestFor(t, u))
	wantCode(t, err, InvalidKey)
	if _, err := v.Trust("c"); err == nil {
		t.Error("Trust of an unknown group succeeded")
	}
}

// The IP condition sees only Request.ClientIP; an X-Forwarded-For header
// does not exist for the verifier (the edge never passes it), so spoofing it
// changes nothing. IPv6 viewers against IPv4 CIDRs are denied.
func TestIPCondition(t *testing.T) {
	rk := rsaKey(t)
	tr := trusted(t, &testClock{t0}, map[string]crypto.Signer{"KRSA": rk})
	s, _ := NewURLSigner("KRSA", rk)
	u4, _ := s.SignWithPolicy("https://h.test/a", &Policy{Resource: "https://h.test/a", Expires: t0.Add(time.Hour), SourceIP: netip.MustParsePrefix("127.0.0.1/32")})
	u6, _ := s.SignWithPolicy("https://h.test/a", &Policy{Resource: "https://h.test/a", Expires: t0.Add(time.Hour), SourceIP: netip.MustParsePrefix("::1/128")})
	for _, tc := range []struct {
		url, ip string
		ok      bool
	}{
		{u4, "127.0.0.1", true},
		{u4, "::ffff:127.0.0.1", true}, // v4-mapped socket address
		{u4, "127.0.0.2", false},
		{u4, "::1", false},
		{u4, "", false}, // unknown viewer address
		{u6, "::1", true},
		{u6, "127.0.0.1", false},
	} {
		r := requestFor(t, tc.url)
		r.ClientIP = netip.Addr{}
		if tc.ip != "" {
			r.ClientIP = netip.MustParseAddr(tc.ip)
		}
		_, err := tr.Verify(r)
		if tc.ok && err != nil {
			t.Errorf("%s from %s: %v", tc.url[len(tc.url)-20:], tc.ip, err)
		}
		if !tc.ok {
			wantCode(t, err, AccessDenied)
			if !errors.Is(err, ErrIPMismatch) {
				t.Errorf("cause %v", err)
			}
		}
	}
}

// URL mode wins whenever any signing parameter is in the query: valid
// cookies then do not rescue a broken URL (reference §2.3).
func TestURLCookiePrecedence(t *testing.T) {
	rk := rsaKey(t)
	tr := trusted(t, &testClock{t0}, map[string]crypto.Signer{"KRSA": rk})
	cs, _ := NewCookieSigner("KRSA", rk)
	cookies, _ := cs.SignWithPolicy(&Policy{Resource: "https://h.test/*", Expires: t0.Add(time.Hour)})
	var parts []string
	for _, c := range cookies {
		parts = append(parts, c.Name+"="+c.Value)
	}
	jar := strings.Join(parts, "; ")
	for _, tc := range []struct {
		query string
		want  Code
		mode  Mode
	}{
		{"", 0, ModeCookie},
		{"x=1", 0, ModeCookie},
		{"Expires=1", MissingKey, ModeURL},
		{"Expires=1&Key-Pair-Id=KRSA&Signature=AAAA", AccessDenied, ModeURL},
		{"Key-Pair-Id=KRSA", MalformedSignature, ModeURL},
		{"Signature=", MissingKey, ModeURL},
		{"Policy=abc", MissingKey, ModeURL},
		{"Hash-Algorithm=SHA256", MissingKey, ModeURL},
		{"expires=1", 0, ModeCookie}, // names are case-sensitive
	} {
		r := requestFor(t, "https://h.test/p")
		r.RawQuery = tc.query
		r.Cookies = jar
		res, err := tr.Verify(r)
		if res.Mode != tc.mode {
			t.Errorf("query %q: mode %v, want %v", tc.query, res.Mode, tc.mode)
		}
		if tc.want == 0 {
			if err != nil {
				t.Errorf("query %q: %v", tc.query, err)
			}
			continue
		}
		wantCode(t, err, tc.want)
	}
	// The Cookie callback is used when set.
	r := requestFor(t, "https://h.test/p")
	r.Cookie = func(name string) (string, bool) {
		for _, c := range cookies {
			if c.Name == name {
				return c.Value, true
			}
		}
		return "", false
	}
	if _, err := tr.Verify(r); err != nil {
		t.Errorf("Cookie callback: %v", err)
	}
	// Without cookies or parameters: MissingKey.
	_, err := tr.Verify(requestFor(t, "https://h.test/p"))
	wantCode(t, err, MissingKey)
}

// Signing parameters are stripped wherever they are; the application's
// parameters keep their order and bytes, and are part of the resource.
func TestStrippedQueryAnywhere(t *testing.T) {
	rk := rsaKey(t)
	tr := trusted(t, &testClock{t0}, map[string]crypto.Signer{"KRSA": rk})
	s, _ := NewURLSigner("KRSA", rk)
	u, _ := s.Sign("https://h.test/a?b=2&a=1&c=%20", t0.Add(time.Hour))
	base, params, _ := strings.Cut(u, "?b=2&a=1&c=%20&")
	// Move the application parameters around the signing ones: the
	// resource keeps app params in their relative order, so all verify.
	ps := strings.Split(params, "&")
	variants := []string{
		base + "?" + strings.Join(ps, "&") + "&b=2&a=1&c=%20",
		base + "?b=2&" + strings.Join(ps, "&") + "&a=1&c=%20",
		base + "?b=2&" + ps[0] + "&a=1&" + ps[1] + "&c=%20&" + ps[2],
		base + "?" + ps[2] + "&" + ps[0] + "&b=2&a=1&c=%20&" + ps[1],
	}
	for _, v := range variants {
		res, err := tr.Verify(requestFor(t, v))
		if err != nil {
			t.Errorf("%s: %v", v, err)
			continue
		}
		if res.StrippedQuery != "b=2&a=1&c=%20" {
			t.Errorf("%s: stripped %q", v, res.StrippedQuery)
		}
	}
	// Reordering the application parameters changes the resource.
	_, err := tr.Verify(requestFor(t, base+"?a=1&b=2&c=%20&"+params))
	wantCode(t, err, AccessDenied)

	for in, want := range map[string]string{
		"":                                "",
		"a=1":                             "a=1",
		"Expires=1&Signature=x":           "",
		"a=1&Expires=1":                   "a=1",
		"Expires=1&a=1":                   "a=1",
		"a=1&Expires=1&b=2&Policy=p&c=3":  "a=1&b=2&c=3",
		"a=1&b=2&Key-Pair-Id=K":           "a=1&b=2",
		"Hash-Algorithm=SHA256&a&b=":      "a&b=",
		"a=1&&Signature=s":                "a=1&",
		"key-pair-id=x&Key-Pair-Id%3Dy=z": "key-pair-id=x&Key-Pair-Id%3Dy=z",
		"Signature=s&a=1&Signature=s&b=2": "a=1&b=2",
	} {
		if got := StripQuery(in); got != want {
			t.Errorf("StripQuery(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"a=1": "a=1",
		"CloudFront-Policy=p; a=1; CloudFront-Signature=s": "a=1",
		"a=1;CloudFront-Key-Pair-Id=K;b=2":                 "a=1; b=2",
		"CloudFront-Expires=1":                             "",
		"CloudFront-Other=1; cloudfront-policy=x":          "CloudFront-Other=1; cloudfront-policy=x",
	} {
		if got := StripCookies(in); got != want {
			t.Errorf("StripCookies(%q) = %q, want %q", in, got, want)
		}
	}
}

// The signature cache answers a repeat without a public-key operation,
// keys on every input, and never turns a bad request good.
func TestSignatureCache(t *testing.T) {
	rk := rsaKey(t)
	clk := &testClock{t0}
	tr := trusted(t, clk, map[string]crypto.Signer{"KRSA": rk}, WithCacheSize(4))
	s, _ := NewURLSigner("KRSA", rk)
	u, _ := s.Sign("https://h.test/a", t0.Add(time.Hour))
	res, err := tr.Verify(requestFor(t, u))
	if err != nil || res.Cached {
		t.Fatalf("first: %+v %v", res, err)
	}
	res, err = tr.Verify(requestFor(t, u))
	if err != nil || !res.Cached {
		t.Fatalf("second: %+v %v", res, err)
	}
	// Same signature, different resource: a different key, so a miss and a
	// denial.
	_, err = tr.Verify(requestFor(t, strings.Replace(u, "/a?", "/b?", 1)))
	wantCode(t, err, AccessDenied)
	// Custom policy: the cached parsed policy still has its conditions
	// checked on each hit.
	cu, _ := s.SignWithPolicy("https://h.test/c", &Policy{Resource: "https://h.test/c", Expires: t0.Add(time.Hour), SourceIP: netip.MustParsePrefix("127.0.0.1/32")})
	if _, err := tr.Verify(requestFor(t, cu)); err != nil {
		t.Fatal(err)
	}
	r := requestFor(t, cu)
	r.ClientIP = netip.MustParseAddr("127.0.0.2")
	res, err = tr.Verify(r)
	wantCode(t, err, AccessDenied)
	if !res.Cached {
		t.Error("custom policy was not cached")
	}
	// Bounded: many distinct valid signatures never grow past the cap.
	for i := range 20 {
		u, _ := s.Sign("https://h.test/n"+itoa(int64(i)), t0.Add(time.Hour))
		if _, err := tr.Verify(requestFor(t, u)); err != nil {
			t.Fatal(err)
		}
		if n := tr.v.cache.len(); n > 4 {
			t.Fatalf("cache holds %d entries, cap 4", n)
		}
	}
	// Disabled cache.
	tr0 := trusted(t, clk, map[string]crypto.Signer{"KRSA": rk}, WithCacheSize(0))
	for range 2 {
		if res, err := tr0.Verify(requestFor(t, u)); err != nil || res.Cached {
			t.Fatalf("no cache: %+v %v", res, err)
		}
	}
}

func TestErrorBodies(t *testing.T) {
	for code, body := range map[Code]string{
		MissingKey:         `<?xml version="1.0" encoding="UTF-8"?><Error><Code>MissingKey</Code><Message>Missing Key-Pair-Id query parameter or cookie value</Message></Error>`,
		InvalidKey:         `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidKey</Code><Message>Unknown Key</Message></Error>`,
		MalformedSignature: `<?xml version="1.0" encoding="UTF-8"?><Error><Code>MalformedSignature</Code><Message>Could not unencode Signature</Message></Error>`,
		MalformedPolicy:    `<?xml version="1.0" encoding="UTF-8"?><Error><Code>MalformedPolicy</Code><Message>Malformed Policy</Message></Error>`,
		AccessDenied:       `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access denied</Message></Error>`,
	} {
		if got := string(newError(code, ErrBadPolicy).Body()); got != body {
			t.Errorf("%v body\n got %s\nwant %s", code, got, body)
		}
		if got := string(XMLError(code.String(), code.Message())); got != body {
			t.Errorf("XMLError %v = %s", code, got)
		}
	}
	if got := string(XMLError("A<B", "x&y")); !strings.Contains(got, "<Code>A&lt;B</Code><Message>x&amp;y</Message>") {
		t.Errorf("not escaped: %s", got)
	}
	e := errExpired
	if e.Error() != "signing: verify: access denied: expired" || !errors.Is(e, ErrExpired) {
		t.Errorf("Error() = %q", e.Error())
	}
}

func TestNewVerifierChecks(t *testing.T) {
	rk := rsaKey(t)
	pk, _ := NewPublicKey("K1", rk.Public())
	pk2, _ := NewPublicKey("K1", ecKey(t).Public())
	six := make([]PublicKey, 6)
	for i := range six {
		six[i], _ = NewPublicKey("K"+itoa(int64(i)), rk.Public())
	}
	for name, groups := range map[string][]KeyGroup{
		"empty name":           {{Name: "", Keys: []PublicKey{pk}}},
		"duplicate group":      {{Name: "a", Keys: []PublicKey{pk}}, {Name: "a", Keys: []PublicKey{pk}}},
		"no keys":              {{Name: "a"}},
		"six keys":             {{Name: "a", Keys: six}},
		"id names two keys":    {{Name: "a", Keys: []PublicKey{pk}}, {Name: "b", Keys: []PublicKey{pk2}}},
		"key twice":            {{Name: "a", Keys: []PublicKey{pk, pk}}},
		"bad id":               {{Name: "a", Keys: []PublicKey{{ID: "K 1", Key: rk.Public()}}}},
		"not a supported type": {{Name: "a", Keys: []PublicKey{{ID: "K1", Key: "nope"}}}},
	} {
		if _, err := NewVerifier(groups); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := NewVerifier([]KeyGroup{{Name: "a", Keys: six[:5]}, {Name: "b", Keys: six[:1]}}); err != nil {
		t.Errorf("five keys, shared key: %v", err)
	}
}

// In cookies, CloudFront-Policy wins over a stale CloudFront-Expires; in a
// URL, both together are MalformedPolicy.
func TestPolicyAndExpiresTogether(t *testing.T) {
	rk := rsaKey(t)
	tr := trusted(t, &testClock{t0}, map[string]crypto.Signer{"KRSA": rk})
	cs, _ := NewCookieSigner("KRSA", rk)
	cookies, _ := cs.SignWithPolicy(&Policy{Resource: "https://h.test/*", Expires: t0.Add(time.Hour)})
	r := requestFor(t, "https://h.test/x")
	r.Cookies = "CloudFront-Expires=1; " + cookies[0].Name + "=" + cookies[0].Value + "; " + cookies[1].Name + "=" + cookies[1].Value + "; " + cookies[2].Name + "=" + cookies[2].Value
	if _, err := tr.Verify(r); err != nil {
		t.Errorf("cookies with a stale CloudFront-Expires: %v", err)
	}
	r = requestFor(t, "https://h.test/x?Expires=1&Policy="+cookies[0].Value+"&Signature="+cookies[1].Value+"&Key-Pair-Id=KRSA")
	_, err := tr.Verify(r)
	wantCode(t, err, MalformedPolicy)
	// Oversized inputs are refused before decoding.
	r = requestFor(t, "https://h.test/x?Policy="+strings.Repeat("A", 12000)+"&Signature=AAAA&Key-Pair-Id=KRSA")
	_, err = tr.Verify(r)
	wantCode(t, err, MalformedPolicy)
	r = requestFor(t, "https://h.test/x?Expires=1&Signature="+strings.Repeat("A", 2000)+"&Key-Pair-Id=KRSA")
	_, err = tr.Verify(r)
	wantCode(t, err, MalformedSignature)
}
