package tls

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var (
	rsaOnly12 = &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{
		tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384}}
	ecdsa12 = &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}}
	modern = &tls.Config{}
)

// TestSNISelection checks ALB's selection rules end to end: what the client
// received (the leaf serial) and what the server logged as chosen_cert.
func TestSNISelection(t *testing.T) {
	ca := newTestCA(t)
	now := time.Now()
	exp := func(id string, d time.Duration) CertSource {
		return CertSource{ID: id, Certificate: ca.leaf(t, "p256", []string{"exp.test"}, now.Add(-time.Hour), now.Add(d))}
	}
	srcs := []CertSource{
		ca.src(t, "default", "rsa2048", "default.test"),
		ca.src(t, "app-rsa", "rsa2048", "app.example.com"),
		ca.src(t, "app-ecdsa", "p256", "app.example.com"),
		ca.src(t, "wild-rsa", "rsa2048", "*.example.com"),
		ca.src(t, "wild-ecdsa", "p256", "*.example.com"),
		ca.src(t, "size-small", "rsa1024", "size.test"),
		ca.src(t, "size-big", "rsa2048", "size.test"),
		ca.src(t, "curve-256", "p256", "curve.test"),
		ca.src(t, "curve-384", "p384", "curve.test"),
		exp("exp-early", 30*24*time.Hour),
		exp("exp-late", 60*24*time.Hour),
		ca.src(t, "ecdsa-only", "p256", "ecdsa-only.test"),
	}
	s, err := NewStore(srcs, Options{Listener: "t", Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	serial := map[string]string{}
	for _, c := range s.Certificates() {
		serial[c.ID] = c.Serial
	}
	addr := serveTLS(t, s)
	cases := []struct {
		name, sni string
		client    *tls.Config
		want      string
	}{
		{"no SNI", "", modern, "default"},
		{"exact, ECDSA-capable TLS 1.3 client", "app.example.com", modern, "app-ecdsa"},
		{"exact, ECDSA-capable TLS 1.2 client", "app.example.com", ecdsa12, "app-ecdsa"},
		{"exact, RSA-only client", "app.example.com", rsaOnly12, "app-rsa"},
		{"wildcard, ECDSA-capable client", "x.example.com", modern, "wild-ecdsa"},
		{"wildcard, RSA-only client", "x.example.com", rsaOnly12, "wild-rsa"},
		{"wildcard covers one label only", "a.b.example.com", modern, "default"},
		{"wildcard does not cover the bare suffix", "example.com", modern, "default"},
		{"unknown name", "unknown.test", modern, "default"},
		{"names are case-insensitive", "APP.Example.COM", modern, "app-ecdsa"},
		{"larger RSA key", "size.test", rsaOnly12, "size-big"},
		{"larger ECDSA curve", "curve.test", modern, "curve-384"},
		{"later expiry", "exp.test", modern, "exp-late"},
		{"match the client cannot use falls back to default", "ecdsa-only.test", rsaOnly12, "default"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.client.Clone()
			cfg.ServerName = tc.sni
			h, err := handshake(addr, cfg)
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			defer h.conn.Close()
			got := strings.ToUpper(h.state.PeerCertificates[0].SerialNumber.Text(16))
			if got != serial[tc.want] {
				t.Errorf("client got serial %s, want %s (%s)", got, serial[tc.want], tc.want)
			}
			if h.server[3] != tc.want {
				t.Errorf("server chose %s, want %s", h.server[3], tc.want)
			}
			wantDomain := tc.sni
			if wantDomain == "" {
				wantDomain = "-"
			}
			if h.server[2] != wantDomain {
				t.Errorf("server logged domain %q, want %q", h.server[2], wantDomain)
			}
		})
	}
}

// TestSelectionMatchesCryptoTLS cross-checks the allocation-free support
// test against crypto/tls's own SupportsCertificate on real ClientHellos.
func TestSelectionMatchesCryptoTLS(t *testing.T) {
	ca := newTestCA(t)
	certs := []*tls.Certificate{
		ca.src(t, "r", "rsa2048", "x.test").Certificate,
		ca.src(t, "e", "p256", "x.test").Certificate,
		ca.src(t, "e384", "p384", "x.test").Certificate,
		ca.src(t, "ed", "ed25519", "x.test").Certificate,
	}
	p, _ := Policy("")
	sn := compile(nil, p, nil, nil)
	var hellos []*tls.ClientHelloInfo
	var mu sync.Mutex
	srv := &tls.Config{GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		mu.Lock()
		hellos = append(hellos, h)
		mu.Unlock()
		return nil, fmt.Errorf("captured")
	}}
	clients := []*tls.Config{modern, rsaOnly12, ecdsa12,
		{MaxVersion: tls.VersionTLS12, CurvePreferences: []tls.CurveID{tls.CurveP384}},
		{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}}}
	for _, c := range clients {
		a, b := pipe(t)
		cc := c.Clone()
		cc.ServerName = "x.test"
		cc.InsecureSkipVerify = true
		go func() { _ = tls.Client(a, cc).Handshake(); a.Close() }()
		_ = tls.Server(b, srv).Handshake()
		b.Close()
	}
	if len(hellos) != len(clients) {
		t.Fatalf("captured %d hellos, want %d", len(hellos), len(clients))
	}
	for i, h := range hellos {
		vers := sn.mutualVersion(h)
		for _, c := range certs {
			e, err := newEntry("x", "file", c)
			if err != nil {
				t.Fatal(err)
			}
			ours := sn.supports(h, vers, e)
			theirs := h.SupportsCertificate(c) == nil
			if ours != theirs {
				t.Errorf("client %d, key %s: supports=%v, crypto/tls says %v", i, keyType(e), ours, theirs)
			}
		}
	}
}

func TestSelectionAllocs(t *testing.T) {
	ca := newTestCA(t)
	s, err := NewStore([]CertSource{
		ca.src(t, "default", "rsa2048", "default.test"),
		ca.src(t, "app-rsa", "rsa2048", "app.example.com"),
		ca.src(t, "app-ecdsa", "p256", "app.example.com"),
		ca.src(t, "wild", "p256", "*.example.com"),
	}, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"APP.example.com", "x.example.com", "", "unknown.test."} {
		h := &tls.ClientHelloInfo{
			ServerName:        name,
			SupportedVersions: []uint16{tls.VersionTLS13, tls.VersionTLS12},
			CipherSuites:      []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256},
			SupportedCurves:   []tls.CurveID{tls.X25519, tls.CurveP256},
			SignatureSchemes:  []tls.SignatureScheme{tls.PSSWithSHA256, tls.ECDSAWithP256AndSHA256},
			SupportedProtos:   []string{"h2", "http/1.1"},
		}
		var picked *tls.Certificate
		allocs := testing.AllocsPerRun(1000, func() {
			cfg, _ := s.configForClient(h)
			picked, _ = cfg.GetCertificate(h)
		})
		if allocs != 0 {
			t.Errorf("%q: %v allocs per selection, want 0", name, allocs)
		}
		if picked == nil {
			t.Errorf("%q: no certificate", name)
		}
	}
}

func BenchmarkSelect(b *testing.B) {
	ca := newTestCA(b)
	s, err := NewStore([]CertSource{
		ca.src(b, "default", "p256", "default.test"),
		ca.src(b, "app", "p256", "app.example.com"),
		ca.src(b, "wild", "p256", "*.example.com"),
	}, Options{Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	h := &tls.ClientHelloInfo{ServerName: "x.example.com", SupportedVersions: []uint16{tls.VersionTLS13},
		SignatureSchemes: []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256}}
	b.ReportAllocs()
	for b.Loop() {
		cfg, _ := s.configForClient(h)
		_, _ = cfg.GetCertificate(h)
	}
}

// TestHotSwap runs 1 000 handshakes while the certificate is swapped over
// and over; every handshake must succeed with one of the two certificates,
// and a connection opened before the swaps keeps working.
func TestHotSwap(t *testing.T) {
	ca := newTestCA(t)
	a := ca.src(t, "a", "p256", "swap.test")
	b := ca.src(t, "b", "p256", "swap.test")
	s, err := NewStore([]CertSource{a}, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	addr := serveTLS(t, s)
	open, err := handshake(addr, &tls.Config{ServerName: "swap.test"})
	if err != nil {
		t.Fatal(err)
	}
	defer open.conn.Close()

	const workers, per = 4, 250
	var failed, okA, okB atomic.Int64
	var firstErr atomic.Value
	done := make(chan struct{})
	swapped := make(chan struct{})
	// Each finished handshake asks for one more swap, so swaps and
	// handshakes interleave throughout without any sleep.
	tick := make(chan struct{}, 1)
	var swaps atomic.Int64
	go func() {
		defer close(swapped)
		srcs := [][]CertSource{{b}, {a}}
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			case <-tick:
			}
			if err := s.Reload(srcs[i%2], Options{Logger: quietLogger()}); err != nil {
				firstErr.CompareAndSwap(nil, err)
				return
			}
			swaps.Add(1)
		}
	}()
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				h, err := handshake(addr, &tls.Config{ServerName: "swap.test"})
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				switch h.server[3] {
				case "a":
					okA.Add(1)
				case "b":
					okB.Add(1)
				default:
					failed.Add(1)
				}
				h.conn.Close()
				select {
				case tick <- struct{}{}:
				default:
				}
			}
		}()
	}
	wg.Wait()
	close(done)
	<-swapped
	if failed.Load() != 0 {
		t.Fatalf("%d of %d handshakes failed during swaps; first error: %v", failed.Load(), workers*per, firstErr.Load())
	}
	if okA.Load()+okB.Load() != workers*per {
		t.Fatalf("handshakes a=%d b=%d, want %d in total", okA.Load(), okB.Load(), workers*per)
	}
	if okA.Load() == 0 || okB.Load() == 0 || swaps.Load() < 2 {
		t.Fatalf("swap not observed: a=%d b=%d swaps=%d", okA.Load(), okB.Load(), swaps.Load())
	}
	t.Logf("1000 handshakes: a=%d b=%d across %d swaps", okA.Load(), okB.Load(), swaps.Load())
	// The connection opened before the swaps still works.
	if _, err := open.conn.Write([]byte("ping\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(open.conn, buf); err != nil || string(buf) != "ping\n" {
		t.Fatalf("open connection after swaps: %q, %v", buf, err)
	}
	if open.server[3] != "a" {
		t.Fatalf("open connection chose %s, want a", open.server[3])
	}
}

// TestReloadFromFiles is the SIGHUP path: the same paths with new contents
// swap the certificate; a broken file keeps the old one.
func TestReloadFromFiles(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	c1 := ca.src(t, "", "p256", "files.test").Certificate
	c2 := ca.src(t, "", "p256", "files.test").Certificate
	cp, kp := writePair(t, dir, "site", c1)
	srcs := FromConfig(nil)
	srcs = append(srcs, CertSource{ID: cp, CertFile: cp, KeyFile: kp})
	s, err := NewStore(srcs, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	addr := serveTLS(t, s)
	serialOf := func() string {
		h, err := handshake(addr, &tls.Config{ServerName: "files.test"})
		if err != nil {
			t.Fatal(err)
		}
		defer h.conn.Close()
		if h.server[3] != cp {
			t.Errorf("chosen_cert %q, want the file path %q", h.server[3], cp)
		}
		return h.state.PeerCertificates[0].SerialNumber.String()
	}
	if got := serialOf(); got != c1.Leaf.SerialNumber.String() {
		t.Fatalf("before reload serial %s, want %s", got, c1.Leaf.SerialNumber)
	}
	writePair(t, dir, "site", c2)
	if err := s.Reload(srcs, Options{Logger: quietLogger()}); err != nil {
		t.Fatal(err)
	}
	if got := serialOf(); got != c2.Leaf.SerialNumber.String() {
		t.Fatalf("after reload serial %s, want %s", got, c2.Leaf.SerialNumber)
	}
	if err := os.WriteFile(cp, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	err = s.Reload(srcs, Options{Logger: quietLogger()})
	if err == nil || !strings.HasPrefix(err.Error(), "tls: listener ") || strings.Contains(err.Error(), "tls: load") {
		t.Fatalf("reload of a broken file: err = %v, want a tls: error", err)
	}
	if got := serialOf(); got != c2.Leaf.SerialNumber.String() {
		t.Fatalf("after failed reload serial %s, want the previous %s", got, c2.Leaf.SerialNumber)
	}
	if err := s.Reload(srcs, Options{Policy: "no-such-policy"}); err == nil {
		t.Fatal("unknown policy accepted")
	}
	if _, err := NewStore(nil, Options{}); err == nil {
		t.Fatal("store without certificates or acme accepted")
	}
}

func TestCertificatesAndExpiry(t *testing.T) {
	ca := newTestCA(t)
	now := time.Now()
	c := ca.leaf(t, "rsa2048", []string{"a.test", "*.b.test"}, now.Add(-time.Hour), now.Add(10*24*time.Hour))
	e := ca.src(t, "e", "p384", "e.test")
	s, err := NewStore([]CertSource{{ID: "rsa", Certificate: c}, e}, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	infos := s.Certificates()
	if len(infos) != 2 {
		t.Fatalf("%d infos", len(infos))
	}
	i := infos[0]
	if i.ID != "rsa" || !i.Default || i.KeyType != "RSA-2048" || i.Source != "file" ||
		strings.Join(i.Names, ",") != "a.test,*.b.test" || i.Serial != strings.ToUpper(c.Leaf.SerialNumber.Text(16)) ||
		!i.NotAfter.Equal(c.Leaf.NotAfter) {
		t.Errorf("info %+v", i)
	}
	if infos[1].KeyType != "ECDSA-P384" || infos[1].Default {
		t.Errorf("info %+v", infos[1])
	}
	days := map[string]float64{}
	s.ExpiryDays(now, func(id string, d float64) { days[id] = d })
	if d := days["rsa"]; d < 9.99 || d > 10.01 {
		t.Errorf("days to expiry %v, want 10", d)
	}
	if s.PolicyName() != DefaultPolicy {
		t.Errorf("policy %s", s.PolicyName())
	}
}

func TestFactsPlainAndTLS(t *testing.T) {
	a, b := pipe(t)
	defer a.Close()
	defer b.Close()
	if f := Facts(a); f != noFacts {
		t.Errorf("plain conn facts %+v", f)
	}
	if f := StateFacts(nil); f != noFacts {
		t.Errorf("nil state facts %+v", f)
	}
	cs := &tls.ConnectionState{HandshakeComplete: true, Version: tls.VersionTLS12,
		CipherSuite: tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, ServerName: "a.test", DidResume: true}
	want := ConnFacts{"ECDHE-RSA-AES128-GCM-SHA256", "TLSv1.2", "a.test", "session-reused"}
	if f := StateFacts(cs); f != want {
		t.Errorf("facts %+v, want %+v", f, want)
	}
	for id, name := range openSSLNames {
		if CipherName(id) != name {
			t.Errorf("CipherName(%#x)", id)
		}
	}
	for _, s := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		if _, ok := openSSLNames[s.ID]; !ok {
			t.Errorf("no OpenSSL name for %s", s.Name)
		}
	}
	if ProtocolName(tls.VersionTLS10) != "TLSv1" || ProtocolName(tls.VersionTLS13) != "TLSv1.3" || ProtocolName(0) != "-" {
		t.Error("protocol names")
	}
}

// FuzzPick feeds arbitrary SNI names to the selection: it must never panic,
// must always return a certificate, and must not allocate.
func FuzzPick(f *testing.F) {
	ca := newTestCA(f)
	s, err := NewStore([]CertSource{
		ca.src(f, "default", "p256", "default.test"),
		ca.src(f, "wild", "p256", "*.example.com"),
		ca.src(f, "app", "rsa2048", "app.example.com"),
	}, Options{Logger: quietLogger()})
	if err != nil {
		f.Fatal(err)
	}
	sn := s.snap.Load()
	for _, seed := range []string{"", ".", "..", "*.example.com", "a.example.com.", "APP.EXAMPLE.COM",
		".example.com", "a..example.com", strings.Repeat("a", 300), "\x00.example.com", "ä.example.com"} {
		f.Add(seed, true)
	}
	f.Fuzz(func(t *testing.T, name string, tls13 bool) {
		h := &tls.ClientHelloInfo{ServerName: name, SupportedVersions: []uint16{tls.VersionTLS12},
			CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}, SupportedCurves: []tls.CurveID{tls.CurveP256}}
		if tls13 {
			h.SupportedVersions = []uint16{tls.VersionTLS13}
			h.SignatureSchemes = []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256}
		}
		if sn.pick(h) == nil {
			t.Fatalf("no certificate for %q", name)
		}
		if a := testing.AllocsPerRun(10, func() { sn.pick(h) }); a != 0 {
			t.Fatalf("%q: %v allocs", name, a)
		}
	})
}

// BenchmarkHandshake is a full TLS 1.3 handshake (ECDSA P-256, X25519) over
// net.Pipe through the store, both sides on this goroutine pair.
func BenchmarkHandshake(b *testing.B) {
	ca := newTestCA(b)
	s, err := NewStore([]CertSource{ca.src(b, "c", "p256", "lb.test")}, Options{Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	cc := &tls.Config{ServerName: "lb.test", InsecureSkipVerify: true, ClientSessionCache: nil}
	for b.Loop() {
		a, c := net.Pipe()
		errc := make(chan error, 1)
		go func() { errc <- s.Server(c).Handshake(); c.Close() }()
		if err := tls.Client(a, cc).Handshake(); err != nil {
			b.Fatal(err)
		}
		a.Close()
		if err := <-errc; err != nil {
			b.Fatal(err)
		}
	}
}

// TestResumption: a resumed session is logged as ALB does
// (chosen_cert "session-reused"), across a reload too.
func TestResumption(t *testing.T) {
	ca := newTestCA(t)
	src := ca.src(t, "c", "p256", "lb.test")
	s, err := NewStore([]CertSource{src}, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	addr := serveTLS(t, s)
	for _, max := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		cfg := &tls.Config{ServerName: "lb.test", MaxVersion: max, ClientSessionCache: tls.NewLRUClientSessionCache(4)}
		first, err := handshake(addr, cfg)
		if err != nil {
			t.Fatal(err)
		}
		first.conn.Close()
		if first.state.DidResume || first.server[3] != "c" {
			t.Fatalf("%s first: resumed=%v chosen=%s", ProtocolName(max), first.state.DidResume, first.server[3])
		}
		if err := s.Reload([]CertSource{src}, Options{Logger: quietLogger()}); err != nil {
			t.Fatal(err)
		}
		second, err := handshake(addr, cfg)
		if err != nil {
			t.Fatal(err)
		}
		second.conn.Close()
		if !second.state.DidResume || second.server[3] != "session-reused" {
			t.Fatalf("%s second: resumed=%v chosen=%s", ProtocolName(max), second.state.DidResume, second.server[3])
		}
	}
}
