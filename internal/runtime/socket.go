package runtime

import (
	"errors"
	"net"
	"sync"
	"time"
)

// ConnCounter is told of every connection a Socket accepts and of its
// close (obs.ListenerMetrics is one).
type ConnCounter interface {
	ConnOpened()
	ConnClosed()
}

// Socket is one listening address. It outlives snapshots: a reload that
// keeps the address keeps the Socket, so no connection attempt is refused
// while the config changes (caddy listen.go). One goroutine accepts and
// hands connections to whichever server currently holds the Socket through
// a Handoff; a server replaced by a reload closes only its Handoff, never
// the Socket.
type Socket struct {
	key   string // the address as written in the config
	ln    net.Listener
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
	cc    ConnCounter
	ccMu  sync.Mutex
}

// NewSocket starts accepting on ln; every accepted connection is counted
// by cc until it closes. cc must not be nil.
func NewSocket(key string, ln net.Listener, cc ConnCounter) *Socket {
	s := &Socket{key: key, ln: ln, conns: make(chan net.Conn), done: make(chan struct{}), cc: cc}
	go s.acceptLoop()
	return s
}

// Key is the key the Socket was opened under.
func (s *Socket) Key() string { return s.key }

// Addr is the bound address (with the port a ":0" picked).
func (s *Socket) Addr() string { return s.ln.Addr().String() }

// SetCounter counts connections accepted from now on in cc (a reload may
// rename the listener).
func (s *Socket) SetCounter(cc ConnCounter) {
	s.ccMu.Lock()
	s.cc = cc
	s.ccMu.Unlock()
}

func (s *Socket) counter() ConnCounter {
	s.ccMu.Lock()
	defer s.ccMu.Unlock()
	return s.cc
}

func (s *Socket) acceptLoop() {
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
			s.Close()
			return
		}
		delay = 0
		cc := s.counter()
		cc.ConnOpened()
		conn := &countedConn{Conn: c, cc: cc}
		select {
		case s.conns <- conn:
		case <-s.done:
			conn.Close()
			return
		}
	}
}

func isTemporary(err error) bool {
	t, ok := err.(interface{ Temporary() bool })
	return ok && t.Temporary()
}

// Close stops accepting: new connections are refused by the kernel.
// Connections already handed to servers are theirs to close.
func (s *Socket) Close() {
	s.once.Do(func() {
		close(s.done)
		s.ln.Close()
	})
}

// Handoff returns a net.Listener view of s for one server.
func (s *Socket) Handoff() *Handoff {
	return &Handoff{s: s, closed: make(chan struct{})}
}

// Handoff is what a server Serves on: Accept takes from the Socket's
// accept loop; Close detaches this server only.
type Handoff struct {
	s      *Socket
	closed chan struct{}
	once   sync.Once
}

// Accept returns the next connection of the Socket, or net.ErrClosed once
// this Handoff or the Socket is closed.
func (h *Handoff) Accept() (net.Conn, error) {
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

// Close detaches this Handoff; the Socket keeps accepting for others.
func (h *Handoff) Close() error {
	h.once.Do(func() { close(h.closed) })
	return nil
}

// Addr is the Socket's bound address.
func (h *Handoff) Addr() net.Addr { return h.s.ln.Addr() }

// countedConn keeps the active-connections gauge right however the
// server ends the connection.
type countedConn struct {
	net.Conn
	cc   ConnCounter
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(c.cc.ConnClosed)
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
