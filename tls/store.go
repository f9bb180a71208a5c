package tls

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/acme"
)

// ErrNoCertificate is returned to crypto/tls when a listener has no
// certificate at all yet (only ACME domains, none issued).
var ErrNoCertificate = errors.New("tls: no certificate available")

// Options are a Store's settings besides its certificates. The zero value
// is an HTTPS-style store on DefaultPolicy without ALPN.
type Options struct {
	// Listener names the listener in logs.
	Listener string
	// Policy is the ssl_policy name; "" means DefaultPolicy.
	Policy string
	// ALPNPolicy is the NLB alpn_policy (None when ""). Ignored when
	// NextProtos is set.
	ALPNPolicy string
	// NextProtos is the ALPN list to offer as is, e.g. []string{"http/1.1"}
	// for an HTTPS listener served by an HTTP/1.1-only server.
	NextProtos []string
	// ACME, when set, adds its issued certificates to the store and answers
	// TLS-ALPN-01 challenges on this listener.
	ACME *ACMEManager
	// Logger receives load events; nil means slog.Default().
	Logger *slog.Logger
}

// Store holds a listener's certificates and security policy and answers
// crypto/tls's questions about them. Selection reads an immutable compiled
// snapshot behind an atomic pointer, so Reload and ACME renewals never
// block handshakes and never affect connections already open. A Store is
// safe for concurrent use.
type Store struct {
	mu     sync.Mutex // serialises rebuilds; never taken by handshakes
	static []*entry
	opts   Options
	policy PolicySpec
	protos []string
	subbed map[*ACMEManager]bool

	snap atomic.Pointer[snapshot]
	base *tls.Config
}

// NewStore loads sources (the first is the default certificate) and compiles
// the first snapshot. It fails on an unreadable certificate, an unknown
// policy or ALPN policy, or when there is neither a certificate nor ACME.
func NewStore(sources []CertSource, opts Options) (*Store, error) {
	s := &Store{subbed: map[*ACMEManager]bool{}}
	s.base = &tls.Config{GetConfigForClient: s.configForClient}
	if err := s.Reload(sources, opts); err != nil {
		return nil, err
	}
	return s, nil
}

// Reload loads sources and opts and swaps them in for new handshakes; open
// connections keep what they negotiated. On error nothing changes.
func (s *Store) Reload(sources []CertSource, opts Options) error {
	p, ok := Policy(opts.Policy)
	if !ok {
		return fmt.Errorf("tls: listener %s: ssl_policy %q: unknown policy", opts.Listener, opts.Policy)
	}
	protos := slices.Clone(opts.NextProtos)
	if protos == nil {
		var err error
		if protos, err = NextProtos(opts.ALPNPolicy); err != nil {
			return fmt.Errorf("tls: listener %s: %w", opts.Listener, err)
		}
	}
	static := make([]*entry, 0, len(sources))
	for i := range sources {
		e, err := sources[i].load(i)
		if err != nil {
			return fmt.Errorf("tls: listener %s: %w", opts.Listener, err)
		}
		static = append(static, e)
	}
	if len(static) == 0 && opts.ACME == nil {
		return fmt.Errorf("tls: listener %s: no certificate and no acme block", opts.Listener)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s.mu.Lock()
	s.static, s.opts, s.policy, s.protos = static, opts, p, protos
	if m := opts.ACME; m != nil && !s.subbed[m] {
		s.subbed[m] = true
		m.subscribe(s.rebuild)
	}
	s.rebuildLocked()
	n := len(s.snap.Load().entries)
	s.mu.Unlock()
	opts.Logger.Debug("tls: certificates loaded", "listener", opts.Listener, "certificates", n, "policy", p.Name)
	return nil
}

// rebuild recompiles the snapshot after an ACME certificate changed.
func (s *Store) rebuild() {
	s.mu.Lock()
	s.rebuildLocked()
	s.mu.Unlock()
}

func (s *Store) rebuildLocked() {
	entries := slices.Clone(s.static)
	if s.opts.ACME != nil {
		entries = append(entries, s.opts.ACME.entries()...)
	}
	s.snap.Store(compile(entries, s.policy, s.protos, s.opts.ACME))
}

// TLSConfig returns the listener's config: use it with tls.NewListener or
// tls.Server. It resolves the current snapshot per handshake, so one config
// serves across reloads. Do not modify it (its fields are not consulted).
func (s *Store) TLSConfig() *tls.Config { return s.base }

// Listener wraps a plain listener into a TLS listener whose connections
// remember the certificate chosen for them (see Facts). Prefer it over
// tls.NewListener(ln, s.TLSConfig()) when access logs need chosen_cert.
func (s *Store) Listener(inner net.Listener) net.Listener {
	return &listener{Listener: inner, cfg: s.base}
}

// Server wraps one accepted connection, like tls.Server, remembering the
// chosen certificate (for l4, which accepts raw connections itself).
func (s *Store) Server(c net.Conn) *tls.Conn {
	return tls.Server(&trackedConn{Conn: c}, s.base)
}

// PolicyName returns the security policy in force.
func (s *Store) PolicyName() string { return s.snap.Load().policy }

// Certificates describes every certificate of the current snapshot, default
// first, for the admin API. No private key material is included.
func (s *Store) Certificates() []CertInfo {
	sn := s.snap.Load()
	out := make([]CertInfo, len(sn.entries))
	for i, e := range sn.entries {
		out[i] = e.info(e == sn.def)
	}
	return out
}

// ExpiryDays calls fn with each certificate's id and the days left until
// its NotAfter at now (negative once expired), for a gauge.
func (s *Store) ExpiryDays(now time.Time, fn func(id string, days float64)) {
	for _, e := range s.snap.Load().entries {
		fn(e.id, e.notAfter.Sub(now).Hours()/24)
	}
}

// snapshot is one compiled, immutable certificate set with its configs.
type snapshot struct {
	policy  string
	entries []*entry
	def     *entry
	exact   map[string][]*entry // lower-case name → matches, best first
	wild    map[string][]*entry // suffix of "*.suffix" → matches, best first
	minVers uint16
	maxVers uint16
	suites  []uint16
	protos  []string
	cfg     *tls.Config // the policy with ALPN
	noALPN  *tls.Config // the policy, ALPN off (client offered none of protos)
	acmeCfg *tls.Config // TLS-ALPN-01 answers; nil without ACME
	acmeMgr *ACMEManager
}

func compile(entries []*entry, p PolicySpec, protos []string, m *ACMEManager) *snapshot {
	sn := &snapshot{
		policy:  p.Name,
		entries: entries,
		exact:   map[string][]*entry{},
		wild:    map[string][]*entry{},
		minVers: p.MinVersion,
		maxVers: p.MaxVersion,
		suites:  p.CipherSuites,
		protos:  protos,
		acmeMgr: m,
	}
	if len(entries) > 0 {
		sn.def = entries[0]
	}
	add := func(m map[string][]*entry, k string, e *entry) {
		l := m[k]
		if len(l) > 0 && l[len(l)-1] == e {
			return
		}
		m[k] = append(l, e)
	}
	for _, e := range entries {
		for _, n := range e.names {
			if suffix, ok := strings.CutPrefix(n, "*."); ok {
				add(sn.wild, suffix, e)
			} else {
				add(sn.exact, n, e)
			}
		}
	}
	for _, m := range []map[string][]*entry{sn.exact, sn.wild} {
		for _, l := range m {
			slices.SortStableFunc(l, func(a, b *entry) int {
				switch {
				case better(a, b):
					return -1
				case better(b, a):
					return 1
				}
				return 0
			})
		}
	}
	sn.cfg = &tls.Config{GetCertificate: sn.getCertificate, NextProtos: protos}
	p.apply(sn.cfg)
	sn.noALPN = sn.cfg.Clone()
	sn.noALPN.NextProtos = nil
	if m != nil {
		// Validation servers speak TLS 1.2+ and want exactly acme-tls/1.
		sn.acmeCfg = &tls.Config{
			MinVersion:     tls.VersionTLS12,
			NextProtos:     []string{acme.ALPNProto},
			GetCertificate: m.challengeCert,
		}
	}
	return sn
}

// configForClient is the listener config's only hook: it picks the config
// of the current snapshot for this ClientHello without allocating.
func (s *Store) configForClient(h *tls.ClientHelloInfo) (*tls.Config, error) {
	sn := s.snap.Load()
	if sn.acmeCfg != nil && len(h.SupportedProtos) == 1 && h.SupportedProtos[0] == acme.ALPNProto {
		return sn.acmeCfg, nil
	}
	if len(sn.protos) > 0 && !overlaps(h.SupportedProtos, sn.protos) {
		// NLB: when the client offers nothing of the policy, ALPN is not used
		// (crypto/tls would otherwise fail the handshake).
		return sn.noALPN, nil
	}
	return sn.cfg, nil
}

func overlaps(a, b []string) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}

func (sn *snapshot) getCertificate(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
	e := sn.pick(h)
	if e == nil {
		return nil, ErrNoCertificate
	}
	if tc, ok := h.Conn.(*trackedConn); ok {
		tc.chosen.Store(e)
	}
	return e.cert, nil
}

// pick applies ALB's rules: no SNI or no usable match → the default; exact
// names before wildcards; among matches the best ranked the client can use.
// It allocates nothing.
func (sn *snapshot) pick(h *tls.ClientHelloInfo) *entry {
	name := h.ServerName
	if name == "" || len(name) > 253 {
		return sn.def
	}
	var buf [253]byte
	key := buf[:copy(buf[:], name)]
	for i, c := range key {
		if 'A' <= c && c <= 'Z' {
			key[i] = c + ('a' - 'A')
		}
	}
	key = bytes.TrimSuffix(key, []byte{'.'})
	vers := sn.mutualVersion(h)
	if l, ok := sn.exact[string(key)]; ok {
		if e := sn.firstSupported(h, vers, l); e != nil {
			return e
		}
	}
	if dot := bytes.IndexByte(key, '.'); dot > 0 {
		if l, ok := sn.wild[string(key[dot+1:])]; ok {
			if e := sn.firstSupported(h, vers, l); e != nil {
				return e
			}
		}
	}
	return sn.def
}

func (sn *snapshot) firstSupported(h *tls.ClientHelloInfo, vers uint16, l []*entry) *entry {
	for _, e := range l {
		if sn.supports(h, vers, e) {
			return e
		}
	}
	return nil
}

// mutualVersion is the version the handshake will use: the client's highest
// within the policy's range.
func (sn *snapshot) mutualVersion(h *tls.ClientHelloInfo) uint16 {
	var best uint16
	for _, v := range h.SupportedVersions {
		if v >= sn.minVers && v <= sn.maxVers && v > best {
			best = v
		}
	}
	return best
}

// supports is an allocation-free subset of ClientHelloInfo.SupportsCertificate
// covering what decides between ECDSA, RSA and Ed25519 certificates.
func (sn *snapshot) supports(h *tls.ClientHelloInfo, vers uint16, e *entry) bool {
	switch e.alg {
	case algECDSA:
		if vers == tls.VersionTLS13 {
			return slices.Contains(h.SignatureSchemes, ecdsaScheme(e.curve))
		}
		if !sn.offers(h, suiteECDSA) || !slices.Contains(h.SupportedCurves, e.curve) {
			return false
		}
		if len(h.SignatureSchemes) == 0 {
			return true
		}
		for _, s := range h.SignatureSchemes {
			switch s {
			case tls.ECDSAWithP256AndSHA256, tls.ECDSAWithP384AndSHA384, tls.ECDSAWithP521AndSHA512, tls.ECDSAWithSHA1:
				return true
			}
		}
		return false
	case algRSA:
		if vers == tls.VersionTLS13 {
			for _, s := range h.SignatureSchemes {
				switch s {
				case tls.PSSWithSHA256, tls.PSSWithSHA384, tls.PSSWithSHA512:
					return true
				}
			}
			return false
		}
		return sn.offers(h, suiteRSA)
	case algEd25519:
		if !slices.Contains(h.SignatureSchemes, tls.Ed25519) {
			return false
		}
		return vers == tls.VersionTLS13 || sn.offers(h, suiteECDSA)
	}
	return false
}

func ecdsaScheme(c tls.CurveID) tls.SignatureScheme {
	switch c {
	case tls.CurveP384:
		return tls.ECDSAWithP384AndSHA384
	case tls.CurveP521:
		return tls.ECDSAWithP521AndSHA512
	}
	return tls.ECDSAWithP256AndSHA256
}

// offers reports whether the client offers a suite of kind the policy allows.
func (sn *snapshot) offers(h *tls.ClientHelloInfo, kind suiteKind) bool {
	for _, id := range h.CipherSuites {
		if kindOf(id) == kind && slices.Contains(sn.suites, id) {
			return true
		}
	}
	return false
}

// listener and trackedConn remember the chosen certificate per connection.
type listener struct {
	net.Listener
	cfg *tls.Config
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return tls.Server(&trackedConn{Conn: c}, l.cfg), nil
}

type trackedConn struct {
	net.Conn
	chosen atomic.Pointer[entry]
}
