package main

import (
	"fmt"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestReloadForgetsStaleSeries: a reload that removes a listener, a TCP
// listener and a target group deletes their metric series; what stays
// keeps its counts.
func TestReloadForgetsStaleSeries(t *testing.T) {
	ba, bb := startBackend(t, "a1"), startBackend(t, "b1")
	tb := startTCPBackend(t, "t1", false)
	dir := t.TempDir()
	full := fmt.Sprintf(`admin: {address: "127.0.0.1:0"}
access_log: {path: ""}
listeners:
  - name: web
    protocol: HTTP
    address: "127.0.0.1:0"
    rules:
      - priority: 1
        conditions: {path: ["/b/*"]}
        action: {forward: {target_group: b}}
    default_action: {forward: {target_group: a}}
  - name: old-web
    protocol: HTTP
    address: "127.0.0.1:0"
    default_action: {forward: {target_group: a}}
  - name: stream
    protocol: TCP
    address: "127.0.0.1:0"
    default_action: {forward: {target_group: db}}
target_groups:
  - name: a
    targets: [%q]
    health_check: {path: /health, interval: 5s, timeout: 2s}
  - name: b
    targets: [%q]
    deregistration_delay: 0s
    health_check: {path: /health, interval: 5s, timeout: 2s}
  - name: db
    protocol: TCP
    targets: [%q]
    deregistration_delay: 0s
    health_check: {protocol: TCP, interval: 5s, timeout: 2s}
`, ba.addr, bb.addr, tb.addr)
	small := fmt.Sprintf(`admin: {address: "127.0.0.1:0"}
access_log: {path: ""}
listeners:
  - name: web
    protocol: HTTP
    address: "127.0.0.1:0"
    default_action: {forward: {target_group: a}}
target_groups:
  - name: a
    targets: [%q]
    health_check: {path: /health, interval: 5s, timeout: 2s}
`, ba.addr)
	path := writeFile(t, dir, "lb.yaml", full)
	r := startInProcess(t, "-config", path)
	c := newClient()
	web := "http://" + r.listener("web")
	for _, p := range []string{"/x", "/b/y"} {
		if code, _, _ := get(t, c, web+p); code != 200 {
			t.Fatalf("GET %s: %d", p, code)
		}
	}
	if code, _, _ := get(t, c, "http://"+r.listener("old-web")+"/z"); code != 200 {
		t.Fatalf("GET old-web: %d", code)
	}
	fc, rd, _ := dialLine(t, r.listener("stream"), nil)
	io.WriteString(fc, "x\n")
	rd.ReadString('\n')
	fc.Close()

	admin := "http://" + r.app.adminAddr()
	eventually(t, 10*time.Second, "every series before the reload", func() bool {
		m := scrapeMetrics(t, c, admin)
		return m[`lb_requests_total{code_class="2xx",listener="web",target_group="b"}`] == 1 &&
			m[`lb_requests_total{code_class="2xx",listener="old-web",target_group="a"}`] == 1 &&
			m[`lb_flows_total{listener="stream",result="ok",target_group="db"}`] == 1
	})

	replaceFile(t, path, small)
	r.sigs <- syscall.SIGHUP
	eventually(t, 10*time.Second, "the reload", func() bool { return r.app.applied.Load() == 2 })
	// Bounded poll: a removed group's targets leave after their (zero)
	// deregistration delay, which runs off the reload's goroutine.
	var stale []string
	for range 100 {
		stale = stale[:0]
		for k := range scrapeMetrics(t, c, admin) {
			if strings.Contains(k, `listener="old-web"`) || strings.Contains(k, `listener="stream"`) ||
				strings.Contains(k, `target_group="b"`) || strings.Contains(k, `target_group="db"`) {
				stale = append(stale, k)
			}
		}
		if len(stale) == 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(stale) > 0 {
		t.Errorf("stale series after the reload: %v", stale)
	}
	m := scrapeMetrics(t, c, admin)
	if v := m[`lb_requests_total{code_class="2xx",listener="web",target_group="a"}`]; v != 1 {
		t.Errorf("kept series lb_requests_total{web,a} = %v, want 1", v)
	}
	if _, ok := m[`lb_healthy_targets{target_group="a"}`]; !ok {
		t.Error("kept group a lost its target gauges")
	}
}
