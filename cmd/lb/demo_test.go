package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
)

// TestLabDefaultRoundRobin runs `lb` with no config on free ports: three
// demo backends answer in turn through the proxy, each reporting the
// request and the client address it was given.
func TestLabDefaultRoundRobin(t *testing.T) {
	r := startInProcess(t, "-http", "127.0.0.1:0", "-tcp", "127.0.0.1:0", "-admin", "127.0.0.1:0")
	web := r.listener("web")
	admin := r.app.adminAddr()
	if web == "" || admin == "" {
		t.Fatalf("addresses: web %q admin %q", web, admin)
	}
	out := r.stdout.String()
	for _, want := range []string{"curl -s http://" + web + "/", "curl -s http://" + admin + "/api/v1/target-groups"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks the line %q:\n%s", want, out)
		}
	}
	c := newClient()

	// Wait until the checks have seen all three healthy, so the balancer
	// rotates over a stable set.
	eventually(t, 15*time.Second, "three healthy demo targets", func() bool {
		var tgs []groupView
		_, body, _ := get(t, c, "http://"+admin+"/api/v1/target-groups")
		if json.Unmarshal([]byte(body), &tgs) != nil || len(tgs) == 0 {
			return false
		}
		n := 0
		for _, tg := range tgs[0].Targets {
			if tg.State == "healthy" {
				n++
			}
		}
		return n == 3
	})

	seen := map[string]int{}
	var order []string
	for range 30 {
		code, body, hdr := get(t, c, "http://"+web+"/hello?x=1", "X-Forwarded-For", "203.0.113.7")
		if code != 200 {
			t.Fatalf("status %d: %s", code, body)
		}
		name := hdr.Get("X-Backend")
		seen[name]++
		order = append(order, name)
		// What the backend saw: the request line, and the client chain
		// with the TCP peer appended by the load balancer.
		if !strings.Contains(body, "backend: "+name) || !strings.Contains(body, "request: GET /hello?x=1 HTTP/1.1") {
			t.Fatalf("backend body lacks the request it saw:\n%s", body)
		}
		if !strings.Contains(body, "client (X-Forwarded-For): 203.0.113.7, 127.0.0.1") {
			t.Fatalf("backend did not get the appended X-Forwarded-For:\n%s", body)
		}
	}
	if len(seen) != 3 {
		t.Fatalf("answers came from %v, want demo-1..3", seen)
	}
	for name, n := range seen {
		if n != 10 {
			t.Errorf("%s answered %d of 30, want 10 (round robin): %v", name, n, order)
		}
	}
	for i := 3; i < len(order); i++ {
		if order[i] != order[i-3] {
			t.Fatalf("not a strict rotation: %v", order)
		}
	}

	// Rule 10 answers /ping itself; nothing reaches a backend.
	if code, body, _ := get(t, c, "http://"+web+"/ping"); code != 200 || body != "pong\n" {
		t.Errorf("/ping: %d %q", code, body)
	}

	// The access log went to stdout in ALB format.
	eventually(t, 5*time.Second, "access-log lines on stdout", func() bool {
		return strings.Count(r.stdout.String(), `"GET http://`+web+`/hello?x=1 HTTP/1.1"`) == 30
	})
	var tgs []groupView
	_, body, _ := get(t, c, "http://"+admin+"/api/v1/target-groups")
	if err := json.Unmarshal([]byte(body), &tgs); err != nil || len(tgs) != 2 || tgs[0].Name != "demo" || len(tgs[0].Targets) != 3 ||
		tgs[1].Name != "demo-tcp" || tgs[1].Protocol != "TCP" {
		t.Errorf("target groups: %v %s", err, body)
	}

	// The TCP listener: flow hash to a backend, which learns the client
	// from the PROXY v2 header and echoes.
	stream := r.listener("stream")
	if !strings.Contains(out, "echo hi | curl -s telnet://"+stream) {
		t.Errorf("stdout lacks the TCP try line:\n%s", out)
	}
	conn, rd, greet := dialLine(t, stream, nil)
	if !strings.Contains(greet, "hello "+conn.LocalAddr().String()+" (from the PROXY v2 header") {
		t.Errorf("TCP greeting %q, want the client %s", greet, conn.LocalAddr())
	}
	io.WriteString(conn, "hi\n")
	if line, _ := rd.ReadString('\n'); !strings.HasSuffix(line, ": echo hi\n") {
		t.Errorf("TCP echo %q", line)
	}
	conn.Close() // an open flow would hold the drain below for shutdown_timeout
	if code := r.stop(t); code != 0 {
		t.Errorf("exit %d after drain, want 0", code)
	}
}

// TestLabDefaultPortInUse names the flag to change.
func TestLabDefaultPortInUse(t *testing.T) {
	r := startInProcess(t, "-http", "127.0.0.1:0", "-tcp", "127.0.0.1:0", "-admin", "127.0.0.1:0")
	taken := r.listener("web")
	code, _, errOut := runCLI("-http", taken, "-tcp", "127.0.0.1:0", "-admin", "127.0.0.1:0")
	if code != exitRuntime {
		t.Errorf("exit %d, want 1", code)
	}
	if !strings.Contains(errOut, "address already in use (change it with -http)") {
		t.Errorf("error does not name the flag: %q", errOut)
	}
	if n := strings.Count(strings.TrimSpace(errOut), "\n"); n != 0 {
		t.Errorf("startup error is %d lines, want one:\n%s", n+1, errOut)
	}
	code, _, errOut = runCLI("-http", "127.0.0.1:0", "-tcp", r.listener("stream"), "-admin", "127.0.0.1:0")
	if code != exitRuntime || !strings.Contains(errOut, "(change it with -tcp)") {
		t.Errorf("TCP port in use: exit %d, %q", code, errOut)
	}
	code, _, errOut = runCLI("-http", "127.0.0.1:0", "-tcp", "127.0.0.1:0", "-admin", r.app.adminAddr())
	if code != exitRuntime || !strings.Contains(errOut, "(change it with -admin)") {
		t.Errorf("admin port in use: exit %d, %q", code, errOut)
	}
}

// TestDemoTCPBackend: a demo backend's TCP side greets with the client the
// PROXY v2 header names, echoes one line and closes; a LOCAL header (a
// health check) gets nothing.
func TestDemoTCPBackend(t *testing.T) {
	d, err := startDemo(1, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	addr := d.backends[0].tcpAddr
	hdr := &proxyproto.Header{Version: 2, Command: proxyproto.PROXY, TransportProtocol: proxyproto.TCPv4,
		SourceAddr:      &net.TCPAddr{IP: net.ParseIP("203.0.113.7"), Port: 4242},
		DestinationAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 8081}}
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := hdr.WriteTo(c); err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "hi\n")
	all, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("the flow did not end after one echo: %q %v", all, err)
	}
	lines := strings.Split(strings.TrimSuffix(string(all), "\n"), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "demo-1: hello 203.0.113.7:4242 (from the PROXY v2 header") || lines[1] != "demo-1: echo hi" {
		t.Errorf("got %q", all)
	}

	local, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	local.SetDeadline(time.Now().Add(10 * time.Second))
	lh := &proxyproto.Header{Version: 2, Command: proxyproto.LOCAL}
	lh.WriteTo(local)
	if all, err := io.ReadAll(local); err != nil || len(all) != 0 {
		t.Errorf("a LOCAL header got %q %v, want a silent close", all, err)
	}
}
