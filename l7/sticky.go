package l7

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/internal/affinity"
)

// Cookie names, as ALB uses them (elb.md §1.3, §2.5). The sealing and the
// Set-Cookie format are internal/affinity's; l7 decides which target a
// cookie pins and when it is rewritten.
const (
	CookieTargetGroup     = affinity.CookieTG
	CookieTargetGroupCORS = affinity.CookieTGCORS
	CookieTarget          = affinity.CookieLB
	CookieTargetCORS      = affinity.CookieLBCORS
	// CookieApp is the load balancer's cookie of app_cookie stickiness.
	CookieApp = affinity.CookieApp
)

// cookieSealer seals the stickiness cookies. The key is random per process
// unless SetCookieKey installs one (several lb processes behind one name
// must share it for cookies to stick across them).
var cookieSealer struct {
	once sync.Once
	s    atomic.Pointer[affinity.Sealer]
}

// SetCookieKey installs the shared secret that authenticates the AWSALB,
// AWSALBAPP-0 and AWSALBTG cookies (and their CORS twins). It is the
// affinity.New secret: any non-empty length is stretched to an AES-256 key;
// the 16/24/32-byte keys of earlier versions still work. Cookies sealed with
// another secret are ignored (a new pick is made and the cookie rewritten).
func SetCookieKey(key []byte) error {
	if len(key) == 0 {
		return fmt.Errorf("l7: cookie key: empty")
	}
	s, err := affinity.New(key)
	if err != nil {
		return fmt.Errorf("l7: cookie key: %w", err)
	}
	cookieSealer.once.Do(func() {})
	cookieSealer.s.Store(s)
	return nil
}

func sealer() *affinity.Sealer {
	cookieSealer.once.Do(func() {
		s, err := affinity.New(nil)
		if err != nil {
			// crypto/rand does not fail on supported platforms; a fixed
			// per-process secret keeps cookies working if it ever does.
			s, _ = affinity.New([]byte(fmt.Sprintf("switchyard-l7-%p", &cookieSealer)))
		}
		cookieSealer.s.CompareAndSwap(nil, s)
	})
	return cookieSealer.s.Load()
}

// sealCookie returns the AWSALBTG value naming the target group value for
// scope (the forward rule) until exp.
func sealCookie(scope, value string, exp time.Time) string {
	var buf [affinity.MaxValueLen]byte
	return string(sealer().Seal(buf[:0], affinity.KindGroup, scope, value, exp))
}

// openCookie returns the target-group name sealed in an AWSALBTG value c
// for scope, or "" if c is forged, tampered with, sealed for another scope
// or key, malformed or expired.
func openCookie(scope string, c []byte, now time.Time) string {
	var buf [256]byte
	id, ok := sealer().Open(buf[:0], affinity.KindGroup, scope, c, now)
	if !ok {
		return ""
	}
	return string(id)
}

// setGroupCookie writes AWSALBTG naming group for scope (the forward
// rule) for the stickiness window from now, and its AWSALBTGCORS twin, as
// ALB does for weighted target-group stickiness.
func setGroupCookie(x *exchange, scope, group string, now time.Time, window time.Duration) {
	setStickyCookies(x, CookieTargetGroup, CookieTargetGroupCORS, affinity.KindGroup, scope, group, now, window)
}

// setStickyCookies seals id for the window from now and adds the
// Set-Cookie of name and of its CORS twin (SameSite=None; Secure, which
// browsers send on cross-origin requests) to the response. The window is
// inside the sealed value; the cookie's Expires is ALB's fixed 7 days, so
// a client keeps presenting it and an expired window just re-picks.
// Allocation-free once the response header's cookie slots are warm.
func setStickyCookies(x *exchange, name, corsName string, kind affinity.Kind, scope, id string, now time.Time, window time.Duration) {
	var val [affinity.MaxValueLen]byte
	var hdr [affinity.MaxValueLen + 96]byte
	v := sealer().Seal(val[:0], kind, scope, id, now.Add(window))
	life := now.Add(affinity.LBCookieLifetime)
	x.ctx.Response.Header.AddBytesV("Set-Cookie", affinity.AppendSetCookie(hdr[:0], name, v, life, false))
	x.ctx.Response.Header.AddBytesV("Set-Cookie", affinity.AppendSetCookie(hdr[:0], corsName, v, life, true))
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

func newAffinity(group string, st *config.Stickiness) (stickiness, error) {
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

// appCookie is app_cookie stickiness: when the target sets the configured
// application cookie, the AWSALBAPP-0 cookie is set naming that target;
// requests carrying it go back there while the target is routable. The
// application cookie itself passes through untouched.
type appCookie struct {
	group, name string
	duration    time.Duration
	now         func() time.Time
}

// openBackend opens value as kind for scope and returns the backend of s
// it names, or nil. Allocation-free.
func openBackend(s *backendSet, kind affinity.Kind, scope string, value []byte, now time.Time) *backend {
	if value == nil {
		return nil
	}
	var buf [256]byte
	addr, ok := sealer().Open(buf[:0], kind, scope, value, now)
	if !ok {
		return nil
	}
	for i := range s.backends {
		if s.backends[i].t.Addr == string(addr) {
			return &s.backends[i]
		}
	}
	return nil
}

// stickyValue is the value of cookie name in v, or of its CORS twin when a
// cross-origin request carried only that one.
func stickyValue(v *RequestView, name, corsName string) []byte {
	if c := cookieValue(v, name); c != nil {
		return c
	}
	return cookieValue(v, corsName)
}

func (a *appCookie) prefer(v *RequestView, s *backendSet) *backend {
	return openBackend(s, affinity.KindApp, a.group, cookieValue(v, CookieApp), a.now())
}

func (a *appCookie) remember(x *exchange, b *backend) {
	now := a.now()
	if len(x.resp.Header.PeekCookie(a.name)) == 0 {
		// No new application session: refresh the window only for a
		// client already pinned to this target.
		var buf [256]byte
		addr, ok := sealer().Open(buf[:0], affinity.KindApp, a.group, cookieValue(&x.view, CookieApp), now)
		if !ok || string(addr) != b.t.Addr {
			return
		}
	}
	var val [affinity.MaxValueLen]byte
	var hdr [affinity.MaxValueLen + 96]byte
	v := sealer().Seal(val[:0], affinity.KindApp, a.group, b.t.Addr, now.Add(a.duration))
	x.ctx.Response.Header.AddBytesV("Set-Cookie", affinity.AppendSetCookie(hdr[:0], CookieApp, v, now.Add(affinity.LBCookieLifetime), false))
}

func (l *lbCookie) prefer(v *RequestView, s *backendSet) *backend {
	return openBackend(s, affinity.KindTarget, l.group, stickyValue(v, CookieTarget, CookieTargetCORS), l.now())
}

func (l *lbCookie) remember(x *exchange, b *backend) {
	setStickyCookies(x, CookieTarget, CookieTargetCORS, affinity.KindTarget, l.group, b.t.Addr, l.now(), l.duration)
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
