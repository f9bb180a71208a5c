package runtime

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
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
//
// A server that accepts on the listening descriptor itself (l4's event
// loop: no accept goroutine, no channel, the client socket never enters
// Go's netpoller) holds the Socket through a Direct instead. The accept
// goroutine starts with the first Handoff, so a Socket only ever held
// through Directs has none; once started it runs until Close, and the
// connections it takes go to Handoffs and Directs alike (a reload that
// turns an HTTP listener into a TCP one on the same address).
type Socket struct {
	key   string // the address as written in the config
	ln    net.Listener
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
	start sync.Once // starts acceptLoop
	lent  atomic.Bool
	cc    ConnCounter
	ccMu  sync.Mutex
}

// NewSocket takes ln; every accepted connection is counted by cc until it
// closes. cc must not be nil. Accepting starts with the first Handoff (or
// Direct); until then the kernel queues connection attempts.
func NewSocket(key string, ln net.Listener, cc ConnCounter) *Socket {
	return &Socket{key: key, ln: ln, conns: make(chan net.Conn), done: make(chan struct{}), cc: cc}
}

// startAccept runs the accept goroutine from now on.
func (s *Socket) startAccept() {
	s.start.Do(func() { go s.acceptLoop() })
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
		conn := CountedConn(c, cc)
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
// Connections already handed to servers are theirs to close. When the
// descriptor was lent to a Direct, the listening socket is shut down
// first: the holder's duplicate would otherwise keep it listening until
// the holder noticed and closed it.
func (s *Socket) Close() {
	s.once.Do(func() {
		close(s.done)
		if s.lent.Load() {
			if sc, ok := s.ln.(syscall.Conn); ok {
				if rc, err := sc.SyscallConn(); err == nil {
					// Linux stops a listening socket on SHUT_RD: pending and
					// new connection attempts are refused, accept4 on any
					// duplicate fails with EINVAL.
					_ = rc.Control(func(fd uintptr) { _ = syscall.Shutdown(int(fd), syscall.SHUT_RD) })
				}
			}
		}
		s.ln.Close()
	})
}

// Handoff returns a net.Listener view of s for one server.
func (s *Socket) Handoff() *Handoff {
	s.startAccept()
	return &Handoff{s: s, closed: make(chan struct{})}
}

// Direct lends s's listening descriptor to one server that accepts on it
// itself (see Direct).
func (s *Socket) Direct() *Direct {
	s.lent.Store(true)
	return &Direct{Handoff{s: s, closed: make(chan struct{})}}
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

// Direct is a server's hold on a Socket whose listening descriptor it
// accepts on itself: Dup gives it a descriptor of its own, Counter the
// listener's connection counter (the holder counts what it accepts), and
// Accept the connections the Socket's accept goroutine took, which runs
// only when some Handoff (or AcceptInGo) asked for it. Close detaches the
// holder: it must then stop accepting and close its duplicates; the Socket
// keeps listening for others.
type Direct struct {
	Handoff
}

// Dup returns a new close-on-exec descriptor of the listening socket (as
// non-blocking as the Socket's own), owned by the caller, who must close it
// once this Direct or the Socket is closed (Accept then returns
// net.ErrClosed). Accepting on it after the Socket's Close fails (EINVAL).
func (d *Direct) Dup() (int, error) {
	select {
	case <-d.closed:
		return -1, net.ErrClosed
	case <-d.s.done:
		return -1, net.ErrClosed
	default:
	}
	sc, ok := d.s.ln.(syscall.Conn)
	if !ok {
		return -1, fmt.Errorf("socket %s: %T has no descriptor", d.s.key, d.s.ln)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, fmt.Errorf("socket %s: %w", d.s.key, err)
	}
	nfd, derr := -1, error(nil)
	if err := rc.Control(func(fd uintptr) {
		r, _, e := syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_DUPFD_CLOEXEC, 0)
		if e != 0 {
			derr = e
			return
		}
		nfd = int(r)
	}); err != nil {
		return -1, fmt.Errorf("socket %s: %w", d.s.key, err)
	}
	if derr != nil {
		return -1, fmt.Errorf("socket %s: dup: %w", d.s.key, derr)
	}
	return nfd, nil
}

// Counter is the listener's connection counter now (a reload may rename
// the listener): the holder calls ConnOpened for each connection it
// accepts and ConnClosed when it closes it.
func (d *Direct) Counter() ConnCounter { return d.s.counter() }

// AcceptInGo makes the Socket's accept goroutine run, so that Accept
// returns every connection: the holder's fallback when it cannot accept
// on the descriptor itself.
func (d *Direct) AcceptInGo() { d.s.startAccept() }

// CountedConn wraps c, a connection accepted on a listener counted by cc,
// so that its Close is counted once (an event loop that accepted on a
// Direct's descriptor and hands the socket to Go uses it too).
func CountedConn(c net.Conn, cc ConnCounter) net.Conn { return &countedConn{Conn: c, cc: cc} }

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
