package l7

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/switchyard/switchyard/config"
)

// Cookie names, as ALB uses them (elb.md §1.3, §2.5).
const (
	CookieTargetGroup = "AWSALBTG"
	CookieTarget      = "AWSALB"
)

// cookieKeys seals the stickiness cookies. The key is random per process
// unless SetCookieKey installs one (several lb processes behind one name
// must share it for cookies to stick across them).
var cookieKeys struct {
	once sync.Once
	mu   sync.RWMutex
	aead cipher.AEAD
}

// SetCookieKey installs the 16-, 24- or 32-byte AES key that authenticates
// the AWSALB and AWSALBTG cookies. Cookies sealed with another key are
// ignored (a new pick is made and the cookie rewritten).
func SetCookieKey(key []byte) error {
	blk, err := aes.NewCipher(key)
	if err != nil {
		return fmt.Errorf("l7: cookie key: %w", err)
	}
	a, err := cipher.NewGCM(blk)
	if err != nil {
		return fmt.Errorf("l7: cookie key: %w", err)
	}
	cookieKeys.once.Do(func() {})
	cookieKeys.mu.Lock()
	cookieKeys.aead = a
	cookieKeys.mu.Unlock()
	return nil
}

func cookieAEAD() cipher.AEAD {
	cookieKeys.once.Do(func() {
		key := make([]byte, 32)
		_, _ = rand.Read(key) // crypto/rand.Read never fails on supported platforms
		blk, _ := aes.NewCipher(key)
		a, _ := cipher.NewGCM(blk)
		cookieKeys.mu.Lock()
		cookieKeys.aead = a
		cookieKeys.mu.Unlock()
	})
	cookieKeys.mu.RLock()
	defer cookieKeys.mu.RUnlock()
	return cookieKeys.aead
}

// sealCookie returns an authenticated, encrypted cookie value naming
// value, valid until exp, bound by scope (a cookie sealed for one group or
// rule does not open for another).
func sealCookie(scope, value string, exp time.Time) string {
	a := cookieAEAD()
	nonce := make([]byte, a.NonceSize(), a.NonceSize()+8+len(value)+a.Overhead())
	_, _ = rand.Read(nonce)
	var plain []byte
	plain = binary.BigEndian.AppendUint64(plain, uint64(exp.Unix()))
	plain = append(plain, value...)
	out := a.Seal(nonce, nonce, plain, []byte(scope))
	return base64.RawURLEncoding.EncodeToString(out)
}

// openCookie returns the value sealed in c for scope, or "" if c is
// forged, tampered with, sealed for another scope, malformed or expired.
func openCookie(scope string, c []byte, now time.Time) string {
	if len(c) == 0 || len(c) > 512 {
		return ""
	}
	a := cookieAEAD()
	raw := make([]byte, base64.RawURLEncoding.DecodedLen(len(c)))
	n, err := base64.RawURLEncoding.Decode(raw, c)
	if err != nil || n < a.NonceSize()+a.Overhead()+8 {
		return ""
	}
	raw = raw[:n]
	plain, err := a.Open(nil, raw[:a.NonceSize()], raw[a.NonceSize():], []byte(scope))
	if err != nil || len(plain) < 8 {
		return ""
	}
	if exp := int64(binary.BigEndian.Uint64(plain)); now.Unix() > exp {
		return ""
	}
	return string(plain[8:])
}

// lbCookie is lb_cookie target stickiness: the AWSALB cookie names the
// target; a forged, expired or stale cookie (target gone or unroutable) is
// ignored and a new pick rewrites it. The window is refreshed on every
// response, as ALB does.
type lbCookie struct {
	group    string
	duration time.Duration
	now      func() time.Time
}

func newAffinity(group string, st *config.Stickiness) (affinity, error) {
	d := st.Duration.D()
	if d <= 0 {
		d = 24 * time.Hour
	}
	switch st.Type {
	case "lb_cookie":
		return &lbCookie{group: group, duration: d, now: time.Now}, nil
	case "app_cookie":
		name := st.CookieName
		if name == "" {
			return nil, fmt.Errorf("app_cookie stickiness needs cookie_name")
		}
		for _, p := range []string{"AWSALB", "AWSALBAPP", "AWSALBTG"} {
			if len(name) >= len(p) && strings.EqualFold(name[:len(p)], p) {
				return nil, fmt.Errorf("cookie_name %q: names starting with %s are reserved", name, p)
			}
		}
		return &appCookie{group: group, name: name, duration: d, now: time.Now}, nil
	}
	return nil, fmt.Errorf("stickiness type %q: want lb_cookie or app_cookie", st.Type)
}

// CookieApp is the load balancer's cookie of app_cookie stickiness.
const CookieApp = "AWSALBAPP-0"

// appCookie is app_cookie stickiness: when the target sets the configured
// application cookie, the AWSALBAPP-0 cookie is set naming that target;
// requests carrying it go back there while the target is routable. The
// application cookie itself passes through untouched.
type appCookie struct {
	group, name string
	duration    time.Duration
	now         func() time.Time
}

func (a *appCookie) prefer(v *RequestView, s *backendSet) *backend {
	c := cookieValue(v, CookieApp)
	if c == nil {
		return nil
	}
	addr := openCookie(CookieApp+"|"+a.group, c, a.now())
	if addr == "" {
		return nil
	}
	for i := range s.backends {
		if s.backends[i].t.Addr == addr {
			return &s.backends[i]
		}
	}
	return nil
}

func (a *appCookie) remember(x *exchange, b *backend) {
	scope := CookieApp + "|" + a.group
	if len(x.resp.Header.PeekCookie(a.name)) == 0 {
		// No new application session: refresh the window only for a
		// client already pinned to this target.
		c := cookieValue(&x.view, CookieApp)
		if c == nil || openCookie(scope, c, a.now()) != b.t.Addr {
			return
		}
	}
	exp := a.now().Add(a.duration)
	x.setCookie(CookieApp, sealCookie(scope, b.t.Addr, exp), exp)
}

func (l *lbCookie) prefer(v *RequestView, s *backendSet) *backend {
	c := cookieValue(v, CookieTarget)
	if c == nil {
		return nil
	}
	addr := openCookie(CookieTarget+"|"+l.group, c, l.now())
	if addr == "" {
		return nil
	}
	for i := range s.backends {
		if s.backends[i].t.Addr == addr {
			return &s.backends[i]
		}
	}
	return nil
}

func (l *lbCookie) remember(x *exchange, b *backend) {
	exp := l.now().Add(l.duration)
	x.setCookie(CookieTarget, sealCookie(CookieTarget+"|"+l.group, b.t.Addr, exp), exp)
}

// cookieValue returns the value of the first cookie called name in v's
// Cookie headers, or nil.
func cookieValue(v *RequestView, name string) []byte {
	var out []byte
	v.Header("Cookie", func(h []byte) bool {
		for len(h) > 0 {
			part := h
			if i := indexByte(h, ';'); i >= 0 {
				part, h = h[:i], h[i+1:]
			} else {
				h = nil
			}
			part = trimOWS(part)
			eq := indexByte(part, '=')
			if eq < 0 {
				continue
			}
			if string(part[:eq]) == name {
				out = part[eq+1:]
				return true
			}
		}
		return false
	})
	return out
}
