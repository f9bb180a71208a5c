//go:build linux

package l7

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/switchyard/switchyard/internal/rawsock"
	"github.com/switchyard/switchyard/internal/runtime"
)

// Accepting in the loops (see directListener). Each loop holds its own
// duplicate of the listening descriptor, level-triggered and with
// EPOLLEXCLUSIVE so that one loop wakes per connection; it calls accept4
// (one connection per event) and serves the socket as a raw descriptor.
// A connection that leaves the loop gets its descriptor wrapped
// (net.FileConn) on the goroutine that takes it, so the loop never waits
// for that. With short connections (one request each) the accept
// goroutine, the netpoller's registration and removal, and the hand-over
// to the loop were about a fifth of lb's CPU (perf, session 8).

// epollExclusive is EPOLLEXCLUSIVE (Linux 4.5), which syscall lacks.
const epollExclusive = 1 << 28

// acceptor is one loop's hold on a directListener: its own duplicate of
// the listening descriptor. Its fields are the loop's except stop.
type acceptor struct {
	dl  directListener
	fd  int // -1 once closed
	tag uint32
	// local is the bound address, invalid when it is a wildcard (then
	// getsockname asks per connection).
	local netip.AddrPort
	// nodelay: TCP_NODELAY is set on the listening socket, and Linux
	// copies it to every accepted one.
	nodelay bool
	// stop: Serve returned; the loop drops the acceptor.
	stop atomic.Bool
	// paused: out of the epoll set after EMFILE and friends, until resume.
	paused bool
	resume time.Time
	delay  time.Duration
}

// serveDirect gives each loop an acceptor on dl; none when the loops
// cannot take the socket (the caller then accepts in Go).
func (ls *loopSet) serveDirect(dl directListener) []*acceptor {
	if ls == nil || ls.stopping.Load() {
		return nil
	}
	loops := ls.start()
	local := addrPort(dl.Addr())
	if local.Addr().IsUnspecified() {
		local = netip.AddrPort{}
	}
	var accs []*acceptor
	for _, l := range loops {
		fd, err := dl.Dup()
		if err != nil {
			ls.s.log.Warn("l7: listening socket for the event loop; accepting in Go", "listener", ls.s.name, "err", err)
			break
		}
		a := &acceptor{dl: dl, fd: fd, local: local}
		a.nodelay = rawsock.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1) == 0
		if !l.queueAcceptor(a) {
			rawClose(fd)
			break
		}
		accs = append(accs, a)
	}
	return accs
}

// stopAccepting makes the loops drop accs (Serve returned).
func (ls *loopSet) stopAccepting(accs []*acceptor) {
	if ls == nil || len(accs) == 0 {
		return
	}
	for _, a := range accs {
		a.stop.Store(true)
	}
	ls.wakeAll(false)
}

// queueAcceptor hands a to the loop; false when the loop has ended.
func (l *httpLoop) queueAcceptor(a *acceptor) bool {
	l.qmu.Lock()
	defer l.qmu.Unlock()
	if l.closed {
		return false
	}
	l.accIn = append(l.accIn, a)
	l.signal()
	return true
}

// addAcceptor puts a's descriptor in the epoll set.
func (l *httpLoop) addAcceptor(a *acceptor) {
	a.tag = l.nextTag()
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | epollExclusive, Fd: int32(a.fd), Pad: int32(a.tag)}
	if e := rawsock.EpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, a.fd, &ev); e != 0 {
		l.s.log.Error("l7: epoll_ctl listening socket; accepting in Go", "listener", l.s.name, "err", e)
		rawClose(a.fd)
		a.fd = -1
		a.dl.AcceptInGo()
		return
	}
	*l.slot(a.fd) = loopSlot{a: a, tag: a.tag}
	l.accs = append(l.accs, a)
	l.ls.accepting.Add(1)
}

// dropAcceptor takes a out of the loop and closes its descriptor; with
// fallback (the loop cannot go on accepting, the server still serves) the
// listener's connections are accepted in Go from now on.
func (l *httpLoop) dropAcceptor(a *acceptor, fallback bool) {
	if a.fd < 0 {
		return
	}
	l.slots[a.fd] = loopSlot{}
	rawClose(a.fd) // closing removes it from the epoll set
	a.fd = -1
	for i, b := range l.accs {
		if b == a {
			l.accs = append(l.accs[:i], l.accs[i+1:]...)
			l.ls.accepting.Add(-1)
			break
		}
	}
	if fallback && !a.stop.Load() {
		a.dl.AcceptInGo()
	}
}

// checkAcceptors drops the acceptors of a server that stopped serving
// and puts paused ones back once their pause is over.
func (l *httpLoop) checkAcceptors() {
	stopping := l.ls.stopping.Load()
	for i := len(l.accs) - 1; i >= 0; i-- {
		a := l.accs[i]
		switch {
		case stopping || a.stop.Load():
			l.dropAcceptor(a, false)
		case a.paused && !l.now.Before(a.resume):
			ev := syscall.EpollEvent{Events: syscall.EPOLLIN | epollExclusive, Fd: int32(a.fd), Pad: int32(a.tag)}
			if e := rawsock.EpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, a.fd, &ev); e != 0 {
				l.s.log.Error("l7: epoll_ctl listening socket; accepting in Go", "listener", l.s.name, "err", e)
				l.dropAcceptor(a, true)
				continue
			}
			a.paused = false
		}
	}
}

// accept takes one connection waiting on a's socket into the loop. One
// per event, as NGINX does by default: the listening socket is
// level-triggered, so a backlog comes back in the next round (with the
// events of the connections already held), and no accept4 is spent
// learning that the queue is empty (on short connections accepting until
// EAGAIN cost 0.6 accept4 calls per connection more).
func (l *httpLoop) accept(a *acceptor) {
	for {
		if a.stop.Load() || l.ls.stopping.Load() {
			l.dropAcceptor(a, false)
			return
		}
		var rsa syscall.RawSockaddrAny
		fd, e := rawsock.Accept4(a.fd, &rsa)
		switch rawsock.Accept4Outcome(e) {
		case rawsock.Accepted:
		case rawsock.AcceptEmpty:
			return
		case rawsock.AcceptRetry:
			continue
		case rawsock.AcceptPause:
			// Out of the set until the pause ends (checkAcceptors puts
			// it back within a tick of that).
			a.delay = rawsock.AcceptBackoff(a.delay)
			l.s.log.Warn("l7: accept", "listener", l.s.name, "err", e)
			_ = rawsock.EpollCtl(l.epfd, syscall.EPOLL_CTL_DEL, a.fd, nil)
			a.paused, a.resume = true, l.now.Add(a.delay)
			return
		default:
			// EINVAL: the socket was shut down (runtime.Socket.Close).
			l.dropAcceptor(a, false)
			return
		}
		a.delay = 0
		loopAccepted.Add(1)
		cc := a.dl.Counter()
		cc.ConnOpened()
		if !a.nodelay {
			// Go's net sets TCP_NODELAY on accepted connections.
			_ = rawsock.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
		}
		c := &lconn{fd: fd, born: l.now}
		c.sock = loopSock{fd: fd, cc: cc}
		c.sock.ra = tcpAddr(rawsock.AddrPort(&rsa))
		local := a.local
		if !local.IsValid() {
			local = rawsock.LocalAddrPort(fd)
		}
		c.sock.la = tcpAddr(local)
		c.Conn = &c.sock
		l.ls.conns.Add(1)
		l.addClient(c)
		return
	}
}

func tcpAddr(ap netip.AddrPort) net.TCPAddr {
	return net.TCPAddr{IP: ap.Addr().AsSlice(), Port: int(ap.Port()), Zone: ap.Addr().Zone()}
}

// errLoopSock is the error of I/O on a socket the loop holds: the loop
// reads and writes it directly.
var errLoopSock = errors.New("l7: client socket held by an event loop")

// loopSock is the net.Conn of a client socket the loop accepted itself,
// while the loop holds it: its addresses, and Close (counted); its I/O
// fails. A connection leaving the loop gets a real net.Conn first (goConn).
// Used by one goroutine at a time (the loop, then the one it hands the
// connection to).
type loopSock struct {
	fd     int
	cc     runtime.ConnCounter
	ra, la net.TCPAddr
	closed bool
}

func (s *loopSock) Read([]byte) (int, error)         { return 0, errLoopSock }
func (s *loopSock) Write([]byte) (int, error)        { return 0, errLoopSock }
func (s *loopSock) LocalAddr() net.Addr              { return &s.la }
func (s *loopSock) RemoteAddr() net.Addr             { return &s.ra }
func (s *loopSock) SetDeadline(time.Time) error      { return errLoopSock }
func (s *loopSock) SetReadDeadline(time.Time) error  { return errLoopSock }
func (s *loopSock) SetWriteDeadline(time.Time) error { return errLoopSock }

// Close closes the descriptor once and counts the connection closed.
func (s *loopSock) Close() error {
	if s.closed {
		return net.ErrClosed
	}
	s.closed = true
	rawClose(s.fd)
	s.cc.ConnClosed()
	return nil
}

// goConn gives c a net.Conn for the goroutine path when its socket is one
// the loop accepted: the descriptor is wrapped (net.FileConn makes a
// duplicate that Go's netpoller owns; the loop's is closed). Run on the
// goroutine that takes c, after the loop let go of it. A failed wrap
// closes the connection: c.Conn's I/O then fails and the exchange ends as
// for a client gone.
func (c *lconn) goConn() {
	s, ok := c.Conn.(*loopSock)
	if !ok || s.closed {
		return
	}
	f := os.NewFile(uintptr(s.fd), "l7-client")
	nc, err := net.FileConn(f)
	_ = f.Close()
	s.closed = true
	if err != nil {
		s.cc.ConnClosed()
		return
	}
	c.Conn = runtime.CountedConn(nc, s.cc)
}
