package obs

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/runtime"
)

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("metrics: status %d", rec.Code)
	}
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

func wantLine(t *testing.T, text, line string) {
	t.Helper()
	for _, l := range strings.Split(text, "\n") {
		if l == line {
			return
		}
	}
	t.Errorf("metrics lack %q", line)
}

func TestMetricsRouteAndListener(t *testing.T) {
	m := NewMetrics("lb")
	r := m.Route("web", "api")
	r.Observe(200, 3*time.Millisecond)
	r.Observe(204, 30*time.Millisecond)
	r.Observe(503, -1)
	r.Observe(999, -1)
	fixed := m.Route("web", "")
	fixed.Observe(301, -1)
	var none *RouteMetrics
	none.Observe(200, time.Second) // nil is a no-op

	l := m.Listener("web")
	l.ConnOpened()
	l.ConnOpened()
	l.ConnClosed()
	m.Reloaded(true, time.Unix(1700000000, 0))
	m.Reloaded(false, time.Time{})
	m.Panics.Inc()
	m.AccessLogDrops.Inc()
	fm := m.Flows("stream", "db")
	fm.Observe(100, 2000, "")
	fm.Observe(10, 0, "target_connect_error")

	text := scrape(t, m)
	wantLine(t, text, `lb_requests_total{code_class="2xx",listener="web",target_group="api"} 2`)
	wantLine(t, text, `lb_requests_total{code_class="5xx",listener="web",target_group="api"} 1`)
	wantLine(t, text, `lb_requests_total{code_class="other",listener="web",target_group="api"} 1`)
	wantLine(t, text, `lb_requests_total{code_class="3xx",listener="web",target_group="-"} 1`)
	wantLine(t, text, `lb_target_response_time_seconds_count{listener="web",target_group="api"} 2`)
	wantLine(t, text, `lb_target_response_time_seconds_bucket{listener="web",target_group="api",le="0.005"} 1`)
	wantLine(t, text, `lb_active_connections{listener="web"} 1`)
	wantLine(t, text, `lb_connections_total{listener="web"} 2`)
	wantLine(t, text, `lb_config_reloads_total{result="success"} 1`)
	wantLine(t, text, `lb_config_reloads_total{result="failure"} 1`)
	wantLine(t, text, `lb_config_last_reload_success_timestamp_seconds 1.7e+09`)
	wantLine(t, text, `lb_panics_recovered_total 1`)
	wantLine(t, text, `lb_access_log_dropped_total 1`)
	wantLine(t, text, `lb_flows_total{listener="stream",result="ok",target_group="db"} 1`)
	wantLine(t, text, `lb_flows_total{listener="stream",result="target_connect_error",target_group="db"} 1`)
	wantLine(t, text, `lb_flow_bytes_total{direction="in",listener="stream"} 110`)
	wantLine(t, text, `lb_flow_bytes_total{direction="out",listener="stream"} 2000`)
	if !strings.Contains(text, "go_goroutines") {
		t.Error("Go runtime collector missing")
	}
}

func TestMetricsObserveAllocs(t *testing.T) {
	m := NewMetrics("lb")
	r := m.Route("web", "api")
	l := m.Listener("web")
	if n := testing.AllocsPerRun(1000, func() {
		l.ConnOpened()
		r.Observe(200, 2*time.Millisecond)
		l.ConnClosed()
	}); n != 0 {
		t.Errorf("per-request metrics allocate %v times", n)
	}
}

func TestMetricsTargetHealth(t *testing.T) {
	reg := runtime.NewRegistry(nil)
	g := reg.Group("web")
	added := g.Register([]runtime.TargetSpec{{Addr: "127.0.0.1:1"}, {Addr: "127.0.0.1:2"}, {Addr: "127.0.0.1:3"}})
	added[0].SetHealth(true, "")
	added[1].SetHealth(true, "")
	added[2].SetHealth(false, runtime.ReasonTimeout)
	m := NewMetrics("lb")
	m.WatchTargets("lb", reg)
	text := scrape(t, m)
	wantLine(t, text, `lb_healthy_targets{target_group="web"} 2`)
	wantLine(t, text, `lb_unhealthy_targets{target_group="web"} 1`)
	wantLine(t, text, `lb_targets{state="initial",target_group="web"} 0`)

	// The gauges read the registry at scrape time: a change shows at once.
	added[1].SetHealth(false, runtime.ReasonTimeout)
	text = scrape(t, m)
	wantLine(t, text, `lb_healthy_targets{target_group="web"} 1`)
	wantLine(t, text, `lb_unhealthy_targets{target_group="web"} 2`)
}

func TestStatusClass(t *testing.T) {
	for s, want := range map[int]string{200: "2xx", 463: "4xx", 99: "other", 600: "other", 503: "5xx"} {
		if got := StatusClass(s); got != want {
			t.Errorf("StatusClass(%d) = %q, want %q", s, got, want)
		}
	}
}

func TestForgetListenerAndRoute(t *testing.T) {
	m := NewMetrics("lb")
	m.Route("web", "api").Observe(200, time.Millisecond)
	m.Route("web", "old").Observe(200, time.Millisecond)
	m.Route("web", "").Observe(301, -1)
	m.Route("gone", "api").Observe(200, time.Millisecond)
	m.Listener("gone").ConnOpened()
	m.Flows("gone", "db").Observe(1, 2, "idle_timeout")

	if n := m.ForgetListener("gone"); n == 0 {
		t.Error("ForgetListener deleted nothing")
	}
	if n := m.ForgetRoute("web", "old"); n == 0 {
		t.Error("ForgetRoute deleted nothing")
	}
	text := scrape(t, m)
	if strings.Contains(text, `listener="gone"`) {
		t.Errorf("series of a forgotten listener remain:\n%s", text)
	}
	if strings.Contains(text, `target_group="old"`) {
		t.Errorf("series of a forgotten route remain")
	}
	wantLine(t, text, `lb_requests_total{code_class="2xx",listener="web",target_group="api"} 1`)
	wantLine(t, text, `lb_requests_total{code_class="3xx",listener="web",target_group="-"} 1`)
}

func TestSetTargetGroupsHidesDrainedGroups(t *testing.T) {
	reg := runtime.NewRegistry(nil)
	m := NewMetrics("lb")
	m.WatchTargets("lb", reg)
	reg.Group("kept")
	reg.Group("removed")
	reg.Group("draining").Sync([]runtime.TargetSpec{{Addr: "127.0.0.1:1"}}, time.Minute)
	if text := scrape(t, m); !strings.Contains(text, `target_group="removed"`) {
		t.Fatal("before SetTargetGroups every group is exported")
	}
	m.SetTargetGroups([]string{"kept"})
	text := scrape(t, m)
	wantLine(t, text, `lb_healthy_targets{target_group="kept"} 0`)
	if strings.Contains(text, `target_group="removed"`) {
		t.Error("an empty group that left the config is still exported")
	}
	if !strings.Contains(text, `lb_targets{state="initial",target_group="draining"} 1`) {
		t.Errorf("a removed group that still holds targets must stay visible:\n%s", text)
	}
}
