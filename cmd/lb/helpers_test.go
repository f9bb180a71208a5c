package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite golden files")

// syncBuffer is a bytes.Buffer safe for the logger and the test at once.
type syncBuffer = testenv.Buffer

// backend is a scripted target on 127.0.0.1:0 that records what it got.
type backend struct {
	name  string
	addr  string
	srv   *http.Server
	hits  atomic.Int64
	mu    sync.Mutex
	reqs  []*http.Request // header copies of the last requests (bounded)
	delay atomic.Int64    // ns to sleep before answering
	got   chan struct{}   // one value per request arrival (non-blocking)
}

func startBackend(t *testing.T, name string) *backend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{name: name, addr: ln.Addr().String(), got: make(chan struct{}, 1024)}
	b.srv = &http.Server{Handler: b, ReadHeaderTimeout: 5 * time.Second}
	go b.srv.Serve(ln)
	t.Cleanup(func() { b.srv.Close() })
	return b
}

func (b *backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/health" {
		w.Write([]byte("ok"))
		return
	}
	b.hits.Add(1)
	b.mu.Lock()
	if len(b.reqs) < 64 {
		b.reqs = append(b.reqs, &http.Request{Method: r.Method, URL: r.URL, Header: r.Header.Clone(), RemoteAddr: r.RemoteAddr})
	}
	b.mu.Unlock()
	select {
	case b.got <- struct{}{}:
	default:
	}
	if d := time.Duration(b.delay.Load()); d > 0 {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
	}
	io.Copy(io.Discard, r.Body)
	w.Header().Set("X-Backend", b.name)
	fmt.Fprintf(w, "%s %s", b.name, r.URL.Path)
}

func (b *backend) lastRequest() *http.Request {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.reqs) == 0 {
		return nil
	}
	return b.reqs[len(b.reqs)-1]
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	return testenv.WriteFile(t, dir, name, content)
}

// running is an lb run in-process by runServe.
type running struct {
	app    *app
	sigs   chan os.Signal
	exit   chan int
	stdout *syncBuffer
	stderr *syncBuffer
	done   bool
}

// startInProcess runs lb with args until the test ends (SIGTERM then).
func startInProcess(t *testing.T, args ...string) *running {
	t.Helper()
	r := &running{sigs: make(chan os.Signal, 4), exit: make(chan int, 1), stdout: &syncBuffer{}, stderr: &syncBuffer{}}
	started := make(chan *app, 1)
	go func() {
		r.exit <- runServe(args, r.stdout, r.stderr, &hooks{signals: r.sigs, started: func(a *app) { started <- a }})
	}()
	select {
	case r.app = <-started:
	case code := <-r.exit:
		t.Fatalf("lb exited with %d at start:\n%s%s", code, r.stdout, r.stderr)
	case <-time.After(20 * time.Second):
		t.Fatalf("lb did not start:\n%s", r.stderr)
	}
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop drains lb and returns its exit code.
func (r *running) stop(t *testing.T) int {
	t.Helper()
	if r.done {
		return -1
	}
	r.done = true
	r.sigs <- syscall.SIGTERM
	select {
	case code := <-r.exit:
		return code
	case <-time.After(40 * time.Second):
		t.Errorf("lb did not exit after SIGTERM")
		return -1
	}
}

func (r *running) listener(name string) string { return r.app.listenerAddrs()[name] }

// waitHealthy waits (bounded) until group routes to n targets, every one
// healthy: a target passes its first check on its own schedule, and until
// all have, the ones that did take every request.
func (r *running) waitHealthy(t *testing.T, group string, n int) {
	t.Helper()
	eventually(t, 15*time.Second, fmt.Sprintf("%d healthy targets in %s", n, group), func() bool {
		v := r.app.reg.Lookup(group).View()
		if len(v.Routable) != n || v.FailOpen {
			return false
		}
		for _, tg := range v.Routable {
			if tg.State().String() != "healthy" {
				return false
			}
		}
		return true
	})
}

// client is an HTTP client with bounded waits and no proxy.
func newClient() *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			Proxy: nil, MaxIdleConnsPerHost: 16,
			DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// get fetches url and returns status, body and headers.
func get(t *testing.T, c *http.Client, url string, hdr ...string) (int, string, http.Header) {
	t.Helper()
	code, h, body := testenv.Fetch(t, c, "GET", url, "", hdr...)
	return code, body, h
}

func do(t *testing.T, c *http.Client, method, url, body string, hdr ...string) (int, string) {
	t.Helper()
	code, _, b := testenv.Fetch(t, c, method, url, body, hdr...)
	return code, b
}

// eventually polls cond every 20 ms for up to d.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	testenv.Eventually(t, d, what, cond)
}

// --- the built binary ---

// lbBinary builds cmd/lb once per test run.
func lbBinary(t *testing.T) string {
	t.Helper()
	return testenv.Build(t, ".", "lb")
}

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.RemoveBuilt()
	os.Exit(code)
}

// proc is the lb binary running as a child process with JSON logs.
type proc struct {
	cmd   *exec.Cmd
	lines chan map[string]any
	exit  chan int
	log   *syncBuffer
}

func startBinary(t *testing.T, args ...string) *proc {
	t.Helper()
	bin := lbBinary(t)
	cmd := exec.Command(bin, append(args, "-log-format", "json")...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	p := &proc{cmd: cmd, lines: make(chan map[string]any, 256), exit: make(chan int, 1), log: &syncBuffer{}}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.log.Write(append(sc.Bytes(), '\n'))
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				select {
				case p.lines <- m:
				default:
				}
			}
		}
		code := 0
		if err := cmd.Wait(); err != nil {
			code = -1
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			}
		}
		p.exit <- code
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
		}
	})
	return p
}

// waitLog returns the first log record whose msg is msg.
func (p *proc) waitLog(t *testing.T, msg string) map[string]any {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case m := <-p.lines:
			if m["msg"] == msg {
				return m
			}
		case code := <-p.exit:
			p.exit <- code
			t.Fatalf("lb exited with %d before logging %q:\n%s", code, msg, p.log)
		case <-timeout:
			t.Fatalf("lb never logged %q:\n%s", msg, p.log)
		}
	}
}

func (p *proc) waitExit(t *testing.T, d time.Duration) (int, time.Duration) {
	t.Helper()
	start := time.Now()
	select {
	case code := <-p.exit:
		return code, time.Since(start)
	case <-time.After(d):
		t.Fatalf("lb did not exit within %v:\n%s", d, p.log)
		return -1, 0
	}
}

// flowTableSynced reports whether the TCP/TLS listener called name has a
// flow-hash table built from its group's current view (l4 rebuilds it off
// the accept path, so it may lag a health change by a few milliseconds).
func (r *running) flowTableSynced(name string) bool {
	r.app.mu.Lock()
	defer r.app.mu.Unlock()
	for _, ll := range r.app.live {
		if ll.cfg.Name == name && ll.l4p != nil {
			return ll.l4p.Synced()
		}
	}
	return false
}
