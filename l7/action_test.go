package l7

import (
	"math"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/switchyard/switchyard/config"
)

func TestRedirectAndFixedResponse(t *testing.T) {
	be := newBackend(t, "a", nil)
	lc := config.Listener{
		Protocol: "HTTP",
		Rules: []config.Rule{
			{Priority: 1, Conditions: config.Conditions{Path: []string{"/old/*"}}, Action: config.Action{Redirect: &config.Redirect{
				Protocol: "HTTPS", Port: "443", Path: "/new/#{path}", Query: "#{query}&from=#{host}", Status: 301}}},
			{Priority: 2, Conditions: config.Conditions{Path: []string{"/tmp"}}, Action: config.Action{Redirect: &config.Redirect{
				Host: "other.example.com", Status: 302}}},
			{Priority: 3, Conditions: config.Conditions{Path: []string{"/ping"}}, Action: config.Action{FixedResponse: &config.FixedResponse{
				Status: 503, ContentType: "application/json", Body: `{"ok":false}`}}},
		},
		DefaultAction: fwd("web"),
	}
	h := startLB(t, lbSetup{listener: lc, groups: []config.TargetGroup{group("web", be.addr())}})
	h.hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	st, hdr, _ := h.get("/old/a/b?x=1", "Host", "Shop.Example.com")
	if want := "https://shop.example.com:443/new/old/a/b?x=1&from=shop.example.com"; st != 301 || hdr.Get("Location") != want {
		t.Fatalf("got %d Location %q, want 301 %q", st, hdr.Get("Location"), want)
	}
	rec := h.obs.last(t)
	if rec.Actions != ActionRedirect || string(rec.RedirectURL) != hdr.Get("Location") || rec.RulePriority != 1 {
		t.Fatalf("record %v %q %d", rec.Actions, rec.RedirectURL, rec.RulePriority)
	}
	_, port, _ := strings.Cut(h.addr, ":")
	st, hdr, _ = h.get("/tmp", "Host", "a.example.com")
	if want := "http://other.example.com:" + port + "/tmp"; st != 302 || hdr.Get("Location") != want {
		t.Fatalf("got %d Location %q, want 302 %q", st, hdr.Get("Location"), want)
	}
	st, hdr, body := h.get("/ping")
	if st != 503 || body != `{"ok":false}` || hdr.Get("Content-Type") != "application/json" {
		t.Fatalf("fixed response: %d %q %q", st, hdr.Get("Content-Type"), body)
	}
	if be.count() != 0 {
		t.Fatalf("backend received %d requests for redirect/fixed actions", be.count())
	}
	if rec := h.obs.last(t); rec.Actions != ActionFixedResponse || rec.Status != 503 || rec.Target != "" {
		t.Fatalf("record %+v", rec)
	}
}

func weighted(groups ...any) config.Action {
	f := &config.Forward{}
	for i := 0; i+1 < len(groups); i += 2 {
		w := groups[i+1].(int)
		f.TargetGroups = append(f.TargetGroups, config.WeightedGroup{Name: groups[i].(string), Weight: &w})
	}
	return config.Action{Forward: f}
}

func TestWeightedForwardSplit(t *testing.T) {
	a := newBackend(t, "a", nil)
	b := newBackend(t, "b", nil)
	c := newBackend(t, "c", nil)
	h := startLB(t, lbSetup{
		listener: config.Listener{Protocol: "HTTP", DefaultAction: weighted("ga", 600, "gb", 400, "gc", 0)},
		groups:   []config.TargetGroup{group("ga", a.addr()), group("gb", b.addr()), group("gc", c.addr())},
	})
	const total = 10000
	var wg sync.WaitGroup
	var mu sync.Mutex
	counts := map[string]int{}
	errs := 0
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < total/8; i++ {
				resp, err := h.hc.Get(h.url("/"))
				mu.Lock()
				if err != nil {
					errs++
					mu.Unlock()
					continue
				}
				counts[resp.Header.Get("X-Backend")]++
				mu.Unlock()
				_ = resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	if errs > 0 {
		t.Fatalf("%d requests failed", errs)
	}
	if counts["c"] != 0 || c.count() != 0 {
		t.Fatalf("weight-0 group got %d requests", counts["c"])
	}
	// ±5 % of each share is over 4 standard deviations at 10 000 requests.
	for name, want := range map[string]float64{"a": 0.60, "b": 0.40} {
		got := float64(counts[name]) / total
		if math.Abs(got-want) > 0.05*want {
			t.Errorf("group %s got %.3f of traffic, want %.2f ±5%%", name, got, want)
		}
	}
	if a.count()+b.count() != total {
		t.Errorf("backends received %d, want %d", a.count()+b.count(), total)
	}
}

func TestTargetGroupStickinessCookie(t *testing.T) {
	a := newBackend(t, "a", nil)
	b := newBackend(t, "b", nil)
	act := weighted("ga", 50, "gb", 50)
	act.Forward.Stickiness = config.Duration(3600e9)
	h := startLB(t, lbSetup{
		listener: config.Listener{Protocol: "HTTP", DefaultAction: act},
		groups:   []config.TargetGroup{group("ga", a.addr()), group("gb", b.addr())},
	})
	resp, err := h.hc.Get(h.url("/"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	first := resp.Header.Get("X-Backend")
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == CookieTargetGroup {
			cookie = c
		}
	}
	if cookie == nil || cookie.Expires.IsZero() {
		t.Fatalf("no AWSALBTG cookie with Expires: %v", resp.Header["Set-Cookie"])
	}
	for i := 0; i < 40; i++ {
		req, _ := http.NewRequest("GET", h.url("/"), nil)
		req.AddCookie(&http.Cookie{Name: CookieTargetGroup, Value: cookie.Value})
		_, hdr, _ := h.do(req)
		if hdr.Get("X-Backend") != first {
			t.Fatalf("request %d with AWSALBTG went to %s, pinned to %s", i, hdr.Get("X-Backend"), first)
		}
	}
	// A forged or tampered cookie is ignored: traffic splits again, and the
	// access log says why.
	forged := []byte(cookie.Value)
	forged[len(forged)/2] ^= 1
	seen := map[string]bool{}
	for i := 0; i < 60; i++ {
		req, _ := http.NewRequest("GET", h.url("/"), nil)
		req.AddCookie(&http.Cookie{Name: CookieTargetGroup, Value: string(forged)})
		_, hdr, _ := h.do(req)
		seen[hdr.Get("X-Backend")] = true
	}
	if !seen["a"] || !seen["b"] {
		t.Fatalf("tampered cookie still pinned: saw %v", seen)
	}
	if rec := h.obs.last(t); rec.ErrorReason != ReasonStickyCookie {
		t.Fatalf("error_reason %q, want %s", rec.ErrorReason, ReasonStickyCookie)
	}
}

func TestTargetStickinessLBCookie(t *testing.T) {
	a := newBackend(t, "a", nil)
	b := newBackend(t, "b", nil)
	g := group("web", a.addr(), b.addr())
	g.Stickiness = &config.Stickiness{Type: "lb_cookie", Duration: config.Duration(60e9)}
	h := startLB(t, lbSetup{listener: config.Listener{Protocol: "HTTP", DefaultAction: fwd("web")}, groups: []config.TargetGroup{g}})
	resp, err := h.hc.Get(h.url("/"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	first := resp.Header.Get("X-Backend")
	var val string
	for _, c := range resp.Cookies() {
		if c.Name == CookieTarget {
			val = c.Value
		}
	}
	if val == "" {
		t.Fatalf("no AWSALB cookie: %v", resp.Header["Set-Cookie"])
	}
	for i := 0; i < 20; i++ {
		req, _ := http.NewRequest("GET", h.url("/"), nil)
		req.AddCookie(&http.Cookie{Name: CookieTarget, Value: val})
		if _, hdr, _ := h.do(req); hdr.Get("X-Backend") != first {
			t.Fatalf("AWSALB request went to %s, pinned to %s", hdr.Get("X-Backend"), first)
		}
	}
	// Tamper with the first character; it must differ from the original's
	// (a base64url value starts with 'x' one time in 64).
	tampered := "x" + val[1:]
	if val[0] == 'x' {
		tampered = "y" + val[1:]
	}
	seen := map[string]bool{}
	for i := 0; i < 20; i++ {
		req, _ := http.NewRequest("GET", h.url("/"), nil)
		req.AddCookie(&http.Cookie{Name: CookieTarget, Value: tampered})
		_, hdr, _ := h.do(req)
		seen[hdr.Get("X-Backend")] = true
	}
	if len(seen) != 2 {
		t.Fatalf("tampered AWSALB pinned traffic: %v", seen)
	}
}

func TestTargetStickinessAppCookie(t *testing.T) {
	login := func(name string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/login" {
				http.SetCookie(w, &http.Cookie{Name: "SESSION", Value: "s-" + name})
			}
			w.Header().Set("X-Backend", name)
		}
	}
	a := newBackend(t, "a", login("a"))
	b := newBackend(t, "b", login("b"))
	g := group("web", a.addr(), b.addr())
	g.Stickiness = &config.Stickiness{Type: "app_cookie", CookieName: "SESSION", Duration: config.Duration(60e9)}
	h := startLB(t, lbSetup{listener: config.Listener{Protocol: "HTTP", DefaultAction: fwd("web")}, groups: []config.TargetGroup{g}})

	// No application cookie yet: no load-balancer cookie, plain balancing.
	resp, err := h.hc.Get(h.url("/"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == CookieApp {
			t.Fatal("AWSALBAPP-0 set before the application set its cookie")
		}
	}
	resp, err = h.hc.Get(h.url("/login"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	first := resp.Header.Get("X-Backend")
	var app, lb string
	for _, c := range resp.Cookies() {
		switch c.Name {
		case "SESSION":
			app = c.Value
		case CookieApp:
			lb = c.Value
		}
	}
	if app != "s-"+first || lb == "" {
		t.Fatalf("cookies after login: app %q, lb %q", app, lb)
	}
	for i := 0; i < 10; i++ {
		req, _ := http.NewRequest("GET", h.url("/"), nil)
		req.AddCookie(&http.Cookie{Name: "SESSION", Value: app})
		req.AddCookie(&http.Cookie{Name: CookieApp, Value: lb})
		if _, hdr, _ := h.do(req); hdr.Get("X-Backend") != first {
			t.Fatalf("pinned session went to %s, want %s", hdr.Get("X-Backend"), first)
		}
	}
	if _, err := NewTargetGroup(config.TargetGroup{Name: "x", Stickiness: &config.Stickiness{Type: "app_cookie", CookieName: "AWSALBAPP-1"}}, h.reg.Group("x"), h.tr); err == nil {
		t.Fatal("reserved cookie name accepted")
	}
}
