package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// needTool skips loudly when an interop program is missing, and fails
// under CI=true, where scripts/test-deps.sh installs it.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required under CI=true (scripts/test-deps.sh installs it): %v", name, err)
		}
		t.Skipf("SKIPPING: %s not installed (%v); apt-get install pebble to run this interop test", name, err)
	}
	return p
}

// freePort returns a loopback TCP port that was free a moment ago (the
// Pebble config needs the number before lb listens).
func freePort(t *testing.T, network string) int {
	t.Helper()
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if network != "udp" {
			return port
		}
		if u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			u.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// helperProc is a started interop program whose output is kept for failures.
type helperProc struct {
	cmd *exec.Cmd
	out *syncBuffer
}

func startHelper(t *testing.T, env []string, name string, args ...string) *helperProc {
	t.Helper()
	out := &syncBuffer{}
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &helperProc{cmd: cmd, out: out}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(name), out)
		}
	})
	return p
}

// pebbleCA is a running Pebble with its challenge test DNS server, which
// resolves every name to 127.0.0.1.
type pebbleCA struct {
	directory string
	apiCert   string // Pebble's API certificate, for acme.ca_roots
	issuer    *x509.CertPool
}

// startPebble runs Pebble validating HTTP-01 on httpPort and TLS-ALPN-01
// on tlsPort of 127.0.0.1, and waits for its directory and issuing root.
func startPebble(t *testing.T, dir string, httpPort, tlsPort int) *pebbleCA {
	t.Helper()
	pebble := needTool(t, "pebble")
	challtest := needTool(t, "pebble-challtestsrv")
	apiCert, apiKey, _ := selfSigned(t, dir, "localhost") // Pebble's API certificate (127.0.0.1 too)

	dnsPort, listenPort, mgmtPort := freePort(t, "udp"), freePort(t, "tcp"), freePort(t, "tcp")
	startHelper(t, nil, challtest,
		"-dns01", fmt.Sprintf("127.0.0.1:%d", dnsPort), "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
		"-http01", "", "-https01", "", "-tlsalpn01", "", "-management", fmt.Sprintf("127.0.0.1:%d", freePort(t, "tcp")))
	pcfg, _ := json.Marshal(map[string]any{"pebble": map[string]any{
		"listenAddress":           fmt.Sprintf("127.0.0.1:%d", listenPort),
		"managementListenAddress": fmt.Sprintf("127.0.0.1:%d", mgmtPort),
		"certificate":             apiCert, "privateKey": apiKey,
		"httpPort": httpPort, "tlsPort": tlsPort,
		"ocspResponderURL": "", "externalAccountBindingRequired": false,
	}})
	pcfgPath := writeFile(t, dir, "pebble.json", string(pcfg))
	startHelper(t, []string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0"},
		pebble, "-config", pcfgPath, "-dnsserver", fmt.Sprintf("127.0.0.1:%d", dnsPort))

	apiRoots := x509.NewCertPool()
	pemAPI, _ := os.ReadFile(apiCert)
	apiRoots.AppendCertsFromPEM(pemAPI)
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: apiRoots}}}
	ca := &pebbleCA{directory: fmt.Sprintf("https://127.0.0.1:%d/dir", listenPort), apiCert: apiCert}
	eventually(t, 15*time.Second, "pebble's directory", func() bool {
		resp, err := hc.Get(ca.directory)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	// Pebble's issuing root, to verify what lb serves.
	eventually(t, 15*time.Second, "pebble's root", func() bool {
		for _, scheme := range []string{"https", "http"} {
			resp, err := hc.Get(fmt.Sprintf("%s://127.0.0.1:%d/roots/0", scheme, mgmtPort))
			if err != nil {
				continue
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if p := x509.NewCertPool(); resp.StatusCode == 200 && p.AppendCertsFromPEM(body) {
				ca.issuer = p
				return true
			}
		}
		return false
	})
	return ca
}

// fetchIssued waits until addr serves a certificate for name that the
// CA issued, and returns the response to GET path through it.
func (ca *pebbleCA) fetchIssued(t *testing.T, addr, name, path string) (*http.Response, string) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: ca.issuer, ServerName: name}, DisableKeepAlives: true}}
	var resp *http.Response
	eventually(t, 60*time.Second, "a certificate issued by pebble", func() bool {
		var err error
		resp, err = client.Get("https://" + addr + path)
		return err == nil
	})
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if leaf := resp.TLS.PeerCertificates[0]; len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != name {
		t.Errorf("served names %v, want [%s]", leaf.DNSNames, name)
	}
	return resp, string(body)
}

// TestACMEWithPebble: an HTTPS listener with only an acme block gets its
// certificate from Pebble over TLS-ALPN-01 answered on the listener itself,
// then serves it and forwards.
func TestACMEWithPebble(t *testing.T) {
	b := startBackend(t, "b1")
	dir := t.TempDir()
	tlsPort := freePort(t, "tcp")
	ca := startPebble(t, dir, freePort(t, "tcp"), tlsPort)

	cfg := fmt.Sprintf(`admin: {address: "127.0.0.1:0"}
access_log: {path: ""}
listeners:
  - name: secure
    protocol: HTTPS
    address: "127.0.0.1:%d"
    acme:
      directory: %q
      email: ops@example.com
      domains: [app.example.com]
      cache_dir: %q
      ca_roots: %q
    default_action: {forward: {target_group: web}}
target_groups:
  - name: web
    targets: [%q]
    health_check: {path: /health, interval: 5s, timeout: 2s}
`, tlsPort, ca.directory, filepath.Join(dir, "acme"), ca.apiCert, b.addr)
	r := startInProcess(t, "-config", writeFile(t, dir, "lb.yaml", cfg))
	resp, body := ca.fetchIssued(t, r.listener("secure"), "app.example.com", "/acme")
	if resp.StatusCode != 200 || body != "b1 /acme" {
		t.Errorf("through the ACME certificate: %d %q", resp.StatusCode, body)
	}
	// The certificate and account key were cached for the next start.
	entries, _ := os.ReadDir(filepath.Join(dir, "acme"))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(entries) < 2 {
		t.Errorf("acme cache_dir holds %v, want the account key and the certificate", names)
	}
	m := scrapeMetrics(t, newClient(), "http://"+r.app.adminAddr())
	for series, want := range map[string]float64{
		`lb_acme_failing_domains{listener="secure"}`: 0,
		`lb_acme_issued_total{listener="secure"}`:    1,
		`lb_acme_orders_total{listener="secure"}`:    1,
		`lb_acme_failures_total{listener="secure"}`:  0,
	} {
		if v, ok := m[series]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", series, v, ok, want)
		}
	}
	var days float64
	for k, v := range m {
		if strings.HasPrefix(k, `lb_certificate_expiry_days{certificate=`) && strings.Contains(k, `listener="secure"`) {
			days = v
		}
	}
	if days < 1 {
		t.Errorf("lb_certificate_expiry_days for the issued certificate = %v, want > 1", days)
	}
}

// TestACMEHTTP01WithPebble: with nothing answering TLS-ALPN-01 where
// Pebble looks for it, the HTTPS listener's certificate is issued over
// HTTP-01, answered by lb's HTTP listener before a rule (and a default
// action) that would otherwise send the path to a target.
func TestACMEHTTP01WithPebble(t *testing.T) {
	b := startBackend(t, "b1")
	dir := t.TempDir()
	httpPort := freePort(t, "tcp")
	ca := startPebble(t, dir, httpPort, freePort(t, "tcp")) // nothing listens on the TLS-ALPN-01 port

	cfg := fmt.Sprintf(`admin: {address: "127.0.0.1:0"}
access_log: {path: ""}
listeners:
  - name: plain
    protocol: HTTP
    address: "127.0.0.1:%d"
    rules:
      - priority: 1
        conditions: {path: ["/.well-known/*"]}
        action: {forward: {target_group: web}}
    default_action: {forward: {target_group: web}}
  - name: secure
    protocol: HTTPS
    address: "127.0.0.1:0"
    acme:
      directory: %q
      email: ops@example.com
      domains: [http01.example.com]
      cache_dir: %q
      ca_roots: %q
    default_action: {forward: {target_group: web}}
target_groups:
  - name: web
    targets: [%q]
    health_check: {path: /health, interval: 5s, timeout: 2s}
`, httpPort, ca.directory, filepath.Join(dir, "acme"), ca.apiCert, b.addr)
	r := startInProcess(t, "-config", writeFile(t, dir, "lb.yaml", cfg))
	resp, body := ca.fetchIssued(t, r.listener("secure"), "http01.example.com", "/h")
	if resp.StatusCode != 200 || body != "b1 /h" {
		t.Errorf("through the ACME certificate: %d %q", resp.StatusCode, body)
	}
	b.mu.Lock()
	for _, q := range b.reqs {
		if strings.HasPrefix(q.URL.Path, "/.well-known/") {
			t.Errorf("the target got the challenge request %s", q.URL.Path)
		}
	}
	b.mu.Unlock()
	// A path under the challenge prefix with no pending token still goes
	// through the rules to the target.
	code, got, _ := get(t, newClient(), fmt.Sprintf("http://127.0.0.1:%d/.well-known/acme-challenge/unknown", httpPort))
	if code != 200 || got != "b1 /.well-known/acme-challenge/unknown" {
		t.Errorf("unknown token: %d %q, want the target's answer", code, got)
	}
	m := scrapeMetrics(t, newClient(), "http://"+r.app.adminAddr())
	if v := m[`lb_acme_issued_total{listener="secure"}`]; v != 1 {
		t.Errorf("lb_acme_issued_total = %v, want 1", v)
	}
}
