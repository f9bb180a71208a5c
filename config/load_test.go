package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func mustLB(t *testing.T, src string) *LB {
	t.Helper()
	c, err := ParseLB("testdata/inline.yaml", []byte(src))
	if err != nil {
		t.Fatalf("ParseLB:\n%v", err)
	}
	return c
}

func mustEdge(t *testing.T, src string) *Edge {
	t.Helper()
	c, err := ParseEdge("testdata/inline.yaml", []byte(src))
	if err != nil {
		t.Fatalf("ParseEdge:\n%v", err)
	}
	return c
}

func TestDefaultsLB(t *testing.T) {
	c := mustLB(t, `
listeners:
  - {name: web, address: "127.0.0.1:0", default_action: {forward: {target_group: web}}}
  - {name: tls, protocol: HTTPS, address: "127.0.0.1:0", certificates: [{cert: spec/c.pem, key: spec/k.pem}], default_action: {forward: {target_group: web}}}
  - {name: tcp, protocol: TCP, address: "127.0.0.1:0", proxy_protocol: {trusted: [127.0.0.0/8]}, default_action: {forward: {target_group: db}}}
  - {name: tlsnlb, protocol: TLS, address: "127.0.0.1:0", certificates: [{cert: spec/c.pem, key: spec/k.pem}], default_action: {forward: {target_group: db}}}
target_groups:
  - {name: web, targets: ["127.0.0.1:9001"], stickiness: {type: lb_cookie}}
  - {name: db, protocol: TCP, targets: ["127.0.0.1:9002"], stickiness: {}}
  - {name: dbhttp, protocol: TLS, health_check: {protocol: HTTP}}
  - {name: short, health_check: {interval: 5s}}
`)
	eq := func(name string, got, want any) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	eq("admin.address", c.Admin.Address, "127.0.0.1:9901")
	eq("shutdown_timeout", c.ShutdownTimeout.D(), 30*time.Second)
	eq("access_log.format", c.AccessLog.Format, "alb")
	eq("access_log.path", c.AccessLog.Path, "")
	web, https, tcp, tlsL := c.Listeners[0], c.Listeners[1], c.Listeners[2], c.Listeners[3]
	eq("web.protocol", web.Protocol, "HTTP")
	eq("web.idle_timeout", web.IdleTimeout.D(), 60*time.Second)
	eq("web.xff", web.XFF, "append")
	eq("web.xff_client_port", web.XFFClientPort, false)
	eq("web.desync", web.DesyncMitigation, "defensive")
	eq("web.ssl_policy", web.SSLPolicy, "")
	eq("https.ssl_policy", https.SSLPolicy, "ELBSecurityPolicy-TLS13-1-2-2021-06")
	eq("https.idle_timeout", https.IdleTimeout.D(), 60*time.Second)
	eq("tcp.idle_timeout", tcp.IdleTimeout.D(), 350*time.Second)
	eq("tcp.xff", tcp.XFF, "")
	eq("tcp.header_timeout", tcp.ProxyProtocol.HeaderTimeout.D(), 5*time.Second)
	eq("tls.idle_timeout", tlsL.IdleTimeout.D(), 350*time.Second)
	eq("tls.ssl_policy", tlsL.SSLPolicy, DefaultSSLPolicy)
	eq("tls.alpn_policy", tlsL.ALPNPolicy, "None")

	g, db, dbhttp, short := c.TargetGroups[0], c.TargetGroups[1], c.TargetGroups[2], c.TargetGroups[3]
	eq("web.protocol", g.Protocol, "HTTP")
	eq("web.algorithm", g.Algorithm, "round_robin")
	eq("web.deregistration_delay", g.DeregistrationDelay.D(), 300*time.Second)
	eq("web.slow_start", g.SlowStart.D(), time.Duration(0))
	eq("web.stickiness.duration", g.Stickiness.Duration.D(), 24*time.Hour)
	h := g.HealthCheck
	eq("web.hc.protocol", h.Protocol, "HTTP")
	eq("web.hc.port", h.Port, "traffic-port")
	eq("web.hc.path", h.Path, "/")
	eq("web.hc.interval", h.Interval.D(), 30*time.Second)
	eq("web.hc.timeout", h.Timeout.D(), 5*time.Second)
	eq("web.hc.healthy", h.HealthyThreshold, 5)
	eq("web.hc.unhealthy", h.UnhealthyThreshold, 2)
	eq("web.hc.matcher", h.Matcher, "200")
	eq("db.algorithm", db.Algorithm, "flow_hash")
	eq("db.stickiness.type", db.Stickiness.Type, "source_ip")
	eq("db.hc.protocol", db.HealthCheck.Protocol, "TCP")
	eq("db.hc.path", db.HealthCheck.Path, "")
	eq("db.hc.timeout", db.HealthCheck.Timeout.D(), 10*time.Second)
	eq("db.hc.interval", db.HealthCheck.Interval.D(), 30*time.Second)
	eq("db.hc.matcher", db.HealthCheck.Matcher, "200-399")
	eq("dbhttp.hc.timeout", dbhttp.HealthCheck.Timeout.D(), 6*time.Second)
	eq("dbhttp.hc.path", dbhttp.HealthCheck.Path, "/")
	eq("short.hc.timeout", short.HealthCheck.Timeout.D(), 4*time.Second)
}

func TestAdminAddressOff(t *testing.T) {
	c := mustLB(t, "admin: {address: \"\"}\n"+lbYAML("", "", ""))
	if c.Admin.Address != "" {
		t.Fatalf("admin.address = %q, want off", c.Admin.Address)
	}
	e := mustEdge(t, edgeYAML("", "", ""))
	if e.Admin.Address != "127.0.0.1:9902" {
		t.Fatalf("edge admin.address = %q", e.Admin.Address)
	}
}

func TestDefaultsEdge(t *testing.T) {
	c := mustEdge(t, edgeYAML("", "custom_error_responses: [{error_code: 404}]\ncache_behaviors: [{path_pattern: /a, target_origin: app, min_ttl: 48h}]\n", ""))
	eq := func(name string, got, want any) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	eq("shutdown_timeout", c.ShutdownTimeout.D(), 30*time.Second)
	eq("access_log.format", c.AccessLog.Format, "cloudfront")
	eq("listener.idle_timeout", c.Listeners[0].IdleTimeout.D(), 60*time.Second)
	eq("cache.max_size", c.Cache.MaxSize, Size(1<<30))
	eq("cache.max_object_size", c.Cache.MaxObjectSize, Size(64<<20))
	eq("geo.database", c.Geo.Database, "")
	d := c.Distributions[0]
	o := d.Origins[0]
	eq("connect_timeout", o.ConnectTimeout.D(), 10*time.Second)
	eq("response_timeout", o.ResponseTimeout.D(), 30*time.Second)
	eq("keepalive_timeout", o.KeepaliveTimeout.D(), 5*time.Second)
	b := d.DefaultCacheBehavior
	eq("viewer_protocol_policy", b.ViewerProtocolPolicy, "allow-all")
	eq("allowed_methods", strings.Join(b.AllowedMethods, ","), "GET,HEAD")
	eq("cached_methods", strings.Join(b.CachedMethods, ","), "GET,HEAD")
	eq("min_ttl", b.MinTTL.D(), time.Duration(0))
	eq("default_ttl", b.DefaultTTL.D(), 24*time.Hour)
	eq("max_ttl", b.MaxTTL.D(), 8760*time.Hour)
	eq("compress", b.Compress, false)
	for _, l := range []NameList{b.CacheKey.Headers, b.CacheKey.Cookies, b.CacheKey.QueryStrings, b.OriginRequest.Headers, b.OriginRequest.Cookies, b.OriginRequest.QueryStrings} {
		eq("name list mode", l.Mode, "none")
	}
	eq("geo.type", d.GeoRestriction.Type, "none")
	eq("geo.unknown", d.GeoRestriction.Unknown, "allow")
	eq("error_caching_min_ttl", d.CustomErrorResponses[0].ErrorCachingMinTTL.D(), 10*time.Second)
	// CloudFront raises an unset default TTL to a min TTL above a day.
	eq("raised default_ttl", d.CacheBehaviors[0].DefaultTTL.D(), 48*time.Hour)
}

func TestErrorPositions(t *testing.T) {
	_, err := LoadLB("testdata/lb_unknown_keys.yaml")
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("want Errors, got %v", err)
	}
	want := []FieldError{
		{File: "testdata/lb_unknown_keys.yaml", Line: 2, Col: 1, Path: "admn"},
		// the missing address is reported at the listener mapping
		{File: "testdata/lb_unknown_keys.yaml", Line: 4, Col: 5, Path: "listeners[0].address"},
		{File: "testdata/lb_unknown_keys.yaml", Line: 20, Col: 46, Path: "target_groups[0].targets[1].zone"},
	}
	for _, w := range want {
		found := false
		for _, e := range es {
			if e.File == w.File && e.Line == w.Line && e.Col == w.Col && e.Path == w.Path {
				found = true
			}
		}
		if !found {
			t.Errorf("no error %s:%d:%d at %s in\n%v", w.File, w.Line, w.Col, w.Path, err)
		}
	}
	for i := 1; i < len(es); i++ {
		if es[i].Line < es[i-1].Line || es[i].Line == es[i-1].Line && es[i].Col < es[i-1].Col {
			t.Errorf("errors not sorted by position: %v before %v", es[i-1], es[i])
		}
	}
	if lines := strings.Split(err.Error(), "\n"); len(lines) != len(es) {
		t.Errorf("Error() has %d lines for %d errors", len(lines), len(es))
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := LoadLB("testdata/does-not-exist.yaml")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("want fs.ErrNotExist, got %v", err)
	}
	var es Errors
	if errors.As(err, &es) {
		t.Fatalf("an unreadable file is not a config error: %v", err)
	}
	if _, err := ParseLB("empty.yaml", nil); err == nil || !strings.Contains(err.Error(), "empty.yaml:1:1: empty config") {
		t.Fatalf("empty file: %v", err)
	}
}

func TestRelativePathsResolved(t *testing.T) {
	c, err := LoadLB("testdata/spec/lb.yaml")
	if err != nil {
		t.Fatal(err)
	}
	abs := func(rel string) string {
		t.Helper()
		p, err := filepath.Abs(rel)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	l := c.Listeners[1]
	if got, want := l.Certificates[0].Cert, abs("testdata/spec/certs/a.pem"); got != want {
		t.Errorf("cert = %q, want %q", got, want)
	}
	if got, want := l.ACME.CARoots, abs("testdata/spec/certs/pebble-root.pem"); got != want {
		t.Errorf("ca_roots = %q, want %q", got, want)
	}
	if got := l.ACME.CacheDir; got != "/var/lib/lb/acme" {
		t.Errorf("absolute cache_dir changed: %q", got)
	}
	if _, err := os.Stat(l.Certificates[0].Key); err != nil {
		t.Errorf("resolved key path does not open: %v", err)
	}
	if c.AccessLog.Path != "stdout" {
		t.Errorf("access_log.path = %q, want stdout untouched", c.AccessLog.Path)
	}
	e, err := LoadEdge("testdata/spec/edge.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := e.KeyGroups[0].Keys[0].PublicKey, abs("testdata/spec/keys/public.pem"); got != want {
		t.Errorf("public_key = %q, want %q", got, want)
	}
	if got, want := e.Geo.Database, ""; got != want {
		t.Errorf("geo.database = %q, want the embedded default %q", got, want)
	}
	// The same file named another way loads to the same config and hash.
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	c2, err := LoadLB(filepath.Join(wd, "testdata", "..", "testdata", "spec", "lb.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if Hash(c) != Hash(c2) {
		t.Errorf("hash depends on how the config path is spelled: %s vs %s", Hash(c), Hash(c2))
	}
}

func TestHash(t *testing.T) {
	a := mustLB(t, lbYAML("xff: append\n", "", ""))
	// Same settings: reordered keys, flow style, defaults written out, comments.
	b := mustLB(t, `# comment
target_groups: [{targets: ["127.0.0.1:9001"], name: web, algorithm: round_robin}]
listeners:
  - {default_action: {forward: {target_group: web}}, address: "127.0.0.1:0", name: web, idle_timeout: 1m}
`)
	if Hash(a) != Hash(b) {
		t.Errorf("equal configs hash differently: %s vs %s", Hash(a), Hash(b))
	}
	if h := Hash(a); len(h) != 16 || strings.Trim(h, "0123456789abcdef") != "" {
		t.Errorf("hash %q is not 16 hex digits", h)
	}
	for _, changed := range []string{
		lbYAML("xff: remove\n", "", ""),
		lbYAML("", "algorithm: weighted_random\n", ""),
		"admin: {token: secret}\n" + lbYAML("", "", ""),
	} {
		if c := mustLB(t, changed); Hash(c) == Hash(a) {
			t.Errorf("changed config keeps hash %s:\n%s", Hash(a), changed)
		}
	}
	t1 := mustLB(t, "admin: {token: one}\n"+lbYAML("", "", ""))
	t2 := mustLB(t, "admin: {token: two}\n"+lbYAML("", "", ""))
	if Hash(t1) == Hash(t2) {
		t.Error("a token change does not change the hash")
	}
	// JSON and YAML of the same settings hash the same.
	j, err := LoadLB("testdata/lb_json.json")
	if err != nil {
		t.Fatal(err)
	}
	y := mustLB(t, `admin: {address: "127.0.0.1:0", token: t0ken}
listeners:
  - name: web
    address: 127.0.0.1:0
    rules: [{priority: 1, conditions: {path: [/ping]}, action: {fixed_response: {status: 200, body: pong}}}]
    default_action: {forward: {target_group: web}}
target_groups: [{name: web, targets: ["127.0.0.1:9001", {address: "127.0.0.1:9002", weight: 2}]}]
`)
	if Hash(j) != Hash(y) {
		t.Errorf("JSON and YAML differ: %s vs %s", Hash(j), Hash(y))
	}
}

func TestSecretsRedacted(t *testing.T) {
	c, err := LoadEdge("testdata/spec/edge.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c.Admin.Token = "adm1n-t0ken"
	out, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"s3cr3t", "adm1n-t0ken"} {
		if bytes.Contains(out, []byte(s)) {
			t.Errorf("JSON rendering leaks %q", s)
		}
	}
	if !bytes.Contains(out, []byte(`"X-Origin-Verify":"[redacted]"`)) {
		t.Errorf("custom header not shown redacted: %s", out)
	}
	if got := c.Distributions[0].Origins[0].CustomHeaders["X-Origin-Verify"].Reveal(); got != "s3cr3t" {
		t.Errorf("Reveal = %q", got)
	}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "token", c.Admin.Token)
	if strings.Contains(logs.String(), "adm1n") || !strings.Contains(logs.String(), "[redacted]") {
		t.Errorf("slog leaks the token: %s", logs.String())
	}
}

func TestSummary(t *testing.T) {
	c, err := LoadLB("testdata/spec/lb.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := "testdata/spec/lb.yaml: ok: 3 listeners, 3 rules, 4 target groups, 5 targets; hash " + Hash(c)
	if got := SummaryLB("testdata/spec/lb.yaml", c); got != want {
		t.Errorf("SummaryLB = %q, want %q", got, want)
	}
	e, err := LoadEdge("testdata/spec/edge.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want = "edge.yaml: ok: 2 listeners, 1 distribution, 2 origins, 2 cache behaviors; hash " + Hash(e)
	if got := SummaryEdge("edge.yaml", e); got != want {
		t.Errorf("SummaryEdge = %q, want %q", got, want)
	}
}

// Target and NameList decoded by yaml.v3 directly refuse unknown keys too.
func TestDirectUnmarshalStrict(t *testing.T) {
	var ts []Target
	if err := yaml.Unmarshal([]byte(`["127.0.0.1:1", {address: "127.0.0.1:2", weight: 3}]`), &ts); err != nil {
		t.Fatal(err)
	}
	if len(ts) != 2 || ts[1].Address != "127.0.0.1:2" || ts[1].Weight != 3 {
		t.Fatalf("targets = %+v", ts)
	}
	if err := yaml.Unmarshal([]byte(`[{address: "127.0.0.1:2", zone: a}]`), &ts); err == nil || !strings.Contains(err.Error(), "unknown key") {
		t.Fatalf("unknown key in target: %v", err)
	}
	var l NameList
	if err := yaml.Unmarshal([]byte(`[a, b]`), &l); err != nil || l.Mode != "list" || len(l.Names) != 2 {
		t.Fatalf("name list = %+v, %v", l, err)
	}
	if err := yaml.Unmarshal([]byte(`[{a: 1}]`), &l); err == nil {
		t.Fatal("a mapping inside a name list was accepted")
	}
}

func TestMergeKeyUnknown(t *testing.T) {
	src := `x-hc: &hc {protocol: HTTP, intervl: 10s}
listeners: [{name: web, address: "127.0.0.1:0", default_action: {forward: {target_group: web}}}]
target_groups: [{name: web, health_check: {<<: *hc}}]
`
	_, err := ParseLB("m.yaml", []byte(src))
	checkErr(t, src, err, "target_groups[0].health_check.intervl: unknown key")
	if !strings.Contains(err.Error(), "m.yaml:1:28:") {
		t.Errorf("merged key not reported where it is written: %v", err)
	}
}
