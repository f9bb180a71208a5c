package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/internal/obs"
	"github.com/switchyard/switchyard/l4"
)

// startTLSBackend is a TLS target with a self-signed certificate for
// "target.internal": it greets with its name and the SNI it was sent,
// then echoes lines.
func startTLSBackend(t *testing.T, name string) string {
	t.Helper()
	dir := t.TempDir()
	certPath, keyPath, _ := selfSigned(t, dir, "target.internal")
	cert, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
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
				c.SetDeadline(time.Now().Add(20 * time.Second))
				tc := c.(*tls.Conn)
				if err := tc.Handshake(); err != nil {
					return
				}
				fmt.Fprintf(c, "%s sni=%s\n", name, tc.ConnectionState().ServerName)
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					io.WriteString(c, "echo "+line)
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// waitLogLines waits until path holds n lines starting with prefix and
// returns them.
func waitLogLines(t *testing.T, path, prefix string, n int) []string {
	t.Helper()
	var lines []string
	eventually(t, 10*time.Second, fmt.Sprintf("%d %q access-log lines", n, prefix), func() bool {
		data, _ := os.ReadFile(path)
		lines = lines[:0]
		for _, l := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(l, prefix) {
				lines = append(lines, l)
			}
		}
		return len(lines) >= n
	})
	return lines
}

// TestTCPFlowAccessLog: one flow through a TCP listener writes one "tcp"
// access-log line with the client, target, target group and the exact
// byte counts both ways; a TLS listener's flow writes a "tls" line with
// the SNI and a handshake time. The flow also shows in the live flow
// counters.
func TestTCPFlowAccessLog(t *testing.T) {
	plain := startTCPBackend(t, "plain", false)
	dir := t.TempDir()
	certPath, keyPath, cert := selfSigned(t, dir, "tls.example")
	logPath := filepath.Join(dir, "access.log")
	cfg := fmt.Sprintf(`admin: {address: "127.0.0.1:0"}
access_log: {path: %q}
listeners:
  - name: stream
    protocol: TCP
    address: "127.0.0.1:0"
    default_action: {forward: {target_group: plain}}
  - name: secure-stream
    protocol: TLS
    address: "127.0.0.1:0"
    certificates: [{cert: %q, key: %q}]
    default_action: {forward: {target_group: plain}}
target_groups:
  - name: plain
    protocol: TCP
    targets: [%q]
    health_check: {protocol: TCP, interval: 5s, timeout: 2s}
`, logPath, certPath, keyPath, plain.addr)
	r := startInProcess(t, "-config", writeFile(t, dir, "lb.yaml", cfg))
	stream := r.listener("stream")

	c, rd, greet := dialLine(t, stream, nil)
	io.WriteString(c, "hello\n")
	echo, _ := rd.ReadString('\n')
	if echo != "echo hello\n" {
		t.Fatalf("echo %q", echo)
	}
	client := c.LocalAddr().String()
	c.Close()
	line := waitLogLines(t, logPath, "tcp ", 1)[0]
	f := strings.Fields(line)
	if len(f) != 16 {
		t.Fatalf("tcp line has %d fields, want 16: %s", len(f), line)
	}
	want := map[int]string{
		2: "net/lb/stream", 3: client, 4: stream, 5: plain.addr,
		8: "6", 9: strconv.Itoa(len(greet) + len(echo)), 11: "targetgroup/plain",
		12: `"-"`, 13: `"client_close"`, 14: `"-"`,
	}
	for i, w := range want {
		if f[i] != w {
			t.Errorf("field %d = %s, want %s: %s", i, f[i], w, line)
		}
	}
	if f[7] != "-1" {
		t.Errorf("tls_handshake_time of a TCP flow = %s, want -1", f[7])
	}
	if d, err := strconv.ParseFloat(f[6], 64); err != nil || d < 0 || d > 5 {
		t.Errorf("connect_time %s", f[6])
	}

	pool := newPool(cert)
	tc, trd, tgreet := dialLine(t, r.listener("secure-stream"), &tls.Config{RootCAs: pool, ServerName: "tls.example"})
	io.WriteString(tc, "over tls\n")
	techo, _ := trd.ReadString('\n')
	tc.Close()
	tline := waitLogLines(t, logPath, "tls ", 1)[0]
	tf := strings.Fields(tline)
	if len(tf) != 16 || tf[2] != "net/lb/secure-stream" || tf[8] != "9" || tf[9] != strconv.Itoa(len(tgreet)+len(techo)) ||
		tf[12] != `"tls.example"` || tf[7] == "-1" {
		t.Errorf("tls line: %s", tline)
	}
	if n := len(waitLogLines(t, logPath, "tcp ", 1)); n != 1 {
		t.Errorf("%d tcp lines for one flow", n)
	}

	m := scrapeMetrics(t, newClient(), "http://"+r.app.adminAddr())
	for series, want := range map[string]float64{
		`lb_new_flows_total{listener="stream"}`:                       1,
		`lb_processed_bytes_total{direction="in",listener="stream"}`:  6,
		`lb_processed_bytes_total{direction="out",listener="stream"}`: float64(len(greet) + len(echo)),
		`lb_target_connect_errors_total{listener="stream"}`:           0,
	} {
		if v, ok := m[series]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", series, v, ok, want)
		}
	}
}

// TestTLSTargetGroup: a TCP listener forwarding to a target group with
// protocol TLS speaks TLS to the target without verifying its
// self-signed certificate (as ELB does), and plaintext to the client.
func TestTLSTargetGroup(t *testing.T) {
	target := startTLSBackend(t, "tls-target")
	dir := t.TempDir()
	cfg := fmt.Sprintf(`admin: {address: ""}
access_log: {path: ""}
listeners:
  - name: stream
    protocol: TCP
    address: "127.0.0.1:0"
    default_action: {forward: {target_group: secure}}
target_groups:
  - name: secure
    protocol: TLS
    targets: [%q]
    health_check: {protocol: TCP, interval: 5s, timeout: 2s}
`, target)
	r := startInProcess(t, "-config", writeFile(t, dir, "lb.yaml", cfg))
	c, rd, greet := dialLine(t, r.listener("stream"), nil)
	if !strings.HasPrefix(greet, "tls-target sni=") {
		t.Fatalf("greeting over the TLS target connection: %q", greet)
	}
	io.WriteString(c, "plain to tls\n")
	if got, _ := rd.ReadString('\n'); got != "echo plain to tls\n" {
		t.Errorf("echo through the TLS target: %q", got)
	}
}

// TestTCPListenerNoKeepAlive: TCP listener sockets accept without TCP
// keep-alive; HTTP listener sockets keep Go's default.
func TestTCPListenerNoKeepAlive(t *testing.T) {
	for proto, want := range map[string]int{"TCP": 0, "HTTP": 1} {
		ln, err := listen(configListener(proto))
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan int, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				done <- -1
				return
			}
			defer c.Close()
			done <- soKeepAlive(c.(*net.TCPConn))
		}()
		d, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-done:
			if got != want {
				t.Errorf("%s listener: SO_KEEPALIVE = %d, want %d", proto, got, want)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("%s listener: no accept", proto)
		}
		d.Close()
		ln.Close()
	}
}

func configListener(protocol string) config.Listener {
	return config.Listener{Name: "k", Protocol: protocol, Address: "127.0.0.1:0"}
}

// soKeepAlive reads SO_KEEPALIVE of c: 1 on, 0 off.
func soKeepAlive(c *net.TCPConn) int {
	raw, err := c.SyscallConn()
	if err != nil {
		return -1
	}
	v := -1
	raw.Control(func(fd uintptr) {
		if n, err := syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE); err == nil {
			v = min(n, 1)
		}
	})
	return v
}

func newPool(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

// TestObserveFlowAllocs: counting an ended flow and writing its access-log
// line costs no allocation for a flow that ended normally.
func TestObserveFlowAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	a := newApp(slog.New(slog.DiscardHandler), io.Discard, io.Discard, "test", nil)
	a.cur.Store(&snapshot{cfg: &config.LB{}, flows: map[string]*flowListener{
		"stream": {m: a.metrics.Flows("stream", "db"), group: "db", typ: "tcp", elb: "net/lb/stream", arn: "targetgroup/db"},
	}})
	al := obs.NewAccessLog(io.Discard, obs.FormatALB, obs.DefaultBufferSize, nil)
	defer al.Close()
	a.accessLog.Store(al)
	rec := &l4.Record{
		Listener: "stream", TargetGroup: "db", Client: netip.MustParseAddrPort("127.0.0.1:5555"),
		Destination: netip.MustParseAddrPort("127.0.0.1:8081"), Target: "127.0.0.1:9001",
		Start: time.Now(), ConnectTime: time.Millisecond, Received: 10, Sent: 20,
		Duration: time.Second, CloseReason: l4.ReasonClientClose,
	}
	if n := testing.AllocsPerRun(500, func() { a.observeFlow(rec) }); n != 0 {
		t.Errorf("observeFlow allocates %v times per flow", n)
	}
}
