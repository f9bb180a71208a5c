package l7

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/switchyard/switchyard/config"
)

// condition is one compiled condition kind of a rule: the values of one
// list, ORed. A rule holds one condition per kind it uses (several for
// header), ANDed.
type condition struct {
	kind  string
	match func(c *condition, v *RequestView) bool

	pats     []pattern
	header   string // header name (header conditions)
	prefixes []netip.Prefix
	methods  []string
	queries  []queryPattern
}

type queryPattern struct {
	key    pattern
	anyKey bool
	value  pattern
}

// conditionKind is one row of the condition table: how a kind is read from
// the config, validated and compiled. Matching is the compiled condition's
// match function. Adding a kind is adding a row.
type conditionKind struct {
	name string
	// compile returns the compiled conditions of this kind (none when the
	// config does not use it), the number of values and of wildcards.
	compile func(c *config.Conditions) ([]condition, int, int, error)
}

// conditionTable lists the kinds in evaluation order: cheap checks first.
var conditionTable = []conditionKind{
	{"method", compileMethod},
	{"source_ip", compileSourceIP},
	{"host", compileHost},
	{"path", compilePath},
	{"header", compileHeader},
	{"query", compileQuery},
}

// AWS also caps a rule at 5 match evaluations and 5 wildcards; we do not:
// those are service quotas, not semantics, and SPEC §2.1's own example rule
// exceeds them. A condition list is capped (at a generous 100 values) only
// to keep matching cost bounded.
const maxValuesPerCondition = 100

func compileConditions(c *config.Conditions) ([]condition, error) {
	var out []condition
	for _, k := range conditionTable {
		cs, _, _, err := k.compile(c)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k.name, err)
		}
		out = append(out, cs...)
	}
	return out, nil
}

func checkCount(n int) error {
	if n > maxValuesPerCondition {
		return fmt.Errorf("%d values: a condition allows at most %d", n, maxValuesPerCondition)
	}
	return nil
}

func compilePatterns(vals []string, fold, escapes bool) ([]pattern, int, error) {
	if err := checkCount(len(vals)); err != nil {
		return nil, 0, err
	}
	var pats []pattern
	wild := 0
	for _, s := range vals {
		p, w, err := compilePattern(s, fold, escapes)
		if err != nil {
			return nil, 0, err
		}
		pats = append(pats, p)
		wild += w
	}
	return pats, wild, nil
}

func compileHost(c *config.Conditions) ([]condition, int, int, error) {
	if len(c.Host) == 0 {
		return nil, 0, 0, nil
	}
	for _, h := range c.Host {
		for i := 0; i < len(h); i++ {
			b := h[i]
			if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '.' || b == '*' || b == '?') {
				return nil, 0, 0, fmt.Errorf("value %q: a host may hold only A-Z a-z 0-9 - . * ?", h)
			}
		}
	}
	pats, w, err := compilePatterns(c.Host, true, false)
	if err != nil {
		return nil, 0, 0, err
	}
	return []condition{{kind: "host", match: matchHost, pats: pats}}, len(pats), w, nil
}

func matchHost(c *condition, v *RequestView) bool {
	h := v.Host
	// A fully qualified name with a trailing dot is the same host.
	if n := len(h); n > 1 && h[n-1] == '.' {
		h = h[:n-1]
	}
	for i := range c.pats {
		if c.pats[i].match(h) {
			return true
		}
	}
	return false
}

func compilePath(c *config.Conditions) ([]condition, int, int, error) {
	if len(c.Path) == 0 {
		return nil, 0, 0, nil
	}
	pats, w, err := compilePatterns(c.Path, false, false)
	if err != nil {
		return nil, 0, 0, err
	}
	return []condition{{kind: "path", match: matchPath, pats: pats}}, len(pats), w, nil
}

func matchPath(c *condition, v *RequestView) bool {
	for i := range c.pats {
		if c.pats[i].match(v.Path) {
			return true
		}
	}
	return false
}

func compileMethod(c *config.Conditions) ([]condition, int, int, error) {
	if len(c.Method) == 0 {
		return nil, 0, 0, nil
	}
	if err := checkCount(len(c.Method)); err != nil {
		return nil, 0, 0, err
	}
	for _, m := range c.Method {
		if m == "" || len(m) > 40 {
			return nil, 0, 0, fmt.Errorf("method %q: want 1 to 40 characters", m)
		}
		for i := 0; i < len(m); i++ {
			if b := m[i]; !(b >= 'A' && b <= 'Z' || b == '-' || b == '_') {
				return nil, 0, 0, fmt.Errorf("method %q: only A-Z - _ are allowed", m)
			}
		}
	}
	return []condition{{kind: "method", match: matchMethod, methods: slices.Clone(c.Method)}}, len(c.Method), 0, nil
}

func matchMethod(c *condition, v *RequestView) bool {
	for _, m := range c.methods {
		// Case-sensitive, as ALB: "get" is not GET.
		if string(v.Method) == m {
			return true
		}
	}
	return false
}

func compileSourceIP(c *config.Conditions) ([]condition, int, int, error) {
	if len(c.SourceIP) == 0 {
		return nil, 0, 0, nil
	}
	if err := checkCount(len(c.SourceIP)); err != nil {
		return nil, 0, 0, err
	}
	var ps []netip.Prefix
	for _, s := range c.SourceIP {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, 0, 0, fmt.Errorf("value %q: want a CIDR such as 10.0.0.0/8", s)
		}
		if p == netip.MustParsePrefix("255.255.255.255/32") {
			return nil, 0, 0, fmt.Errorf("value %q is not allowed", s)
		}
		ps = append(ps, p.Masked())
	}
	return []condition{{kind: "source_ip", match: matchSourceIP, prefixes: ps}}, len(ps), 0, nil
}

func matchSourceIP(c *condition, v *RequestView) bool {
	a := v.Client.Addr().Unmap()
	for _, p := range c.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func compileHeader(c *config.Conditions) ([]condition, int, int, error) {
	if len(c.Header) == 0 {
		return nil, 0, 0, nil
	}
	names := make([]string, 0, len(c.Header))
	for n := range c.Header {
		names = append(names, n)
	}
	slices.Sort(names) // map order is random; compile deterministically
	var out []condition
	evals, wild := 0, 0
	for _, n := range names {
		if n == "" || len(n) > 40 {
			return nil, 0, 0, fmt.Errorf("name %q: want 1 to 40 characters", n)
		}
		if strings.ContainsAny(n, "*?: \t") {
			return nil, 0, 0, fmt.Errorf("name %q: wildcards and separators are not allowed in a header name", n)
		}
		pats, w, err := compilePatterns(c.Header[n], true, false)
		if err != nil {
			return nil, 0, 0, fmt.Errorf("%s: %w", n, err)
		}
		out = append(out, condition{kind: "header", match: matchHeader, header: n, pats: pats})
		evals += len(pats)
		wild += w
	}
	return out, evals, wild, nil
}

func matchHeader(c *condition, v *RequestView) bool {
	b := v.RawHeaders
	for len(b) > 0 {
		line := b
		if i := indexCRLF(b); i >= 0 {
			line, b = b[:i], b[i+2:]
		} else {
			b = nil
		}
		// As in RequestView.Header: names never hold ':' (compileHeader).
		k := len(c.header)
		if len(line) <= k || line[k] != ':' || !equalFold(line[:k], c.header) {
			continue
		}
		val := trimOWS(line[k+1:])
		for i := range c.pats {
			if c.pats[i].match(val) {
				return true
			}
		}
	}
	return false
}

func compileQuery(c *config.Conditions) ([]condition, int, int, error) {
	if len(c.Query) == 0 {
		return nil, 0, 0, nil
	}
	if err := checkCount(len(c.Query)); err != nil {
		return nil, 0, 0, err
	}
	var qs []queryPattern
	wild := 0
	for _, q := range c.Query {
		var qp queryPattern
		if q.Key == "" {
			qp.anyKey = true
		} else {
			p, w, err := compilePattern(q.Key, true, true)
			if err != nil {
				return nil, 0, 0, fmt.Errorf("key: %w", err)
			}
			qp.key = p
			wild += w
		}
		p, w, err := compilePattern(q.Value, true, true)
		if err != nil {
			return nil, 0, 0, fmt.Errorf("value: %w", err)
		}
		qp.value = p
		wild += w
		qs = append(qs, qp)
	}
	return []condition{{kind: "query", match: matchQuery, queries: qs}}, len(qs), wild, nil
}

// maxQueryPart bounds the stack buffer a query key or value is decoded
// into; longer parts are compared as sent (no ALB value is longer than 128).
const maxQueryPart = 256

func matchQuery(c *condition, v *RequestView) bool {
	var kbuf, vbuf [maxQueryPart]byte
	q := v.RawQuery
	for len(q) > 0 {
		pair := q
		if i := indexByte(q, '&'); i >= 0 {
			pair, q = q[:i], q[i+1:]
		} else {
			q = nil
		}
		if len(pair) == 0 {
			continue
		}
		k, val := pair, pair[len(pair):]
		if i := indexByte(pair, '='); i >= 0 {
			k, val = pair[:i], pair[i+1:]
		}
		k = unescapeQuery(kbuf[:0], k)
		val = unescapeQuery(vbuf[:0], val)
		for i := range c.queries {
			qp := &c.queries[i]
			if (qp.anyKey || qp.key.match(k)) && qp.value.match(val) {
				return true
			}
		}
	}
	return false
}

// unescapeQuery percent-decodes s ('+' is a space) into dst, which must have
// capacity maxQueryPart; a part that does not fit or is malformed is
// returned as sent.
func unescapeQuery(dst, s []byte) []byte {
	if indexByte(s, '%') < 0 && indexByte(s, '+') < 0 {
		return s
	}
	if len(s) > cap(dst) {
		return s
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '+':
			dst = append(dst, ' ')
		case '%':
			if i+2 >= len(s) || unhex(s[i+1]) < 0 || unhex(s[i+2]) < 0 {
				return s
			}
			dst = append(dst, byte(unhex(s[i+1])<<4|unhex(s[i+2])))
			i += 2
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return int(c - 'A' + 10)
	}
	return -1
}
