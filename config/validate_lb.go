package config

import (
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Limits of ALB listener rules (reference elb.md §1).
const (
	maxPriority         = 50000
	maxValuesPerCond    = 3
	maxEvalsPerRule     = 5
	maxWildcardsPerRule = 5
	maxForwardGroups    = 5
	maxWeight           = 999
	maxFixedBody        = 1024
	maxStickiness       = 7 * 24 * time.Hour
)

func resolveLB(c *LB, dir string) {
	if p := c.AccessLog.Path; p != "stdout" && p != "stderr" {
		c.AccessLog.Path = resolve(dir, p)
	}
	for i := range c.Listeners {
		l := &c.Listeners[i]
		for j := range l.Certificates {
			l.Certificates[j].Cert = resolve(dir, l.Certificates[j].Cert)
			l.Certificates[j].Key = resolve(dir, l.Certificates[j].Key)
		}
		if a := l.ACME; a != nil {
			a.CacheDir = resolve(dir, a.CacheDir)
			a.CARoots = resolve(dir, a.CARoots)
		}
	}
}

// minCookieSecret is the shortest cookie_secret accepted: 16 characters of
// a random base64 string carry 96 bits, beyond guessing.
const minCookieSecret = 16

func validateLB(c *LB, d *decoder) {
	d.topLevel(c.Admin, c.ShutdownTimeout, c.AccessLog, "alb")
	if n := len(c.CookieSecret.Reveal()); n > 0 && n < minCookieSecret {
		d.errf("cookie_secret", "%d characters: want at least %d (e.g. openssl rand -base64 32)", n, minCookieSecret)
	}

	groups := map[string]*TargetGroup{}
	seenGroup := seenSet{}
	for i := range c.TargetGroups {
		g := &c.TargetGroups[i]
		p := fmt.Sprintf("target_groups[%d]", i)
		d.targetGroup(p, g)
		if g.Name == "" {
			continue
		}
		if first, dup := seenGroup.dup(g.Name, p); dup {
			d.errf(p+".name", "duplicate target group name %q (first at %s)", g.Name, first)
			continue
		}
		groups[g.Name] = g
	}

	if len(c.Listeners) == 0 {
		d.errf("listeners", "at least one listener is required")
	}
	names, addrs := seenSet{}, seenSet{}
	for i := range c.Listeners {
		l := &c.Listeners[i]
		p := fmt.Sprintf("listeners[%d]", i)
		if l.Name == "" {
			d.errf(p+".name", "listener name required")
		} else if first, dup := names.dup(l.Name, p); dup {
			d.errf(p+".name", "duplicate listener name %q (first at %s)", l.Name, first)
		}
		d.listenAddr(p+".address", l.Address, addrs)
		d.listener(p, l, groups)
	}
}

func (d *decoder) listener(p string, l *Listener, groups map[string]*TargetGroup) {
	if !oneOf(l.Protocol, "HTTP", "HTTPS", "TCP", "TLS") {
		d.enum(p+".protocol", l.Protocol, "HTTP", "HTTPS", "TCP", "TLS")
		return
	}
	nlb := isNLB(l.Protocol)
	secure := l.Protocol == "HTTPS" || l.Protocol == "TLS"
	if nlb {
		d.durRange(p+".idle_timeout", l.IdleTimeout, time.Second, 6000*time.Second)
		for _, k := range []string{"xff", "xff_client_port", "desync_mitigation"} {
			if d.has(p + "." + k) {
				d.errf(p+"."+k, "only for HTTP and HTTPS listeners")
			}
		}
		if len(l.Rules) > 0 {
			d.errf(p+".rules", "%s listeners have no rules: use default_action", l.Protocol)
		}
	} else {
		d.durRange(p+".idle_timeout", l.IdleTimeout, time.Second, 4000*time.Second)
		d.enum(p+".xff", l.XFF, "append", "preserve", "remove")
		d.enum(p+".desync_mitigation", l.DesyncMitigation, "monitor", "defensive", "strictest")
	}
	if secure {
		if len(l.Certificates) == 0 && l.ACME == nil {
			d.errf(p+".certificates", "%s listener needs certificates or acme", l.Protocol)
		}
		d.sslPolicy(p+".ssl_policy", l.SSLPolicy)
		d.certificates(p+".certificates", l.Certificates)
		d.acme(p+".acme", l.ACME)
	} else {
		for _, k := range []string{"ssl_policy", "certificates", "acme"} {
			if d.has(p + "." + k) {
				d.errf(p+"."+k, "only for HTTPS and TLS listeners")
			}
		}
	}
	if l.Protocol == "TLS" {
		d.enum(p+".alpn_policy", l.ALPNPolicy, "HTTP1Only", "HTTP2Only", "HTTP2Optional", "HTTP2Preferred", "None")
	} else if d.has(p + ".alpn_policy") {
		d.errf(p+".alpn_policy", "only for TLS listeners (ALB HTTPS listeners negotiate HTTP/1.1 and h2 themselves)")
	}
	d.proxyProtocol(p+".proxy_protocol", l.ProxyProtocol)

	if !nlb {
		prios := map[int]string{}
		for j := range l.Rules {
			rp := fmt.Sprintf("%s.rules[%d]", p, j)
			r := &l.Rules[j]
			if r.Priority == 0 && !d.has(rp+".priority") {
				d.errf(rp+".priority", "priority required (1..%d)", maxPriority)
			} else if r.Priority < 1 || r.Priority > maxPriority {
				d.errf(rp+".priority", "%d out of range 1..%d", r.Priority, maxPriority)
			} else if first, dup := prios[r.Priority]; dup {
				d.errf(rp+".priority", "duplicate priority %d (first at %s)", r.Priority, first)
			} else {
				prios[r.Priority] = rp
			}
			d.conditions(rp+".conditions", &r.Conditions)
			d.action(rp+".action", &r.Action, l, groups)
		}
	}
	d.action(p+".default_action", &l.DefaultAction, l, groups)
}

func (d *decoder) acme(p string, a *ACME) {
	if a == nil {
		return
	}
	if u, err := url.Parse(a.Directory); a.Directory == "" {
		d.errf(p+".directory", "directory URL required")
	} else if err != nil || u.Scheme != "https" || u.Host == "" {
		d.errf(p+".directory", "invalid directory %q: want an https:// URL", a.Directory)
	}
	if len(a.Domains) == 0 {
		d.errf(p+".domains", "at least one domain is required")
	}
	for i, dom := range a.Domains {
		if !validDNSName(dom, false) || !strings.Contains(dom, ".") {
			d.errf(fmt.Sprintf("%s.domains[%d]", p, i), "invalid domain %q: want a DNS name (ACME HTTP and TLS-ALPN challenges cannot issue wildcards)", dom)
		}
	}
	if a.Email != "" && !strings.Contains(a.Email, "@") {
		d.errf(p+".email", "invalid email %q", a.Email)
	}
	if a.CacheDir == "" {
		d.errf(p+".cache_dir", "cache_dir required: issued certificates and the account key are kept there")
	}
	if a.CARoots != "" {
		d.readable(p+".ca_roots", a.CARoots)
	}
}

// condition value charsets beyond letters and digits (elb.md §1.2).
const (
	hostChars  = "-.*?"
	pathChars  = "_-.$/~\"'@:+&*?"
	queryChars = "_-.$/~\"'@:+&()!,;=*?\\"
)

// wildcards counts * and ? that are not escaped with a backslash (query
// values may match a literal * or ? that way).
func wildcards(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '*', '?':
			n++
		}
	}
	return n
}

func (d *decoder) conditions(p string, c *Conditions) {
	evals, wild := 0, 0
	values := func(kind string, vals []string, check func(path, v string)) {
		kp := p + "." + kind
		if d.has(kp) && len(vals) == 0 {
			d.errf(kp, "at least one value is required")
		}
		if len(vals) > maxValuesPerCond {
			d.errf(kp, "%d values: at most %d per condition", len(vals), maxValuesPerCond)
		}
		evals += len(vals)
		for i, v := range vals {
			vp := fmt.Sprintf("%s[%d]", kp, i)
			if v == "" {
				d.errf(vp, "empty value")
				continue
			}
			check(vp, v)
		}
	}
	values("host", c.Host, func(vp, v string) {
		wild += wildcards(v)
		d.hostPattern(vp, v)
	})
	values("path", c.Path, func(vp, v string) {
		wild += wildcards(v)
		if len(v) > 128 {
			d.errf(vp, "%d characters: at most 128", len(v))
		} else if i := badChar(v, pathChars); i >= 0 {
			d.errf(vp, "invalid %s in path pattern %q", describeChar(v, i), v)
		}
	})
	values("method", c.Method, func(vp, v string) {
		if len(v) > 40 {
			d.errf(vp, "%d characters: at most 40", len(v))
			return
		}
		for i := 0; i < len(v); i++ {
			if ch := v[i]; !(ch >= 'A' && ch <= 'Z' || ch == '-' || ch == '_') {
				d.errf(vp, "invalid method %q: want A-Z, - and _ (methods match case-sensitively)", v)
				return
			}
		}
	})
	values("source_ip", c.SourceIP, func(vp, v string) {
		pfx, err := checkCIDR(v)
		if err != nil {
			d.errf(vp, "%v", err)
		} else if pfx == netip.MustParsePrefix("255.255.255.255/32") {
			d.errf(vp, "255.255.255.255/32 is not allowed")
		}
	})
	for _, name := range sortedKeys(c.Header) {
		hp := p + ".header." + name
		if len(name) > 40 {
			d.errf(hp, "header name %d characters: at most 40", len(name))
		} else if strings.ContainsAny(name, "*?") {
			d.errf(hp, "wildcards are not allowed in header names")
		} else if !validToken(name) {
			d.errf(hp, "invalid header name %q", name)
		}
		values("header."+name, c.Header[name], func(vp, v string) {
			wild += wildcards(v)
			d.visible(vp, v, 128)
		})
	}
	if d.has(p+".header") && len(c.Header) == 0 {
		d.errf(p+".header", "at least one header is required")
	}
	qp := p + ".query"
	if d.has(qp) && len(c.Query) == 0 {
		d.errf(qp, "at least one value is required")
	}
	if len(c.Query) > maxValuesPerCond {
		d.errf(qp, "%d values: at most %d per condition", len(c.Query), maxValuesPerCond)
	}
	evals += len(c.Query)
	for i, q := range c.Query {
		ip := fmt.Sprintf("%s[%d]", qp, i)
		wild += wildcards(q.Key) + wildcards(q.Value)
		if q.Value == "" {
			d.errf(ip+".value", "value required (an empty key matches it under any key)")
		}
		for _, kv := range [][2]string{{"key", q.Key}, {"value", q.Value}} {
			if len(kv[1]) > 128 {
				d.errf(ip+"."+kv[0], "%d characters: at most 128", len(kv[1]))
			} else if j := badChar(kv[1], queryChars); j >= 0 {
				d.errf(ip+"."+kv[0], "invalid %s in %q", describeChar(kv[1], j), kv[1])
			}
		}
	}
	if evals == 0 {
		d.errf(p, "a rule needs at least one condition")
	}
	if evals > maxEvalsPerRule {
		d.errf(p, "%d match values: at most %d per rule", evals, maxEvalsPerRule)
	}
	if wild > maxWildcardsPerRule {
		d.errf(p, "%d wildcard characters: at most %d per rule", wild, maxWildcardsPerRule)
	}
}

// hostPattern follows ALB: ≤128 characters of letters, digits, - . * ?,
// at least one dot, and only letters (or wildcards) after the last dot. A
// pattern of wildcards alone (*) is accepted too: it is how users say
// "any host" and it cannot be written with a dot.
func (d *decoder) hostPattern(p, v string) {
	if len(v) > 128 {
		d.errf(p, "%d characters: at most 128", len(v))
		return
	}
	if i := badChar(v, hostChars); i >= 0 {
		d.errf(p, "invalid %s in host pattern %q (the port is never part of the pattern)", describeChar(v, i), v)
		return
	}
	if strings.Trim(v, "*?") == "" {
		return
	}
	dot := strings.LastIndexByte(v, '.')
	if dot < 0 {
		d.errf(p, "invalid host pattern %q: must contain a dot", v)
		return
	}
	tld := v[dot+1:]
	if tld == "" || badChar(strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return '#'
		}
		return r
	}, tld), "*?") >= 0 {
		d.errf(p, "invalid host pattern %q: only letters may follow the last dot", v)
	}
}

// visible allows printable ASCII only: ALB ignores control characters when matching.
func (d *decoder) visible(p, v string, maxLen int) {
	if len(v) > maxLen {
		d.errf(p, "%d characters: at most %d", len(v), maxLen)
		return
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] >= 0x7f {
			d.errf(p, "invalid %s: only visible ASCII is matched", describeChar(v, i))
			return
		}
	}
}

func (d *decoder) action(p string, a *Action, l *Listener, groups map[string]*TargetGroup) {
	kinds := 0
	for _, set := range []bool{a.Forward != nil, a.Redirect != nil, a.FixedResponse != nil} {
		if set {
			kinds++
		}
	}
	switch {
	case kinds == 0:
		d.errf(p, "an action is required: one of forward, redirect, fixed_response")
		return
	case kinds > 1:
		d.errf(p, "exactly one of forward, redirect, fixed_response is allowed, got %d", kinds)
		return
	}
	nlb := isNLB(l.Protocol)
	if nlb && a.Forward == nil {
		d.errf(p, "%s listeners only forward", l.Protocol)
		return
	}
	switch {
	case a.Forward != nil:
		d.forward(p+".forward", a.Forward, l, groups)
	case a.Redirect != nil:
		d.redirect(p+".redirect", a.Redirect, l)
	case a.FixedResponse != nil:
		d.fixedResponse(p+".fixed_response", a.FixedResponse)
	}
}

func (d *decoder) forward(p string, f *Forward, l *Listener, groups map[string]*TargetGroup) {
	type ref struct{ path, name string }
	var refs []ref
	switch {
	case f.TargetGroup != "" && len(f.TargetGroups) > 0:
		d.errf(p, "set target_group or target_groups, not both")
		return
	case f.TargetGroup != "":
		refs = append(refs, ref{p + ".target_group", f.TargetGroup})
	case len(f.TargetGroups) == 0:
		d.errf(p, "target_group or target_groups required")
		return
	default:
		if len(f.TargetGroups) > maxForwardGroups {
			d.errf(p+".target_groups", "%d target groups: at most %d", len(f.TargetGroups), maxForwardGroups)
		}
		seen, total := seenSet{}, 0
		for i, wg := range f.TargetGroups {
			gp := fmt.Sprintf("%s.target_groups[%d]", p, i)
			if wg.Name == "" {
				d.errf(gp+".name", "target group name required")
				continue
			}
			if first, dup := seen.dup(wg.Name, gp); dup {
				d.errf(gp+".name", "target group %q listed twice (first at %s)", wg.Name, first)
			}
			refs = append(refs, ref{gp + ".name", wg.Name})
			switch {
			case wg.Weight != nil:
				d.intRange(gp+".weight", *wg.Weight, 0, maxWeight)
				total += max(*wg.Weight, 0)
			case len(f.TargetGroups) > 1:
				d.errf(gp+".weight", "weight required (0..%d) when forwarding to several groups", maxWeight)
			default:
				total++
			}
		}
		if total == 0 && !d.isBad(p) {
			d.errf(p+".target_groups", "all weights are 0: no group would get traffic")
		}
	}
	for _, r := range refs {
		g, ok := groups[r.name]
		if !ok {
			d.errf(r.path, "unknown target group %q", r.name)
			continue
		}
		if isNLB(l.Protocol) != isNLB(g.Protocol) {
			want := "HTTP or HTTPS"
			if isNLB(l.Protocol) {
				want = "TCP or TLS"
			}
			d.errf(r.path, "target group %q has protocol %s: a %s listener forwards only to %s groups", r.name, g.Protocol, l.Protocol, want)
		}
	}
	if f.Stickiness != 0 {
		d.durRange(p+".stickiness", f.Stickiness, time.Second, maxStickiness)
	}
}

func (d *decoder) redirect(p string, r *Redirect, l *Listener) {
	if r.Status == 0 && !d.has(p+".status") {
		d.errf(p+".status", "status required: 301 or 302")
	} else if r.Status != 301 && r.Status != 302 {
		d.errf(p+".status", "invalid status %d: want 301 or 302", r.Status)
	}
	proto := r.Protocol
	if proto != "" && !oneOf(proto, "HTTP", "HTTPS", "#{protocol}") {
		d.errf(p+".protocol", "invalid value %q: want HTTP, HTTPS or #{protocol}", proto)
	}
	if l.Protocol == "HTTPS" && proto == "HTTP" {
		d.errf(p+".protocol", "redirect from HTTPS to HTTP is not allowed")
	}
	if r.Port != "" && r.Port != "#{port}" {
		if n, err := strconv.Atoi(r.Port); err != nil || n < 1 || n > 65535 {
			d.errf(p+".port", "invalid port %q: want 1..65535 or #{port}", r.Port)
		}
	}
	if len(r.Host) > 128 {
		d.errf(p+".host", "%d characters: at most 128", len(r.Host))
	}
	if r.Path != "" {
		if !strings.HasPrefix(r.Path, "/") {
			d.errf(p+".path", "path %q must start with /", r.Path)
		} else if len(r.Path) > 128 {
			d.errf(p+".path", "%d characters: at most 128", len(r.Path))
		}
	}
	if strings.HasPrefix(r.Query, "?") {
		d.errf(p+".query", "query %q must not start with ?", r.Query)
	} else if len(r.Query) > 128 {
		d.errf(p+".query", "%d characters: at most 128", len(r.Query))
	}
	same := (proto == "" || proto == "#{protocol}" || proto == l.Protocol) &&
		(r.Host == "" || r.Host == "#{host}") &&
		(r.Port == "" || r.Port == "#{port}") &&
		(r.Path == "" || r.Path == "/#{path}")
	if same {
		d.errf(p, "redirect changes nothing (protocol, host, port and path all keep their values): it would loop")
	}
}

var fixedContentTypes = []string{"text/plain", "text/css", "text/html", "application/javascript", "application/json"}

func (d *decoder) fixedResponse(p string, f *FixedResponse) {
	if f.Status == 0 && !d.has(p+".status") {
		d.errf(p+".status", "status required (2XX, 4XX or 5XX)")
	} else if c := f.Status / 100; f.Status < 200 || f.Status > 599 || c == 3 {
		d.errf(p+".status", "invalid status %d: want 2XX, 4XX or 5XX", f.Status)
	}
	if f.ContentType != "" {
		d.enum(p+".content_type", f.ContentType, fixedContentTypes...)
	}
	if len(f.Body) > maxFixedBody {
		d.errf(p+".body", "%d bytes: at most %d", len(f.Body), maxFixedBody)
	}
}

func (d *decoder) targetGroup(p string, g *TargetGroup) {
	if g.Name == "" {
		d.errf(p+".name", "target group name required")
	} else if strings.ContainsFunc(g.Name, func(r rune) bool { return r <= ' ' || r >= 0x7f }) {
		d.errf(p+".name", "invalid name %q: no spaces or control characters", g.Name)
	}
	if !oneOf(g.Protocol, "HTTP", "HTTPS", "TCP", "TLS") {
		d.enum(p+".protocol", g.Protocol, "HTTP", "HTTPS", "TCP", "TLS")
		return
	}
	nlb := isNLB(g.Protocol)
	seen := seenSet{}
	for i, t := range g.Targets {
		tp := fmt.Sprintf("%s.targets[%d]", p, i)
		if t.Address == "" {
			d.errf(tp, "target address required (host:port)")
			continue
		}
		if err := checkHostPort(t.Address, false); err != nil {
			d.errf(tp, "%v", err)
			continue
		}
		if first, dup := seen.dup(canonAddr(t.Address), tp); dup {
			d.errf(tp, "duplicate target %s (first at %s)", t.Address, first)
		}
		d.intRange(tp+".weight", t.Weight, 0, maxWeight)
	}
	if nlb {
		d.enum(p+".algorithm", g.Algorithm, "flow_hash", "source_ip")
	} else {
		d.enum(p+".algorithm", g.Algorithm, "round_robin", "least_outstanding_requests", "weighted_random")
	}
	if g.DeregistrationDelay != nil {
		d.durRange(p+".deregistration_delay", *g.DeregistrationDelay, 0, time.Hour)
	}
	if g.SlowStart != 0 {
		d.durRange(p+".slow_start", g.SlowStart, 30*time.Second, 900*time.Second)
		if g.Algorithm == "least_outstanding_requests" {
			d.errf(p+".slow_start", "slow start cannot be used with least_outstanding_requests")
		}
		if nlb {
			d.errf(p+".slow_start", "slow start is only for HTTP and HTTPS groups")
		}
	}
	if s := g.Stickiness; s != nil {
		sp := p + ".stickiness"
		if nlb {
			d.enum(sp+".type", s.Type, "source_ip")
		} else {
			d.enum(sp+".type", s.Type, "lb_cookie", "app_cookie")
		}
		d.durRange(sp+".duration", s.Duration, time.Second, maxStickiness)
		switch {
		case s.Type == "app_cookie" && s.CookieName == "":
			d.errf(sp+".cookie_name", "cookie_name required for app_cookie stickiness")
		case s.Type == "app_cookie" && strings.HasPrefix(strings.ToUpper(s.CookieName), "AWSALB"):
			d.errf(sp+".cookie_name", "cookie name %q is reserved: names starting with AWSALB, AWSALBAPP or AWSALBTG belong to the load balancer", s.CookieName)
		case s.Type == "app_cookie" && !validToken(s.CookieName):
			d.errf(sp+".cookie_name", "invalid cookie name %q", s.CookieName)
		case s.Type != "app_cookie" && s.CookieName != "":
			d.errf(sp+".cookie_name", "cookie_name is only for app_cookie stickiness")
		}
	}
	d.healthCheck(p+".health_check", &g.HealthCheck, nlb)
	if g.ProxyProtocolEndpointID != "" && !g.ProxyProtocolV2 {
		d.errf(p+".proxy_protocol_endpoint_id", "needs proxy_protocol_v2: true")
	}
	if g.ConnectionTermination && !nlb {
		d.errf(p+".connection_termination", "only for TCP and TLS groups")
	}
}

func (d *decoder) healthCheck(p string, h *HealthCheck, nlb bool) {
	if nlb {
		d.enum(p+".protocol", h.Protocol, "TCP", "HTTP", "HTTPS")
	} else {
		d.enum(p+".protocol", h.Protocol, "HTTP", "HTTPS")
	}
	if h.Port != "traffic-port" {
		if n, err := strconv.Atoi(h.Port); err != nil || n < 1 || n > 65535 {
			d.errf(p+".port", "invalid port %q: want traffic-port or 1..65535", h.Port)
		}
	}
	if h.Protocol == "TCP" {
		for _, k := range []string{"path", "matcher"} {
			if d.has(p + "." + k) {
				d.errf(p+"."+k, "only for HTTP and HTTPS health checks")
			}
		}
	} else {
		if !strings.HasPrefix(h.Path, "/") {
			d.errf(p+".path", "path %q must start with /", h.Path)
		} else if len(h.Path) > 1024 {
			d.errf(p+".path", "%d characters: at most 1024", len(h.Path))
		}
	}
	d.durRange(p+".interval", h.Interval, 5*time.Second, 300*time.Second)
	d.durRange(p+".timeout", h.Timeout, 2*time.Second, 120*time.Second)
	switch {
	case !nlb && h.Timeout >= h.Interval:
		d.errf(p+".timeout", "timeout %s must be less than the interval %s", fmtDur(h.Timeout.D()), fmtDur(h.Interval.D()))
	case nlb && h.Timeout > h.Interval:
		d.errf(p+".timeout", "timeout %s must not exceed the interval %s", fmtDur(h.Timeout.D()), fmtDur(h.Interval.D()))
	}
	d.intRange(p+".healthy_threshold", h.HealthyThreshold, 2, 10)
	d.intRange(p+".unhealthy_threshold", h.UnhealthyThreshold, 2, 10)
	hi := 499
	if nlb {
		hi = 599
	}
	if h.Protocol != "TCP" {
		if err := checkMatcher(h.Matcher, 200, hi); err != nil {
			d.errf(p+".matcher", "%v", err)
		}
	}
}

// checkMatcher parses "200", "200,202" or "200-299" with codes in lo..hi.
func checkMatcher(m string, lo, hi int) error {
	if m == "" {
		return fmt.Errorf("matcher required")
	}
	for _, part := range strings.Split(m, ",") {
		a, b, isRange := strings.Cut(strings.TrimSpace(part), "-")
		x, err1 := strconv.Atoi(a)
		y := x
		var err2 error
		if isRange {
			y, err2 = strconv.Atoi(b)
		}
		if err1 != nil || err2 != nil {
			return fmt.Errorf("invalid matcher %q: want codes such as 200, 200,202 or 200-299", m)
		}
		if x < lo || y > hi || x > y {
			return fmt.Errorf("invalid matcher %q: codes must be in %d..%d, ranges low-high", m, lo, hi)
		}
	}
	return nil
}

// topLevel checks the keys lb and edge files share: the admin address, the
// shutdown timeout and the access-log format (format is the binary's own
// line format, besides json).
func (d *decoder) topLevel(admin Admin, shutdown Duration, log AccessLog, format string) {
	if admin.Address != "" {
		if err := checkHostPort(admin.Address, true); err != nil {
			d.errf("admin.address", "%v", err)
		}
	}
	if shutdown.D() > time.Hour {
		d.errf("shutdown_timeout", "%s out of range 1s..1h", fmtDur(shutdown.D()))
	}
	d.enum("access_log.format", log.Format, format, "json")
}
