package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
)

// tcpBackend reads a PROXY v2 header (when it expects one), greets with
// its name and the client address it was told, then echoes lines.
type tcpBackend struct {
	name  string
	addr  string
	flows atomic.Int64
	local atomic.Int64 // LOCAL headers (health checks)
}

func startTCPBackend(t *testing.T, name string, proxyV2 bool) *tcpBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	b := &tcpBackend{name: name, addr: ln.Addr().String()}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go b.serve(c, proxyV2)
		}
	}()
	return b
}

func (b *tcpBackend) serve(c net.Conn, proxyV2 bool) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(c)
	client := c.RemoteAddr().String()
	if proxyV2 {
		h, err := proxyproto.Read(r)
		if err != nil {
			fmt.Fprintf(c, "no proxy header: %v\n", err)
			return
		}
		if h.Command.IsLocal() {
			b.local.Add(1)
			return
		}
		client = h.SourceAddr.String() + " (PROXY v" + fmt.Sprint(h.Version) + ")"
	}
	b.flows.Add(1)
	fmt.Fprintf(c, "%s client=%s\n", b.name, client)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		io.WriteString(c, "echo "+line)
	}
}

func dialLine(t *testing.T, addr string, tlsCfg *tls.Config) (net.Conn, *bufio.Reader, string) {
	t.Helper()
	var c net.Conn
	var err error
	d := &net.Dialer{Timeout: 5 * time.Second}
	if tlsCfg != nil {
		c, err = tls.DialWithDialer(d, "tcp", addr, tlsCfg)
	} else {
		c, err = d.Dial("tcp", addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	greet, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("greeting: %v", err)
	}
	return c, r, greet
}

// TestTCPAndTLSListeners: a TCP listener carries flows by flow hash with a
// PROXY v2 header to the targets; a TLS listener terminates TLS and carries
// plaintext; both show in the flow metrics; a reload updates a TCP
// listener in place.
func TestTCPAndTLSListeners(t *testing.T) {
	b1, b2 := startTCPBackend(t, "t1", true), startTCPBackend(t, "t2", true)
	plain := startTCPBackend(t, "plain", false)
	dir := t.TempDir()
	certPath, keyPath, cert := selfSigned(t, dir, "tls.example")
	cfg := func(idle string) string {
		return fmt.Sprintf(`admin: {address: "127.0.0.1:0"}
access_log: {path: ""}
listeners:
  - name: stream
    protocol: TCP
    address: "127.0.0.1:0"
    idle_timeout: %s
    default_action: {forward: {target_group: db}}
  - name: secure-stream
    protocol: TLS
    address: "127.0.0.1:0"
    certificates: [{cert: %q, key: %q}]
    default_action: {forward: {target_group: plain}}
target_groups:
  - name: db
    protocol: TCP
    targets: [%q, %q]
    algorithm: flow_hash
    proxy_protocol_v2: true
    health_check: {protocol: TCP, interval: 5s, timeout: 2s}
  - name: plain
    protocol: TCP
    targets: [%q]
    health_check: {protocol: TCP, interval: 5s, timeout: 2s}
`, idle, certPath, keyPath, b1.addr, b2.addr, plain.addr)
	}
	path := writeFile(t, dir, "lb.yaml", cfg("350s"))
	r := startInProcess(t, "-config", path)
	stream := r.listener("stream")
	// Flows spread over the healthy targets: wait until both passed their
	// first check, or the first to pass takes every flow meanwhile.
	r.waitHealthy(t, "db", 2)
	eventually(t, 5*time.Second, "the flow table built from that view", func() bool { return r.flowTableSynced("stream") })

	seen := map[string]int{}
	for i := range 12 {
		c, rd, greet := dialLine(t, stream, nil)
		name, client, _ := strings.Cut(strings.TrimSpace(greet), " client=")
		seen[name]++
		// The target learnt the true client from the PROXY v2 header.
		local := c.LocalAddr().String()
		if client != local+" (PROXY v2)" {
			t.Fatalf("target saw client %q, want %s (PROXY v2)", client, local)
		}
		fmt.Fprintf(c, "hello %d\n", i)
		if got, _ := rd.ReadString('\n'); got != fmt.Sprintf("echo hello %d\n", i) {
			t.Fatalf("echo: %q", got)
		}
		c.Close()
	}
	if len(seen) != 2 {
		t.Errorf("12 flows went to %v, want both targets", seen)
	}

	pool := x509.NewCertPool()
	pool.AddCert(cert)
	c, rd, greet := dialLine(t, r.listener("secure-stream"), &tls.Config{RootCAs: pool, ServerName: "tls.example"})
	if !strings.HasPrefix(greet, "plain client=127.0.0.1:") {
		t.Errorf("TLS listener greeting %q", greet)
	}
	io.WriteString(c, "over tls\n")
	if got, _ := rd.ReadString('\n'); got != "echo over tls\n" {
		t.Errorf("TLS echo %q", got)
	}
	c.Close()

	admin := "http://" + r.app.adminAddr()
	hc := newClient()
	eventually(t, 10*time.Second, "flow metrics", func() bool {
		m := scrapeMetrics(t, hc, admin)
		return m[`lb_flows_total{listener="stream",result="ok",target_group="db"}`] == 12 &&
			m[`lb_flows_total{listener="secure-stream",result="ok",target_group="plain"}`] == 1 &&
			m[`lb_active_flows{listener="stream"}`] == 0 && m[`lb_client_tls_handshake_errors_total{listener="secure-stream"}`] == 0
	})

	certOK := false
	for k, v := range scrapeMetrics(t, hc, admin) {
		if strings.HasPrefix(k, `lb_certificate_expiry_days{`) && strings.Contains(k, `listener="secure-stream"`) && v > 0.9 && v < 1.1 {
			certOK = true
		}
	}
	if !certOK {
		t.Error("no lb_certificate_expiry_days of about 1 day for the TLS listener's certificate")
	}

	// A reload that changes the idle timeout updates the TCP listener in
	// place: same socket, and a flow open across the reload keeps going.
	open, ord, _ := dialLine(t, stream, nil)
	replaceFile(t, path, cfg("300s"))
	r.sigs <- syscall.SIGHUP
	eventually(t, 10*time.Second, "the reload", func() bool { return r.app.applied.Load() == 2 })
	if got := r.listener("stream"); got != stream {
		t.Errorf("TCP listener moved from %s to %s", stream, got)
	}
	io.WriteString(open, "still here\n")
	if got, _ := ord.ReadString('\n'); got != "echo still here\n" {
		t.Errorf("flow across the reload: %q", got)
	}
	if _, _, greet := dialLine(t, stream, nil); !strings.Contains(greet, "(PROXY v2)") {
		t.Errorf("new flow after reload: %q", greet)
	}
	// Health checks reached the PROXY v2 targets with LOCAL headers.
	eventually(t, 10*time.Second, "LOCAL health checks", func() bool { return b1.local.Load() > 0 && b2.local.Load() > 0 })
}
