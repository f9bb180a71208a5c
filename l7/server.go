package l7

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/switchyard/switchyard/config"
)

// ServerOptions configure a Server. Zero fields take the defaults named.
type ServerOptions struct {
	// Listener is the listener's config; Name, Protocol and IdleTimeout
	// (default 60s) are used here. Rules come from the Router.
	Listener config.Listener
	// Observer receives a Record per request; nil means none.
	Observer Observer
	// Logger receives handled errors (panics, client errors); nil discards.
	Logger *slog.Logger
	// ReadTimeout bounds reading a request's header block (default 60s,
	// or IdleTimeout when smaller); the body has the idle timeout per read.
	ReadTimeout time.Duration
	// MaxHeaderBytes caps the request header block (default 64 KiB, ALB's).
	MaxHeaderBytes int
	// Concurrency caps requests served at once (default 262144); beyond it
	// clients get 503 at once.
	Concurrency int
	// MaxConnsPerIP caps connections per client IPv4 address (0 = off).
	// Leave it off behind PROXY protocol: fasthttp reads the peer address
	// in its accept loop, which would block on the PROXY header.
	MaxConnsPerIP int
	// ClientKeepAlive is the longest a client connection lives (ALB's
	// client_keep_alive, default 3600s): the first response after it
	// carries Connection: close. Traffic does not extend it.
	ClientKeepAlive time.Duration
	// TLSFacts, when set, reports the TLS facts of a connection (cmd/lb
	// sets it when its TLS listener wraps conns in something other than
	// *tls.Conn, or to report the chosen certificate). By default a
	// *tls.Conn (or a conn with ConnectionState) is asked directly. Fields
	// reported as "-" (tlsx.Facts' unknown) are read as "" (unknown here).
	// On is forced true: it is only asked about TLS connections.
	TLSFacts func(c net.Conn) TLSFacts
	// EventLoop carries plain-HTTP connections (no TLS, no PROXY
	// protocol, no MaxConnsPerIP) on event loops, one per CPU, instead of
	// a goroutine each; what the loop does not carry (request bodies,
	// upgrades, large or streamed responses, TLS or host-name targets)
	// moves to the goroutine path. Linux only; see loop_linux.go.
	EventLoop bool
	// HTTP01, when set, answers ACME HTTP-01 challenges: every request
	// whose canonical path starts with /.well-known/acme-challenge/ is
	// offered to it before any rule; when it returns ok, the client gets
	// 200 text/plain with body (cmd/lb passes tlsx.HTTP01 over its ACME
	// managers). Otherwise the request goes through the rules as usual.
	HTTP01 func(path []byte) (body []byte, ok bool)
}

// Server is the ALB front end of one listener: a fasthttp.Server with
// every limit set, answering by the current Router. Safe for concurrent
// use.
type Server struct {
	name     string
	https    bool
	opts     ServerOptions
	idle     time.Duration
	maxConn  time.Duration
	router   atomic.Pointer[Router]
	fs       *fasthttp.Server
	log      *slog.Logger
	obs      Observer
	counters Counters
	draining atomic.Bool
	// park holds idle keep-alive plain-HTTP connections without a
	// goroutine (nil for HTTPS, with MaxConnsPerIP, and off Linux).
	park *parker
	// loops carry plain-HTTP connections on event loops (nil unless
	// ServerOptions.EventLoop; see loop_linux.go).
	loops *loopSet

	// lns are the listeners Serve was given, closed by Shutdown even if
	// fasthttp had not registered them yet (its Serve, called after its
	// Shutdown, would accept forever); closed is set by Shutdown.
	lnMu   sync.Mutex
	lns    []net.Listener
	closed bool

	// hijacked tracks WebSocket tunnels, which fasthttp's Shutdown does
	// not see; Shutdown closes them at its deadline.
	hmu      sync.Mutex
	hijacked map[net.Conn]struct{}
	hwg      sync.WaitGroup

	// testHookRoute, when set by a test, runs before routing (a panic
	// injection point).
	testHookRoute func(v *RequestView)
}

// NewServer returns a server answering by r. Call Serve to start it.
func NewServer(r *Router, o ServerOptions) (*Server, error) {
	if r == nil {
		return nil, errors.New("l7: new server: nil router")
	}
	s := &Server{
		name:     o.Listener.Name,
		https:    strings.EqualFold(o.Listener.Protocol, "HTTPS"),
		opts:     o,
		log:      o.Logger,
		obs:      o.Observer,
		hijacked: make(map[net.Conn]struct{}),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.idle = o.Listener.IdleTimeout.D()
	if s.idle <= 0 {
		s.idle = 60 * time.Second
	}
	s.maxConn = o.ClientKeepAlive
	if s.maxConn <= 0 {
		s.maxConn = time.Hour
	}
	rt := o.ReadTimeout
	if rt <= 0 {
		rt = 60 * time.Second
	}
	if rt > s.idle {
		rt = s.idle
	}
	maxHdr := o.MaxHeaderBytes
	if maxHdr <= 0 {
		maxHdr = 64 << 10
	}
	conc := o.Concurrency
	if conc <= 0 {
		conc = fasthttp.DefaultConcurrency
	}
	s.router.Store(r)
	s.fs = &fasthttp.Server{
		Handler:      s.handle,
		ErrorHandler: s.handleParseError,
		Name:         "",
		Concurrency:  conc,
		// The read buffer bounds the request line plus header block.
		ReadBufferSize:  maxHdr,
		WriteBufferSize: 16 << 10,
		// ReadTimeout covers the header block (slowloris); the body is read
		// under per-read idle deadlines by the proxy (see bodyReader).
		ReadTimeout:  rt,
		WriteTimeout: s.idle,
		IdleTimeout:  s.idle,
		// Bodies stream both ways; the size cap only applies to the
		// buffered prefix fasthttp reads with the header.
		StreamRequestBody:             true,
		MaxRequestBodySize:            1 << 30,
		MaxConnsPerIP:                 o.MaxConnsPerIP,
		DisableHeaderNamesNormalizing: false,
		DisablePreParseMultipartForm:  true,
		// An idle keep-alive connection gives its write buffer and body
		// buffers back to the pools (SPEC §6: 10 000 idle connections in
		// 128 MiB) where it cannot park (see below). Plain HTTP only:
		// fasthttp then loses a connection's start time (a fresh
		// RequestCtx is taken for its first request), which handle reads
		// from deadlineConn instead; TLS connections are not wrapped, so
		// HTTPS keeps fasthttp's own.
		ReduceMemoryUsage:     !s.https,
		NoDefaultServerHeader: true,
		NoDefaultContentType:  true,
		NoDefaultDate:         false,
		// The handler reads its own clock once per request.
		LazyRequestTime: true,
		// Off so the parse errors can be told apart (400 vs 501); the
		// messages only reach the debug log.
		SecureErrorLogMessage: false,
		CloseOnShutdown:       true,
		KeepHijackedConns:     true,
		Logger:                slogPrintf{s.log},
	}
	// fasthttp counts per-IP connections in a wrapper it closes, which
	// parking would bypass: with that limit, connections are not parked.
	if !s.https && o.MaxConnsPerIP <= 0 {
		s.park = newParker(s)
	}
	if o.EventLoop && !s.https && o.MaxConnsPerIP <= 0 {
		s.loops = newLoopSet(s)
	}
	if s.park != nil {
		// A parked connection holds no goroutine and no buffer, so one
		// still waiting with its goroutine may keep its write buffer and
		// body buffers between requests: no pool round trips per request,
		// and a connection's first request (and the first after it was
		// parked) is read with one read, not a 1-byte read and another
		// (fasthttp's first-byte reader, which then stays under every
		// read). With many idle, they park after parkAfterBusy.
		s.fs.ReduceMemoryUsage = false
		s.fs.ConnState = func(c net.Conn, st fasthttp.ConnState) {
			if st == fasthttp.StateIdle {
				connIdle(c)
			}
		}
	}
	return s, nil
}

// SetRouter swaps the router atomically: new requests use r, requests in
// flight finish with the one they started with.
func (s *Server) SetRouter(r *Router) {
	if r != nil {
		s.router.Store(r)
	}
}

// Router returns the current router.
func (s *Server) Router() *Router { return s.router.Load() }

// Counters returns the server's running totals.
func (s *Server) Counters() *Counters { return &s.counters }

// Serve accepts connections on ln until Shutdown. ln is the caller's: wrap
// it for PROXY protocol or TLS before handing it in.
func (s *Server) Serve(ln net.Listener) error {
	s.lnMu.Lock()
	if s.closed {
		s.lnMu.Unlock()
		_ = ln.Close()
		return nil
	}
	s.lns = append(s.lns, ln)
	s.lnMu.Unlock()
	if dl, ok := ln.(directListener); ok {
		accs := s.loops.serveDirect(dl)
		if len(accs) == 0 {
			dl.AcceptInGo()
		}
		// Once Serve returns (the listener closed, Shutdown) the loops
		// stop accepting and close their duplicates.
		defer s.loops.stopAccepting(accs)
	}
	err := s.fs.Serve(deadlineListener{Listener: ln, p: s.park, loops: s.loops})
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("l7: serve %s: %w", s.name, err)
	}
	return nil
}

// StartDrain makes every later response carry Connection: close, without
// closing the listener yet (readiness can go 503 first).
func (s *Server) StartDrain() { s.draining.Store(true) }

// Shutdown drains: it stops accepting, closes idle keep-alive connections
// (parked ones first),
// answers with Connection: close, waits for in-flight requests and
// WebSocket tunnels, and at ctx's deadline closes what is left.
func (s *Server) Shutdown(ctx context.Context) error {
	s.draining.Store(true)
	s.lnMu.Lock()
	s.closed = true
	lns := s.lns
	s.lnMu.Unlock()
	for _, ln := range lns {
		// fasthttp closes the listeners it registered; one that Serve was
		// given but not yet registered (the loops may already have served
		// connections from it) is closed here.
		_ = ln.Close()
	}
	if s.park != nil {
		s.park.close()
	}
	if s.loops != nil {
		s.loops.shutdown()
	}
	err := s.fs.ShutdownWithContext(ctx)
	if errors.Is(err, net.ErrClosed) {
		err = nil // the listeners closed above, closed again by fasthttp
	}
	if s.loops != nil {
		s.waitLoops(ctx)
	}
	done := make(chan struct{})
	go func() { s.hwg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		s.hmu.Lock()
		for c := range s.hijacked {
			_ = c.Close()
		}
		s.hmu.Unlock()
		// Closed tunnels end at once; a hijack fasthttp dropped before it
		// started never will, so the wait is bounded.
		t := time.NewTimer(time.Second)
		select {
		case <-done:
		case <-t.C:
		}
		t.Stop()
	}
	if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("l7: shutdown %s: %w", s.name, err)
	}
	return err
}

// waitLoops waits until the event loops hold no connection; at ctx's
// deadline it closes what they hold.
func (s *Server) waitLoops(ctx context.Context) {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for s.loops.conns.Load() > 0 {
		select {
		case <-ctx.Done():
			s.loops.kill()
			return
		case <-t.C:
		}
	}
}

// handleParseError answers what fasthttp could not parse. Nothing of it
// was forwarded.
func (s *Server) handleParseError(ctx *fasthttp.RequestCtx, err error) {
	status := 400
	reason := ReasonMalformedRequest
	var small *fasthttp.ErrSmallBuffer
	switch {
	case unsupportedTE(err):
		status, reason = 501, ReasonUnsupportedTE
	case errors.As(err, &small):
		status = 431
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		status = 413
	case isTimeout(err):
		status = 408
	}
	writeErrorResponse(&ctx.Response, status)
	ctx.SetConnectionClose()
	s.counters.Requests.Add(1)
	s.counters.ELB4xx.Add(1)
	if status >= 500 {
		s.counters.ELB4xx.Add(^uint64(0))
		s.counters.ELB5xx.Add(1)
	}
	s.counters.NonCompliant.Add(1)
	s.counters.Blocked.Add(1)
	if s.obs != nil {
		x := acquireExchange()
		x.rec.Listener = s.name
		x.rec.Type = s.recType(false)
		x.rec.Received = time.Now()
		x.rec.Done = x.rec.Received
		x.rec.Client = addrPort(ctx.RemoteAddr())
		x.rec.Status = status
		x.rec.ErrorReason = reason
		x.rec.Classification = "Severe"
		x.rec.ClassificationReason = reason
		s.observe(&x.rec)
		releaseExchange(x)
	}
}

func (s *Server) recType(ws bool) string {
	switch {
	case ws && s.https:
		return "wss"
	case ws:
		return "ws"
	case s.https:
		return "https"
	}
	return "http"
}

// handle is the fasthttp handler: it owns the exchange until it returns,
// unless a streamed response body takes it over.
func (s *Server) handle(ctx *fasthttp.RequestCtx) {
	s.counters.ActiveRequests.Add(1)
	x := acquireExchange()
	x.s = s
	x.r = s.router.Load()
	x.ctx = ctx
	defer func() {
		if p := recover(); p != nil {
			x.panicked(p)
		}
		x.closeIfDue(connStart(ctx))
		if !x.streaming {
			x.finish()
		}
	}()
	x.serve()
}

// panicked answers a request whose handling panicked with p: 500, the
// connection closed after it, the panic counted and logged.
func (x *exchange) panicked(p any) {
	s, ctx := x.s, x.ctx
	s.counters.Panics.Add(1)
	s.log.Error("l7: handler panic", "listener", s.name, "client_ip", x.view.Client.Addr().String(),
		"err", fmt.Sprintf("%v\n%s", p, debug.Stack()))
	x.abandonUpstream()
	writeErrorResponse(&ctx.Response, 500)
	ctx.SetConnectionClose()
	x.rec.Status = 500
	x.rec.ErrorReason = ReasonPanic
	s.counters.ELB5xx.Add(1)
}

// closeIfDue makes the answer close the connection when the server drains
// or the connection, accepted at born, is past its lifetime. Measured at
// arrival (no clock read): a connection past its lifetime closes after
// this response either way.
func (x *exchange) closeIfDue(born time.Time) {
	if x.s.draining.Load() || x.rec.Received.Sub(born) > x.s.maxConn {
		x.ctx.SetConnectionClose()
	}
}

// connID identifies the client connection: a plain connection keeps the
// fasthttp ID of its first request across parking (fasthttp numbers a
// connection served again as a new one).
func connID(ctx *fasthttp.RequestCtx) uint64 {
	if lc, ok := ctx.Conn().(*lconn); ok {
		return lc.id
	}
	if dc, ok := ctx.Conn().(*deadlineConn); ok {
		if dc.connID == 0 {
			dc.connID = ctx.ConnID()
		}
		return dc.connID
	}
	return ctx.ConnID()
}

// connStart is when the client connection was accepted. A plain
// connection carries it in its deadlineConn: with ReduceMemoryUsage
// fasthttp's ConnTime is that of whichever RequestCtx the pool handed out.
func connStart(ctx *fasthttp.RequestCtx) time.Time {
	if lc, ok := ctx.Conn().(*lconn); ok {
		return lc.born
	}
	if dc, ok := ctx.Conn().(*deadlineConn); ok {
		return dc.born
	}
	return ctx.ConnTime()
}

// addrPort converts a net.Addr to netip.AddrPort without allocating for
// TCP addresses.
func addrPort(a net.Addr) netip.AddrPort {
	switch t := a.(type) {
	case *net.TCPAddr:
		return t.AddrPort()
	case *net.UDPAddr:
		return t.AddrPort()
	}
	if a == nil {
		return netip.AddrPort{}
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

// tlsFacts reads the TLS facts of c.
func (s *Server) tlsFacts(c net.Conn) TLSFacts {
	if s.opts.TLSFacts != nil {
		f := s.opts.TLSFacts(c).normalized()
		f.On = true
		return f
	}
	cs, ok := c.(interface{ ConnectionState() tls.ConnectionState })
	if !ok {
		return TLSFacts{}
	}
	st := cs.ConnectionState()
	return TLSFacts{On: true, Version: tlsVersionName(st.Version), Cipher: cipherName(st.CipherSuite), ServerName: st.ServerName}
}

func tlsVersionName(v uint16) string {
	switch v {
	case tls.VersionTLS10:
		return "TLSv1"
	case tls.VersionTLS11:
		return "TLSv1.1"
	case tls.VersionTLS12:
		return "TLSv1.2"
	case tls.VersionTLS13:
		return "TLSv1.3"
	}
	return "-"
}

// cipherName returns the OpenSSL name ALB logs for the common suites.
func cipherName(id uint16) string {
	switch id {
	case tls.TLS_AES_128_GCM_SHA256:
		return "TLS_AES_128_GCM_SHA256"
	case tls.TLS_AES_256_GCM_SHA384:
		return "TLS_AES_256_GCM_SHA384"
	case tls.TLS_CHACHA20_POLY1305_SHA256:
		return "TLS_CHACHA20_POLY1305_SHA256"
	case tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256:
		return "ECDHE-RSA-AES128-GCM-SHA256"
	case tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384:
		return "ECDHE-RSA-AES256-GCM-SHA384"
	case tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256:
		return "ECDHE-ECDSA-AES128-GCM-SHA256"
	case tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384:
		return "ECDHE-ECDSA-AES256-GCM-SHA384"
	case tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256:
		return "ECDHE-RSA-CHACHA20-POLY1305"
	case tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256:
		return "ECDHE-ECDSA-CHACHA20-POLY1305"
	}
	return tls.CipherSuiteName(id)
}

// slogPrintf adapts fasthttp's Printf logger to slog at debug level.
type slogPrintf struct{ l *slog.Logger }

func (p slogPrintf) Printf(format string, args ...any) {
	p.l.Debug("l7: fasthttp: " + fmt.Sprintf(format, args...))
}

// unsupportedTE reports a request refused for a transfer coding other than
// chunked (ALB: 501). "chunked" twice, in one field or two, is a framing
// attack instead (MultipleTransferEncodingChunked: 400). fasthttp does not
// say which, so the request bytes it quotes in the error are read.
func unsupportedTE(err error) bool {
	msg := err.Error()
	if !strings.Contains(msg, "unsupported transfer-encoding") {
		return false
	}
	const p = "contents: "
	i := strings.Index(msg, p)
	if i < 0 {
		return true
	}
	raw, uerr := strconv.Unquote(msg[i+len(p):])
	if uerr != nil {
		return true
	}
	chunked := 0
	for _, line := range strings.Split(raw, "\r\n") {
		name, val, ok := strings.Cut(line, ":")
		if !ok || !strings.EqualFold(strings.TrimSpace(name), "Transfer-Encoding") {
			continue
		}
		for _, tok := range strings.Split(val, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "chunked") {
				chunked++
			}
		}
	}
	return chunked < 2
}
