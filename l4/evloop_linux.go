package l4

import (
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	goruntime "runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	proxyproto "github.com/pires/go-proxyproto"

	"github.com/switchyard/switchyard/internal/rawsock"
	"github.com/switchyard/switchyard/internal/runtime"
)

// The event loop carries the common flow — a plain TCP client, a target
// given as an IP address, short messages — without a goroutine of its own,
// as HAProxy does: one goroutine per CPU (evloop.run) waits on an epoll
// instance of its own holding both sockets of each of its flows, and moves
// bytes with one non-blocking read and one write per message. Short
// connections spent most of lb's user time on what a goroutine per
// direction costs (hand-offs, netpoller parks, an os.File and its finalizer
// per target socket) and a good part of their system calls on the
// netpoller's registrations and on reads that only said EAGAIN. Here:
//
//   - the accept goroutine picks the target and starts a non-blocking
//     connect, and hands the flow to the loop, which learns from epoll when
//     the connect is over (EPOLLOUT, or EPOLLERR/EPOLLHUP): one connect(2)
//     per flow, and no goroutine is scheduled for a new flow;
//   - the target socket never enters Go's netpoller: it is registered once
//     with the loop's epoll and closing it removes it (no epoll_ctl DEL, no
//     fcntl);
//   - epoll is edge-triggered with EPOLLRDHUP, so a read shorter than the
//     buffer means the socket is drained (the next byte brings a new event)
//     and a short read after the peer's FIN is the end of the stream: no
//     read returns EAGAIN or 0 just to learn that;
//   - a FIN is passed on one round late, so that on a short connection the
//     client's own close has usually come by then and both sockets are
//     closed without a shutdown(2) (and the client, which closed first,
//     keeps the TIME_WAIT, not the proxy) — HAProxy's order;
//   - the loop's system calls are raw (sys_linux.go).
//
// Anything else leaves the loop for the goroutine copy (flow.pipe), which
// does everything the loop does and more: a write that would block (the
// receiver is slower; the pending bytes go along), a read that fills the
// buffer (a bulk transfer: splice takes over), a failed or timed-out
// connect (flow.connect reports it and retries once on another target),
// and from the start TLS on either side, PROXY-protocol clients and
// targets given by host name. The loop itself keeps the connect timeout
// and the idle timeout (a sweep every idle_timeout/8 resets flows that
// moved no byte for idle_timeout), the half-close (the other way goes on),
// kills from other goroutines (Close, connection_termination,
// TerminateUnhealthy: queued and woken through an eventfd), and the record
// and counters at the end.
//
// The loop's epoll descriptor is itself waited on in Go's netpoller (an
// epoll descriptor is readable while events are pending), so an idle loop
// is a parked goroutine, and its timers are that wait's read deadline.

const (
	// evMask is what the loop waits for on each socket. EPOLLOUT is not
	// asked for: a write that would block hands the flow over instead.
	evMask = syscall.EPOLLIN | syscall.EPOLLRDHUP | rawsock.EPOLLET
	// maxEvents is how many events one epoll_wait takes.
	maxEvents = 128
)

// loopFlows counts flows added to an event loop, loopHandOffs those that
// left one for the goroutine path (tests check which path flows take).
var loopFlows, loopHandOffs atomic.Uint64

// evloop is one event loop goroutine and its epoll instance. Its fields
// below mu are guarded by mu; the loop holds mu while it handles a batch
// of events, the accept goroutine while it adds a flow.
type evloop struct {
	p      *Proxy
	epfd   int
	wfd    int      // eventfd that wakes the loop (kills, shutdown)
	file   *os.File // epfd, waited on in Go's netpoller
	rc     syscall.RawConn
	pollFn func(fd uintptr) bool // l.poll, bound once
	events [maxEvents]syscall.EpollEvent
	n      int    // events of the last epoll_wait
	seq    uint32 // the last flow tag given out (addLocked)
	perr   error  // epoll_wait's error, if it failed
	buf    []byte
	// dialing holds the flows added while connecting (checkDialing).
	dialing []*flow
	// deadline is the wait's read deadline: the next sweep or an earlier
	// connect timeout.
	deadline, nextSweep time.Time
	// fins are the flows with a FIN to pass on (loopFlow.fin), deferred
	// by one round: finsPrev's go out at the end of the next round.
	fins, finsPrev []*flow

	mu     sync.Mutex
	fds    []*flow     // by descriptor: each flow under its client's and its target's
	afds   []*acceptor // by descriptor: the listening sockets this loop accepts on
	accs   []*acceptor // the same, as a list
	count  int         // flows in fds
	closed bool        // the loop has ended; add refuses
	now    time.Time

	qmu     sync.Mutex // guards killq and wclosed
	killq   []*flow
	spare   []*flow
	wclosed bool
}

// loopFlow is a flow's state while an event loop owns its sockets (the
// loop's goroutine only, except ev: under flow.mu).
type loopFlow struct {
	ev       *evloop // the loop that owns the sockets; nil once they left it
	cfd, tfd int     // client and target descriptors
	tsock    *fdConn // the target socket, unwrapped while in the loop
	// cr, tr: an event came and no read has drained the socket since.
	// chup, thup: the peer's FIN has arrived (EPOLLRDHUP).
	// cfail, tfail: an error is pending (EPOLLERR): read until it shows.
	cr, tr, chup, thup, cfail, tfail bool
	active                           time.Time // when a byte last moved (a batch's clock)
	// connecting: the target's connect is in progress; epoll reports its
	// end (EPOLLOUT, or EPOLLERR/EPOLLHUP). lt is the target, acquired
	// (released when the flow leaves the loop); key the flow's hash.
	connecting bool
	lt         *runtime.Target
	key        uint64
	fin        uint8 // finToTarget, finToClient: FINs deferred (see eof)
	// tag tells this flow's epoll events from those of sockets that had
	// the same descriptor numbers before (see evloop.event).
	tag uint32
}

// loopFlow.fin bits.
const (
	finToTarget = 1 << iota
	finToClient
)

// startLoops makes the Proxy's event loops on first use: one per CPU Go
// runs on, each a goroutine with its own epoll instance. It returns nil
// when they cannot be made (descriptor limit): flows then take the
// goroutine path.
func (p *Proxy) startLoops() []*evloop {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ls := p.loops.Load(); ls != nil {
		return *ls
	}
	if p.closing || p.loopErr != nil {
		return nil
	}
	n := goruntime.GOMAXPROCS(0)
	ls := make([]*evloop, 0, n)
	for range n {
		l, err := newEvloop(p)
		if err != nil {
			p.loopErr = err
			p.log.Warn("l4: event loop; flows use goroutines", "listener", p.cfg.Load().Listener, "err", err)
			for _, l := range ls {
				l.wake()
			}
			return nil
		}
		ls = append(ls, l)
	}
	p.loops.Store(&ls)
	return ls
}

// wakeLoops makes every loop look at the Proxy's state (shutdown).
func (p *Proxy) wakeLoops() {
	if ls := p.loops.Load(); ls != nil {
		for _, l := range *ls {
			l.wake()
		}
	}
}

func newEvloop(p *Proxy) (*evloop, error) {
	epfd, wfd, file, rc, err := rawsock.NewEpoll("l4-evloop")
	if err != nil {
		return nil, err
	}
	l := &evloop{p: p, epfd: epfd, wfd: wfd, file: file, rc: rc, buf: make([]byte, copyBufSize)}
	l.pollFn = l.poll
	go l.run()
	return l, nil
}

// plainTCP returns the *net.TCPConn under c when only wrappers that add
// nothing to the byte stream (NetConn(): the listener registry's counted
// conn) lie between; nil for TLS, PROXY-protocol and other conns.
func plainTCP(c net.Conn) *net.TCPConn {
	for range 8 {
		switch v := c.(type) {
		case *net.TCPConn:
			return v
		case *tls.Conn, *proxyproto.Conn:
			return nil
		case interface{ NetConn() net.Conn }:
			c = v.NetConn()
		default:
			return nil
		}
	}
	return nil
}

// serveFast runs an accepted connection's first steps on the accept
// goroutine and gives the flow to an event loop: the pick, a non-blocking
// connect and the PROXY header. It returns false, having done nothing,
// when the flow is not one for the loop (TLS, a PROXY-protocol client, no
// loop); serveConn then takes it. Every step here returns at once; a
// connect still in progress, a host-name target or a failure goes on in a
// worker with the goroutine path.
func (p *Proxy) serveFast(c net.Conn) bool {
	cfg := p.cfg.Load()
	if cfg.TLS != nil || cfg.TargetTLS != nil {
		return false
	}
	tc := plainTCP(c)
	if tc == nil {
		return false
	}
	ls := p.loops.Load()
	var loops []*evloop
	if ls != nil {
		loops = *ls
	} else if loops = p.startLoops(); loops == nil {
		return false
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return false
	}
	cfd := -1
	_ = rc.Control(func(fd uintptr) { cfd = int(fd) })
	if cfd < 0 {
		return false
	}
	l := loops[cfd%len(loops)]

	f := p.newFlow(c, cfg)
	f.rec.Client, _ = addrPort(c.RemoteAddr())
	f.rec.Destination, _ = addrPort(c.LocalAddr())
	key := cfg.Algorithm.Key(f.rec.Client, f.rec.Destination)
	t := cfg.balancer.Pick(key)
	if t == nil {
		f.kill(ReasonNoTarget, nil)
		f.end()
		return true
	}
	ap, ok := rawTarget(t.Addr)
	if !ok || f.dead.Load() {
		p.workers.run(func() {
			defer f.end()
			f.route(t, key, f.rec.Start, nil, nil)
		})
		return true
	}
	t.Acquire()
	sock, err := startConnect(ap, false)
	if err != nil {
		// Refused at once or no socket: the goroutine path retries on
		// another target and reports the failure.
		p.workers.run(func() {
			defer f.end()
			f.route(t, key, f.rec.Start, nil, err)
		})
		return true
	}
	f.key, f.lt = key, t
	f.cfd, f.tfd, f.tsock = cfd, sock.fd, sock
	f.up.count, f.down.count = &p.counters.BytesIn, &p.counters.BytesOut
	f.active = f.rec.Start
	f.connecting = true
	if !l.add(f) {
		// The loop has ended (shutdown): the goroutine path waits for
		// the connect (or sees the flow is dead).
		f.connecting = false
		p.workers.run(func() {
			defer f.end()
			f.route(t, key, f.rec.Start, sock, nil)
		})
	}
	return true
}

// header builds the flow's PROXY v2 header in f.hdr.
func (f *flow) header() ([]byte, error) {
	var id [16]byte
	copy(id[:8], uniquePrefix[:])
	binary.BigEndian.PutUint64(id[8:], uniqueSeq.Add(1))
	o := HeaderOptions{UniqueID: id[:], Authority: f.rec.SNI, EndpointID: f.cfg.EndpointID}
	return AppendHeaderV2(f.hdr[:0], f.rec.Client, f.rec.Destination, &o)
}

// add registers f's two sockets with the loop. false: the loop has ended
// (shutdown) or refused them; the caller keeps the flow.
func (l *evloop) add(f *flow) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.addLocked(f)
}

// addLocked is add with l.mu held (the loop's own accepts).
func (l *evloop) addLocked(f *flow) bool {
	if l.closed {
		return false
	}
	if need := max(f.cfd, f.tfd) + 1; need > len(l.fds) {
		l.fds = append(l.fds, make([]*flow, need-len(l.fds)+64)...)
	}
	f.mu.Lock()
	if f.dead.Load() {
		// Killed (Close) before the loop had it: the caller's hand-off
		// resets what is left.
		f.mu.Unlock()
		return false
	}
	f.ev = l
	f.mu.Unlock()
	l.fds[f.cfd], l.fds[f.tfd] = f, f
	if l.seq++; l.seq == 0 {
		l.seq = 1 // 0 is the tag of the eventfd and listening sockets
	}
	f.tag = l.seq
	ev := syscall.EpollEvent{Events: evMask, Fd: int32(f.cfd), Pad: int32(f.tag)}
	err := rawEpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, f.cfd, &ev)
	if err == 0 {
		// EPOLLOUT for the connect's end; edge-triggered, it comes again
		// only after a write found the buffer full, which hands the flow
		// over anyway.
		ev.Events, ev.Fd = evMask|syscall.EPOLLOUT, int32(f.tfd)
		if err = rawEpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, f.tfd, &ev); err != 0 {
			_ = rawEpollCtl(l.epfd, syscall.EPOLL_CTL_DEL, f.cfd, nil)
		}
	}
	if err != 0 {
		l.fds[f.cfd], l.fds[f.tfd] = nil, nil
		f.mu.Lock()
		f.ev = nil
		f.mu.Unlock()
		return false
	}
	l.count++
	if f.connecting {
		l.dialing = append(l.dialing, f)
	}
	loopFlows.Add(1)
	return true
}

// owns reports whether f's sockets are still in this loop.
func (l *evloop) owns(f *flow) bool {
	return f.cfd >= 0 && f.cfd < len(l.fds) && l.fds[f.cfd] == f
}

// kill queues f (already marked dead by flow.kill) for a reset by the
// loop, which owns its sockets.
func (l *evloop) kill(f *flow) {
	l.qmu.Lock()
	defer l.qmu.Unlock()
	if l.wclosed {
		return
	}
	l.killq = append(l.killq, f)
	l.signal()
}

// wake makes the loop run a round (it then sees a shutdown).
func (l *evloop) wake() {
	l.qmu.Lock()
	defer l.qmu.Unlock()
	if !l.wclosed {
		l.signal()
	}
}

// signal writes the eventfd; qmu is held, so wfd is open.
func (l *evloop) signal() { rawsock.Signal(l.wfd) }

// poll is the RawConn read callback: one epoll_wait that does not block.
// false (nothing pending) parks the goroutine until the epoll descriptor
// is readable.
func (l *evloop) poll(fd uintptr) bool {
	for {
		n, err := rawEpollWait(int(fd), l.events[:])
		if err == syscall.EINTR {
			continue
		}
		if err != 0 {
			l.perr = os.NewSyscallError("epoll_wait", err)
			return true
		}
		l.n = n
		// Deferred FINs go out before the loop parks.
		return n > 0 || len(l.fins) > 0 || len(l.finsPrev) > 0
	}
}

// run is the loop's goroutine: wait, handle a batch of events, queued
// kills, and every tick the idle sweep; until the Proxy is closed and the
// loop has no flow left.
func (l *evloop) run() {
	l.nextSweep = time.Now().Add(time.Duration(l.p.tick.Load()))
	l.deadline = l.nextSweep
	_ = l.file.SetReadDeadline(l.deadline)
	for {
		err := l.rc.Read(l.pollFn)
		if err == nil {
			err, l.perr = l.perr, nil
		}
		l.mu.Lock()
		l.now = time.Now()
		switch {
		case err == nil:
			for i := range l.n {
				l.event(l.events[i])
			}
			l.n = 0
		case isTimeout(err):
			if !l.now.Before(l.nextSweep) {
				l.sweep()
				l.nextSweep = l.now.Add(time.Duration(l.p.tick.Load()))
			}
			l.deadline = l.nextSweep
			_ = l.file.SetReadDeadline(l.deadline)
		default:
			// The epoll descriptor failed: nothing can be waited for any
			// more. Reset this loop's flows and end it; new flows use
			// goroutines (add refuses).
			l.p.log.Error("l4: event loop", "listener", l.p.cfg.Load().Listener, "err", err)
			l.closed = true
			for len(l.accs) > 0 {
				l.dropAcceptor(l.accs[0], true)
			}
			for fd, f := range l.fds {
				if f != nil && fd == f.cfd {
					l.abort(f, ReasonError, err)
				}
			}
		}
		l.drainKills()
		l.checkAcceptors()
		l.checkDialing()
		l.flushFINs()
		end := l.closed || l.count == 0 && l.p.ctx.Err() != nil
		l.closed = l.closed || end
		if end {
			for len(l.accs) > 0 {
				l.dropAcceptor(l.accs[0], false)
			}
		}
		l.mu.Unlock()
		if end {
			l.qmu.Lock()
			l.wclosed = true
			_ = syscall.Close(l.wfd)
			l.qmu.Unlock()
			_ = l.file.Close()
			return
		}
	}
}

// event notes what one event says about a socket and moves what can move.
func (l *evloop) event(ev syscall.EpollEvent) {
	fd := int(ev.Fd)
	if fd == l.wfd {
		var b [8]byte
		_, _ = syscall.Read(l.wfd, b[:])
		return
	}
	if fd >= 0 && fd < len(l.afds) {
		if a := l.afds[fd]; a != nil {
			l.accept(a)
			return
		}
	}
	if fd < 0 || fd >= len(l.fds) {
		return
	}
	f := l.fds[fd]
	if f == nil || uint32(ev.Pad) != f.tag {
		// A socket that left the loop earlier in this batch; or one
		// closed earlier in this batch whose descriptor number a new
		// flow (accepted later in the batch) already has: its event
		// (a FIN, a hang-up) is not the new socket's.
		return
	}
	readable := ev.Events&(syscall.EPOLLIN|syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0
	// A FIN lets a short read stand for the end of the stream; an error
	// (a reset) does not: the next read must report it.
	fin := ev.Events&(syscall.EPOLLRDHUP|syscall.EPOLLHUP) != 0
	failed := ev.Events&syscall.EPOLLERR != 0
	if fd == f.cfd {
		f.cr, f.chup, f.cfail = f.cr || readable, (f.chup || fin) && !failed, f.cfail || failed
	} else {
		f.tr, f.thup, f.tfail = f.tr || readable, (f.thup || fin) && !failed, f.tfail || failed
	}
	if f.dead.Load() {
		l.release(f, true) // killed; the queued kill finds it gone
		return
	}
	if f.connecting {
		switch {
		case fd != f.tfd:
			return // the client's bytes wait for the connect
		case ev.Events&(syscall.EPOLLERR|syscall.EPOLLHUP) != 0:
			l.connectFailed(f, soError(f.tfd))
			return
		case ev.Events&syscall.EPOLLOUT == 0:
			return
		}
		if !l.connected(f) {
			return
		}
	}
	if f.cr && !f.up.done.Load() && !l.move(f, &f.up, f.cfd, f.tfd, &f.cr, f.chup, f.cfail) {
		return
	}
	if f.tr && !f.down.done.Load() {
		l.move(f, &f.down, f.tfd, f.cfd, &f.tr, f.thup, f.tfail)
	}
}

// connected finishes a connect that epoll reported done: the record, the
// drain watch and the PROXY header. false: the flow left the loop.
func (l *evloop) connected(f *flow) bool {
	f.connecting = false
	f.rec.ConnectTime = l.now.Sub(f.rec.Start)
	f.rec.Target = f.lt.Addr
	f.mu.Lock()
	f.target = f.lt
	f.mu.Unlock()
	cfg := f.cfg
	if cfg.ConnectionTermination {
		l.p.watchDrain(f.lt)
	}
	if !cfg.ProxyProtocolV2 {
		return true
	}
	hdr, err := f.header()
	if err != nil {
		l.abort(f, ReasonError, fmt.Errorf("l4: proxy header %s: %w", f.rec.Target, err))
		return false
	}
	w, e := writeFD(f.tfd, hdr, 0)
	switch {
	case e != 0 && e != syscall.EAGAIN:
		l.abort(f, ReasonError, fmt.Errorf("l4: proxy header %s: %w", f.rec.Target, os.NewSyscallError("write", e)))
		return false
	case w < len(hdr):
		// A fresh socket takes ~100 bytes at once; should it not, the
		// rest goes first on the goroutine path.
		l.handOff(f, &f.up, hdr[max(w, 0):], false)
		return false
	}
	return true
}

// soError is the error that ended a failed connect.
func soError(fd int) error {
	v, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_ERROR)
	switch {
	case err != nil:
		return os.NewSyscallError("getsockopt", err)
	case v == 0:
		return os.NewSyscallError("connect", syscall.ECONNRESET)
	}
	return os.NewSyscallError("connect", syscall.Errno(v))
}

// connectFailed takes a flow whose connect failed or timed out out of the
// loop; the goroutine path reports the failure and tries one other target
// (flow.connect), or ends the flow.
func (l *evloop) connectFailed(f *flow, err error) {
	_ = rawEpollCtl(l.epfd, syscall.EPOLL_CTL_DEL, f.cfd, nil)
	l.fds[f.cfd], l.fds[f.tfd] = nil, nil
	l.count--
	f.connecting = false
	f.tsock.closeFD() // closing removes it from the epoll set
	f.mu.Lock()
	f.ev = nil
	dead := f.dead.Load()
	f.mu.Unlock()
	t, key := f.lt, f.key
	var werr error
	if !dead {
		werr = f.clientToGo()
	}
	if dead || werr != nil {
		// Killed while connecting: the kill left the client to the loop.
		if werr != nil {
			f.kill(ReasonError, werr)
		}
		reset(f.client)
		t.Release()
		f.end()
		return
	}
	l.p.workers.run(func() {
		defer f.end()
		f.route(t, key, f.rec.Start, nil, err)
	})
}

// checkDialing times out connects older than their connect timeout and
// brings the wait's deadline forward to the earliest one left.
func (l *evloop) checkDialing() {
	if len(l.dialing) == 0 {
		return
	}
	keep := l.dialing[:0]
	var first time.Time
	for _, f := range l.dialing {
		if !f.connecting || !l.owns(f) {
			continue
		}
		deadline := f.rec.Start.Add(f.cfg.ConnectTimeout)
		if !l.now.Before(deadline) {
			l.connectFailed(f, &net.OpError{Op: "dial", Net: "tcp", Addr: f.tsock.RemoteAddr(), Err: os.ErrDeadlineExceeded})
			continue
		}
		keep = append(keep, f)
		if first.IsZero() || deadline.Before(first) {
			first = deadline
		}
	}
	clear(l.dialing[len(keep):])
	l.dialing = keep
	if !first.IsZero() && first.Before(l.deadline) {
		l.deadline = first
		_ = l.file.SetReadDeadline(first)
	}
}

// move copies from src to dst until src is drained: it returns false when
// the flow left the loop (ended, or handed over to the goroutine path).
func (l *evloop) move(f *flow, d *direction, src, dst int, readable *bool, fin, failed bool) bool {
	for {
		n, err := rawRead(src, l.buf)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			*readable = false
			return true
		case err != 0:
			l.abort(f, ReasonError, os.NewSyscallError("read", err))
			return false
		case n == 0:
			return l.eof(f, d, dst, false)
		}
		f.active = l.now
		// The target's last bytes (a short read after its FIN) go to the
		// client with MSG_MORE, and eof passes the FIN on at once: the
		// kernel sends data and FIN in one segment (HAProxy does the same
		// for a response whose server has closed).
		last := fin && !failed && n < len(l.buf) && d == &f.down
		flags := 0
		if last {
			flags = syscall.MSG_MORE
		}
		w, err := writeFD(dst, l.buf[:n], flags)
		if w > 0 {
			d.n += int64(w)
			d.count.Add(uint64(w))
		}
		if err != 0 && err != syscall.EAGAIN {
			l.abort(f, ReasonError, os.NewSyscallError("write", err))
			return false
		}
		if w < n {
			// The receiver is slower: the goroutine path waits for it.
			l.handOff(f, d, l.buf[max(w, 0):n], false)
			return false
		}
		if n == len(l.buf) {
			// A bulk transfer: splice on the goroutine path.
			l.handOff(f, d, nil, true)
			return false
		}
		// A short read took everything there was; the next bytes bring a
		// new event (edge-triggered). After the peer's FIN that was the
		// last of the stream. A pending error brings no new event: the
		// next read reports it.
		if failed {
			continue
		}
		*readable = false
		if fin {
			return l.eof(f, d, dst, last)
		}
		return true
	}
}

// writeFD writes b to a non-blocking socket once (EINTR retried); flags
// are sendto's, besides MSG_NOSIGNAL.
func writeFD(fd int, b []byte, flags int) (int, syscall.Errno) {
	for {
		n, err := rawWrite(fd, b, flags)
		if err != syscall.EINTR {
			return n, err
		}
	}
}

// eof ends direction d cleanly: its FIN is passed on (shutdown of dst's
// write side), or when the other way has ended too, the flow closes. now:
// the last bytes were written with MSG_MORE, and the FIN goes at once to
// leave with them.
func (l *evloop) eof(f *flow, d *direction, dst int, now bool) bool {
	d.closed = true
	f.finished(d)
	d.done.Store(true)
	other := &f.down
	if d == &f.down {
		other = &f.up
	}
	if other.done.Load() {
		f.mu.Lock()
		reset := f.dead.Load() // killed meanwhile: the kill's reset wins
		f.dead.Store(true)
		f.mu.Unlock()
		l.release(f, reset)
		return false
	}
	if now {
		_ = rawShutdown(dst, syscall.SHUT_WR)
		return true
	}
	// The FIN goes on at the end of the next round, not now: when the
	// other end has closed by then, the flow closes both sockets without a
	// shutdown(2) and without a TIME_WAIT socket on the proxy's side,
	// which the side that sends its FIN first keeps. (At full speed a
	// round lasts microseconds and the FIN mostly goes with shutdown
	// anyway, but the rounds it waits poll epoll once more before the loop
	// parks: passing every FIN at once doubled the loop's sleeps per short
	// connection, 0.18 -> 0.37.)
	if f.fin == 0 {
		l.fins = append(l.fins, f)
	}
	if d == &f.up {
		f.fin |= finToTarget
	} else {
		f.fin |= finToClient
	}
	return true
}

// flushFINs passes on the FINs deferred in the round before this one
// (shutdown of the write side), for flows still in the loop, and defers
// this round's to the next.
func (l *evloop) flushFINs() {
	for i, f := range l.finsPrev {
		if f.fin != 0 && f.cfd < len(l.fds) && l.fds[f.cfd] == f {
			f.shutdownFINs()
		}
		l.finsPrev[i] = nil
	}
	l.finsPrev, l.fins = l.fins, l.finsPrev[:0]
}

// shutdownFINs sends the FINs f.fin holds back.
func (f *flow) shutdownFINs() {
	if f.fin&finToTarget != 0 {
		_ = rawShutdown(f.tfd, syscall.SHUT_WR)
	}
	if f.fin&finToClient != 0 {
		_ = rawShutdown(f.cfd, syscall.SHUT_WR)
	}
	f.fin = 0
}

// abort ends f with reason (unless it was killed already) and resets both
// sockets.
func (l *evloop) abort(f *flow, reason string, err error) {
	f.mu.Lock()
	if !f.dead.Load() {
		f.dead.Store(true)
		f.rec.CloseReason = reason
		f.rec.Err = err
	}
	f.mu.Unlock()
	l.release(f, true)
}

// release takes f out of the loop, closes both sockets (reset: RST, as
// kill sends) and ends the flow.
func (l *evloop) release(f *flow, reset bool) {
	l.fds[f.cfd], l.fds[f.tfd] = nil, nil
	l.count--
	f.fin = 0 // the close sends the FIN
	if reset {
		linger0(f.cfd)
		linger0(f.tfd)
	}
	f.mu.Lock()
	f.ev = nil
	f.mu.Unlock()
	f.tsock.closeFD() // closing removes it from the epoll set
	_ = f.client.Close()
	f.lt.Release()
	f.end()
}

// linger0 makes a close send RST.
func linger0(fd int) {
	l := syscall.Linger{Onoff: 1}
	_ = syscall.SetsockoptLinger(fd, syscall.SOL_SOCKET, syscall.SO_LINGER, &l)
}

// handOff moves f from the loop to the goroutine path.
func (l *evloop) handOff(f *flow, d *direction, pending []byte, bulk bool) {
	_ = rawEpollCtl(l.epfd, syscall.EPOLL_CTL_DEL, f.cfd, nil)
	_ = rawEpollCtl(l.epfd, syscall.EPOLL_CTL_DEL, f.tfd, nil)
	l.fds[f.cfd], l.fds[f.tfd] = nil, nil
	l.count--
	f.shutdownFINs() // the goroutine path does not run a finished direction
	l.p.handOff(f, d, pending, bulk)
}

// handOff runs f, connected but not (or no longer) in a loop, on the
// goroutine path: its target socket enters Go's netpoller, d (when set)
// writes pending first, and bulk starts d in splice mode.
func (p *Proxy) handOff(f *flow, d *direction, pending []byte, bulk bool) {
	loopHandOffs.Add(1)
	tc := f.tsock
	t := f.lt
	err := tc.wrap(f.rec.Target)
	if err == nil {
		err = f.clientToGo()
	}
	f.mu.Lock()
	f.ev = nil
	dead := f.dead.Load()
	if err == nil && !dead {
		f.backend = tc
	}
	f.mu.Unlock()
	if err != nil || dead {
		if err != nil {
			f.kill(ReasonError, fmt.Errorf("l4: target socket %s: %w", f.rec.Target, err))
			linger0(tc.fd)
			tc.closeFD()
		} else {
			reset(tc)
		}
		reset(f.client)
		t.Release()
		f.end()
		return
	}
	if pending != nil {
		bp := copyBufs.Get().(*[]byte)
		d.pending, d.pendingBuf = (*bp)[:copy(*bp, pending)], bp
	}
	if bulk {
		d.splicing = true
		spliceSwitches.Add(1)
	}
	p.workers.run(func() {
		f.pipe(tc)
		t.Release()
		f.end()
	})
}

// drainKills resets the flows other goroutines killed.
func (l *evloop) drainKills() {
	l.qmu.Lock()
	q := l.killq
	l.killq, l.spare = l.spare[:0], q
	l.qmu.Unlock()
	for i, f := range q {
		if f.cfd < len(l.fds) && l.fds[f.cfd] == f {
			l.release(f, true)
		}
		q[i] = nil
	}
}

// sweep resets the flows that moved no byte for their idle timeout. It
// runs every tick (the smallest idle_timeout/8), so the reset comes
// between 1× and 1.125× the timeout after the last byte, as on the
// goroutine path.
func (l *evloop) sweep() {
	for fd, f := range l.fds {
		if f != nil && fd == f.cfd && !f.connecting && l.now.Sub(f.active) >= f.cfg.IdleTimeout {
			l.abort(f, ReasonIdleTimeout, nil)
		}
	}
}
