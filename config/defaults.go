package config

import (
	"time"
)

// Defaults, named so the docs, the checks and the tests agree. Each is the
// AWS default unless its comment says otherwise.
const (
	DefaultLBAdminAddress   = "127.0.0.1:9901"
	DefaultEdgeAdminAddress = "127.0.0.1:9902"
	DefaultShutdownTimeout  = 30 * time.Second
	// DefaultSSLPolicy is the console's ALB default; the API default
	// (ELBSecurityPolicy-2016-08) still allows TLS 1.0, which we do not want
	// to hand to someone who did not ask for it.
	DefaultSSLPolicy            = "ELBSecurityPolicy-TLS13-1-2-2021-06"
	DefaultHTTPIdleTimeout      = 60 * time.Second
	DefaultTCPIdleTimeout       = 350 * time.Second
	DefaultHeaderTimeout        = 5 * time.Second
	DefaultDeregistration       = 300 * time.Second
	DefaultStickinessDuration   = 24 * time.Hour
	DefaultHealthInterval       = 30 * time.Second
	DefaultALBHealthTimeout     = 5 * time.Second
	DefaultNLBTCPHealthTimeout  = 10 * time.Second
	DefaultNLBHTTPHealthTimeout = 6 * time.Second
	DefaultHealthyThreshold     = 5
	DefaultUnhealthyThreshold   = 2
	DefaultALBMatcher           = "200"
	DefaultNLBMatcher           = "200-399"

	DefaultCacheMaxSize       = Size(1 << 30)
	DefaultCacheMaxObjectSize = Size(64 << 20)
	DefaultConnectTimeout     = 10 * time.Second
	DefaultResponseTimeout    = 30 * time.Second
	DefaultKeepaliveTimeout   = 5 * time.Second
	DefaultMinTTL             = 0
	DefaultDefaultTTL         = 24 * time.Hour
	DefaultMaxTTL             = 365 * 24 * time.Hour
	DefaultErrorCachingMinTTL = 10 * time.Second
)

func isNLB(protocol string) bool { return protocol == "TCP" || protocol == "TLS" }

func dur(d *Duration, def time.Duration) {
	if *d == 0 {
		*d = Duration(def)
	}
}

func str(s *string, def string) {
	if *s == "" {
		*s = def
	}
}

// defaultsLB fills in every unset field. has tells a field left out from
// one written empty, for the few keys where "" means something (admin
// address: off).
func defaultsLB(c *LB, has func(string) bool) {
	if !has("admin.address") {
		c.Admin.Address = DefaultLBAdminAddress
	}
	dur(&c.ShutdownTimeout, DefaultShutdownTimeout)
	str(&c.AccessLog.Format, "alb")
	for i := range c.Listeners {
		l := &c.Listeners[i]
		str(&l.Protocol, "HTTP")
		if isNLB(l.Protocol) {
			dur(&l.IdleTimeout, DefaultTCPIdleTimeout)
		} else {
			dur(&l.IdleTimeout, DefaultHTTPIdleTimeout)
			str(&l.XFF, "append")
			str(&l.DesyncMitigation, "defensive")
		}
		if l.Protocol == "HTTPS" || l.Protocol == "TLS" {
			str(&l.SSLPolicy, DefaultSSLPolicy)
		}
		if l.Protocol == "TLS" {
			str(&l.ALPNPolicy, "None")
		}
		defaultsProxyProtocol(l.ProxyProtocol)
	}
	for i := range c.TargetGroups {
		defaultsGroup(&c.TargetGroups[i])
	}
}

func defaultsProxyProtocol(p *ProxyProtocolIn) {
	if p != nil {
		dur(&p.HeaderTimeout, DefaultHeaderTimeout)
	}
}

func defaultsGroup(g *TargetGroup) {
	str(&g.Protocol, "HTTP")
	nlb := isNLB(g.Protocol)
	if nlb {
		str(&g.Algorithm, "flow_hash")
	} else {
		str(&g.Algorithm, "round_robin")
	}
	if g.DeregistrationDelay == nil {
		d := Duration(DefaultDeregistration)
		g.DeregistrationDelay = &d
	}
	if s := g.Stickiness; s != nil {
		if nlb {
			str(&s.Type, "source_ip")
		} else {
			str(&s.Type, "lb_cookie")
		}
		dur(&s.Duration, DefaultStickinessDuration)
	}
	h := &g.HealthCheck
	if nlb {
		str(&h.Protocol, "TCP")
	} else {
		str(&h.Protocol, "HTTP")
	}
	str(&h.Port, "traffic-port")
	if h.Protocol != "TCP" {
		str(&h.Path, "/")
	}
	dur(&h.Interval, DefaultHealthInterval)
	if h.Timeout == 0 {
		// AWS's default timeout, shortened when the interval is shorter
		// still, so a short interval alone is a valid config: an ALB
		// timeout must stay below the interval, an NLB one within it.
		switch {
		case !nlb:
			h.Timeout = Duration(min(DefaultALBHealthTimeout, h.Interval.D()-time.Second))
		case h.Protocol == "HTTP":
			h.Timeout = Duration(min(DefaultNLBHTTPHealthTimeout, h.Interval.D()))
		default:
			h.Timeout = Duration(min(DefaultNLBTCPHealthTimeout, h.Interval.D()))
		}
	}
	if h.HealthyThreshold == 0 {
		h.HealthyThreshold = DefaultHealthyThreshold
	}
	if h.UnhealthyThreshold == 0 {
		h.UnhealthyThreshold = DefaultUnhealthyThreshold
	}
	if nlb {
		str(&h.Matcher, DefaultNLBMatcher)
	} else {
		str(&h.Matcher, DefaultALBMatcher)
	}
}

func defaultsEdge(c *Edge, has func(string) bool) {
	if !has("admin.address") {
		c.Admin.Address = DefaultEdgeAdminAddress
	}
	dur(&c.ShutdownTimeout, DefaultShutdownTimeout)
	str(&c.AccessLog.Format, "cloudfront")
	for i := range c.Listeners {
		l := &c.Listeners[i]
		str(&l.Protocol, "HTTP")
		dur(&l.IdleTimeout, DefaultHTTPIdleTimeout)
		if l.Protocol == "HTTPS" {
			str(&l.SSLPolicy, DefaultSSLPolicy)
		}
		defaultsProxyProtocol(l.ProxyProtocol)
	}
	if c.Cache.MaxSize == 0 && !has("cache.max_size") {
		c.Cache.MaxSize = DefaultCacheMaxSize
	}
	if c.Cache.MaxObjectSize == 0 && !has("cache.max_object_size") {
		c.Cache.MaxObjectSize = DefaultCacheMaxObjectSize
	}
	for i := range c.Distributions {
		d := &c.Distributions[i]
		for j := range d.Origins {
			o := &d.Origins[j]
			dur(&o.ConnectTimeout, DefaultConnectTimeout)
			dur(&o.ResponseTimeout, DefaultResponseTimeout)
			dur(&o.KeepaliveTimeout, DefaultKeepaliveTimeout)
		}
		defaultsBehavior(&d.DefaultCacheBehavior)
		for j := range d.CacheBehaviors {
			defaultsBehavior(&d.CacheBehaviors[j])
		}
		str(&d.GeoRestriction.Type, "none")
		str(&d.GeoRestriction.Unknown, "allow")
		for j := range d.CustomErrorResponses {
			e := &d.CustomErrorResponses[j]
			if e.ErrorCachingMinTTL == nil {
				t := Duration(DefaultErrorCachingMinTTL)
				e.ErrorCachingMinTTL = &t
			}
		}
	}
}

func defaultsBehavior(b *CacheBehavior) {
	str(&b.ViewerProtocolPolicy, "allow-all")
	if len(b.AllowedMethods) == 0 {
		b.AllowedMethods = []string{"GET", "HEAD"}
	}
	if len(b.CachedMethods) == 0 {
		b.CachedMethods = []string{"GET", "HEAD"}
	}
	// CloudFront's rules for unset TTLs: the default rises to the minimum
	// when the minimum is above a day, the maximum follows the default
	// when either passes a year.
	if b.DefaultTTL == nil {
		t := Duration(max(DefaultDefaultTTL, b.MinTTL.D()))
		b.DefaultTTL = &t
	}
	if b.MaxTTL == nil {
		t := Duration(max(DefaultMaxTTL, b.DefaultTTL.D()))
		b.MaxTTL = &t
	}
	for _, l := range []*NameList{&b.CacheKey.Headers, &b.CacheKey.Cookies, &b.CacheKey.QueryStrings,
		&b.OriginRequest.Headers, &b.OriginRequest.Cookies, &b.OriginRequest.QueryStrings} {
		str(&l.Mode, "none")
	}
}
