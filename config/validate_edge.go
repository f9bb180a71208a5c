package config

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// CloudFront limits and lists (reference cloudfront.md §3.1, §4, §6).
var (
	// forbiddenOriginHeaders may not be set as origin custom headers; names
	// starting with X-Amz- or X-Edge- are refused too.
	forbiddenOriginHeaders = []string{
		"cache-control", "connection", "content-length", "cookie", "host", "if-match",
		"if-modified-since", "if-none-match", "if-range", "if-unmodified-since", "max-forwards",
		"pragma", "proxy-authorization", "proxy-connection", "range", "request-range", "te",
		"trailer", "transfer-encoding", "upgrade", "via", "x-real-ip",
	}
	failoverCodes      = []int{400, 403, 404, 416, 500, 502, 503, 504}
	errorCodes         = []int{400, 403, 404, 405, 414, 416, 500, 501, 502, 503, 504}
	errorResponseCodes = []int{200, 400, 403, 404, 405, 414, 416, 500, 501, 502, 503, 504}
	// methodSets are the three allowed-methods sets CloudFront offers.
	methodSets = [][]string{
		{"GET", "HEAD"},
		{"GET", "HEAD", "OPTIONS"},
		{"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"},
	}
	cachedMethodSets = [][]string{{"GET", "HEAD"}, {"GET", "HEAD", "OPTIONS"}}
	// notInCacheKey are CloudFront headers allowed only in origin request policies.
	notInCacheKey = []string{"cloudfront-viewer-address", "cloudfront-viewer-asn", "cloudfront-viewer-tls",
		"cloudfront-viewer-ja3-fingerprint", "cloudfront-viewer-ja4-fingerprint"}
)

const (
	maxKeysPerGroup      = 5
	maxPolicyNames       = 10
	maxCustomHeaders     = 10
	maxPathPattern       = 255
	pathPatternChars     = "_-.*$/~\"'@:+&?"
	maxErrorCachingTTL   = 365 * 24 * time.Hour
	maxTTLLimit          = 100 * 365 * 24 * time.Hour
	maxCustomHeaderName  = 256
	maxCustomHeaderValue = 1783
)

func resolveEdge(c *Edge, dir string) {
	if p := c.AccessLog.Path; p != "stdout" && p != "stderr" {
		c.AccessLog.Path = resolve(dir, p)
	}
	for i := range c.Listeners {
		l := &c.Listeners[i]
		for j := range l.Certificates {
			l.Certificates[j].Cert = resolve(dir, l.Certificates[j].Cert)
			l.Certificates[j].Key = resolve(dir, l.Certificates[j].Key)
		}
	}
	c.Geo.Database = resolve(dir, c.Geo.Database)
	for i := range c.KeyGroups {
		for j := range c.KeyGroups[i].Keys {
			k := &c.KeyGroups[i].Keys[j]
			k.PublicKey = resolve(dir, k.PublicKey)
		}
	}
	for i := range c.Distributions {
		d := &c.Distributions[i]
		for _, b := range append([]*CacheBehavior{&d.DefaultCacheBehavior}, ptrs(d.CacheBehaviors)...) {
			for j := range b.FunctionAssociations {
				b.FunctionAssociations[j].Function = resolve(dir, b.FunctionAssociations[j].Function)
			}
			for j := range b.LambdaFunctionAssociations {
				b.LambdaFunctionAssociations[j].Function = resolve(dir, b.LambdaFunctionAssociations[j].Function)
			}
		}
	}
}

func ptrs[T any](s []T) []*T {
	out := make([]*T, len(s))
	for i := range s {
		out[i] = &s[i]
	}
	return out
}

func validateEdge(c *Edge, d *decoder) {
	d.topLevel(c.Admin, c.ShutdownTimeout, c.AccessLog, "cloudfront")

	if len(c.Listeners) == 0 {
		d.errf("listeners", "at least one listener is required")
	}
	addrs := seenSet{}
	for i := range c.Listeners {
		l := &c.Listeners[i]
		p := fmt.Sprintf("listeners[%d]", i)
		d.listenAddr(p+".address", l.Address, addrs)
		d.enum(p+".protocol", l.Protocol, "HTTP", "HTTPS")
		d.durRange(p+".idle_timeout", l.IdleTimeout, time.Second, 4000*time.Second)
		d.proxyProtocol(p+".proxy_protocol", l.ProxyProtocol)
		d.cidrs(p+".trusted_proxies", l.TrustedProxies)
		switch l.Protocol {
		case "HTTPS":
			if len(l.Certificates) == 0 {
				d.errf(p+".certificates", "HTTPS listener needs certificates")
			}
			d.sslPolicy(p+".ssl_policy", l.SSLPolicy)
			d.certificates(p+".certificates", l.Certificates)
		case "HTTP":
			for _, k := range []string{"ssl_policy", "certificates"} {
				if d.has(p + "." + k) {
					d.errf(p+"."+k, "only for HTTPS listeners")
				}
			}
		}
	}

	if c.Cache.MaxSize <= 0 {
		d.errf("cache.max_size", "must be greater than 0")
	}
	if c.Cache.MaxObjectSize <= 0 {
		d.errf("cache.max_object_size", "must be greater than 0")
	} else if c.Cache.MaxSize > 0 && c.Cache.MaxObjectSize > c.Cache.MaxSize {
		d.errf("cache.max_object_size", "%s exceeds cache.max_size %s", c.Cache.MaxObjectSize, c.Cache.MaxSize)
	}
	if c.Geo.Database != "" {
		d.readable("geo.database", c.Geo.Database)
	}

	keyGroups := seenSet{}
	for i, kg := range c.KeyGroups {
		p := fmt.Sprintf("key_groups[%d]", i)
		if kg.Name == "" {
			d.errf(p+".name", "key group name required")
		} else if first, dup := keyGroups.dup(kg.Name, p); dup {
			d.errf(p+".name", "duplicate key group name %q (first at %s)", kg.Name, first)
		}
		if len(kg.Keys) == 0 || len(kg.Keys) > maxKeysPerGroup {
			d.errf(p+".keys", "%d keys: want 1..%d", len(kg.Keys), maxKeysPerGroup)
		}
		ids := seenSet{}
		for j, k := range kg.Keys {
			kp := fmt.Sprintf("%s.keys[%d]", p, j)
			if k.ID == "" {
				d.errf(kp+".id", "key id required")
			} else if strings.ContainsFunc(k.ID, func(r rune) bool { return r <= ' ' || r >= 0x7f }) {
				d.errf(kp+".id", "invalid key id %q", k.ID)
			} else if first, dup := ids.dup(k.ID, kp); dup {
				d.errf(kp+".id", "duplicate key id %q (first at %s)", k.ID, first)
			}
			d.readable(kp+".public_key", k.PublicKey)
		}
	}

	if len(c.Distributions) == 0 {
		d.errf("distributions", "at least one distribution is required")
	}
	names, aliases := seenSet{}, seenSet{}
	defaultDist := ""
	for i := range c.Distributions {
		dist := &c.Distributions[i]
		p := fmt.Sprintf("distributions[%d]", i)
		if dist.Name == "" {
			d.errf(p+".name", "distribution name required")
		} else if first, dup := names.dup(dist.Name, p); dup {
			d.errf(p+".name", "duplicate distribution name %q (first at %s)", dist.Name, first)
		}
		if len(dist.Aliases) == 0 {
			if defaultDist != "" {
				d.errf(p+".aliases", "only one distribution may have no aliases (the default); %s has none already", defaultDist)
			} else {
				defaultDist = p
			}
		}
		for j, a := range dist.Aliases {
			ap := fmt.Sprintf("%s.aliases[%d]", p, j)
			if !validDNSName(a, true) {
				d.errf(ap, "invalid alias %q: want a DNS name, optionally *.name", a)
			} else if first, dup := aliases.dup(strings.ToLower(strings.TrimSuffix(a, ".")), ap); dup {
				d.errf(ap, "alias %q already used by %s", a, first)
			}
		}
		d.distribution(p, dist, keyGroups)
	}
}

func (d *decoder) distribution(p string, dist *Distribution, keyGroups seenSet) {
	// Origins and origin groups share one namespace: target_origin names either.
	ids := seenSet{}
	origins := map[string]bool{}
	if len(dist.Origins) == 0 {
		d.errf(p+".origins", "at least one origin is required")
	}
	for i, o := range dist.Origins {
		op := fmt.Sprintf("%s.origins[%d]", p, i)
		if o.ID == "" {
			d.errf(op+".id", "origin id required")
		} else if first, dup := ids.dup(o.ID, op); dup {
			d.errf(op+".id", "duplicate id %q (first at %s)", o.ID, first)
		} else {
			origins[o.ID] = true
		}
		d.originURL(op+".url", o.URL)
		d.customHeaders(op+".custom_headers", o.CustomHeaders)
		d.durRange(op+".connect_timeout", o.ConnectTimeout, time.Second, 10*time.Second)
		d.durRange(op+".response_timeout", o.ResponseTimeout, time.Second, 180*time.Second)
		d.durRange(op+".keepalive_timeout", o.KeepaliveTimeout, time.Second, 180*time.Second)
	}
	for i, g := range dist.OriginGroups {
		gp := fmt.Sprintf("%s.origin_groups[%d]", p, i)
		if g.ID == "" {
			d.errf(gp+".id", "origin group id required")
		} else if first, dup := ids.dup(g.ID, gp); dup {
			d.errf(gp+".id", "duplicate id %q (first at %s)", g.ID, first)
		}
		if len(g.Members) != 2 {
			d.errf(gp+".members", "%d members: an origin group has exactly 2 (primary, then secondary)", len(g.Members))
		}
		for j, m := range g.Members {
			if !origins[m] {
				d.errf(fmt.Sprintf("%s.members[%d]", gp, j), "unknown origin %q (members must be origins, not groups)", m)
			}
		}
		if len(g.Members) == 2 && g.Members[0] == g.Members[1] {
			d.errf(gp+".members", "primary and secondary are the same origin %q", g.Members[0])
		}
		if len(g.FailoverStatusCodes) == 0 {
			d.errf(gp+".failover_status_codes", "at least one status code is required (from %s)", ints(failoverCodes))
		}
		seen := map[int]bool{}
		for j, code := range g.FailoverStatusCodes {
			cp := fmt.Sprintf("%s.failover_status_codes[%d]", gp, j)
			if !slices.Contains(failoverCodes, code) {
				d.errf(cp, "invalid status %d: want one of %s", code, ints(failoverCodes))
			} else if seen[code] {
				d.errf(cp, "duplicate status %d", code)
			}
			seen[code] = true
		}
	}
	targets := map[string]bool{}
	for k := range ids {
		targets[k] = true
	}
	d.behavior(p+".default_cache_behavior", &dist.DefaultCacheBehavior, true, targets, keyGroups)
	patterns := seenSet{}
	for i := range dist.CacheBehaviors {
		bp := fmt.Sprintf("%s.cache_behaviors[%d]", p, i)
		b := &dist.CacheBehaviors[i]
		d.behavior(bp, b, false, targets, keyGroups)
		if b.PathPattern != "" {
			if first, dup := patterns.dup("/"+strings.TrimPrefix(b.PathPattern, "/"), bp); dup {
				d.errf(bp+".path_pattern", "duplicate path pattern %q (first at %s)", b.PathPattern, first)
			}
		}
	}
	d.geoRestriction(p+".geo_restriction", &dist.GeoRestriction)
	codes := map[int]string{}
	for i, e := range dist.CustomErrorResponses {
		ep := fmt.Sprintf("%s.custom_error_responses[%d]", p, i)
		if !slices.Contains(errorCodes, e.ErrorCode) {
			d.errf(ep+".error_code", "invalid error code %d: want one of %s", e.ErrorCode, ints(errorCodes))
		} else if first, dup := codes[e.ErrorCode]; dup {
			d.errf(ep+".error_code", "duplicate error code %d (first at %s)", e.ErrorCode, first)
		} else {
			codes[e.ErrorCode] = ep
		}
		if e.ResponseCode != 0 && !slices.Contains(errorResponseCodes, e.ResponseCode) {
			d.errf(ep+".response_code", "invalid response code %d: want one of %s", e.ResponseCode, ints(errorResponseCodes))
		}
		switch {
		case e.ResponsePagePath != "" && !strings.HasPrefix(e.ResponsePagePath, "/"):
			d.errf(ep+".response_page_path", "path %q must start with /", e.ResponsePagePath)
		case e.ResponsePagePath != "" && e.ResponseCode == 0:
			d.errf(ep+".response_code", "response_code required with response_page_path")
		case e.ResponsePagePath == "" && e.ResponseCode != 0:
			d.errf(ep+".response_page_path", "response_page_path required with response_code")
		}
		if e.ErrorCachingMinTTL != nil {
			d.durRange(ep+".error_caching_min_ttl", *e.ErrorCachingMinTTL, 0, maxErrorCachingTTL)
		}
	}
}

func ints(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ", ")
}

func (d *decoder) originURL(p, raw string) {
	if raw == "" {
		d.errf(p, "origin url required (http://host[:port][/prefix])")
		return
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		d.errf(p, "invalid url %q", raw)
	case u.Scheme != "http" && u.Scheme != "https":
		d.errf(p, "invalid url %q: scheme must be http or https", raw)
	case u.Host == "" || u.Hostname() == "":
		d.errf(p, "invalid url %q: host required", raw)
	case u.User != nil:
		d.errf(p, "invalid url %q: user information is not allowed", raw)
	case u.RawQuery != "" || u.ForceQuery:
		d.errf(p, "invalid url %q: no query allowed (the path is an origin path prefix)", raw)
	case u.Fragment != "":
		d.errf(p, "invalid url %q: no fragment allowed", raw)
	default:
		if u.Port() != "" {
			if err := checkHostPort(u.Host, false); err != nil {
				d.errf(p, "invalid url %q: %v", raw, err)
			}
		}
	}
}

func (d *decoder) customHeaders(p string, h map[string]Secret) {
	if len(h) > maxCustomHeaders {
		d.errf(p, "%d custom headers: at most %d", len(h), maxCustomHeaders)
	}
	seen := seenSet{}
	for _, name := range sortedKeys(h) {
		hp := p + "." + name
		lower := strings.ToLower(name)
		switch {
		case !validToken(name) || len(name) > maxCustomHeaderName:
			d.errf(hp, "invalid header name %q", name)
		case slices.Contains(forbiddenOriginHeaders, lower) || strings.HasPrefix(lower, "x-amz-") || strings.HasPrefix(lower, "x-edge-"):
			d.errf(hp, "header %s cannot be set as an origin custom header (CloudFront forbids it)", name)
		}
		if first, dup := seen.dup(lower, hp); dup {
			d.errf(hp, "header %s duplicates %s (names are case-insensitive)", name, first)
		}
		v := string(h[name])
		if len(v) > maxCustomHeaderValue {
			d.errf(hp, "value %d characters: at most %d", len(v), maxCustomHeaderValue)
		} else if strings.ContainsAny(v, "\r\n\x00") {
			d.errf(hp, "value contains a control character")
		}
	}
}

func (d *decoder) behavior(p string, b *CacheBehavior, isDefault bool, targets map[string]bool, keyGroups seenSet) {
	if isDefault {
		if b.PathPattern != "" && b.PathPattern != "*" {
			d.errf(p+".path_pattern", "the default cache behavior matches every path: leave path_pattern out")
		}
	} else {
		d.pathPattern(p+".path_pattern", b.PathPattern)
	}
	if b.TargetOrigin == "" {
		d.errf(p+".target_origin", "target_origin required")
	} else if !targets[b.TargetOrigin] {
		d.errf(p+".target_origin", "unknown origin or origin group %q", b.TargetOrigin)
	}
	d.enum(p+".viewer_protocol_policy", b.ViewerProtocolPolicy, "allow-all", "redirect-to-https", "https-only")
	if !matchSet(b.AllowedMethods, methodSets) {
		d.errf(p+".allowed_methods", "invalid set %v: want [GET, HEAD], [GET, HEAD, OPTIONS] or [GET, HEAD, OPTIONS, PUT, PATCH, POST, DELETE]", b.AllowedMethods)
	}
	if !matchSet(b.CachedMethods, cachedMethodSets) {
		d.errf(p+".cached_methods", "invalid set %v: want [GET, HEAD] or [GET, HEAD, OPTIONS]", b.CachedMethods)
	} else if slices.Contains(b.CachedMethods, "OPTIONS") && !slices.Contains(b.AllowedMethods, "OPTIONS") {
		d.errf(p+".cached_methods", "OPTIONS is cached but not allowed")
	}
	minT, defT, maxT := b.MinTTL.D(), b.DefaultTTL.D(), b.MaxTTL.D()
	for _, t := range []struct {
		k string
		v time.Duration
	}{{"min_ttl", minT}, {"default_ttl", defT}, {"max_ttl", maxT}} {
		if t.v > maxTTLLimit {
			d.errf(p+"."+t.k, "%s exceeds 100 years", fmtDur(t.v))
		}
	}
	if minT > defT {
		d.errf(p+".default_ttl", "default_ttl %s is below min_ttl %s", fmtDur(defT), fmtDur(minT))
	}
	if defT > maxT {
		d.errf(p+".max_ttl", "max_ttl %s is below default_ttl %s", fmtDur(maxT), fmtDur(defT))
	}
	d.nameList(p+".cache_key.headers", b.CacheKey.Headers, "header", false, true)
	d.nameList(p+".cache_key.cookies", b.CacheKey.Cookies, "cookie", true, false)
	d.nameList(p+".cache_key.query_strings", b.CacheKey.QueryStrings, "query", true, false)
	d.nameList(p+".origin_request.headers", b.OriginRequest.Headers, "header", true, false)
	d.nameList(p+".origin_request.cookies", b.OriginRequest.Cookies, "cookie", true, false)
	d.nameList(p+".origin_request.query_strings", b.OriginRequest.QueryStrings, "query", true, false)
	for i, kg := range b.TrustedKeyGroups {
		if _, ok := keyGroups[kg]; !ok {
			d.errf(fmt.Sprintf("%s.trusted_key_groups[%d]", p, i), "unknown key group %q", kg)
		}
	}
	d.associations(p, b)
}

// matchSet reports whether got holds exactly one of the sets, in any order.
func matchSet(got []string, sets [][]string) bool {
	for _, s := range sets {
		if len(s) != len(got) {
			continue
		}
		ok := true
		for _, m := range s {
			if !slices.Contains(got, m) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func (d *decoder) pathPattern(p, v string) {
	switch {
	case v == "":
		d.errf(p, "path_pattern required")
	case len(v) > maxPathPattern:
		d.errf(p, "%d characters: at most %d", len(v), maxPathPattern)
	default:
		if i := badChar(v, pathPatternChars); i >= 0 {
			d.errf(p, "invalid %s in path pattern %q", describeChar(v, i), v)
		}
	}
}

// nameList checks a cache key or origin request item: at most 10 names,
// each a valid header, cookie or query-string name, no duplicates.
func (d *decoder) nameList(p string, l NameList, kind string, allowAll, cacheKey bool) {
	if l.Mode == "all" && !allowAll {
		d.errf(p, "all is not allowed here: list the headers (each becomes part of the cache key)")
	}
	if l.Mode != "list" {
		return
	}
	if len(l.Names) > maxPolicyNames {
		d.errf(p, "%d names: at most %d", len(l.Names), maxPolicyNames)
	}
	seen := seenSet{}
	for i, n := range l.Names {
		np := fmt.Sprintf("%s[%d]", p, i)
		key := n
		switch kind {
		case "header":
			key = strings.ToLower(n)
			if !validToken(n) {
				d.errf(np, "invalid header name %q", n)
				continue
			}
			if cacheKey && slices.Contains(notInCacheKey, key) {
				d.errf(np, "%s cannot be part of the cache key (origin request only)", n)
			}
		case "cookie":
			if !validToken(n) {
				d.errf(np, "invalid cookie name %q", n)
				continue
			}
		default:
			if n == "" || strings.ContainsAny(n, "&=# ") || badChar(n, "-._~!$'()*+,;:@/?%") >= 0 {
				d.errf(np, "invalid query string name %q", n)
				continue
			}
		}
		if first, dup := seen.dup(key, np); dup {
			d.errf(np, "duplicate name %q (first at %s)", n, first)
		}
	}
}

func (d *decoder) associations(p string, b *CacheBehavior) {
	viewer := map[string]bool{}
	check := func(kind string, assocs []FunctionAssociation, events []string) {
		seen := seenSet{}
		for i, a := range assocs {
			ap := fmt.Sprintf("%s.%s[%d]", p, kind, i)
			if !oneOf(a.EventType, events...) {
				d.errf(ap+".event_type", "invalid event %q: want one of %s", a.EventType, list(events...))
			} else if first, dup := seen.dup(a.EventType, ap); dup {
				d.errf(ap+".event_type", "a second %s association (first at %s): one per event", a.EventType, first)
			} else if strings.HasPrefix(a.EventType, "viewer-") {
				if viewer[a.EventType] {
					d.errf(ap+".event_type", "CloudFront Functions and Lambda@Edge cannot share the %s event", a.EventType)
				}
				viewer[a.EventType] = true
			}
			if a.IncludeBody && (kind == "function_associations" || !strings.HasSuffix(a.EventType, "-request")) {
				d.errf(ap+".include_body", "only for Lambda@Edge request events")
			}
			d.readable(ap+".function", a.Function)
			// Refused rather than ignored: a user who wrote a hook expects it
			// to run, and silently serving without it could expose content.
			d.errf(ap, "edge hooks (CloudFront Functions, Lambda@Edge) are not in this build of edge; remove the association")
		}
	}
	check("function_associations", b.FunctionAssociations, []string{"viewer-request", "viewer-response"})
	check("lambda_function_associations", b.LambdaFunctionAssociations, []string{"viewer-request", "viewer-response", "origin-request", "origin-response"})
}

func (d *decoder) geoRestriction(p string, g *GeoRestriction) {
	d.enum(p+".type", g.Type, "none", "whitelist", "blacklist")
	d.enum(p+".unknown", g.Unknown, "allow", "deny")
	switch {
	case g.Type == "none" && len(g.Locations) > 0:
		d.errf(p+".locations", "locations need type whitelist or blacklist")
	case g.Type != "none" && len(g.Locations) == 0:
		d.errf(p+".locations", "at least one country code is required for %s", g.Type)
	}
	seen := seenSet{}
	for i, cc := range g.Locations {
		lp := fmt.Sprintf("%s.locations[%d]", p, i)
		if !IsCountry(cc) {
			d.errf(lp, "unknown country code %q: want an ISO 3166-1 alpha-2 code such as US", cc)
		} else if first, dup := seen.dup(cc, lp); dup {
			d.errf(lp, "duplicate country %s (first at %s)", cc, first)
		}
	}
}
