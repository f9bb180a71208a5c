package signing

import "strings"

// MatchResource reports whether the resource URL (scheme://host/raw-path
// [?raw-query], as rebuilt from the request) is allowed by the policy
// Resource pattern, the way CloudFront matches custom policies:
//
//   - "*" matches zero or more characters and "?" exactly one, but only within
//     one section of the URL: protocol, domain, path, query;
//   - the path ends at a literal "\?" in the pattern, which starts the query
//     section; without one the pattern has no query section and the resource
//     must have no query, except that a path ending in "*" implies "\?*";
//   - a domain ending in "*" with no path implies "/*\?*"; a pattern starting
//     with "*" and no "://" gets the protocol "*"; "*" alone matches all;
//   - matching is case-sensitive, except in the domain (host names are not).
//
// A pattern that is exactly equal to the resource also matches: the AWS SDKs
// put an unescaped "?" before the query of the URL they sign, which under the
// section rules is a one-character wildcard inside the path.
func MatchResource(pattern, resource string) bool {
	if pattern == "*" || pattern == resource {
		return true
	}
	pp, ok := splitPattern(pattern)
	if !ok {
		return false
	}
	rs, ok := splitResource(resource)
	if !ok {
		return false
	}
	if !glob(pp.proto, rs.proto) || !globFold(pp.domain, rs.domain) || !glob(pp.path, rs.path) {
		return false
	}
	if !pp.hasQuery {
		return !rs.hasQuery
	}
	return glob(pp.query, rs.query)
}

type sections struct {
	proto, domain, path, query string
	hasQuery                   bool
}

func splitPattern(p string) (sections, bool) {
	var s sections
	rest := p
	if i := strings.Index(p, "://"); i >= 0 {
		s.proto, rest = p[:i], p[i+3:]
	} else if strings.HasPrefix(p, "*") {
		s.proto = "*"
	} else {
		return s, false
	}
	switch s.proto {
	case "http", "https", "*", "http*":
	default:
		return s, false
	}
	slash := strings.IndexByte(rest, '/')
	if slash < 0 {
		s.domain = rest
		if strings.HasSuffix(rest, "*") {
			s.path, s.query, s.hasQuery = "/*", "*", true
		} else {
			s.path = "/"
		}
		return s, s.domain != ""
	}
	s.domain, rest = rest[:slash], rest[slash:]
	if s.domain == "" {
		return s, false
	}
	if q := strings.Index(rest, `\?`); q >= 0 {
		s.path, s.query, s.hasQuery = rest[:q], rest[q+2:], true
	} else {
		s.path = rest
		if strings.HasSuffix(rest, "*") {
			s.query, s.hasQuery = "*", true
		}
	}
	return s, true
}

func splitResource(r string) (sections, bool) {
	var s sections
	i := strings.Index(r, "://")
	if i < 0 {
		return s, false
	}
	s.proto, r = r[:i], r[i+3:]
	slash := strings.IndexByte(r, '/')
	if slash <= 0 {
		return s, false
	}
	s.domain, r = r[:slash], r[slash:]
	if q := strings.IndexByte(r, '?'); q >= 0 {
		s.path, s.query, s.hasQuery = r[:q], r[q+1:], true
	} else {
		s.path = r
	}
	return s, true
}

// glob matches s against pattern with "*" (any run, including empty) and
// "?" (one byte). Linear backtracking to the last star: O(len(p)·len(s))
// worst case, and it only ever runs on a policy whose signature verified.
func glob(p, s string) bool { return globCase(p, s, false) }

// globFold is glob with ASCII case folding, for host names.
func globFold(p, s string) bool { return globCase(p, s, true) }

func globCase(p, s string, fold bool) bool {
	pi, si := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case pi < len(p) && (p[pi] == '?' || p[pi] == s[si] || fold && lower(p[pi]) == lower(s[si])):
			pi++
			si++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
