package cache

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/switchyard/switchyard/config"
)

// Cache policy quotas and names CloudFront refuses in a cache key (§6.3).
const maxKeyNames = 10

var forbiddenKeyHeaders = []string{
	"cloudfront-viewer-address", "cloudfront-viewer-asn", "cloudfront-viewer-tls",
	"cloudfront-viewer-ja3-fingerprint", "cloudfront-viewer-ja4-fingerprint",
}

// NewKeyPolicy compiles a behaviour's cache_key. compress is the behaviour's
// compress flag: when it is set and maxTTL > 0 the negotiated gzip/br coding
// joins the key, unless the policy keys Accept-Encoding itself (CloudFront
// then does not compress). Header names are lower-cased; cookie and query
// names keep their case. "all" headers is refused: CloudFront cache
// policies cannot key every header.
func NewKeyPolicy(ck config.CacheKey, compress bool, maxTTL time.Duration) (*KeyPolicy, error) {
	p := &KeyPolicy{}
	switch ck.Headers.Mode {
	case "", "none":
	case "list":
		if len(ck.Headers.Names) > maxKeyNames {
			return nil, fmt.Errorf("cache: key policy headers: %d names, at most %d", len(ck.Headers.Names), maxKeyNames)
		}
		for _, n := range ck.Headers.Names {
			l := strings.ToLower(strings.TrimSpace(n))
			if l == "" {
				return nil, fmt.Errorf("cache: key policy headers: empty name")
			}
			if slices.Contains(forbiddenKeyHeaders, l) {
				return nil, fmt.Errorf("cache: key policy header %s: not allowed in a cache key", n)
			}
			if !slices.Contains(p.Headers, l) {
				p.Headers = append(p.Headers, l)
			}
		}
		slices.Sort(p.Headers)
	default:
		return nil, fmt.Errorf("cache: key policy headers: mode %q: want none or a list of names", ck.Headers.Mode)
	}
	var err error
	if p.Cookies, p.CookieNames, err = compileNames("cookies", ck.Cookies); err != nil {
		return nil, err
	}
	if p.Query, p.QueryNames, err = compileNames("query_strings", ck.QueryStrings); err != nil {
		return nil, err
	}
	if compress && maxTTL > 0 && !slices.Contains(p.Headers, "accept-encoding") {
		p.Gzip, p.Brotli = true, true
	}
	return p, nil
}

func compileNames(what string, l config.NameList) (Mode, []string, error) {
	switch l.Mode {
	case "", "none":
		return None, nil, nil
	case "all":
		return All, nil, nil
	case "list":
		if len(l.Names) > maxKeyNames {
			return None, nil, fmt.Errorf("cache: key policy %s: %d names, at most %d", what, len(l.Names), maxKeyNames)
		}
		names := slices.Clone(l.Names)
		for _, n := range names {
			if n == "" {
				return None, nil, fmt.Errorf("cache: key policy %s: empty name", what)
			}
		}
		slices.Sort(names)
		return List, slices.Compact(names), nil
	}
	return None, nil, fmt.Errorf("cache: key policy %s: mode %q: want none, all or a list of names", what, l.Mode)
}

// NewTTLPolicy builds a behaviour's TTL policy with CloudFront's defaults and
// adjustments: default_ttl 1 day and max_ttl 1 year when unset, default_ttl
// raised to min_ttl, max_ttl raised to default_ttl; error caching minimum
// 10 s, overridden per status by the distribution's custom error responses.
func NewTTLPolicy(b config.CacheBehavior, errs []config.CustomErrorResponse) TTLPolicy {
	p := DefaultTTLPolicy()
	p.MinTTL = max(b.MinTTL.D(), 0)
	if b.DefaultTTL != nil {
		p.DefaultTTL = max(b.DefaultTTL.D(), 0)
	}
	if b.MaxTTL != nil {
		p.MaxTTL = max(b.MaxTTL.D(), 0)
	}
	p.DefaultTTL = max(p.DefaultTTL, p.MinTTL)
	if b.MaxTTL == nil || p.MaxTTL < p.DefaultTTL {
		p.MaxTTL = max(p.MaxTTL, p.DefaultTTL)
	}
	for _, e := range errs {
		if e.ErrorCachingMinTTL == nil {
			continue
		}
		if p.ErrorTTLs == nil {
			p.ErrorTTLs = map[int]time.Duration{}
		}
		p.ErrorTTLs[e.ErrorCode] = max(e.ErrorCachingMinTTL.D(), 0)
	}
	return p
}

// CachesOptions reports whether a behaviour caches OPTIONS answers.
func CachesOptions(b config.CacheBehavior) bool {
	return slices.ContainsFunc(b.CachedMethods, func(m string) bool { return strings.EqualFold(m, "OPTIONS") })
}

// StoreOptions maps the edge's cache section to store options. A zero
// max_size means 1 GiB, the documented default; a zero max_object_size 64 MiB
// (capped at max_size).
func StoreOptions(c config.CacheConfig) Options {
	o := Options{MaxSize: int64(c.MaxSize), MaxObjectSize: int64(c.MaxObjectSize)}
	if o.MaxSize <= 0 {
		o.MaxSize = 1 << 30
	}
	if o.MaxObjectSize <= 0 {
		o.MaxObjectSize = 64 << 20
	}
	o.MaxObjectSize = min(o.MaxObjectSize, o.MaxSize)
	return o
}
