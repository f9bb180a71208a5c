package l7

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/internal/affinity"
	"github.com/switchyard/switchyard/internal/runtime"
)

// setCookieLines returns the raw Set-Cookie lines of hdr by cookie name.
func setCookieLines(hdr http.Header) map[string]string {
	out := map[string]string{}
	for _, l := range hdr.Values("Set-Cookie") {
		if i := strings.IndexByte(l, '='); i > 0 {
			out[l[:i]] = l
		}
	}
	return out
}

func cookieVal(line string) string {
	v := line[strings.IndexByte(line, '=')+1:]
	if i := strings.IndexByte(v, ';'); i >= 0 {
		v = v[:i]
	}
	return v
}

// TestStickyCORSTwinCookies: lb_cookie and weighted group stickiness send
// the CORS twin with the same value, SameSite=None; Secure, and only the
// twin; a request carrying only the AWSALBCORS twin is pinned too.
func TestStickyCORSTwinCookies(t *testing.T) {
	a := newBackend(t, "a", nil)
	b := newBackend(t, "b", nil)
	c := newBackend(t, "c", nil)
	web := group("web", a.addr(), b.addr())
	web.Stickiness = &config.Stickiness{Type: "lb_cookie", Duration: config.Duration(time.Hour)}
	act := weighted("web", 50, "other", 50)
	act.Forward.Stickiness = config.Duration(time.Hour)
	h := startLB(t, lbSetup{
		listener: config.Listener{Protocol: "HTTP", DefaultAction: act},
		groups:   []config.TargetGroup{web, group("other", c.addr())},
	})
	// Pin the group stickiness to web by cookie, then read the target cookies.
	var lines map[string]string
	var first string
	for i := 0; i < 50 && lines[CookieTarget] == ""; i++ {
		_, hdr, _ := h.get("/")
		lines, first = setCookieLines(hdr), hdr.Get("X-Backend")
	}
	if lines[CookieTarget] == "" {
		t.Fatal("web never chosen in 50 requests")
	}
	for _, pair := range [][2]string{{CookieTarget, CookieTargetCORS}, {CookieTargetGroup, CookieTargetGroupCORS}} {
		plain, cors := lines[pair[0]], lines[pair[1]]
		if plain == "" || cors == "" {
			t.Fatalf("%s / %s missing: %q", pair[0], pair[1], lines)
		}
		if cookieVal(plain) != cookieVal(cors) {
			t.Fatalf("%s and its twin differ: %q vs %q", pair[0], plain, cors)
		}
		if !strings.HasSuffix(cors, "; Path=/; SameSite=None; Secure") || strings.Contains(plain, "SameSite") || strings.Contains(plain, "Secure") {
			t.Fatalf("attributes: %q / %q", plain, cors)
		}
		if !strings.Contains(plain, "; Expires=") || !strings.HasSuffix(plain, " GMT; Path=/") {
			t.Fatalf("%s: want ALB's Expires and Path: %q", pair[0], plain)
		}
	}
	tgVal, lbVal := cookieVal(lines[CookieTargetGroup]), cookieVal(lines[CookieTargetCORS])
	before := a.count() + b.count()
	for i := 0; i < 20; i++ {
		req, _ := http.NewRequest("GET", h.url("/"), nil)
		req.AddCookie(&http.Cookie{Name: CookieTargetGroupCORS, Value: tgVal}) // ignored: group stickiness reads AWSALBTG only
		req.AddCookie(&http.Cookie{Name: CookieTargetGroup, Value: tgVal})
		req.AddCookie(&http.Cookie{Name: CookieTargetCORS, Value: lbVal})
		if _, hdr, _ := h.do(req); hdr.Get("X-Backend") != first {
			t.Fatalf("request %d with only AWSALBCORS went to %s, pinned to %s", i, hdr.Get("X-Backend"), first)
		}
	}
	pinned := a
	if first == "b" {
		pinned = b
	}
	if got := a.count() + b.count() - before; got != 20 || pinned.count() < 20 {
		t.Fatalf("backends received %d of 20 pinned requests (pinned one has %d)", got, pinned.count())
	}
}

// TestStickyCookieRefreshedAndReplaced: every response re-seals AWSALB (a
// new value: new nonce and later expiry); when the pinned target goes
// unhealthy or drains, the cookie is ignored, the other target serves and
// the cookie is rewritten to name it.
func TestStickyCookieRefreshedAndReplaced(t *testing.T) {
	for _, how := range []string{"unhealthy", "draining"} {
		t.Run(how, func(t *testing.T) {
			a := newBackend(t, "a", nil)
			b := newBackend(t, "b", nil)
			web := group("web", a.addr(), b.addr())
			web.Stickiness = &config.Stickiness{Type: "lb_cookie", Duration: config.Duration(time.Hour)}
			h := startLB(t, lbSetup{listener: config.Listener{Protocol: "HTTP", DefaultAction: fwd("web")}, groups: []config.TargetGroup{web}})
			g := h.reg.Group("web")
			g.SetChecksDisabled(false)
			for _, tg := range g.Targets() {
				tg.SetHealth(true, "")
			}
			_, hdr, _ := h.get("/")
			first, val := hdr.Get("X-Backend"), cookieVal(setCookieLines(hdr)[CookieTarget])
			req, _ := http.NewRequest("GET", h.url("/"), nil)
			req.AddCookie(&http.Cookie{Name: CookieTarget, Value: val})
			_, hdr, _ = h.do(req)
			again := cookieVal(setCookieLines(hdr)[CookieTarget])
			if hdr.Get("X-Backend") != first || again == "" || again == val {
				t.Fatalf("second response from %s (pinned %s), cookie %q (first %q): want same target, fresh cookie", hdr.Get("X-Backend"), first, again, val)
			}
			addr, other := a.addr(), "b"
			if first == "b" {
				addr, other = b.addr(), "a"
			}
			if how == "unhealthy" {
				g.Lookup(addr).SetHealth(false, runtime.ReasonFailedHealthChecks)
			} else {
				g.Deregister([]string{addr}, time.Minute)
			}
			for i := 0; i < 10; i++ {
				req, _ := http.NewRequest("GET", h.url("/"), nil)
				req.AddCookie(&http.Cookie{Name: CookieTarget, Value: again})
				_, hdr, _ = h.do(req)
				if hdr.Get("X-Backend") != other {
					t.Fatalf("request %d after the pinned target went %s served by %q, want %s", i, how, hdr.Get("X-Backend"), other)
				}
			}
			nv := cookieVal(setCookieLines(hdr)[CookieTarget])
			var buf [64]byte
			id, ok := sealer().Open(buf[:0], affinity.KindTarget, "web", []byte(nv), time.Now())
			if !ok || string(id) == addr {
				t.Fatalf("rewritten cookie names %q (ok %v), want the other target", id, ok)
			}
		})
	}
}

// TestSetCookieKeyShared: SetCookieKey maps onto affinity's shared secret,
// so a value sealed by another instance with the same secret opens, and
// one sealed under another secret does not.
func TestSetCookieKeyShared(t *testing.T) {
	old := sealer()
	t.Cleanup(func() { cookieSealer.s.Store(old) })
	if err := SetCookieKey(nil); err == nil {
		t.Fatal("empty key accepted")
	}
	secret := []byte("0123456789abcdef0123456789abcdef")
	if err := SetCookieKey(secret); err != nil {
		t.Fatal(err)
	}
	peer, _ := affinity.New(secret)
	stranger, _ := affinity.New([]byte("another secret"))
	now := time.Now()
	exp := now.Add(time.Hour)
	if got := openCookie("AWSALBTG|a,b", peer.Seal(nil, affinity.KindGroup, "AWSALBTG|a,b", "a", exp), now); got != "a" {
		t.Fatalf("peer's cookie opened as %q", got)
	}
	if got := openCookie("AWSALBTG|a,b", stranger.Seal(nil, affinity.KindGroup, "AWSALBTG|a,b", "a", exp), now); got != "" {
		t.Fatalf("cookie of another secret opened as %q", got)
	}
	if got := openCookie("AWSALBTG|a,b", []byte(sealCookie("AWSALBTG|a,b", "b", exp)), now.Add(2*time.Hour)); got != "" {
		t.Fatalf("expired cookie opened as %q", got)
	}
}

// TestStickyPathAllocs: opening the AWSALB cookie on the request and
// writing AWSALB + AWSALBCORS (and the app cookie) on the response
// allocate nothing.
func TestStickyPathAllocs(t *testing.T) {
	reg := runtime.NewRegistry(nil)
	g := reg.Group("web")
	g.SetChecksDisabled(true)
	g.Register([]runtime.TargetSpec{{Addr: "127.0.0.1:1"}, {Addr: "127.0.0.1:2"}})
	tg, err := NewTargetGroup(config.TargetGroup{Name: "web", Stickiness: &config.Stickiness{Type: "lb_cookie"}}, g, NewTransport(TransportOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	lb := tg.affinity.(*lbCookie)
	s := tg.currentSet()
	want := &s.backends[1]
	val := sealer().Seal(nil, affinity.KindTarget, "web", want.t.Addr, time.Now().Add(time.Hour))
	v := &RequestView{RawHeaders: []byte("Host: x\r\nCookie: a=b; " + CookieTarget + "=" + string(val) + "; c=d\r\n")}
	app := &appCookie{group: "web", name: "SESSION", duration: time.Hour, now: time.Now}
	x := &exchange{ctx: &fasthttp.RequestCtx{}}
	x.resp.Header.SetCookie(sessionCookie())
	run := func() {
		if got := tg.affinity.prefer(v, s); got != want {
			t.Fatalf("prefer = %v, want %s", got, want.t.Addr)
		}
		x.ctx.Response.Header.Reset()
		lb.remember(x, want)
		app.remember(x, want)
		setGroupCookie(x, "AWSALBTG|web,other", "web", time.Now(), time.Hour)
	}
	run()
	if n := len(x.ctx.Response.Header.PeekCookie(CookieTargetCORS)); n == 0 {
		t.Fatal("no AWSALBCORS written")
	}
	if raceOn {
		t.Skip("allocation count not meaningful under -race (sync.Pool drops items)")
	}
	if allocs := testing.AllocsPerRun(500, run); allocs != 0 {
		t.Fatalf("sticky path: %v allocs per request, want 0", allocs)
	}
}

func sessionCookie() *fasthttp.Cookie {
	c := &fasthttp.Cookie{}
	c.SetKey("SESSION")
	c.SetValue("s1")
	return c
}

// BenchmarkStickyCookie: open AWSALB on the request and write AWSALB +
// AWSALBCORS on the response.
func BenchmarkStickyCookie(b *testing.B) {
	reg := runtime.NewRegistry(nil)
	g := reg.Group("web")
	g.SetChecksDisabled(true)
	g.Register([]runtime.TargetSpec{{Addr: "127.0.0.1:1"}, {Addr: "127.0.0.1:2"}})
	tg, err := NewTargetGroup(config.TargetGroup{Name: "web", Stickiness: &config.Stickiness{Type: "lb_cookie"}}, g, NewTransport(TransportOptions{}))
	if err != nil {
		b.Fatal(err)
	}
	s := tg.currentSet()
	val := sealer().Seal(nil, affinity.KindTarget, "web", s.backends[1].t.Addr, time.Now().Add(time.Hour))
	v := &RequestView{RawHeaders: []byte("Host: x\r\nCookie: " + CookieTarget + "=" + string(val) + "\r\n")}
	x := &exchange{ctx: &fasthttp.RequestCtx{}}
	b.ReportAllocs()
	for b.Loop() {
		bk := tg.affinity.prefer(v, s)
		x.ctx.Response.Header.Reset()
		tg.affinity.remember(x, bk)
	}
}
