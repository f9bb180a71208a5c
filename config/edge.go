package config

// Edge is the whole edge config file (SPEC §2.2).
type Edge struct {
	Admin           Admin          `yaml:"admin" json:"admin"`
	ShutdownTimeout Duration       `yaml:"shutdown_timeout" json:"shutdown_timeout"`
	AccessLog       AccessLog      `yaml:"access_log" json:"access_log"`
	Listeners       []EdgeListener `yaml:"listeners" json:"listeners"`
	Cache           CacheConfig    `yaml:"cache" json:"cache"`
	Geo             GeoConfig      `yaml:"geo" json:"geo"`
	KeyGroups       []KeyGroup     `yaml:"key_groups" json:"key_groups,omitempty"`
	Distributions   []Distribution `yaml:"distributions" json:"distributions"`
}

// EdgeListener is an HTTP or HTTPS viewer-facing listener.
type EdgeListener struct {
	Protocol       string           `yaml:"protocol" json:"protocol"` // HTTP | HTTPS
	Address        string           `yaml:"address" json:"address"`
	IdleTimeout    Duration         `yaml:"idle_timeout" json:"idle_timeout"`
	ProxyProtocol  *ProxyProtocolIn `yaml:"proxy_protocol" json:"proxy_protocol,omitempty"`
	TrustedProxies []string         `yaml:"trusted_proxies" json:"trusted_proxies,omitempty"`
	SSLPolicy      string           `yaml:"ssl_policy" json:"ssl_policy,omitempty"`
	Certificates   []Certificate    `yaml:"certificates" json:"certificates,omitempty"`
}

// CacheConfig bounds the object store.
type CacheConfig struct {
	MaxSize       Size `yaml:"max_size" json:"max_size"`
	MaxObjectSize Size `yaml:"max_object_size" json:"max_object_size"`
}

// GeoConfig names the country database; "" means the embedded one.
type GeoConfig struct {
	Database string `yaml:"database" json:"database"`
}

// KeyGroup is a set of up to 5 public keys trusted to sign URLs and cookies.
type KeyGroup struct {
	Name string      `yaml:"name" json:"name"`
	Keys []PublicKey `yaml:"keys" json:"keys"`
}

// PublicKey is a CloudFront public key: its ID and a PEM SubjectPublicKeyInfo file.
type PublicKey struct {
	ID        string `yaml:"id" json:"id"`
	PublicKey string `yaml:"public_key" json:"public_key"`
}

// Distribution is one CloudFront-style distribution.
type Distribution struct {
	Name                 string                `yaml:"name" json:"name"`
	Aliases              []string              `yaml:"aliases" json:"aliases,omitempty"`
	Origins              []Origin              `yaml:"origins" json:"origins"`
	OriginGroups         []OriginGroup         `yaml:"origin_groups" json:"origin_groups,omitempty"`
	DefaultCacheBehavior CacheBehavior         `yaml:"default_cache_behavior" json:"default_cache_behavior"`
	CacheBehaviors       []CacheBehavior       `yaml:"cache_behaviors" json:"cache_behaviors,omitempty"`
	GeoRestriction       GeoRestriction        `yaml:"geo_restriction" json:"geo_restriction"`
	CustomErrorResponses []CustomErrorResponse `yaml:"custom_error_responses" json:"custom_error_responses,omitempty"`
}

// Origin is an HTTP(S) server the distribution fetches from.
type Origin struct {
	ID               string            `yaml:"id" json:"id"`
	URL              string            `yaml:"url" json:"url"`
	CustomHeaders    map[string]Secret `yaml:"custom_headers" json:"custom_headers,omitempty"`
	ConnectTimeout   Duration          `yaml:"connect_timeout" json:"connect_timeout"`
	ResponseTimeout  Duration          `yaml:"response_timeout" json:"response_timeout"`
	KeepaliveTimeout Duration          `yaml:"keepalive_timeout" json:"keepalive_timeout"`
}

// OriginGroup fails over from the first member to the second.
type OriginGroup struct {
	ID                  string   `yaml:"id" json:"id"`
	Members             []string `yaml:"members" json:"members"`
	FailoverStatusCodes []int    `yaml:"failover_status_codes" json:"failover_status_codes"`
}

// CacheBehavior applies to requests whose path matches PathPattern.
type CacheBehavior struct {
	PathPattern          string   `yaml:"path_pattern" json:"path_pattern,omitempty"`
	TargetOrigin         string   `yaml:"target_origin" json:"target_origin"`
	ViewerProtocolPolicy string   `yaml:"viewer_protocol_policy" json:"viewer_protocol_policy"`
	AllowedMethods       []string `yaml:"allowed_methods" json:"allowed_methods"`
	// CachedMethods: GET and HEAD always; OPTIONS optionally.
	CachedMethods    []string      `yaml:"cached_methods" json:"cached_methods,omitempty"`
	MinTTL           Duration      `yaml:"min_ttl" json:"min_ttl"`
	DefaultTTL       *Duration     `yaml:"default_ttl" json:"default_ttl"`
	MaxTTL           *Duration     `yaml:"max_ttl" json:"max_ttl"`
	CacheKey         CacheKey      `yaml:"cache_key" json:"cache_key"`
	OriginRequest    OriginRequest `yaml:"origin_request" json:"origin_request"`
	Compress         bool          `yaml:"compress" json:"compress"`
	TrustedKeyGroups []string      `yaml:"trusted_key_groups" json:"trusted_key_groups,omitempty"`
	// FunctionAssociations are CloudFront Functions (viewer events only).
	FunctionAssociations []FunctionAssociation `yaml:"function_associations" json:"function_associations,omitempty"`
	// LambdaFunctionAssociations are Lambda@Edge-shaped handlers (all four events).
	LambdaFunctionAssociations []FunctionAssociation `yaml:"lambda_function_associations" json:"lambda_function_associations,omitempty"`
}

// FunctionAssociation runs a JavaScript file at one event of a cache
// behaviour: viewer-request, viewer-response, origin-request or
// origin-response. Function is a file path, relative to the config file.
type FunctionAssociation struct {
	EventType string `yaml:"event_type" json:"event_type"`
	Function  string `yaml:"function" json:"function"`
	// IncludeBody exposes the request body to a Lambda@Edge request handler.
	IncludeBody bool `yaml:"include_body" json:"include_body,omitempty"`
}

// CacheKey is the cache policy: what besides the path makes the key. Each of
// the three is "none", "all" (query strings only) or a list of names, written
// as a YAML scalar or sequence.
type CacheKey struct {
	Headers      NameList `yaml:"headers" json:"headers"`
	Cookies      NameList `yaml:"cookies" json:"cookies"`
	QueryStrings NameList `yaml:"query_strings" json:"query_strings"`
}

// OriginRequest is the origin request policy: what is forwarded to the
// origin beyond the cache key (never part of the key).
type OriginRequest struct {
	Headers      NameList `yaml:"headers" json:"headers"`
	Cookies      NameList `yaml:"cookies" json:"cookies"`
	QueryStrings NameList `yaml:"query_strings" json:"query_strings"`
}

// GeoRestriction refuses or admits viewers by country.
type GeoRestriction struct {
	Type      string   `yaml:"type" json:"type"` // none | whitelist | blacklist
	Locations []string `yaml:"locations" json:"locations,omitempty"`
	Unknown   string   `yaml:"unknown" json:"unknown,omitempty"` // allow (default) | deny
}

// CustomErrorResponse replaces an error answer with a page from the origin.
type CustomErrorResponse struct {
	ErrorCode          int       `yaml:"error_code" json:"error_code"`
	ResponseCode       int       `yaml:"response_code" json:"response_code,omitempty"`
	ResponsePagePath   string    `yaml:"response_page_path" json:"response_page_path,omitempty"`
	ErrorCachingMinTTL *Duration `yaml:"error_caching_min_ttl" json:"error_caching_min_ttl"`
}
