package edge

import (
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchyard/switchyard/cache"
	"github.com/switchyard/switchyard/geo"
	"github.com/switchyard/switchyard/signing"
)

// Metrics are the edge's counters, resolved once so the request path only
// increments fields (no label lookups per request, except for a geo
// refusal's country). Safe for concurrent use.
type Metrics struct {
	Requests      prometheus.Counter
	Hits          prometheus.Counter
	Misses        prometheus.Counter
	RefreshHits   prometheus.Counter
	Errors        prometheus.Counter
	OriginLatency prometheus.Histogram
	OriginErrors  prometheus.Counter
	GeoRefused    *prometheus.CounterVec
	SigFailures   [8]prometheus.Counter

	hits, misses, refreshHits, errorsN atomic.Uint64

	mu      sync.Mutex
	refused map[geo.Country]prometheus.Counter
}

// NewMetrics registers the edge's metric families on reg (nil: none) and
// exports db's lookup counters.
func NewMetrics(reg prometheus.Registerer, db *geo.DB) *Metrics {
	results := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "edge", Name: "cache_results_total",
		Help: "Viewer requests by cache result (Hit, RefreshHit, Miss, Error)."}, []string{"result"})
	sig := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "edge", Name: "signature_failures_total",
		Help: "Requests refused by signed URL or cookie checks, by CloudFront error code."}, []string{"code"})
	m := &Metrics{
		Requests: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "edge", Name: "viewer_requests_total",
			Help: "Viewer requests answered."}),
		Hits: results.WithLabelValues("Hit"), Misses: results.WithLabelValues("Miss"),
		RefreshHits: results.WithLabelValues("RefreshHit"), Errors: results.WithLabelValues("Error"),
		OriginLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "edge", Name: "origin_duration_seconds",
			Help: "Time from sending an origin request to its response header.", Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 14)}),
		OriginErrors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "edge", Name: "origin_errors_total",
			Help: "Origin requests that failed to connect, timed out or broke."}),
		GeoRefused: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "edge", Name: "geo_refused_total",
			Help: "Requests refused by geo restriction, by viewer country (-- for unknown)."}, []string{"country"}),
		refused: map[geo.Country]prometheus.Counter{},
	}
	for c := signing.MissingKey; c <= signing.AccessDenied; c++ {
		m.SigFailures[c] = sig.WithLabelValues(c.String())
	}
	if reg != nil {
		reg.MustRegister(m.Requests, results, sig, m.OriginLatency, m.OriginErrors, m.GeoRefused)
		if db != nil {
			reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "edge", Name: "geo_lookups_total",
				Help: "Country lookups made."}, func() float64 { n, _ := db.Stats(); return float64(n) }))
		}
	}
	return m
}

func (m *Metrics) cacheResult(res cache.Result, status int) {
	switch {
	case status >= 400 || res == cache.ResultError:
		m.errorsN.Add(1)
		m.Errors.Inc()
	case res == cache.ResultHit:
		m.hits.Add(1)
		m.Hits.Inc()
	case res == cache.ResultRefreshHit:
		m.refreshHits.Add(1)
		m.RefreshHits.Inc()
	default:
		m.misses.Add(1)
		m.Misses.Inc()
	}
}

func (m *Metrics) geoRefused(c geo.Country) {
	m.mu.Lock()
	ctr := m.refused[c]
	if ctr == nil {
		ctr = m.GeoRefused.WithLabelValues(c.String())
		m.refused[c] = ctr
	}
	m.mu.Unlock()
	ctr.Inc()
}

func (m *Metrics) signatureFailed(c signing.Code) {
	if int(c) < len(m.SigFailures) && m.SigFailures[c] != nil {
		m.SigFailures[c].Inc()
	}
}
