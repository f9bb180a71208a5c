package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// selfSigned writes a certificate for name (and 127.0.0.1) and its key
// into dir, returning their paths and the parsed certificate.
func selfSigned(t *testing.T, dir, name string) (certPath, keyPath string, cert *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{name},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ = x509.ParseCertificate(der)
	kb, _ := x509.MarshalECPrivateKey(key)
	certPath = filepath.Join(dir, name+".pem")
	keyPath = filepath.Join(dir, name+"-key.pem")
	os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return certPath, keyPath, cert
}

func httpsConfig(certPath, keyPath, logPath, backend string) string {
	return fmt.Sprintf(`admin: {address: ""}
shutdown_timeout: 5s
access_log: {path: %q, format: json}
listeners:
  - name: secure
    protocol: HTTPS
    address: "127.0.0.1:0"
    ssl_policy: ELBSecurityPolicy-TLS13-1-2-2021-06
    certificates:
      - {cert: %q, key: %q}
    default_action: {forward: {target_group: web}}
target_groups:
  - name: web
    protocol: HTTP
    targets: [%q]
    health_check: {path: /health, interval: 5s, timeout: 2s}
`, logPath, certPath, keyPath, backend)
}

// TestHTTPSListener: an HTTPS listener terminates TLS with the configured
// certificate, forwards with X-Forwarded-Proto: https, logs the TLS facts,
// and a reload swaps the certificate for new handshakes on the same socket.
func TestHTTPSListener(t *testing.T) {
	b := startBackend(t, "b1")
	dir := t.TempDir()
	c1, k1, x1 := selfSigned(t, dir, "one.example")
	c2, k2, x2 := selfSigned(t, dir, "two.example")
	logPath := filepath.Join(dir, "access.log")
	cfgPath := writeFile(t, dir, "lb.yaml", httpsConfig(c1, k1, logPath, b.addr))
	r := startInProcess(t, "-config", cfgPath)
	addr := r.listener("secure")

	pool := x509.NewCertPool()
	pool.AddCert(x1)
	pool.AddCert(x2)
	client := func(serverName string) *http.Client {
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: serverName},
			// A fresh connection per client, so each sees the current certificate.
			DisableKeepAlives: true,
		}}
	}
	fetch := func(serverName string) (*http.Response, string) {
		t.Helper()
		resp, err := client(serverName).Get("https://" + addr + "/secure/x")
		if err != nil {
			t.Fatalf("GET over TLS as %s: %v", serverName, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}
	resp, body := fetch("one.example")
	if resp.StatusCode != 200 || body != "b1 /secure/x" {
		t.Fatalf("HTTPS: %d %q", resp.StatusCode, body)
	}
	if cn := resp.TLS.PeerCertificates[0].Subject.CommonName; cn != "one.example" {
		t.Errorf("served %s, want one.example", cn)
	}
	if resp.TLS.Version != tls.VersionTLS13 {
		t.Errorf("TLS version %x, want 1.3", resp.TLS.Version)
	}
	last := b.lastRequest()
	if got := last.Header.Get("X-Forwarded-Proto"); got != "https" {
		t.Errorf("backend got X-Forwarded-Proto %q", got)
	}
	_, port, _ := net.SplitHostPort(addr)
	if got := last.Header.Get("X-Forwarded-Port"); got != port {
		t.Errorf("backend got X-Forwarded-Port %q, want %s", got, port)
	}
	// Plain HTTP on the TLS port gets nothing forwarded.
	if conn, err := net.Dial("tcp", addr); err == nil {
		conn.SetDeadline(time.Now().Add(3 * time.Second))
		io.WriteString(conn, "GET /plain HTTP/1.1\r\nHost: x\r\n\r\n")
		io.ReadAll(conn)
		conn.Close()
	}
	if n := b.hits.Load(); n != 1 {
		t.Errorf("backend saw %d requests, want 1 (plain HTTP on the TLS port must not pass)", n)
	}

	// Reload with the second certificate: same socket, new handshakes use it.
	replaceFile(t, cfgPath, httpsConfig(c2, k2, logPath, b.addr))
	r.sigs <- syscall.SIGHUP
	eventually(t, 10*time.Second, "the reload", func() bool { return r.app.applied.Load() == 2 })
	if got := r.listener("secure"); got != addr {
		t.Errorf("listener moved from %s to %s", addr, got)
	}
	resp, _ = fetch("two.example")
	if cn := resp.TLS.PeerCertificates[0].Subject.CommonName; cn != "two.example" {
		t.Errorf("after reload served %s, want two.example", cn)
	}

	// A reload naming a missing certificate is refused whole.
	replaceFile(t, cfgPath, httpsConfig(filepath.Join(dir, "missing.pem"), k2, logPath, b.addr))
	r.sigs <- syscall.SIGHUP
	eventually(t, 10*time.Second, "the refused reload", func() bool {
		return strings.Contains(r.stderr.String(), "config reload rejected")
	})
	resp, _ = fetch("two.example")
	if resp.StatusCode != 200 {
		t.Errorf("after a refused reload: %d", resp.StatusCode)
	}

	if code := r.stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
	data, _ := os.ReadFile(logPath)
	first := strings.SplitN(string(data), "\n", 2)[0]
	var m map[string]any
	if err := json.Unmarshal([]byte(first), &m); err != nil {
		t.Fatalf("access log: %v: %q", err, data)
	}
	if m["type"] != "https" || m["ssl_protocol"] != "TLSv1.3" || m["ssl_cipher"] == nil || m["domain_name"] != "one.example" ||
		m["request"] != "GET https://"+addr+"/secure/x HTTP/1.1" {
		t.Errorf("access-log line lacks the TLS facts: %s", first)
	}
	// The certificate the handshake chose, by its id (the cert path).
	if m["chosen_cert_arn"] != c1 {
		t.Errorf("chosen_cert_arn = %v, want %s: %s", m["chosen_cert_arn"], c1, first)
	}
	if c, _ := m["ssl_cipher"].(string); c == "" || c == "-" {
		t.Errorf("ssl_cipher = %v", m["ssl_cipher"])
	}
}

// TestAPIConfigShowsCertificates: /api/v1/config lists each TLS listener's
// certificates (names, key type, serial, expiry) and never a private key.
func TestAPIConfigShowsCertificates(t *testing.T) {
	b := startBackend(t, "b1")
	dir := t.TempDir()
	c1, k1, x1 := selfSigned(t, dir, "one.example")
	cfgPath := writeFile(t, dir, "lb.yaml", httpsConfig(c1, k1, filepath.Join(dir, "access.log"), b.addr))
	r := startInProcess(t, "-config", cfgPath)
	rec := httptest.NewRecorder()
	r.app.apiConfig(rec, httptest.NewRequest(http.MethodGet, "/api/v1/config", nil))
	if rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
	var v struct {
		Certificates map[string][]struct {
			Names    []string  `json:"names"`
			KeyType  string    `json:"key_type"`
			Serial   string    `json:"serial"`
			NotAfter time.Time `json:"not_after"`
		} `json:"certificates"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatal(err)
	}
	certs := v.Certificates["secure"]
	if len(certs) != 1 || len(certs[0].Names) == 0 || certs[0].Names[0] != "one.example" || certs[0].KeyType == "" ||
		!strings.EqualFold(certs[0].Serial, x1.SerialNumber.Text(16)) || !certs[0].NotAfter.Equal(x1.NotAfter) {
		t.Fatalf("certificates = %+v, want one.example serial %s until %s", v.Certificates, x1.SerialNumber.Text(16), x1.NotAfter)
	}
	if strings.Contains(rec.Body.String(), "PRIVATE KEY") {
		t.Fatal("the admin API shows a private key")
	}
}
