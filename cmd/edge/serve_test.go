package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/testenv"
	"github.com/switchyard/switchyard/signing"
)

var update = flag.Bool("update", false, "rewrite golden files")

type lockedBuf = testenv.Buffer

// running is an in-process edge driven by signals.
type running struct {
	a      *app
	sigs   chan os.Signal
	done   chan struct{} // closed when runServe returned
	code   int
	stdout *lockedBuf
	stderr *lockedBuf
}

func startRun(t *testing.T, args ...string) *running {
	t.Helper()
	r := &running{sigs: make(chan os.Signal, 1), done: make(chan struct{}), stdout: &lockedBuf{}, stderr: &lockedBuf{}}
	started := make(chan *app, 1)
	go func() {
		r.code = runServe(args, r.stdout, r.stderr, &hooks{signals: r.sigs, started: func(a *app) { started <- a }})
		close(r.done)
	}()
	select {
	case r.a = <-started:
	case <-r.done:
		t.Fatalf("edge exited %d at start: %s", r.code, r.stderr.String())
	case <-time.After(15 * time.Second):
		t.Fatal("edge did not start")
	}
	t.Cleanup(func() {
		select {
		case <-r.done:
			return
		default:
		}
		r.sigs <- syscall.SIGTERM
		select {
		case <-r.done:
		case <-time.After(10 * time.Second):
			t.Error("edge did not stop")
		}
	})
	return r
}

func (r *running) stop(t *testing.T) int {
	t.Helper()
	r.sigs <- syscall.SIGTERM
	select {
	case <-r.done:
		return r.code
	case <-time.After(15 * time.Second):
		t.Fatal("edge did not drain")
	}
	return -1
}

var client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableCompression: true},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func fetch(t *testing.T, method, url, body string, hdr ...string) (int, http.Header, string) {
	t.Helper()
	return testenv.Fetch(t, client, method, url, body, hdr...)
}

// TestEmbeddedDefault: `edge` with no config starts the demo, caches,
// compresses, refuses unsigned /private/ requests and accepts the URL made
// by the printed `edge sign url` command; the admin API answers.
func TestEmbeddedDefault(t *testing.T) {
	r := startRun(t, "-http", "127.0.0.1:0", "-admin", "127.0.0.1:0", "-log-level", "warn")
	edgeURL := "http://" + r.a.addrs()[0]
	adminURL := "http://" + r.a.adminAddr()

	_, h, _ := fetch(t, "GET", edgeURL+"/", "")
	if h.Get("X-Cache") != "Miss from edge" {
		t.Fatalf("first GET /: %q", h.Get("X-Cache"))
	}
	r.a.store.Wait()
	code, h, body := fetch(t, "GET", edgeURL+"/", "")
	if code != 200 || h.Get("X-Cache") != "Hit from edge" || !strings.Contains(body, "Switchyard demo origin") {
		t.Fatalf("second GET /: %d %q", code, h.Get("X-Cache"))
	}
	if _, h, _ = fetch(t, "GET", edgeURL+"/style.css", "", "Accept-Encoding", "br"); h.Get("Content-Encoding") != "br" {
		t.Fatalf("style.css not compressed: %v", h)
	}
	if code, _, body = fetch(t, "GET", edgeURL+"/private/report.txt", ""); code != 403 || !strings.Contains(body, "MissingKey") {
		t.Fatalf("unsigned private: %d %q", code, body)
	}

	// The printed sign command works as printed.
	m := regexp.MustCompile(`edge sign url (.*) -expires \+1h\)`).FindStringSubmatch(r.stdout.String())
	if m == nil {
		t.Fatalf("no sign command in %q", r.stdout.String())
	}
	var signed lockedBuf
	args := append([]string{"sign", "url"}, strings.Fields(m[1])...)
	args = append(args, "-expires", "+1h")
	if c := run(args, &signed, io.Discard); c != 0 {
		t.Fatalf("edge %v exited %d", args, c)
	}
	if code, _, body = fetch(t, "GET", strings.TrimSpace(signed.String()), ""); code != 200 || !strings.Contains(body, "private report") {
		t.Fatalf("signed private: %d %q", code, body)
	}

	if code, _, body = fetch(t, "POST", adminURL+"/api/v1/distributions/demo/invalidations", `{"paths":["/*"]}`); code != 201 ||
		!strings.Contains(body, `"status": "Completed"`) && !strings.Contains(body, `"status":"Completed"`) {
		t.Fatalf("invalidation: %d %q", code, body)
	}
	if code, _, _ = fetch(t, "POST", adminURL+"/api/v1/distributions/nope/invalidations", `{"paths":["/*"]}`); code != 404 {
		t.Fatalf("unknown distribution: %d", code)
	}
	if code, _, _ = fetch(t, "GET", adminURL+"/api/v1/distributions/demo/invalidations", ""); code != 405 {
		t.Fatalf("GET on invalidations: %d", code)
	}
	if code, _, _ = fetch(t, "POST", adminURL+"/api/v1/distributions/demo/invalidations", `{"paths":`); code != 400 {
		t.Fatalf("bad body: %d", code)
	}
	if _, h, _ = fetch(t, "GET", edgeURL+"/", ""); h.Get("X-Cache") != "Miss from edge" {
		t.Fatalf("after invalidation: %q", h.Get("X-Cache"))
	}
	var st struct {
		Objects  int64   `json:"objects"`
		Hits     uint64  `json:"hits"`
		HitRatio float64 `json:"hit_ratio"`
	}
	code, _, body = fetch(t, "GET", adminURL+"/api/v1/cache", "")
	if err := json.Unmarshal([]byte(body), &st); err != nil || code != 200 || st.Hits == 0 || st.HitRatio <= 0 {
		t.Fatalf("cache stats: %d %q %v", code, body, err)
	}
	for path, want := range map[string]string{"/healthz": "", "/readyz": "", "/metrics": "edge_cache_results_total",
		"/api/v1/config": `"hash"`, "/": "Distributions"} {
		if code, _, body = fetch(t, "GET", adminURL+path, ""); code != 200 || !strings.Contains(body, want) {
			t.Fatalf("admin %s: %d %q", path, code, body)
		}
	}
	if code, _, body = fetch(t, "GET", adminURL+"/api/v1/config", ""); strings.Contains(body, "demo-secret") {
		t.Fatalf("config shows a secret: %s", body)
	}
	if c := r.stop(t); c != 0 {
		t.Fatalf("exit %d: %s", c, r.stderr.String())
	}
}

func TestValidateGolden(t *testing.T) {
	for _, name := range []string{"good", "bad"} {
		t.Run(name, func(t *testing.T) {
			var out lockedBuf
			path := filepath.Join("testdata", "serve", name+".yaml")
			code := run([]string{"validate", "-config", path}, &out, &out)
			got := fmt.Sprintf("exit %d\n%s", code, out.String())
			golden := filepath.Join("testdata", "serve", name+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Fatalf("got:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func writeConfig(t *testing.T, path, origin, admin string, keys ...string) {
	t.Helper()
	var ks []string
	for _, k := range keys {
		abs, _ := filepath.Abs(filepath.Join("testdata", "serve", k+"_pub.pem"))
		ks = append(ks, fmt.Sprintf("{id: K%s, public_key: %q}", strings.ToUpper(k), abs))
	}
	cfg := fmt.Sprintf(`admin: {address: %q}
access_log: {path: %q, format: cloudfront}
shutdown_timeout: 5s
listeners:
  - {protocol: HTTP, address: "127.0.0.1:0"}
cache: {max_size: 64MiB, max_object_size: 16MiB}
key_groups:
  - name: main
    keys: [%s]
distributions:
  - name: bench
    origins:
      - {id: origin, url: "http://%s"}
    default_cache_behavior:
      target_origin: origin
      cache_key: {query_strings: none, headers: none, cookies: none}
      trusted_key_groups: [main]
`, admin, filepath.Join(filepath.Dir(path), "access.log"), strings.Join(ks, ", "), origin)
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
}

func signer(t *testing.T, k string) *signing.URLSigner {
	t.Helper()
	pemBytes, err := os.ReadFile(filepath.Join("testdata", "serve", k+"_pkcs8.pem"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := signing.ParsePrivateKeyPEM(pemBytes)
	if err != nil {
		t.Fatal(err)
	}
	s, err := signing.NewURLSigner("K"+strings.ToUpper(k), key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestReloadKeyRotation: keys are rotated by SIGHUP (add the new key,
// switch signers, drop the old) while a viewer with a new-key URL keeps
// requesting: not one request fails; the dropped key is refused after.
func TestReloadKeyRotation(t *testing.T) {
	origin := startTestOrigin(t)
	path := filepath.Join(t.TempDir(), "edge.yaml")
	writeConfig(t, path, origin, "127.0.0.1:0", "rsa", "ec")
	r := startRun(t, "-config", path, "-log-level", "warn")
	base := "http://" + r.a.addrs()[0] + "/obj"
	oldURL, err := signer(t, "rsa").Sign(base, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	newURL, err := signer(t, "ec").Sign(base, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{oldURL, newURL} {
		if code, _, body := fetch(t, "GET", u, ""); code != 200 {
			t.Fatalf("before rotation: %d %q", code, body)
		}
	}
	stop := make(chan struct{})
	failures := make(chan string, 100)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 5000; i++ {
			select {
			case <-stop:
				return
			default:
			}
			resp, err := client.Get(newURL)
			if err != nil {
				failures <- err.Error()
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				failures <- resp.Status
				return
			}
		}
	}()
	hash := r.a.e.Snapshot().Hash
	writeConfig(t, path, origin, "127.0.0.1:0", "ec")
	r.sigs <- syscall.SIGHUP
	for deadline := time.Now().Add(10 * time.Second); r.a.e.Snapshot().Hash == hash && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if r.a.e.Snapshot().Hash == hash {
		t.Fatalf("reload did not happen: %s", r.stderr.String())
	}
	close(stop)
	wg.Wait()
	close(failures)
	for f := range failures {
		t.Fatalf("a request failed during key rotation: %s", f)
	}
	if code, _, body := fetch(t, "GET", oldURL, ""); code != 403 || !strings.Contains(body, "InvalidKey") {
		t.Fatalf("dropped key: %d %q", code, body)
	}
	// A bad file is refused and the running config kept.
	if err := os.WriteFile(path, []byte("listeners: [{address: nope}]\nbogus: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hash = r.a.e.Snapshot().Hash
	r.sigs <- syscall.SIGHUP
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(r.stderr.String(), "reload rejected") && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if r.a.e.Snapshot().Hash != hash || !strings.Contains(r.stderr.String(), "reload rejected") {
		t.Fatalf("bad reload: %s", r.stderr.String())
	}
	if code, _, _ := fetch(t, "GET", newURL, ""); code != 200 {
		t.Fatalf("after a rejected reload: %d", code)
	}
	if c := r.stop(t); c != 0 {
		t.Fatalf("exit %d", c)
	}
}

// TestDrain: SIGTERM lets an in-flight request finish, then exits 0.
func TestDrain(t *testing.T) {
	origin := startTestOrigin(t)
	path := filepath.Join(t.TempDir(), "edge.yaml")
	writeConfig(t, path, origin, "127.0.0.1:0", "ec")
	r := startRun(t, "-config", path, "-log-level", "warn")
	u, err := signer(t, "ec").Sign("http://"+r.a.addrs()[0]+"/slow", time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan int, 1)
	before := slowStarted.Load()
	go func() {
		resp, err := client.Get(u)
		if err != nil {
			got <- -1
			return
		}
		resp.Body.Close()
		got <- resp.StatusCode
	}()
	for deadline := time.Now().Add(5 * time.Second); slowStarted.Load() == before && time.Now().Before(deadline); {
		time.Sleep(2 * time.Millisecond)
	}
	r.sigs <- syscall.SIGTERM
	if code := <-got; code != 200 {
		t.Fatalf("in-flight request during drain: %d", code)
	}
	select {
	case <-r.done:
		if r.code != 0 {
			t.Fatalf("exit %d", r.code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("edge did not exit after the drain")
	}
	if b, err := os.ReadFile(filepath.Join(filepath.Dir(path), "access.log")); err != nil || !strings.Contains(string(b), "/slow") {
		t.Fatalf("access log: %q %v", b, err)
	}
}

// TestReloadListeners: a reload opens a new listener and drains a removed
// one, keeping the unchanged one (and its connections).
func TestReloadListeners(t *testing.T) {
	origin := startTestOrigin(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "edge.yaml")
	write := func(listeners string) {
		cfg := fmt.Sprintf(`admin: {address: ""}
listeners:
%s
distributions:
  - name: d
    origins: [{id: o, url: "http://%s"}]
    default_cache_behavior: {target_origin: o}
`, listeners, origin)
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(`  - {protocol: HTTP, address: "127.0.0.1:0"}`)
	r := startRun(t, "-config", path, "-log-level", "warn")
	first := r.a.addrs()[0]
	reload := func(want int) []string {
		t.Helper()
		r.sigs <- syscall.SIGHUP
		for deadline := time.Now().Add(5 * time.Second); len(r.a.addrs()) != want && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
		addrs := r.a.addrs()
		if len(addrs) != want {
			t.Fatalf("after reload: %v, want %d listeners (%s)", addrs, want, r.stderr.String())
		}
		return addrs
	}
	write(`  - {protocol: HTTP, address: "127.0.0.1:0"}
  - {protocol: HTTP, address: "127.0.0.1:0", idle_timeout: 10s}`)
	addrs := reload(2)
	if addrs[0] != first {
		t.Fatalf("unchanged listener moved: %s → %s", first, addrs[0])
	}
	for _, a := range addrs {
		if code, _, body := fetch(t, "GET", "http://"+a+"/x", ""); code != 200 || body != "origin /x" {
			t.Fatalf("listener %s: %d %q", a, code, body)
		}
	}
	write(`  - {protocol: HTTP, address: "127.0.0.1:0"}`)
	reload(1)
	if _, err := (&http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}).Get("http://" + addrs[1] + "/x"); err == nil {
		t.Fatalf("removed listener %s still answers", addrs[1])
	}
	if code, _, _ := fetch(t, "GET", "http://"+first+"/x", ""); code != 200 {
		t.Fatalf("kept listener: %d", code)
	}
}

// TestAdminToken: with admin.token set every admin call but the probes
// needs the bearer token; the config endpoint never shows it.
func TestAdminToken(t *testing.T) {
	origin := startTestOrigin(t)
	path := filepath.Join(t.TempDir(), "edge.yaml")
	cfg := fmt.Sprintf(`admin: {address: "127.0.0.1:0", token: s3cr3t-token}
listeners: [{protocol: HTTP, address: "127.0.0.1:0"}]
distributions:
  - name: d
    origins: [{id: o, url: "http://%s", custom_headers: {X-Origin-Verify: origin-secret}}]
    default_cache_behavior: {target_origin: o}
`, origin)
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	r := startRun(t, "-config", path, "-log-level", "warn")
	admin := "http://" + r.a.adminAddr()
	if code, _, _ := fetch(t, "GET", admin+"/api/v1/cache", ""); code != 401 {
		t.Fatalf("no token: %d", code)
	}
	if code, _, _ := fetch(t, "POST", admin+"/api/v1/distributions/d/invalidations", `{"paths":["/*"]}`, "Authorization", "Bearer wrong"); code != 401 {
		t.Fatalf("wrong token: %d", code)
	}
	if code, _, _ := fetch(t, "GET", admin+"/healthz", ""); code != 200 {
		t.Fatalf("healthz: %d", code)
	}
	code, _, body := fetch(t, "GET", admin+"/api/v1/config", "", "Authorization", "Bearer s3cr3t-token")
	if code != 200 || strings.Contains(body, "s3cr3t-token") || strings.Contains(body, "origin-secret") {
		t.Fatalf("config: %d %s", code, body)
	}
}

// TestPortInUse: a busy listener address is one clear line naming the key
// to change, exit 1.
func TestPortInUse(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	var out, errb lockedBuf
	code := runServe([]string{"-http", busy.Addr().String(), "-admin", "127.0.0.1:0"}, &out, &errb, &hooks{signals: make(chan os.Signal)})
	if code != 1 || !strings.Contains(errb.String(), "change it with -http") || strings.Count(strings.TrimSpace(errb.String()), "\n") != 0 {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
}
