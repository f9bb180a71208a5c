package edge

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/switchyard/switchyard/cache"
	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/geo"
	"github.com/switchyard/switchyard/l7"
	"github.com/switchyard/switchyard/signing"
)

// Snapshot is one compiled edge config: distributions by host, their cache
// behaviours, origins and origin groups, geo restrictions and signed-URL
// verifiers. It is immutable; a reload compiles a new one and Edge.Swap
// installs it, while requests in flight finish on the one they started with.
type Snapshot struct {
	// Hash is config.Hash of the config it was compiled from.
	Hash   string
	Config *config.Edge

	byHost map[string]*Distribution
	def    *Distribution
	dists  map[string]*Distribution
}

// Distribution is a compiled distribution.
type Distribution struct {
	Name        string
	behaviors   []*Behavior // in list order, the default last
	restriction *geo.Restriction
	errors      map[int]*customError
}

// Behavior is a compiled cache behaviour.
type Behavior struct {
	Pattern string
	pat     l7.PathPattern // Pattern compiled by lb's path matcher
	target  *target
	vpp     uint8
	allowed methodSet
	cacheOp bool // OPTIONS answers are cached

	key  *cache.KeyPolicy
	flow *cache.Flow
	fwd  forwardPolicy

	trusted *signing.Trusted
}

// Viewer protocol policies.
const (
	vppAllowAll uint8 = iota
	vppRedirect
	vppHTTPSOnly
)

type customError struct {
	responseCode int
	pagePath     string
}

// methodSet is a bit set of the methods CloudFront knows.
type methodSet uint16

var methodBits = map[string]methodSet{"GET": 1, "HEAD": 2, "OPTIONS": 4, "PUT": 8, "PATCH": 16, "POST": 32, "DELETE": 64}

func methodBit(m []byte) methodSet {
	switch string(m) {
	case "GET":
		return 1
	case "HEAD":
		return 2
	case "OPTIONS":
		return 4
	case "PUT":
		return 8
	case "PATCH":
		return 16
	case "POST":
		return 32
	case "DELETE":
		return 64
	}
	return 0
}

// target is what a behaviour sends misses to: one origin, or an origin
// group's members in failover order.
type target struct {
	id       string
	members  []*origin
	failover map[int]bool
}

// Compile turns a validated config into a snapshot. It reads the public key
// files of the key groups; e supplies the long-lived store, origin pools
// and geo database the snapshot refers to.
func (e *Edge) Compile(cfg *config.Edge) (*Snapshot, error) {
	var errs []error
	s := &Snapshot{Hash: config.Hash(cfg), Config: cfg, byHost: map[string]*Distribution{}, dists: map[string]*Distribution{}}

	var verifier *signing.Verifier
	if len(cfg.KeyGroups) > 0 {
		groups := make([]signing.KeyGroup, 0, len(cfg.KeyGroups))
		for _, kg := range cfg.KeyGroups {
			g := signing.KeyGroup{Name: kg.Name}
			for _, k := range kg.Keys {
				pem, err := os.ReadFile(k.PublicKey)
				if err != nil {
					errs = append(errs, fmt.Errorf("edge: read public key %s: %w", k.ID, err))
					continue
				}
				pk, err := signing.ParsePublicKeyPEM(k.ID, pem)
				if err != nil {
					errs = append(errs, fmt.Errorf("edge: public key %s: %w", k.ID, err))
					continue
				}
				g.Keys = append(g.Keys, pk)
			}
			groups = append(groups, g)
		}
		if len(errs) == 0 {
			v, err := signing.NewVerifier(groups)
			if err != nil {
				errs = append(errs, fmt.Errorf("edge: key groups: %w", err))
			}
			verifier = v
		}
	}

	for i := range cfg.Distributions {
		dc := &cfg.Distributions[i]
		d, err := e.compileDistribution(dc, verifier)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.dists[d.Name] = d
		if len(dc.Aliases) == 0 {
			if s.def == nil {
				s.def = d
			}
			continue
		}
		for _, a := range dc.Aliases {
			s.byHost[strings.TrimSuffix(strings.ToLower(a), ".")] = d
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

func (e *Edge) compileDistribution(dc *config.Distribution, verifier *signing.Verifier) (*Distribution, error) {
	d := &Distribution{Name: dc.Name, errors: map[int]*customError{}}
	r, err := geo.NewRestriction(dc.GeoRestriction.Type, dc.GeoRestriction.Locations, dc.GeoRestriction.Unknown)
	if err != nil {
		return nil, fmt.Errorf("edge: distribution %s: geo restriction: %w", dc.Name, err)
	}
	d.restriction = r

	origins := map[string]*origin{}
	for _, oc := range dc.Origins {
		o, err := e.pools.origin(oc)
		if err != nil {
			return nil, fmt.Errorf("edge: distribution %s: %w", dc.Name, err)
		}
		origins[oc.ID] = o
	}
	targets := map[string]*target{}
	for id, o := range origins {
		targets[id] = &target{id: id, members: []*origin{o}}
	}
	for _, g := range dc.OriginGroups {
		t := &target{id: g.ID, failover: map[int]bool{}}
		for _, m := range g.Members {
			o, ok := origins[m]
			if !ok {
				return nil, fmt.Errorf("edge: distribution %s: origin group %s: unknown origin %q", dc.Name, g.ID, m)
			}
			t.members = append(t.members, o)
		}
		for _, c := range g.FailoverStatusCodes {
			t.failover[c] = true
		}
		targets[g.ID] = t
	}

	errorTTLs := map[int]time.Duration{}
	for _, ce := range dc.CustomErrorResponses {
		d.errors[ce.ErrorCode] = &customError{responseCode: ce.ResponseCode, pagePath: ce.ResponsePagePath}
		if ce.ErrorCachingMinTTL != nil {
			errorTTLs[ce.ErrorCode] = ce.ErrorCachingMinTTL.D()
		}
	}

	all := append(slices.Clone(dc.CacheBehaviors), dc.DefaultCacheBehavior)
	for i := range all {
		bc := &all[i]
		b, err := e.compileBehavior(bc, targets, errorTTLs, verifier)
		if err != nil {
			return nil, fmt.Errorf("edge: distribution %s: cache behavior %q: %w", dc.Name, bc.PathPattern, err)
		}
		if i == len(all)-1 {
			b.Pattern = "*"
		}
		if b.pat, err = l7.CompilePathPattern(b.Pattern); err != nil {
			return nil, fmt.Errorf("edge: distribution %s: cache behavior %q: %w", dc.Name, bc.PathPattern, err)
		}
		d.behaviors = append(d.behaviors, b)
	}
	return d, nil
}

func (e *Edge) compileBehavior(bc *config.CacheBehavior, targets map[string]*target, errorTTLs map[int]time.Duration, verifier *signing.Verifier) (*Behavior, error) {
	b := &Behavior{Pattern: bc.PathPattern}
	if b.Pattern != "" && b.Pattern[0] != '/' && b.Pattern[0] != '*' {
		b.Pattern = "/" + b.Pattern
	}
	t, ok := targets[bc.TargetOrigin]
	if !ok {
		return nil, fmt.Errorf("unknown target origin %q", bc.TargetOrigin)
	}
	b.target = t
	switch bc.ViewerProtocolPolicy {
	case "redirect-to-https":
		b.vpp = vppRedirect
	case "https-only":
		b.vpp = vppHTTPSOnly
	}
	for _, m := range bc.AllowedMethods {
		b.allowed |= methodBits[strings.ToUpper(m)]
	}
	b.cacheOp = cache.CachesOptions(bc.CachedMethods)

	kp, err := cache.NewKeyPolicy(cache.NameList(bc.CacheKey.Headers), cache.NameList(bc.CacheKey.Cookies),
		cache.NameList(bc.CacheKey.QueryStrings), bc.Compress, maxTTL(bc))
	if err != nil {
		return nil, err
	}
	b.key = kp
	b.fwd = newForwardPolicy(kp, bc.OriginRequest)
	b.flow = &cache.Flow{
		Store:         e.store,
		Coalescer:     e.coalescer,
		TTL:           cache.NewTTLPolicy(bc.MinTTL.D(), durPtr(bc.DefaultTTL), durPtr(bc.MaxTTL), errorTTLs),
		Collapse:      kp.Collapsible() && b.fwd.cookies == cache.None,
		Compress:      bc.Compress,
		KeepSetCookie: kp.Cookies != cache.None || b.fwd.cookies != cache.None,
	}
	if len(bc.TrustedKeyGroups) > 0 {
		if verifier == nil {
			return nil, fmt.Errorf("trusted_key_groups %v: no key_groups configured", bc.TrustedKeyGroups)
		}
		tr, err := verifier.Trust(bc.TrustedKeyGroups...)
		if err != nil {
			return nil, err
		}
		b.trusted = tr
	}
	return b, nil
}

func maxTTL(bc *config.CacheBehavior) time.Duration {
	if bc.MaxTTL == nil {
		return cache.DefaultMaxTTL
	}
	return bc.MaxTTL.D()
}

func durPtr(d *config.Duration) *time.Duration {
	if d == nil {
		return nil
	}
	v := d.D()
	return &v
}

// distribution picks the distribution for a Host header value: aliases
// compared case-insensitively without port or trailing dot, else the
// default (the distribution without aliases), else nil. It allocates
// nothing.
func (s *Snapshot) distribution(host []byte) *Distribution {
	if i := hostPortSplit(host); i >= 0 {
		host = host[:i]
	}
	if n := len(host); n > 0 && host[n-1] == '.' {
		host = host[:n-1]
	}
	var buf [256]byte
	if len(host) <= len(buf) && len(s.byHost) > 0 {
		lower := buf[:len(host)]
		for i, c := range host {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			lower[i] = c
		}
		if d, ok := s.byHost[string(lower)]; ok {
			return d
		}
	}
	return s.def
}

// hostPortSplit returns the index of the ':' before a port in a Host
// value, or -1 (an IPv6 literal keeps its colons inside brackets).
func hostPortSplit(h []byte) int {
	for i := len(h) - 1; i >= 0; i-- {
		switch h[i] {
		case ':':
			return i
		case ']':
			return -1
		}
		if h[i] < '0' || h[i] > '9' {
			return -1
		}
	}
	return -1
}

// behavior returns the first behaviour whose pattern matches path; the
// default behaviour ("*") always does. Patterns are l7's wildcards with
// CloudFront's meaning (cloudfront.md §6.1): '*' crosses '/', '?' is one
// byte, case-sensitive; the leading '/' was added at compile time when
// the config omitted it.
func (d *Distribution) behavior(path []byte) *Behavior {
	for _, b := range d.behaviors {
		if b.pat.Match(path) {
			return b
		}
	}
	return d.behaviors[len(d.behaviors)-1]
}

// Distribution returns the compiled distribution named name, or nil.
func (s *Snapshot) Distribution(name string) *Distribution { return s.dists[name] }

func parseOriginURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("scheme %q: want http or https", u.Scheme)
	}
	if u.Host == "" {
		return nil, errors.New("no host")
	}
	return u, nil
}
