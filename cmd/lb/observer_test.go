package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/internal/obs"
	"github.com/switchyard/switchyard/l7"
)

// observerFixture is an app with one listener's routes and an ALB access
// log to a discarding writer, and a typical forwarded request's record.
func observerFixture() (*app, *l7.Record, func()) {
	a := newApp(slog.New(slog.DiscardHandler), io.Discard, io.Discard, "test", nil)
	s := &snapshot{cfg: &config.LB{}, routes: map[string]*listenerRoutes{
		"web": {elb: "app/lb/web", none: a.metrics.Route("web", ""), byGroup: map[string]*groupRoute{
			"api": {m: a.metrics.Route("web", "api"), arn: "targetgroup/api"},
		}},
	}}
	a.cur.Store(s)
	al := obs.NewAccessLog(io.Discard, obs.FormatALB, obs.DefaultBufferSize, nil)
	a.accessLog.Store(al)
	rec := &l7.Record{
		Listener: "web", Type: "http", Received: time.Now(), Done: time.Now(),
		Client: netip.MustParseAddrPort("127.0.0.1:5555"), Target: "127.0.0.1:9001", TargetGroup: "api",
		RequestProcessing: time.Millisecond, TargetProcessing: 2 * time.Millisecond, ResponseProcessing: 0,
		Status: 200, TargetStatus: 200, ReceivedBytes: 100, SentBytes: 200,
		Method: []byte("GET"), Host: []byte("a.example"), Port: []byte("8080"), URI: []byte("/x?y=1"),
		Proto: []byte("HTTP/1.1"), Scheme: "http", UserAgent: []byte("curl/8"),
		TraceID: []byte("Root=1-00000000-000000000000000000000000"), RulePriority: 10, Actions: l7.ActionForward,
	}
	return a, rec, func() { al.Close() }
}

// TestObserveRequestAllocs: counting a request and writing its access-log
// line costs no allocation.
func TestObserveRequestAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	a, rec, done := observerFixture()
	defer done()
	if n := testing.AllocsPerRun(500, func() { a.ObserveRequest(rec) }); n != 0 {
		t.Errorf("ObserveRequest allocates %v times per request", n)
	}
}

// BenchmarkObserveRequest is the per-request cost of metrics plus the
// access-log line.
//
//	GOMAXPROCS=1 go test -run '^$' -bench ObserveRequest -benchtime 200000x ./cmd/lb
func BenchmarkObserveRequest(b *testing.B) {
	a, rec, done := observerFixture()
	defer done()
	b.ReportAllocs()
	for range b.N {
		a.ObserveRequest(rec)
	}
	b.ReportMetric(float64(a.accessLog.Load().Drops())/float64(b.N), "drops/op")
}

func accessLogConfig(path, format, backend string) string {
	return fmt.Sprintf(`admin: {address: ""}
shutdown_timeout: 5s
access_log: {path: %q, format: %s}
listeners:
  - name: web
    protocol: HTTP
    address: "127.0.0.1:0"
    rules:
      - priority: 7
        conditions: {path: ["/ping"]}
        action: {fixed_response: {status: 200, content_type: text/plain, body: pong}}
      - priority: 9
        conditions: {path: ["/old"]}
        action: {redirect: {path: "/new", status: 301}}
    default_action: {forward: {target_group: web}}
target_groups:
  - name: web
    protocol: HTTP
    targets: [%q]
    health_check: {path: /health, interval: 5s, timeout: 2s}
`, path, format, backend)
}

var traceID = regexp.MustCompile(`^Root=1-[0-9a-f]{8}-[0-9a-f]{24}$`)

// TestAccessLogThroughProxy: real requests produce ALB and JSON lines
// with what the client sent and what the target answered.
func TestAccessLogThroughProxy(t *testing.T) {
	b := startBackend(t, "b1")
	for _, format := range []string{"alb", "json"} {
		t.Run(format, func(t *testing.T) {
			logPath := filepath.Join(t.TempDir(), "access.log")
			cfgPath := writeFile(t, t.TempDir(), "lb.yaml", accessLogConfig(logPath, format, b.addr))
			r := startInProcess(t, "-config", cfgPath)
			web := r.listener("web")
			c := newClient()
			if code, _, _ := get(t, c, "http://"+web+"/fwd?q=1", "User-Agent", `agent "quoted"`); code != 200 {
				t.Fatalf("forward: %d", code)
			}
			tid := b.lastRequest().Header.Get("X-Amzn-Trace-Id")
			if !traceID.MatchString(tid) {
				t.Errorf("backend got trace id %q", tid)
			}
			if code, _, _ := get(t, c, "http://"+web+"/ping"); code != 200 {
				t.Fatalf("ping: %d", code)
			}
			if code, _, _ := get(t, c, "http://"+web+"/old"); code != 301 {
				t.Fatalf("redirect: %d", code)
			}
			if code := r.stop(t); code != 0 {
				t.Fatalf("exit %d", code)
			}
			data, err := os.ReadFile(logPath)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
			if len(lines) != 3 {
				t.Fatalf("%d access-log lines, want 3:\n%s", len(lines), data)
			}
			if format == "json" {
				var fwd, ping, redir map[string]any
				for i, m := range []*map[string]any{&fwd, &ping, &redir} {
					if err := json.Unmarshal([]byte(lines[i]), m); err != nil {
						t.Fatalf("line %d: %v", i, err)
					}
				}
				for k, want := range map[string]any{
					"type": "http", "elb": "app/lb/web", "listener": "web", "target": b.addr,
					"elb_status_code": 200.0, "target_status_code": 200.0, "target_group_arn": "targetgroup/web",
					"request": "GET http://" + web + "/fwd?q=1 HTTP/1.1", "user_agent": `agent "quoted"`,
					"trace_id": tid, "matched_rule_priority": 0.0, "actions_executed": "forward",
				} {
					if fwd[k] != want {
						t.Errorf("forward %s = %#v, want %#v", k, fwd[k], want)
					}
				}
				if ping["matched_rule_priority"] != 7.0 || ping["actions_executed"] != "fixed-response" || ping["target"] != nil || ping["target_processing_time"] != -1.0 {
					t.Errorf("fixed response line: %v", ping)
				}
				if redir["elb_status_code"] != 301.0 || redir["actions_executed"] != "redirect" || redir["redirect_url"] == nil {
					t.Errorf("redirect line: %v", redir)
				}
				return
			}
			f := strings.Fields(lines[0])
			if f[0] != "http" || f[2] != "app/lb/web" || f[4] != b.addr || f[8] != "200" || f[9] != "200" ||
				!strings.HasPrefix(f[3], "127.0.0.1:") {
				t.Errorf("ALB forward line: %s", lines[0])
			}
			for _, want := range []string{
				`"GET http://` + web + `/fwd?q=1 HTTP/1.1"`, `"agent \"quoted\""`, " targetgroup/web ",
				`"` + tid + `"`, ` 0 `, `"forward"`, `"` + b.addr + `" "200"`,
			} {
				if !strings.Contains(lines[0], want) {
					t.Errorf("ALB forward line lacks %s: %s", want, lines[0])
				}
			}
			if !strings.Contains(lines[1], ` 7 `) || !strings.Contains(lines[1], `"fixed-response"`) {
				t.Errorf("ALB fixed-response line: %s", lines[1])
			}
			if !strings.Contains(lines[2], ` 301 - `) || !strings.Contains(lines[2], `"redirect"`) {
				t.Errorf("ALB redirect line: %s", lines[2])
			}
		})
	}
}

// TestAccessLogReopenedOnReload: after logrotate moves the file away, a
// SIGHUP makes lb write to a fresh file at the configured path.
func TestAccessLogReopenedOnReload(t *testing.T) {
	b := startBackend(t, "b1")
	dir := t.TempDir()
	logPath := filepath.Join(dir, "access.log")
	r := startInProcess(t, "-config", writeFile(t, dir, "lb.yaml", accessLogConfig(logPath, "alb", b.addr)))
	web := "http://" + r.listener("web")
	c := newClient()
	get(t, c, web+"/before")
	r.app.accessLog.Load().Flush()
	if err := os.Rename(logPath, logPath+".1"); err != nil {
		t.Fatal(err)
	}
	r.sigs <- syscall.SIGHUP
	eventually(t, 10*time.Second, "the reload", func() bool { return r.app.applied.Load() == 2 })
	get(t, c, web+"/after")
	if code := r.stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
	rotated, _ := os.ReadFile(logPath + ".1")
	fresh, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatalf("no new access log after the reload: %v", err)
	}
	if !strings.Contains(string(rotated), "/before") || strings.Contains(string(rotated), "/after") {
		t.Errorf("rotated file:\n%s", rotated)
	}
	if !strings.Contains(string(fresh), "/after") || strings.Contains(string(fresh), "/before") {
		t.Errorf("new file:\n%s", fresh)
	}
}
