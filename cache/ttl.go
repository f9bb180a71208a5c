package cache

import (
	"bytes"
	"time"
)

// CloudFront's TTL defaults (legacy settings and custom cache policies).
const (
	DefaultMinTTL             = 0
	DefaultDefaultTTL         = 24 * time.Hour
	DefaultMaxTTL             = 365 * 24 * time.Hour
	DefaultErrorCachingMinTTL = 10 * time.Second
	// maxDirective caps Cache-Control and Expires values at 100 years, the
	// largest CloudFront honours; it also keeps arithmetic from overflowing.
	maxDirective = 100 * 365 * 24 * time.Hour
)

// TTLPolicy holds a cache behaviour's TTLs and the distribution's error
// caching minimums. The zero value caches nothing (MaxTTL 0); use
// DefaultTTLPolicy or NewTTLPolicy for CloudFront's defaults. Read-only after
// construction, safe for concurrent use.
type TTLPolicy struct {
	MinTTL, DefaultTTL, MaxTTL time.Duration
	// ErrorCachingMinTTL is the minimum time an error answer is cached
	// (CloudFront: 10 s) when ErrorTTLs has no entry for its status.
	ErrorCachingMinTTL time.Duration
	// ErrorTTLs overrides ErrorCachingMinTTL per status, from the
	// distribution's custom error responses.
	ErrorTTLs map[int]time.Duration
}

// DefaultTTLPolicy returns CloudFront's defaults: 0 / 1 day / 1 year, errors 10 s.
func DefaultTTLPolicy() TTLPolicy {
	return TTLPolicy{
		MinTTL: DefaultMinTTL, DefaultTTL: DefaultDefaultTTL, MaxTTL: DefaultMaxTTL,
		ErrorCachingMinTTL: DefaultErrorCachingMinTTL,
	}
}

// Response is what the freshness rules read from an origin answer. The
// slices are the raw header values (several Cache-Control fields joined with
// ", "); they are only read during Decide.
type Response struct {
	Status       int
	CacheControl []byte
	Expires      []byte
	Date         []byte
	Vary         []byte
	// SetCookie is true when the answer carries any Set-Cookie field.
	SetCookie bool
	// AuthorizationUnkeyed is true when the origin request carried an
	// Authorization header that is not in the cache key. CloudFront never
	// does this (Authorization reaches the origin only through the key);
	// if the edge ever does, RFC 9111 §3.5 applies: stored only with
	// public, s-maxage or must-revalidate.
	AuthorizationUnkeyed bool
}

// Decision is the outcome of Decide: whether to store an answer and for how
// long it is fresh, plus the stale windows the origin granted.
type Decision struct {
	// Store is false when the answer must not be cached (and, for request
	// collapsing, must not be shared with waiters).
	Store bool
	// TTL is the freshness lifetime; the entry is fresh while its Age is
	// below it.
	TTL time.Duration
	// StaleWhileRevalidate and StaleIfError are the origin's windows after
	// expiry; StaleIfErrorSet tells an explicit stale-if-error (even =0)
	// from none, which CloudFront treats as "serve stale on error".
	StaleWhileRevalidate time.Duration
	StaleIfError         time.Duration
	StaleIfErrorSet      bool
	// MustRevalidate forbids serving the entry stale (must-revalidate or
	// proxy-revalidate).
	MustRevalidate bool
	// Reason says why an answer is not stored, for logs.
	Reason string
}

// cacheControl is a parsed Cache-Control value; -1 means a directive is absent.
type cacheControl struct {
	noStore, noCache, private, mustRevalidate, public bool
	maxAge, sMaxAge, swr, sie                         time.Duration
}

// parseCacheControl reads directives case-insensitively; values may be
// tokens or quoted strings (commas inside quotes do not split). The first
// occurrence of a directive wins (RFC 9111 §4.2.1); a malformed or negative
// age counts as 0, i.e. already stale.
func parseCacheControl(v []byte) cacheControl {
	cc := cacheControl{maxAge: -1, sMaxAge: -1, swr: -1, sie: -1}
	for len(v) > 0 {
		// Split one directive, honouring quoted strings.
		i, inQuote := 0, false
		for ; i < len(v); i++ {
			c := v[i]
			if c == '"' {
				inQuote = !inQuote
			} else if c == '\\' && inQuote {
				i++
			} else if c == ',' && !inQuote {
				break
			}
		}
		d := v[:min(i, len(v))]
		if i < len(v) {
			v = v[i+1:]
		} else {
			v = nil
		}
		name, val, hasVal := bytes.Cut(d, []byte{'='})
		name = bytes.TrimSpace(name)
		val = bytes.Trim(bytes.TrimSpace(val), `"`)
		switch {
		case asciiEqualFold(name, "no-store"):
			cc.noStore = true
		case asciiEqualFold(name, "no-cache"):
			cc.noCache = true
		case asciiEqualFold(name, "private"):
			cc.private = true
		case asciiEqualFold(name, "public"):
			cc.public = true
		case asciiEqualFold(name, "must-revalidate"), asciiEqualFold(name, "proxy-revalidate"):
			cc.mustRevalidate = true
		case asciiEqualFold(name, "max-age"):
			if cc.maxAge < 0 {
				cc.maxAge = parseSeconds(val, hasVal)
			}
		case asciiEqualFold(name, "s-maxage"):
			if cc.sMaxAge < 0 {
				cc.sMaxAge = parseSeconds(val, hasVal)
			}
		case asciiEqualFold(name, "stale-while-revalidate"):
			if cc.swr < 0 {
				cc.swr = parseSeconds(val, hasVal)
			}
		case asciiEqualFold(name, "stale-if-error"):
			if cc.sie < 0 {
				cc.sie = parseSeconds(val, hasVal)
			}
		}
	}
	return cc
}

// parseSeconds reads delta-seconds; anything else is 0 (stale), values past
// 100 years are capped.
func parseSeconds(v []byte, hasVal bool) time.Duration {
	if !hasVal || len(v) == 0 {
		return 0
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int64(c-'0')
		if n > int64(maxDirective/time.Second) {
			return maxDirective
		}
	}
	return time.Duration(n) * time.Second
}

func (p *TTLPolicy) clamp(d time.Duration) time.Duration {
	return min(max(d, p.MinTTL), p.MaxTTL)
}

// Decide applies CloudFront's cacheability and TTL rules (§6.2, §6.5) to an
// origin answer to a GET or HEAD (the caller checks the method with
// CacheableMethod). now is when the answer arrived.
//
// 2xx/3xx (200, 203, 204, 300, 301, 302, 303; 307 and 308 only with a
// Cache-Control header): no-store, no-cache, private, Set-Cookie or Vary: *
// mean "do not cache" unless MinTTL > 0, which then caches for MinTTL;
// otherwise the TTL is s-maxage, else max-age, else Expires − Date, clamped
// to [MinTTL, MaxTTL], else max(DefaultTTL, MinTTL).
//
// Errors: 404, 414, 500–504 are always cached, 400, 403, 405, 412, 415 only
// when the origin sends max-age or s-maxage, for max(error caching minimum,
// the origin's age clamped); never when the origin says no-store, no-cache or
// private or sets a cookie. 416 and everything else is never cached, and a
// 304 refreshes a stored entry (Entry.Refresh) instead. A TTL of 0 is not
// stored: such answers are revalidated on every request, which for a cache
// that does not keep them is a miss.
func Decide(p *TTLPolicy, r *Response, now time.Time) Decision {
	cc := parseCacheControl(r.CacheControl)
	d := Decision{MustRevalidate: cc.mustRevalidate}
	if cc.swr > 0 {
		d.StaleWhileRevalidate = cc.swr
	}
	if cc.sie >= 0 {
		d.StaleIfError, d.StaleIfErrorSet = cc.sie, true
	}
	restrictive := cc.noStore || cc.noCache || cc.private || r.SetCookie || varyStar(r.Vary)
	if r.AuthorizationUnkeyed && !cc.public && cc.sMaxAge < 0 && !cc.mustRevalidate {
		return notStored(d, "answer to an authorized request without public, s-maxage or must-revalidate")
	}

	switch r.Status {
	case 200, 203, 204, 300, 301, 302, 303:
	case 307, 308:
		if len(bytes.TrimSpace(r.CacheControl)) == 0 {
			return notStored(d, "307/308 without Cache-Control")
		}
	case 404, 414, 500, 501, 502, 503, 504:
		return decideError(p, r.Status, cc, restrictive, false, d)
	case 400, 403, 405, 412, 415:
		return decideError(p, r.Status, cc, restrictive, true, d)
	case 416:
		return notStored(d, "416 is never cached")
	default:
		return notStored(d, "status not cacheable")
	}

	switch {
	case restrictive:
		if p.MinTTL <= 0 {
			return notStored(d, "no-store, no-cache, private, Set-Cookie or Vary: *")
		}
		d.TTL = min(p.MinTTL, p.MaxTTL)
	case cc.sMaxAge >= 0:
		d.TTL = p.clamp(cc.sMaxAge)
	case cc.maxAge >= 0:
		d.TTL = p.clamp(cc.maxAge)
	case len(r.Expires) > 0:
		d.TTL = p.clamp(expiresLifetime(r.Expires, r.Date, now))
	default:
		d.TTL = min(max(p.DefaultTTL, p.MinTTL), p.MaxTTL)
	}
	if d.TTL <= 0 {
		return notStored(d, "ttl 0")
	}
	d.Store = true
	return d
}

func decideError(p *TTLPolicy, status int, cc cacheControl, restrictive, needAge bool, d Decision) Decision {
	if restrictive {
		return notStored(d, "error answer with no-store, no-cache, private or Set-Cookie")
	}
	origin := cc.sMaxAge
	if origin < 0 {
		origin = cc.maxAge
	}
	if needAge && origin < 0 {
		return notStored(d, "error answer without max-age")
	}
	errMin, ok := p.ErrorTTLs[status]
	if !ok {
		errMin = p.ErrorCachingMinTTL
	}
	d.TTL = errMin
	if origin >= 0 {
		d.TTL = max(errMin, min(origin, p.MaxTTL))
	}
	if d.TTL <= 0 {
		return notStored(d, "error caching minimum ttl 0")
	}
	d.Store = true
	return d
}

func notStored(d Decision, reason string) Decision {
	d.Store, d.TTL, d.Reason = false, 0, reason
	return d
}

func varyStar(v []byte) bool {
	for len(v) > 0 {
		var item []byte
		item, v = cut(v, ',')
		if string(bytes.TrimSpace(item)) == "*" {
			return true
		}
	}
	return false
}

// expiresLifetime is Expires − Date (both from the origin's clock, so its skew
// cancels), or Expires − now without a valid Date. An invalid Expires means
// already expired (RFC 9111 §5.3).
func expiresLifetime(expires, date []byte, now time.Time) time.Duration {
	exp, ok := ParseHTTPDate(expires)
	if !ok {
		return 0
	}
	base := now
	if d, ok := ParseHTTPDate(date); ok {
		base = d
	}
	life := exp.Sub(base)
	if life < 0 {
		return 0
	}
	return min(life, maxDirective)
}

// ParseHTTPDate parses the three HTTP-date forms of RFC 9110 §5.6.7.
func ParseHTTPDate(b []byte) (time.Time, bool) {
	s := string(bytes.TrimSpace(b))
	for _, layout := range []string{time.RFC1123, "Monday, 02-Jan-06 15:04:05 MST", time.ANSIC} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// CacheableMethod reports whether answers to method may be cached: GET and
// HEAD always, OPTIONS when the behaviour caches it (its key then includes
// the method).
func CacheableMethod(method string, cacheOptions bool) bool {
	return method == "GET" || method == "HEAD" || (cacheOptions && method == "OPTIONS")
}
