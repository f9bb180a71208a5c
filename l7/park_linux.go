//go:build linux

package l7

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// parker holds idle keep-alive client connections of one Server without a
// goroutine or a buffer each, the way NGINX does: a parked socket waits in
// the parker's own epoll set (EPOLLIN|EPOLLRDHUP, one-shot). When it turns
// readable (a request, a FIN, a reset), the parker hands it back to
// fasthttp (Server.ServeConn) in a new goroutine. One goroutine per Server
// waits for the epoll descriptor through Go's netpoller and, once a
// second, closes the connections past their idle timeout.
//
// A parked connection stays open as far as cmd/lb is concerned (its
// counted Close is not called), and fasthttp does not see it: its open
// count and Concurrency count connections with a goroutine. Shutdown
// closes every parked connection (close).
type parker struct {
	s    *Server
	idle time.Duration
	// after, busyAfter and busyWaiters are parkAfter, parkAfterBusy and
	// parkBusyWaiters as the parker was made.
	after, busyAfter time.Duration
	busyWaiters      int32

	mu      sync.Mutex
	conns   map[int32]*deadlineConn
	next    int32
	epfd    int
	f       *os.File
	started bool
	closed  bool
}

func newParker(s *Server) *parker {
	return &parker{s: s, idle: s.idle, after: parkAfter, busyAfter: parkAfterBusy, busyWaiters: parkBusyWaiters,
		conns: make(map[int32]*deadlineConn)}
}

// idleWaiting is about how many connections wait for a request with a
// goroutine: those fasthttp serves less the requests in progress. Read
// off counters kept anyway, so the idle wait adds no shared write.
func (p *parker) idleWaiting() int64 {
	return int64(p.s.fs.GetOpenConnectionsCount()) - p.s.counters.ActiveRequests.Load()
}

// startLocked creates the epoll set and its goroutine on the first park.
func (p *parker) startLocked() error {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return fmt.Errorf("l7: parker: epoll_create1: %w", err)
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return fmt.Errorf("l7: parker: set nonblock: %w", err)
	}
	// A non-blocking descriptor joins Go's netpoller: the parker waits for
	// it like for a socket, on no thread of its own.
	p.f = os.NewFile(uintptr(fd), "l7-parker-epoll")
	p.epfd = fd
	p.started = true
	go p.loop(p.f)
	return nil
}

// park takes c, whose idle wait ended with nothing read.
func (p *parker) park(c *deadlineConn) {
	fd, ok := connFD(c.Conn)
	p.mu.Lock()
	if p.closed || !ok {
		p.mu.Unlock()
		c.closeParked()
		return
	}
	if !p.started {
		if err := p.startLocked(); err != nil {
			p.closed = true
			p.mu.Unlock()
			p.s.log.Error("l7: idle connections are not parked", "listener", p.s.name, "err", err)
			c.closeParked()
			return
		}
	}
	p.next++
	tok := p.next
	for p.conns[tok] != nil {
		p.next++
		tok = p.next
	}
	c.token = tok
	c.parkedAt = time.Now().UnixNano()
	p.conns[tok] = c
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT, Fd: int32(fd), Pad: tok}
	// A connection parked before stays in the set, disarmed by its
	// one-shot event: re-arming it is one call, not two.
	op := syscall.EPOLL_CTL_ADD
	if c.inSet {
		op = syscall.EPOLL_CTL_MOD
	}
	err := syscall.EpollCtl(p.epfd, op, fd, &ev)
	if err != nil {
		delete(p.conns, tok)
	}
	c.inSet = err == nil
	p.mu.Unlock()
	if err != nil {
		p.s.log.Debug("l7: park", "listener", p.s.name, "err", err)
		c.closeParked()
	}
}

// connFD returns the socket descriptor under c.
func connFD(c net.Conn) (int, bool) {
	for range 8 {
		switch t := c.(type) {
		case *net.TCPConn:
			rc, err := t.SyscallConn()
			if err != nil {
				return 0, false
			}
			fd, ok := -1, false
			if err := rc.Control(func(u uintptr) { fd, ok = int(u), true }); err != nil {
				return 0, false
			}
			return fd, ok
		case interface{ NetConn() net.Conn }:
			c = t.NetConn()
		default:
			return 0, false
		}
	}
	return 0, false
}

// loop waits for parked connections to turn readable and sweeps the idle
// ones once a second, until close closes f.
func (p *parker) loop(f *os.File) {
	rc, err := f.SyscallConn()
	if err != nil {
		p.s.log.Error("l7: parker stopped, idle connections are closed", "listener", p.s.name, "err", err)
		p.close()
		return
	}
	events := make([]syscall.EpollEvent, 128)
	ready := make([]*deadlineConn, 0, 128)
	for {
		_ = f.SetReadDeadline(time.Now().Add(time.Second))
		err := rc.Read(func(fd uintptr) bool {
			for {
				n, err := syscall.EpollWait(int(fd), events, 0)
				if err == syscall.EINTR {
					continue
				}
				if n <= 0 {
					// Nothing more (edge-triggered in Go's poller): wait.
					return false
				}
				ready = p.take(events[:n], ready[:0])
				for _, c := range ready {
					go p.serve(c)
				}
				clear(ready)
			}
		})
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			p.sweep(time.Now())
		case err != nil:
			if !errors.Is(err, os.ErrClosed) {
				p.s.log.Error("l7: parker stopped, idle connections are closed", "listener", p.s.name, "err", err)
			}
			// Closed by close, or unusable: no connection may stay parked
			// with nothing to wake it.
			p.close()
			return
		}
	}
}

// take removes the connections of events from the set and returns those
// to serve again.
func (p *parker) take(events []syscall.EpollEvent, out []*deadlineConn) []*deadlineConn {
	var closing []*deadlineConn
	now := time.Now().UnixNano()
	p.mu.Lock()
	for i := range events {
		c := p.conns[events[i].Pad]
		if c == nil {
			continue
		}
		delete(p.conns, events[i].Pad)
		// Woken soon after it parked: a client with short gaps, which
		// waits with its goroutine next time (see applyCap).
		c.warm = now-c.parkedAt < int64(parkWarmWake)
		// The one-shot event disarmed it; it stays in the set (closing
		// the socket takes it out) so that parking it again is one MOD.
		if p.closed {
			closing = append(closing, c)
			continue
		}
		out = append(out, c)
	}
	p.mu.Unlock()
	for _, c := range closing {
		c.closeParked()
	}
	return out
}

// serve hands a parked connection that turned readable back to fasthttp.
// Its next request is its first to fasthttp: the ReadTimeout applies to
// it, the idle timeout after it.
func (p *parker) serve(c *deadlineConn) {
	c.unpark()
	if err := p.s.fs.ServeConn(c); err != nil {
		p.s.log.Debug("l7: serve unparked connection", "listener", p.s.name, "err", err)
	}
}

// sweep closes the parked connections whose idle timeout has passed.
func (p *parker) sweep(now time.Time) {
	n := now.UnixNano()
	var expired []*deadlineConn
	p.mu.Lock()
	for tok, c := range p.conns {
		if ask := c.rdAsk.Load(); ask != 0 && ask <= n {
			delete(p.conns, tok)
			if fd, ok := connFD(c.Conn); ok {
				_ = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, fd, nil)
			}
			expired = append(expired, c)
		}
	}
	p.mu.Unlock()
	for _, c := range expired {
		c.closeParked()
	}
}

// close closes every parked connection and the epoll set; connections
// that finish their idle wait later are closed, not parked.
func (p *parker) close() {
	p.mu.Lock()
	if p.closed && !p.started {
		p.mu.Unlock()
		return
	}
	p.closed = true
	all := make([]*deadlineConn, 0, len(p.conns))
	for tok, c := range p.conns {
		delete(p.conns, tok)
		all = append(all, c)
	}
	var f *os.File
	if p.started {
		p.started = false
		f = p.f
	}
	p.mu.Unlock()
	if f != nil {
		// Outside mu: Close waits for the loop's Read, which may be
		// waiting for mu.
		_ = f.Close()
	}
	for _, c := range all {
		c.closeParked()
	}
}

// parkedCount is the number of connections parked now.
func (p *parker) parkedCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}
