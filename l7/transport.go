package l7

import (
	"crypto/tls"
	"errors"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// TransportOptions are the limits of the connections to targets. Zero
// fields take the defaults named on each.
type TransportOptions struct {
	// ConnectTimeout bounds a TCP connect to a target (default 10s, ALB's).
	ConnectTimeout time.Duration
	// ResponseTimeout is how long the target may stay silent while we wait
	// for or read its response (default 60s, ALB's idle timeout); past it
	// the client gets 504.
	ResponseTimeout time.Duration
	// WriteTimeout is how long a write to the target may block (default 60s).
	WriteTimeout time.Duration
	// MaxConnsPerTarget caps open connections to one target (default 1024).
	MaxConnsPerTarget int
	// MaxConnWaitTimeout is how long a request waits for a free connection
	// when the cap is reached before failing with 503 (default 1s).
	MaxConnWaitTimeout time.Duration
	// MaxIdleConnDuration closes pooled connections idle this long
	// (default 50s; keep it below the targets' keep-alive timeout).
	MaxIdleConnDuration time.Duration
	// ReadBufferSize is the per-connection read buffer; it also caps the
	// response header block (default 32 KiB, ALB's limit; larger → 502).
	ReadBufferSize int
	// WriteBufferSize is the per-connection write buffer (default 16 KiB).
	WriteBufferSize int
	// TLSConfig is used for HTTPS target groups. The default, like ALB,
	// does not verify target certificates.
	TLSConfig *tls.Config
}

func (o TransportOptions) withDefaults() TransportOptions {
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	if o.ResponseTimeout <= 0 {
		o.ResponseTimeout = 60 * time.Second
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 60 * time.Second
	}
	if o.MaxConnsPerTarget <= 0 {
		o.MaxConnsPerTarget = 1024
	}
	if o.MaxConnWaitTimeout <= 0 {
		o.MaxConnWaitTimeout = time.Second
	}
	if o.MaxIdleConnDuration <= 0 {
		o.MaxIdleConnDuration = 50 * time.Second
	}
	if o.ReadBufferSize <= 0 {
		o.ReadBufferSize = 32 << 10
	}
	if o.WriteBufferSize <= 0 {
		o.WriteBufferSize = 16 << 10
	}
	if o.TLSConfig == nil {
		// ALB does not validate target certificates (elb.md §2.1).
		o.TLSConfig = &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12} //nolint:gosec // ALB semantics
	}
	return o
}

// Transport holds the keep-alive connection pools to targets, one per
// target address and scheme. It outlives config snapshots: build one per
// process and hand it to every NewTargetGroup, so a reload keeps the warm
// connections of targets that stay. Safe for concurrent use.
type Transport struct {
	opts    TransportOptions
	dialer  net.Dialer
	mu      sync.Mutex
	clients map[poolKey]*fasthttp.HostClient
	drain   drainWatch
	// loop counts the event loops' connections per target address
	// (*atomic.Int64), which MaxConnsPerTarget caps across loops.
	loop sync.Map
}

// loopConns returns the event loops' connection count for addr.
func (t *Transport) loopConns(addr string) *atomic.Int64 {
	if v, ok := t.loop.Load(addr); ok {
		return v.(*atomic.Int64)
	}
	v, _ := t.loop.LoadOrStore(addr, new(atomic.Int64))
	return v.(*atomic.Int64)
}

type poolKey struct {
	addr string
	tls  bool
}

// NewTransport returns an empty set of pools.
func NewTransport(o TransportOptions) *Transport {
	o = o.withDefaults()
	return &Transport{
		opts:    o,
		dialer:  net.Dialer{Timeout: o.ConnectTimeout},
		clients: make(map[poolKey]*fasthttp.HostClient),
	}
}

// Options returns the effective options (defaults filled in).
func (t *Transport) Options() TransportOptions { return t.opts }

// client returns the pool for addr, creating it on first use.
func (t *Transport) client(addr string, isTLS bool) *fasthttp.HostClient {
	k := poolKey{addr, isTLS}
	t.mu.Lock()
	defer t.mu.Unlock()
	if c, ok := t.clients[k]; ok {
		return c
	}
	c := &fasthttp.HostClient{
		Addr:                addr,
		IsTLS:               isTLS,
		TLSConfig:           t.opts.TLSConfig,
		Dial:                dialFor(t, isTLS),
		MaxConns:            t.opts.MaxConnsPerTarget,
		MaxConnWaitTimeout:  t.opts.MaxConnWaitTimeout,
		MaxIdleConnDuration: t.opts.MaxIdleConnDuration,
		ReadBufferSize:      t.opts.ReadBufferSize,
		WriteBufferSize:     t.opts.WriteBufferSize,
		// Timeouts are idle timeouts enforced per read/write by idleConn, so
		// a 1 GiB body is not cut by a whole-response deadline.
		ReadTimeout:  0,
		WriteTimeout: 0,
		// The exchange itself is roundTrip's (no Do: no fasthttp retries,
		// no response wrapping); these only keep Do safe if ever used.
		MaxIdemponentCallAttempts:     1,
		StreamResponseBody:            true,
		DisableHeaderNamesNormalizing: false,
		DisablePathNormalizing:        true,
		NoDefaultUserAgentHeader:      true,
		SecureErrorLogMessage:         true,
		ConnPoolStrategy:              fasthttp.LIFO,
	}
	t.clients[k] = c
	return c
}

func dialFor(t *Transport, isTLS bool) fasthttp.DialFunc {
	if isTLS {
		return t.dialTLS
	}
	return t.dial
}

// CloseIdleConnections closes the pooled connections not in use, for
// example after targets left the registry.
func (t *Transport) CloseIdleConnections() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range t.clients {
		c.CloseIdleConnections()
	}
}

// Forget drops the pool of addr (after the target has left every group).
func (t *Transport) Forget(addr string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, tl := range []bool{false, true} {
		k := poolKey{addr, tl}
		if c, ok := t.clients[k]; ok {
			c.CloseIdleConnections()
			delete(t.clients, k)
		}
	}
}

func (t *Transport) dial(addr string) (net.Conn, error) {
	return t.dialPeek(addr, true)
}

func (t *Transport) dialTLS(addr string) (net.Conn, error) {
	// TLS targets may send records (session tickets) after a response; a
	// peek would call those stale, so TLS pools do not peek.
	return t.dialPeek(addr, false)
}

func (t *Transport) dialPeek(addr string, peek bool) (net.Conn, error) {
	c, err := t.dialer.Dial("tcp", addr)
	if err != nil {
		return nil, &dialError{err: err}
	}
	ic := &idleConn{Conn: c, read: t.opts.ResponseTimeout, write: t.opts.WriteTimeout}
	ic.w = &t.drain
	t.drain.add(ic)
	if tc, ok := c.(*net.TCPConn); ok && peek {
		if rc, err := tc.SyscallConn(); err == nil {
			ic.peek = newPeeker(rc)
		}
	}
	return ic, nil
}

// errStaleConn is returned by idleConn.Write, before any byte of a new
// request is written, when the pooled connection is found closed or
// poisoned; the request was not sent and may go on another connection.
var errStaleConn = errors.New("l7: pooled target connection closed or sent unsolicited bytes")

// idleConn turns the read and write timeouts into idle timeouts: every
// Read and Write pushes its own deadline forward, so the target may take
// as long as it likes in total, but never stay silent longer than the
// timeout (ALB's idle-timeout semantics).
//
// Moving a deadline costs a timer update in the runtime poller, so it is
// only moved when it would move by more than deadlineSlack: the idle
// timeout is exact to within that.
type idleConn struct {
	net.Conn
	read, write time.Duration
	rdl, wdl    idleDeadline
	// peek, when set, lets a reused connection be checked before a new
	// request goes out on it; readSinceWrite marks that the next Write
	// starts a new request.
	peek           *peeker
	readSinceWrite bool
	connTrack
}

// deadlineSlack is how far a deadline may lag behind "now + timeout".
const deadlineSlack = 250 * time.Millisecond

// idleDeadline tracks when an idle deadline was last pushed forward. The
// check per I/O reads only the monotonic clock (time.Since of a time.Now
// value); the wall clock is read only when the deadline actually moves.
type idleDeadline struct{ set time.Time }

// due reports whether the deadline lags behind "now + timeout" by more
// than deadlineSlack.
func (d *idleDeadline) due() bool { return time.Since(d.set) > deadlineSlack }

// next records that the deadline moves now and returns it.
func (d *idleDeadline) next(timeout time.Duration) time.Time {
	now := time.Now()
	d.set = now
	return now.Add(timeout)
}

func (c *idleConn) Read(p []byte) (int, error) {
	if !c.readSinceWrite {
		// The first read after a request went out: the target cannot have
		// answered yet, so reading now would fail with EAGAIN and park.
		// Letting the other requests run first usually finds the answer
		// there (one read syscall and one netpoll wake-up fewer per
		// request under load); with nothing else to run, this returns at
		// once.
		runtime.Gosched()
	}
	c.readSinceWrite = true
	if c.rdl.due() {
		_ = c.Conn.SetReadDeadline(c.rdl.next(c.read))
	}
	return c.Conn.Read(p)
}

func (c *idleConn) Write(p []byte) (int, error) {
	if c.readSinceWrite {
		c.readSinceWrite = false
		if c.peek != nil && c.peek.stale() {
			return 0, errStaleConn
		}
	}
	if c.wdl.due() {
		_ = c.Conn.SetWriteDeadline(c.wdl.next(c.write))
	}
	return c.Conn.Write(p)
}

// SetReadDeadline and SetWriteDeadline ignore fasthttp's whole-exchange
// deadlines; the idle deadlines above govern.
func (c *idleConn) SetReadDeadline(time.Time) error  { return nil }
func (c *idleConn) SetWriteDeadline(time.Time) error { return nil }
func (c *idleConn) SetDeadline(time.Time) error      { return nil }
