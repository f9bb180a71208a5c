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

// TestACMEWithPebble: an HTTPS listener with only an acme block gets its
// certificate from Pebble over TLS-ALPN-01 answered on the listener itself,
// then serves it and forwards.
func TestACMEWithPebble(t *testing.T) {
	pebble := needTool(t, "pebble")
	challtest := needTool(t, "pebble-challtestsrv")
	b := startBackend(t, "b1")
	dir := t.TempDir()
	apiCert, apiKey, _ := selfSigned(t, dir, "localhost") // Pebble's API certificate (127.0.0.1 too)

	dnsPort, listenPort, mgmtPort, tlsPort := freePort(t, "udp"), freePort(t, "tcp"), freePort(t, "tcp"), freePort(t, "tcp")
	startHelper(t, nil, challtest,
		"-dns01", fmt.Sprintf("127.0.0.1:%d", dnsPort), "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
		"-http01", "", "-https01", "", "-tlsalpn01", "", "-management", fmt.Sprintf("127.0.0.1:%d", freePort(t, "tcp")))
	pcfg, _ := json.Marshal(map[string]any{"pebble": map[string]any{
		"listenAddress":           fmt.Sprintf("127.0.0.1:%d", listenPort),
		"managementListenAddress": fmt.Sprintf("127.0.0.1:%d", mgmtPort),
		"certificate":             apiCert, "privateKey": apiKey,
		"httpPort": freePort(t, "tcp"), "tlsPort": tlsPort,
		"ocspResponderURL": "", "externalAccountBindingRequired": false,
	}})
	pcfgPath := writeFile(t, dir, "pebble.json", string(pcfg))
	startHelper(t, []string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0"},
		pebble, "-config", pcfgPath, "-dnsserver", fmt.Sprintf("127.0.0.1:%d", dnsPort))

	apiRoots := x509.NewCertPool()
	pemAPI, _ := os.ReadFile(apiCert)
	apiRoots.AppendCertsFromPEM(pemAPI)
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: apiRoots}}}
	directory := fmt.Sprintf("https://127.0.0.1:%d/dir", listenPort)
	eventually(t, 15*time.Second, "pebble's directory", func() bool {
		resp, err := hc.Get(directory)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})

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
`, tlsPort, directory, filepath.Join(dir, "acme"), apiCert, b.addr)
	r := startInProcess(t, "-config", writeFile(t, dir, "lb.yaml", cfg))
	addr := r.listener("secure")

	// Pebble's issuing root, to verify what lb serves.
	var issuer *x509.CertPool
	eventually(t, 15*time.Second, "pebble's root", func() bool {
		for _, scheme := range []string{"https", "http"} {
			resp, err := hc.Get(fmt.Sprintf("%s://127.0.0.1:%d/roots/0", scheme, mgmtPort))
			if err != nil {
				continue
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if p := x509.NewCertPool(); resp.StatusCode == 200 && p.AppendCertsFromPEM(body) {
				issuer = p
				return true
			}
		}
		return false
	})
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: issuer, ServerName: "app.example.com"}, DisableKeepAlives: true}}
	var resp *http.Response
	eventually(t, 60*time.Second, "a certificate issued by pebble", func() bool {
		var err error
		resp, err = client.Get("https://" + addr + "/acme")
		return err == nil
	})
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "b1 /acme" {
		t.Errorf("through the ACME certificate: %d %q", resp.StatusCode, body)
	}
	leaf := resp.TLS.PeerCertificates[0]
	if len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != "app.example.com" {
		t.Errorf("served names %v", leaf.DNSNames)
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
	if v, ok := m[`lb_acme_failing_domains{listener="secure"}`]; !ok || v != 0 {
		t.Errorf("lb_acme_failing_domains = %v (present %v), want 0", v, ok)
	}
}
