package main

import (
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// stickyConfig is one HTTP listener on 127.0.0.1:0 forwarding to a group of
// two targets with lb_cookie stickiness, sealed with secret ("" = none).
func stickyConfig(secret string, targets ...string) string {
	top := ""
	if secret != "" {
		top = fmt.Sprintf("cookie_secret: %q\n", secret)
	}
	return top + `admin: {address: "127.0.0.1:0"}
listeners:
  - name: web
    address: 127.0.0.1:0
    default_action: {forward: {target_group: app}}
target_groups:
  - name: app
    targets: ["` + strings.Join(targets, `", "`) + `"]
    health_check: {path: /health, interval: 5s, healthy_threshold: 2}
    stickiness: {type: lb_cookie, duration: 1h}
`
}

// awsalb returns the AWSALB cookie a response set, or "".
func awsalb(h http.Header) string {
	for _, c := range (&http.Response{Header: h}).Cookies() {
		if c.Name == "AWSALB" {
			return c.Value
		}
	}
	return ""
}

// TestCookieSecretSharedAcrossProcesses: two lb processes with the same
// cookie_secret honour each other's AWSALB cookie (a client stays on its
// target whichever process it reaches, as behind one ALB name); a process
// with another secret ignores the cookie and sets a new one.
func TestCookieSecretSharedAcrossProcesses(t *testing.T) {
	a, b := startBackend(t, "a"), startBackend(t, "b")
	dir := t.TempDir()
	start := func(name, secret string) string {
		t.Helper()
		p := startBinary(t, "-config", writeFile(t, dir, name, stickyConfig(secret, a.addr, b.addr)))
		web := "http://" + p.waitLog(t, "listening")["address"].(string)
		admin := p.waitLog(t, "admin listening")["address"].(string)
		p.waitLog(t, "lb started")
		// A target passes its first check on its own schedule; until both
		// have, the one that did takes every request and a cookie naming
		// the other is (rightly) ignored.
		(&drnLB{admin: admin}).waitHealthy(t, a.addr, b.addr)
		return web
	}
	const secret = "s3cret-shared-by-every-lb-process"
	lb1, lb2 := start("lb1.yaml", secret), start("lb2.yaml", secret)
	other := start("lb3.yaml", "another-secret-0123456789")

	c := newClient()
	code, body, h := get(t, c, lb1+"/x")
	cookie := awsalb(h)
	if code != 200 || cookie == "" {
		t.Fatalf("first answer from lb1: %d %q, AWSALB %q", code, body, cookie)
	}
	pinned := strings.Fields(body)[0]
	for i := range 20 {
		_, body, _ := get(t, c, lb2+"/x", "Cookie", "AWSALB="+cookie)
		if got := strings.Fields(body)[0]; got != pinned {
			t.Fatalf("request %d through lb2 with lb1's cookie reached %s, want %s", i, got, pinned)
		}
	}

	// lb3 cannot open the cookie: it routes as if there were none and
	// sets its own. Round robin over two targets reaches both in 20 tries.
	seen := map[string]bool{}
	for range 20 {
		_, body, h := get(t, c, other+"/x", "Cookie", "AWSALB="+cookie)
		seen[strings.Fields(body)[0]] = true
		if nc := awsalb(h); nc == "" || nc == cookie {
			t.Fatalf("lb3 (another secret) answered with AWSALB %q; want a new cookie", nc)
		}
	}
	if len(seen) != 2 {
		t.Errorf("lb3 ignored the foreign cookie but still reached only %v", seen)
	}
}

// TestCookieSecretReload: a reload that changes cookie_secret applies it
// (cookies sealed with the old secret are ignored and rewritten), going
// back to a secret honours its cookies again, and removing the key returns
// to a random per-process secret.
func TestCookieSecretReload(t *testing.T) {
	a, b := startBackend(t, "a"), startBackend(t, "b")
	dir := t.TempDir()
	const x, y = "first-secret-0123456789", "second-secret-0123456789"
	path := writeFile(t, dir, "lb.yaml", stickyConfig(x, a.addr, b.addr))
	r := startInProcess(t, "-config", path)
	web := "http://" + r.listener("web")
	// Both targets healthy first: while only one has passed its check, a
	// cookie naming the other is ignored (it is not routable), which is
	// not what this test is about.
	r.waitHealthy(t, "app", 2)
	reload := func(secret string) {
		t.Helper()
		writeFile(t, dir, "lb.yaml", stickyConfig(secret, a.addr, b.addr))
		before := r.app.applied.Load()
		r.sigs <- syscall.SIGHUP
		eventually(t, 10*time.Second, "reload applied", func() bool { return r.app.applied.Load() > before })
	}
	c := newClient()
	_, body, h := get(t, c, web+"/x")
	cookie, pinned := awsalb(h), strings.Fields(body)[0]
	// honoured reports whether every one of 10 requests with the cookie
	// reached the pinned target. A cookie the process cannot open makes a
	// new round-robin pick each time, which reaches the other target within
	// 10 requests.
	honoured := func() bool {
		t.Helper()
		for range 10 {
			_, body, _ := get(t, c, web+"/x", "Cookie", "AWSALB="+cookie)
			if strings.Fields(body)[0] != pinned {
				return false
			}
		}
		return true
	}
	if !honoured() {
		t.Fatal("cookie not honoured by the process that set it")
	}
	reload(y)
	if honoured() {
		t.Error("after the reload to another secret, the old cookie still pins")
	}
	reload(x)
	if !honoured() {
		t.Error("after the reload back to the first secret, its cookie is ignored")
	}
	reload("")
	if honoured() {
		t.Error("after cookie_secret was removed, a cookie of the removed secret still pins")
	}
}
