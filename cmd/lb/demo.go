package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
)

// The lab default's well-known addresses (SPEC §3.1); -http and -admin
// move them.
const (
	demoHTTPAddr  = "127.0.0.1:8080"
	demoTCPAddr   = "127.0.0.1:8081"
	demoAdminAddr = "127.0.0.1:9901"
)

// demoBackend is one in-process target of the lab default. It answers
// every request with its name, the request it saw and the client address
// it was told about, so a user sees balancing and X-Forwarded-* at work.
type demoBackend struct {
	name    string
	addr    string // HTTP
	tcpAddr string // TCP, behind PROXY v2
	srv     *http.Server
	tcpLn   net.Listener
}

// demo is the set of lab-default backends.
type demo struct {
	backends []*demoBackend
}

// startDemo starts n backends on 127.0.0.1 ephemeral ports.
func startDemo(n int, log *slog.Logger) (*demo, error) {
	d := &demo{}
	for i := 1; i <= n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			d.Close()
			return nil, fmt.Errorf("lb: start demo backend %d: %w", i, err)
		}
		b := &demoBackend{name: fmt.Sprintf("demo-%d", i), addr: ln.Addr().String()}
		b.srv = &http.Server{
			Handler:           b,
			ReadHeaderTimeout: 5 * time.Second,
			IdleTimeout:       120 * time.Second,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		}
		go b.srv.Serve(ln)
		d.backends = append(d.backends, b)
		tln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			d.Close()
			return nil, fmt.Errorf("lb: start demo backend %d: %w", i, err)
		}
		b.tcpLn, b.tcpAddr = tln, tln.Addr().String()
		go b.serveTCP(tln)
	}
	return d, nil
}

// Close stops every backend at once; the proxy in front has drained by then.
func (d *demo) Close() {
	for _, b := range d.backends {
		b.srv.Close()
		if b.tcpLn != nil {
			b.tcpLn.Close()
		}
	}
}

// maxDemoSleep bounds /slow so a typo cannot park a goroutine for hours.
const maxDemoSleep = 30 * time.Second

func (b *demoBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/health":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
		return
	case "/slow":
		// /slow?d=2s answers after d: a request to watch drains and timeouts with.
		d, err := time.ParseDuration(r.URL.Query().Get("d"))
		if err != nil || d < 0 {
			d = 2 * time.Second
		}
		select {
		case <-time.After(min(d, maxDemoSleep)):
		case <-r.Context().Done():
			return
		}
	}
	// Read (and count) the body so uploads through the proxy can be tried.
	n, _ := io.Copy(io.Discard, io.LimitReader(r.Body, 1<<30))
	var sb strings.Builder
	fmt.Fprintf(&sb, "backend: %s (%s)\n", b.name, b.addr)
	fmt.Fprintf(&sb, "request: %s %s %s\n", r.Method, r.RequestURI, r.Proto)
	fmt.Fprintf(&sb, "host: %s\n", r.Host)
	xff := r.Header.Get("X-Forwarded-For")
	if xff == "" {
		xff = "-"
	}
	fmt.Fprintf(&sb, "client (X-Forwarded-For): %s\n", xff)
	fmt.Fprintf(&sb, "peer: %s\n", r.RemoteAddr)
	if n > 0 {
		fmt.Fprintf(&sb, "body: %d bytes\n", n)
	}
	sb.WriteString("headers:\n")
	names := make([]string, 0, len(r.Header))
	for k := range r.Header {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		for _, v := range r.Header[k] {
			fmt.Fprintf(&sb, "  %s: %s\n", k, v)
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Backend", b.name)
	io.WriteString(w, sb.String())
}

// Bounds of a demo TCP flow: a lab toy must not be a resource sink.
const (
	demoTCPIdle     = 60 * time.Second
	demoTCPMaxBytes = 1 << 20
)

// serveTCP answers flows carried by the TCP listener: each starts with a
// PROXY v2 header (a LOCAL one from health checks); the backend greets with
// its name and the client the header names, echoes one line and closes.
func (b *demoBackend) serveTCP(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go b.flow(c)
	}
}

func (b *demoBackend) flow(c net.Conn) {
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(io.LimitReader(c, demoTCPMaxBytes))
	h, err := proxyproto.Read(r)
	if err != nil {
		fmt.Fprintf(c, "%s: no PROXY v2 header: %v\n", b.name, err)
		return
	}
	if h.Command.IsLocal() {
		return // a health check
	}
	fmt.Fprintf(c, "%s: hello %s (from the PROXY v2 header; TCP peer %s)\n", b.name, h.SourceAddr, c.RemoteAddr())
	// Echo one line, then close: a one-shot exchange ends by itself under
	// curl telnet:// or nc, whatever they do with stdin's end.
	c.SetDeadline(time.Now().Add(demoTCPIdle))
	line, _ := r.ReadString('\n')
	if line != "" {
		fmt.Fprintf(c, "%s: echo %s", b.name, strings.TrimSuffix(line, "\n")+"\n")
	}
}

// configYAML is the lab default config over the running backends. It goes
// through the same loader as a user's file, so defaults and checks apply.
func (d *demo) configYAML(httpAddr, tcpAddr, adminAddr string) []byte {
	targets := make([]string, len(d.backends))
	tcpTargets := make([]string, len(d.backends))
	for i, b := range d.backends {
		targets[i] = fmt.Sprintf("%q", b.addr)
		tcpTargets[i] = fmt.Sprintf("%q", b.tcpAddr)
	}
	return fmt.Appendf(nil, `# lb lab default (SPEC §3.1): round robin over three in-process backends,
# and flow hash with PROXY v2 over their TCP sides.
admin:
  address: %q
shutdown_timeout: 30s
access_log: {path: stdout, format: alb}
listeners:
  - name: web
    protocol: HTTP
    address: %q
    rules:
      - priority: 10
        conditions: {path: ["/ping"]}
        action:
          fixed_response: {status: 200, content_type: text/plain, body: "pong\n"}
    default_action:
      forward: {target_group: demo}
  - name: stream
    protocol: TCP
    address: %q
    default_action:
      forward: {target_group: demo-tcp}
target_groups:
  - name: demo
    protocol: HTTP
    targets: [%s]
    algorithm: round_robin
    deregistration_delay: 5s
    health_check:
      path: /health
      interval: 5s
      timeout: 2s
      healthy_threshold: 2
      unhealthy_threshold: 2
  - name: demo-tcp
    protocol: TCP
    targets: [%s]
    algorithm: flow_hash
    proxy_protocol_v2: true
    deregistration_delay: 5s
    health_check: {protocol: TCP, interval: 10s, timeout: 5s}
`, adminAddr, httpAddr, tcpAddr, strings.Join(targets, ", "), strings.Join(tcpTargets, ", "))
}

// printTry writes the curl lines to try against the running lab default.
func printTry(w io.Writer, httpAddr, tcpAddr, adminAddr string) {
	fmt.Fprintf(w, `
lb lab default is up: three demo backends behind http://%[1]s (round robin)
and tcp://%[3]s (flow hash, PROXY v2 to the backends)
try:
  curl -s http://%[1]s/                      # a different backend each time
  curl -s http://%[1]s/ping                  # a fixed response from rule 10
  curl -s -H 'X-Forwarded-For: 203.0.113.7' http://%[1]s/   # XFF appended
  echo hi | curl -s telnet://%[3]s      # TCP: a backend greets with your address, echoes
  curl -s http://%[2]s/api/v1/target-groups  # target health
  curl -s http://%[2]s/metrics | grep ^lb_   # Prometheus metrics
  open http://%[2]s/                         # status page
  kill -HUP <pid> reloads, Ctrl-C drains and exits

`, httpAddr, adminAddr, tcpAddr)
}

// errAddrInUse reports whether err is a listen on a taken port.
func errAddrInUse(err error) bool { return errors.Is(err, syscall.EADDRINUSE) }
