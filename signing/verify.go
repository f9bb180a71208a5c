package signing

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"
	"unsafe"
)

// Request is what the verifier needs from a viewer request, filled once per
// request by the edge. Strings are borrowed: Verify keeps none of them
// after it returns (except inside Result.StrippedQuery, which may be a
// substring of RawQuery).
type Request struct {
	// Scheme is the protocol the viewer used: "http" or "https".
	Scheme string
	// Host is the Host header as received (a port is kept); it is compared
	// lower-cased.
	Host string
	// RawPath and RawQuery are byte-for-byte from the request line: no
	// percent-decoding, no dot-segment removal, parameters in their original
	// order. RawQuery excludes the '?'.
	RawPath, RawQuery string
	// Cookie returns the first value of a cookie, if the edge has a parsed
	// cookie jar; when nil, Cookies (the raw Cookie header) is scanned.
	Cookie  func(name string) (string, bool)
	Cookies string
	// ClientIP is the viewer address: the socket peer, or the address from a
	// PROXY header sent by a trusted peer. Never X-Forwarded-For.
	ClientIP netip.Addr
}

// Mode says where the signature came from.
type Mode uint8

const (
	ModeURL    Mode = iota + 1 // query parameters (cookies were ignored)
	ModeCookie                 // CloudFront-* cookies
)

func (m Mode) String() string {
	switch m {
	case ModeURL:
		return "url"
	case ModeCookie:
		return "cookie"
	}
	return "none"
}

// Result describes a request that passed.
type Result struct {
	Mode  Mode
	KeyID string
	// Expires is the policy's DateLessThan.
	Expires time.Time
	// StrippedQuery is RawQuery without the signing parameters (original
	// order and bytes): the query for the origin request and the cache key.
	// In cookie mode it is RawQuery.
	StrippedQuery string
	// Cached is true when the signature was found among recently verified
	// ones and no public-key operation was needed.
	Cached bool
}

// Verifier checks signed URLs and signed cookies against key groups. It is
// immutable after NewVerifier except for its signature cache, and safe for
// concurrent use. Build a new one on config reload: requests in flight keep
// the old one, so rotating keys (add new, switch signers, drop old) never
// fails a request.
type Verifier struct {
	groups map[string][]*verifyKey
	now    func() time.Time
	cache  *sigCache
}

type verifyKey struct {
	id  string
	rsa *rsa.PublicKey
	ec  *ecdsa.PublicKey
}

// Option configures a Verifier.
type Option func(*Verifier)

// WithClock sets the clock conditions are checked against (default
// time.Now).
func WithClock(now func() time.Time) Option { return func(v *Verifier) { v.now = now } }

// WithCacheSize bounds the cache of verified signatures (default
// DefaultCacheSize); 0 disables it.
func WithCacheSize(n int) Option { return func(v *Verifier) { v.cache = newSigCache(n) } }

// NewVerifier compiles key groups. Group names must be unique and non-empty,
// each group holds 1 to MaxKeysPerGroup keys, and a key id names the same
// key in every group that lists it.
func NewVerifier(groups []KeyGroup, opts ...Option) (*Verifier, error) {
	v := &Verifier{groups: make(map[string][]*verifyKey, len(groups)), now: time.Now, cache: newSigCache(DefaultCacheSize)}
	for _, o := range opts {
		o(v)
	}
	byID := map[string]*verifyKey{}
	for _, g := range groups {
		if g.Name == "" {
			return nil, fmt.Errorf("signing: key group: empty name")
		}
		if _, dup := v.groups[g.Name]; dup {
			return nil, fmt.Errorf("signing: key group %s: defined twice", g.Name)
		}
		if len(g.Keys) == 0 || len(g.Keys) > MaxKeysPerGroup {
			return nil, fmt.Errorf("signing: key group %s: has %d keys, want 1 to %d", g.Name, len(g.Keys), MaxKeysPerGroup)
		}
		keys := make([]*verifyKey, 0, len(g.Keys))
		for _, k := range g.Keys {
			pk, err := NewPublicKey(k.ID, k.Key)
			if err != nil {
				return nil, fmt.Errorf("signing: key group %s: %w", g.Name, err)
			}
			vk, ok := byID[pk.ID]
			if !ok {
				vk = &verifyKey{id: pk.ID}
				switch key := pk.Key.(type) {
				case *rsa.PublicKey:
					vk.rsa = key
				case *ecdsa.PublicKey:
					vk.ec = key
				}
				byID[pk.ID] = vk
			} else if !samePublicKey(vk, pk.Key) {
				return nil, fmt.Errorf("signing: key group %s: key id %s names two different keys", g.Name, pk.ID)
			}
			for _, seen := range keys {
				if seen == vk {
					return nil, fmt.Errorf("signing: key group %s: key id %s listed twice", g.Name, pk.ID)
				}
			}
			keys = append(keys, vk)
		}
		v.groups[g.Name] = keys
	}
	return v, nil
}

func samePublicKey(vk *verifyKey, key crypto.PublicKey) bool {
	if vk.rsa != nil {
		return vk.rsa.Equal(key)
	}
	return vk.ec.Equal(key)
}

// Trusted is the set of keys one cache behaviour trusts, compiled once per
// config snapshot. Safe for concurrent use.
type Trusted struct {
	v    *Verifier
	keys map[string]*verifyKey
}

// Trust returns the keys of the named key groups (a cache behaviour's
// trusted_key_groups). Unknown names are an error.
func (v *Verifier) Trust(groupNames ...string) (*Trusted, error) {
	if len(groupNames) == 0 {
		return nil, fmt.Errorf("signing: trust: no key groups")
	}
	t := &Trusted{v: v, keys: map[string]*verifyKey{}}
	for _, name := range groupNames {
		keys, ok := v.groups[name]
		if !ok {
			return nil, fmt.Errorf("signing: trust %s: no such key group", name)
		}
		for _, k := range keys {
			t.keys[k.id] = k
		}
	}
	return t, nil
}

// Input caps checked before any decoding: the base64 of the largest policy
// ParsePolicy accepts, and of a 4096-bit RSA signature with room to spare.
var (
	maxPolicyB64Len = EncodedLen(MaxPolicySize)
	maxSignatureLen = 1024
)

// Verify decides a request for a restricted cache behaviour the way
// CloudFront does:
//
//  1. URL mode when the raw query holds any signing parameter (cookies are
//     then ignored, even valid ones); cookie mode otherwise.
//  2. Key-Pair-Id missing → MissingKey; not trusted here → InvalidKey.
//  3. Hash-Algorithm other than SHA1/SHA256 or an undecodable Signature →
//     MalformedSignature.
//  4. Policy undecodable or invalid, or both Policy and Expires in a URL →
//     MalformedPolicy (in cookies CloudFront-Policy wins over
//     CloudFront-Expires); canned: the policy is rebuilt from scheme, Host
//     (lower-cased), raw path and the remaining raw query.
//  5. Signature mismatch, expiry (now must be before DateLessThan), start
//     (now must be after DateGreaterThan), viewer address outside
//     AWS:SourceIp, resource not matching → AccessDenied.
//
// A returned error is always a *Error, shared between calls: compare its
// Code, send Body(), log it; do not modify it.
func (t *Trusted) Verify(r *Request) (Result, error) {
	var vals [nParams]string
	var seen [nParams]bool
	res := Result{Mode: ModeURL, StrippedQuery: r.RawQuery}
	stripped, dup := scanQuery(r.RawQuery, &vals, &seen)
	urlMode := seen != [nParams]bool{}
	if urlMode {
		res.StrippedQuery = stripped
	} else {
		res.Mode = ModeCookie
		if r.Cookie != nil {
			for i, name := range [nParams]string{CookieExpires, CookiePolicy, CookieSignature, CookieKeyPairID, CookieHashAlgorithm} {
				vals[i], seen[i] = r.Cookie(name)
			}
		} else {
			scanCookies(r.Cookies, &vals, &seen)
		}
	}
	if vals[pKeyPairID] == "" {
		return res, errMissingKey
	}
	key := t.keys[vals[pKeyPairID]]
	if key == nil {
		return res, errUnknownKey
	}
	res.KeyID = key.id
	if dup {
		return res, errDuplicateParam
	}
	hash := SHA1
	switch vals[pHashAlgorithm] {
	case "SHA256":
		hash = SHA256
	case "SHA1":
	case "":
		if seen[pHashAlgorithm] {
			return res, errBadHashAlgorithm
		}
	default:
		return res, errBadHashAlgorithm
	}
	sigB64 := vals[pSignature]
	if sigB64 == "" {
		return res, errMissingSignature
	}
	if len(sigB64) > maxSignatureLen {
		return res, errBadBase64
	}
	custom := seen[pPolicy]
	// Both forms in a URL is an error; in cookies the policy wins, since a
	// browser may still hold a canned cookie from an earlier session.
	if custom && seen[pExpires] && urlMode {
		return res, errMixedPolicy
	}
	if !custom && !seen[pExpires] {
		return res, errBadPolicy
	}
	if custom && len(vals[pPolicy]) > maxPolicyB64Len {
		return res, errBadPolicy
	}

	// The canned policy is rebuilt into a stack buffer; a custom policy is
	// decoded only on a cache miss.
	var stack [2048]byte
	var canned []byte
	var expires int64
	if !custom {
		var ok bool
		if expires, ok = parseEpoch(vals[pExpires]); !ok {
			return res, errBadExpires
		}
		canned = appendCannedResource(stack[:0], r, res.StrippedQuery, vals[pExpires])
	}

	now := t.v.now()
	var policy *Policy
	var ck [32]byte
	if custom {
		ck = cacheKey(key.id, hash, 'p', vals[pPolicy], sigB64)
	} else {
		ck = cacheKey(key.id, hash, 'c', canned, sigB64)
	}
	var entry cacheEntry
	var hit bool
	if t.v.cache != nil {
		entry, hit = t.v.cache.get(&ck)
	}
	if hit {
		res.Cached = true
		policy, expires = entry.policy, entry.expires
	} else {
		var sigStack [512]byte
		sig, err := AppendDecode(sigStack[:0], sigB64)
		if err != nil || len(sig) == 0 {
			return res, errBadBase64
		}
		// Two variables, not one: the decoded custom policy escapes into the
		// JSON decoder, and sharing a variable would move the canned
		// policy's stack buffer to the heap too.
		var valid bool
		if custom {
			policyJSON, err := Decode(vals[pPolicy])
			if err != nil || len(policyJSON) == 0 {
				return res, errBadPolicy
			}
			if policy, err = ParsePolicy(policyJSON); err != nil {
				return res, errBadPolicy
			}
			expires = policy.Expires.Unix()
			valid = key.verify(hash, policyJSON, sig)
		} else {
			valid = key.verify(hash, canned, sig)
		}
		if !valid {
			return res, errSignatureMismatch
		}
		if t.v.cache != nil && now.Unix() < expires {
			t.v.cache.put(&ck, cacheEntry{policy: policy, expires: expires}, now)
		}
	}

	res.Expires = time.Unix(expires, 0).UTC()
	if !now.Before(res.Expires) {
		return res, errExpired
	}
	if policy != nil {
		if !policy.Starts.IsZero() && !now.After(policy.Starts) {
			return res, errNotYetValid
		}
		if policy.SourceIP.IsValid() && !policy.SourceIP.Contains(r.ClientIP.Unmap()) {
			return res, errIPMismatch
		}
		if policy.Resource != "" && !matchRequest(policy.Resource, r, res.StrippedQuery) {
			return res, errResourceMismatch
		}
	}
	return res, nil
}

// appendCannedResource appends the canned policy whose Resource is the
// request URL: scheme://host/raw-path[?remaining-raw-query].
func appendCannedResource(dst []byte, r *Request, query, expires string) []byte {
	var stack [2048]byte
	u := appendResource(stack[:0], r, query)
	return appendCannedJSON(dst, u, expires)
}

func appendResource(dst []byte, r *Request, query string) []byte {
	dst = append(dst, r.Scheme...)
	dst = append(dst, "://"...)
	dst = appendLower(dst, r.Host)
	dst = append(dst, r.RawPath...)
	if query != "" {
		dst = append(dst, '?')
		dst = append(dst, query...)
	}
	return dst
}

func appendLower(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// matchRequest is MatchResource(pattern, resource URL of r) without
// building the URL on the heap: MatchResource only reads the string, and
// the buffer is not touched while it runs.
func matchRequest(pattern string, r *Request, query string) bool {
	var stack [2048]byte
	u := appendResource(stack[:0], r, query)
	return MatchResource(pattern, unsafe.String(unsafe.SliceData(u), len(u)))
}

// cacheKey hashes everything that decides whether a signature is valid,
// length-prefixed so no two tuples share an encoding.
func cacheKey[P string | []byte](keyID string, h Hash, kind byte, policy P, sig string) [32]byte {
	var stack [4096]byte
	b := stack[:0]
	b = append(b, byte(h), kind)
	b = binary.BigEndian.AppendUint32(b, uint32(len(keyID)))
	b = append(b, keyID...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(policy)))
	b = append(b, policy...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(sig)))
	b = append(b, sig...)
	return sha256.Sum256(b)
}

func (k *verifyKey) verify(h Hash, msg, sig []byte) bool {
	var digest []byte
	var ch crypto.Hash
	switch h {
	case SHA256:
		d := sha256.Sum256(msg)
		digest, ch = d[:], crypto.SHA256
	default:
		d := sha1.Sum(msg)
		digest, ch = d[:], crypto.SHA1
	}
	if k.rsa != nil {
		return rsa.VerifyPKCS1v15(k.rsa, ch, digest, sig) == nil
	}
	return ecdsa.VerifyASN1(k.ec, digest, sig)
}
