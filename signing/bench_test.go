package signing

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"testing"
	"time"
)

func cannedFixture(tb testing.TB, opts ...Option) (*Trusted, *Request) {
	rk := rsaKey(tb)
	tr := trusted(tb, &testClock{t0}, map[string]crypto.Signer{"KRSA": rk}, opts...)
	s, _ := NewURLSigner("KRSA", rk)
	u, err := s.Sign("https://d111111abcdef8.cloudfront.net/images/photo.jpg?size=large", t0.Add(time.Hour))
	if err != nil {
		tb.Fatal(err)
	}
	return tr, requestFor(tb, u)
}

// BenchmarkVerifyCanned is a canned RSA-2048/SHA-1 URL with the signature
// cache off: one RSA verify per request.
func BenchmarkVerifyCanned(b *testing.B) {
	tr, r := cannedFixture(b, WithCacheSize(0))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tr.Verify(r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyCannedCached is the same URL on a hot object: answered
// from the signature cache.
func BenchmarkVerifyCannedCached(b *testing.B) {
	tr, r := cannedFixture(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tr.Verify(r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyCustomCached(b *testing.B) {
	tr, urls, _ := fuzzFixtures(b)
	r := requestFor(b, urls[1])
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tr.Verify(r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawRSAVerify is the floor: rsa.VerifyPKCS1v15 of a SHA-1 digest
// with a 2048-bit key.
func BenchmarkRawRSAVerify(b *testing.B) {
	rk := rsaKey(b)
	msg := CannedPolicy("https://d111111abcdef8.cloudfront.net/images/photo.jpg?size=large", t0).AppendJSON(nil)
	d := sha1.Sum(msg)
	sig, err := rsa.SignPKCS1v15(nil, rk, crypto.SHA1, d[:])
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		d := sha1.Sum(msg)
		if err := rsa.VerifyPKCS1v15(&rk.PublicKey, crypto.SHA1, d[:], sig); err != nil {
			b.Fatal(err)
		}
	}
}

// The hot path's allocation budget: a cached canned URL allocates nothing; a
// full verify allocates no more than rsa.VerifyPKCS1v15 itself plus two.
func TestVerifyAllocations(t *testing.T) {
	tr, r := cannedFixture(t)
	if _, err := tr.Verify(r); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = tr.Verify(r) }); n != 0 {
		t.Errorf("cached canned verify: %v allocs, want 0", n)
	}
	trNo, r2 := cannedFixture(t, WithCacheSize(0))
	rk := rsaKey(t)
	msg := CannedPolicy("https://x/y", t0).AppendJSON(nil)
	d := sha1.Sum(msg)
	sig, _ := rsa.SignPKCS1v15(nil, rk, crypto.SHA1, d[:])
	raw := testing.AllocsPerRun(20, func() { _ = rsa.VerifyPKCS1v15(&rk.PublicKey, crypto.SHA1, d[:], sig) })
	full := testing.AllocsPerRun(20, func() { _, _ = trNo.Verify(r2) })
	if full > raw+2 {
		t.Errorf("uncached canned verify: %v allocs, raw RSA verify %v", full, raw)
	}
	t.Logf("allocs: raw rsa %v, full canned verify %v", raw, full)
	// Rejections cost nothing either (shared pre-rendered errors).
	for _, q := range []string{
		"Key-Pair-Id=NOPE&Signature=x&Expires=1",
		"Key-Pair-Id=KRSA&Signature=x&Expires=1&Hash-Algorithm=MD5",
		"Key-Pair-Id=KRSA&Signature=x&Expires=1&Expires=2",
		"Signature=x",
	} {
		bad := *r
		bad.RawQuery = q
		if n := testing.AllocsPerRun(100, func() { _, _ = tr.Verify(&bad) }); n != 0 {
			t.Errorf("rejection of %s: %v allocs", q, n)
		}
	}
}

// BenchmarkVerifyCustom is a custom-policy URL with the cache off: base64
// and strict JSON parse of the policy plus one RSA verify.
func BenchmarkVerifyCustom(b *testing.B) {
	rk := rsaKey(b)
	tr := trusted(b, &testClock{t0}, map[string]crypto.Signer{"KRSA": rk}, WithCacheSize(0))
	s, _ := NewURLSigner("KRSA", rk)
	u, err := s.SignWithPolicy("https://h.test/videos/a.mp4", &Policy{Resource: "https://h.test/videos/*", Expires: t0.Add(time.Hour)})
	if err != nil {
		b.Fatal(err)
	}
	r := requestFor(b, u)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tr.Verify(r); err != nil {
			b.Fatal(err)
		}
	}
}
