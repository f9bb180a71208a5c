package signing

import (
	"crypto"
	"encoding/base64"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/cloudfront/sign"
)

// The AWS SDK for Go v2's own known-answer vectors (policy_test.go,
// sign_url_test.go; reference/cloudfront.md §10.2).
func TestSDKKnownAnswers(t *testing.T) {
	exp := time.Date(2009, 11, 10, 23, 0, 0, 0, time.UTC)
	for _, tc := range []struct{ resource, json, b64 string }{
		{"https://example.com/a",
			`{"Statement":[{"Resource":"https://example.com/a","Condition":{"DateLessThan":{"AWS:EpochTime":1257894000}}}]}`,
			"eyJTdGF0ZW1lbnQiOlt7IlJlc291cmNlIjoiaHR0cHM6Ly9leGFtcGxlLmNvbS9hIiwiQ29uZGl0aW9uIjp7IkRhdGVMZXNzVGhhbiI6eyJBV1M6RXBvY2hUaW1lIjoxMjU3ODk0MDAwfX19XX0="},
		{"https://example.com/a?b=1&c=2",
			`{"Statement":[{"Resource":"https://example.com/a?b=1&c=2","Condition":{"DateLessThan":{"AWS:EpochTime":1257894000}}}]}`,
			"eyJTdGF0ZW1lbnQiOlt7IlJlc291cmNlIjoiaHR0cHM6Ly9leGFtcGxlLmNvbS9hP2I9MSZjPTIiLCJDb25kaXRpb24iOnsiRGF0ZUxlc3NUaGFuIjp7IkFXUzpFcG9jaFRpbWUiOjEyNTc4OTQwMDB9fX1dfQ=="},
	} {
		got := CannedPolicy(tc.resource, exp).AppendJSON(nil)
		if string(got) != tc.json {
			t.Errorf("canned policy\n got %s\nwant %s", got, tc.json)
		}
		if b := base64.StdEncoding.EncodeToString(got); b != tc.b64 {
			t.Errorf("base64 %s, want %s", b, tc.b64)
		}
	}

	const (
		sig    = "cMutWOvPMOPuh0KFDsOdbML~1fe0eEBC1hdMLGRbYr3mTRrVbKDdUXL6l3vlbE0Og3rTRS6mlaSORTwesN1srESH1pXFUyCVba8tWqNy1frEiL7jZLyzA1KndH0olfJDfgHXdw-Edtk0m8mqY~AnGIYGYDu659dWeP49jVeYn30XF9sYkRCdS5IezAkqh8TO9tTDNGS4Ic6DQue4agHUFLNv1VErTafUxlSBp8hlPCuMdtZLEBLr9UJVc3oWJI3zc1~9JgVTDjbXYV1-HgTn8qQsbAU2KcieUonIzTme2td-7c2FCC0EAbOF~6QXTHWcAiSB5nVmbxn-Mx-QMVsiLw__"
		canned = "http://example.com/a?Expires=1257894000&Signature=" + sig + "&Key-Pair-Id=KeyID"
		custom = "http://example.com/a?Policy=eyJTdGF0ZW1lbnQiOlt7IlJlc291cmNlIjoiaHR0cDovL2V4YW1wbGUuY29tL2EiLCJDb25kaXRpb24iOnsiRGF0ZUxlc3NUaGFuIjp7IkFXUzpFcG9jaFRpbWUiOjEyNTc4OTQwMDB9fX1dfQ__&Signature=" + sig + "&Key-Pair-Id=KeyID"
	)
	// The SDK in go.mod still produces them (guards against a changed SDK
	// making this test vacuous).
	sdkURL, err := sign.NewURLSigner("KeyID", sdkTestKey).Sign("http://example.com/a", exp)
	if err != nil || sdkURL != canned {
		t.Fatalf("SDK canned = %q, %v", sdkURL, err)
	}

	// Our signer reproduces them byte for byte. The SDK test key has e=3,
	// which our key check accepts (it checks the modulus size only).
	s, err := NewURLSigner("KeyID", sdkTestKey)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Sign("http://example.com/a", exp); err != nil || got != canned {
		t.Errorf("Sign = %q, %v\nwant %q", got, err, canned)
	}
	if got, err := s.SignWithPolicy("http://example.com/a", CannedPolicy("http://example.com/a", exp)); err != nil || got != custom {
		t.Errorf("SignWithPolicy = %q, %v\nwant %q", got, err, custom)
	}

	// And our verifier accepts both forms until the expiry second.
	clk := &testClock{exp.Add(-time.Second)}
	tr := trusted(t, clk, map[string]crypto.Signer{"KeyID": sdkTestKey})
	for _, u := range []string{canned, custom} {
		res, err := tr.Verify(requestFor(t, u))
		if err != nil {
			t.Fatalf("Verify(%s): %v", u, err)
		}
		if res.StrippedQuery != "" || res.Mode != ModeURL || res.KeyID != "KeyID" {
			t.Errorf("result %+v", res)
		}
	}
	clk.t = exp
	_, err = tr.Verify(requestFor(t, canned))
	wantCode(t, err, AccessDenied)
}
