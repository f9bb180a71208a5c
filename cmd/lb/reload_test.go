package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// reloadConfig has a rule whose fixed response names the version, so a
// client sees which snapshot answered; extra adds a second listener.
func reloadConfig(version string, extra bool, backends ...string) string {
	targets := make([]string, len(backends))
	for i, b := range backends {
		targets[i] = fmt.Sprintf("%q", b)
	}
	s := fmt.Sprintf(`admin: {address: "127.0.0.1:0"}
shutdown_timeout: 10s
listeners:
  - name: web
    protocol: HTTP
    address: "127.0.0.1:0"
    rules:
      - priority: 10
        conditions: {path: ["/version"]}
        action: {fixed_response: {status: 200, content_type: text/plain, body: %q}}
    default_action: {forward: {target_group: web}}
`, version)
	if extra {
		s += `  - name: extra
    protocol: HTTP
    address: "127.0.0.1:0"
    default_action: {fixed_response: {status: 200, content_type: text/plain, body: "extra"}}
`
	}
	return s + fmt.Sprintf(`target_groups:
  - name: web
    protocol: HTTP
    targets: [%s]
    health_check: {path: /health, interval: 5s, timeout: 2s}
`, strings.Join(targets, ", "))
}

// replaceFile swaps path's content atomically, as an editor or a config
// manager does, so a reload never reads half a file.
func replaceFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestReloadUnderLoad: 200 keep-alive clients for 5 s; at 2 s a SIGHUP
// swaps in a config whose rule answers differently. No request may fail,
// no connection may be dropped, and the new rule must answer afterwards.
func TestReloadUnderLoad(t *testing.T) {
	const (
		clients  = 200
		duration = 5 * time.Second
		reloadAt = 2 * time.Second
	)
	b1, b2 := startBackend(t, "b1"), startBackend(t, "b2")
	path := writeFile(t, t.TempDir(), "lb.yaml", reloadConfig("v1", false, b1.addr, b2.addr))
	r := startInProcess(t, "-config", path, "-log-level", "warn")
	web := "http://" + r.listener("web")

	var (
		ok, failed, v1, v2, v1AfterReload atomic.Int64
		dials                             atomic.Int64
		reloadedAt                        atomic.Int64 // unix nano when the reload returned
		mu                                sync.Mutex
		firstErrs                         []string
	)
	fail := func(s string) {
		failed.Add(1)
		mu.Lock()
		if len(firstErrs) < 5 {
			firstErrs = append(firstErrs, s)
		}
		mu.Unlock()
	}
	start := time.Now()
	stopAt := start.Add(duration)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// One connection per client; a dropped connection would show as a
			// second dial (or an error on a non-idempotent retry).
			tr := &http.Transport{
				MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1,
				DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
					dials.Add(1)
					return (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, addr)
				},
			}
			defer tr.CloseIdleConnections()
			c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			for n := 0; time.Now().Before(stopAt) && n < 100000; n++ {
				p := "/x"
				if (i+n)%2 == 0 {
					p = "/version"
				}
				sent := time.Now()
				resp, err := c.Get(web + p)
				if err != nil {
					fail(err.Error())
					continue
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 {
					fail(fmt.Sprintf("%s: %d %v", p, resp.StatusCode, err))
					continue
				}
				ok.Add(1)
				if p == "/version" {
					switch string(body) {
					case "v1":
						v1.Add(1)
						if ra := reloadedAt.Load(); ra != 0 && sent.UnixNano() > ra {
							v1AfterReload.Add(1)
						}
					case "v2":
						v2.Add(1)
					default:
						fail("unexpected body " + string(body))
					}
				}
			}
		}()
	}

	time.Sleep(reloadAt) // the load runs meanwhile; the reload is the event under test
	replaceFile(t, path, reloadConfig("v2", false, b1.addr, b2.addr))
	r.sigs <- syscall.SIGHUP
	// The success counter moves after the routers are swapped.
	eventually(t, 10*time.Second, "the reload to finish", func() bool {
		return r.app.applied.Load() == 2
	})
	reloadedAt.Store(time.Now().UnixNano())
	wg.Wait()

	t.Logf("%d requests ok, %d failed, v1 %d, v2 %d, %d dials for %d clients", ok.Load(), failed.Load(), v1.Load(), v2.Load(), dials.Load(), clients)
	if failed.Load() != 0 {
		t.Errorf("%d requests failed across the reload: %v", failed.Load(), firstErrs)
	}
	if v1.Load() == 0 || v2.Load() == 0 {
		t.Errorf("both versions must answer: v1 %d v2 %d", v1.Load(), v2.Load())
	}
	if v1AfterReload.Load() != 0 {
		t.Errorf("%d requests sent after the reload got the old rule", v1AfterReload.Load())
	}
	if d := dials.Load(); d != clients {
		t.Errorf("%d dials for %d clients: connections were dropped", d, clients)
	}
	if b1.hits.Load() == 0 || b2.hits.Load() == 0 {
		t.Errorf("forwarded requests did not reach both backends: %d %d", b1.hits.Load(), b2.hits.Load())
	}
	c := newClient()
	if code, body, _ := get(t, c, web+"/version"); code != 200 || body != "v2" {
		t.Errorf("after reload: %d %q, want v2", code, body)
	}
}

// TestReloadSignalAndBadFile: SIGHUP reloads; a bad file is refused with
// every error logged and the running config kept; listeners added and
// removed by a reload open and close while the kept one keeps its socket.
func TestReloadSignalAndBadFile(t *testing.T) {
	b1 := startBackend(t, "b1")
	path := writeFile(t, t.TempDir(), "lb.yaml", reloadConfig("v1", false, b1.addr))
	r := startInProcess(t, "-config", path)
	webAddr := r.listener("web")
	web := "http://" + webAddr
	c := newClient()
	if _, body, _ := get(t, c, web+"/version"); body != "v1" {
		t.Fatalf("before: %q", body)
	}
	// A keep-alive connection opened before the reloads must survive them.
	keep, err := net.Dial("tcp", webAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer keep.Close()
	// The whole answer is read (one Read may return the head alone).
	keepr := bufio.NewReader(keep)
	askVersion := func() string {
		t.Helper()
		keep.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(keep, "GET /version HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatalf("kept connection: %v", err)
		}
		resp, err := http.ReadResponse(keepr, nil)
		if err != nil {
			t.Fatalf("kept connection: %v", err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("kept connection: %v", err)
		}
		return string(body)
	}
	if v := askVersion(); v != "v1" {
		t.Fatalf("kept connection: %q", v)
	}

	// A bad file: every error is logged, nothing changes.
	replaceFile(t, path, "listeners:\n  - name: web\n    idle_timeout: 60\n    colour: blue\ntarget_groups:\n  - name: web\n    deregistration_delay: never\nshutdown_timeout: soon\n")
	r.sigs <- syscall.SIGHUP
	eventually(t, 10*time.Second, "the reload failure to be logged", func() bool {
		return strings.Count(r.stderr.String(), "config reload rejected") >= 3
	})
	log := r.stderr.String()
	for _, want := range []string{`listeners[0]`, `target_groups[0]`, `shutdown_timeout`} {
		if !strings.Contains(log, want) {
			t.Errorf("reload errors lack %s:\n%s", want, log)
		}
	}
	if _, body, _ := get(t, c, web+"/version"); body != "v1" {
		t.Errorf("after a bad reload: %q, want the old v1", body)
	}
	m := scrapeMetrics(t, c, "http://"+r.app.adminAddr())
	if m[`lb_config_reloads_total{result="failure"}`] != 1 || m[`lb_config_reloads_total{result="success"}`] != 1 {
		t.Errorf("reload counters: %v", m)
	}

	// A good file with a second listener: it opens; web keeps its socket.
	replaceFile(t, path, reloadConfig("v2", true, b1.addr))
	r.sigs <- syscall.SIGHUP
	eventually(t, 10*time.Second, "the extra listener", func() bool { return r.listener("extra") != "" })
	if got := r.listener("web"); got != webAddr {
		t.Errorf("web moved from %s to %s", webAddr, got)
	}
	extra := r.listener("extra")
	if _, body, _ := get(t, c, "http://"+extra+"/"); body != "extra" {
		t.Errorf("extra listener: %q", body)
	}
	if v := askVersion(); v != "v2" {
		t.Errorf("kept connection after reload: %q, want v2", v)
	}

	// Remove it again: its socket closes, web stays.
	replaceFile(t, path, reloadConfig("v3", false, b1.addr))
	r.sigs <- syscall.SIGHUP
	eventually(t, 10*time.Second, "the extra listener to close", func() bool { return r.listener("extra") == "" })
	eventually(t, 5*time.Second, "connections to the removed listener to be refused", func() bool {
		conn, err := net.DialTimeout("tcp", extra, time.Second)
		if err == nil {
			conn.Close()
		}
		return err != nil
	})
	if v := askVersion(); v != "v3" {
		t.Errorf("kept connection after second reload: %q, want v3", v)
	}
	m = scrapeMetrics(t, c, "http://"+r.app.adminAddr())
	if m[`lb_config_reloads_total{result="success"}`] != 3 {
		t.Errorf("success counter %v, want 3", m[`lb_config_reloads_total{result="success"}`])
	}
}

// TestReloadMovesAdmin: a reload that changes admin.address moves the
// admin API (the old address stops answering); "" turns it off.
func TestReloadMovesAdmin(t *testing.T) {
	b := startBackend(t, "b1")
	cfg := func(admin string) string {
		return strings.Replace(reloadConfig("v1", false, b.addr), `admin: {address: "127.0.0.1:0"}`, `admin: {address: "`+admin+`"}`, 1)
	}
	path := writeFile(t, t.TempDir(), "lb.yaml", cfg("127.0.0.1:0"))
	r := startInProcess(t, "-config", path)
	first := r.app.adminAddr()
	c := newClient()
	if code, _, _ := get(t, c, "http://"+first+"/healthz"); code != 200 {
		t.Fatalf("admin: %d", code)
	}
	replaceFile(t, path, cfg("127.0.0.2:0"))
	r.sigs <- syscall.SIGHUP
	eventually(t, 10*time.Second, "the admin API to move", func() bool { return strings.HasPrefix(r.app.adminAddr(), "127.0.0.2:") })
	if code, _, _ := get(t, c, "http://"+r.app.adminAddr()+"/healthz"); code != 200 {
		t.Errorf("moved admin: %d", code)
	}
	if conn, err := net.DialTimeout("tcp", first, time.Second); err == nil {
		conn.Close()
		t.Errorf("the old admin address %s still accepts", first)
	}
	replaceFile(t, path, cfg(""))
	r.sigs <- syscall.SIGHUP
	eventually(t, 10*time.Second, "the admin API to stop", func() bool { return r.app.adminAddr() == "" })
}

// TestReloadReplacesServer: a reload that changes a listener's server
// settings (idle_timeout) starts a new server on the same socket; the old
// one finishes the request it was serving and new connections go to the
// new one. No connection is refused meanwhile.
func TestReloadReplacesServer(t *testing.T) {
	b := startBackend(t, "slow")
	b.delay.Store(int64(time.Second))
	base := reloadConfig("v1", false, b.addr)
	path := writeFile(t, t.TempDir(), "lb.yaml", base)
	r := startInProcess(t, "-config", path)
	addr := r.listener("web")
	r.app.mu.Lock()
	var oldSrv any
	for _, ll := range r.app.live {
		oldSrv = ll.srv
	}
	r.app.mu.Unlock()

	res := sendSlow(t, addr)
	select {
	case <-b.got:
	case <-time.After(10 * time.Second):
		t.Fatal("the slow request never reached the backend")
	}
	replaceFile(t, path, strings.Replace(base, `address: "127.0.0.1:0"
    rules:`, `address: "127.0.0.1:0"
    idle_timeout: 30s
    rules:`, 1))
	r.sigs <- syscall.SIGHUP
	eventually(t, 10*time.Second, "the reload", func() bool { return r.app.applied.Load() == 2 })
	r.app.mu.Lock()
	var newSrv any
	for _, ll := range r.app.live {
		newSrv = ll.srv
	}
	r.app.mu.Unlock()
	if newSrv == oldSrv {
		t.Fatal("the server was not replaced")
	}
	if got := r.listener("web"); got != addr {
		t.Errorf("listener moved from %s to %s", addr, got)
	}
	c := newClient()
	if code, body, _ := get(t, c, "http://"+addr+"/version"); code != 200 || body != "v1" {
		t.Errorf("new connection after the replacement: %d %q", code, body)
	}
	select {
	case res := <-res:
		if res.err != nil || res.status != 200 {
			t.Errorf("the request on the old server: %d %v", res.status, res.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the request on the old server never completed")
	}
}
