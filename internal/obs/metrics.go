package obs

import (
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/switchyard/switchyard/internal/runtime"
)

// Metrics is one process's Prometheus registry and the metric families the
// data path feeds. Per-request code never looks a label up: a snapshot
// resolves a RouteMetrics per (listener, target group) and a
// ListenerMetrics per listener when it is compiled, and the request path
// only increments what those hold (envoy's stats structs). Safe for
// concurrent use.
type Metrics struct {
	reg        *prometheus.Registry
	requests   *prometheus.CounterVec
	targetTime *prometheus.HistogramVec
	active     *prometheus.GaugeVec
	conns      *prometheus.CounterVec
	flows      *prometheus.CounterVec
	flowBytes  *prometheus.CounterVec
	targets    *targetCollector // nil until WatchTargets

	// ReloadSuccess and ReloadFailure count config reloads by outcome.
	ReloadSuccess prometheus.Counter
	ReloadFailure prometheus.Counter
	// LastReload is the Unix time of the last successful (re)load.
	LastReload prometheus.Gauge
	// Panics counts panics recovered on the data path.
	Panics prometheus.Counter
	// AccessLogDrops counts access-log lines dropped by a full buffer.
	AccessLogDrops prometheus.Counter
}

// TargetResponseBuckets are the bounds of the target response time
// histogram, in seconds: 1 ms to 30 s, dense where web targets answer.
var TargetResponseBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// NewMetrics creates a registry whose metric names start with namespace
// ("lb" or "edge"), with the Go runtime and process collectors included.
func NewMetrics(namespace string) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{reg: reg}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "requests_total",
		Help: "Requests answered, by listener, target group (\"-\" when none) and status class.",
	}, []string{"listener", "target_group", "code_class"})
	m.targetTime = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "target_response_time_seconds",
		Help:    "Time from sending the request to a target to receiving its response headers (ALB TargetResponseTime).",
		Buckets: TargetResponseBuckets,
	}, []string{"listener", "target_group"})
	m.active = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "active_connections",
		Help: "Client connections open now, by listener.",
	}, []string{"listener"})
	m.conns = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "connections_total",
		Help: "Client connections accepted, by listener.",
	}, []string{"listener"})
	m.flows = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "flows_total",
		Help: "TCP/TLS flows ended, by listener, target group and result (ok, or the close reason of a failed flow).",
	}, []string{"listener", "target_group", "result"})
	m.flowBytes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "flow_bytes_total",
		Help: "Bytes carried by ended TCP/TLS flows, by listener and direction (in: client to target).",
	}, []string{"listener", "direction"})
	reloads := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "config_reloads_total",
		Help: "Config reloads, by result (success or failure).",
	}, []string{"result"})
	m.ReloadSuccess = reloads.WithLabelValues("success")
	m.ReloadFailure = reloads.WithLabelValues("failure")
	m.LastReload = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "config_last_reload_success_timestamp_seconds",
		Help: "Unix time of the last successful config load.",
	})
	m.Panics = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "panics_recovered_total",
		Help: "Panics recovered on the data path; each one is a bug.",
	})
	m.AccessLogDrops = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "access_log_dropped_total",
		Help: "Access-log lines dropped because the writer fell behind.",
	})
	reg.MustRegister(m.requests, m.targetTime, m.active, m.conns, m.flows, m.flowBytes, reloads,
		m.LastReload, m.Panics, m.AccessLogDrops,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry is the underlying registry, for packages adding their own families.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Reloaded records a reload outcome; at is the time of a success.
func (m *Metrics) Reloaded(ok bool, at time.Time) {
	if ok {
		m.ReloadSuccess.Inc()
		m.LastReload.Set(float64(at.UnixNano()) / 1e9)
		return
	}
	m.ReloadFailure.Inc()
}

// RouteMetrics are the pre-resolved series of one (listener, target
// group) pair. A nil *RouteMetrics ignores every call.
type RouteMetrics struct {
	classes    [6]prometheus.Counter // 1xx…5xx, then anything else
	targetTime prometheus.Observer
}

var classNames = [6]string{"1xx", "2xx", "3xx", "4xx", "5xx", "other"}

// Route resolves the series for listener and group ("" is shown as "-":
// redirects, fixed responses and errors before routing). Call it when a
// snapshot is compiled, never per request.
func (m *Metrics) Route(listener, group string) *RouteMetrics {
	if group == "" {
		group = "-"
	}
	r := &RouteMetrics{targetTime: m.targetTime.WithLabelValues(listener, group)}
	for i, c := range classNames {
		r.classes[i] = m.requests.WithLabelValues(listener, group, c)
	}
	return r
}

// Observe counts one answered request with status; targetTime < 0 means
// no target answered (it is then left out of the histogram).
func (r *RouteMetrics) Observe(status int, targetTime time.Duration) {
	if r == nil {
		return
	}
	i := status/100 - 1
	if i < 0 || i > 4 {
		i = 5
	}
	r.classes[i].Inc()
	if targetTime >= 0 {
		r.targetTime.Observe(targetTime.Seconds())
	}
}

// ListenerMetrics are the pre-resolved series of one listener. A nil
// *ListenerMetrics ignores every call.
type ListenerMetrics struct {
	active   prometheus.Gauge
	accepted prometheus.Counter
}

// Listener resolves the series of the listener called name.
func (m *Metrics) Listener(name string) *ListenerMetrics {
	return &ListenerMetrics{active: m.active.WithLabelValues(name), accepted: m.conns.WithLabelValues(name)}
}

// ConnOpened counts a new client connection.
func (l *ListenerMetrics) ConnOpened() {
	if l != nil {
		l.active.Inc()
		l.accepted.Inc()
	}
}

// ConnClosed counts a client connection gone.
func (l *ListenerMetrics) ConnClosed() {
	if l != nil {
		l.active.Dec()
	}
}

// FlowMetrics are the pre-resolved series of one TCP/TLS listener. A nil
// *FlowMetrics ignores every call.
type FlowMetrics struct {
	ok       prometheus.Counter
	failed   *prometheus.CounterVec
	listener string
	group    string
	in, out  prometheus.Counter
}

// Flows resolves the flow series of listener (forwarding to group).
func (m *Metrics) Flows(listener, group string) *FlowMetrics {
	return &FlowMetrics{
		ok: m.flows.WithLabelValues(listener, group, "ok"), failed: m.flows,
		listener: listener, group: group,
		in: m.flowBytes.WithLabelValues(listener, "in"), out: m.flowBytes.WithLabelValues(listener, "out"),
	}
}

// Observe counts one ended flow. failure is "" for a flow that ended
// normally, else its close reason (a small fixed set, so the label lookup
// it costs happens only on failures).
func (f *FlowMetrics) Observe(received, sent int64, failure string) {
	if f == nil {
		return
	}
	if failure == "" {
		f.ok.Inc()
	} else {
		f.failed.WithLabelValues(f.listener, f.group, failure).Inc()
	}
	f.in.Add(float64(max(received, 0)))
	f.out.Add(float64(max(sent, 0)))
}

// WatchTargets exports, at every scrape, the healthy and unhealthy target
// counts of every group in reg (ALB HealthyHostCount / UnHealthyHostCount)
// and the count per state. Reading at scrape time keeps the data path free
// of gauge updates.
func (m *Metrics) WatchTargets(namespace string, reg *runtime.Registry) {
	m.targets = &targetCollector{
		reg: reg,
		healthy: prometheus.NewDesc(prometheus.BuildFQName(namespace, "", "healthy_targets"),
			"Targets passing health checks (or routable with checks disabled), by target group.", []string{"target_group"}, nil),
		unhealthy: prometheus.NewDesc(prometheus.BuildFQName(namespace, "", "unhealthy_targets"),
			"Registered targets failing health checks, by target group.", []string{"target_group"}, nil),
		states: prometheus.NewDesc(prometheus.BuildFQName(namespace, "", "targets"),
			"Targets by target group and state (initial, healthy, unhealthy, draining, unavailable).", []string{"target_group", "state"}, nil),
	}
	m.reg.MustRegister(m.targets)
}

// SetTargetGroups names the configured target groups after a (re)load:
// from then on WatchTargets exports those, plus any other group that
// still holds targets (one a reload removed, while its targets drain). A
// removed group's series disappear once it is empty. Before the first
// call every group is exported.
func (m *Metrics) SetTargetGroups(names []string) {
	if m.targets == nil {
		return
	}
	known := make(map[string]bool, len(names))
	for _, n := range names {
		known[n] = true
	}
	m.targets.known.Store(&known)
}

// ForgetListener deletes every series labelled with listener (requests,
// target response times, connections, flows): a reload that removed or
// renamed the listener calls it, so dashboards do not show it forever.
// Returns how many series went.
func (m *Metrics) ForgetListener(listener string) int {
	l := prometheus.Labels{"listener": listener}
	return m.requests.DeletePartialMatch(l) + m.targetTime.DeletePartialMatch(l) +
		m.active.DeletePartialMatch(l) + m.conns.DeletePartialMatch(l) +
		m.flows.DeletePartialMatch(l) + m.flowBytes.DeletePartialMatch(l)
}

// ForgetRoute deletes the series of one (listener, target group) pair
// ("" is "-"), for a group a reload removed from a kept listener.
// Returns how many series went.
func (m *Metrics) ForgetRoute(listener, group string) int {
	if group == "" {
		group = "-"
	}
	l := prometheus.Labels{"listener": listener, "target_group": group}
	return m.requests.DeletePartialMatch(l) + m.targetTime.DeletePartialMatch(l) + m.flows.DeletePartialMatch(l)
}

type targetCollector struct {
	reg                        *runtime.Registry
	healthy, unhealthy, states *prometheus.Desc
	known                      atomic.Pointer[map[string]bool] // nil: every group
}

func (c *targetCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.healthy
	ch <- c.unhealthy
	ch <- c.states
}

func (c *targetCollector) Collect(ch chan<- prometheus.Metric) {
	known := c.known.Load()
	for _, g := range c.reg.Groups() {
		ts := g.Targets()
		if known != nil && !(*known)[g.Name] && len(ts) == 0 {
			continue // removed from the config and drained
		}
		var n [runtime.StateUnavailable + 1]int
		for _, t := range ts {
			if s := t.State(); s >= 0 && int(s) < len(n) {
				n[s]++
			}
		}
		ch <- prometheus.MustNewConstMetric(c.healthy, prometheus.GaugeValue,
			float64(n[runtime.StateHealthy]+n[runtime.StateUnavailable]), g.Name)
		ch <- prometheus.MustNewConstMetric(c.unhealthy, prometheus.GaugeValue,
			float64(n[runtime.StateUnhealthy]), g.Name)
		for s, k := range n {
			if runtime.State(s) == runtime.StateUnused {
				continue
			}
			ch <- prometheus.MustNewConstMetric(c.states, prometheus.GaugeValue, float64(k), g.Name, runtime.State(s).String())
		}
	}
}

// StatusClass names the class of an HTTP status for logs ("2xx").
func StatusClass(status int) string {
	if status < 100 || status > 599 {
		return "other"
	}
	return strconv.Itoa(status/100) + "xx"
}
