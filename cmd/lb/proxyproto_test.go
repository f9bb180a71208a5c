package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestProxyProtocolIn: an HTTP listener behind a trusted load balancer
// takes the client address from the PROXY header (X-Forwarded-For and the
// access log show it); a peer that sends no header is refused.
func TestProxyProtocolIn(t *testing.T) {
	b := startBackend(t, "b1")
	cfg := fmt.Sprintf(`admin: {address: ""}
access_log: {path: stdout, format: json}
listeners:
  - name: web
    protocol: HTTP
    address: "127.0.0.1:0"
    proxy_protocol: {trusted: [127.0.0.0/8]}
    default_action: {forward: {target_group: web}}
target_groups:
  - name: web
    targets: [%q]
    health_check: {path: /health, interval: 5s, timeout: 2s}
`, b.addr)
	r := startInProcess(t, "-config", writeFile(t, t.TempDir(), "lb.yaml", cfg))
	addr := r.listener("web")

	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(conn, "PROXY TCP4 203.0.113.9 127.0.0.1 5555 80\r\nGET /pp HTTP/1.1\r\nHost: lb.test\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "b1 /pp" {
		t.Fatalf("through PROXY v1: %d %q", resp.StatusCode, body)
	}
	if got := b.lastRequest().Header.Get("X-Forwarded-For"); got != "203.0.113.9" {
		t.Errorf("backend got X-Forwarded-For %q, want the carried client 203.0.113.9", got)
	}
	eventually(t, 5*time.Second, "the access-log line", func() bool {
		return strings.Contains(r.stdout.String(), `"client":"203.0.113.9:5555"`)
	})

	// No header from a trusted peer: the connection is refused, nothing forwarded.
	hits := b.hits.Load()
	plain, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	plain.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(plain, "GET /nohdr HTTP/1.1\r\nHost: lb.test\r\n\r\n")
	reply, _ := io.ReadAll(plain)
	if strings.HasPrefix(string(reply), "HTTP/1.1 200") || b.hits.Load() != hits {
		t.Errorf("a request without a PROXY header was served: %q", reply)
	}
}
