package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Buffer is a bytes.Buffer safe for a logger and the test at once.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String is everything written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// WriteFile writes content to dir/name and returns the path.
func WriteFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Eventually polls cond every 20 ms for up to d, then fails the test
// naming what it waited for. Call it from the test goroutine only.
func Eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// DeadAddr is a loopback address nothing listens on: a port the kernel
// just handed out and that was closed again. Another process may take it
// later; tests use it for refused connects, not for listening.
func DeadAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// WaitListening waits up to d until addr accepts a TCP connection.
func WaitListening(t testing.TB, addr string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listening on %s after %v: %v", addr, d, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var (
	buildMu  sync.Mutex
	buildDir string
	built    = map[string]buildResult{}
)

type buildResult struct {
	path string
	err  error
}

// Build runs `go build` of pkg once per test process and returns the
// binary, named name, from a temporary directory RemoveBuilt deletes.
// The build has 3 minutes.
func Build(t testing.TB, pkg, name string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	key := pkg + "\x00" + name
	if r, ok := built[key]; ok {
		if r.err != nil {
			t.Fatal(r.err)
		}
		return r.path
	}
	r := build(pkg, name)
	built[key] = r
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.path
}

func build(pkg, name string) buildResult {
	if buildDir == "" {
		d, err := os.MkdirTemp("", "switchyard-test-bin")
		if err != nil {
			return buildResult{err: fmt.Errorf("testenv: build %s: %w", pkg, err)}
		}
		buildDir = d
	}
	dir, err := os.MkdirTemp(buildDir, name)
	if err != nil {
		return buildResult{err: fmt.Errorf("testenv: build %s: %w", pkg, err)}
	}
	path := filepath.Join(dir, name)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "build", "-o", path, pkg).CombinedOutput()
	if err != nil {
		return buildResult{err: fmt.Errorf("testenv: go build %s: %w\n%s", pkg, err, out)}
	}
	return buildResult{path: path}
}

// RemoveBuilt deletes every binary Build made; TestMain calls it after
// m.Run.
func RemoveBuilt() {
	buildMu.Lock()
	defer buildMu.Unlock()
	if buildDir != "" {
		os.RemoveAll(buildDir)
		buildDir = ""
		built = map[string]buildResult{}
	}
}

// Result is how a command run by Run ended.
type Result struct {
	Code           int // the exit code; -1 when killed or not started
	Stdout, Stderr string
}

// Run runs name with args, killing it after d, and returns its exit code
// and output. A command that cannot start or outlives d fails the test.
func Run(t testing.TB, d time.Duration, name string, args ...string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := Result{Stdout: stdout.String(), Stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("%s %v: still running after %v:\n%s", name, args, d, res.Stderr)
	case errors.As(err, &ee):
		res.Code = ee.ExitCode()
	case err != nil:
		t.Fatalf("%s %v: %v", name, args, err)
	}
	return res
}

// Fetch sends method url with body and header pairs (name, value, …)
// through c and returns the status, headers and whole body. A transport
// error fails the test.
func Fetch(t testing.TB, c *http.Client, method, url, body string, hdr ...string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}
