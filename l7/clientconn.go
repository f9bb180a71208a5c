package l7

import (
	"net"
	"sync/atomic"
	"time"
)

// deadlineListener wraps plain client connections in deadlineConn. TLS
// connections are left as they are: fasthttp and the TLS facts look for
// *tls.Conn's methods on the connection itself.
type deadlineListener struct{ net.Listener }

func (l deadlineListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return c, err
	}
	if _, isTLS := c.(interface{ Handshake() error }); isTLS {
		return c, nil
	}
	return &deadlineConn{Conn: c, born: time.Now()}, nil
}

// deadlineConn drops a deadline update that would move the deadline later
// by at most deadlineSlack. fasthttp sets three deadlines per keep-alive
// request (idle wait, header read, response write), each a runtime timer
// update; under load they land microseconds apart on the same value plus
// the timeout, so most are redundant. A deadline moved earlier (a drain,
// a tunnel ending) or cleared is always applied; a skipped one leaves the
// earlier deadline in force, so a timeout may fire up to deadlineSlack
// before the asked time, never after it.
type deadlineConn struct {
	net.Conn
	// rd and wd are the applied deadlines in Unix nanoseconds, 0 for none.
	// Atomic: shutdown and tunnel goroutines set deadlines too.
	rd, wd atomic.Int64
	// born is when the connection was accepted (ClientKeepAlive counts
	// from it).
	born time.Time
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
	if skipDeadline(&c.rd, t) {
		return nil
	}
	return c.Conn.SetReadDeadline(t)
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
	c.rd.Store(n)
	c.wd.Store(n)
	return c.Conn.SetDeadline(t)
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
