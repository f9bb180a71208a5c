package signing

import (
	"crypto"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// signer is what URLSigner and CookieSigner share: a key, its id, the hash.
type signer struct {
	keyID string
	key   crypto.Signer
	hash  Hash
	rand  io.Reader
}

// SignerOption configures a URLSigner or CookieSigner.
type SignerOption func(*signer)

// WithHash selects the digest (default SHA1, which every CloudFront
// distribution accepts). SHA256 adds Hash-Algorithm=SHA256 to the URL or a
// CloudFront-Hash-Algorithm cookie.
func WithHash(h Hash) SignerOption { return func(s *signer) { s.hash = h } }

// WithRand sets the randomness for ECDSA signatures (default crypto/rand).
// RSA PKCS#1 v1.5 signatures are deterministic and use none.
func WithRand(r io.Reader) SignerOption { return func(s *signer) { s.rand = r } }

func newSigner(keyID string, key crypto.Signer, opts []SignerOption) (signer, error) {
	s := signer{keyID: keyID, key: key, rand: rand.Reader}
	for _, o := range opts {
		o(&s)
	}
	if err := checkKeyID(keyID); err != nil {
		return signer{}, err
	}
	if key == nil {
		return signer{}, errors.New("signing: signer: no private key")
	}
	if err := checkKeyType(key.Public()); err != nil {
		return signer{}, fmt.Errorf("signing: signer %s: %w", keyID, err)
	}
	if s.hash != SHA1 && s.hash != SHA256 {
		return signer{}, fmt.Errorf("signing: signer %s: unknown hash %d", keyID, s.hash)
	}
	return s, nil
}

// sign returns the policy JSON and the CloudFront base64 of its signature.
func (s *signer) sign(p *Policy) (policyJSON []byte, sig string, err error) {
	if err := p.validate(); err != nil {
		return nil, "", err
	}
	policyJSON = p.AppendJSON(nil)
	var digest []byte
	ch := crypto.SHA1
	if s.hash == SHA256 {
		d := sha256.Sum256(policyJSON)
		digest, ch = d[:], crypto.SHA256
	} else {
		d := sha1.Sum(policyJSON)
		digest = d[:]
	}
	raw, err := s.key.Sign(s.rand, digest, ch)
	if err != nil {
		return nil, "", fmt.Errorf("signing: sign with %s: %w", s.keyID, err)
	}
	return policyJSON, Encode(raw), nil
}

// validate refuses what CloudFront or the verifier would reject, so a
// signer never hands out a URL that cannot work.
func (p *Policy) validate() error {
	if p.Expires.IsZero() || p.Expires.Unix() <= 0 || p.Expires.Unix() > maxEpoch {
		return errors.New("signing: policy: Expires (DateLessThan) is required")
	}
	if !p.Starts.IsZero() && !p.Starts.Before(p.Expires) {
		return errors.New("signing: policy: Starts (DateGreaterThan) is not before Expires")
	}
	if !p.Starts.IsZero() && p.Starts.Unix() < 0 {
		return errors.New("signing: policy: Starts is before 1970")
	}
	if err := checkASCII("resource", p.Resource); err != nil {
		return err
	}
	return nil
}

// checkASCII refuses non-ASCII and control characters: CloudFront compares
// the resource with the request line, where those cannot appear unencoded.
func checkASCII(what, s string) error {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e {
			return fmt.Errorf("signing: %s %q: byte %d is %#x; percent-encode the path and query and punycode the host", what, s, i, c)
		}
	}
	return nil
}

// checkURL refuses a URL that cannot be signed: not http(s), not ASCII, a
// fragment, or a query that already holds a signing parameter.
func checkURL(rawURL string, wildcardOK bool) error {
	if err := checkASCII("url", rawURL); err != nil {
		return err
	}
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok || rest == "" {
		return fmt.Errorf("signing: url %q: want scheme://host/path", rawURL)
	}
	switch scheme {
	case "http", "https":
	case "*", "http*":
		if !wildcardOK {
			return fmt.Errorf("signing: url %q: a wildcard scheme needs a custom policy", rawURL)
		}
	default:
		return fmt.Errorf("signing: url %q: scheme must be http or https", rawURL)
	}
	if strings.Contains(rawURL, "#") {
		return fmt.Errorf("signing: url %q: a fragment is never sent to the server", rawURL)
	}
	if _, q, ok := strings.Cut(rest, "?"); ok {
		for _, pair := range strings.Split(q, "&") {
			name, _, _ := strings.Cut(pair, "=")
			if IsQueryParam(name) {
				return fmt.Errorf("signing: url %q: query parameter %s is reserved for signing", rawURL, name)
			}
		}
	}
	return nil
}

// URLSigner makes CloudFront signed URLs. Safe for concurrent use.
type URLSigner struct{ s signer }

// NewURLSigner returns a signer for the key pair id keyID (the id of the
// public key in the key group) and its private key: an *rsa.PrivateKey
// (2048-bit for CloudFront) or an *ecdsa.PrivateKey on P-256, or any
// crypto.Signer with such a public key.
func NewURLSigner(keyID string, key crypto.Signer, opts ...SignerOption) (*URLSigner, error) {
	s, err := newSigner(keyID, key, opts)
	if err != nil {
		return nil, err
	}
	return &URLSigner{s: s}, nil
}

// Sign returns rawURL signed with a canned policy valid until expires:
// rawURL + "?Expires=…&Signature=…&Key-Pair-Id=…" ("&" when rawURL has a
// query), plus "&Hash-Algorithm=SHA256" when so configured. rawURL must be
// exactly what viewers will request (scheme, host, percent-encoded path and
// query), as the edge rebuilds the policy from the request line.
func (u *URLSigner) Sign(rawURL string, expires time.Time) (string, error) {
	if err := checkURL(rawURL, false); err != nil {
		return "", err
	}
	_, sig, err := u.s.sign(CannedPolicy(rawURL, expires))
	if err != nil {
		return "", err
	}
	return u.s.appendParams(rawURL, "Expires="+strconv.FormatInt(expires.Unix(), 10), sig), nil
}

// SignWithPolicy returns rawURL with a custom policy (Policy, Signature,
// Key-Pair-Id). p.Resource may hold wildcards and need not equal rawURL;
// rawURL itself must match it for the URL to work.
func (u *URLSigner) SignWithPolicy(rawURL string, p *Policy) (string, error) {
	if err := checkURL(rawURL, true); err != nil {
		return "", err
	}
	policyJSON, sig, err := u.s.sign(p)
	if err != nil {
		return "", err
	}
	return u.s.appendParams(rawURL, "Policy="+Encode(policyJSON), sig), nil
}

func (s *signer) appendParams(rawURL, first, sig string) string {
	var b strings.Builder
	b.WriteString(rawURL)
	if strings.Contains(rawURL, "?") {
		b.WriteByte('&')
	} else {
		b.WriteByte('?')
	}
	b.WriteString(first)
	b.WriteString("&Signature=")
	b.WriteString(sig)
	b.WriteString("&Key-Pair-Id=")
	b.WriteString(s.keyID)
	if s.hash == SHA256 {
		b.WriteString("&Hash-Algorithm=SHA256")
	}
	return b.String()
}

// Cookie is one signed cookie's name and value.
type Cookie struct {
	Name, Value string
}

// CookieAttributes are the Set-Cookie attributes CloudFront recommends:
// Secure and HttpOnly, optionally a Domain and a Path; no Expires or
// Max-Age, so the cookies last for the browser session while the policy
// decides how long they work.
type CookieAttributes struct {
	Domain   string
	Path     string
	Secure   bool
	HTTPOnly bool
}

// SetCookie returns the Set-Cookie header value for c with attributes a.
// Attribute values are dropped if they hold ';' or control characters.
func (c Cookie) SetCookie(a CookieAttributes) string {
	var b strings.Builder
	b.WriteString(c.Name)
	b.WriteByte('=')
	b.WriteString(c.Value)
	if a.Domain != "" && attrSafe(a.Domain) {
		b.WriteString("; Domain=")
		b.WriteString(a.Domain)
	}
	if a.Path != "" && attrSafe(a.Path) {
		b.WriteString("; Path=")
		b.WriteString(a.Path)
	}
	if a.Secure {
		b.WriteString("; Secure")
	}
	if a.HTTPOnly {
		b.WriteString("; HttpOnly")
	}
	return b.String()
}

func attrSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == ';' || c == 0x7f {
			return false
		}
	}
	return true
}

// CookieSigner makes CloudFront signed cookies. Safe for concurrent use.
type CookieSigner struct{ s signer }

// NewCookieSigner is NewURLSigner for cookies; RSA and ECDSA keys both work
// (the AWS SDK for Go v2 cookie signer takes RSA only).
func NewCookieSigner(keyID string, key crypto.Signer, opts ...SignerOption) (*CookieSigner, error) {
	s, err := newSigner(keyID, key, opts)
	if err != nil {
		return nil, err
	}
	return &CookieSigner{s: s}, nil
}

// Sign returns canned-policy cookies (CloudFront-Expires,
// CloudFront-Signature, CloudFront-Key-Pair-Id, and
// CloudFront-Hash-Algorithm for SHA256). A canned cookie unlocks exactly
// one URL, resource, including its query; use SignWithPolicy with a
// wildcard resource to unlock a tree.
func (c *CookieSigner) Sign(resource string, expires time.Time) ([]Cookie, error) {
	if err := checkURL(resource, false); err != nil {
		return nil, err
	}
	_, sig, err := c.s.sign(CannedPolicy(resource, expires))
	if err != nil {
		return nil, err
	}
	return c.s.cookies(Cookie{CookieExpires, strconv.FormatInt(expires.Unix(), 10)}, sig), nil
}

// SignWithPolicy returns custom-policy cookies (CloudFront-Policy,
// CloudFront-Signature, CloudFront-Key-Pair-Id, and
// CloudFront-Hash-Algorithm for SHA256).
func (c *CookieSigner) SignWithPolicy(p *Policy) ([]Cookie, error) {
	policyJSON, sig, err := c.s.sign(p)
	if err != nil {
		return nil, err
	}
	return c.s.cookies(Cookie{CookiePolicy, Encode(policyJSON)}, sig), nil
}

func (s *signer) cookies(first Cookie, sig string) []Cookie {
	out := []Cookie{first, {CookieSignature, sig}, {CookieKeyPairID, s.keyID}}
	if s.hash == SHA256 {
		out = append(out, Cookie{CookieHashAlgorithm, "SHA256"})
	}
	return out
}
