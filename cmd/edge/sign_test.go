package main

import (
	"bytes"
	"crypto/rsa"
	"encoding/json"
	"flag"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/cloudfront/sign"

	"github.com/switchyard/switchyard/signing"
)

// A distinct flag name: another engineer's test in this package may define
// -update, and two definitions would panic.
var updateSign = flag.Bool("update-sign", false, "rewrite testdata/sign golden files")

const (
	signKeyID = "K2JCJMDEHXQW5F"
	signExp   = 2147400000 // 2038-01-18T04:00:00Z, before CloudFront's 32-bit limit
	signNbf   = 2147313600 // a day earlier
)

func signTestdata(name string) string { return filepath.Join("testdata", "sign", name) }

// runSignOK runs `edge sign` and fails the test unless it exits 0 with
// nothing on stderr.
func runSignOK(t *testing.T, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if code := runSign(args, &out, &errb); code != 0 || errb.Len() > 0 {
		t.Fatalf("edge sign %s: exit %d, stderr %q", strings.Join(args, " "), code, errb.String())
	}
	return out.String()
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := signTestdata(name)
	if *updateSign {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run Sign -update-sign to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file\n got %s\nwant %s", name, got, want)
	}
}

func signRSAKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	b, err := os.ReadFile(signTestdata("rsa_pkcs1.pem"))
	if err != nil {
		t.Fatal(err)
	}
	k, err := signing.ParsePrivateKeyPEM(b)
	if err != nil {
		t.Fatal(err)
	}
	return k.(*rsa.PrivateKey)
}

// signVerifier trusts the committed RSA and ECDSA test keys at time at.
func signVerifier(t *testing.T, at time.Time) *signing.Trusted {
	t.Helper()
	var keys []signing.PublicKey
	for id, file := range map[string]string{signKeyID: "rsa_pub.pem", "K2ECDSA": "ec_pub.pem"} {
		b, err := os.ReadFile(signTestdata(file))
		if err != nil {
			t.Fatal(err)
		}
		pk, err := signing.ParsePublicKeyPEM(id, b)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, pk)
	}
	v, err := signing.NewVerifier([]signing.KeyGroup{{Name: "main", Keys: keys}}, signing.WithClock(func() time.Time { return at }))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := v.Trust("main")
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// verifySignedURL checks a URL printed by `edge sign url` with the edge's
// verifier, as a viewer at ip.
func verifySignedURL(t *testing.T, tr *signing.Trusted, u, ip string) error {
	t.Helper()
	scheme, rest, _ := strings.Cut(strings.TrimSpace(u), "://")
	host, pq, _ := strings.Cut(rest, "/")
	path, query, _ := strings.Cut("/"+pq, "?")
	_, err := tr.Verify(&signing.Request{Scheme: scheme, Host: host, RawPath: path, RawQuery: query, ClientIP: netip.MustParseAddr(ip)})
	return err
}

// `edge sign url` is byte-identical to the AWS SDK for Go v2 for the same
// RSA key and policy, in every key encoding and time syntax, and matches
// the golden files.
func TestSignURLMatchesSDK(t *testing.T) {
	rk := signRSAKey(t)
	exp, nbf := time.Unix(signExp, 0), time.Unix(signNbf, 0)
	const u = "https://cdn.example.com/videos/intro%20v2.mp4?quality=hd&lang=en"
	sdk := sign.NewURLSigner(signKeyID, rk)

	// Canned.
	want, err := sdk.Sign(u, exp)
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"url", "-key-pair-id", signKeyID, "-private-key", signTestdata("rsa_pkcs1.pem"), "-url", u, "-expires", "2147400000"},
		{"url", "-key-pair-id", signKeyID, "-private-key", signTestdata("rsa_pkcs8.pem"), "-url", u, "-expires", "2038-01-18T04:00:00Z"},
		{"url", "--key-pair-id=" + signKeyID, "--private-key=" + signTestdata("rsa_pkcs8.pem"), "--url=" + u, "--expires=2038-01-18T05:00:00+01:00"},
	} {
		if got := runSignOK(t, args...); got != want+"\n" {
			t.Errorf("edge sign %v\n got %s\nwant %s", args, got, want)
		}
	}
	checkGolden(t, "canned_url.golden", want+"\n")

	// Custom: start time and IP range.
	custom := &sign.Policy{Statements: []sign.Statement{{Resource: u, Condition: sign.Condition{
		DateLessThan: sign.NewAWSEpochTime(exp), DateGreaterThan: sign.NewAWSEpochTime(nbf),
		IPAddress: &sign.IPAddress{SourceIP: "192.0.2.0/24"}}}}}
	want, err = sdk.SignWithPolicy(u, custom)
	if err != nil {
		t.Fatal(err)
	}
	got := runSignOK(t, "url", "-key-pair-id", signKeyID, "-private-key", signTestdata("rsa_pkcs1.pem"), "-url", u,
		"-expires", "2147400000", "-starts", "2147313600", "-ip", "192.0.2.0/24")
	if got != want+"\n" {
		t.Errorf("custom\n got %s\nwant %s", got, want)
	}
	checkGolden(t, "custom_url.golden", got)

	// A single -ip address is written as /32.
	custom.Statements[0].Condition = sign.Condition{DateLessThan: sign.NewAWSEpochTime(exp), IPAddress: &sign.IPAddress{SourceIP: "192.0.2.7/32"}}
	want, _ = sdk.SignWithPolicy(u, custom)
	if got := runSignOK(t, "url", "-key-pair-id", signKeyID, "-private-key", signTestdata("rsa_pkcs1.pem"), "-url", u, "-expires", "2147400000", "-ip", "192.0.2.7"); got != want+"\n" {
		t.Errorf("-ip address\n got %s\nwant %s", got, want)
	}

	// A wildcard -url makes a custom policy whose Resource is the pattern.
	const pattern = "https://cdn.example.com/videos/*"
	want, _ = sdk.SignWithPolicy(pattern, &sign.Policy{Statements: []sign.Statement{{Resource: pattern, Condition: sign.Condition{DateLessThan: sign.NewAWSEpochTime(exp)}}}})
	got = runSignOK(t, "url", "-key-pair-id", signKeyID, "-private-key", signTestdata("rsa_pkcs1.pem"), "-url", pattern, "-expires", "2147400000")
	if got != want+"\n" {
		t.Errorf("wildcard\n got %s\nwant %s", got, want)
	}
	checkGolden(t, "wildcard_url.golden", got)

	// -policy FILE (pretty-printed JSON): signed in its compact form.
	const video = "https://cdn.example.com/videos/intro.mp4"
	want, _ = sdk.SignWithPolicy(video, &sign.Policy{Statements: []sign.Statement{{Resource: pattern, Condition: sign.Condition{
		DateLessThan: sign.NewAWSEpochTime(exp), IPAddress: &sign.IPAddress{SourceIP: "192.0.2.0/24"}}}}})
	got = runSignOK(t, "url", "-key-pair-id", signKeyID, "-private-key", signTestdata("rsa_pkcs1.pem"), "-url", video, "-policy", signTestdata("policy.json"))
	if got != want+"\n" {
		t.Errorf("-policy\n got %s\nwant %s", got, want)
	}
	checkGolden(t, "policy_url.golden", got)

	// -json.
	got = runSignOK(t, "url", "-key-pair-id", signKeyID, "-private-key", signTestdata("rsa_pkcs1.pem"), "-url", u, "-expires", "2147400000", "-json")
	var obj struct{ URL string }
	if err := json.Unmarshal([]byte(got), &obj); err != nil || !strings.HasPrefix(obj.URL, u+"&Expires=2147400000&Signature=") {
		t.Errorf("-json: %q %v", got, err)
	}
	checkGolden(t, "canned_url_json.golden", got)
}

// Every URL `edge sign` prints verifies with the edge's verifier (RSA and
// ECDSA, SHA-1 and SHA-256, canned and custom), and only within its limits.
func TestSignURLVerifies(t *testing.T) {
	at := time.Unix(signNbf+60, 0)
	tr := signVerifier(t, at)
	for _, tc := range []struct {
		name string
		args []string
		ip   string
	}{
		{"rsa canned", []string{"-key-pair-id", signKeyID, "-private-key", signTestdata("rsa_pkcs1.pem"), "-url", "https://h.test/a?b=1", "-expires", "2147400000"}, "127.0.0.1"},
		{"rsa sha256", []string{"-key-pair-id", signKeyID, "-private-key", signTestdata("rsa_pkcs8.pem"), "-url", "https://h.test/a", "-expires", "2147400000", "-hash", "sha256"}, "127.0.0.1"},
		{"ecdsa canned", []string{"-key-pair-id", "K2ECDSA", "-private-key", signTestdata("ec_sec1.pem"), "-url", "https://h.test/a", "-expires", "2147400000"}, "127.0.0.1"},
		{"ecdsa pkcs8 sha256 custom", []string{"-key-pair-id", "K2ECDSA", "-private-key", signTestdata("ec_pkcs8.pem"), "-url", "https://h.test/a", "-expires", "2147400000", "-starts", "2147313600", "-ip", "127.0.0.0/8", "-hash", "SHA256"}, "127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := runSignOK(t, append([]string{"url"}, tc.args...)...)
			if err := verifySignedURL(t, tr, u, tc.ip); err != nil {
				t.Fatalf("%s: %v", u, err)
			}
			if strings.Contains(strings.Join(tc.args, " "), "-ip") {
				if err := verifySignedURL(t, tr, u, "192.0.2.1"); err == nil {
					t.Error("accepted from outside -ip")
				}
			}
			if err := verifySignedURL(t, signVerifier(t, time.Unix(signExp, 0)), u, tc.ip); err == nil {
				t.Error("accepted at -expires")
			}
		})
	}
	// +DURATION is from the (injected) clock.
	defer func(c func() time.Time) { signClock = c }(signClock)
	signClock = func() time.Time { return at }
	u := runSignOK(t, "url", "-key-pair-id", signKeyID, "-private-key", signTestdata("rsa_pkcs1.pem"), "-url", "https://h.test/a", "-expires", "+1h")
	if want := "Expires=" + itoa(at.Add(time.Hour).Unix()) + "&"; !strings.Contains(u, want) {
		t.Errorf("+1h: %s lacks %s", u, want)
	}
}

func itoa(n int64) string { return formatEpoch(n) }

func formatEpoch(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// `edge sign cookies`: Set-Cookie lines whose values are the SDK's for the
// same key and policy; canned cookies use CloudFront-Expires.
func TestSignCookies(t *testing.T) {
	rk := signRSAKey(t)
	exp := time.Unix(signExp, 0)
	const pattern = "https://cdn.example.com/videos/*"

	got := runSignOK(t, "cookies", "-key-pair-id", signKeyID, "-private-key", signTestdata("rsa_pkcs1.pem"), "-url", pattern, "-expires", "2147400000")
	sdkCookies, err := sign.NewCookieSigner(signKeyID, rk).SignWithPolicy(&sign.Policy{Statements: []sign.Statement{{Resource: pattern, Condition: sign.Condition{DateLessThan: sign.NewAWSEpochTime(exp)}}}})
	if err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	for _, c := range sdkCookies {
		want.WriteString("Set-Cookie: " + c.Name + "=" + c.Value + "; Path=/; Secure; HttpOnly\n")
	}
	if got != want.String() {
		t.Errorf("custom cookies\n got %s\nwant %s", got, want.String())
	}
	checkGolden(t, "custom_cookies.golden", got)

	// Canned: CloudFront-Expires plus the SDK's canned signature.
	const one = "http://cdn.example.com/a.jpg"
	got = runSignOK(t, "cookies", "-key-pair-id", signKeyID, "-private-key", signTestdata("rsa_pkcs1.pem"), "-url", one, "-expires", "2147400000", "-domain", "cdn.example.com", "-path", "/a.jpg")
	sig, _, err := sign.NewCannedPolicy(one, exp).Sign(rk)
	if err != nil {
		t.Fatal(err)
	}
	wantCanned := "Set-Cookie: CloudFront-Expires=2147400000; Domain=cdn.example.com; Path=/a.jpg; HttpOnly\n" +
		"Set-Cookie: CloudFront-Signature=" + string(sig) + "; Domain=cdn.example.com; Path=/a.jpg; HttpOnly\n" +
		"Set-Cookie: CloudFront-Key-Pair-Id=" + signKeyID + "; Domain=cdn.example.com; Path=/a.jpg; HttpOnly\n"
	if got != wantCanned {
		t.Errorf("canned cookies\n got %s\nwant %s", got, wantCanned)
	}
	checkGolden(t, "canned_cookies.golden", got)

	// The lines parse as Set-Cookie headers and verify at the edge.
	tr := signVerifier(t, time.Unix(signNbf, 0))
	resp := http.Response{Header: http.Header{}}
	for _, line := range strings.Split(strings.TrimSpace(got), "\n") {
		resp.Header.Add("Set-Cookie", strings.TrimPrefix(line, "Set-Cookie: "))
	}
	var jar []string
	for _, c := range resp.Cookies() {
		jar = append(jar, c.Name+"="+c.Value)
	}
	r := &signing.Request{Scheme: "http", Host: "cdn.example.com", RawPath: "/a.jpg", Cookies: strings.Join(jar, "; "), ClientIP: netip.MustParseAddr("127.0.0.1")}
	if res, err := tr.Verify(r); err != nil || res.Mode != signing.ModeCookie {
		t.Errorf("canned cookies at the edge: %+v %v", res, err)
	}

	// -json: one object, names to values, and ECDSA + SHA-256 cookies verify.
	got = runSignOK(t, "cookies", "-key-pair-id", "K2ECDSA", "-private-key", signTestdata("ec_sec1.pem"), "-url", pattern, "-expires", "2147400000", "-hash", "sha256", "-json")
	var obj map[string]string
	if err := json.Unmarshal([]byte(got), &obj); err != nil || len(obj) != 4 || obj["CloudFront-Hash-Algorithm"] != "SHA256" || obj["CloudFront-Key-Pair-Id"] != "K2ECDSA" {
		t.Fatalf("-json: %q %v", got, err)
	}
	r = &signing.Request{Scheme: "https", Host: "cdn.example.com", RawPath: "/videos/x/y.mp4", ClientIP: netip.MustParseAddr("127.0.0.1"),
		Cookie: func(name string) (string, bool) { v, ok := obj[name]; return v, ok }}
	if _, err := tr.Verify(r); err != nil {
		t.Errorf("ecdsa json cookies: %v", err)
	}
	r.RawPath = "/other"
	if _, err := tr.Verify(r); err == nil {
		t.Error("cookies for /videos/* opened /other")
	}
}

// Clear errors and exit codes for the mistakes people make.
func TestSignErrors(t *testing.T) {
	good := func(extra ...string) []string {
		return append([]string{"url", "-key-pair-id", signKeyID, "-private-key", signTestdata("rsa_pkcs1.pem"), "-url", "https://h.test/a", "-expires", "2147400000"}, extra...)
	}
	garbage := filepath.Join(t.TempDir(), "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	set := func(args []string, flagName, value string) []string {
		out := append([]string(nil), args...)
		for i := range out {
			if out[i] == flagName {
				out[i+1] = value
			}
		}
		return out
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no subcommand", nil, 2, "usage: edge sign url"},
		{"unknown subcommand", []string{"links"}, 2, "usage"},
		{"unknown flag", good("-bogus"), 2, "flag provided but not defined"},
		{"stray argument", good("extra"), 2, `unexpected argument "extra"`},
		{"no key pair id", set(good(), "-key-pair-id", ""), 2, "-key-pair-id is required"},
		{"bad key pair id", set(good(), "-key-pair-id", "K 1"), 2, "key pair id"},
		{"no private key", set(good(), "-private-key", ""), 2, "-private-key is required"},
		{"no url", set(good(), "-url", ""), 2, "-url is required"},
		{"no expires", set(good(), "-expires", ""), 2, "-expires is required"},
		{"missing key file", set(good(), "-private-key", "/nonexistent/key.pem"), 1, "/nonexistent/key.pem"},
		{"not a key", set(good(), "-private-key", garbage), 1, "no PEM private key block"},
		{"encrypted key", set(good(), "-private-key", signTestdata("encrypted.pem")), 1, "encrypted"},
		{"short rsa key", set(good(), "-private-key", signTestdata("rsa1024.pem")), 1, "CloudFront needs 2048"},
		{"ed25519 key", set(good(), "-private-key", signTestdata("ed25519.pem")), 1, "not an RSA or ECDSA"},
		{"public key given", set(good(), "-private-key", signTestdata("rsa_pub.pem")), 1, `"PUBLIC KEY"`},
		{"past expiry", set(good(), "-expires", "2020-01-01T00:00:00Z"), 2, "the expiry 2020-01-01T00:00:00Z is in the past"},
		{"past epoch", set(good(), "-expires", "1000"), 2, "in the past"},
		{"after 2038", set(good(), "-expires", "2147483648"), 2, "the latest CloudFront accepts"},
		{"bad time", set(good(), "-expires", "tomorrow"), 2, "want RFC 3339"},
		{"negative duration", set(good(), "-expires", "+-1h"), 2, "must be positive"},
		{"starts after expires", good("-starts", "2147400001"), 2, "is not before -expires"},
		{"bad ip", good("-ip", "300.1.1.1"), 2, `-ip "300.1.1.1"`},
		{"bad hash", good("-hash", "md5"), 2, `-hash "md5"`},
		{"non-ascii url", set(good(), "-url", "https://h.test/café"), 2, "ASCII; percent-encode"},
		{"url with space", set(good(), "-url", "https://h.test/a b"), 2, "ASCII"},
		{"relative url", set(good(), "-url", "/a"), 2, "absolute http"},
		{"ftp url", set(good(), "-url", "ftp://h.test/a"), 2, "absolute http"},
		{"url already signed", set(good(), "-url", "https://h.test/a?Signature=x"), 2, "reserved for signing"},
		{"policy and expires", good("-policy", signTestdata("policy.json")), 2, "cannot be combined"},
		{"policy file missing", []string{"url", "-key-pair-id", "K1", "-private-key", signTestdata("rsa_pkcs1.pem"), "-url", "https://h.test/a", "-policy", "/nonexistent.json"}, 2, "/nonexistent.json"},
		{"url outside policy", []string{"url", "-key-pair-id", "K1", "-private-key", signTestdata("rsa_pkcs1.pem"), "-url", "https://cdn.example.com/private/a", "-policy", signTestdata("policy.json")}, 2, "does not match the policy's Resource"},
		{"cookie domain with ;", []string{"cookies", "-key-pair-id", "K1", "-private-key", signTestdata("rsa_pkcs1.pem"), "-url", "https://h.test/*", "-expires", "2147400000", "-domain", "a;b"}, 2, "-domain"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := runSign(tc.args, &out, &errb)
			if code != tc.code || !strings.Contains(errb.String(), tc.msg) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, errb.String(), tc.code, tc.msg)
			}
			if out.Len() > 0 {
				t.Errorf("stdout %q on error", out.String())
			}
			if strings.Count(strings.TrimSpace(errb.String()), "\n") > 0 && tc.code != 2 {
				t.Errorf("multi-line error %q", errb.String())
			}
		})
	}
	// A malformed -policy (duplicate key) is refused, not signed.
	bad := filepath.Join(t.TempDir(), "dup.json")
	os.WriteFile(bad, []byte(`{"Statement":[{"Resource":"*","Condition":{"DateLessThan":{"AWS:EpochTime":4102444800},"DateLessThan":{"AWS:EpochTime":4102444801}}}]}`), 0o600)
	var out, errb bytes.Buffer
	if code := runSign([]string{"url", "-key-pair-id", "K1", "-private-key", signTestdata("rsa_pkcs1.pem"), "-url", "https://h.test/a", "-policy", bad}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "duplicate key") {
		t.Errorf("duplicate-key policy: exit %d %q", code, errb.String())
	}
	if code := runSign([]string{"-h"}, &out, &errb); code != 0 {
		t.Errorf("-h: exit %d", code)
	}
}
