package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"
)

func drainConfig(backend, shutdown string) string {
	return fmt.Sprintf(`admin: {address: "127.0.0.1:0"}
shutdown_timeout: %s
access_log: {path: ""}
listeners:
  - name: web
    protocol: HTTP
    address: "127.0.0.1:0"
    default_action: {forward: {target_group: web}}
target_groups:
  - name: web
    protocol: HTTP
    targets: [%q]
    health_check: {path: /health, interval: 5s, timeout: 2s}
`, shutdown, backend)
}

// slowRequest sends GET /slow on its own keep-alive connection and
// delivers the response (or error) on the returned channel.
type slowResult struct {
	status int
	body   string
	close  bool
	err    error
}

func sendSlow(t *testing.T, addr string) <-chan slowResult {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ch := make(chan slowResult, 1)
	go func() {
		conn.SetDeadline(time.Now().Add(60 * time.Second))
		if _, err := io.WriteString(conn, "GET /slow HTTP/1.1\r\nHost: lb.test\r\n\r\n"); err != nil {
			ch <- slowResult{err: err}
			return
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			ch <- slowResult{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		ch <- slowResult{status: resp.StatusCode, body: string(b), close: resp.Close, err: err}
	}()
	return ch
}

// TestSIGTERMDrain runs the built binary: a 3 s request is in flight when
// SIGTERM arrives; readiness turns 503, new connections are refused, the
// request completes 200 with Connection: close, and lb exits 0.
func TestSIGTERMDrain(t *testing.T) {
	b := startBackend(t, "slow")
	b.delay.Store(int64(3 * time.Second))
	path := writeFile(t, t.TempDir(), "lb.yaml", drainConfig(b.addr, "10s"))
	p := startBinary(t, "-config", path)
	web := p.waitLog(t, "listening")["address"].(string)
	admin := "http://" + p.waitLog(t, "admin listening")["address"].(string)
	p.waitLog(t, "lb started") // logged once ready
	c := newClient()
	if code, _, _ := get(t, c, admin+"/readyz"); code != 200 {
		t.Fatalf("readyz before drain: %d", code)
	}

	res := sendSlow(t, web)
	select {
	case <-b.got:
	case <-time.After(10 * time.Second):
		t.Fatal("the slow request never reached the backend")
	}
	sent := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}

	eventually(t, 5*time.Second, "readyz 503", func() bool {
		resp, err := c.Get(admin + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 503
	})
	eventually(t, 5*time.Second, "new connections to be refused", func() bool {
		conn, err := net.DialTimeout("tcp", web, time.Second)
		if err == nil {
			conn.Close()
		}
		return err != nil
	})
	// Both were seen while the request was still in flight.
	select {
	case r := <-res:
		t.Fatalf("the in-flight request ended (%d) before readiness and refusal were observed, %v after SIGTERM", r.status, time.Since(sent))
	default:
	}

	select {
	case r := <-res:
		if r.err != nil || r.status != 200 || r.body != "slow /slow" {
			t.Errorf("in-flight request: %d %q %v, want 200 from the backend", r.status, r.body, r.err)
		}
		if !r.close {
			t.Error("the response during drain lacks Connection: close")
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the in-flight request never completed")
	}
	if n := b.hits.Load(); n != 1 {
		t.Errorf("backend served %d requests, want 1", n)
	}
	code, _ := p.waitExit(t, 15*time.Second)
	if code != 0 {
		t.Errorf("exit code %d after a clean drain, want 0\n%s", code, p.log)
	}
}

// TestSecondSignalExitsAtOnce: a second SIGTERM during a drain that would
// last 20 s ends the process at once.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	b := startBackend(t, "stuck")
	b.delay.Store(int64(20 * time.Second))
	path := writeFile(t, t.TempDir(), "lb.yaml", drainConfig(b.addr, "30s"))
	p := startBinary(t, "-config", path)
	web := p.waitLog(t, "listening")["address"].(string)
	p.waitLog(t, "admin listening")

	sendSlow(t, web)
	select {
	case <-b.got:
	case <-time.After(10 * time.Second):
		t.Fatal("the slow request never reached the backend")
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.waitLog(t, "draining")
	p.cmd.Process.Signal(syscall.SIGINT)
	code, took := p.waitExit(t, 5*time.Second)
	if code != exitRuntime {
		t.Errorf("exit code %d after a second signal, want 1", code)
	}
	if took > 3*time.Second {
		t.Errorf("took %v to exit after the second signal", took)
	}
}
