package edge

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/switchyard/switchyard/cache"
	"github.com/switchyard/switchyard/geo"
	"github.com/switchyard/switchyard/l7"
)

// Options configure an Edge. Store and Geo are required.
type Options struct {
	// Store is the object store shared by every snapshot (its contents
	// survive reloads).
	Store *cache.Store
	// Geo is the country database (geo.Open); it may be reloaded in place.
	Geo *geo.DB
	// Metrics receives the counters; nil means a private, unexported set.
	Metrics *Metrics
	// Log receives handled errors; nil discards.
	Log *slog.Logger
	// AccessLog receives one line per request; nil means none.
	AccessLog *AccessLog
	// EdgeID names this edge in Via ("1.1 <EdgeID>.edge (Switchyard)");
	// "" means 32 random hex digits, as CloudFront's Via carries.
	EdgeID string
	// Now is the clock for Age; nil means time.Now. Give the store the
	// same clock.
	Now func() time.Time
}

// Edge is the running CloudFront-style pipeline: the current Snapshot
// behind an atomic pointer, the object store, the coalescer and the origin
// pools that outlive snapshots. Safe for concurrent use.
type Edge struct {
	snap      atomic.Pointer[Snapshot]
	store     *cache.Store
	coalescer *cache.Coalescer
	pools     *pools
	geo       *geo.DB
	m         *Metrics
	log       *slog.Logger
	alog      *AccessLog
	via       string
	viaB      []byte
	draining  atomic.Bool
	reqs      sync.Pool
	now       func() time.Time
	// realClock is true when now is time.Now: a request then reads the
	// clock once (fasthttp's request time) for freshness, Age and the
	// access log instead of once per use.
	realClock bool
}

// New returns an Edge without a snapshot: Compile one and Swap it in
// before serving.
func New(o Options) (*Edge, error) {
	if o.Store == nil || o.Geo == nil {
		return nil, errors.New("edge: new: Store and Geo are required")
	}
	id := o.EdgeID
	if id == "" {
		var b [16]byte
		_, _ = rand.Read(b[:])
		id = hex.EncodeToString(b[:])
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics(nil, o.Geo)
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	e := &Edge{store: o.Store, coalescer: &cache.Coalescer{}, pools: newPools(), geo: o.Geo, m: o.Metrics,
		log: o.Log, alog: o.AccessLog, via: "1.1 " + id + ".edge (Switchyard)"}
	e.viaB = []byte(e.via)
	e.now = o.Now
	if e.now == nil {
		e.now = time.Now
		e.realClock = true
	}
	e.reqs.New = func() any { return &request{keyBuf: make([]byte, 0, 256), scratch: make([]byte, 0, 256)} }
	return e, nil
}

// Swap installs s: new requests use it, requests in flight finish on the
// one they started with.
func (e *Edge) Swap(s *Snapshot) {
	e.snap.Store(s)
	e.pools.retain(s)
}

// Snapshot returns the running snapshot (nil before the first Swap).
func (e *Edge) Snapshot() *Snapshot { return e.snap.Load() }

// Store returns the object store.
func (e *Edge) Store() *cache.Store { return e.store }

// Metrics returns the edge's counters.
func (e *Edge) Metrics() *Metrics { return e.m }

// StartDrain makes every later response carry Connection: close.
func (e *Edge) StartDrain() { e.draining.Store(true) }

// CloseIdleConnections closes idle origin connections.
func (e *Edge) CloseIdleConnections() { e.pools.closeIdle() }

// ErrUnknownDistribution is returned by Invalidate for a name that is not
// in the running config.
var ErrUnknownDistribution = errors.New("edge: unknown distribution")

// Invalidate removes every cached variant of paths in distribution dist
// (exact paths, or a trailing '*' for a prefix). It completes at once.
func (e *Edge) Invalidate(dist string, paths []string) error {
	s := e.snap.Load()
	if s == nil || s.dists[dist] == nil {
		return fmt.Errorf("%w %q", ErrUnknownDistribution, dist)
	}
	if err := e.store.Invalidate(dist, paths); err != nil {
		return fmt.Errorf("edge: invalidate %s: %w", dist, err)
	}
	return nil
}

// CacheStats are the counters of GET /api/v1/cache.
type CacheStats struct {
	Objects  int64   `json:"objects"`
	Bytes    int64   `json:"bytes"`
	Hits     uint64  `json:"hits"`
	Misses   uint64  `json:"misses"`
	HitRatio float64 `json:"hit_ratio"`
}

// CacheStats reports the object store's size and the edge's hit counts
// (hits and refresh hits against misses and errors of cacheable requests).
func (e *Edge) CacheStats() CacheStats {
	st := e.store.Stats()
	hits := e.m.hits.Load() + e.m.refreshHits.Load()
	misses := e.m.misses.Load() + e.m.errorsN.Load()
	cs := CacheStats{Objects: st.Objects, Bytes: st.Bytes, Hits: hits, Misses: misses}
	if hits+misses > 0 {
		cs.HitRatio = float64(hits) / float64(hits+misses)
	}
	return cs
}

// ListenerOptions describe one viewer-facing listener.
type ListenerOptions struct {
	// Name is the listener's name for logs ("" means its address).
	Name string
	// TLS is true for HTTPS listeners (the viewer protocol policy and
	// CloudFront-Forwarded-Proto read it).
	TLS bool
	// TrustedProxies are the peers whose X-Forwarded-For is believed,
	// walked right to left (geo.ClientFromXFF).
	TrustedProxies []netip.Prefix
	// TLSFacts reports a connection's TLS version, cipher and handshake
	// kind for CloudFront-Viewer-TLS and the access log; nil means none.
	TLSFacts func(c net.Conn) (version, cipher, handshake string)
	// IdleTimeout closes idle keep-alive connections (default 60 s).
	IdleTimeout time.Duration
}

type listener struct {
	name     string
	tls      bool
	trusted  []netip.Prefix
	tlsFacts func(c net.Conn) (version, cipher, handshake string)
}

// Handler returns the fasthttp handler of one listener.
func (e *Edge) Handler(lo ListenerOptions) fasthttp.RequestHandler {
	l := &listener{name: lo.Name, tls: lo.TLS, trusted: lo.TrustedProxies, tlsFacts: lo.TLSFacts}
	return func(ctx *fasthttp.RequestCtx) { e.serve(ctx, l) }
}

// Viewer-side limits (cloudfront.md §6.17): request line and headers up to
// 20 KiB; bodies (PUT/POST to the origin) are buffered up to MaxBodySize.
const (
	MaxHeaderBytes = 20 << 10
	MaxBodySize    = 16 << 20
)

// NewServer returns a fasthttp.Server for one listener with every limit
// set: lb's (l7.ApplyServerLimits) with the edge's idle timeout, header
// block (MaxHeaderBytes, CloudFront's 20 KiB plus slack) and buffered body
// cap (MaxBodySize); the header read is bounded by the idle timeout too.
// Serve it on a listener already wrapped for PROXY protocol or TLS.
func (e *Edge) NewServer(lo ListenerOptions) *fasthttp.Server {
	idle := lo.IdleTimeout
	if idle <= 0 {
		idle = 60 * time.Second
	}
	s := &fasthttp.Server{
		Handler:      e.Handler(lo),
		ErrorHandler: e.parseError,
		Logger:       fasthttpLogger{e.log},
		TCPKeepalive: true,
	}
	l7.ApplyServerLimits(s, l7.ServerLimits{IdleTimeout: idle, ReadTimeout: idle,
		MaxHeaderBytes: MaxHeaderBytes + 4096, MaxRequestBodySize: MaxBodySize, Concurrency: 256 * 1024})
	return s
}

// parseError answers requests fasthttp could not read: a request line and
// headers over the limit get CloudFront's 413, anything else 400, both
// with the edge's error page and Connection: close.
func (e *Edge) parseError(ctx *fasthttp.RequestCtx, err error) {
	status, reason := 400, "Bad request."
	var small *fasthttp.ErrSmallBuffer
	if errors.As(err, &small) || errors.Is(err, fasthttp.ErrBodyTooLarge) {
		status, reason = 413, "Request too large."
	}
	ctx.Response.Reset()
	ctx.SetStatusCode(status)
	ctx.Response.Header.SetContentType("text/html")
	ctx.Response.Header.SetCanonical(hdrXCache, xError)
	ctx.Response.Header.SetCanonical(hdrVia, e.viaB)
	ctx.SetBody(appendErrorPage(nil, status, reason, nil))
	ctx.SetConnectionClose()
	e.log.Debug("unreadable request", "status", status, "err", err)
}

type fasthttpLogger struct{ l *slog.Logger }

func (f fasthttpLogger) Printf(format string, args ...any) {
	f.l.Debug(fmt.Sprintf(format, args...))
}
