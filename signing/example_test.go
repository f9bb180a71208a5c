package signing_test

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/switchyard/switchyard/signing"
)

// Sign a URL with a canned policy: valid for one exact URL until a time.
func ExampleNewURLSigner() {
	pemBytes, _ := os.ReadFile("testdata/rsa_pkcs1.pem")
	key, err := signing.ParsePrivateKeyPEM(pemBytes)
	if err != nil {
		fmt.Println(err)
		return
	}
	s, err := signing.NewURLSigner("K2JCJMDEHXQW5F", key)
	if err != nil {
		fmt.Println(err)
		return
	}
	signed, err := s.Sign("https://cdn.example.com/videos/intro.mp4?quality=hd", time.Unix(1767290400, 0))
	if err != nil {
		fmt.Println(err)
		return
	}
	before, after, _ := strings.Cut(signed, "&Signature=")
	sig, keyID, _ := strings.Cut(after, "&")
	fmt.Println(before)
	fmt.Println(len(sig), "characters of signature")
	fmt.Println(keyID)
	// Output:
	// https://cdn.example.com/videos/intro.mp4?quality=hd&Expires=1767290400
	// 344 characters of signature
	// Key-Pair-Id=K2JCJMDEHXQW5F
}

// Sign with a custom policy: a wildcard resource, a start time and a
// viewer address range; SHA-256 instead of SHA-1.
func ExampleURLSigner_SignWithPolicy() {
	pemBytes, _ := os.ReadFile("testdata/ec_sec1.pem")
	key, _ := signing.ParsePrivateKeyPEM(pemBytes)
	s, _ := signing.NewURLSigner("K2ECDSA", key, signing.WithHash(signing.SHA256))
	signed, err := s.SignWithPolicy("https://cdn.example.com/videos/intro.mp4", &signing.Policy{
		Resource: "https://cdn.example.com/videos/*",
		Starts:   time.Unix(1767200000, 0),
		Expires:  time.Unix(1767290400, 0),
		SourceIP: netip.MustParsePrefix("192.0.2.0/24"),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	_, q, _ := strings.Cut(signed, "?")
	for _, p := range strings.Split(q, "&") {
		name, _, _ := strings.Cut(p, "=")
		fmt.Println(name)
	}
	// Output:
	// Policy
	// Signature
	// Key-Pair-Id
	// Hash-Algorithm
}

// Signed cookies unlock a whole tree for a browser session.
func ExampleCookieSigner_SignWithPolicy() {
	pemBytes, _ := os.ReadFile("testdata/rsa_pkcs8.pem")
	key, _ := signing.ParsePrivateKeyPEM(pemBytes)
	s, _ := signing.NewCookieSigner("K2JCJMDEHXQW5F", key)
	cookies, err := s.SignWithPolicy(&signing.Policy{Resource: "https://cdn.example.com/*", Expires: time.Unix(1767290400, 0)})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, c := range cookies {
		line := c.SetCookie(signing.CookieAttributes{Path: "/", Secure: true, HTTPOnly: true})
		name, _, _ := strings.Cut(line, "=")
		_, attrs, _ := strings.Cut(line, "; ")
		fmt.Println(name, "…;", attrs)
	}
	// Output:
	// CloudFront-Policy …; Path=/; Secure; HttpOnly
	// CloudFront-Signature …; Path=/; Secure; HttpOnly
	// CloudFront-Key-Pair-Id …; Path=/; Secure; HttpOnly
}

// Verify what a viewer sent, as the edge does for a cache behaviour with
// trusted key groups.
func ExampleTrusted_Verify() {
	pubPEM, _ := os.ReadFile("testdata/rsa_pub.pem")
	pub, err := signing.ParsePublicKeyPEM("K2JCJMDEHXQW5F", pubPEM)
	if err != nil {
		fmt.Println(err)
		return
	}
	clock := func() time.Time { return time.Unix(1767280000, 0) }
	v, err := signing.NewVerifier([]signing.KeyGroup{{Name: "main", Keys: []signing.PublicKey{pub}}}, signing.WithClock(clock))
	if err != nil {
		fmt.Println(err)
		return
	}
	trusted, _ := v.Trust("main")

	privPEM, _ := os.ReadFile("testdata/rsa_pkcs1.pem")
	key, _ := signing.ParsePrivateKeyPEM(privPEM)
	s, _ := signing.NewURLSigner("K2JCJMDEHXQW5F", key)
	signed, _ := s.Sign("https://cdn.example.com/a.jpg?w=200", time.Unix(1767290400, 0))
	_, query, _ := strings.Cut(signed, "?")

	req := &signing.Request{Scheme: "https", Host: "cdn.example.com", RawPath: "/a.jpg", RawQuery: query,
		ClientIP: netip.MustParseAddr("192.0.2.7")}
	res, err := trusted.Verify(req)
	fmt.Println(res.Mode, res.StrippedQuery, err)

	req.RawPath = "/b.jpg"
	_, err = trusted.Verify(req)
	var se *signing.Error
	if errors.As(err, &se) {
		fmt.Println(se.Code, string(se.Body()))
	}
	// Output:
	// url w=200 <nil>
	// AccessDenied <?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access denied</Message></Error>
}
