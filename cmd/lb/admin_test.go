package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// adminConfig is a config with a token, one listener and two groups.
func adminConfig(web1, web2, api string) string {
	return fmt.Sprintf(`admin: {address: "127.0.0.1:0", token: s3cret}
shutdown_timeout: 5s
access_log: {path: stdout, format: json}
listeners:
  - name: web
    protocol: HTTP
    address: "127.0.0.1:0"
    rules:
      - priority: 10
        conditions: {path: ["/api/*"]}
        action: {forward: {target_group: api}}
    default_action: {forward: {target_group: web}}
target_groups:
  - name: web
    protocol: HTTP
    targets: [%q, %q]
    deregistration_delay: 1s
    health_check: {path: /health, interval: 5s, timeout: 2s, healthy_threshold: 2}
  - name: api
    protocol: HTTP
    targets: [%q]
    health_check: {path: /health, interval: 5s, timeout: 2s, healthy_threshold: 2}
`, web1, web2, api)
}

func TestAdminAPI(t *testing.T) {
	b1, b2, b3 := startBackend(t, "web-1"), startBackend(t, "web-2"), startBackend(t, "api-1")
	dir := t.TempDir()
	path := writeFile(t, dir, "lb.yaml", adminConfig(b1.addr, b2.addr, b3.addr))
	r := startInProcess(t, "-config", path)
	admin := "http://" + r.app.adminAddr()
	web := "http://" + r.listener("web")
	c := newClient()
	auth := []string{"Authorization", "Bearer s3cret"}

	// Probes are open; everything else needs the token.
	if code, _, _ := get(t, c, admin+"/healthz"); code != 200 {
		t.Errorf("/healthz %d", code)
	}
	if code, _, _ := get(t, c, admin+"/readyz"); code != 200 {
		t.Errorf("/readyz %d", code)
	}
	for _, p := range []string{"/", "/metrics", "/api/v1/config", "/api/v1/target-groups"} {
		code, body, _ := get(t, c, admin+p)
		if code != 401 || !strings.Contains(body, `"error"`) {
			t.Errorf("%s without token: %d %s", p, code, body)
		}
		if code, _, _ := get(t, c, admin+p, "Authorization", "Bearer wrong"); code != 401 {
			t.Errorf("%s with a wrong token: %d", p, code)
		}
	}

	// GET /api/v1/target-groups: the exact shape of SPEC §4.
	code, body, _ := get(t, c, admin+"/api/v1/target-groups", auth...)
	if code != 200 {
		t.Fatalf("target-groups %d %s", code, body)
	}
	var raw []map[string]any
	if err := json.Unmarshal([]byte(body), &raw); err != nil {
		t.Fatal(err)
	}
	if len(raw) != 2 || raw[0]["name"] != "web" || raw[0]["protocol"] != "HTTP" || raw[1]["name"] != "api" {
		t.Fatalf("groups: %s", body)
	}
	targets := raw[0]["targets"].([]any)
	if len(targets) != 2 {
		t.Fatalf("web targets: %v", targets)
	}
	tgt := targets[0].(map[string]any)
	if len(tgt) != 4 || tgt["id"] != b1.addr || tgt["in_flight"] != 0.0 {
		t.Errorf("target shape: %v", tgt)
	}
	if s := tgt["state"]; s != "initial" && s != "healthy" {
		t.Errorf("state %v", s)
	}
	if _, ok := tgt["reason"].(string); !ok {
		t.Errorf("reason is not a string: %v", tgt)
	}

	// GET /api/v1/config: the running config with the token redacted, and the hash.
	code, body, _ = get(t, c, admin+"/api/v1/config", auth...)
	if code != 200 || strings.Contains(body, "s3cret") || !strings.Contains(body, `"token": "[redacted]"`) {
		t.Errorf("config: %d, token not redacted:\n%s", code, body)
	}
	var cv struct {
		Hash   string
		Config struct{ Listeners []struct{ Name string } }
	}
	if json.Unmarshal([]byte(body), &cv) != nil || cv.Hash != r.app.snapshot().hash || len(cv.Config.Listeners) != 1 {
		t.Errorf("config view: %+v", cv)
	}

	// Register a third target: it starts initial and takes traffic once
	// routable; the response is the group.
	b4 := startBackend(t, "web-3")
	code, body = do(t, c, "POST", admin+"/api/v1/target-groups/web/register", `{"targets":["`+b4.addr+`"]}`, auth...)
	if code != 200 || !strings.Contains(body, b4.addr) {
		t.Fatalf("register: %d %s", code, body)
	}
	if g := r.app.reg.Lookup("web"); g == nil || g.Lookup(b4.addr) == nil {
		t.Fatal("registered target not in the registry")
	}
	eventually(t, 15*time.Second, "the registered target to answer", func() bool {
		get(t, c, web+"/x")
		return b4.hits.Load() > 0
	})

	// Deregister it: draining at once, gone after the 1 s delay.
	code, body = do(t, c, "POST", admin+"/api/v1/target-groups/web/deregister", `{"targets":["`+b4.addr+`"]}`, auth...)
	if code != 200 || !regexp.MustCompile(`"id": "`+regexp.QuoteMeta(b4.addr)+`",\s+"state": "draining",\s+"reason": "Target.DeregistrationInProgress"`).MatchString(body) {
		t.Fatalf("deregister: %d %s", code, body)
	}
	before := b4.hits.Load()
	for range 6 {
		get(t, c, web+"/x")
	}
	if b4.hits.Load() != before {
		t.Error("a draining target got new requests")
	}
	eventually(t, 10*time.Second, "the drained target to leave", func() bool {
		_, body, _ := get(t, c, admin+"/api/v1/target-groups", auth...)
		return !strings.Contains(body, b4.addr)
	})

	// Errors: 404 unknown group, 400 bad bodies, 405 wrong method, 404 path.
	for _, e := range []struct {
		method, path, body string
		code               int
	}{
		{"POST", "/api/v1/target-groups/nope/register", `{"targets":["127.0.0.1:1"]}`, 404},
		{"POST", "/api/v1/target-groups/web/register", `{"targets":`, 400},
		{"POST", "/api/v1/target-groups/web/register", `{"targets":[]}`, 400},
		{"POST", "/api/v1/target-groups/web/register", `{"targets":["no-port"]}`, 400},
		{"POST", "/api/v1/target-groups/web/register", `{"targets":["127.0.0.1:99999"]}`, 400},
		{"POST", "/api/v1/target-groups/web/register", `{"targets":["127.0.0.1:1"],"extra":1}`, 400},
		{"POST", "/api/v1/target-groups/web/deregister", `{"targets":["127.0.0.1:1"]}`, 400},
		{"GET", "/api/v1/target-groups/web/register", ``, 405},
		{"DELETE", "/api/v1/target-groups", ``, 405},
		{"POST", "/api/v1/config", `{}`, 405},
		{"GET", "/api/v1/nothing", ``, 404},
	} {
		code, body := do(t, c, e.method, admin+e.path, e.body, auth...)
		var eb map[string]string
		if code != e.code || json.Unmarshal([]byte(body), &eb) != nil || eb["error"] == "" {
			t.Errorf("%s %s %s: %d %s, want %d with a JSON error", e.method, e.path, e.body, code, body, e.code)
		}
	}
	if g := r.app.reg.Lookup("web"); g.Lookup("127.0.0.1:1") != nil {
		t.Error("a rejected call changed the registry")
	}

	// While the process drains, target changes conflict.
	r.app.health.SetDraining()
	if code, body := do(t, c, "POST", admin+"/api/v1/target-groups/web/register", `{"targets":["127.0.0.1:2"]}`, auth...); code != 409 {
		t.Errorf("register while draining: %d %s, want 409", code, body)
	}
	if code, _, _ := get(t, c, admin+"/readyz"); code != 503 {
		t.Errorf("readyz while draining: %d", code)
	}

	// The status page, opened once with ?token=, sets the cookie.
	code, _, hdr := get(t, c, admin+"/?token=s3cret")
	if code != http.StatusSeeOther || !strings.Contains(hdr.Get("Set-Cookie"), "HttpOnly") || !strings.Contains(hdr.Get("Set-Cookie"), "SameSite=Strict") {
		t.Fatalf("?token=: %d %v", code, hdr)
	}
	cookie := strings.SplitN(hdr.Get("Set-Cookie"), ";", 2)[0]
	code, body, hdr = get(t, c, admin+"/", "Cookie", cookie)
	if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") ||
		!strings.Contains(body, b1.addr) || !strings.Contains(body, "path=/api/*") || !strings.Contains(body, "forward api") {
		t.Errorf("status page: %d\n%s", code, body)
	}
}

var metricLine = regexp.MustCompile(`(?m)^(lb_[a-z_]+(?:\{[^}]*\})?) ([0-9.e+-]+)$`)

func scrapeMetrics(t *testing.T, c *http.Client, admin string, hdr ...string) map[string]float64 {
	t.Helper()
	code, body, _ := get(t, c, admin+"/metrics", hdr...)
	if code != 200 {
		t.Fatalf("metrics %d", code)
	}
	out := map[string]float64{}
	for _, m := range metricLine.FindAllStringSubmatch(body, -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		out[m[1]] = v
	}
	return out
}

func TestMetricsMove(t *testing.T) {
	b1, b2, b3 := startBackend(t, "web-1"), startBackend(t, "web-2"), startBackend(t, "api-1")
	path := writeFile(t, t.TempDir(), "lb.yaml", adminConfig(b1.addr, b2.addr, b3.addr))
	r := startInProcess(t, "-config", path)
	admin := "http://" + r.app.adminAddr()
	web := "http://" + r.listener("web")
	c := newClient()
	auth := []string{"Authorization", "Bearer s3cret"}

	before := scrapeMetrics(t, c, admin, auth...)
	for range 5 {
		if code, _, _ := get(t, c, web+"/x"); code != 200 {
			t.Fatalf("status %d", code)
		}
	}
	for range 3 {
		get(t, c, web+"/api/y")
	}
	var after map[string]float64
	eventually(t, 5*time.Second, "request counters", func() bool {
		after = scrapeMetrics(t, c, admin, auth...)
		return after[`lb_requests_total{code_class="2xx",listener="web",target_group="web"}`] == 5
	})
	if got := after[`lb_requests_total{code_class="2xx",listener="web",target_group="api"}`]; got != 3 {
		t.Errorf("api 2xx = %v, want 3", got)
	}
	if got := after[`lb_target_response_time_seconds_count{listener="web",target_group="web"}`]; got != 5 {
		t.Errorf("target response time count = %v, want 5", got)
	}
	if after[`lb_connections_total{listener="web"}`] < 1 {
		t.Error("connections_total did not move")
	}
	if _, ok := after[`lb_active_connections{listener="web"}`]; !ok {
		t.Error("active_connections missing")
	}
	if after[`lb_config_reloads_total{result="success"}`] != 1 || after[`lb_config_last_reload_success_timestamp_seconds`] <= 0 {
		t.Errorf("initial load not counted: %v", after)
	}
	if got := after[`lb_fixed_responses_total{listener="web"}`]; got != 0 {
		t.Errorf("fixed responses %v, want 0", got)
	}
	if _, ok := after[`lb_elb_errors_total{code_class="5xx",listener="web"}`]; !ok {
		t.Error("lb_elb_errors_total missing")
	}
	if _, ok := after[`lb_active_requests{listener="web"}`]; !ok {
		t.Error("lb_active_requests missing")
	}
	if before[`lb_requests_total{code_class="2xx",listener="web",target_group="web"}`] != 0 {
		t.Error("counter did not start at 0")
	}
	eventually(t, 15*time.Second, "healthy target gauges", func() bool {
		m := scrapeMetrics(t, c, admin, auth...)
		return m[`lb_healthy_targets{target_group="web"}`] == 2 && m[`lb_healthy_targets{target_group="api"}`] == 1
	})
}
