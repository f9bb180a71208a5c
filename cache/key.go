package cache

import (
	"bytes"
	"encoding/binary"
	"slices"
)

// Mode says which cookies or query strings a KeyPolicy puts in the key.
type Mode uint8

const (
	// None keeps the item out of the key (and, per CloudFront, out of the
	// origin request unless the origin request policy adds it).
	None Mode = iota
	// All keys every value. For query strings the raw query is keyed as
	// sent, so parameter order and case matter (CloudFront §6.3).
	All
	// List keys only the named values.
	List
)

// HeaderPeeker looks up one request header by name and returns its first
// value, or nil when it is absent. Names are passed in lower case; lookups
// must be case-insensitive. *fasthttp.RequestHeader satisfies it as is; the
// result is read before AppendKey returns and never retained.
type HeaderPeeker interface {
	Peek(name string) []byte
}

// Request is the small view of a viewer request the key is built from. It is
// filled once per request by the edge; the slices are only read during
// AppendKey and may point into the server's buffers.
type Request struct {
	// Method is the request method; GET and HEAD share a key, any other
	// method (OPTIONS) is keyed separately.
	Method string
	// Path is the canonical (normalised) path, the same one used for
	// routing and sent to the origin, without the query.
	Path []byte
	// Query is the raw query string without the leading '?'.
	Query []byte
	// Cookie is the raw Cookie header ("a=1; b=2"); several Cookie fields
	// are joined with "; ".
	Cookie []byte
	// AcceptEncoding is the raw Accept-Encoding header. Leave it empty for
	// HTTP/1.0 viewers (CloudFront never compresses for them).
	AcceptEncoding []byte
	// Header serves the policy's header names; nil means all absent.
	Header HeaderPeeker
}

// KeyPolicy is the compiled cache policy of one cache behaviour: what besides
// the distribution and path makes the cache key. Build it once per config
// snapshot (NewKeyPolicy or by hand); it is read-only afterwards and safe for
// concurrent use. The zero value keys distribution + path only.
type KeyPolicy struct {
	// Headers are the lower-case header names in the key. Names match
	// case-insensitively, values are keyed exactly.
	Headers []string
	// Cookies and CookieNames select cookies (names are case-sensitive).
	Cookies     Mode
	CookieNames []string
	// Query and QueryNames select query-string parameters (names are
	// case-sensitive and compared raw, without percent-decoding).
	Query      Mode
	QueryNames []string
	// Gzip and Brotli put the negotiated content coding in the key, as
	// CloudFront's EnableAcceptEncodingGzip/Brotli do. Set them only when
	// the behaviour compresses.
	Gzip, Brotli bool
}

// Key field tags. Every field is tag + uvarint length + bytes, sections that
// repeat end with tagEnd, so a key parses back uniquely: two requests share a
// key only when every keyed component is byte-for-byte equal.
const (
	keyVersion  = 1
	tagDist     = 'D'
	tagMethod   = 'M'
	tagPath     = 'P'
	tagQueryRaw = 'Q'
	tagQueryL   = 'q'
	tagName     = 'n'
	tagValue    = 'v'
	tagNoValue  = 'w'
	tagHeader   = 'H'
	tagCookies  = 'C'
	tagEncoding = 'E'
	tagEnd      = '.'
)

// Collapsible reports whether concurrent misses under this policy may share
// one origin fetch. CloudFront turns request collapsing off when cookies are
// forwarded; the edge must also pass false when its origin request policy
// forwards cookies.
func (p *KeyPolicy) Collapsible() bool { return p.Cookies == None }

// AppendKey appends the cache key of r in distribution dist to dst and
// returns it with the content coding negotiated for the viewer (Identity when
// the policy does not compress). It allocates nothing when dst has room
// (about 64 bytes plus the keyed bytes) and at most 64 cookies are keyed.
func (p *KeyPolicy) AppendKey(dst []byte, dist string, r *Request) ([]byte, Encoding) {
	dst = append(dst, keyVersion)
	dst = appendField(dst, tagDist, dist)
	if r.Method != "GET" && r.Method != "HEAD" && r.Method != "" {
		dst = appendField(dst, tagMethod, r.Method)
	}
	dst = appendFieldBytes(dst, tagPath, r.Path)

	switch p.Query {
	case All:
		dst = appendFieldBytes(dst, tagQueryRaw, r.Query)
	case List:
		dst = append(dst, tagQueryL)
		q := r.Query
		for len(q) > 0 {
			var param []byte
			param, q = cut(q, '&')
			name, value, hasValue := bytes.Cut(param, []byte{'='})
			if !containsBytes(p.QueryNames, name) {
				continue
			}
			dst = appendFieldBytes(dst, tagName, name)
			if hasValue {
				dst = appendFieldBytes(dst, tagValue, value)
			} else {
				dst = append(dst, tagNoValue)
			}
		}
		dst = append(dst, tagEnd)
	}

	for _, h := range p.Headers {
		var v []byte
		if r.Header != nil {
			v = r.Header.Peek(h)
		}
		dst = appendField(dst, tagHeader, h)
		dst = appendFieldBytes(dst, tagValue, v)
	}

	switch p.Cookies {
	case All:
		dst = append(dst, tagCookies)
		dst = appendAllCookies(dst, r.Cookie)
		dst = append(dst, tagEnd)
	case List:
		dst = append(dst, tagCookies)
		for _, want := range p.CookieNames {
			c := r.Cookie
			for len(c) > 0 {
				var kv []byte
				kv, c = cut(c, ';')
				name, value := splitCookie(kv)
				if len(name) == 0 || string(name) != want {
					continue
				}
				dst = appendFieldBytes(dst, tagName, name)
				dst = appendFieldBytes(dst, tagValue, value)
			}
		}
		dst = append(dst, tagEnd)
	}

	enc := Identity
	if p.Gzip || p.Brotli {
		enc = Negotiate(r.AcceptEncoding, p.Gzip, p.Brotli)
		dst = append(dst, tagEncoding, byte('0'+enc))
	}
	return dst, enc
}

// AppendQuery appends the query string the origin must receive for the key to
// describe it: the raw query for All, the listed parameters in request order
// (raw, joined by '&') for List, nothing for None. An origin request policy
// may add more; those are never in the key.
func (p *KeyPolicy) AppendQuery(dst, query []byte) []byte {
	switch p.Query {
	case All:
		return append(dst, query...)
	case List:
		first := true
		for len(query) > 0 {
			var param []byte
			param, query = cut(query, '&')
			name, _, _ := bytes.Cut(param, []byte{'='})
			if !containsBytes(p.QueryNames, name) {
				continue
			}
			if !first {
				dst = append(dst, '&')
			}
			first = false
			dst = append(dst, param...)
		}
	}
	return dst
}

// AppendCookie appends the Cookie header value the origin must receive for
// the key to describe it (see AppendQuery).
func (p *KeyPolicy) AppendCookie(dst, cookie []byte) []byte {
	if p.Cookies == None {
		return dst
	}
	first := true
	for len(cookie) > 0 {
		var kv []byte
		kv, cookie = cut(cookie, ';')
		name, value := splitCookie(kv)
		if len(name) == 0 {
			continue
		}
		if p.Cookies == List && !slices.Contains(p.CookieNames, string(name)) {
			continue
		}
		if !first {
			dst = append(dst, "; "...)
		}
		first = false
		dst = append(dst, name...)
		dst = append(dst, '=')
		dst = append(dst, value...)
	}
	return dst
}

// KeyParts returns the distribution and path recorded in a key built by
// AppendKey; ok is false for bytes that are not such a key.
func KeyParts(key []byte) (dist, path []byte, ok bool) {
	if len(key) < 1 || key[0] != keyVersion {
		return nil, nil, false
	}
	rest := key[1:]
	dist, rest, ok = readField(rest, tagDist)
	if !ok {
		return nil, nil, false
	}
	if len(rest) > 0 && rest[0] == tagMethod {
		if _, rest, ok = readField(rest, tagMethod); !ok {
			return nil, nil, false
		}
	}
	path, _, ok = readField(rest, tagPath)
	return dist, path, ok
}

func readField(b []byte, tag byte) (v, rest []byte, ok bool) {
	if len(b) < 2 || b[0] != tag {
		return nil, nil, false
	}
	n, w := binary.Uvarint(b[1:])
	if w <= 0 || n > uint64(len(b)-1-w) {
		return nil, nil, false
	}
	start := 1 + w
	return b[start : start+int(n)], b[start+int(n):], true
}

func appendField(dst []byte, tag byte, v string) []byte {
	dst = append(dst, tag)
	dst = binary.AppendUvarint(dst, uint64(len(v)))
	return append(dst, v...)
}

func appendFieldBytes(dst []byte, tag byte, v []byte) []byte {
	dst = append(dst, tag)
	dst = binary.AppendUvarint(dst, uint64(len(v)))
	return append(dst, v...)
}

// cut splits b at the first sep; the separator is dropped.
func cut(b []byte, sep byte) (before, after []byte) {
	if i := bytes.IndexByte(b, sep); i >= 0 {
		return b[:i], b[i+1:]
	}
	return b, nil
}

func containsBytes(list []string, b []byte) bool {
	for _, s := range list {
		if s == string(b) {
			return true
		}
	}
	return false
}

// splitCookie splits one "name=value" cookie pair, trimming the optional
// whitespace around it (RFC 6265 §5.4 is lenient the same way).
func splitCookie(kv []byte) (name, value []byte) {
	kv = bytes.TrimSpace(kv)
	name, value, _ = bytes.Cut(kv, []byte{'='})
	return bytes.TrimSpace(name), bytes.TrimSpace(value)
}

type cookieSpan struct{ name, value []byte }

// appendAllCookies keys every cookie sorted by name (CloudFront sorts cookies
// by name before forwarding), keeping request order among equal names, so
// that cookie order in the header never splits the cache.
func appendAllCookies(dst, cookie []byte) []byte {
	var stack [64]cookieSpan
	spans := stack[:0]
	for len(cookie) > 0 {
		var kv []byte
		kv, cookie = cut(cookie, ';')
		name, value := splitCookie(kv)
		if len(name) == 0 {
			continue
		}
		spans = append(spans, cookieSpan{name, value}) // beyond 64 cookies this allocates; rare and bounded by the header limit
	}
	slices.SortStableFunc(spans, func(a, b cookieSpan) int { return bytes.Compare(a.name, b.name) })
	for _, s := range spans {
		dst = appendFieldBytes(dst, tagName, s.name)
		dst = appendFieldBytes(dst, tagValue, s.value)
	}
	return dst
}

// AppendVary appends the Vary value the viewer should see for an origin's
// Vary: CloudFront keeps only the names the cache actually varies on —
// Accept-Encoding when the policy compresses, Cookie when cookies are keyed,
// the keyed headers — and "*"; other names are dropped, since the cached
// object does not vary on them. Names keep the origin's spelling.
func (p *KeyPolicy) AppendVary(dst, vary []byte) []byte {
	first := true
	for len(vary) > 0 {
		var item []byte
		item, vary = cut(vary, ',')
		name := bytes.TrimSpace(item)
		keep := string(name) == "*" ||
			((p.Gzip || p.Brotli) && asciiEqualFold(name, "accept-encoding")) ||
			(p.Cookies != None && asciiEqualFold(name, "cookie"))
		for _, h := range p.Headers {
			keep = keep || asciiEqualFold(name, h)
		}
		if !keep || len(name) == 0 {
			continue
		}
		if !first {
			dst = append(dst, ", "...)
		}
		first = false
		dst = append(dst, name...)
	}
	return dst
}
