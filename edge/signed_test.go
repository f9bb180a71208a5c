package edge

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	awssign "github.com/aws/aws-sdk-go-v2/feature/cloudfront/sign"

	"github.com/switchyard/switchyard/signing"
)

const testKeyID = "K2JCJMDEHXQW5F"

func testRSAKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	b, err := os.ReadFile("testdata/rsa_pkcs8.pem")
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(*rsa.PrivateKey)
}

func signedYAML(t *testing.T, origin string) string {
	pub, err := filepath.Abs("testdata/rsa_pub.pem")
	if err != nil {
		t.Fatal(err)
	}
	return `
listeners: [{address: "127.0.0.1:0"}]
key_groups:
  - name: main
    keys: [{id: ` + testKeyID + `, public_key: "` + pub + `"}]
distributions:
  - name: site
    origins: [{id: app, url: "` + origin + `"}]
    default_cache_behavior: {target_origin: app, cache_key: {query_strings: all, cookies: all}}
    cache_behaviors:
      - {path_pattern: /private/*, target_origin: app, trusted_key_groups: [main], cache_key: {query_strings: all, cookies: all}}
`
}

// TestSignedURLsFromAWSSDK: canned and custom URLs and cookies made by the
// AWS SDK verify at a running edge; the signing parameters and cookies
// never reach the origin, so every holder shares one cached object.
func TestSignedURLsFromAWSSDK(t *testing.T) {
	o := newOrigin(t, reply(200, "secret", "Cache-Control", "max-age=600"))
	te := startEdge(t, signedYAML(t, o.URL), edgeOpt{})
	key := testRSAKey(t)
	base := "http://" + te.addr + "/private/doc.txt?v=1"
	us := awssign.NewURLSigner(testKeyID, key)

	canned, err := us.Sign(base, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	a := te.get(t, strings.TrimPrefix(canned, "http://"+te.addr))
	wantStatus(t, a, 200, "Miss from edge")
	if l := o.last(); l.URI != "/private/doc.txt?v=1" || l.Header.Get("Cookie") != "" {
		t.Fatalf("origin saw %q cookie %q", l.URI, l.Header.Get("Cookie"))
	}
	te.wait()

	custom, err := us.SignWithPolicy(base, awssign.NewCannedPolicy("http://"+te.addr+"/private/*", time.Now().Add(time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	a = te.get(t, strings.TrimPrefix(custom, "http://"+te.addr))
	wantStatus(t, a, 200, "Hit from edge") // another holder, same object

	cs := awssign.NewCookieSigner(testKeyID, key)
	cookies, err := cs.Sign("http://"+te.addr+"/private/*", time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var jar []string
	for _, c := range cookies {
		jar = append(jar, c.Name+"="+c.Value)
	}
	a = te.get(t, "/private/doc.txt?v=1", "Cookie", strings.Join(jar, "; "))
	wantStatus(t, a, 200, "Hit from edge") // signing cookies are not in the key
	a = te.get(t, "/private/other.txt", "Cookie", strings.Join(jar, "; ")+"; theme=dark")
	wantStatus(t, a, 200, "Miss from edge")
	if c := o.last().Header.Get("Cookie"); c != "theme=dark" {
		t.Fatalf("origin saw Cookie %q, want only theme=dark", c)
	}
	if o.Hits() != 2 {
		t.Fatalf("origin hits %d, want 2", o.Hits())
	}
}

// TestSignedURLFailures: every bad request is a 403 with CloudFront's XML
// and never reaches the origin.
func TestSignedURLFailures(t *testing.T) {
	o := newOrigin(t, reply(200, "secret", "Cache-Control", "max-age=600"))
	te := startEdge(t, signedYAML(t, o.URL), edgeOpt{})
	us := awssign.NewURLSigner(testKeyID, testRSAKey(t))
	good, err := us.Sign("http://"+te.addr+"/private/a.txt", time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(good)
	q := u.Query()
	expired, _ := us.Sign("http://"+te.addr+"/private/a.txt", time.Now().Add(-time.Minute))
	other, _ := us.Sign("http://"+te.addr+"/private/b.txt", time.Now().Add(time.Hour))
	ou, _ := url.Parse(other)
	cases := map[string]struct{ path, code string }{
		"unsigned":      {"/private/a.txt", "MissingKey"},
		"unknown key":   {"/private/a.txt?Expires=" + q.Get("Expires") + "&Signature=" + q.Get("Signature") + "&Key-Pair-Id=KUNKNOWN", "InvalidKey"},
		"bad signature": {"/private/a.txt?Expires=" + q.Get("Expires") + "&Signature=%%%&Key-Pair-Id=" + testKeyID, "MalformedSignature"},
		"tampered expiry": {"/private/a.txt?Expires=" + q.Get("Expires") + "9&Signature=" + q.Get("Signature") +
			"&Key-Pair-Id=" + testKeyID, "AccessDenied"},
		"expired":      {strings.TrimPrefix(expired, "http://"+te.addr), "AccessDenied"},
		"other object": {"/private/a.txt?" + ou.RawQuery, "AccessDenied"},
		"bad policy":   {"/private/a.txt?Policy=e30_&Signature=" + q.Get("Signature") + "&Key-Pair-Id=" + testKeyID, "MalformedPolicy"},
	}
	for name, tc := range cases {
		a := te.get(t, tc.path)
		if a.Status != 403 || !strings.Contains(a.Body, "<Code>"+tc.code+"</Code>") || a.Header.Get("Content-Type") != "text/xml" {
			t.Errorf("%s: %d %q %q", name, a.Status, a.Header.Get("Content-Type"), a.Body)
		}
	}
	if o.Hits() != 0 {
		t.Fatalf("refused requests reached the origin %d times", o.Hits())
	}
	for code, want := range map[signing.Code]float64{signing.MissingKey: 1, signing.InvalidKey: 1,
		signing.MalformedSignature: 1, signing.MalformedPolicy: 1, signing.AccessDenied: 3} {
		if got := counterValue(te.e.m.SigFailures[code]); got != want {
			t.Errorf("signature failures %s: %v, want %v", code, got, want)
		}
	}
	wantStatus(t, te.get(t, strings.TrimPrefix(good, "http://"+te.addr)), 200, "Miss from edge")
}

// TestSignedWildcardCannotEscape: a "/public/*" signature does not open
// "/public/..%2fprivate/x", which the edge routes to /private/x.
func TestSignedWildcardCannotEscape(t *testing.T) {
	o := newOrigin(t, reply(200, "secret", "Cache-Control", "no-store"))
	pub, _ := filepath.Abs("testdata/rsa_pub.pem")
	te := startEdge(t, `
listeners: [{address: "127.0.0.1:0"}]
key_groups: [{name: main, keys: [{id: `+testKeyID+`, public_key: "`+pub+`"}]}]
distributions:
  - name: site
    origins: [{id: app, url: "`+o.URL+`"}]
    default_cache_behavior: {target_origin: app, trusted_key_groups: [main]}
`, edgeOpt{})
	us := awssign.NewURLSigner(testKeyID, testRSAKey(t))
	signed, err := us.SignWithPolicy("http://"+te.addr+"/public/a", awssign.NewCannedPolicy("http://"+te.addr+"/public/*", time.Now().Add(time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(signed)
	if a := te.get(t, "/public/a?"+u.RawQuery); a.Status != 200 {
		t.Fatalf("plain path: %d %q", a.Status, a.Body)
	}
	for _, p := range []string{"/public/..%2fprivate/x", "/public/%2e%2e/private/x", "/public//../private/x"} {
		req := "GET " + p + "?" + u.RawQuery + " HTTP/1.1\r\nHost: " + te.addr + "\r\nConnection: close\r\n\r\n"
		status := rawStatus(t, te.addr, req)
		if status != 403 {
			t.Fatalf("%s: %d, want 403", p, status)
		}
	}
	if o.Hits() != 1 {
		t.Fatalf("origin hits %d, want 1", o.Hits())
	}
}

// TestSignedIPCondition: an IpAddress condition checks the viewer address,
// never a spoofed X-Forwarded-For from an untrusted peer.
func TestSignedIPCondition(t *testing.T) {
	o := newOrigin(t, reply(200, "secret", "Cache-Control", "no-store"))
	te := startEdge(t, signedYAML(t, o.URL), edgeOpt{})
	us := awssign.NewURLSigner(testKeyID, testRSAKey(t))
	sign := func(cidr string) string {
		p := &awssign.Policy{Statements: []awssign.Statement{{
			Resource: "http://" + te.addr + "/private/*",
			Condition: awssign.Condition{DateLessThan: awssign.NewAWSEpochTime(time.Now().Add(time.Hour)),
				IPAddress: &awssign.IPAddress{SourceIP: cidr}},
		}}}
		u, err := us.SignWithPolicy("http://"+te.addr+"/private/ip.txt", p)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimPrefix(u, "http://"+te.addr)
	}
	if a := te.get(t, sign("198.51.100.0/24"), "X-Forwarded-For", "198.51.100.5"); a.Status != 403 || !strings.Contains(a.Body, "AccessDenied") {
		t.Fatalf("spoofed XFF: %d %q", a.Status, a.Body)
	}
	if a := te.get(t, sign("127.0.0.1/32")); a.Status != 200 {
		t.Fatalf("viewer address in the condition: %d %q", a.Status, a.Body)
	}
	if o.Hits() != 1 {
		t.Fatalf("origin hits %d, want 1", o.Hits())
	}
}

// TestSignedKeyGroupsAndPrecedence: a key from a group the behaviour does
// not trust is InvalidKey; with signing parameters in the URL the cookies
// are ignored, even valid ones.
func TestSignedKeyGroupsAndPrecedence(t *testing.T) {
	o := newOrigin(t, reply(200, "secret", "Cache-Control", "no-store"))
	rsaPub, _ := filepath.Abs("testdata/rsa_pub.pem")
	ecPub, _ := filepath.Abs("testdata/ec_pub.pem")
	te := startEdge(t, `
listeners: [{address: "127.0.0.1:0"}]
key_groups:
  - {name: main, keys: [{id: `+testKeyID+`, public_key: "`+rsaPub+`"}]}
  - {name: other, keys: [{id: KECOTHER, public_key: "`+ecPub+`"}]}
distributions:
  - name: site
    origins: [{id: app, url: "`+o.URL+`"}]
    default_cache_behavior: {target_origin: app, trusted_key_groups: [main]}
`, edgeOpt{})
	ecPEM, err := os.ReadFile("testdata/ec_pkcs8.pem")
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := signing.ParsePrivateKeyPEM(ecPEM)
	if err != nil {
		t.Fatal(err)
	}
	ecSigner, err := signing.NewURLSigner("KECOTHER", ecKey)
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + te.addr + "/doc"
	wrongGroup, err := ecSigner.Sign(base, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if a := te.get(t, strings.TrimPrefix(wrongGroup, "http://"+te.addr)); a.Status != 403 || !strings.Contains(a.Body, "InvalidKey") {
		t.Fatalf("untrusted group: %d %q", a.Status, a.Body)
	}

	cookies, err := awssign.NewCookieSigner(testKeyID, testRSAKey(t)).Sign(base, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var jar []string
	for _, c := range cookies {
		jar = append(jar, c.Name+"="+c.Value)
	}
	good := strings.Join(jar, "; ")
	if a := te.get(t, "/doc?Expires=1&Signature=AAAA&Key-Pair-Id="+testKeyID, "Cookie", good); a.Status != 403 {
		t.Fatalf("bad URL with good cookies: %d", a.Status)
	}
	if a := te.get(t, "/doc", "Cookie", good); a.Status != 200 {
		t.Fatalf("good cookies: %d %q", a.Status, a.Body)
	}
	signed, _ := awssign.NewURLSigner(testKeyID, testRSAKey(t)).Sign(base, time.Now().Add(time.Hour))
	if a := te.get(t, strings.TrimPrefix(signed, "http://"+te.addr), "Cookie", "CloudFront-Key-Pair-Id=KBAD; CloudFront-Signature=x"); a.Status != 200 {
		t.Fatalf("good URL with bad cookies: %d %q", a.Status, a.Body)
	}
	if o.Hits() != 2 {
		t.Fatalf("origin hits %d, want 2", o.Hits())
	}
}
