package l7

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard/switchyard/config"
)

type action struct {
	kind  Actions
	fwd   forwardAction
	redir redirectAction
	fixed fixedAction
}

type weightedGroup struct {
	tg     *TargetGroup
	weight uint32
}

type forwardAction struct {
	groups []weightedGroup
	total  uint32
	// stickiness is the AWSALBTG window; 0 = off.
	stickiness time.Duration
	// scope binds the AWSALBTG cookie to this set of groups.
	scope string
}

type redirectAction struct {
	protocol, host, port, path, query string
	status                            int
}

type fixedAction struct {
	status      int
	contentType string
	body        []byte
}

const (
	maxForwardGroups = 5
	maxGroupWeight   = 999
	maxFixedBody     = 1024
)

func compileAction(a *config.Action, groups map[string]*TargetGroup) (action, error) {
	n := 0
	if a.Forward != nil {
		n++
	}
	if a.Redirect != nil {
		n++
	}
	if a.FixedResponse != nil {
		n++
	}
	if n != 1 {
		return action{}, fmt.Errorf("want exactly one of forward, redirect or fixed_response, have %d", n)
	}
	switch {
	case a.Forward != nil:
		f, err := compileForward(a.Forward, groups)
		return action{kind: ActionForward, fwd: f}, err
	case a.Redirect != nil:
		r, err := compileRedirect(a.Redirect)
		return action{kind: ActionRedirect, redir: r}, err
	default:
		f, err := compileFixed(a.FixedResponse)
		return action{kind: ActionFixedResponse, fixed: f}, err
	}
}

func compileForward(f *config.Forward, groups map[string]*TargetGroup) (forwardAction, error) {
	var out forwardAction
	lookup := func(name string) (*TargetGroup, error) {
		tg, ok := groups[name]
		if !ok || tg == nil {
			return nil, fmt.Errorf("forward: unknown target group %q", name)
		}
		return tg, nil
	}
	switch {
	case f.TargetGroup != "" && len(f.TargetGroups) > 0:
		return out, fmt.Errorf("forward: set target_group or target_groups, not both")
	case f.TargetGroup != "":
		tg, err := lookup(f.TargetGroup)
		if err != nil {
			return out, err
		}
		out.groups = []weightedGroup{{tg: tg, weight: 1}}
		out.total = 1
	case len(f.TargetGroups) == 0:
		return out, fmt.Errorf("forward: no target group")
	case len(f.TargetGroups) > maxForwardGroups:
		return out, fmt.Errorf("forward: %d target groups, at most %d", len(f.TargetGroups), maxForwardGroups)
	default:
		names := make([]string, 0, len(f.TargetGroups))
		for _, wg := range f.TargetGroups {
			tg, err := lookup(wg.Name)
			if err != nil {
				return out, err
			}
			w := 1
			if wg.Weight != nil {
				w = *wg.Weight
			}
			if w < 0 || w > maxGroupWeight {
				return out, fmt.Errorf("forward: target group %s: weight %d outside 0..%d", wg.Name, w, maxGroupWeight)
			}
			out.groups = append(out.groups, weightedGroup{tg: tg, weight: uint32(w)})
			out.total += uint32(w)
			names = append(names, wg.Name)
		}
		out.scope = CookieTargetGroup + "|" + strings.Join(names, ",")
	}
	if f.Stickiness < 0 || f.Stickiness.D() > 7*24*time.Hour {
		return out, fmt.Errorf("forward: stickiness %s outside 1s..168h", f.Stickiness)
	}
	out.stickiness = f.Stickiness.D()
	return out, nil
}

// chooseGroup picks the group of a forward: the one named by a valid
// AWSALBTG cookie, else by weight. invalid reports a cookie that was
// present but unusable (forged, expired, or naming a group no longer in
// the rule or weighted 0).
func (f *forwardAction) chooseGroup(v *RequestView, now time.Time) (g *TargetGroup, invalid bool) {
	if len(f.groups) == 1 {
		return f.groups[0].tg, false
	}
	if f.stickiness > 0 {
		if c := cookieValue(v, CookieTargetGroup); c != nil {
			name := openCookie(f.scope, c, now)
			for _, wg := range f.groups {
				if name != "" && wg.tg.name == name && wg.weight > 0 {
					return wg.tg, false
				}
			}
			invalid = true
		}
	}
	if f.total == 0 {
		// Every weight is 0: nothing may take new traffic; ALB then has
		// no target to route to.
		return nil, invalid
	}
	x := rand.Uint32N(f.total)
	for _, wg := range f.groups {
		if x < wg.weight {
			return wg.tg, invalid
		}
		x -= wg.weight
	}
	return f.groups[len(f.groups)-1].tg, invalid
}

func compileRedirect(r *config.Redirect) (redirectAction, error) {
	out := redirectAction{
		protocol: r.Protocol, host: r.Host, port: r.Port, path: r.Path, query: r.Query, status: r.Status,
	}
	if out.protocol == "" {
		out.protocol = "#{protocol}"
	}
	if out.host == "" {
		out.host = "#{host}"
	}
	if out.port == "" {
		out.port = "#{port}"
	}
	if out.path == "" {
		out.path = "/#{path}"
	}
	if out.query == "" {
		out.query = "#{query}"
	}
	if out.status == 0 {
		out.status = 301
	}
	if out.status != 301 && out.status != 302 {
		return out, fmt.Errorf("redirect: status %d: want 301 or 302", r.Status)
	}
	switch strings.ToUpper(out.protocol) {
	case "HTTP", "HTTPS":
		out.protocol = strings.ToLower(out.protocol)
	case "#{PROTOCOL}":
	default:
		return out, fmt.Errorf("redirect: protocol %q: want HTTP, HTTPS or #{protocol}", r.Protocol)
	}
	if out.port != "#{port}" {
		p, err := strconv.Atoi(out.port)
		if err != nil || p < 1 || p > 65535 {
			return out, fmt.Errorf("redirect: port %q: want 1..65535 or #{port}", r.Port)
		}
	}
	if !strings.HasPrefix(out.path, "/") {
		return out, fmt.Errorf("redirect: path %q must start with /", r.Path)
	}
	for _, f := range []string{out.host, out.path, out.query} {
		if len(f) > 128 {
			return out, fmt.Errorf("redirect: %q is longer than 128 characters", f)
		}
		if strings.ContainsAny(f, "\r\n\x00") {
			return out, fmt.Errorf("redirect: %q holds a control character", f)
		}
	}
	if out.protocol == "#{protocol}" && out.host == "#{host}" && out.port == "#{port}" && out.path == "/#{path}" {
		return out, fmt.Errorf("redirect: changes none of protocol, host, port and path (a loop)")
	}
	return out, nil
}

// location appends the redirect target for v to dst. HTTPS→HTTP is never
// produced: a listener on HTTPS keeps https whatever the protocol field.
func (r *redirectAction) location(dst []byte, v *RequestView, https bool) []byte {
	proto := "http"
	if https {
		proto = "https"
	}
	port := v.HostPort
	var pbuf [8]byte
	if len(port) == 0 {
		port = strconv.AppendUint(pbuf[:0], uint64(v.ListenerPort), 10)
	}
	outProto := r.protocol
	if outProto == "#{protocol}" {
		outProto = proto
	}
	if https && outProto == "http" {
		outProto = "https"
	}
	dst = append(dst, outProto...)
	dst = append(dst, "://"...)
	dst = expand(dst, r.host, proto, v, port, false)
	dst = append(dst, ':')
	dst = expand(dst, r.port, proto, v, port, false)
	dst = expand(dst, r.path, proto, v, port, false)
	q := len(dst)
	dst = append(dst, '?')
	dst = expand(dst, r.query, proto, v, port, true)
	if len(dst) == q+1 {
		dst = dst[:q]
	}
	return dst
}

// expand appends tmpl to dst with the #{...} placeholders replaced.
func expand(dst []byte, tmpl, proto string, v *RequestView, port []byte, inQuery bool) []byte {
	for len(tmpl) > 0 {
		i := strings.Index(tmpl, "#{")
		if i < 0 {
			return append(dst, tmpl...)
		}
		dst = append(dst, tmpl[:i]...)
		tmpl = tmpl[i:]
		j := strings.IndexByte(tmpl, '}')
		if j < 0 {
			return append(dst, tmpl...)
		}
		switch tmpl[:j+1] {
		case "#{protocol}":
			dst = append(dst, proto...)
		case "#{host}":
			for _, c := range v.Host {
				dst = append(dst, lower(c))
			}
		case "#{port}":
			dst = append(dst, port...)
		case "#{path}":
			p := v.Path
			if len(p) > 0 && p[0] == '/' {
				p = p[1:]
			}
			dst = appendPathEscaped(dst, p)
		case "#{query}":
			dst = append(dst, v.RawQuery...)
		default:
			dst = append(dst, tmpl[:j+1]...)
		}
		tmpl = tmpl[j+1:]
	}
	return dst
}

// appendPathEscaped re-escapes the canonical (decoded) path for a Location
// header: bytes outside the unreserved and sub-delim sets are
// percent-encoded, so a decoded CR/LF can never split the header.
func appendPathEscaped(dst, p []byte) []byte {
	const hexd = "0123456789ABCDEF"
	for _, c := range p {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.IndexByte("-._~!$&'()*+,;=:@/", c) >= 0 {
			dst = append(dst, c)
			continue
		}
		dst = append(dst, '%', hexd[c>>4], hexd[c&15])
	}
	return dst
}

func compileFixed(f *config.FixedResponse) (fixedAction, error) {
	if f.Status < 200 || f.Status > 599 || (f.Status >= 300 && f.Status < 400) {
		return fixedAction{}, fmt.Errorf("fixed_response: status %d: want 2XX, 4XX or 5XX", f.Status)
	}
	if len(f.Body) > maxFixedBody {
		return fixedAction{}, fmt.Errorf("fixed_response: body of %d bytes, at most %d", len(f.Body), maxFixedBody)
	}
	ct := f.ContentType
	switch ct {
	case "":
		ct = "text/plain; charset=utf-8"
	case "text/plain", "text/css", "text/html", "application/javascript", "application/json":
	default:
		return fixedAction{}, fmt.Errorf("fixed_response: content_type %q: want text/plain, text/css, text/html, application/javascript or application/json", f.ContentType)
	}
	return fixedAction{status: f.Status, contentType: ct, body: []byte(f.Body)}, nil
}
