package config

import (
	"strings"
	"testing"
)

// edgeYAML builds a small valid edge config: dist holds extra lines for
// the one distribution, behavior extra lines for its default behaviour,
// top extra top-level keys.
func edgeYAML(top, dist, behavior string) string {
	return top + `listeners:
  - {protocol: HTTP, address: "127.0.0.1:0"}
distributions:
  - name: site
    origins:
      - {id: app, url: "http://127.0.0.1:9001"}
      - {id: backup, url: "http://127.0.0.1:9002/prefix"}
` + indent(dist, "    ") + `    default_cache_behavior:
      target_origin: app
` + indent(behavior, "      ")
}

func TestEdgeRules(t *testing.T) {
	const kg = "key_groups: [{name: main, keys: [{id: K2JCJMDEHXQW5F, public_key: spec/keys/public.pem}]}]\n"
	beh := func(extra string) string {
		return "cache_behaviors:\n  - {path_pattern: \"/img/*\", target_origin: app" + extra + "}\n"
	}
	cases := []struct {
		name, top, dist, behavior, want string
	}{
		{"minimal", "", "", "", ""},
		// top level
		{"admin", "admin: {address: \"127.0.0.1:x\"}\n", "", "", "admin.address: invalid port"},
		{"log format", "access_log: {format: alb}\n", "", "", `access_log.format: invalid value "alb": want one of cloudfront, json`},
		{"cache sizes", "cache: {max_size: 10MiB, max_object_size: 11MiB}\n", "", "", "cache.max_object_size: 11MiB exceeds cache.max_size 10MiB"},
		{"cache zero", "cache: {max_size: 0}\n", "", "", "cache.max_size: must be greater than 0"},
		{"cache size syntax", "cache: {max_size: lots}\n", "", "", `cache.max_size: invalid size "lots"`},
		{"geo db missing", "geo: {database: nope.mmdb}\n", "", "", "geo.database: cannot read nope.mmdb: no such file"},
		{"geo db ok", "geo: {database: spec/keys/public.pem}\n", "", "", ""},
		{"key group ok", kg, "", "", ""},
		{"key group dup", "key_groups: [{name: m, keys: [{id: A, public_key: spec/keys/public.pem}]}, {name: m, keys: [{id: B, public_key: spec/keys/public.pem}]}]\n", "", "", `key_groups[1].name: duplicate key group name "m"`},
		{"key group no keys", "key_groups: [{name: m, keys: []}]\n", "", "", "key_groups[0].keys: 0 keys: want 1..5"},
		{"key group 6 keys", "key_groups: [{name: m, keys: [" + strings.Repeat("{id: A, public_key: spec/keys/public.pem},", 5) + "{id: F, public_key: spec/keys/public.pem}]}]\n", "", "", "key_groups[0].keys: 6 keys: want 1..5"},
		{"key id empty", "key_groups: [{name: m, keys: [{public_key: spec/keys/public.pem}]}]\n", "", "", "key_groups[0].keys[0].id: key id required"},
		{"key file", "key_groups: [{name: m, keys: [{id: A, public_key: keys/nope.pem}]}]\n", "", "", "key_groups[0].keys[0].public_key: cannot read"},
		// distributions
		{"alias ok", "", "aliases: [cdn.example.com, \"*.example.org\"]\n", "", ""},
		{"alias bad", "", "aliases: [\"cdn example.com\"]\n", "", `distributions[0].aliases[0]: invalid alias "cdn example.com"`},
		{"origin dup", "", "origin_groups: [{id: app, members: [app, backup], failover_status_codes: [500]}]\n", "", `distributions[0].origin_groups[0].id: duplicate id "app"`},
		{"origin group ok", "", "origin_groups: [{id: ha, members: [app, backup], failover_status_codes: [400, 403, 404, 416, 500, 502, 503, 504]}]\n", "", ""},
		{"origin group members", "", "origin_groups: [{id: ha, members: [app], failover_status_codes: [500]}]\n", "", "origin_groups[0].members: 1 members: an origin group has exactly 2"},
		{"origin group unknown", "", "origin_groups: [{id: ha, members: [app, nope], failover_status_codes: [500]}]\n", "", `origin_groups[0].members[1]: unknown origin "nope"`},
		{"origin group same", "", "origin_groups: [{id: ha, members: [app, app], failover_status_codes: [500]}]\n", "", "primary and secondary are the same origin"},
		{"origin group code", "", "origin_groups: [{id: ha, members: [app, backup], failover_status_codes: [501]}]\n", "", "origin_groups[0].failover_status_codes[0]: invalid status 501"},
		{"origin group no codes", "", "origin_groups: [{id: ha, members: [app, backup]}]\n", "", "origin_groups[0].failover_status_codes: at least one status code"},
		{"duplicate key in flow mapping", "", "origin_groups: [{id: ha, members: [app, backup], failover_status_codes: [500]}]\n" + beh(", target_origin: ha"), "", `duplicate key`},
		{"behavior target group", "", "origin_groups: [{id: ha, members: [app, backup], failover_status_codes: [500]}]\ncache_behaviors: [{path_pattern: /a, target_origin: ha}]\n", "", ""},
		{"behavior target unknown", "", "cache_behaviors: [{path_pattern: /a, target_origin: nope}]\n", "", `cache_behaviors[0].target_origin: unknown origin or origin group "nope"`},
		{"behavior no pattern", "", "cache_behaviors: [{target_origin: app}]\n", "", "cache_behaviors[0].path_pattern: path_pattern required"},
		{"behavior pattern chars", "", beh("") + "  - {path_pattern: \"/a b\", target_origin: app}\n", "", `cache_behaviors[1].path_pattern: invalid character " "`},
		{"behavior pattern dup", "", beh("") + "  - {path_pattern: \"img/*\", target_origin: app}\n", "", `cache_behaviors[1].path_pattern: duplicate path pattern "img/*"`},
		{"behavior pattern long", "", "cache_behaviors: [{path_pattern: /" + strings.Repeat("a", 255) + ", target_origin: app}]\n", "", "256 characters: at most 255"},
		{"default pattern", "", "", "path_pattern: /x\n", "default_cache_behavior.path_pattern: the default cache behavior matches every path"},
		{"vpp", "", "", "viewer_protocol_policy: https-only\n", ""},
		{"vpp bad", "", "", "viewer_protocol_policy: https\n", `default_cache_behavior.viewer_protocol_policy: invalid value "https"`},
		{"methods 3", "", "", "allowed_methods: [GET, HEAD, OPTIONS]\ncached_methods: [GET, HEAD, OPTIONS]\n", ""},
		{"methods 7", "", "", "allowed_methods: [DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT]\n", ""},
		{"methods bad", "", "", "allowed_methods: [GET, POST]\n", "default_cache_behavior.allowed_methods: invalid set [GET POST]"},
		{"cached options not allowed", "", "", "cached_methods: [GET, HEAD, OPTIONS]\n", "cached_methods: OPTIONS is cached but not allowed"},
		{"ttl order", "", "", "min_ttl: 1h\ndefault_ttl: 30m\n", "default_cache_behavior.default_ttl: default_ttl 30m is below min_ttl 1h"},
		{"ttl max", "", "", "default_ttl: 2h\nmax_ttl: 1h\n", "default_cache_behavior.max_ttl: max_ttl 1h is below default_ttl 2h"},
		{"ttl min raises default", "", "", "min_ttl: 48h\n", ""},
		{"cache key lists", "", "", "cache_key: {headers: [Accept-Language, Origin], cookies: [session], query_strings: [v, lang]}\n", ""},
		{"cache key headers all", "", "", "cache_key: {headers: all}\n", "cache_key.headers: all is not allowed here"},
		{"cache key bad header", "", "", "cache_key: {headers: [\"Bad Header\"]}\n", `cache_key.headers[0]: invalid header name "Bad Header"`},
		{"cache key viewer address", "", "", "cache_key: {headers: [CloudFront-Viewer-Address]}\n", "cache_key.headers[0]: CloudFront-Viewer-Address cannot be part of the cache key"},
		{"cache key dup", "", "", "cache_key: {headers: [Origin, origin]}\n", `cache_key.headers[1]: duplicate name "origin"`},
		{"cache key bad mode", "", "", "cache_key: {cookies: allExcept}\n", `cache_key.cookies: invalid value "allExcept"`},
		{"cache key bad cookie", "", "", "cache_key: {cookies: [\"a;b\"]}\n", `cache_key.cookies[0]: invalid cookie name "a;b"`},
		{"cache key bad query", "", "", "cache_key: {query_strings: [\"a=b\"]}\n", `cache_key.query_strings[0]: invalid query string name "a=b"`},
		{"cache key 11", "", "", "cache_key: {query_strings: [a,b,c,d,e,f,g,h,i,j,k]}\n", "cache_key.query_strings: 11 names: at most 10"},
		{"cache key unknown", "", "", "cache_key: {header: [Origin]}\n", "cache_key.header: unknown key (did you mean headers?)"},
		{"origin request all", "", "", "origin_request: {headers: all, cookies: all, query_strings: all}\n", ""},
		{"trusted key groups", kg, "", "trusted_key_groups: [main]\n", ""},
		{"trusted key groups unknown", kg, "", "trusted_key_groups: [other]\n", `default_cache_behavior.trusted_key_groups[0]: unknown key group "other"`},
		{"functions refused", "", "", "function_associations: [{event_type: viewer-request, function: spec/hooks/rewrite.js}]\n", "distributions[0].default_cache_behavior.function_associations[0]: edge hooks (CloudFront Functions, Lambda@Edge) are not in this build of edge; remove the association"},
		{"lambda refused", "", "", "lambda_function_associations: [{event_type: origin-response, function: spec/hooks/headers.js}]\n", "distributions[0].default_cache_behavior.lambda_function_associations[0]: edge hooks (CloudFront Functions, Lambda@Edge) are not in this build of edge; remove the association"},
		{"function event", "", "", "function_associations: [{event_type: origin-request, function: spec/hooks/rewrite.js}]\n", `function_associations[0].event_type: invalid event "origin-request"`},
		{"function twice", "", "", "lambda_function_associations: [{event_type: origin-request, function: spec/hooks/headers.js}, {event_type: origin-request, function: spec/hooks/headers.js}]\n", "lambda_function_associations[1].event_type: a second origin-request association"},
		{"function mix viewer", "", "", "function_associations: [{event_type: viewer-request, function: spec/hooks/rewrite.js}]\nlambda_function_associations: [{event_type: viewer-request, function: spec/hooks/headers.js}]\n", "CloudFront Functions and Lambda@Edge cannot share the viewer-request event"},
		{"function file", "", "", "function_associations: [{event_type: viewer-request, function: nope.js}]\n", "function_associations[0].function: cannot read"},
		{"function body", "", "", "function_associations: [{event_type: viewer-request, function: spec/hooks/rewrite.js, include_body: true}]\n", "include_body: only for Lambda@Edge request events"},
		// origins
		{"duplicate key in block mapping", "", "origins:\n  - {id: s, url: \"https://origin.example.com:8443/base\"}\n", "", "duplicate key"},
		// geo
		{"geo ok", "", "geo_restriction: {type: whitelist, locations: [US, GB, AX], unknown: deny}\n", "", ""},
		{"geo type", "", "geo_restriction: {type: allowlist, locations: [US]}\n", "", `geo_restriction.type: invalid value "allowlist"`},
		{"geo code", "", "geo_restriction: {type: blacklist, locations: [UK]}\n", "", `geo_restriction.locations[0]: unknown country code "UK"`},
		{"geo lower", "", "geo_restriction: {type: blacklist, locations: [us]}\n", "", `unknown country code "us"`},
		{"geo dup", "", "geo_restriction: {type: blacklist, locations: [US, US]}\n", "", "geo_restriction.locations[1]: duplicate country US"},
		{"geo empty", "", "geo_restriction: {type: blacklist}\n", "", "geo_restriction.locations: at least one country code is required for blacklist"},
		{"geo none with locations", "", "geo_restriction: {type: none, locations: [US]}\n", "", "locations need type whitelist or blacklist"},
		{"geo unknown", "", "geo_restriction: {type: none, unknown: block}\n", "", `geo_restriction.unknown: invalid value "block"`},
		// custom error responses
		{"cer ok", "", "custom_error_responses: [{error_code: 404, response_code: 200, response_page_path: /index.html}, {error_code: 503, error_caching_min_ttl: 0s}]\n", "", ""},
		{"cer code", "", "custom_error_responses: [{error_code: 418}]\n", "", "custom_error_responses[0].error_code: invalid error code 418"},
		{"cer dup", "", "custom_error_responses: [{error_code: 404}, {error_code: 404}]\n", "", "custom_error_responses[1].error_code: duplicate error code 404"},
		{"cer response", "", "custom_error_responses: [{error_code: 404, response_code: 302, response_page_path: /x}]\n", "", "custom_error_responses[0].response_code: invalid response code 302"},
		{"cer path", "", "custom_error_responses: [{error_code: 404, response_code: 404, response_page_path: x.html}]\n", "", `response_page_path: path "x.html" must start with /`},
		{"cer path without code", "", "custom_error_responses: [{error_code: 404, response_page_path: /x.html}]\n", "", "custom_error_responses[0].response_code: response_code required with response_page_path"},
		{"cer ttl", "", "custom_error_responses: [{error_code: 404, error_caching_min_ttl: 9000h}]\n", "", "error_caching_min_ttl: 9000h out of range 0s..8760h"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := edgeYAML(tc.top, tc.dist, tc.behavior)
			_, err := ParseEdge("testdata/case.yaml", []byte(src))
			checkErr(t, src, err, tc.want)
		})
	}
}

// edgeDist is a full edge config with one distribution given in full.
func edgeDist(dist string) string {
	return "listeners: [{address: \"127.0.0.1:0\"}]\ndistributions:\n" + indent(dist, "  ")
}

func TestEdgeDistributions(t *testing.T) {
	origin := "origins: [{id: app, url: \"http://127.0.0.1:9001\"}]\ndefault_cache_behavior: {target_origin: app}\n"
	d := func(name, extra string) string { return "- name: " + name + "\n" + indent(extra+origin, "  ") }
	cases := []struct{ name, src, want string }{
		{"two with aliases", edgeDist(d("a", "aliases: [a.example.com]\n") + d("b", "aliases: [b.example.com]\n") + d("c", "")), ""},
		{"two defaults", edgeDist(d("a", "") + d("b", "")), "distributions[1].aliases: only one distribution may have no aliases"},
		{"alias dup case", edgeDist(d("a", "aliases: [CDN.example.com]\n") + d("b", "aliases: [cdn.example.com.]\n")), `distributions[1].aliases[0]: alias "cdn.example.com." already used by distributions[0].aliases[0]`},
		{"name dup", edgeDist(d("a", "aliases: [a.example.com]\n") + d("a", "aliases: [b.example.com]\n")), `distributions[1].name: duplicate distribution name "a"`},
		{"no name", edgeDist("- " + strings.TrimPrefix(indent(origin, "  "), "  ")), "distributions[0].name: distribution name required"},
		{"no distributions", "listeners: [{address: \"127.0.0.1:0\"}]\n", "distributions: at least one distribution is required"},
		{"no listeners", "distributions:\n" + indent(d("a", ""), "  "), "listeners: at least one listener is required"},
		{"listener protocol", "listeners: [{protocol: TCP, address: \"127.0.0.1:0\"}]\ndistributions:\n" + indent(d("a", ""), "  "), `listeners[0].protocol: invalid value "TCP": want one of HTTP, HTTPS`},
		{"listener https", "listeners: [{protocol: HTTPS, address: \"127.0.0.1:0\"}]\ndistributions:\n" + indent(d("a", ""), "  "), "listeners[0].certificates: HTTPS listener needs certificates"},
		{"listener https ok", "listeners: [{protocol: HTTPS, address: \"127.0.0.1:0\", certificates: [{cert: spec/c.pem, key: spec/k.pem}]}]\ndistributions:\n" + indent(d("a", ""), "  "), ""},
		{"listener trusted proxies", "listeners: [{address: \"127.0.0.1:0\", trusted_proxies: [10.0.0.0/8, bad]}]\ndistributions:\n" + indent(d("a", ""), "  "), `listeners[0].trusted_proxies[1]: invalid CIDR "bad"`},
		{"listener addr dup", "listeners: [{address: \"127.0.0.1:8081\"}, {address: \"127.0.0.1:8081\"}]\ndistributions:\n" + indent(d("a", ""), "  "), "listeners[1].address: address 127.0.0.1:8081 already used"},
		{"listener proxy protocol", "listeners: [{address: \"127.0.0.1:0\", proxy_protocol: {trusted: [127.0.0.0/8], header_timeout: 0.5s}}]\ndistributions:\n" + indent(d("a", ""), "  "), "listeners[0].proxy_protocol.header_timeout: 500ms out of range 1s..10s"},
		{"listener ssl on http", "listeners: [{address: \"127.0.0.1:0\", ssl_policy: ELBSecurityPolicy-2016-08}]\ndistributions:\n" + indent(d("a", ""), "  "), "listeners[0].ssl_policy: only for HTTPS listeners"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseEdge("testdata/case.yaml", []byte(tc.src))
			checkErr(t, tc.src, err, tc.want)
		})
	}
}

func TestEdgeOrigins(t *testing.T) {
	o := func(origin string) string {
		return edgeDist("- name: a\n  origins: [" + origin + "]\n  default_cache_behavior: {target_origin: app}\n")
	}
	cases := []struct{ name, origin, want string }{
		{"ok", `{id: app, url: "https://origin.example.com:8443/base", connect_timeout: 1s, response_timeout: 180s, keepalive_timeout: 60s}`, ""},
		{"no id", `{url: "http://127.0.0.1:1"}`, "origins[0].id: origin id required"},
		{"no url", `{id: app}`, "origins[0].url: origin url required"},
		{"scheme", `{id: app, url: "ftp://127.0.0.1:1"}`, "scheme must be http or https"},
		{"no host", `{id: app, url: "http:///x"}`, "host required"},
		{"query", `{id: app, url: "http://127.0.0.1:1/x?a=1"}`, "no query allowed"},
		{"userinfo", `{id: app, url: "http://u:p@127.0.0.1:1"}`, "user information is not allowed"},
		{"bad port", `{id: app, url: "http://127.0.0.1:99999"}`, "origins[0].url: invalid url"},
		{"connect timeout", `{id: app, url: "http://127.0.0.1:1", connect_timeout: 11s}`, "origins[0].connect_timeout: 11s out of range 1s..10s"},
		{"response timeout", `{id: app, url: "http://127.0.0.1:1", response_timeout: 181s}`, "origins[0].response_timeout: 3m1s out of range 1s..3m"},
		{"keepalive", `{id: app, url: "http://127.0.0.1:1", keepalive_timeout: 500ms}`, "origins[0].keepalive_timeout: 500ms out of range 1s..3m"},
		{"headers ok", `{id: app, url: "http://127.0.0.1:1", custom_headers: {X-Origin-Verify: s3cr3t, Origin: "https://a.example.com"}}`, ""},
		{"header forbidden", `{id: app, url: "http://127.0.0.1:1", custom_headers: {Host: x}}`, "origins[0].custom_headers.Host: header Host cannot be set as an origin custom header"},
		{"header forbidden lower", `{id: app, url: "http://127.0.0.1:1", custom_headers: {transfer-encoding: x}}`, "cannot be set as an origin custom header"},
		{"header x-amz", `{id: app, url: "http://127.0.0.1:1", custom_headers: {X-Amz-Date: x}}`, "header X-Amz-Date cannot be set"},
		{"header x-edge", `{id: app, url: "http://127.0.0.1:1", custom_headers: {x-edge-location: x}}`, "cannot be set"},
		{"header x-real-ip", `{id: app, url: "http://127.0.0.1:1", custom_headers: {X-Real-IP: x}}`, "cannot be set"},
		{"header dup case", `{id: app, url: "http://127.0.0.1:1", custom_headers: {X-Secret: a, x-secret: b}}`, "names are case-insensitive"},
		{"header bad name", `{id: app, url: "http://127.0.0.1:1", custom_headers: {"X Secret": a}}`, `invalid header name "X Secret"`},
		{"header crlf", `{id: app, url: "http://127.0.0.1:1", custom_headers: {X-Secret: "a\r\nb: c"}}`, "value contains a control character"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := o(tc.origin)
			_, err := ParseEdge("testdata/case.yaml", []byte(src))
			checkErr(t, src, err, tc.want)
		})
	}
}
