package affinity

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"github.com/switchyard/switchyard/internal/runtime"
)

// The cookie names of ALB stickiness (elb.md §2.5).
const (
	CookieLB        = "AWSALB"     // lb_cookie target stickiness
	CookieLBCORS    = "AWSALBCORS" // its twin with SameSite=None; Secure
	CookieTG        = "AWSALBTG"   // weighted target-group stickiness
	CookieTGCORS    = "AWSALBTGCORS"
	CookieApp       = "AWSALBAPP-0" // app_cookie stickiness; one shard is enough for our short values
	CookieAppPrefix = "AWSALBAPP-"  // ALB shards app cookies as AWSALBAPP-0 … AWSALBAPP-3
)

// LBCookieLifetime is the Expires that ALB puts on its own cookies: the
// stickiness window is inside the sealed value and refreshed per response.
const LBCookieLifetime = 7 * 24 * time.Hour

// Kind tells the cookies apart, so that a value of one cannot be used as
// another.
type Kind byte

// The kinds of sealed values.
const (
	KindTarget Kind = 1 // AWSALB: id is a target address
	KindApp    Kind = 2 // AWSALBAPP-0: id is a target address
	KindGroup  Kind = 3 // AWSALBTG: id is a target-group name
)

const (
	version   = 1
	hdrLen    = 1 + 1 + 8 + 8 // version, kind, scope hash, expiry (Unix seconds)
	nonceLen  = 12
	tagLen    = 16
	maxIDLen  = 255
	maxRawLen = nonceLen + hdrLen + maxIDLen + tagLen
	// MaxValueLen is the longest cookie value Open looks at; longer ones
	// are rejected before any work.
	MaxValueLen = (maxRawLen*8 + 5) / 6
)

var b64 = base64.RawURLEncoding

// Sealer seals and opens cookie values under one key. Safe for concurrent
// use.
type Sealer struct {
	aead cipher.AEAD
	bufs sync.Pool // *[maxRawLen]byte
}

// New returns a Sealer keyed by secret (any length; stretched with
// SHA-256), or by a random key when secret is empty. lb instances behind
// one DNS name need the same secret to honour each other's cookies; the
// random key makes cookies die with the process.
func New(secret []byte) (*Sealer, error) {
	var key [32]byte
	if len(secret) == 0 {
		if _, err := rand.Read(key[:]); err != nil {
			return nil, fmt.Errorf("affinity: new key: %w", err)
		}
	} else {
		h := sha256.New()
		h.Write([]byte("switchyard affinity v1\x00"))
		h.Write(secret)
		h.Sum(key[:0])
	}
	blk, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, fmt.Errorf("affinity: new key: %w", err)
	}
	aead, err := cipher.NewGCM(blk)
	if err != nil {
		return nil, fmt.Errorf("affinity: new key: %w", err)
	}
	s := &Sealer{aead: aead}
	s.bufs.New = func() any { return new([maxRawLen]byte) }
	return s, nil
}

// scopeHash binds a value to its group (or rule) without carrying the name.
// FNV-1a; the scope is not secret and the value is authenticated, so a
// collision could at worst let a valid cookie of one group name a target
// of another with the same address.
func scopeHash(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// Seal appends to dst the cookie value (base64url, no padding) that names
// id under kind and scope until expires. An id longer than 255 bytes is
// cut to 255 (target addresses and group names are far shorter).
func (s *Sealer) Seal(dst []byte, kind Kind, scope, id string, expires time.Time) []byte {
	if len(id) > maxIDLen {
		id = id[:maxIDLen]
	}
	buf := s.bufs.Get().(*[maxRawLen]byte)
	defer s.bufs.Put(buf)
	nonce := buf[:nonceLen]
	if _, err := rand.Read(nonce); err != nil {
		// crypto/rand does not fail on Linux; a value that never opens is
		// the safe result if it ever does.
		clear(nonce)
	}
	pt := buf[nonceLen : nonceLen+hdrLen]
	pt[0] = version
	pt[1] = byte(kind)
	binary.BigEndian.PutUint64(pt[2:10], scopeHash(scope))
	binary.BigEndian.PutUint64(pt[10:18], uint64(expires.Unix()))
	n := nonceLen + hdrLen + copy(buf[nonceLen+hdrLen:], id)
	sealed := s.aead.Seal(buf[nonceLen:nonceLen], nonce, buf[nonceLen:n], nil)
	raw := buf[:nonceLen+len(sealed)]
	return b64.AppendEncode(dst, raw)
}

// Open checks a cookie value and appends its id to dst. It returns ok
// false — and dst unchanged — for anything but an intact value sealed by
// this key for kind and scope whose expiry is after now. It does not
// allocate when dst has room for the id.
func (s *Sealer) Open(dst []byte, kind Kind, scope string, value []byte, now time.Time) ([]byte, bool) {
	if len(value) > MaxValueLen || len(value) < (nonceLen+hdrLen+tagLen)*4/3 {
		return dst, false
	}
	buf := s.bufs.Get().(*[maxRawLen]byte)
	defer s.bufs.Put(buf)
	n, err := b64.Decode(buf[:], value)
	if err != nil || n < nonceLen+hdrLen+tagLen {
		return dst, false
	}
	ct := buf[nonceLen:n]
	pt, err := s.aead.Open(ct[:0], buf[:nonceLen], ct, nil)
	if err != nil || len(pt) < hdrLen {
		return dst, false
	}
	if pt[0] != version || Kind(pt[1]) != kind || binary.BigEndian.Uint64(pt[2:10]) != scopeHash(scope) {
		return dst, false
	}
	if exp := int64(binary.BigEndian.Uint64(pt[10:18])); now.Unix() >= exp {
		return dst, false
	}
	return append(dst, pt[hdrLen:]...), true
}

// OpenTarget opens an AWSALB (KindTarget) value for group scope and
// returns the routable target of v it names, or nil when the value is
// invalid or the target is gone, unhealthy or draining (then the caller
// picks another and rewrites the cookie). Allocation-free.
func (s *Sealer) OpenTarget(v *runtime.View, scope string, value []byte, now time.Time) *runtime.Target {
	return s.openIn(v, KindTarget, scope, value, now)
}

// OpenAppTarget is OpenTarget for the AWSALBAPP-0 cookie of app_cookie
// stickiness.
func (s *Sealer) OpenAppTarget(v *runtime.View, scope string, value []byte, now time.Time) *runtime.Target {
	return s.openIn(v, KindApp, scope, value, now)
}

func (s *Sealer) openIn(v *runtime.View, kind Kind, scope string, value []byte, now time.Time) *runtime.Target {
	var scratch [maxIDLen]byte
	id, ok := s.Open(scratch[:0], kind, scope, value, now)
	if !ok {
		return nil
	}
	return Find(v, id)
}

// Find returns the target of v.Routable whose address is addr, or nil.
func Find(v *runtime.View, addr []byte) *runtime.Target {
	if v == nil {
		return nil
	}
	for _, t := range v.Routable {
		if t.Addr == string(addr) {
			return t
		}
	}
	return nil
}

// AppendSetCookie appends a Set-Cookie header value as ALB writes it:
// "NAME=VALUE; Expires=<IMF-fixdate>; Path=/", plus "; SameSite=None;
// Secure" for the CORS twin (AWSALBCORS, AWSALBTGCORS). ALB uses Expires,
// not Max-Age. Allocation-free when dst has room.
func AppendSetCookie(dst []byte, name string, value []byte, expires time.Time, cors bool) []byte {
	dst = append(dst, name...)
	dst = append(dst, '=')
	dst = append(dst, value...)
	dst = append(dst, "; Expires="...)
	dst = expires.UTC().AppendFormat(dst, "Mon, 02 Jan 2006 15:04:05 GMT")
	dst = append(dst, "; Path=/"...)
	if cors {
		dst = append(dst, "; SameSite=None; Secure"...)
	}
	return dst
}
