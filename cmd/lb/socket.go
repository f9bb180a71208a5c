package main

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/internal/obs"
)

// listen opens lc's socket. TCP and TLS listeners accept without TCP
// keep-alive (KeepAlive -1): l4 flows have their own idle timeout, and
// leaving it off saves the setsockopt calls Go makes on every accepted
// connection. HTTP(S) listeners keep Go's default (15 s probes), which
// finds dead clients of idle keep-alive connections.
func listen(lc config.Listener) (net.Listener, error) {
	lcfg := net.ListenConfig{}
	if isL4(lc.Protocol) {
		lcfg.KeepAlive = -1
	}
	return lcfg.Listen(context.Background(), "tcp", lc.Address)
}

// socket is one listening address. It outlives snapshots: a reload that
// keeps the address keeps the socket, so no connection attempt is refused
// while the config changes. One goroutine accepts and hands connections to
// whichever server currently holds the socket through a handoff; a server
// replaced by a reload closes only its handoff, never the socket.
type socket struct {
	key   string // the address as written in the config
	ln    net.Listener
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
	lm    *obs.ListenerMetrics
	lmMu  sync.Mutex
}

func newSocket(key string, ln net.Listener, lm *obs.ListenerMetrics) *socket {
	s := &socket{key: key, ln: ln, conns: make(chan net.Conn), done: make(chan struct{}), lm: lm}
	go s.acceptLoop()
	return s
}

// addr is the bound address (with the port a ":0" picked).
func (s *socket) addr() string { return s.ln.Addr().String() }

func (s *socket) setMetrics(lm *obs.ListenerMetrics) {
	s.lmMu.Lock()
	s.lm = lm
	s.lmMu.Unlock()
}

func (s *socket) metrics() *obs.ListenerMetrics {
	s.lmMu.Lock()
	defer s.lmMu.Unlock()
	return s.lm
}

func (s *socket) acceptLoop() {
	var delay time.Duration
	for {
		c, err := s.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				// EMFILE and friends: back off instead of spinning (net/http's rule).
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				select {
				case <-time.After(delay):
					continue
				case <-s.done:
					return
				}
			}
			s.close()
			return
		}
		delay = 0
		lm := s.metrics()
		lm.ConnOpened()
		cc := &countedConn{Conn: c, lm: lm}
		select {
		case s.conns <- cc:
		case <-s.done:
			cc.Close()
			return
		}
	}
}

func isTemporary(err error) bool {
	t, ok := err.(interface{ Temporary() bool })
	return ok && t.Temporary()
}

// close stops accepting: new connections are refused by the kernel.
func (s *socket) close() {
	s.once.Do(func() {
		close(s.done)
		s.ln.Close()
	})
}

// handoff returns a net.Listener view of s for one server.
func (s *socket) handoff() *handoff {
	return &handoff{s: s, closed: make(chan struct{})}
}

// handoff is what a server Serves on: Accept takes from the socket's
// accept loop; Close detaches this server only.
type handoff struct {
	s      *socket
	closed chan struct{}
	once   sync.Once
}

func (h *handoff) Accept() (net.Conn, error) {
	select {
	case <-h.closed:
		return nil, net.ErrClosed
	default:
	}
	select {
	case c := <-h.s.conns:
		return c, nil
	case <-h.closed:
		return nil, net.ErrClosed
	case <-h.s.done:
		return nil, net.ErrClosed
	}
}

func (h *handoff) Close() error {
	h.once.Do(func() { close(h.closed) })
	return nil
}

func (h *handoff) Addr() net.Addr { return h.s.ln.Addr() }

// countedConn keeps the active-connections gauge right however the
// server ends the connection.
type countedConn struct {
	net.Conn
	lm   *obs.ListenerMetrics
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(c.lm.ConnClosed)
	return c.Conn.Close()
}

// NetConn returns the accepted connection, for code that unwraps to
// *net.TCPConn (splice, half-close).
func (c *countedConn) NetConn() net.Conn { return c.Conn }

// CloseWrite half-closes when the accepted connection can.
func (c *countedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}
