package signing

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// refVerify is a second, deliberately naive verifier written straight from
// reference/cloudfront.md §1.5 with the standard library only (no code
// shared with the package), used to check what our signer produces.
func refVerify(rawURL string, keys map[string]crypto.PublicKey, now time.Time, viewer netip.Addr) error {
	base, query, _ := strings.Cut(rawURL, "?")
	params := map[string]string{}
	var rest []string
	for _, kv := range strings.Split(query, "&") {
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "Expires", "Policy", "Signature", "Key-Pair-Id", "Hash-Algorithm":
			params[k] = v
		default:
			rest = append(rest, kv)
		}
	}
	resource := base
	if len(rest) > 0 {
		resource += "?" + strings.Join(rest, "&")
	}
	return refCheck(resource, params, keys, now, viewer)
}

func refCheck(resource string, params map[string]string, keys map[string]crypto.PublicKey, now time.Time, viewer netip.Addr) error {
	unb64 := func(s string) ([]byte, error) {
		return base64.StdEncoding.DecodeString(strings.NewReplacer("-", "+", "_", "=", "~", "/").Replace(s))
	}
	key, ok := keys[params["Key-Pair-Id"]]
	if !ok {
		return errors.New("unknown key")
	}
	var policy []byte
	if p, ok := params["Policy"]; ok {
		var err error
		if policy, err = unb64(p); err != nil {
			return err
		}
	} else {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(resource)
		policy = []byte(fmt.Sprintf(`{"Statement":[{"Resource":%s,"Condition":{"DateLessThan":{"AWS:EpochTime":%s}}}]}`,
			strings.TrimSpace(buf.String()), params["Expires"]))
	}
	sig, err := unb64(params["Signature"])
	if err != nil {
		return err
	}
	var digest []byte
	h := crypto.SHA1
	if params["Hash-Algorithm"] == "SHA256" {
		d := sha256.Sum256(policy)
		digest, h = d[:], crypto.SHA256
	} else {
		d := sha1.Sum(policy)
		digest = d[:]
	}
	switch k := key.(type) {
	case *rsa.PublicKey:
		if err := rsa.VerifyPKCS1v15(k, h, digest, sig); err != nil {
			return err
		}
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(k, digest, sig) {
			return errors.New("ecdsa mismatch")
		}
	}
	var doc struct {
		Statement []struct {
			Resource  string
			Condition map[string]map[string]any
		}
	}
	if err := json.Unmarshal(policy, &doc); err != nil || len(doc.Statement) != 1 {
		return fmt.Errorf("policy %s: %v", policy, err)
	}
	st := doc.Statement[0]
	if lt, ok := st.Condition["DateLessThan"]["AWS:EpochTime"].(float64); !ok || now.Unix() >= int64(lt) {
		return errors.New("expired")
	}
	if gt, ok := st.Condition["DateGreaterThan"]["AWS:EpochTime"].(float64); ok && now.Unix() <= int64(gt) {
		return errors.New("not yet valid")
	}
	if cidr, ok := st.Condition["IpAddress"]["AWS:SourceIp"].(string); ok && !netip.MustParsePrefix(cidr).Contains(viewer) {
		return errors.New("ip")
	}
	if r := st.Resource; r != resource && !(strings.HasSuffix(r, "*") && strings.HasPrefix(resource, strings.TrimSuffix(r, "*"))) {
		return fmt.Errorf("resource %s does not cover %s", r, resource)
	}
	return nil
}

// What our signers produce verifies with the reference verifier (and the
// reference verifier is not vacuous: it rejects a tampered URL).
func TestOurSignerAgainstReference(t *testing.T) {
	rk, ek := rsaKey(t), ecKey(t)
	keys := map[string]crypto.PublicKey{"KRSA": rk.Public(), "KEC": ek.Public()}
	exp := t0.Add(time.Hour)
	viewer := netip.MustParseAddr("192.0.2.7")
	for _, tc := range []struct {
		id  string
		key crypto.Signer
		h   Hash
	}{{"KRSA", rk, SHA1}, {"KRSA", rk, SHA256}, {"KEC", ek, SHA1}, {"KEC", ek, SHA256}} {
		s, err := NewURLSigner(tc.id, tc.key, WithHash(tc.h))
		if err != nil {
			t.Fatal(err)
		}
		canned, err := s.Sign("https://d1.test/a%20b/c.jpg?x=1&y=<&>", exp)
		if err != nil {
			t.Fatal(err)
		}
		custom, err := s.SignWithPolicy("https://d1.test/a/c.jpg", &Policy{Resource: "https://d1.test/a/*", Expires: exp,
			Starts: t0.Add(-time.Minute), SourceIP: netip.MustParsePrefix("192.0.2.0/24")})
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range []string{canned, custom} {
			if err := refVerify(u, keys, t0, viewer); err != nil {
				t.Errorf("%s %v: reference rejects %s: %v", tc.id, tc.h, u, err)
			}
			if err := refVerify(strings.Replace(u, "d1.test", "d2.test", 1), keys, t0, viewer); err == nil {
				t.Errorf("reference accepts a tampered URL")
			}
			if err := refVerify(u, keys, exp, viewer); err == nil {
				t.Errorf("reference accepts at expiry")
			}
		}
		cs, _ := NewCookieSigner(tc.id, tc.key, WithHash(tc.h))
		cookies, err := cs.Sign("https://d1.test/a.jpg", exp)
		if err != nil {
			t.Fatal(err)
		}
		params := map[string]string{}
		for _, c := range cookies {
			params[strings.TrimPrefix(c.Name, "CloudFront-")] = c.Value
		}
		if _, ok := params["Expires"]; !ok {
			t.Errorf("canned cookies lack CloudFront-Expires: %v", cookies)
		}
		if err := refCheck("https://d1.test/a.jpg", params, keys, t0, viewer); err != nil {
			t.Errorf("reference rejects canned cookies: %v", err)
		}
		if tc.h == SHA256 && params["Hash-Algorithm"] != "SHA256" {
			t.Errorf("no CloudFront-Hash-Algorithm cookie: %v", cookies)
		}
	}
}
