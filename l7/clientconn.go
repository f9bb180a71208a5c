package l7

import (
	"crypto/tls"
	"errors"
	"net"
	"sync/atomic"
	"time"
)

// deadlineListener wraps plain client connections in deadlineConn. TLS
// connections are left as they are: fasthttp and the TLS facts look for
// *tls.Conn's methods on the connection itself.
type deadlineListener struct {
	net.Listener
	// p parks idle keep-alive connections; nil leaves every connection
	// with its fasthttp goroutine.
	p *parker
	// loops, when set, take the plain-TCP connections (event loops).
	loops *loopSet
}

func (l deadlineListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return c, err
		}
		if _, isTLS := c.(interface{ Handshake() error }); isTLS {
			return c, nil
		}
		if l.loops != nil && parkable(c) && l.loops.take(c) {
			continue
		}
		return l.wrap(c), nil
	}
}

func (l deadlineListener) wrap(c net.Conn) net.Conn {
	dc := &deadlineConn{Conn: c, born: time.Now()}
	if l.p != nil && parkable(c) {
		dc.p = l.p
	}
	return dc
}

// parkable reports whether every byte of c not yet read is still in the
// kernel, so that c can wait in the parker with nothing buffered above the
// socket: c unwraps (NetConn) down to a *net.TCPConn and no layer on the way
// is TLS. A PROXY-protocol connection (go-proxyproto's buffered reader)
// does not unwrap that way and is never parked.
func parkable(c net.Conn) bool {
	for range 8 {
		switch t := c.(type) {
		case *net.TCPConn:
			return true
		case interface{ Handshake() error }, interface{ ConnectionState() tls.ConnectionState }:
			return false
		case interface{ NetConn() net.Conn }:
			c = t.NetConn()
		default:
			return false
		}
	}
	return false
}

// deadlineConn drops a deadline update that would move the deadline later
// by at most deadlineSlack. fasthttp sets three deadlines per keep-alive
// request (idle wait, header read, response write), each a runtime timer
// update; under load they land microseconds apart on the same value plus
// the timeout, so most are redundant. A deadline moved earlier (a drain,
// a tunnel ending) or cleared is always applied; a skipped one leaves the
// earlier deadline in force, so a timeout may fire up to deadlineSlack
// before the asked time, never after it.
//
// With a parker (p), it also takes an idle keep-alive connection away from
// its fasthttp goroutine (see parker): fasthttp's ConnState hook arms it
// once a response is done (StateIdle), the read deadline fasthttp sets
// next is the idle wait's, and the Read that follows is the idle wait.
// That Read waits at most parkAfter (the read deadline is capped there);
// if nothing came, it returns errParked, fasthttp ends its loop as for a
// keep-alive connection closing, and Close hands the socket to the parker
// instead of closing it. Later read deadlines (the header's, the body's)
// are not applied over the cap: Read extends the deadline when the cap
// fires first, so under load the cap costs no extra timer update.
type deadlineConn struct {
	net.Conn
	// rd and wd are the applied deadlines in Unix nanoseconds, 0 for none.
	// Atomic: shutdown and tunnel goroutines set deadlines too.
	rd, wd atomic.Int64
	// born is when the connection was accepted (ClientKeepAlive counts
	// from it).
	born time.Time

	// p is the parker, nil when the connection cannot park.
	p *parker
	// state is one of the conn* states below.
	state atomic.Int32
	// rdAsk is the read deadline last asked for (Unix ns, 0 for none);
	// it differs from rd while capped.
	rdAsk atomic.Int64
	// capped is set while rd is a park cap earlier than rdAsk.
	capped atomic.Bool
	// connID is the fasthttp connection ID of the connection's first
	// request: a connection served again after parking keeps it (the
	// access log's conn_trace_id).
	connID uint64
	// token identifies the connection in the parker while parked; inSet
	// is set once its socket is in the parker's epoll set. Both under
	// the parker's mu.
	token int32
	inSet bool
	// parkedAt is when it last parked (Unix ns); warm is set when it was
	// woken within parkWarmWake of that. Written by the parker under
	// its mu, read by the goroutine that serves the connection next.
	parkedAt int64
	warm     bool
}

// Connection states (deadlineConn.state).
const (
	connOpen     = iota // served by fasthttp, not waiting for a request
	connArmed           // a response is done: the next read deadline is the idle wait's
	connIdleWait        // the next Read is the idle wait
	connParkReq         // the idle wait ended with nothing read: Close parks
	connParked          // held by the parker, no goroutine
	connClosed
)

// errParked ends fasthttp's loop for a connection the parker takes over:
// nothing of a next request was read, so fasthttp treats it as a
// keep-alive connection closing and writes nothing.
var errParked = errors.New("l7: idle connection parked")

// parkAfter is how long an idle keep-alive connection keeps its goroutine
// while few connections are idle-waiting: longer than any gap of a busy
// keep-alive client, so a connection under load never parks (a parked
// connection's next request costs a wake-up: 256 connections at 5000
// req/s in all, each parking between requests, took 1.37x the CPU per
// request). parkAfterBusy applies once parkBusyWaiters connections are
// idle-waiting at once: with many idle connections the goroutines (and
// the read buffers) they hold are what costs memory, a peak the runtime
// keeps, so they park soon. Measured with bench/lb-idle-mem.sh (10 000
// connections opened 64 at a time): 1 s always, 154.7 MiB; 20 ms past
// 128 waiters, 38.1 MiB; past 512, 43.4 MiB; past 1024, 51.8 MiB;
// 100 ms past 128, 52.9 MiB. Variables so tests can shorten them; a
// parker copies them when it is made.
var (
	parkAfter       = time.Second
	parkAfterBusy   = 20 * time.Millisecond
	parkBusyWaiters = int32(512)
	// parkWarmWake: a connection woken this soon after it parked keeps
	// the long wait next time even when many are idle-waiting, so a
	// client with gaps of tens of milliseconds does not pay a wake-up
	// per request; memory then grows with clients active within parkAfter
	// (as before parking), not with idle ones.
	parkWarmWake = 200 * time.Millisecond
)

// connIdle is called from fasthttp's ConnState hook when a response is
// done (StateIdle): it arms the idle-wait detection of a parkable
// connection.
func connIdle(c net.Conn) {
	if dc, ok := c.(*deadlineConn); ok && dc.p != nil {
		dc.state.CompareAndSwap(connOpen, connArmed)
	}
}

func skipDeadline(applied *atomic.Int64, t time.Time) bool {
	var n int64
	if !t.IsZero() {
		n = t.UnixNano()
	}
	old := applied.Load()
	if old != 0 && n >= old && n-old <= int64(deadlineSlack) {
		return true
	}
	applied.Store(n)
	return false
}

func (c *deadlineConn) SetReadDeadline(t time.Time) error {
	if c.p != nil {
		return c.setReadDeadlineParking(t)
	}
	if skipDeadline(&c.rd, t) {
		return nil
	}
	return c.Conn.SetReadDeadline(t)
}

func (c *deadlineConn) setReadDeadlineParking(t time.Time) error {
	var n int64
	if !t.IsZero() {
		n = t.UnixNano()
	}
	c.rdAsk.Store(n)
	switch c.state.Load() {
	case connArmed:
		if n != 0 && c.state.CompareAndSwap(connArmed, connIdleWait) {
			return c.applyCap(n)
		}
	case connIdleWait:
		// A deadline between the idle wait's and its Read: the next
		// request was already buffered (pipelined), fasthttp is reading it.
		c.state.CompareAndSwap(connIdleWait, connOpen)
	}
	if c.capped.Load() {
		if n == 0 || n >= c.rd.Load() {
			return nil // Read extends the cap if it fires first
		}
		c.capped.Store(false)
	}
	if skipDeadline(&c.rd, t) {
		return nil
	}
	return c.Conn.SetReadDeadline(t)
}

// applyCap sets the idle wait's read deadline: the asked one (n) or
// parkAfter from now, whichever is first. fasthttp asked for now + the
// idle timeout, so now is read off n, not off the clock. A cap within a
// quarter of the wait of the one in force is not applied: the wait may
// end that much early.
func (c *deadlineConn) applyCap(n int64) error {
	wait := c.p.after
	if !c.warm && c.p.idleWaiting() >= int64(c.p.busyWaiters) {
		wait = c.p.busyAfter
	}
	target := min(n, n-int64(c.p.idle)+int64(wait))
	old := c.rd.Load()
	if c.capped.Load() && old != 0 && old <= target && target-old <= int64(wait)/4 {
		return nil
	}
	c.rd.Store(target)
	c.capped.Store(true)
	return c.Conn.SetReadDeadline(time.Unix(0, target))
}

func (c *deadlineConn) SetWriteDeadline(t time.Time) error {
	if skipDeadline(&c.wd, t) {
		return nil
	}
	return c.Conn.SetWriteDeadline(t)
}

func (c *deadlineConn) SetDeadline(t time.Time) error {
	var n int64
	if !t.IsZero() {
		n = t.UnixNano()
	}
	c.rdAsk.Store(n)
	c.capped.Store(false)
	c.rd.Store(n)
	c.wd.Store(n)
	return c.Conn.SetDeadline(t)
}

func (c *deadlineConn) Read(b []byte) (int, error) {
	if c.state.Load() == connIdleWait {
		return c.idleRead(b)
	}
	n, err := c.Conn.Read(b)
	if err != nil && n == 0 && c.capped.Load() {
		return c.readPastCap(b, err)
	}
	return n, err
}

// idleRead is the wait for a keep-alive connection's next request. When
// the park cap ends it before the idle timeout, with nothing read, the
// connection is marked for parking and fasthttp gets errParked.
func (c *deadlineConn) idleRead(b []byte) (int, error) {
	c.state.CompareAndSwap(connIdleWait, connOpen)
	n, err := c.Conn.Read(b)
	if err == nil || n > 0 || !c.capped.Load() || !isTimeout(err) {
		return n, err
	}
	if ask := c.rdAsk.Load(); ask != 0 && time.Now().UnixNano() >= ask {
		return n, err // the idle timeout itself
	}
	if c.state.CompareAndSwap(connOpen, connParkReq) {
		return 0, errParked
	}
	return n, err
}

// readPastCap handles a Read that failed while a park cap was in force:
// when it was the cap that fired, before the deadline asked for, the asked
// deadline is applied and the Read retried.
func (c *deadlineConn) readPastCap(b []byte, err error) (int, error) {
	for isTimeout(err) && c.capped.Load() {
		ask := c.rdAsk.Load()
		if ask != 0 && time.Now().UnixNano() >= ask {
			break
		}
		c.capped.Store(false)
		c.rd.Store(ask)
		var t time.Time
		if ask != 0 {
			t = time.Unix(0, ask)
		}
		if serr := c.Conn.SetReadDeadline(t); serr != nil {
			return 0, serr
		}
		if c.rdAsk.Load() != ask {
			// Set concurrently (a wake-up): apply that one instead.
			c.capped.Store(true)
			continue
		}
		var n int
		n, err = c.Conn.Read(b)
		if err == nil || n > 0 {
			return n, err
		}
	}
	return 0, err
}

// Close closes the connection, or parks it when its idle wait ended with
// nothing read. A parked connection is the parker's: Close is then a
// no-op (fasthttp's Shutdown may close an idle connection as its own
// goroutine parks it).
func (c *deadlineConn) Close() error {
	for {
		switch st := c.state.Load(); st {
		case connParkReq:
			if c.state.CompareAndSwap(connParkReq, connParked) {
				c.p.park(c)
				return nil
			}
		case connParked, connClosed:
			return nil
		default:
			if c.state.CompareAndSwap(st, connClosed) {
				return c.Conn.Close()
			}
		}
	}
}

// closeParked closes a connection the parker holds.
func (c *deadlineConn) closeParked() {
	c.state.Store(connClosed)
	_ = c.Conn.Close()
}

// unpark readies a parked connection for fasthttp again: no deadline in
// force (the cap has fired), open.
func (c *deadlineConn) unpark() {
	c.capped.Store(false)
	c.rd.Store(0)
	c.rdAsk.Store(0)
	_ = c.Conn.SetReadDeadline(time.Time{})
	c.state.Store(connOpen)
}

// CloseWrite half-closes when the wrapped connection can (WebSocket
// tunnels pass a client's FIN on).
func (c *deadlineConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}

// NetConn returns the wrapped connection.
func (c *deadlineConn) NetConn() net.Conn { return c.Conn }
