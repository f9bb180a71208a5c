package tls

import (
	"bytes"
	"context"
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
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// pebbleEnv is a running Pebble with challtestsrv as its DNS, every name
// resolving to 127.0.0.1 (elb.md §8.4).
type pebbleEnv struct {
	dir   string // ACME directory URL
	roots string // PEM file trusting Pebble's API certificate
	mgmt  string // management address
}

// freeUDPTCPPort returns a loopback port free for both UDP and TCP (the
// DNS server binds both).
func freeUDPTCPPort(t *testing.T) int {
	for i := 0; i < 50; i++ {
		u, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := u.LocalAddr().(*net.UDPAddr).Port
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		u.Close()
		if err == nil {
			l.Close()
			return port
		}
	}
	t.Fatal("no free UDP+TCP port")
	return 0
}

func freeTCPPort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// lockedWriter keeps a child process's output for the failure message.
type lockedWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.b.Len() > 1<<20 {
		return len(p), nil
	}
	return w.b.Write(p)
}

func (w *lockedWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// proc is a started helper program.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *lockedWriter
}

func startProc(name string, env []string, args ...string) (*proc, error) {
	out := &lockedWriter{}
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	return &proc{name: name, cmd: cmd, out: out}, nil
}

func (p *proc) stop() {
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
}

// startPebble runs Pebble validating HTTP-01 on httpPort and TLS-ALPN-01 on
// tlsPort of 127.0.0.1. Ports for Pebble and its DNS are picked free just
// before start; another process may take one in between, so a start that
// does not come up is retried with new ports.
func startPebble(t *testing.T, httpPort, tlsPort int) *pebbleEnv {
	t.Helper()
	pebble := needTool(t, "pebble")
	challtest := needTool(t, "pebble-challtestsrv")
	tmp := t.TempDir()
	ca := newTestCA(t)
	api := ca.leaf(t, "p256", []string{"localhost", "127.0.0.1"}, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
	certPath, keyPath := writePair(t, tmp, "pebble-api", api)
	roots := filepath.Join(tmp, "pebble-roots.pem")
	if err := os.WriteFile(roots, ca.pem, 0o600); err != nil {
		t.Fatal(err)
	}
	var logs []string
	for attempt := 1; attempt <= 3; attempt++ {
		env, procs, err := tryPebble(t, pebble, challtest, tmp, certPath, keyPath, ca, httpPort, tlsPort)
		if err == nil {
			env.roots = roots
			t.Cleanup(func() {
				for _, p := range procs {
					p.stop()
					if t.Failed() {
						t.Logf("%s output:\n%s", p.name, p.out.String())
					}
				}
			})
			return env
		}
		for _, p := range procs {
			p.stop()
			logs = append(logs, fmt.Sprintf("%s (attempt %d):\n%s", p.name, attempt, p.out.String()))
		}
		logs = append(logs, err.Error())
	}
	t.Fatalf("pebble did not start:\n%s", strings.Join(logs, "\n"))
	return nil
}

func tryPebble(t *testing.T, pebble, challtest, tmp, certPath, keyPath string, ca *testCA, httpPort, tlsPort int) (*pebbleEnv, []*proc, error) {
	var procs []*proc
	dnsPort := freeUDPTCPPort(t)
	challMgmt := freeTCPPort(t)
	p, err := startProc(challtest, nil,
		"-dns01", fmt.Sprintf("127.0.0.1:%d", dnsPort), "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
		"-http01", "", "-https01", "", "-tlsalpn01", "", "-management", fmt.Sprintf("127.0.0.1:%d", challMgmt))
	if err != nil {
		return nil, procs, err
	}
	procs = append(procs, p)

	listen, mgmt := freeTCPPort(t), freeTCPPort(t)
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress":                  fmt.Sprintf("127.0.0.1:%d", listen),
		"managementListenAddress":        fmt.Sprintf("127.0.0.1:%d", mgmt),
		"certificate":                    certPath,
		"privateKey":                     keyPath,
		"httpPort":                       httpPort,
		"tlsPort":                        tlsPort,
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": false,
	}}
	data, _ := json.Marshal(cfg)
	cfgPath := filepath.Join(tmp, "pebble-config.json")
	if err := os.WriteFile(cfgPath, data, 0o600); err != nil {
		return nil, procs, err
	}
	p, err = startProc(pebble, []string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0"},
		"-config", cfgPath, "-dnsserver", fmt.Sprintf("127.0.0.1:%d", dnsPort))
	if err != nil {
		return nil, procs, err
	}
	procs = append(procs, p)

	env := &pebbleEnv{dir: fmt.Sprintf("https://127.0.0.1:%d/dir", listen), mgmt: fmt.Sprintf("127.0.0.1:%d", mgmt)}
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool}}}
	defer hc.CloseIdleConnections()
	// Poll the external processes' readiness, bounded to about 10 s each.
	for i := 0; ; i++ {
		resp, err := hc.Get(env.dir)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if i == 100 {
			return nil, procs, fmt.Errorf("pebble directory %s not up: %v", env.dir, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", dnsPort), time.Second)
		if err == nil {
			c.Close()
			break
		}
		if i == 100 {
			return nil, procs, fmt.Errorf("challtestsrv DNS on %d not up: %v", dnsPort, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return env, procs, nil
}

// rootPool fetches Pebble's issuing root from its management port.
func (p *pebbleEnv) rootPool(t *testing.T) *x509.CertPool {
	t.Helper()
	pemRoots, err := os.ReadFile(p.roots)
	if err != nil {
		t.Fatal(err)
	}
	api := x509.NewCertPool()
	api.AppendCertsFromPEM(pemRoots)
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: api}}}
	defer hc.CloseIdleConnections()
	var body []byte
	for _, scheme := range []string{"https", "http"} {
		resp, err := hc.Get(scheme + "://" + p.mgmt + "/roots/0")
		if err != nil {
			continue
		}
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil && resp.StatusCode == 200 {
			break
		}
		body = nil
	}
	pool := x509.NewCertPool()
	if body == nil || !pool.AppendCertsFromPEM(body) {
		t.Fatalf("no root from pebble management %s: %q", p.mgmt, body)
	}
	return pool
}

// TestACMEPebble issues real certificates from Pebble over HTTP-01 and
// TLS-ALPN-01, then serves them and verifies a request against Pebble's root.
func TestACMEPebble(t *testing.T) {
	httpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { httpLn.Close() })
	alpnLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { alpnLn.Close() })
	peb := startPebble(t, httpLn.Addr().(*net.TCPAddr).Port, alpnLn.Addr().(*net.TCPAddr).Port)

	mk := func(domain, challenge string) *ACMEManager {
		m, err := NewACMEManager(ACMEOptions{Listener: challenge, Directory: peb.dir, Email: "ops@lb.test",
			Domains: []string{domain}, CacheDir: t.TempDir(), CARoots: peb.roots,
			Challenges: []string{challenge}, Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	httpM := mk("http.lb.test", ChallengeHTTP01)
	alpnM := mk("alpn.lb.test", ChallengeTLSALPN01)

	// The HTTP listener answers HTTP-01 before anything else; record what
	// the validator asked for.
	var challengeHits atomic.Int64
	var lastHost atomic.Value
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if body, ok := httpM.HTTP01Response(r.URL.Path); ok {
			challengeHits.Add(1)
			lastHost.Store(r.Host)
			_, _ = w.Write(body)
			return
		}
		http.NotFound(w, r)
	})}
	go func() { _ = srv.Serve(httpLn) }()
	t.Cleanup(func() { _ = srv.Close() })

	// The TLS listener on Pebble's tlsPort answers TLS-ALPN-01 through the store.
	alpnStore, err := NewStore(nil, Options{Listener: "alpn", ACME: alpnM, NextProtos: []string{"http/1.1"}, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	alpnTLS := alpnStore.Listener(alpnLn)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := alpnTLS.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				if c.(*tls.Conn).Handshake() != nil {
					return
				}
				f := Facts(c)
				_, _ = fmt.Fprintf(c, "%s %s %s %s\n", f.Cipher, f.Protocol, f.DomainName, f.ChosenCert)
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	t.Cleanup(func() { alpnLn.Close(); wg.Wait() })

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	roots := peb.rootPool(t)

	t.Run("http-01", func(t *testing.T) {
		start := time.Now()
		httpM.Maintain(ctx)
		if st := httpM.Stats(); st.Issued != 1 || st.Failures != 0 {
			t.Fatalf("stats %+v", st)
		}
		t.Logf("issued over HTTP-01 in %v", time.Since(start))
		if challengeHits.Load() == 0 || !strings.HasPrefix(lastHost.Load().(string), "http.lb.test") {
			t.Fatalf("validator requests %d, host %v", challengeHits.Load(), lastHost.Load())
		}
		s, err := NewStore(nil, Options{Listener: "http", ACME: httpM, Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		verifyServed(t, serveTLS(t, s), "http.lb.test", roots)
	})
	t.Run("tls-alpn-01", func(t *testing.T) {
		start := time.Now()
		alpnM.Maintain(ctx)
		if st := alpnM.Stats(); st.Issued != 1 || st.Failures != 0 {
			t.Fatalf("stats %+v", st)
		}
		t.Logf("issued over TLS-ALPN-01 in %v", time.Since(start))
		// The same listener that answered the challenge now serves the certificate.
		verifyServed(t, alpnLn.Addr().String(), "alpn.lb.test", roots)
	})
}

// verifyServed makes a verified TLS request and checks the echo.
func verifyServed(t *testing.T, addr, name string, roots *x509.CertPool) {
	t.Helper()
	h, err := handshake(addr, &tls.Config{ServerName: name, RootCAs: roots})
	if err != nil {
		t.Fatalf("verified handshake for %s against Pebble's root: %v", name, err)
	}
	defer h.conn.Close()
	if h.server[2] != name || h.server[3] != "acme:"+name {
		t.Fatalf("server logged %v", h.server)
	}
	if _, err := h.conn.Write([]byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 6)
	if _, err := io.ReadFull(h.conn, buf); err != nil || string(buf) != "hello\n" {
		t.Fatalf("echo %q %v", buf, err)
	}
	if n := len(h.state.PeerCertificates); n < 2 {
		t.Fatalf("chain of %d certificates, want leaf and intermediate", n)
	}
}
