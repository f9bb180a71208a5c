package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// selfSigned writes a certificate for 127.0.0.1 and localhost and its key.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalPKCS8PrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// TestHTTPSListener: an HTTPS listener serves the distribution, HTTP
// viewers are redirected, and the origin learns the viewer's protocol and
// TLS session from the CloudFront headers its policy names.
func TestHTTPSListener(t *testing.T) {
	var mu sync.Mutex
	var seen http.Header
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	osrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = r.Header.Clone()
		mu.Unlock()
		w.Header().Set("Cache-Control", "no-store")
		fmt.Fprint(w, "secure")
	}), ReadHeaderTimeout: 5 * time.Second}
	go osrv.Serve(ln) //nolint:errcheck // ends at Close
	t.Cleanup(func() { osrv.Close() })

	dir := t.TempDir()
	cert, key := selfSigned(t, dir)
	cfg := fmt.Sprintf(`admin: {address: ""}
listeners:
  - {protocol: HTTP, address: "127.0.0.1:0"}
  - {protocol: HTTPS, address: "127.0.0.1:0", certificates: [{cert: %q, key: %q}]}
distributions:
  - name: site
    origins: [{id: app, url: "http://%s"}]
    default_cache_behavior:
      target_origin: app
      viewer_protocol_policy: redirect-to-https
      origin_request: {headers: [CloudFront-Forwarded-Proto, CloudFront-Viewer-TLS]}
`, cert, key, ln.Addr())
	path := filepath.Join(dir, "edge.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	r := startRun(t, "-config", path, "-log-level", "warn")
	addrs := r.a.addrs()
	httpAddr, httpsAddr := addrs[0], addrs[1]

	code, h, _ := fetch(t, "GET", "http://"+httpAddr+"/p?q=1", "")
	if code != 301 || h.Get("Location") != "https://"+httpAddr+"/p?q=1" {
		t.Fatalf("HTTP viewer: %d %q", code, h.Get("Location"))
	}
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // self-signed test cert
	resp, err := c.Get("https://" + httpsAddr + "/p")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	mu.Lock()
	defer mu.Unlock()
	if resp.StatusCode != 200 || seen.Get("CloudFront-Forwarded-Proto") != "https" ||
		!strings.HasPrefix(seen.Get("CloudFront-Viewer-TLS"), "TLSv1.3:TLS_") {
		t.Fatalf("HTTPS viewer: %d, origin saw %v", resp.StatusCode, seen)
	}
}
