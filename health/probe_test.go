package health_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/switchyard/health"
	"github.com/switchyard/switchyard/internal/runtime"
)

// rawServer accepts one connection on 127.0.0.1:0, reads the request head,
// answers with resp and reports what it received and whether the client
// closed the connection afterwards.
type rawResult struct {
	head   string
	closed bool
}

func rawServer(t *testing.T, resp string) (addr string, got <-chan rawResult) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ch := make(chan rawResult, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			ch <- rawResult{}
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		br := bufio.NewReader(c)
		var head strings.Builder
		for range 64 {
			line, err := br.ReadString('\n')
			head.WriteString(line)
			if err != nil || line == "\r\n" {
				break
			}
		}
		io.WriteString(c, resp)
		_, err = br.ReadByte() // the checker must close after the check
		ch <- rawResult{head: head.String(), closed: err == io.EOF}
	}()
	return ln.Addr().String(), ch
}

func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().String()
	ln.Close()
	return a
}

func TestProbeHTTPRequestShape(t *testing.T) {
	addr, got := rawServer(t, "HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\nok")
	cfg := health.Config{Protocol: health.HTTP, Path: "/status?full=1", Timeout: 2 * time.Second, Matcher: "200,202"}
	r := health.Probe(context.Background(), cfg, addr, health.Options{})
	if !r.OK || r.Status != 202 {
		t.Fatalf("result %+v, want pass with 202", r)
	}
	rr := <-got
	want := "GET /status?full=1 HTTP/1.1\r\nHost: " + addr + "\r\nUser-Agent: ELB-HealthChecker/2.0\r\nAccept: */*\r\nConnection: close\r\n\r\n"
	if rr.head != want {
		t.Errorf("backend received\n%q\nwant\n%q", rr.head, want)
	}
	if !rr.closed {
		t.Errorf("connection not closed after the check")
	}
}

func TestProbeHTTPMismatch(t *testing.T) {
	addr, got := rawServer(t, "HTTP/1.1 503 Service Unavailable\r\n\r\n")
	cfg := health.Config{Protocol: health.HTTP, Path: "/", Timeout: 2 * time.Second, Matcher: "200-299"}
	r := health.Probe(context.Background(), cfg, addr, health.Options{})
	if r.OK || r.Status != 503 || r.Reason != runtime.ReasonResponseCodeMismatch {
		t.Errorf("result %+v, want mismatch 503", r)
	}
	<-got
}

func TestProbeMalformedStatus(t *testing.T) {
	for _, resp := range []string{"SSH-2.0-OpenSSH\r\n", "HTTP/1.1 2000 OK\r\n", "HTTP/1.1 20 OK\r\n", "HTTP/2 200\r\n", "\r\n", strings.Repeat("x", 4000)} {
		addr, got := rawServer(t, resp)
		cfg := health.Config{Protocol: health.HTTP, Path: "/", Timeout: 2 * time.Second, Matcher: "200"}
		r := health.Probe(context.Background(), cfg, addr, health.Options{})
		if r.OK || r.Reason != runtime.ReasonFailedHealthChecks {
			t.Errorf("answer %.20q: result %+v, want FailedHealthChecks", resp, r)
		}
		<-got
	}
}

func TestProbeHTTPSWithoutVerification(t *testing.T) {
	var gotUA, gotHost string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotUA, gotHost = r.UserAgent(), r.Host
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "https://")
	cfg := health.Config{Protocol: health.HTTPS, Path: "/", Timeout: 2 * time.Second, Matcher: "200"}
	r := health.Probe(context.Background(), cfg, addr, health.Options{})
	if !r.OK {
		t.Fatalf("HTTPS check against a self-signed target: %+v (ELB does not verify)", r)
	}
	if gotUA != health.UserAgent || gotHost != addr {
		t.Errorf("target saw UA %q Host %q", gotUA, gotHost)
	}
	// A plain HTTP check against the TLS port fails.
	cfg.Protocol = health.HTTP
	if r := health.Probe(context.Background(), cfg, addr, health.Options{}); r.OK {
		t.Errorf("HTTP check against TLS passed")
	}
}

func TestProbeTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		b, _ := io.ReadAll(c)
		accepted <- b
	}()
	cfg := health.Defaults("TCP")
	cfg.Timeout = 2 * time.Second
	// The traffic port is a dead one; the check port overrides it.
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	cfg.Port, _ = strconv.Atoi(port)
	if r := health.Probe(context.Background(), cfg, deadAddr(t), health.Options{}); !r.OK {
		t.Fatalf("TCP check on the health-check port: %+v", r)
	}
	if b := <-accepted; len(b) != 0 {
		t.Errorf("TCP check sent %q", b)
	}
	cfg.Port = 0
	r := health.Probe(context.Background(), cfg, deadAddr(t), health.Options{})
	if r.OK || r.Reason != runtime.ReasonFailedHealthChecks || r.Err == nil {
		t.Errorf("refused: %+v", r)
	}
	if !strings.HasPrefix(r.Err.Error(), "health: connect 127.0.0.1:") {
		t.Errorf("error text %q", r.Err)
	}
}

// The TCP check of a group that sends PROXY v2 goes through the caller's
// dial hook, which writes a LOCAL header (l4 provides it in lb).
func TestProbeTCPDialHookProxyV2Local(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		b, _ := io.ReadAll(c)
		got <- b
	}()
	local := []byte("\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00") // v2, LOCAL, AF_UNSPEC, length 0
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if _, err := c.Write(local); err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	}
	cfg := health.Defaults("TCP")
	if r := health.Probe(context.Background(), cfg, ln.Addr().String(), health.Options{Dial: dial}); !r.OK {
		t.Fatalf("%+v", r)
	}
	if b := <-got; string(b) != string(local) {
		t.Errorf("target received %q, want the PROXY v2 LOCAL header only", b)
	}
}

func TestProbeTimeoutRealSocket(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.Copy(io.Discard, c) // reads the request, never answers
	}()
	cfg := health.Config{Protocol: health.HTTP, Path: "/", Timeout: 200 * time.Millisecond, Matcher: "200"}
	start := time.Now()
	r := health.Probe(context.Background(), cfg, ln.Addr().String(), health.Options{})
	el := time.Since(start)
	if r.OK || r.Reason != runtime.ReasonTimeout {
		t.Errorf("silent target: %+v, want Target.Timeout", r)
	}
	if el < 200*time.Millisecond || el > 3*time.Second {
		t.Errorf("gave up after %v, want about the 200ms timeout", el)
	}
	<-done
}

func TestProbeBadAddress(t *testing.T) {
	r := health.Probe(context.Background(), health.Defaults("HTTP"), "no-port", health.Options{})
	if r.OK || r.Err == nil {
		t.Errorf("%+v", r)
	}
}

func FuzzProbeStatusLine(f *testing.F) {
	for _, s := range []string{"HTTP/1.1 200 OK\r\n", "HTTP/1.0 404\r\n", "HTTP/1.1 999 x\n", "garbage\n", "HTTP/1.1 2x0\r\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, resp string) {
		cli, srv := net.Pipe()
		go func() {
			defer srv.Close()
			buf := make([]byte, 4096)
			srv.Read(buf)
			io.WriteString(srv, resp)
		}()
		dial := func(context.Context, string, string) (net.Conn, error) { return cli, nil }
		cfg := health.Config{Protocol: health.HTTP, Path: "/", Timeout: time.Second, Matcher: "200-499"}
		r := health.Probe(context.Background(), cfg, "127.0.0.1:1", health.Options{Dial: dial})
		if r.OK && (r.Status < 200 || r.Status > 499) {
			t.Errorf("passed with status %d", r.Status)
		}
		if r.OK && !strings.HasPrefix(resp, "HTTP/1.") {
			t.Errorf("passed on %q", resp)
		}
	})
}

// A checker over real sockets: the live target turns healthy after its
// first check, the dead one unhealthy after two refused connects.
func TestCheckerRealSockets(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path != "/hc" || r.UserAgent() != health.UserAgent {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	live := strings.TrimPrefix(srv.URL, "http://")
	dead := deadAddr(t)
	g := runtime.NewRegistry(nil).Group("web")
	g.Register([]runtime.TargetSpec{{Addr: live}, {Addr: dead}})
	changed := make(chan struct{}, 1)
	stop := g.Watch(func(*runtime.View) {
		select {
		case changed <- struct{}{}:
		default:
		}
	})
	defer stop()
	cfg := health.Config{Protocol: health.HTTP, Path: "/hc", Interval: 50 * time.Millisecond, Timeout: time.Second,
		HealthyThreshold: 2, UnhealthyThreshold: 2, Matcher: "200"}
	chk := health.NewChecker(g, cfg, health.Options{})
	chk.Start(context.Background())
	defer chk.Stop()
	deadline := time.After(10 * time.Second)
	for g.Lookup(live).State() != runtime.StateHealthy || g.Lookup(dead).State() != runtime.StateUnhealthy {
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("states after 10 s: live %v, dead %v/%s", g.Lookup(live).State(), g.Lookup(dead).State(), g.Lookup(dead).Reason())
		}
	}
	if r := g.Lookup(dead).Reason(); r != runtime.ReasonFailedHealthChecks {
		t.Errorf("dead target reason %s", r)
	}
	if hits.Load() < 1 {
		t.Errorf("the live backend saw no check")
	}
	if v := g.View(); len(v.Routable) != 1 || v.Routable[0].Addr != live {
		t.Errorf("routable %v", v.Routable)
	}
}
