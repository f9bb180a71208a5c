package tls

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/acme"

	"github.com/switchyard/switchyard/config"
)

// Challenge types an ACMEManager can answer.
const (
	ChallengeHTTP01    = "http-01"
	ChallengeTLSALPN01 = "tls-alpn-01"
)

// Renewal timing. A certificate is renewed when a third of its lifetime is
// left, up to renewJitterMax earlier; failures back off exponentially from
// backoffMin to backoffMax (each with up to 10 % jitter).
const (
	renewJitterMax = time.Hour
	backoffMin     = time.Minute
	backoffMax     = time.Hour
	// orderTimeout bounds one issuance (order, challenges, finalise).
	orderTimeout = 5 * time.Minute
	accountFile  = "acme_account.key"
)

// ACMEOptions configure an ACMEManager; see FromACMEConfig for the config
// block. Zero values: Challenges = tls-alpn-01 then http-01; Now = time.Now;
// Logger = slog.Default().
type ACMEOptions struct {
	Listener  string
	Directory string
	Email     string
	Domains   []string
	CacheDir  string
	// CARoots is a PEM file of extra roots to trust for the CA's API.
	CARoots string
	// Challenges lists the challenge types to try, in order, each on a fresh
	// order; only list those whose listener is reachable by the CA.
	Challenges []string
	// Now is the clock used for renewal decisions (inject in tests).
	Now    func() time.Time
	Logger *slog.Logger
	// HTTPClient talks to the CA; nil builds one trusting the system roots
	// plus CARoots (10 s to connect, 30 s for response headers, 60 s in all).
	HTTPClient *http.Client
}

// FromACMEConfig converts a listener's acme block.
func FromACMEConfig(listener string, c *config.ACME) ACMEOptions {
	return ACMEOptions{
		Listener:  listener,
		Directory: c.Directory,
		Email:     c.Email,
		Domains:   slices.Clone(c.Domains),
		CacheDir:  c.CacheDir,
		CARoots:   c.CARoots,
	}
}

// ACMEStats are counters for the metrics endpoint.
type ACMEStats struct {
	// Orders counts issuance attempts (one per certificate try).
	Orders uint64
	// Issued counts certificates obtained.
	Issued uint64
	// Failures counts failed issuance attempts (renewals included).
	Failures uint64
	// FailingDomains is how many domains' last attempt failed: a gauge,
	// non-zero while the CA is unreachable.
	FailingDomains int
}

// ACMEManager obtains and renews certificates for a fixed list of domains
// from an ACME CA, keeps them in CacheDir, and answers the CA's challenges.
// Issuance happens only in Run/Maintain and only for the configured
// domains: no handshake ever starts an order. Safe for concurrent use.
type ACMEManager struct {
	opts    ACMEOptions
	log     *slog.Logger
	now     func() time.Time
	client  *acme.Client
	domains []*domainState

	// issue obtains one certificate; a field so tests can stand in a CA.
	issue func(ctx context.Context, domain string) (*tls.Certificate, error)

	regMu      sync.Mutex
	registered bool

	// runMu makes Maintain calls one at a time, so no domain is ordered twice.
	runMu sync.Mutex

	mu       sync.RWMutex
	http01   map[string][]byte           // challenge path → key authorisation
	tlsALPN  map[string]*tls.Certificate // domain → challenge certificate
	subs     []func()
	orders   atomic.Uint64
	issued   atomic.Uint64
	failures atomic.Uint64
}

// domainState is the renewal state of one domain; guarded by ACMEManager.mu.
type domainState struct {
	name     string
	cert     *entry
	renewAt  time.Time
	nextTry  time.Time
	failures int
	lastErr  error
}

// NewACMEManager creates (or loads) the account key in CacheDir and loads
// cached certificates; it does not contact the CA.
func NewACMEManager(opts ACMEOptions) (*ACMEManager, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.Challenges == nil {
		opts.Challenges = []string{ChallengeTLSALPN01, ChallengeHTTP01}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	m := &ACMEManager{
		opts:    opts,
		log:     opts.Logger.With("listener", opts.Listener),
		now:     opts.Now,
		http01:  map[string][]byte{},
		tlsALPN: map[string]*tls.Certificate{},
	}
	for _, d := range opts.Domains {
		m.domains = append(m.domains, &domainState{name: normDomain(d)})
	}
	if err := os.MkdirAll(opts.CacheDir, 0o700); err != nil {
		return nil, fmt.Errorf("tls: acme %s: cache_dir: %w", opts.Listener, err)
	}
	key, err := loadOrCreateAccountKey(filepath.Join(opts.CacheDir, accountFile))
	if err != nil {
		return nil, fmt.Errorf("tls: acme %s: %w", opts.Listener, err)
	}
	hc := opts.HTTPClient
	if hc == nil {
		if hc, err = caHTTPClient(opts.CARoots); err != nil {
			return nil, fmt.Errorf("tls: acme %s: %w", opts.Listener, err)
		}
	}
	return m.finish(key, hc), nil
}

func normDomain(d string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
}

// Validate checks the options without touching disk or network (for
// config validation): directory, domains (no wildcards, no repeats),
// cache_dir, challenge types, and that ca_roots reads as PEM.
func (opts ACMEOptions) Validate() error {
	if opts.Directory == "" {
		return fmt.Errorf("tls: acme %s: directory is required", opts.Listener)
	}
	if len(opts.Domains) == 0 {
		return fmt.Errorf("tls: acme %s: at least one domain is required", opts.Listener)
	}
	if opts.CacheDir == "" {
		return fmt.Errorf("tls: acme %s: cache_dir is required", opts.Listener)
	}
	for _, c := range opts.Challenges {
		if c != ChallengeHTTP01 && c != ChallengeTLSALPN01 {
			return fmt.Errorf("tls: acme %s: challenge %q: unsupported", opts.Listener, c)
		}
	}
	seen := map[string]bool{}
	for _, d := range opts.Domains {
		d = normDomain(d)
		if d == "" || strings.Contains(d, "*") || strings.ContainsAny(d, "/\\ :") || seen[d] {
			return fmt.Errorf("tls: acme %s: domain %q: invalid or repeated (wildcards need DNS-01, not supported)", opts.Listener, d)
		}
		seen[d] = true
	}
	if opts.CARoots != "" {
		data, err := os.ReadFile(opts.CARoots)
		if err != nil {
			return fmt.Errorf("tls: acme %s: ca_roots: %w", opts.Listener, err)
		}
		if !x509.NewCertPool().AppendCertsFromPEM(data) {
			return fmt.Errorf("tls: acme %s: ca_roots %s: no certificate found", opts.Listener, opts.CARoots)
		}
	}
	return nil
}

// finish attaches the ACME client and loads the cached certificates.
func (m *ACMEManager) finish(key crypto.Signer, hc *http.Client) *ACMEManager {
	m.client = &acme.Client{
		Key:          key,
		DirectoryURL: m.opts.Directory,
		HTTPClient:   hc,
		UserAgent:    "switchyard",
		// A few quick retries per request; the renewal backoff handles the rest.
		RetryBackoff: func(n int, _ *http.Request, _ *http.Response) time.Duration {
			if n > 3 {
				return -1
			}
			return time.Duration(n) * 250 * time.Millisecond
		},
	}
	m.issue = m.obtain
	for _, d := range m.domains {
		e, err := m.loadCached(d.name)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			m.log.Warn("acme: cached certificate unusable, will reissue", "err", err)
		default:
			d.cert = e
			d.renewAt = renewAt(e.leaf)
		}
	}
	return m
}

// Domains returns the configured domains, normalised.
func (m *ACMEManager) Domains() []string {
	out := make([]string, len(m.domains))
	for i, d := range m.domains {
		out[i] = d.name
	}
	return out
}

// Stats returns the counters.
func (m *ACMEManager) Stats() ACMEStats {
	s := ACMEStats{Orders: m.orders.Load(), Issued: m.issued.Load(), Failures: m.failures.Load()}
	m.mu.RLock()
	for _, d := range m.domains {
		if d.failures > 0 {
			s.FailingDomains++
		}
	}
	m.mu.RUnlock()
	return s
}

// ACMEDomainStatus is one domain's renewal state, for the admin API.
type ACMEDomainStatus struct {
	Domain    string    `json:"domain"`
	NotAfter  time.Time `json:"not_after,omitzero"` // zero until issued
	RenewAt   time.Time `json:"renew_at,omitzero"`
	NextTry   time.Time `json:"next_try,omitzero"` // set while failing
	Failures  int       `json:"failures"`          // consecutive
	LastError string    `json:"last_error,omitempty"`
}

// Status reports each domain's renewal state.
func (m *ACMEManager) Status() []ACMEDomainStatus {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]ACMEDomainStatus, len(m.domains))
	for i, d := range m.domains {
		st := ACMEDomainStatus{Domain: d.name, RenewAt: d.renewAt, NextTry: d.nextTry, Failures: d.failures}
		if d.cert != nil {
			st.NotAfter = d.cert.notAfter
		}
		if d.lastErr != nil {
			st.LastError = d.lastErr.Error()
		}
		out[i] = st
	}
	return out
}

// Run keeps the certificates issued and renewed until ctx ends.
func (m *ACMEManager) Run(ctx context.Context) {
	for {
		next := m.Maintain(ctx)
		wait := next.Sub(m.now())
		wait = min(max(wait, time.Second), 24*time.Hour)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// Maintain issues every missing certificate and renews every one due, then
// returns when it next needs to run. While the CA fails, cached certificates
// keep serving and the failure is logged, counted and retried with backoff.
// The returned time may be in the past (an attempt is due) or far ahead;
// Run clamps its wait to between 1 s and 24 h.
func (m *ACMEManager) Maintain(ctx context.Context) time.Time {
	m.runMu.Lock()
	defer m.runMu.Unlock()
	now := m.now()
	for _, d := range m.domains {
		m.mu.RLock()
		due := (d.cert == nil || !now.Before(d.renewAt)) && !now.Before(d.nextTry)
		m.mu.RUnlock()
		if !due || ctx.Err() != nil {
			continue
		}
		m.orders.Add(1)
		octx, cancel := context.WithTimeout(ctx, orderTimeout)
		cert, err := m.issue(octx, d.name)
		cancel()
		var e *entry
		if err == nil {
			e, err = m.accept(d.name, cert, now)
		}
		if err != nil {
			m.failed(d, err, now)
			continue
		}
		if err := m.saveCached(d.name, cert); err != nil {
			m.log.Warn("acme: certificate not cached on disk", "err", err)
		}
		m.issued.Add(1)
		m.mu.Lock()
		d.cert, d.renewAt, d.nextTry, d.failures, d.lastErr = e, renewAt(e.leaf), time.Time{}, 0, nil
		subs := slices.Clone(m.subs)
		m.mu.Unlock()
		m.log.Info("acme: certificate issued", "domain", d.name, "not_after", e.notAfter, "serial", serialHex(e.leaf.SerialNumber))
		for _, f := range subs {
			f()
		}
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	var next time.Time
	for i, d := range m.domains {
		at := d.renewAt
		if d.cert == nil || d.nextTry.After(at) {
			at = d.nextTry
		}
		if i == 0 || at.Before(next) {
			next = at
		}
	}
	return next
}

func (m *ACMEManager) failed(d *domainState, err error, now time.Time) {
	m.failures.Add(1)
	m.mu.Lock()
	d.failures++
	back := backoffMin << min(d.failures-1, 10)
	back = min(back, backoffMax)
	back += time.Duration(mrand.Int64N(int64(back)/10 + 1))
	d.nextTry, d.lastErr = now.Add(back), err
	cached := d.cert
	m.mu.Unlock()
	if cached != nil {
		m.log.Warn("acme: renewal failed, serving the cached certificate",
			"domain", d.name, "not_after", cached.notAfter, "retry_in", back, "err", err)
	} else {
		m.log.Warn("acme: issuance failed", "domain", d.name, "retry_in", back, "err", err)
	}
}

// accept checks an issued certificate before it may serve.
func (m *ACMEManager) accept(domain string, cert *tls.Certificate, now time.Time) (*entry, error) {
	e, err := newEntry("acme:"+domain, "acme", cert)
	if err != nil {
		return nil, fmt.Errorf("tls: acme certificate for %s: %w", domain, err)
	}
	if err := e.leaf.VerifyHostname(domain); err != nil {
		return nil, fmt.Errorf("tls: acme certificate for %s: %w", domain, err)
	}
	if !now.Before(e.notAfter) {
		return nil, fmt.Errorf("tls: acme certificate for %s: expired at %s", domain, e.notAfter)
	}
	return e, nil
}

// renewAt is when a third of the lifetime is left, minus jitter so many
// listeners do not hit the CA at the same instant.
func renewAt(leaf *x509.Certificate) time.Time {
	third := leaf.NotAfter.Sub(leaf.NotBefore) / 3
	jmax := min(third/10, renewJitterMax)
	var j time.Duration
	if jmax > 0 {
		j = time.Duration(mrand.Int64N(int64(jmax)))
	}
	return leaf.NotAfter.Add(-third - j)
}

// entries returns the issued certificates for the store.
func (m *ACMEManager) entries() []*entry {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []*entry
	for _, d := range m.domains {
		if d.cert != nil {
			out = append(out, d.cert)
		}
	}
	return out
}

func (m *ACMEManager) subscribe(f func()) {
	m.mu.Lock()
	m.subs = append(m.subs, f)
	m.mu.Unlock()
}

// HTTP01Response answers an HTTP-01 challenge: HTTP listeners call it for
// every request path before any rule and, when ok, respond 200 with body as
// text/plain. Paths outside /.well-known/acme-challenge/ never match.
func (m *ACMEManager) HTTP01Response(path string) (body []byte, ok bool) {
	if !strings.HasPrefix(path, acmeChallengePrefix) {
		return nil, false
	}
	m.mu.RLock()
	body, ok = m.http01[path]
	m.mu.RUnlock()
	return body, ok
}

const acmeChallengePrefix = "/.well-known/acme-challenge/"

// HTTP01ResponseBytes is HTTP01Response for a path held as bytes (fasthttp's
// ctx.Path()); it allocates nothing. The returned body must not be modified.
func (m *ACMEManager) HTTP01ResponseBytes(path []byte) (body []byte, ok bool) {
	if !bytes.HasPrefix(path, []byte(acmeChallengePrefix)) {
		return nil, false
	}
	m.mu.RLock()
	body, ok = m.http01[string(path)]
	m.mu.RUnlock()
	return body, ok
}

// HTTP01 asks each manager in turn, for an HTTP listener shared by several
// ACME listeners. It allocates nothing.
func HTTP01(managers []*ACMEManager, path []byte) (body []byte, ok bool) {
	for _, m := range managers {
		if body, ok = m.HTTP01ResponseBytes(path); ok {
			return body, true
		}
	}
	return nil, false
}

// HTTPHandler serves HTTP-01 challenges for net/http servers and passes
// every other request to next (404 when nil).
func (m *ACMEManager) HTTPHandler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if body, ok := m.HTTP01Response(r.URL.Path); ok {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = w.Write(body)
			return
		}
		if next == nil {
			http.NotFound(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// challengeCert answers a TLS-ALPN-01 probe for a domain with a pending
// challenge; any other name is refused.
func (m *ACMEManager) challengeCert(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := strings.TrimSuffix(strings.ToLower(h.ServerName), ".")
	m.mu.RLock()
	c := m.tlsALPN[name]
	m.mu.RUnlock()
	if c == nil {
		return nil, fmt.Errorf("tls: acme: no tls-alpn-01 challenge pending for %q", name)
	}
	return c, nil
}

// obtain runs one ACME order per challenge type until one succeeds.
func (m *ACMEManager) obtain(ctx context.Context, domain string) (*tls.Certificate, error) {
	if err := m.register(ctx); err != nil {
		return nil, err
	}
	var errs []error
	for _, typ := range m.opts.Challenges {
		cert, err := m.order(ctx, domain, typ)
		if err == nil {
			return cert, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", typ, err))
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("tls: acme order %s: %w", domain, errors.Join(errs...))
}

func (m *ACMEManager) register(ctx context.Context) error {
	m.regMu.Lock()
	defer m.regMu.Unlock()
	if m.registered {
		return nil
	}
	acct := &acme.Account{}
	if m.opts.Email != "" {
		acct.Contact = []string{"mailto:" + m.opts.Email}
	}
	_, err := m.client.Register(ctx, acct, acme.AcceptTOS)
	if err != nil && !errors.Is(err, acme.ErrAccountAlreadyExists) {
		return fmt.Errorf("tls: acme register %s: %w", m.opts.Directory, err)
	}
	m.registered = true
	return nil
}

func (m *ACMEManager) order(ctx context.Context, domain, typ string) (*tls.Certificate, error) {
	c := m.client
	o, err := c.AuthorizeOrder(ctx, acme.DomainIDs(domain))
	if err != nil {
		return nil, err
	}
	for _, u := range o.AuthzURLs {
		z, err := c.GetAuthorization(ctx, u)
		if err != nil {
			return nil, err
		}
		if z.Status == acme.StatusValid {
			continue
		}
		if z.Status != acme.StatusPending {
			return nil, fmt.Errorf("authorization %s is %s", u, z.Status)
		}
		var chal *acme.Challenge
		for _, ch := range z.Challenges {
			if ch.Type == typ {
				chal = ch
			}
		}
		if chal == nil {
			return nil, fmt.Errorf("authorization %s offers no %s challenge", u, typ)
		}
		undo, err := m.present(domain, typ, chal.Token)
		if err != nil {
			return nil, err
		}
		_, err = c.Accept(ctx, chal)
		if err == nil {
			_, err = c.WaitAuthorization(ctx, z.URI)
		}
		undo()
		if err != nil {
			// Leave no pending authorization behind for the next try.
			_ = c.RevokeAuthorization(ctx, z.URI)
			return nil, err
		}
	}
	if o, err = c.WaitOrder(ctx, o.URI); err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{domain}}, key)
	if err != nil {
		return nil, err
	}
	der, _, err := c.CreateOrderCert(ctx, o.FinalizeURL, csr, true)
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: der, PrivateKey: key}, nil
}

// present makes a challenge answerable and returns how to withdraw it.
func (m *ACMEManager) present(domain, typ, token string) (func(), error) {
	switch typ {
	case ChallengeHTTP01:
		body, err := m.client.HTTP01ChallengeResponse(token)
		if err != nil {
			return nil, err
		}
		path := m.client.HTTP01ChallengePath(token)
		m.mu.Lock()
		m.http01[path] = []byte(body)
		m.mu.Unlock()
		return func() {
			m.mu.Lock()
			delete(m.http01, path)
			m.mu.Unlock()
		}, nil
	case ChallengeTLSALPN01:
		cert, err := m.client.TLSALPN01ChallengeCert(token, domain)
		if err != nil {
			return nil, err
		}
		m.mu.Lock()
		m.tlsALPN[domain] = &cert
		m.mu.Unlock()
		return func() {
			m.mu.Lock()
			delete(m.tlsALPN, domain)
			m.mu.Unlock()
		}, nil
	}
	return nil, fmt.Errorf("challenge %s: unsupported", typ)
}

// Cache files: <cache_dir>/<domain>.pem holds the private key then the
// chain; the account key is acme_account.key. Both are written 0600.

func (m *ACMEManager) certPath(domain string) string {
	return filepath.Join(m.opts.CacheDir, domain+".pem")
}

func (m *ACMEManager) loadCached(domain string) (*entry, error) {
	data, err := os.ReadFile(m.certPath(domain))
	if err != nil {
		return nil, err
	}
	var cert tls.Certificate
	var keyDER []byte
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		switch b.Type {
		case "CERTIFICATE":
			cert.Certificate = append(cert.Certificate, b.Bytes)
		case "EC PRIVATE KEY", "PRIVATE KEY":
			keyDER = b.Bytes
		}
	}
	if keyDER == nil || len(cert.Certificate) == 0 {
		return nil, fmt.Errorf("tls: acme cache %s: key or certificate missing", m.certPath(domain))
	}
	key, err := x509.ParsePKCS8PrivateKey(keyDER)
	if err != nil {
		return nil, fmt.Errorf("tls: acme cache %s: %w", m.certPath(domain), err)
	}
	cert.PrivateKey = key
	e, err := newEntry("acme:"+domain, "acme", &cert)
	if err != nil {
		return nil, fmt.Errorf("tls: acme cache %s: %w", m.certPath(domain), err)
	}
	if err := e.leaf.VerifyHostname(domain); err != nil {
		return nil, fmt.Errorf("tls: acme cache %s: %w", m.certPath(domain), err)
	}
	return e, nil
}

func (m *ACMEManager) saveCached(domain string, cert *tls.Certificate) error {
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		return fmt.Errorf("tls: acme cache %s: %w", domain, err)
	}
	buf := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	for _, der := range cert.Certificate {
		buf = append(buf, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	return writeFileAtomic(m.certPath(domain), buf)
}

func loadOrCreateAccountKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err == nil {
		b, _ := pem.Decode(data)
		if b == nil {
			return nil, fmt.Errorf("account key %s: no PEM block", path)
		}
		k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("account key %s: %w", path, err)
		}
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("account key %s: not a signing key", path)
		}
		return s, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("account key %s: %w", path, err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("account key %s: %w", path, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("account key %s: %w", path, err)
	}
	if err := writeFileAtomic(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})); err != nil {
		return nil, fmt.Errorf("account key %s: %w", path, err)
	}
	return key, nil
}

func writeFileAtomic(path string, data []byte) error {
	tmp := fmt.Sprintf("%s.tmp%d", path, mrand.Int64())
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}

// caHTTPClient trusts the system roots plus the PEM file at roots.
func caHTTPClient(roots string) (*http.Client, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if roots != "" {
		pemData, err := os.ReadFile(roots)
		if err != nil {
			return nil, fmt.Errorf("ca_roots: %w", err)
		}
		if !pool.AppendCertsFromPEM(pemData) {
			return nil, fmt.Errorf("ca_roots %s: no certificate found", roots)
		}
	}
	tr := &http.Transport{
		Proxy:                 nil, // the CA is dialled directly, never through an environment proxy
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		TLSClientConfig:       &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       90 * time.Second,
	}
	return &http.Client{Transport: tr, Timeout: 60 * time.Second}, nil
}
