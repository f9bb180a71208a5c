package cache

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// NameList is one item of a cache policy: Mode "none" (or ""), "all", or
// "list" with Names. It has the shape of config.NameList, so the edge passes
// cache.NameList(b.CacheKey.Headers) without copying; cache does not import
// config so that it builds and tests on its own.
type NameList struct {
	Mode  string
	Names []string
}

// Cache policy quotas and names CloudFront refuses in a cache key (§6.3).
const maxKeyNames = 10

var forbiddenKeyHeaders = []string{
	"cloudfront-viewer-address", "cloudfront-viewer-asn", "cloudfront-viewer-tls",
	"cloudfront-viewer-ja3-fingerprint", "cloudfront-viewer-ja4-fingerprint",
}

// NewKeyPolicy compiles a behaviour's cache_key (headers, cookies,
// query_strings). compress is the behaviour's
// compress flag: when it is set and maxTTL > 0 the negotiated gzip/br coding
// joins the key, unless the policy keys Accept-Encoding itself (CloudFront
// then does not compress). Header names are lower-cased; cookie and query
// names keep their case. "all" headers is refused: CloudFront cache
// policies cannot key every header.
func NewKeyPolicy(headers, cookies, queryStrings NameList, compress bool, maxTTL time.Duration) (*KeyPolicy, error) {
	p := &KeyPolicy{}
	switch headers.Mode {
	case "", "none":
	case "list":
		if len(headers.Names) > maxKeyNames {
			return nil, fmt.Errorf("cache: key policy headers: %d names, at most %d", len(headers.Names), maxKeyNames)
		}
		for _, n := range headers.Names {
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
		return nil, fmt.Errorf("cache: key policy headers: mode %q: want none or a list of names", headers.Mode)
	}
	var err error
	if p.Cookies, p.CookieNames, err = compileNames("cookies", cookies); err != nil {
		return nil, err
	}
	if p.Query, p.QueryNames, err = compileNames("query_strings", queryStrings); err != nil {
		return nil, err
	}
	if compress && maxTTL > 0 && !slices.Contains(p.Headers, "accept-encoding") {
		p.Gzip, p.Brotli = true, true
	}
	return p, nil
}

func compileNames(what string, l NameList) (Mode, []string, error) {
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
// adjustments: defaultTTL 1 day and maxTTL 1 year when nil, defaultTTL
// raised to minTTL, maxTTL raised to defaultTTL; error caching minimum 10 s,
// overridden per status by errorTTLs (the distribution's custom error
// responses that set error_caching_min_ttl).
func NewTTLPolicy(minTTL time.Duration, defaultTTL, maxTTL *time.Duration, errorTTLs map[int]time.Duration) TTLPolicy {
	p := DefaultTTLPolicy()
	p.MinTTL = max(minTTL, 0)
	if defaultTTL != nil {
		p.DefaultTTL = max(*defaultTTL, 0)
	}
	if maxTTL != nil {
		p.MaxTTL = max(*maxTTL, 0)
	}
	p.DefaultTTL = max(p.DefaultTTL, p.MinTTL)
	p.MaxTTL = max(p.MaxTTL, p.DefaultTTL)
	for code, d := range errorTTLs {
		if p.ErrorTTLs == nil {
			p.ErrorTTLs = make(map[int]time.Duration, len(errorTTLs))
		}
		p.ErrorTTLs[code] = max(d, 0)
	}
	return p
}

// CachesOptions reports whether a behaviour's cached_methods include OPTIONS.
func CachesOptions(cachedMethods []string) bool {
	return slices.ContainsFunc(cachedMethods, func(m string) bool { return strings.EqualFold(m, "OPTIONS") })
}

// StoreOptions maps the edge's cache section (max_size, max_object_size in
// bytes) to store options: 0 means 1 GiB and 64 MiB, and max_object_size is
// capped at max_size.
func StoreOptions(maxSize, maxObjectSize int64) Options {
	o := Options{MaxSize: maxSize, MaxObjectSize: maxObjectSize}
	if o.MaxSize <= 0 {
		o.MaxSize = 1 << 30
	}
	if o.MaxObjectSize <= 0 {
		o.MaxObjectSize = 64 << 20
	}
	o.MaxObjectSize = min(o.MaxObjectSize, o.MaxSize)
	return o
}
