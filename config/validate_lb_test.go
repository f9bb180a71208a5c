package config

import (
	"strings"
	"testing"
)

// TestLBRules runs each validation rule of the lb config with a good and
// a bad value; want is "" for good, else "path: message fragment".
func TestLBRules(t *testing.T) {
	const tls = "certificates: [{cert: spec/certs/a.pem, key: spec/certs/a-key.pem}]\n"
	rule := func(cond, action string) string {
		return "rules: [{priority: 1, conditions: " + cond + ", action: " + action + "}]\n"
	}
	fixed := "{fixed_response: {status: 200}}"
	cond := func(c string) string { return rule(c, fixed) }
	act := func(a string) string { return rule("{path: [/x]}", a) }
	tcp := "protocol: TCP\n"
	tcpGroup := "protocol: TCP\n"
	cases := []struct {
		name, listener, group, top, want string
	}{
		{"minimal", "", "", "", ""},
		// listeners
		{"protocol", "protocol: HTTP2\n", "", "", `listeners[0].protocol: invalid value "HTTP2"`},
		{"idle ok", "idle_timeout: 4000s\n", "", "", ""},
		{"idle high", "idle_timeout: 4001s\n", "", "", "listeners[0].idle_timeout: 1h6m41s out of range 1s..1h6m40s"},
		{"idle zero is default", "idle_timeout: 0s\n", "", "", ""},
		{"xff", "xff: drop\n", "", "", `listeners[0].xff: invalid value "drop": want one of append, preserve, remove`},
		{"xff preserve", "xff: preserve\n", "", "", ""},
		{"desync", "desync_mitigation: paranoid\n", "", "", `listeners[0].desync_mitigation: invalid value "paranoid"`},
		{"desync strictest", "desync_mitigation: strictest\n", "", "", ""},
		{"https needs certs", "protocol: HTTPS\n", "", "", "listeners[0].certificates: HTTPS listener needs certificates or acme"},
		{"https certs", "protocol: HTTPS\n" + tls, "", "", ""},
		{"https missing cert file", "protocol: HTTPS\ncertificates: [{cert: spec/nope.pem, key: spec/certs/a-key.pem}]\n", "", "", "listeners[0].certificates[0].cert: cannot read spec/nope.pem: no such file"},
		{"cert dir", "protocol: HTTPS\ncertificates: [{cert: spec/certs, key: spec/certs/a-key.pem}]\n", "", "", "is a directory"},
		{"ssl policy", "protocol: HTTPS\nssl_policy: ELBSecurityPolicy-Nope\n" + tls, "", "", `listeners[0].ssl_policy: unknown security policy "ELBSecurityPolicy-Nope"`},
		{"ssl policy res", "protocol: HTTPS\nssl_policy: ELBSecurityPolicy-TLS13-1-2-Res-2021-06\n" + tls, "", "", ""},
		{"ssl policy 13", "protocol: HTTPS\nssl_policy: ELBSecurityPolicy-TLS13-1-3-2021-06\n" + tls, "", "", ""},
		{"ssl policy fs", "protocol: HTTPS\nssl_policy: ELBSecurityPolicy-FS-1-2-Res-2020-10\n" + tls, "", "", ""},
		{"ssl policy 2016", "protocol: HTTPS\nssl_policy: ELBSecurityPolicy-2016-08\n" + tls, "", "", ""},
		{"ssl policy on http", "ssl_policy: ELBSecurityPolicy-2016-08\n", "", "", "listeners[0].ssl_policy: only for HTTPS and TLS listeners"},
		{"acme ok", "protocol: HTTPS\nacme: {directory: \"https://127.0.0.1:14000/dir\", domains: [app.example.com], cache_dir: acme}\n", "", "", ""},
		{"acme http url", "protocol: HTTPS\nacme: {directory: \"http://127.0.0.1:14000/dir\", domains: [app.example.com], cache_dir: acme}\n", "", "", "listeners[0].acme.directory: invalid directory"},
		{"acme no domains", "protocol: HTTPS\nacme: {directory: \"https://127.0.0.1:14000/dir\", cache_dir: acme}\n", "", "", "listeners[0].acme.domains: at least one domain is required"},
		{"acme bad domain", "protocol: HTTPS\nacme: {directory: \"https://127.0.0.1:14000/dir\", domains: [\"*.example.com\"], cache_dir: acme}\n", "", "", "listeners[0].acme.domains[0]: invalid domain"},
		{"acme no cache", "protocol: HTTPS\nacme: {directory: \"https://127.0.0.1:14000/dir\", domains: [app.example.com]}\n", "", "", "listeners[0].acme.cache_dir: cache_dir required"},
		{"acme roots missing", "protocol: HTTPS\nacme: {directory: \"https://127.0.0.1:14000/dir\", domains: [a.example.com], cache_dir: x, ca_roots: nope.pem}\n", "", "", "listeners[0].acme.ca_roots: cannot read"},
		{"proxy protocol ok", "proxy_protocol: {trusted: [127.0.0.0/8, \"::1/128\"], header_timeout: 10s}\n", "", "", ""},
		{"proxy protocol bare ip", "proxy_protocol: {trusted: [127.0.0.1]}\n", "", "", `listeners[0].proxy_protocol.trusted[0]: invalid CIDR "127.0.0.1": write the prefix length`},
		{"proxy protocol empty", "proxy_protocol: {trusted: []}\n", "", "", "listeners[0].proxy_protocol.trusted: at least one CIDR"},
		{"proxy protocol timeout", "proxy_protocol: {trusted: [127.0.0.0/8], header_timeout: 11s}\n", "", "", "listeners[0].proxy_protocol.header_timeout: 11s out of range 1s..10s"},
		{"alpn on http", "alpn_policy: HTTP2Only\n", "", "", "listeners[0].alpn_policy: only for TLS listeners"},
		// TCP / TLS listeners
		{"tcp to tcp", tcp, tcpGroup, "", ""},
		{"tcp to http group", tcp, "", "", `listeners[0].default_action.forward.target_group: target group "web" has protocol HTTP: a TCP listener forwards only to TCP or TLS groups`},
		{"http to tcp group", "", tcpGroup, "", `listeners[0].default_action.forward.target_group: target group "web" has protocol TCP: a HTTP listener forwards only to HTTP or HTTPS groups`},
		{"tcp rules", tcp + cond("{path: [/x]}"), tcpGroup, "", "listeners[0].rules: TCP listeners have no rules"},
		{"tcp xff", tcp + "xff: remove\n", tcpGroup, "", "listeners[0].xff: only for HTTP and HTTPS listeners"},
		{"tcp idle 6000", tcp + "idle_timeout: 6000s\n", tcpGroup, "", ""},
		{"tls alpn", "protocol: TLS\nalpn_policy: HTTP2Preferred\n" + tls, tcpGroup, "", ""},
		{"tls alpn bad", "protocol: TLS\nalpn_policy: h2\n" + tls, tcpGroup, "", `listeners[0].alpn_policy: invalid value "h2"`},
		{"tls needs certs", "protocol: TLS\n", tcpGroup, "", "listeners[0].certificates: TLS listener needs certificates or acme"},
		// rules
		{"priority 0", "rules: [{priority: 0, conditions: {path: [/x]}, action: " + fixed + "}]\n", "", "", "listeners[0].rules[0].priority: 0 out of range 1..50000"},
		{"priority missing", "rules: [{conditions: {path: [/x]}, action: " + fixed + "}]\n", "", "", "listeners[0].rules[0].priority: priority required"},
		{"priority max", "rules: [{priority: 50000, conditions: {path: [/x]}, action: " + fixed + "}]\n", "", "", ""},
		{"priority high", "rules: [{priority: 50001, conditions: {path: [/x]}, action: " + fixed + "}]\n", "", "", "listeners[0].rules[0].priority: 50001 out of range"},
		{"priority dup", "rules: [{priority: 5, conditions: {path: [/x]}, action: " + fixed + "}, {priority: 5, conditions: {path: [/y]}, action: " + fixed + "}]\n", "", "", "listeners[0].rules[1].priority: duplicate priority 5 (first at listeners[0].rules[0])"},
		{"no conditions", "rules: [{priority: 1, action: " + fixed + "}]\n", "", "", "listeners[0].rules[0].conditions: a rule needs at least one condition"},
		{"host ok", cond(`{host: ["*.example.com", "a?.example.org"]}`), "", "", ""},
		{"host star", cond(`{host: ["*"]}`), "", "", ""},
		{"host no dot", cond(`{host: [localhost]}`), "", "", `listeners[0].rules[0].conditions.host[0]: invalid host pattern "localhost": must contain a dot`},
		{"host tld digits", cond(`{host: [10.0.0.1]}`), "", "", "only letters may follow the last dot"},
		{"host port", cond(`{host: ["a.example.com:8080"]}`), "", "", `invalid character ":" in host pattern`},
		{"host long", cond(`{host: ["` + strings.Repeat("a", 125) + `.com"]}`), "", "", "129 characters: at most 128"},
		{"host empty", cond(`{host: [""]}`), "", "", "listeners[0].rules[0].conditions.host[0]: empty value"},
		{"host empty list", cond(`{host: [], path: [/x]}`), "", "", "listeners[0].rules[0].conditions.host: at least one value is required"},
		{"host 4 values", cond(`{host: [a.example.com, b.example.com, c.example.com, d.example.com]}`), "", "", "conditions.host: 4 values: at most 3 per condition"},
		{"path chars ok", cond(`{path: ["/a-b_c.d$e/~f\"g'h@i:j+k&l*?"]}`), "", "", ""},
		{"path bad char", cond(`{path: ["/a b"]}`), "", "", `conditions.path[0]: invalid character " " in path pattern`},
		{"path control", cond(`{path: ["/a\tb"]}`), "", "", "invalid byte 0x09"},
		{"path long", cond(`{path: ["/` + strings.Repeat("a", 128) + `"]}`), "", "", "conditions.path[0]: 129 characters: at most 128"},
		{"method ok", cond(`{method: [GET, CUSTOM-VERB_2X]}`), "", "", "invalid method"},
		{"method lower", cond(`{method: [get]}`), "", "", `conditions.method[0]: invalid method "get"`},
		{"method custom", cond(`{method: [PURGE, MY-VERB_X]}`), "", "", ""},
		{"source ip", cond(`{source_ip: [10.0.0.0/8, "2001:db8::/32"]}`), "", "", ""},
		{"source ip bad", cond(`{source_ip: [10.0.0.0/33]}`), "", "", `conditions.source_ip[0]: invalid CIDR "10.0.0.0/33"`},
		{"source ip broadcast", cond(`{source_ip: [255.255.255.255/32]}`), "", "", "conditions.source_ip[0]: 255.255.255.255/32 is not allowed"},
		{"header ok", cond(`{header: {X-Env: [canary, "beta*"]}}`), "", "", ""},
		{"header wildcard name", cond(`{header: {"X-*": [a]}}`), "", "", "conditions.header.X-*: wildcards are not allowed in header names"},
		{"header long name", cond(`{header: {` + strings.Repeat("x", 41) + `: [a]}}`), "", "", "header name 41 characters: at most 40"},
		{"header bad name", cond(`{header: {"X Env": [a]}}`), "", "", `invalid header name "X Env"`},
		{"header empty value", cond(`{header: {X-Env: [""]}}`), "", "", "conditions.header.X-Env[0]: empty value"},
		{"header empty map", cond(`{header: {}, path: [/x]}`), "", "", "conditions.header: at least one header is required"},
		{"query ok", cond(`{query: [{key: version, value: "2"}, {value: "*beta*"}]}`), "", "", ""},
		{"query no value", cond(`{query: [{key: version}]}`), "", "", "conditions.query[0].value: value required"},
		{"query bad char", cond(`{query: [{key: "a b", value: x}]}`), "", "", `conditions.query[0].key: invalid character " "`},
		{"query unknown key", cond(`{query: [{key: a, value: b, op: eq}]}`), "", "", "conditions.query[0].op: unknown key"},
		{"evals 5", cond(`{host: [a.example.com, b.example.com], path: [/a, /b], method: [GET]}`), "", "", ""},
		{"evals 6", cond(`{host: [a.example.com, b.example.com], path: [/a, /b], method: [GET, PUT]}`), "", "", "listeners[0].rules[0].conditions: 6 match values: at most 5 per rule"},
		{"wildcards 5", cond(`{path: ["/*/*/*/*/*"]}`), "", "", ""},
		{"wildcards escaped", cond(`{path: ["/*/*/*"], query: [{key: "a", value: "\\*\\?\\*x*"}]}`), "", "", ""},
		{"wildcards 6", cond(`{path: ["/*/*/*"], host: ["*.?.?.example.com"]}`), "", "", "conditions: 6 wildcard characters: at most 5 per rule"},
		// actions
		{"action none", "rules: [{priority: 1, conditions: {path: [/x]}}]\n", "", "", "listeners[0].rules[0].action: an action is required"},
		{"action two", act(`{fixed_response: {status: 200}, redirect: {protocol: HTTPS, status: 301}}`), "", "", "exactly one of forward, redirect, fixed_response is allowed, got 2"},
		{"forward unknown", act(`{forward: {target_group: nope}}`), "", "", `rules[0].action.forward.target_group: unknown target group "nope"`},
		{"forward both", act(`{forward: {target_group: web, target_groups: [{name: web}]}}`), "", "", "action.forward: set target_group or target_groups, not both"},
		{"forward neither", act(`{forward: {}}`), "", "", "action.forward: target_group or target_groups required"},
		{"forward weighted", act(`{forward: {target_groups: [{name: web, weight: 999}, {name: b, weight: 0}]}}`), "", "  - {name: b, targets: []}\n", ""},
		{"forward weight high", act(`{forward: {target_groups: [{name: web, weight: 1000}, {name: b, weight: 1}]}}`), "", "  - {name: b}\n", "forward.target_groups[0].weight: 1000 out of range 0..999"},
		{"forward weight negative", act(`{forward: {target_groups: [{name: web, weight: -1}, {name: b, weight: 1}]}}`), "", "  - {name: b}\n", "forward.target_groups[0].weight: -1 out of range 0..999"},
		{"forward weight missing", act(`{forward: {target_groups: [{name: web}, {name: b, weight: 1}]}}`), "", "  - {name: b}\n", "forward.target_groups[0].weight: weight required"},
		{"forward all zero", act(`{forward: {target_groups: [{name: web, weight: 0}, {name: b, weight: 0}]}}`), "", "  - {name: b}\n", "forward.target_groups: all weights are 0"},
		{"forward 6 groups", act(`{forward: {target_groups: [{name: web, weight: 1}, {name: b, weight: 1}, {name: c, weight: 1}, {name: d, weight: 1}, {name: e, weight: 1}, {name: f, weight: 1}]}}`), "", "  - {name: b}\n  - {name: c}\n  - {name: d}\n  - {name: e}\n  - {name: f}\n", "forward.target_groups: 6 target groups: at most 5"},
		{"forward dup group", act(`{forward: {target_groups: [{name: web, weight: 1}, {name: web, weight: 1}]}}`), "", "", `forward.target_groups[1].name: target group "web" listed twice`},
		{"forward stickiness", act(`{forward: {target_group: web, stickiness: 168h}}`), "", "", ""},
		{"forward stickiness high", act(`{forward: {target_group: web, stickiness: 169h}}`), "", "", "forward.stickiness: 169h out of range 1s..168h"},
		{"redirect ok", act(`{redirect: {protocol: HTTPS, port: "443", path: "/#{path}", status: HTTP_301}}`), "", "", ""},
		{"redirect 302", act(`{redirect: {host: "www.#{host}", status: 302}}`), "", "", ""},
		{"redirect status", act(`{redirect: {protocol: HTTPS, status: 307}}`), "", "", "action.redirect.status: invalid status 307: want 301 or 302"},
		{"redirect status missing", act(`{redirect: {protocol: HTTPS}}`), "", "", "action.redirect.status: status required"},
		{"redirect status word", act(`{redirect: {protocol: HTTPS, status: HTTP_307}}`), "", "", "invalid status 307"},
		{"redirect noop", act(`{redirect: {status: 301}}`), "", "", "action.redirect: redirect changes nothing"},
		{"redirect noop placeholders", act(`{redirect: {protocol: "#{protocol}", host: "#{host}", port: "#{port}", path: "/#{path}", query: "a=1", status: 301}}`), "", "", "redirect changes nothing"},
		{"redirect noop same proto", act(`{redirect: {protocol: HTTP, status: 301}}`), "", "", "redirect changes nothing"},
		{"redirect https to http", "protocol: HTTPS\n" + tls + act(`{redirect: {protocol: HTTP, status: 301}}`), "", "", "action.redirect.protocol: redirect from HTTPS to HTTP is not allowed"},
		{"redirect bad proto", act(`{redirect: {protocol: FTP, status: 301}}`), "", "", `action.redirect.protocol: invalid value "FTP"`},
		{"redirect bad port", act(`{redirect: {port: "0", status: 301}}`), "", "", `action.redirect.port: invalid port "0"`},
		{"redirect path", act(`{redirect: {path: "x", status: 301}}`), "", "", `action.redirect.path: path "x" must start with /`},
		{"redirect query", act(`{redirect: {protocol: HTTPS, query: "?a", status: 301}}`), "", "", "must not start with ?"},
		{"fixed 503", act(`{fixed_response: {status: 503, content_type: application/json, body: "{}"}}`), "", "", ""},
		{"fixed quoted", act(`{fixed_response: {status: "503"}}`), "", "", ""},
		{"fixed word", act(`{fixed_response: {status: ok}}`), "", "", `fixed_response.status: want an integer, got "ok"`},
		{"fixed 302", act(`{fixed_response: {status: 302}}`), "", "", "action.fixed_response.status: invalid status 302: want 2XX, 4XX or 5XX"},
		{"fixed 600", act(`{fixed_response: {status: 600}}`), "", "", "invalid status 600"},
		{"fixed ctype", act(`{fixed_response: {status: 200, content_type: image/png}}`), "", "", `fixed_response.content_type: invalid value "image/png"`},
		{"fixed body 1024", act(`{fixed_response: {status: 200, body: "` + strings.Repeat("x", 1024) + `"}}`), "", "", ""},
		{"fixed body 1025", act(`{fixed_response: {status: 200, body: "` + strings.Repeat("x", 1025) + `"}}`), "", "", "fixed_response.body: 1025 bytes: at most 1024"},
		// target groups
		{"group dup", "", "", "  - {name: web}\n", `target_groups[1].name: duplicate target group name "web"`},
		{"group no name", "", "", "  - {protocol: HTTP}\n", "target_groups[1].name: target group name required"},
		{"group protocol", "", "protocol: UDP\n", "", `target_groups[0].protocol: invalid value "UDP"`},
		{"target host", "", "", "  - {name: b, targets: [\"backend.internal:80\", {address: \"[::1]:81\", weight: 3}]}\n", ""},
		{"target bad", "", "", "  - {name: b, targets: [\"127.0.0.1\"]}\n", `target_groups[1].targets[0]: invalid address "127.0.0.1"`},
		{"target port 0", "", "", "  - {name: b, targets: [\"127.0.0.1:0\"]}\n", "target_groups[1].targets[0]: invalid port in \"127.0.0.1:0\": want 1..65535"},
		{"target dup", "", "", "  - {name: b, targets: [\"127.0.0.1:80\", {address: \"127.0.0.1:80\"}]}\n", "target_groups[1].targets[1]: duplicate target 127.0.0.1:80"},
		{"target weight", "", "", "  - {name: b, targets: [{address: \"127.0.0.1:80\", weight: 1000}]}\n", "target_groups[1].targets[0].weight: 1000 out of range 0..999"},
		{"target unknown key", "", "", "  - {name: b, targets: [{address: \"127.0.0.1:80\", wieght: 1}]}\n", "target_groups[1].targets[0].wieght: unknown key (did you mean weight?)"},
		{"algorithm lor", "", "algorithm: least_outstanding_requests\n", "", ""},
		{"algorithm wr", "", "algorithm: weighted_random\n", "", ""},
		{"algorithm bad http", "", "algorithm: flow_hash\n", "", `target_groups[0].algorithm: invalid value "flow_hash": want one of round_robin, least_outstanding_requests, weighted_random`},
		{"algorithm bad tcp", "", "", "  - {name: t, protocol: TCP, algorithm: round_robin}\n", `target_groups[1].algorithm: invalid value "round_robin": want one of flow_hash, source_ip`},
		{"algorithm source_ip", "", "", "  - {name: t, protocol: TCP, algorithm: source_ip}\n", ""},
		{"dereg 0", "", "deregistration_delay: 0s\n", "", ""},
		{"dereg high", "", "deregistration_delay: 3601s\n", "", "target_groups[0].deregistration_delay: 1h0m1s out of range 0s..1h"},
		{"slow start ok", "", "slow_start: 30s\n", "", ""},
		{"slow start low", "", "slow_start: 29s\n", "", "target_groups[0].slow_start: 29s out of range 30s..15m"},
		{"slow start high", "", "slow_start: 901s\n", "", "out of range 30s..15m"},
		{"slow start lor", "", "slow_start: 60s\nalgorithm: least_outstanding_requests\n", "", "target_groups[0].slow_start: slow start cannot be used with least_outstanding_requests"},
		{"sticky lb", "", "stickiness: {type: lb_cookie, duration: 1s}\n", "", ""},
		{"sticky app", "", "stickiness: {type: app_cookie, cookie_name: SESSION}\n", "", ""},
		{"sticky app no name", "", "stickiness: {type: app_cookie}\n", "", "target_groups[0].stickiness.cookie_name: cookie_name required"},
		{"sticky app reserved", "", "stickiness: {type: app_cookie, cookie_name: AWSALBAPP-1}\n", "", `cookie name "AWSALBAPP-1" is reserved`},
		{"sticky app reserved tg", "", "stickiness: {type: app_cookie, cookie_name: AWSALBTG}\n", "", "is reserved"},
		{"sticky bad type", "", "stickiness: {type: source_ip}\n", "", `target_groups[0].stickiness.type: invalid value "source_ip"`},
		{"sticky tcp", "", "", "  - {name: t, protocol: TCP, stickiness: {type: source_ip}}\n", ""},
		{"sticky tcp cookie", "", "", "  - {name: t, protocol: TCP, stickiness: {type: lb_cookie}}\n", `target_groups[1].stickiness.type: invalid value "lb_cookie": want one of source_ip`},
		{"sticky duration", "", "stickiness: {type: lb_cookie, duration: 169h}\n", "", "stickiness.duration: 169h out of range 1s..168h"},
		{"sticky name lb", "", "stickiness: {type: lb_cookie, cookie_name: X}\n", "", "cookie_name is only for app_cookie"},
		{"hc ok", "", "health_check: {protocol: HTTPS, port: \"8443\", path: /health, interval: 5s, timeout: 2s, healthy_threshold: 10, unhealthy_threshold: 10, matcher: \"200,202,300-499\"}\n", "", ""},
		{"hc tcp on alb", "", "health_check: {protocol: TCP}\n", "", `target_groups[0].health_check.protocol: invalid value "TCP": want one of HTTP, HTTPS`},
		{"hc port", "", "health_check: {port: \"70000\"}\n", "", `health_check.port: invalid port "70000"`},
		{"hc path", "", "health_check: {path: health}\n", "", `health_check.path: path "health" must start with /`},
		{"hc path long", "", "health_check: {path: /" + strings.Repeat("a", 1024) + "}\n", "", "health_check.path: 1025 characters: at most 1024"},
		{"hc interval", "", "health_check: {interval: 301s}\n", "", "health_check.interval: 5m1s out of range 5s..5m"},
		{"hc timeout", "", "health_check: {timeout: 121s, interval: 300s}\n", "", "health_check.timeout: 2m1s out of range 2s..2m"},
		{"hc timeout vs interval", "", "health_check: {timeout: 10s, interval: 10s}\n", "", "health_check.timeout: timeout 10s must be less than the interval 10s"},
		{"hc short interval default timeout", "", "health_check: {interval: 5s}\n", "", ""},
		{"hc thresholds", "", "health_check: {healthy_threshold: 11, unhealthy_threshold: 1}\n", "", "health_check.healthy_threshold: 11 out of range 2..10"},
		{"hc unhealthy", "", "health_check: {unhealthy_threshold: 1}\n", "", "health_check.unhealthy_threshold: 1 out of range 2..10"},
		{"hc matcher alb 500", "", "health_check: {matcher: \"200-500\"}\n", "", `health_check.matcher: invalid matcher "200-500": codes must be in 200..499`},
		{"hc matcher bad", "", "health_check: {matcher: \"ok\"}\n", "", `invalid matcher "ok"`},
		{"hc nlb", "", "", "  - {name: t, protocol: TCP, health_check: {protocol: HTTP, matcher: \"200-599\", interval: 10s}}\n", ""},
		{"hc nlb tcp path", "", "", "  - {name: t, protocol: TCP, health_check: {protocol: TCP, path: /x}}\n", "target_groups[1].health_check.path: only for HTTP and HTTPS health checks"},
		{"hc nlb equal", "", "", "  - {name: t, protocol: TCP, health_check: {interval: 10s, timeout: 10s}}\n", ""},
		{"hc nlb over", "", "", "  - {name: t, protocol: TCP, health_check: {interval: 10s, timeout: 11s}}\n", "timeout 11s must not exceed the interval 10s"},
		{"pp2 any group", "", "proxy_protocol_v2: true\n", "", ""},
		{"pp2 endpoint", "", "proxy_protocol_endpoint_id: vpce-1\n", "", "proxy_protocol_endpoint_id: needs proxy_protocol_v2: true"},
		{"conn termination http", "", "connection_termination: true\n", "", "target_groups[0].connection_termination: only for TCP and TLS groups"},
		{"conn termination tcp", "", "", "  - {name: t, protocol: TCP, connection_termination: true}\n", ""},
		{"unused group", "", "", "  - {name: spare}\n", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := lbYAML(tc.listener, tc.group, tc.top)
			_, err := ParseLB("testdata/case.yaml", []byte(src))
			checkErr(t, src, err, tc.want)
		})
	}
}

func TestLBTopLevel(t *testing.T) {
	cases := []struct{ name, src, want string }{
		{"no listeners", "target_groups: []\n", "listeners: at least one listener is required"},
		{"admin bad", "admin: {address: nope}\n" + lbYAML("", "", ""), `admin.address: invalid address "nope"`},
		{"admin off", "admin: {address: \"\"}\n" + lbYAML("", "", ""), ""},
		{"shutdown", "shutdown_timeout: 2h\n" + lbYAML("", "", ""), "shutdown_timeout: 2h out of range 1s..1h"},
		{"cookie secret short", "cookie_secret: hunter2\n" + lbYAML("", "", ""), "cookie_secret: 7 characters: want at least 16"},
		{"cookie secret", "cookie_secret: 0123456789abcdef\n" + lbYAML("", "", ""), ""},
		{"log format", "access_log: {path: stdout, format: cloudfront}\n" + lbYAML("", "", ""), `access_log.format: invalid value "cloudfront": want one of alb, json`},
		{"name missing", "listeners:\n  - {address: \"127.0.0.1:0\", default_action: {fixed_response: {status: 200}}}\n", "listeners[0].name: listener name required"},
		{"name dup", "listeners:\n  - {name: a, address: \"127.0.0.1:0\", default_action: {fixed_response: {status: 200}}}\n  - {name: a, address: \"127.0.0.1:0\", default_action: {fixed_response: {status: 200}}}\n", `listeners[1].name: duplicate listener name "a" (first at listeners[0])`},
		{"address dup", "listeners:\n  - {name: a, address: \"127.0.0.1:8080\", default_action: {fixed_response: {status: 200}}}\n  - {name: b, address: \"127.0.0.1:8080\", default_action: {fixed_response: {status: 200}}}\n", "listeners[1].address: address 127.0.0.1:8080 already used by listeners[0].address"},
		{"address bad", "listeners:\n  - {name: a, address: localhost, default_action: {fixed_response: {status: 200}}}\n", `listeners[0].address: invalid address "localhost"`},
		{"address port", "listeners:\n  - {name: a, address: \"127.0.0.1:70000\", default_action: {fixed_response: {status: 200}}}\n", "listeners[0].address: invalid port"},
		{"address host", "listeners:\n  - {name: a, address: \"lb.internal:8080\", default_action: {fixed_response: {status: 200}}}\n", ""},
		{"address missing", "listeners:\n  - {name: a, default_action: {fixed_response: {status: 200}}}\n", "listeners[0].address: address required"},
		{"default action missing", "listeners:\n  - {name: a, address: \"127.0.0.1:0\"}\n", "listeners[0].default_action: an action is required"},
		{"tcp default redirect", "listeners:\n  - {name: a, protocol: TCP, address: \"127.0.0.1:0\", default_action: {fixed_response: {status: 200}}}\n", "listeners[0].default_action: TCP listeners only forward"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseLB("testdata/case.yaml", []byte(tc.src))
			checkErr(t, tc.src, err, tc.want)
		})
	}
}
