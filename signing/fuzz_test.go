package signing

import (
	"crypto"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files and fuzz seed corpora")

// FuzzParsePolicy (hardening.md FUZ-03): no panic, bounded input, and an
// accepted policy re-encodes to JSON that parses to the same policy.
func FuzzParsePolicy(f *testing.F) {
	for _, s := range malformedPolicies {
		if len(s) < 4096 {
			f.Add([]byte(s))
		}
	}
	f.Add(CannedPolicy("https://h.test/a?b=1", t0).AppendJSON(nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePolicy(b)
		if err != nil {
			if p != nil || !errors.Is(err, errPolicy) {
				t.Fatalf("error %v with policy %v", err, p)
			}
			return
		}
		if len(b) > MaxPolicySize {
			t.Fatalf("accepted %d bytes", len(b))
		}
		if p.Expires.IsZero() && p.Expires.Unix() != 0 {
			t.Fatal("accepted without DateLessThan")
		}
		// Any accepted Resource is a pattern the matcher must survive.
		if p.Resource != "" {
			MatchResource(p.Resource, "https://h.test/a/b?c=d")
			if !MatchResource(p.Resource, p.Resource) {
				t.Fatalf("pattern %q does not match itself", p.Resource)
			}
		}
		enc := p.AppendJSON(nil)
		back, err := ParsePolicy(enc)
		if err != nil {
			t.Fatalf("re-encoded %s does not parse: %v", enc, err)
		}
		if !samePolicy(p, back) {
			t.Fatalf("round trip %+v → %s → %+v", p, enc, back)
		}
	})
}

// fuzzFixtures are valid signed requests for host h.test at t0: a canned
// URL, an exact custom-policy URL and canned cookies. Deterministic (RSA).
func fuzzFixtures(t testing.TB) (tr *Trusted, urls []string, cookies string) {
	rk := rsaKey(t)
	tr = trusted(t, &testClock{t0}, map[string]crypto.Signer{"KRSA": rk})
	s, _ := NewURLSigner("KRSA", rk)
	exp := t0.Add(time.Hour)
	canned, err := s.Sign("https://h.test/a?x=1", exp)
	if err != nil {
		t.Fatal(err)
	}
	custom, err := s.SignWithPolicy("https://h.test/b", &Policy{Resource: "https://h.test/b", Expires: exp})
	if err != nil {
		t.Fatal(err)
	}
	cs, _ := NewCookieSigner("KRSA", rk)
	cc, err := cs.Sign("https://h.test/c", exp)
	if err != nil {
		t.Fatal(err)
	}
	var parts []string
	for _, c := range cc {
		parts = append(parts, c.Name+"="+c.Value)
	}
	return tr, []string{canned, custom}, strings.Join(parts, "; ")
}

// allowed is what the fixtures sign: path and remaining query.
var allowed = map[string]bool{"/a?x=1": true, "/b?": true, "/c?": true}

// FuzzVerify (hardening.md FUZ-04): no panic; every error is a *Error; a
// request is accepted only for a resource that was signed; the verdict does
// not depend on the order of the signing parameters.
func FuzzVerify(f *testing.F) {
	_, urls, cookies := fuzzFixtures(f)
	for _, u := range urls {
		_, pq, _ := strings.Cut(u, "h.test")
		path, query, _ := strings.Cut(pq, "?")
		f.Add(path, query, "")
		f.Add(path, query+"&x=2", cookies)
	}
	f.Add("/c", "", cookies)
	f.Add("/c", "Expires=1", cookies)
	tr, _, _ := fuzzFixtures(f)
	f.Fuzz(func(t *testing.T, path, query, cookieHeader string) {
		r := &Request{Scheme: "https", Host: "h.test", RawPath: path, RawQuery: query, Cookies: cookieHeader}
		res, err := tr.Verify(r)
		if err != nil {
			var se *Error
			if !errors.As(err, &se) || se.Code < MissingKey || se.Code > AccessDenied {
				t.Fatalf("error %v is not a *Error with a known code", err)
			}
			if len(se.Body()) == 0 {
				t.Fatal("empty body")
			}
		} else if !allowed[path+"?"+res.StrippedQuery] {
			t.Fatalf("accepted %s?%s (stripped %q)", path, query, res.StrippedQuery)
		}
		// Reverse the signing parameters among themselves: same verdict.
		parts := strings.Split(query, "&")
		var sigIdx []int
		names := map[string]bool{}
		for i, p := range parts {
			name, _, _ := strings.Cut(p, "=")
			if IsQueryParam(name) {
				if names[name] {
					return // duplicated: rejected either way, order irrelevant
				}
				names[name] = true
				sigIdx = append(sigIdx, i)
			}
		}
		for i, j := 0, len(sigIdx)-1; i < j; i, j = i+1, j-1 {
			parts[sigIdx[i]], parts[sigIdx[j]] = parts[sigIdx[j]], parts[sigIdx[i]]
		}
		r2 := *r
		r2.RawQuery = strings.Join(parts, "&")
		_, err2 := tr.Verify(&r2)
		if (err == nil) != (err2 == nil) {
			t.Fatalf("order changes the verdict: %q → %v, %q → %v", query, err, r2.RawQuery, err2)
		}
	})
}

// Any single-byte change of a valid signed URL is rejected (FUZ-04), except
// a change of case in the host, which is case-insensitive.
func TestSingleByteMutations(t *testing.T) {
	tr, urls, _ := fuzzFixtures(t)
	for _, u := range urls {
		if _, err := tr.Verify(requestFor(t, u)); err != nil {
			t.Fatalf("fixture %s: %v", u, err)
		}
		for i := len("https://"); i < len(u); i++ {
			for _, c := range []byte{'A', '0', '&', '=', '%'} {
				if u[i] == c {
					continue
				}
				m := u[:i] + string(c) + u[i+1:]
				if strings.EqualFold(m, u) {
					continue
				}
				if _, err := tr.Verify(requestFor(t, m)); err == nil {
					t.Errorf("accepted mutation at %d (%q→%q): %s", i, u[i], c, m)
				}
			}
		}
	}
}

// TestWriteFuzzSeeds writes the seed corpora under testdata/fuzz with
// -update; they replay in every normal run.
func TestWriteFuzzSeeds(t *testing.T) {
	if !*update {
		t.Skip("run with -update to rewrite testdata/fuzz")
	}
	write := func(target, name string, vals ...any) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		b.WriteString("go test fuzz v1\n")
		for _, v := range vals {
			switch v := v.(type) {
			case string:
				fmt.Fprintf(&b, "string(%s)\n", strconv.Quote(v))
			case []byte:
				fmt.Fprintf(&b, "[]byte(%s)\n", strconv.Quote(string(v)))
			}
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i, s := range malformedPolicies {
		if len(s) < 4096 {
			write("FuzzParsePolicy", fmt.Sprintf("malformed-%02d", i), []byte(s))
		}
	}
	write("FuzzParsePolicy", "canned", CannedPolicy("https://h.test/a?b=1", t0).AppendJSON(nil))
	write("FuzzParsePolicy", "custom-object-form", []byte(`{"Statement":{"Resource":"https://h/*","Condition":{"IpAddress":{"AWS:SourceIp":"192.0.2.0/24"},"DateGreaterThan":{"AWS:EpochTime":1},"DateLessThan":{"AWS:EpochTime":2}}}}`))
	_, urls, cookies := fuzzFixtures(t)
	for i, u := range urls {
		_, pq, _ := strings.Cut(u, "h.test")
		path, query, _ := strings.Cut(pq, "?")
		write("FuzzVerify", fmt.Sprintf("url-%d", i), path, query, "")
		write("FuzzVerify", fmt.Sprintf("url-%d-with-cookies-and-extra", i), path, query+"&x=2", cookies)
	}
	write("FuzzVerify", "cookies", "/c", "", cookies)
	write("FuzzVerify", "cookies-overridden-by-url", "/c", "Expires=1", cookies)
}
