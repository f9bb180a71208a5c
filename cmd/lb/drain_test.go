package main

// The drain-under-load procedures of hardening.md §4.8, DRN-08
// (deregistration) and DRN-09 (config reload), with the DRN-00 accounting
// rules, shortened from 20 s to about 8 s of load so CI stays fast. The
// shape is kept: 200 keep-alive clients, 70 % GET /slow?ms=0-200, 20 %
// GET /slow?ms=2000, 10 % POST /echo with 64 KiB, three backends, the
// change made while 2 s requests are in flight on the target concerned.

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/testenv"
)

const (
	drnClients  = 200
	drnDuration = 8 * time.Second
	drnChangeAt = 3 * time.Second // the deregistration or the reload
	drnSlow     = 2000            // ms of the slow requests
	drnBodySize = 64 << 10
	drnGrace    = 100 * time.Millisecond // DRN-00 (d)
)

// drnRecord is one request as a backend saw it.
type drnRecord struct {
	id         string
	start, end time.Time
	method     string
}

// drnBackend is a scripted target that logs every request it serves.
type drnBackend struct {
	name string
	srv  *httptest.Server
	mu   sync.Mutex
	log  []drnRecord
	// routeChecks are the start times of /route-check requests.
	routeChecks []time.Time
}

func (b *drnBackend) addr() string { return b.srv.Listener.Addr().String() }

func (b *drnBackend) records() []drnRecord {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]drnRecord(nil), b.log...)
}

func newDrnBackend(t *testing.T, name string) *drnBackend {
	t.Helper()
	b := &drnBackend{name: name}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := drnRecord{id: r.Header.Get("X-Request-Id"), start: time.Now(), method: r.Method}
		var body string
		switch r.URL.Path {
		case "/slow":
			ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
			// The backend's own work time: this is the scripted slow answer.
			time.Sleep(time.Duration(min(max(ms, 0), 5000)) * time.Millisecond)
			body = "ok " + rec.id
		case "/echo":
			h := sha256.New()
			if _, err := io.Copy(h, r.Body); err != nil {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			body = hex.EncodeToString(h.Sum(nil))
		case "/route-check":
			b.mu.Lock()
			b.routeChecks = append(b.routeChecks, rec.start)
			b.mu.Unlock()
			body = "proxied"
		case "/health":
			body = "ok"
		default:
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.Header().Set("X-Backend", name)
		io.WriteString(w, body)
		if r.URL.Path == "/health" || r.URL.Path == "/route-check" {
			return
		}
		rec.end = time.Now()
		b.mu.Lock()
		b.log = append(b.log, rec)
		b.mu.Unlock()
	}))
	t.Cleanup(b.srv.Close)
	return b
}

// drnLB runs lb in-process on a config file and returns its addresses.
type drnLB struct {
	cfgPath string
	web     string
	addrs   map[string]string // listener name → address
	admin   string
	sigs    chan os.Signal
	exit    chan int
	stderr  *drnBuf
}

type drnBuf = testenv.Buffer

// drnConfig writes an lb config: one HTTP listener forwarding to group
// "app" over targets (address → weight), and, when routeV2 is set, a rule
// answering /route-check itself.
func drnConfig(targets []string, weights []int, routeV2 bool) string {
	var ts []string
	for i, a := range targets {
		ts = append(ts, fmt.Sprintf("{address: %q, weight: %d}", a, weights[i]))
	}
	rules := ""
	if routeV2 {
		rules = `
    rules:
      - priority: 10
        conditions: {path: ["/route-check"]}
        action:
          fixed_response: {status: 200, content_type: text/plain, body: "v2"}`
	}
	return fmt.Sprintf(`admin:
  address: 127.0.0.1:0
shutdown_timeout: 10s
access_log: {path: ""}
listeners:
  - name: web
    protocol: HTTP
    address: 127.0.0.1:0%s
    default_action:
      forward: {target_group: app}
target_groups:
  - name: app
    protocol: HTTP
    targets: [%s]
    algorithm: round_robin
    deregistration_delay: 30s
    health_check:
      path: /health
      interval: 30s
      timeout: 5s
`, rules, strings.Join(ts, ", "))
}

func startDrnLB(t *testing.T, cfg string) *drnLB {
	t.Helper()
	l := &drnLB{cfgPath: filepath.Join(t.TempDir(), "lb.yaml"), sigs: make(chan os.Signal, 4), exit: make(chan int, 1), stderr: &drnBuf{}}
	if err := os.WriteFile(l.cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	started := make(chan *app, 1)
	h := &hooks{signals: l.sigs, started: func(a *app) { started <- a }}
	go func() {
		l.exit <- runServe([]string{"-config", l.cfgPath, "-log-level", "warn"}, io.Discard, l.stderr, h)
	}()
	select {
	case a := <-started:
		l.addrs = a.listenerAddrs()
		l.web = l.addrs["web"]
		l.admin = a.adminAddr()
	case code := <-l.exit:
		t.Fatalf("lb exited with %d at start: %s", code, l.stderr.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("lb did not start in 20 s: %s", l.stderr.String())
	}
	if len(l.addrs) == 0 || l.admin == "" {
		t.Fatalf("lb addresses: listeners %v admin %q", l.addrs, l.admin)
	}
	t.Cleanup(func() {
		select {
		case l.sigs <- syscall.SIGTERM:
		default:
		}
		select {
		case <-l.exit:
		case <-time.After(15 * time.Second):
			t.Errorf("lb did not exit after SIGTERM")
		}
	})
	return l
}

// stop sends SIGTERM and checks the clean-drain exit code.
func (l *drnLB) stop(t *testing.T) {
	t.Helper()
	l.sigs <- syscall.SIGTERM
	select {
	case code := <-l.exit:
		if code != exitOK {
			t.Errorf("lb exit code after SIGTERM = %d, want 0; log: %s", code, l.stderr.String())
		}
		l.exit <- code // for Cleanup
	case <-time.After(15 * time.Second):
		t.Fatalf("lb did not finish draining in 15 s")
	}
}

type drnTargetHealth struct {
	ID       string `json:"id"`
	State    string `json:"state"`
	Reason   string `json:"reason"`
	InFlight int64  `json:"in_flight"`
}

// targets reads GET /api/v1/target-groups for group "app".
func (l *drnLB) targets(t *testing.T) map[string]drnTargetHealth {
	t.Helper()
	return l.groupTargets(t, "app")
}

// groupTargets reads GET /api/v1/target-groups for one group.
func (l *drnLB) groupTargets(t *testing.T, group string) map[string]drnTargetHealth {
	t.Helper()
	resp, err := http.Get("http://" + l.admin + "/api/v1/target-groups")
	if err != nil {
		t.Fatalf("admin: %v", err)
	}
	defer resp.Body.Close()
	var groups []struct {
		Name    string            `json:"name"`
		Targets []drnTargetHealth `json:"targets"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&groups); err != nil {
		t.Fatalf("admin target-groups: %v", err)
	}
	out := map[string]drnTargetHealth{}
	for _, g := range groups {
		if g.Name == group {
			for _, x := range g.Targets {
				out[x.ID] = x
			}
		}
	}
	return out
}

// waitHealthy waits (bounded) until every address of group "app" is healthy.
func (l *drnLB) waitHealthy(t *testing.T, addrs ...string) {
	t.Helper()
	l.waitGroupHealthy(t, "app", addrs...)
}

func (l *drnLB) waitGroupHealthy(t *testing.T, group string, addrs ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; i < 1000 && time.Now().Before(deadline); i++ {
		ts := l.groupTargets(t, group)
		ok := true
		for _, a := range addrs {
			if ts[a].State != "healthy" {
				ok = false
			}
		}
		if ok {
			return
		}
		time.Sleep(10 * time.Millisecond) // polling another process's state, bounded
	}
	t.Fatalf("targets not healthy in 10 s: %+v", l.groupTargets(t, group))
}

// drnResult is one request as the client saw it.
type drnResult struct {
	id       string
	kind     string // fast, slow, post
	start    time.Time
	end      time.Time
	status   int
	backend  string
	err      string
	badBody  bool
	retried  bool
	postHash string
}

// drnLoad runs the client side of DRN-08/09 until stop closes.
type drnLoad struct {
	mu      sync.Mutex
	results []drnResult
	seq     atomic.Int64
	// halt, when closed, stops the clients from starting new requests.
	halt chan struct{}
}

func (ld *drnLoad) halted() bool {
	if ld.halt == nil {
		return false
	}
	select {
	case <-ld.halt:
		return true
	default:
		return false
	}
}

func (ld *drnLoad) run(t *testing.T, web string, d time.Duration) {
	tr := &http.Transport{
		MaxIdleConns:        drnClients,
		MaxIdleConnsPerHost: drnClients,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	payload := make([]byte, drnBodySize)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	sum := sha256.Sum256(payload)
	wantHash := hex.EncodeToString(sum[:])
	end := time.Now().Add(d)
	var wg sync.WaitGroup
	for c := range drnClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(c), 99))
			for n := 0; n < 10000 && time.Now().Before(end) && !ld.halted(); n++ {
				id := fmt.Sprintf("c%d-%d", c, ld.seq.Add(1))
				r := drnResult{id: id, start: time.Now()}
				var req *http.Request
				switch p := rng.IntN(100); {
				case p < 70:
					r.kind = "fast"
					req, _ = http.NewRequest(http.MethodGet, fmt.Sprintf("http://%s/slow?ms=%d", web, rng.IntN(201)), nil)
				case p < 90:
					r.kind = "slow"
					req, _ = http.NewRequest(http.MethodGet, fmt.Sprintf("http://%s/slow?ms=%d", web, drnSlow), nil)
				default:
					r.kind = "post"
					req, _ = http.NewRequest(http.MethodPost, "http://"+web+"/echo", bytes.NewReader(payload))
					r.postHash = wantHash
				}
				req.Header.Set("X-Request-Id", id)
				resp, err := cl.Do(req)
				if err != nil {
					r.err = err.Error()
				} else {
					body, rerr := io.ReadAll(resp.Body)
					resp.Body.Close()
					r.status = resp.StatusCode
					r.backend = resp.Header.Get("X-Backend")
					switch {
					case rerr != nil:
						r.err = rerr.Error()
					case r.kind == "post":
						r.badBody = string(body) != wantHash
					default:
						r.badBody = string(body) != "ok "+id
					}
				}
				r.end = time.Now()
				ld.mu.Lock()
				ld.results = append(ld.results, r)
				ld.mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

// checkDRN00 applies the DRN-00 accounting rules (a)–(c) and returns the
// backend records by request id.
func checkDRN00(t *testing.T, results []drnResult, backends []*drnBackend) map[string][]drnRecord {
	t.Helper()
	failed := 0
	seen := map[string]int{}
	for _, r := range results {
		seen[r.id]++
		if r.err != "" || r.status != http.StatusOK || r.badBody {
			failed++
			if failed <= 5 {
				t.Errorf("request %s (%s) failed: status %d err %q bad body %v", r.id, r.kind, r.status, r.err, r.badBody)
			}
		}
	}
	if failed > 0 {
		t.Errorf("DRN-00 (a): %d of %d requests failed, want 0", failed, len(results))
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("DRN-00 (b): request %s answered %d times", id, n)
		}
	}
	byID := map[string][]drnRecord{}
	for _, b := range backends {
		for _, rec := range b.records() {
			rec.method = b.name + " " + rec.method
			byID[rec.id] = append(byID[rec.id], rec)
		}
	}
	kinds := map[string]string{}
	for _, r := range results {
		kinds[r.id] = r.kind
	}
	retries := 0
	for id, recs := range byID {
		switch {
		case kinds[id] == "post" && len(recs) != 1:
			t.Errorf("DRN-00 (c): POST %s reached backends %d times: %v", id, len(recs), recs)
		case len(recs) > 2:
			t.Errorf("DRN-00 (c): GET %s reached backends %d times", id, len(recs))
		case len(recs) == 2:
			retries++
		}
	}
	for _, r := range results {
		if r.err == "" && r.status == http.StatusOK && len(byID[r.id]) == 0 {
			t.Errorf("request %s answered 200 but no backend served it", r.id)
		}
	}
	var first, last time.Time
	for _, r := range results {
		if first.IsZero() || r.start.Before(first) {
			first = r.start
		}
		if r.end.After(last) {
			last = r.end
		}
	}
	span := last.Sub(first)
	t.Logf("%d requests in %v (%.0f req/s), %d retried", len(results), span.Round(time.Millisecond), float64(len(results))/max(span.Seconds(), 0.001), retries)
	return byID
}

func TestDrainUnderLoadDRN08(t *testing.T) {
	if testing.Short() {
		t.Skip("drain under load takes ~10 s")
	}
	b1, b2, b3 := newDrnBackend(t, "b1"), newDrnBackend(t, "b2"), newDrnBackend(t, "b3")
	backends := []*drnBackend{b1, b2, b3}
	lb := startDrnLB(t, drnConfig([]string{b1.addr(), b2.addr(), b3.addr()}, []int{1, 1, 1}, false))
	lb.waitHealthy(t, b1.addr(), b2.addr(), b3.addr())

	ld := &drnLoad{}
	loadDone := make(chan struct{})
	go func() {
		defer close(loadDone)
		ld.run(t, lb.web, drnDuration)
	}()

	time.Sleep(drnChangeAt) // let the load reach its steady state before deregistering
	resp, err := http.Post("http://"+lb.admin+"/api/v1/target-groups/app/deregister", "application/json",
		strings.NewReader(`{"targets":["`+b2.addr()+`"]}`))
	if err != nil {
		t.Fatalf("deregister: %v", err)
	}
	resp.Body.Close()
	deregAt := time.Now()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("deregister: status %d", resp.StatusCode)
	}
	st := lb.targets(t)[b2.addr()]
	if st.State != "draining" || st.Reason != "Target.DeregistrationInProgress" {
		t.Errorf("b2 after deregistration: %+v, want draining", st)
	}
	<-loadDone

	byID := checkDRN00(t, ld.results, backends)
	_ = byID
	// (d) no request starts on B2 after the deregistration instant + 100 ms;
	// its 2 s requests in flight at that instant completed.
	inFlightSlow := 0
	latest := -time.Hour
	for _, rec := range b2.records() {
		latest = max(latest, rec.start.Sub(deregAt))
		if rec.start.After(deregAt.Add(drnGrace)) {
			t.Errorf("DRN-00 (d): request %s started on the draining target %v after deregistration", rec.id, rec.start.Sub(deregAt))
		}
		if rec.start.Before(deregAt) && rec.end.After(deregAt) {
			inFlightSlow++
		}
	}
	if inFlightSlow == 0 {
		t.Errorf("no request was in flight on b2 at deregistration: the test proved nothing")
	}
	okOnB2 := 0
	for _, r := range ld.results {
		if r.backend == "b2" && r.end.After(deregAt) && r.status == http.StatusOK && !r.badBody {
			okOnB2++
		}
	}
	if okOnB2 < inFlightSlow {
		t.Errorf("b2 had %d requests in flight at deregistration but only %d completed at the client", inFlightSlow, okOnB2)
	}
	for _, b := range []*drnBackend{b1, b3} {
		late := 0
		for _, rec := range b.records() {
			if rec.start.After(deregAt) {
				late++
			}
		}
		if late == 0 {
			t.Errorf("%s served nothing after the deregistration", b.name)
		}
	}
	t.Logf("b2: %d requests in flight at deregistration completed; its last request started %v after the deregistration returned", inFlightSlow, latest)
	lb.stop(t)
}

func TestReloadUnderLoadDRN09(t *testing.T) {
	if testing.Short() {
		t.Skip("reload under load takes ~10 s")
	}
	b1, b2, b3, b4 := newDrnBackend(t, "b1"), newDrnBackend(t, "b2"), newDrnBackend(t, "b3"), newDrnBackend(t, "b4")
	backends := []*drnBackend{b1, b2, b3, b4}
	lb := startDrnLB(t, drnConfig([]string{b1.addr(), b2.addr(), b3.addr()}, []int{1, 1, 1}, false))
	lb.waitHealthy(t, b1.addr(), b2.addr(), b3.addr())
	if body := drnGet(t, lb.web, "/route-check"); body != "proxied" {
		t.Fatalf("/route-check before the reload = %q, want proxied", body)
	}

	ld := &drnLoad{}
	loadDone := make(chan struct{})
	go func() {
		defer close(loadDone)
		ld.run(t, lb.web, drnDuration)
	}()

	time.Sleep(drnChangeAt)
	// Reload: add b4, change weights, change a route.
	newCfg := drnConfig([]string{b1.addr(), b2.addr(), b3.addr(), b4.addr()}, []int{2, 1, 1, 1}, true)
	if err := os.WriteFile(lb.cfgPath, []byte(newCfg), 0o600); err != nil {
		t.Fatal(err)
	}
	sentAt := time.Now()
	lb.sigs <- syscall.SIGHUP
	var reloadAt time.Time
	for i := 0; i < 1000 && time.Since(sentAt) < 10*time.Second; i++ {
		if drnGet(t, lb.web, "/route-check") == "v2" {
			reloadAt = time.Now()
			break
		}
		time.Sleep(5 * time.Millisecond) // polling another process's state, bounded
	}
	if reloadAt.IsZero() {
		t.Fatalf("reload not in effect after 10 s: %s", lb.stderr.String())
	}
	// Requests started after the reload use the new config.
	for range 20 {
		if body := drnGet(t, lb.web, "/route-check"); body != "v2" {
			t.Fatalf("/route-check after the reload = %q, want v2 (the new rule)", body)
		}
	}
	<-loadDone

	checkDRN00(t, ld.results, backends)
	b4Late := 0
	for _, rec := range b4.records() {
		if rec.start.Before(sentAt) {
			t.Errorf("b4 served %s before it was in the config", rec.id)
		}
		b4Late++
	}
	if b4Late == 0 {
		t.Errorf("b4, added by the reload, served nothing")
	}
	for _, b := range backends {
		b.mu.Lock()
		for _, at := range b.routeChecks {
			if at.After(reloadAt) {
				t.Errorf("%s: /route-check reached a backend %v after the reload", b.name, at.Sub(reloadAt))
			}
		}
		b.mu.Unlock()
	}
	ts := lb.targets(t)
	for _, a := range []string{b1.addr(), b2.addr(), b3.addr(), b4.addr()} {
		if ts[a].State != "healthy" {
			t.Errorf("target %s after the reload: %+v, want healthy (state kept across reload)", a, ts[a])
		}
	}
	t.Logf("reload in effect %v after SIGHUP; b4 served %d requests", reloadAt.Sub(sentAt), b4Late)
	lb.stop(t)
}

// drnGet fetches path on a fresh connection and returns the body.
func drnGet(t *testing.T, web, path string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", web, 5*time.Second)
	if err != nil {
		t.Fatalf("dial lb: %v", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: lb.test\r\nConnection: close\r\n\r\n", path)
	b, _ := io.ReadAll(c)
	_, body, _ := strings.Cut(string(b), "\r\n\r\n")
	return body
}

// SIGTERM under load (SPEC §1): the process drains with the same machinery
// as a deregistration. Clients stop sending, SIGTERM arrives while 2 s
// requests are in flight; every one of them completes, readiness turns
// 503, new connections are refused, and lb exits 0 only after the last
// in-flight request ended.
func TestShutdownUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("shutdown under load takes ~6 s")
	}
	b1, b2, b3 := newDrnBackend(t, "b1"), newDrnBackend(t, "b2"), newDrnBackend(t, "b3")
	backends := []*drnBackend{b1, b2, b3}
	lb := startDrnLB(t, drnConfig([]string{b1.addr(), b2.addr(), b3.addr()}, []int{1, 1, 1}, false))
	lb.waitHealthy(t, b1.addr(), b2.addr(), b3.addr())

	ld := &drnLoad{halt: make(chan struct{})}
	loadDone := make(chan struct{})
	go func() {
		defer close(loadDone)
		ld.run(t, lb.web, drnDuration)
	}()
	time.Sleep(drnChangeAt) // steady load, 2 s requests in flight
	close(ld.halt)
	// Requests already written must have been read by lb before it stops
	// reading: a request racing the close of an idle keep-alive connection
	// is HTTP/1.1's own race, not a drain failure.
	time.Sleep(300 * time.Millisecond)
	sigAt := time.Now()
	lb.sigs <- syscall.SIGTERM

	// Readiness goes 503 while the drain runs.
	ready := 0
	for i := 0; i < 100 && ready != http.StatusServiceUnavailable; i++ {
		resp, err := http.Get("http://" + lb.admin + "/readyz")
		if err != nil {
			break // admin already closed: the drain finished
		}
		ready = resp.StatusCode
		resp.Body.Close()
		if ready != http.StatusServiceUnavailable {
			time.Sleep(5 * time.Millisecond) // polling another process's state, bounded
		}
	}
	var code int
	select {
	case code = <-lb.exit:
	case <-time.After(15 * time.Second):
		t.Fatalf("lb did not exit within 15 s of SIGTERM")
	}
	exitAt := time.Now()
	lb.exit <- code // for Cleanup
	if code != exitOK {
		t.Errorf("exit code %d, want 0", code)
	}
	<-loadDone
	checkDRN00(t, ld.results, backends)

	var lastEnd time.Time
	inFlight := 0
	for _, b := range backends {
		for _, rec := range b.records() {
			if rec.start.Before(sigAt) && rec.end.After(sigAt) {
				inFlight++
			}
			if rec.end.After(lastEnd) {
				lastEnd = rec.end
			}
		}
	}
	if inFlight == 0 {
		t.Errorf("nothing was in flight at SIGTERM: the test proved nothing")
	}
	if exitAt.Before(lastEnd) {
		t.Errorf("lb exited %v before the last in-flight request ended", lastEnd.Sub(exitAt))
	}
	if ready != http.StatusServiceUnavailable {
		t.Logf("readiness 503 not observed (last %d): the drain may have ended first", ready)
	}
	if c, err := net.DialTimeout("tcp", lb.web, time.Second); err == nil {
		c.Close()
		t.Errorf("lb still accepts connections after the drain")
	}
	t.Logf("%d requests in flight at SIGTERM completed; exit %v after SIGTERM", inFlight, exitAt.Sub(sigAt))
}

// drnEcho is a TCP target: it greets each flow with its name, then echoes
// lines.
func drnEcho(t *testing.T, name string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(time.Minute))
				if _, err := io.WriteString(c, name+"\n"); err != nil {
					return
				}
				io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

// drnFlow is one client TCP flow through lb.
type drnFlow struct {
	c       net.Conn
	br      *bufio.Reader
	backend string
}

func openDrnFlow(t *testing.T, addr string) *drnFlow {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial lb: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	f := &drnFlow{c: c, br: bufio.NewReader(c)}
	line, err := f.br.ReadString('\n')
	if err != nil {
		t.Fatalf("flow greeting: %v", err)
	}
	f.backend = strings.TrimSpace(line)
	return f
}

// echo sends a line and reports whether it came back.
func (f *drnFlow) echo(msg string) error {
	f.c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(f.c, msg+"\n"); err != nil {
		return err
	}
	line, err := f.br.ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != msg {
		return fmt.Errorf("echo %q, got %q", msg, line)
	}
	return nil
}

// TCP draining (issue 4): a deregistered target gets no new flows at once;
// its flows keep working during the delay; when the delay ends they are
// closed with connection_termination: true and keep working without it.
func TestTCPDrain(t *testing.T) {
	if testing.Short() {
		t.Skip("TCP drain waits for a 1 s deregistration delay")
	}
	for _, term := range []bool{false, true} {
		t.Run(fmt.Sprintf("connection_termination=%v", term), func(t *testing.T) {
			names := map[string]string{}
			var addrs []string
			for _, n := range []string{"t1", "t2", "t3"} {
				a := drnEcho(t, n)
				names[n] = a
				addrs = append(addrs, strconv.Quote(a))
			}
			cfg := fmt.Sprintf(`admin:
  address: 127.0.0.1:0
shutdown_timeout: 5s
access_log: {path: ""}
listeners:
  - name: stream
    protocol: TCP
    address: 127.0.0.1:0
    default_action: {forward: {target_group: db}}
target_groups:
  - name: db
    protocol: TCP
    targets: [%s]
    algorithm: flow_hash
    deregistration_delay: 1s
    connection_termination: %v
    health_check: {protocol: TCP, interval: 10s}
`, strings.Join(addrs, ", "), term)
			lb := startDrnLB(t, cfg)
			stream := lb.addrs["stream"]
			lb.waitGroupHealthy(t, "db", names["t1"], names["t2"], names["t3"])

			old := openDrnFlow(t, stream)
			if err := old.echo("before"); err != nil {
				t.Fatalf("flow to %s: %v", old.backend, err)
			}
			victim := names[old.backend]
			if victim == "" {
				t.Fatalf("flow greeted by unknown backend %q", old.backend)
			}
			resp, err := http.Post("http://"+lb.admin+"/api/v1/target-groups/db/deregister", "application/json",
				strings.NewReader(`{"targets":["`+victim+`"]}`))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("deregister: %d", resp.StatusCode)
			}
			deregAt := time.Now()
			if st := lb.groupTargets(t, "db")[victim]; st.State != "draining" {
				t.Errorf("%s after deregistration: %+v", old.backend, st)
			}
			// No new flow lands on the draining target after the
			// deregistration instant + 100 ms (DRN-00 (d); l4 rebuilds its
			// Maglev table off the data path, so the first flows may still
			// see the old table).
			early := 0
			for i := 0; i < 1000 && time.Since(deregAt) <= drnGrace; i++ {
				f := openDrnFlow(t, stream)
				if f.backend == old.backend {
					early++
				}
				f.c.Close()
			}
			for range 30 {
				f := openDrnFlow(t, stream)
				if f.backend == old.backend {
					t.Errorf("a new flow opened %v after the deregistration went to the draining target %s", time.Since(deregAt), old.backend)
				}
				f.c.Close()
			}
			t.Logf("%d flows opened in the 100 ms grace went to the draining target; none of 30 after it", early)
			// During the delay the old flow still works.
			if err := old.echo("draining"); err != nil && time.Since(deregAt) < time.Second {
				t.Errorf("flow cut during the deregistration delay: %v", err)
			}
			// Wait (bounded) for the delay to end: the target leaves the listing.
			gone := false
			for i := 0; i < 500 && !gone; i++ {
				if _, ok := lb.groupTargets(t, "db")[victim]; !ok {
					gone = true
					break
				}
				time.Sleep(10 * time.Millisecond) // polling another process's state, bounded
			}
			if !gone {
				t.Fatalf("target still listed 5 s after a 1 s delay")
			}
			if term {
				// Closed when the delay ended: the next read sees EOF or a reset.
				old.c.SetDeadline(time.Now().Add(5 * time.Second))
				io.WriteString(old.c, "after\n")
				_, err := old.br.ReadString('\n')
				if err == nil {
					t.Errorf("flow still open after the delay with connection_termination")
				} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
					t.Errorf("flow neither answered nor closed after the delay: %v", err)
				}
			} else if err := old.echo("after"); err != nil {
				t.Errorf("flow cut after the delay without connection_termination: %v", err)
			}
			old.c.Close()
			lb.stop(t)
		})
	}
}
