package l4

import (
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/switchyard/switchyard/internal/rawsock"
	"github.com/switchyard/switchyard/internal/runtime"
)

// An event loop can accept on a listening socket itself (a DirectListener,
// which cmd/lb gives for plain TCP listeners without a PROXY-protocol
// front): each loop holds a duplicate of the listening descriptor in its
// epoll set (level-triggered, EPOLLEXCLUSIVE so that one loop wakes per
// connection when there are several), calls accept4 with SOCK_NONBLOCK
// until it says EAGAIN, and runs the flow's first steps (pick, connect)
// itself. Compared with an accept goroutine the client socket never enters
// Go's netpoller (no epoll_ctl ADD and DEL, no fcntl), its addresses come
// from accept4 and from the listener's bound address (no getsockname unless
// the listener is bound to a wildcard address), and no goroutine is
// scheduled and no channel passed per connection. A flow that leaves the
// loop (TLS to the target, a host-name target, a failed connect, a slow
// receiver, a bulk transfer) gets its client socket wrapped in an os.File
// then, as target sockets are (fdConn.wrap).

const (
	// epollExclusive is EPOLLEXCLUSIVE (Linux 4.5), which syscall lacks.
	epollExclusive = 1 << 28
	// maxAcceptBatch bounds the accepts of one event, so that a burst of
	// new connections does not starve the flows already in the loop (the
	// socket stays readable: level-triggered, it comes back next round).
	maxAcceptBatch = 64
)

// acceptor is one loop's hold on a DirectListener: its own duplicate of
// the listening descriptor. Its fields are the loop's (under evloop.mu)
// except stop.
type acceptor struct {
	dl    DirectListener
	fd    int            // the duplicate; -1 once closed
	local netip.AddrPort // the bound address; invalid when it is a wildcard
	// nodelay: TCP_NODELAY is set on the listening socket, and Linux
	// copies it to every accepted one (one setsockopt per connection less).
	nodelay bool
	// stop: the Proxy stopped serving dl; the loop drops the acceptor.
	stop atomic.Bool
	// paused: out of the epoll set after EMFILE and friends, until resume.
	paused bool
	resume time.Time
	delay  time.Duration
}

// serveDirect is Serve for a DirectListener: every event loop accepts on a
// duplicate of its descriptor while this goroutine takes what Accept gives
// (see DirectListener). Without loops, Accept takes everything.
func (p *Proxy) serveDirect(dl DirectListener) error {
	loops := p.startLoops()
	local, _ := addrPort(dl.Addr())
	if local.Addr().IsUnspecified() {
		local = netip.AddrPort{}
	}
	var accs []*acceptor
	for _, l := range loops {
		fd, err := dl.Dup()
		if err != nil {
			p.log.Warn("l4: listening socket for the event loop; accepting in Go", "listener", p.cfg.Load().Listener, "err", err)
			break
		}
		a := &acceptor{dl: dl, fd: fd, local: local}
		a.nodelay = rawSetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1) == 0
		if err := l.addAcceptor(a); err != nil {
			_ = rawClose(fd)
			p.log.Warn("l4: listening socket for the event loop; accepting in Go", "listener", p.cfg.Load().Listener, "err", err)
			break
		}
		accs = append(accs, a)
	}
	if len(accs) == 0 {
		dl.AcceptInGo()
	}
	defer func() {
		for _, a := range accs {
			a.stop.Store(true)
		}
		p.wakeLoops()
	}()
	return p.acceptLoop(dl)
}

// addAcceptor puts a's descriptor in the loop's epoll set.
func (l *evloop) addAcceptor(a *acceptor) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrProxyClosed
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | epollExclusive, Fd: int32(a.fd)}
	if e := rawEpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, a.fd, &ev); e != 0 {
		return fmt.Errorf("l4: epoll_ctl listening socket: %w", e)
	}
	if a.fd >= len(l.afds) {
		l.afds = append(l.afds, make([]*acceptor, a.fd-len(l.afds)+16)...)
	}
	l.afds[a.fd] = a
	l.accs = append(l.accs, a)
	return nil
}

// dropAcceptor takes a out of the loop and closes its descriptor; with
// fallback (the loop failed, the Proxy still serves) the listener's
// connections are accepted in Go from now on.
func (l *evloop) dropAcceptor(a *acceptor, fallback bool) {
	if a.fd < 0 {
		return
	}
	l.afds[a.fd] = nil
	_ = rawClose(a.fd) // closing removes it from the epoll set
	a.fd = -1
	for i, b := range l.accs {
		if b == a {
			l.accs = append(l.accs[:i], l.accs[i+1:]...)
			l.accs = l.accs[:len(l.accs):len(l.accs)]
			break
		}
	}
	if fallback && !a.stop.Load() {
		a.dl.AcceptInGo()
	}
}

// checkAcceptors drops the acceptors of listeners the Proxy stopped
// serving and puts paused ones back once their pause is over, bringing the
// wait's deadline forward to the next resume.
func (l *evloop) checkAcceptors() {
	if len(l.accs) == 0 {
		return
	}
	stopping := l.p.stopping.Load()
	for i := len(l.accs) - 1; i >= 0; i-- {
		a := l.accs[i]
		switch {
		case stopping || a.stop.Load():
			l.dropAcceptor(a, false)
		case a.paused && !l.now.Before(a.resume):
			ev := syscall.EpollEvent{Events: syscall.EPOLLIN | epollExclusive, Fd: int32(a.fd)}
			if e := rawEpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, a.fd, &ev); e != 0 {
				l.p.log.Error("l4: epoll_ctl listening socket; accepting in Go", "listener", l.p.cfg.Load().Listener, "err", e)
				l.dropAcceptor(a, true)
				continue
			}
			a.paused = false
		case a.paused && a.resume.Before(l.deadline):
			l.deadline = a.resume
			_ = l.file.SetReadDeadline(a.resume)
		}
	}
}

// accept takes the connections waiting on a's socket and starts their
// flows.
func (l *evloop) accept(a *acceptor) {
	for range maxAcceptBatch {
		if a.stop.Load() || l.p.stopping.Load() {
			l.dropAcceptor(a, false)
			return
		}
		var rsa syscall.RawSockaddrAny
		fd, e := rawAccept4(a.fd, &rsa)
		switch rawsock.Accept4Outcome(e) {
		case rawsock.Accepted:
		case rawsock.AcceptEmpty:
			return
		case rawsock.AcceptRetry:
			continue
		case rawsock.AcceptPause:
			a.delay = rawsock.AcceptBackoff(a.delay)
			l.p.log.Warn("l4: accept", "listener", l.p.cfg.Load().Listener, "err", e)
			_ = rawEpollCtl(l.epfd, syscall.EPOLL_CTL_DEL, a.fd, nil)
			a.paused, a.resume = true, l.now.Add(a.delay)
			if a.resume.Before(l.deadline) {
				l.deadline = a.resume
				_ = l.file.SetReadDeadline(a.resume)
			}
			return
		default:
			// EINVAL: the socket was shut down (runtime.Socket.Close);
			// the Serve goroutine's Accept ends too.
			l.dropAcceptor(a, false)
			return
		}
		a.delay = 0
		l.startFlow(a, fd, &rsa)
	}
}

// loopClient is a client socket the event loop accepted: a raw descriptor
// until its flow leaves the loop (then wrapped like a target socket), and
// the listener's connection count.
type loopClient struct {
	fdConn
	cc     runtime.ConnCounter
	closed atomic.Bool
}

// NetConn returns the socket, for the copy's unwrapping (raw reads,
// splice, half-close, linger).
func (c *loopClient) NetConn() net.Conn { return &c.fdConn }

// Close closes the socket once and counts it closed.
func (c *loopClient) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return net.ErrClosed
	}
	c.cc.ConnClosed()
	return c.fdConn.Close()
}

// clientToGo prepares f's client for the goroutine path: wrapped in an os.File
// so that its reads, writes and deadlines wait in Go's netpoller. A no-op
// for other clients.
func (f *flow) clientToGo() error {
	c, ok := f.client.(*loopClient)
	if !ok || c.f != nil {
		return nil
	}
	if err := c.wrap("client " + c.ap.String()); err != nil {
		return fmt.Errorf("l4: client socket %s: %w", c.ap, err)
	}
	return nil
}

// startFlow runs an accepted connection's first steps in the loop, as
// serveFast does for connections accepted elsewhere: the record's
// addresses, the pick, a non-blocking connect, and the flow joins this
// loop. What cannot run here goes to the goroutine path.
func (l *evloop) startFlow(a *acceptor, cfd int, rsa *syscall.RawSockaddrAny) {
	p := l.p
	cc := a.dl.Counter()
	cc.ConnOpened()
	if !a.nodelay {
		// Go's net sets TCP_NODELAY on accepted connections; so does HAProxy.
		_ = rawSetsockoptInt(cfd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
	}
	c := &loopClient{cc: cc}
	c.fd, c.ap = cfd, sockaddrAddrPort(rsa)
	p.conns.Add(1)
	cfg := p.cfg.Load()
	if cfg.TLS != nil || cfg.TargetTLS != nil {
		// TLS on either side (a reload changed the target group): the
		// goroutine path from the start.
		if err := l.clientToGoNew(c); err != nil {
			p.log.Warn("l4: accepted connection", "listener", cfg.Listener, "err", err)
			p.conns.Add(-1)
			return
		}
		p.workers.run(func() { p.serveConn(c) })
		return
	}
	f := p.newFlowIn(c, cfg, l)
	f.rec.Client = c.ap
	f.rec.Destination = a.local
	if !a.local.IsValid() {
		f.rec.Destination = localAddrPort(cfd)
	}
	key := cfg.Algorithm.Key(f.rec.Client, f.rec.Destination)
	t := cfg.balancer.Pick(key)
	if t == nil {
		l.endNew(f, ReasonNoTarget, nil)
		return
	}
	ap, ok := rawTarget(t.Addr)
	if !ok {
		l.toGo(f, func() {
			defer f.end()
			f.route(t, key, f.rec.Start, nil, nil)
		})
		return
	}
	t.Acquire()
	sock, err := startConnect(ap, false)
	if err != nil {
		l.toGo(f, func() {
			defer f.end()
			f.route(t, key, f.rec.Start, nil, err)
		})
		return
	}
	f.key, f.lt = key, t
	f.cfd, f.tfd, f.tsock = cfd, sock.fd, sock
	f.up.count, f.down.count = &p.counters.BytesIn, &p.counters.BytesOut
	f.active = f.rec.Start
	f.connecting = true
	if !l.addLocked(f) {
		f.connecting = false
		l.toGo(f, func() {
			defer f.end()
			f.route(t, key, f.rec.Start, sock, nil)
		})
	}
}

// clientToGoNew wraps a client accepted in the loop that goes to the
// goroutine path before it has a flow; on failure the connection is
// closed.
func (l *evloop) clientToGoNew(c *loopClient) error {
	if err := c.wrap("client " + c.ap.String()); err != nil {
		_ = c.Close()
		return fmt.Errorf("l4: client socket %s: %w", c.ap, err)
	}
	return nil
}

// endNew ends a flow the loop accepted before it joined the loop (no
// target): the client is reset, the record written.
func (l *evloop) endNew(f *flow, reason string, err error) {
	f.mu.Lock()
	if !f.dead.Load() {
		f.dead.Store(true)
		f.rec.CloseReason, f.rec.Err = reason, err
	}
	f.ev = nil
	f.mu.Unlock()
	linger0(f.client.(*loopClient).fd)
	_ = f.client.Close()
	f.end()
}

// toGo runs fn, the goroutine path, for a flow the loop accepted but does
// not carry: its client is wrapped first. A flow killed meanwhile (Close)
// is reset here instead.
func (l *evloop) toGo(f *flow, fn func()) {
	err := f.clientToGo()
	f.mu.Lock()
	f.ev = nil
	dead := f.dead.Load()
	f.mu.Unlock()
	switch {
	case err != nil:
		l.p.log.Warn("l4: accepted connection", "listener", f.cfg.Listener, "err", err)
		f.kill(ReasonError, err)
	case dead:
		// A kill queued for the loop while it held the flow: its reset.
		reset(f.client)
	}
	// fn sees a dead flow and ends it (route and connect check).
	l.p.workers.run(fn)
}

// newFlowIn is newFlow for a connection the loop l accepted: the flow is
// the loop's before any other goroutine can see it, so a kill (Close) is
// queued for the loop rather than touching the raw client socket.
func (p *Proxy) newFlowIn(c net.Conn, cfg *snapshot, l *evloop) *flow {
	f := &flow{p: p, cfg: cfg, client: c}
	f.ev = l
	f.rec.Start = time.Now()
	f.rec.Listener = cfg.Listener
	f.rec.TargetGroup = cfg.groupName
	f.up.toward, f.down.toward = "target", "client"
	p.track(f)
	p.counters.NewFlows.Add(1)
	p.counters.ActiveFlows.Add(1)
	return f
}

// sockaddrAddrPort converts an accept4 or getsockname address, unmapping
// IPv4-mapped IPv6 addresses as addrPort does.
func sockaddrAddrPort(rsa *syscall.RawSockaddrAny) netip.AddrPort { return rawsock.AddrPort(rsa) }

// localAddrPort is a socket's local address (getsockname), for listeners
// bound to a wildcard address.
func localAddrPort(fd int) netip.AddrPort { return rawsock.LocalAddrPort(fd) }

// rawAccept4 accepts one connection as a non-blocking, close-on-exec
// socket, with the peer's address in rsa.
func rawAccept4(fd int, rsa *syscall.RawSockaddrAny) (int, syscall.Errno) {
	return rawsock.Accept4(fd, rsa)
}
