package testenv_test

import (
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.RemoveBuilt()
	os.Exit(code)
}

func TestDeadAddrRefusesAndWaitListening(t *testing.T) {
	addr := testenv.DeadAddr(t)
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("DeadAddr %q is not loopback", addr)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatalf("connect to dead %s succeeded", addr)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	testenv.WaitListening(t, ln.Addr().String(), 5*time.Second)
}

func TestBuildAndRun(t *testing.T) {
	dir := t.TempDir()
	testenv.WriteFile(t, dir, "go.mod", "module example.com/exit3\n\ngo 1.21\n")
	testenv.WriteFile(t, dir, "main.go", `package main

import ("fmt"; "os")

func main() { fmt.Println("out", len(os.Args)); fmt.Fprintln(os.Stderr, "err"); os.Exit(3) }
`)
	t.Chdir(dir)
	bin := testenv.Build(t, ".", "exit3")
	if again := testenv.Build(t, ".", "exit3"); again != bin {
		t.Fatalf("second Build gave %q, want the cached %q", again, bin)
	}
	if filepath.Base(bin) != "exit3" {
		t.Fatalf("binary %q", bin)
	}
	res := testenv.Run(t, 30*time.Second, bin, "a", "b")
	if res.Code != 3 || res.Stdout != "out 3\n" || res.Stderr != "err\n" {
		t.Fatalf("Run: %+v", res)
	}
}

func TestEventuallyAndBuffer(t *testing.T) {
	var b testenv.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.Write([]byte("hello"))
	}()
	testenv.Eventually(t, 5*time.Second, "the write", func() bool { return b.String() == "hello" })
	<-done
}

func TestFetch(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- r.Method + " " + r.Header.Get("X-Test") + " " + string(b)
		w.Header().Set("X-Reply", "yes")
		w.WriteHeader(201)
		io.WriteString(w, "created")
	})}
	go srv.Serve(ln)
	defer srv.Close()
	c := &http.Client{Timeout: 10 * time.Second}
	code, h, body := testenv.Fetch(t, c, "PUT", "http://"+ln.Addr().String()+"/x", "payload", "X-Test", "v")
	if code != 201 || h.Get("X-Reply") != "yes" || body != "created" {
		t.Fatalf("client got %d %v %q", code, h, body)
	}
	if g := <-got; g != "PUT v payload" {
		t.Fatalf("server got %q", g)
	}
}
