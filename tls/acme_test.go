package tls

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/switchyard/switchyard/internal/testenv"
)

// closedAddr is a loopback address nothing listens on: a CA that is down.
func closedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func serialOf(t *testing.T, addr, sni string) string {
	t.Helper()
	h, err := handshake(addr, &tls.Config{ServerName: sni})
	if err != nil {
		t.Fatalf("handshake %s: %v", sni, err)
	}
	h.conn.Close()
	return strings.ToUpper(h.state.PeerCertificates[0].SerialNumber.Text(16))
}

func leafSerial(c *tls.Certificate) string { return strings.ToUpper(c.Leaf.SerialNumber.Text(16)) }

// TestACMERenewal: issue at start, nothing before two thirds of the
// lifetime, renew after, new handshakes get the new certificate, and the
// cache on disk follows.
func TestACMERenewal(t *testing.T) {
	ca := newTestCA(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := &fakeClock{t: t0}
	dir := t.TempDir()
	m, err := NewACMEManager(ACMEOptions{Listener: "web", Directory: "https://" + closedAddr(t) + "/dir",
		Domains: []string{"App.LB.test"}, CacheDir: dir, Now: clk.Now, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	var issued []*tls.Certificate
	m.issue = func(_ context.Context, d string) (*tls.Certificate, error) {
		c := ca.leaf(t, "p256", []string{d}, clk.Now(), clk.Now().Add(90*24*time.Hour))
		issued = append(issued, c)
		return c, nil
	}
	s, err := NewStore(nil, Options{Listener: "web", ACME: m, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	addr := serveTLS(t, s)
	if _, err := handshake(addr, &tls.Config{ServerName: "app.lb.test"}); err == nil {
		t.Fatal("handshake succeeded before any certificate was issued")
	}

	next := m.Maintain(context.Background())
	if len(issued) != 1 {
		t.Fatalf("issued %d, want 1", len(issued))
	}
	due := t0.Add(60 * 24 * time.Hour)
	if next.After(due) || next.Before(due.Add(-renewJitterMax)) {
		t.Fatalf("next run %v, want within the hour before %v", next, due)
	}
	if got := serialOf(t, addr, "app.lb.test"); got != leafSerial(issued[0]) {
		t.Fatalf("served %s, want the issued %s", got, leafSerial(issued[0]))
	}
	if got := serialOf(t, addr, ""); got != leafSerial(issued[0]) {
		t.Fatalf("no-SNI served %s, want the only (ACME) certificate", got)
	}
	if ci := s.Certificates(); len(ci) != 1 || ci[0].Source != "acme" || ci[0].ID != "acme:app.lb.test" {
		t.Fatalf("certificates %+v", ci)
	}

	clk.Set(due.Add(-2 * time.Hour))
	m.Maintain(context.Background())
	if len(issued) != 1 {
		t.Fatalf("renewed early: issued %d", len(issued))
	}
	clk.Set(due)
	m.Maintain(context.Background())
	if len(issued) != 2 {
		t.Fatalf("not renewed at two thirds of the lifetime: issued %d", len(issued))
	}
	if got := serialOf(t, addr, "app.lb.test"); got != leafSerial(issued[1]) {
		t.Fatalf("after renewal served %s, want %s", got, leafSerial(issued[1]))
	}
	if st := m.Stats(); st.Orders != 2 || st.Issued != 2 || st.Failures != 0 || st.FailingDomains != 0 {
		t.Fatalf("stats %+v", st)
	}
	// A restart loads the renewed certificate from the cache and orders nothing.
	m2, err := NewACMEManager(ACMEOptions{Listener: "web", Directory: "https://" + closedAddr(t) + "/dir",
		Domains: []string{"app.lb.test"}, CacheDir: dir, Now: clk.Now, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	m2.issue = func(context.Context, string) (*tls.Certificate, error) { return nil, errors.New("must not order") }
	m2.Maintain(context.Background())
	if st := m2.Stats(); st.Orders != 0 {
		t.Fatalf("restart ordered: %+v", st)
	}
	if e := m2.entries(); len(e) != 1 || serialHex(e[0].leaf.SerialNumber) != leafSerial(issued[1]) {
		t.Fatalf("cache did not hold the renewed certificate")
	}
	fi, err := os.Stat(filepath.Join(dir, accountFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("account key file: %v %v", fi, err)
	}
}

// TestACMECADown is hardening.md TLS-08: with the CA unreachable and the
// cached certificate due for renewal, handshakes keep succeeding on the
// cached certificate, the failure is logged and counted, and retries back
// off exponentially.
func TestACMECADown(t *testing.T) {
	ca := newTestCA(t)
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	clk := &fakeClock{t: t0}
	dir := t.TempDir()
	var logs testenv.Buffer
	opts := ACMEOptions{Listener: "web", Directory: "https://" + closedAddr(t) + "/dir",
		Domains: []string{"app.lb.test"}, CacheDir: dir, Now: clk.Now,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	seed, err := NewACMEManager(opts)
	if err != nil {
		t.Fatal(err)
	}
	cached := ca.leaf(t, "p256", []string{"app.lb.test"}, t0.Add(-61*24*time.Hour), t0.Add(29*24*time.Hour))
	if err := seed.saveCached("app.lb.test", cached); err != nil {
		t.Fatal(err)
	}
	m, err := NewACMEManager(opts)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewStore(nil, Options{Listener: "web", ACME: m, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	addr := serveTLS(t, s)
	if got := serialOf(t, addr, "app.lb.test"); got != leafSerial(cached) {
		t.Fatalf("served %s, want the cached %s", got, leafSerial(cached))
	}

	// The real ACME client against a closed port.
	next := m.Maintain(context.Background())
	st := m.Stats()
	if st.Orders != 1 || st.Failures != 1 || st.FailingDomains != 1 || st.Issued != 0 {
		t.Fatalf("stats after CA failure %+v", st)
	}
	if ds := m.Status(); len(ds) != 1 || ds[0].Failures != 1 || ds[0].LastError == "" || !ds[0].NotAfter.Equal(cached.Leaf.NotAfter) {
		t.Fatalf("status %+v", ds)
	}
	if d := next.Sub(t0); d < backoffMin || d > backoffMin*11/10 {
		t.Fatalf("first retry in %v, want 1 min (+10%% jitter)", d)
	}
	if !strings.Contains(logs.String(), "serving the cached certificate") || !strings.Contains(logs.String(), "level=WARN") {
		t.Fatalf("no warning logged: %s", logs.String())
	}
	if got := serialOf(t, addr, "app.lb.test"); got != leafSerial(cached) {
		t.Fatalf("while the CA is down served %s, want the cached %s", got, leafSerial(cached))
	}
	m.Maintain(context.Background())
	if st := m.Stats(); st.Orders != 1 {
		t.Fatalf("retried before the backoff: %+v", st)
	}
	clk.Set(next)
	next = m.Maintain(context.Background())
	if st := m.Stats(); st.Orders != 2 || st.Failures != 2 {
		t.Fatalf("second attempt: %+v", st)
	}
	if d := next.Sub(clk.Now()); d < 2*backoffMin || d > 2*backoffMin*11/10 {
		t.Fatalf("second retry in %v, want 2 min (+10%%)", d)
	}
	// The CA comes back.
	var fresh *tls.Certificate
	m.issue = func(_ context.Context, d string) (*tls.Certificate, error) {
		fresh = ca.leaf(t, "p256", []string{d}, clk.Now(), clk.Now().Add(90*24*time.Hour))
		return fresh, nil
	}
	clk.Set(next)
	m.Maintain(context.Background())
	if st := m.Stats(); st.FailingDomains != 0 || st.Issued != 1 {
		t.Fatalf("after recovery %+v", st)
	}
	if got := serialOf(t, addr, "app.lb.test"); got != leafSerial(fresh) {
		t.Fatalf("after recovery served %s, want %s", got, leafSerial(fresh))
	}
}

// TestACMEServerError: a CA answering 500 fails the attempt without
// retrying for long, and the failure is counted.
func TestACMEServerError(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		http.Error(w, "down", http.StatusInternalServerError)
	}))
	defer srv.Close()
	m, err := NewACMEManager(ACMEOptions{Listener: "web", Directory: srv.URL + "/dir",
		Domains: []string{"app.lb.test"}, CacheDir: t.TempDir(), HTTPClient: srv.Client(), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	m.Maintain(context.Background())
	if st := m.Stats(); st.Failures != 1 || st.FailingDomains != 1 {
		t.Fatalf("stats %+v", st)
	}
	if hits.Load() == 0 {
		t.Fatal("the CA was never asked")
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("one failed attempt took %v", d)
	}
}

// TestACMERandomSNI is hardening.md TLS-09: handshakes for names that are
// not configured never start an order.
func TestACMERandomSNI(t *testing.T) {
	ca := newTestCA(t)
	m, err := NewACMEManager(ACMEOptions{Listener: "web", Directory: "https://" + closedAddr(t) + "/dir",
		Domains: []string{"app.lb.test"}, CacheDir: t.TempDir(), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	var orders atomic.Int64
	m.issue = func(_ context.Context, d string) (*tls.Certificate, error) {
		orders.Add(1)
		return nil, fmt.Errorf("no CA in this test")
	}
	def := ca.src(t, "static", "p256", "static.test")
	s, err := NewStore([]CertSource{def}, Options{Listener: "web", ACME: m, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	addr := serveTLS(t, s)
	for i := 0; i < 200; i++ {
		sni := fmt.Sprintf("r%d.test", i)
		if got := serialOf(t, addr, sni); got != leafSerial(def.Certificate) {
			t.Fatalf("%s: served %s, want the default", sni, got)
		}
	}
	// A probe asking for acme-tls/1 with no pending challenge is refused.
	if _, err := handshake(addr, &tls.Config{ServerName: "app.lb.test", NextProtos: []string{"acme-tls/1"}}); err == nil {
		t.Fatal("acme-tls/1 probe without a pending challenge succeeded")
	}
	if n := orders.Load(); n != 0 {
		t.Fatalf("%d orders from handshakes, want 0", n)
	}
	if st := m.Stats(); st.Orders != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestACMEHTTP01Response(t *testing.T) {
	m, err := NewACMEManager(ACMEOptions{Listener: "web", Directory: "https://" + closedAddr(t) + "/dir",
		Domains: []string{"app.lb.test"}, CacheDir: t.TempDir(), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	undo, err := m.present("app.lb.test", ChallengeHTTP01, "tok123")
	if err != nil {
		t.Fatal(err)
	}
	body, ok := m.HTTP01Response("/.well-known/acme-challenge/tok123")
	if !ok || !strings.HasPrefix(string(body), "tok123.") {
		t.Fatalf("response %q %v", body, ok)
	}
	if _, ok := m.HTTP01Response("/.well-known/acme-challenge/other"); ok {
		t.Fatal("unknown token answered")
	}
	if _, ok := m.HTTP01Response("/tok123"); ok {
		t.Fatal("path outside the challenge directory answered")
	}
	ms := []*ACMEManager{m}
	if b, ok := HTTP01(ms, []byte("/.well-known/acme-challenge/tok123")); !ok || !bytes.Equal(b, body) {
		t.Fatalf("HTTP01 over managers: %q %v", b, ok)
	}
	for _, p := range [][]byte{[]byte("/index.html"), []byte("/.well-known/acme-challenge/tok123")} {
		if a := testing.AllocsPerRun(1000, func() { HTTP01(ms, p) }); a != 0 {
			t.Errorf("HTTP01(%s): %v allocs per request, want 0", p, a)
		}
	}
	rec := httptest.NewRecorder()
	m.HTTPHandler(nil).ServeHTTP(rec, httptest.NewRequest("GET", "http://app.lb.test/.well-known/acme-challenge/tok123", nil))
	if rec.Code != 200 || rec.Body.String() != string(body) {
		t.Fatalf("handler %d %q", rec.Code, rec.Body.String())
	}
	undo()
	if _, ok := m.HTTP01Response("/.well-known/acme-challenge/tok123"); ok {
		t.Fatal("withdrawn token still answered")
	}
}

func TestACMEOptionsValidation(t *testing.T) {
	base := ACMEOptions{Directory: "https://127.0.0.1:1/dir", Domains: []string{"a.test"}, CacheDir: t.TempDir()}
	bad := []func(o *ACMEOptions){
		func(o *ACMEOptions) { o.Directory = "" },
		func(o *ACMEOptions) { o.Domains = nil },
		func(o *ACMEOptions) { o.CacheDir = "" },
		func(o *ACMEOptions) { o.Domains = []string{"*.a.test"} },
		func(o *ACMEOptions) { o.Domains = []string{"a.test", "A.test"} },
		func(o *ACMEOptions) { o.Domains = []string{"a.test:443"} },
		func(o *ACMEOptions) { o.Challenges = []string{"dns-01"} },
		func(o *ACMEOptions) { o.CARoots = filepath.Join(t.TempDir(), "missing.pem") },
	}
	for i, f := range bad {
		o := base
		f(&o)
		if err := o.Validate(); err == nil {
			t.Errorf("case %d: Validate accepted %+v", i, o)
		}
		if _, err := NewACMEManager(o); err == nil || !strings.HasPrefix(err.Error(), "tls: acme") {
			t.Errorf("case %d: err = %v", i, err)
		}
	}
	if _, err := NewACMEManager(base); err != nil {
		t.Fatal(err)
	}
}

// TestACMERun drives the Run loop under synctest's fake clock: it issues
// at once, renews when a third of the lifetime is left, and stops with ctx.
func TestACMERun(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		m, err := NewACMEManager(ACMEOptions{Listener: "web", Directory: "https://127.0.0.1:1/dir",
			Domains: []string{"app.lb.test"}, CacheDir: dir, Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		var n atomic.Int64
		m.issue = func(_ context.Context, d string) (*tls.Certificate, error) {
			n.Add(1)
			now := time.Now()
			return ca.leaf(t, "p256", []string{d}, now, now.Add(3*time.Hour)), nil
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { m.Run(ctx); close(done) }()
		synctest.Wait()
		if n.Load() != 1 {
			t.Fatalf("orders at start %d, want 1", n.Load())
		}
		time.Sleep(time.Hour + 50*time.Minute) // before 2h minus at most 6 min of jitter
		synctest.Wait()
		if n.Load() != 1 {
			t.Fatalf("renewed early: %d orders", n.Load())
		}
		time.Sleep(11 * time.Minute)
		synctest.Wait()
		if n.Load() != 2 {
			t.Fatalf("orders after two thirds of the lifetime %d, want 2", n.Load())
		}
		cancel()
		<-done
	})
}
