//go:build linux

package l7

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	goruntime "runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/switchyard/switchyard/internal/rawsock"
	"github.com/switchyard/switchyard/internal/runtime"
)

// The event loop carries the common HTTP/1.1 exchange — a plain keep-alive
// client, a request without a body, a target given as an IP address, a
// response with a Content-Length of at most maxBufferedBody — without a
// goroutine per connection, as HAProxy and NGINX do. Per request the
// goroutine path costs two netpoller parks and wake-ups (the client's next
// request, the target's response), a read that only says EAGAIN on the
// client socket and a peek on the pooled target connection; together about
// a fifth of lb's CPU per 1 KiB request. Here one goroutine per CPU waits
// on an epoll instance of its own (edge-triggered, itself waited on in
// Go's netpoller) holding its client sockets and its own pool of target
// connections, and moves each message with one read and one write:
//
//   - a read shorter than the buffer means the socket is drained, so no
//     read returns EAGAIN just to learn that;
//   - an idle pooled target connection stays in the epoll set, so a target
//     that closes it or sends unsolicited bytes is seen when it does (the
//     connection is closed then), not by a peek before each reuse;
//   - the request is parsed by fasthttp's own header parser and handled by
//     the same exchange code as on the goroutine path (serve, buildRequest,
//     respond, finish): rules, desync classification, X-Forwarded-*, trace
//     id, stickiness, access log and metrics do not differ by path.
//
// Anything else leaves the loop for the goroutine path with the bytes
// already read, the way l4's loop hands bulk flows to splice: a request
// with a body, Expect or an upgrade, HTTP/1.0, a head fasthttp refuses or
// one the classifier does not call compliant (fasthttp then parses and
// answers it as it would have), a target that is a host name or speaks
// TLS (the rest of the exchange runs through the target's HostClient), a
// response that is interim, chunked, unframed or larger than
// maxBufferedBody (it is read and streamed by the goroutine path's code),
// and a write to the client that would block. Once on the goroutine path
// a connection stays there (fasthttp serves it; the parker holds it when
// idle).
//
// The loop keeps the server's limits itself: the header read timeout and
// the idle timeout of client connections, the target's connect and
// response timeouts, the per-target connection cap with its wait queue,
// the pool's idle lifetime and the deregistration cut, by a sweep every
// loopTick. A panic in an exchange is recovered and answered 500 as on
// the goroutine path.

const (
	loopEvMask    = syscall.EPOLLIN | syscall.EPOLLRDHUP | rawsock.EPOLLET
	loopMaxEvents = 128
	// loopReadSize is the read buffer every socket of a loop shares.
	loopReadSize = 64 << 10
)

// loopTick is the sweep's period: the timeouts it enforces are seconds
// long (exact to within a tick). A variable so that tests can show what
// does not wait for the sweep.
var loopTick = 250 * time.Millisecond

// loopServed counts requests answered in an event loop (loopRawAnswers
// of them with the target's head forwarded as bytes), loopRawRequests the
// request heads sent to a target as bytes, loopHandOffs the client
// connections that left one for the goroutine path, loopAccepted the
// connections a loop accepted itself (tests check which path requests
// take).
var loopServed, loopHandOffs, loopAccepted, loopRawAnswers, loopRawRequests atomic.Uint64

// loopCtxPool holds the request contexts of connections between
// requests: an idle connection holds none.
var loopCtxPool sync.Pool

// loopTimeout is a timeout the loop's sweep found; isTimeout knows it.
type loopTimeout string

func (e loopTimeout) Error() string { return "l7: " + string(e) + " timed out" }
func (e loopTimeout) Timeout() bool { return true }

var (
	errLoopConnectTimeout  = loopTimeout("connect to target")
	errLoopResponseTimeout = loopTimeout("target response")
	errLoopHeaderTimeout   = loopTimeout("request header read")
	errLoopHeadTooLarge    = &Error{Side: SideUpstream, Status: 502, Reason: ReasonResponseTooLarge,
		Err: errors.New("l7: target response header block over the read buffer")}
)

// loopSet is a Server's event loops, started on the first connection.
type loopSet struct {
	s     *Server
	mu    sync.Mutex
	loops []*httpLoop
	err   error
	next  atomic.Uint32
	// conns counts the client connections the loops hold (Shutdown waits
	// for none); accepting the listening descriptors they accept on.
	conns     atomic.Int64
	accepting atomic.Int64
	// done is closed once Shutdown has begun (loops close idle clients
	// and end when they hold none).
	stopping atomic.Bool
}

func newLoopSet(s *Server) *loopSet { return &loopSet{s: s} }

func (ls *loopSet) start() []*httpLoop {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.loops != nil || ls.err != nil || ls.stopping.Load() {
		return ls.loops
	}
	n := goruntime.GOMAXPROCS(0)
	loops := make([]*httpLoop, 0, n)
	for range n {
		l, err := newHTTPLoop(ls)
		if err != nil {
			ls.err = err
			ls.s.log.Warn("l7: event loop; connections use goroutines", "listener", ls.s.name, "err", err)
			for _, l := range loops {
				l.stop()
			}
			return nil
		}
		loops = append(loops, l)
	}
	ls.loops = loops
	return loops
}

// take gives the accepted plain-TCP connection c to a loop; false when no
// loop can take it (fasthttp serves it then).
func (ls *loopSet) take(c net.Conn) bool {
	if ls.stopping.Load() {
		return false
	}
	fd, ok := connFD(c)
	if !ok {
		return false
	}
	loops := ls.start()
	if len(loops) == 0 {
		return false
	}
	l := loops[int(ls.next.Add(1))%len(loops)]
	lc := &lconn{Conn: c, fd: fd, born: time.Now()}
	return l.add(lc)
}

// shutdown makes the loops close their idle connections now and every
// other one after its current answer.
func (ls *loopSet) shutdown() {
	ls.stopping.Store(true)
	ls.wakeAll(false)
}

// kill closes every connection the loops still hold (Shutdown's deadline).
func (ls *loopSet) kill() { ls.wakeAll(true) }

// wakeAll makes every loop run a round (kill: closing everything).
func (ls *loopSet) wakeAll(kill bool) {
	ls.mu.Lock()
	loops := ls.loops
	ls.mu.Unlock()
	for _, l := range loops {
		l.wake(kill)
	}
}

// httpLoop is one event loop: a goroutine, its epoll instance, its client
// connections and its target connection pools. All fields but the inbox
// (under qmu) are the loop goroutine's.
type httpLoop struct {
	ls     *loopSet
	s      *Server
	epfd   int
	wfd    int
	file   *os.File
	rc     syscall.RawConn
	pollFn func(fd uintptr) bool
	events [loopMaxEvents]syscall.EpollEvent
	n      int
	perr   error

	buf []byte        // the read buffer all sockets share
	br  *bufio.Reader // heads are parsed from it, over rd
	rd  bytes.Reader
	out appendWriter // answers are serialised into it, through bw
	bw  *bufio.Writer

	slots   []loopSlot // by descriptor
	seq     uint32
	accs    []*acceptor // listening sockets the loop accepts on
	clients []*lconn
	targets []*tconn
	pools   map[poolID]*tpool
	rh      rawHead // the response head being forwarded as bytes
	// trs are the Transports whose drain watch knows this loop.
	trs    map[*Transport]struct{}
	now    time.Time
	maxHdr int
	rt     time.Duration // the header block's read timeout
	tick   time.Duration // loopTick when the loop started

	qmu     sync.Mutex
	inbox   []*lconn
	accIn   []*acceptor
	drains  []*runtime.Target // targets whose deregistration delay ended
	killReq bool
	quit    bool // stop asked: end now
	closed  bool
}

// loopSlot is what a descriptor of the loop's epoll set belongs to; tag
// tells its events from those of an earlier socket with the same number
// closed in the same batch.
type loopSlot struct {
	c   *lconn
	t   *tconn
	a   *acceptor
	tag uint32
}

type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) { w.b = append(w.b, p...); return len(p), nil }

// lconn is a client connection held by a loop. It is the net.Conn of the
// request contexts the loop hands the exchange code.
type lconn struct {
	// Conn is the connection as accepted (Close counts it closed): Go's,
	// or &sock for a socket the loop accepted itself (accept_linux.go).
	net.Conn
	sock loopSock
	l    *httpLoop
	fd   int
	tag  uint32
	idx  int // in l.clients
	id   uint64
	born time.Time
	// since is when the connection went idle; headAt when the partial
	// request head in pend began (zero when none).
	since, headAt time.Time
	pend          []byte // bytes read and not yet served
	ctx           *fasthttp.RequestCtx
	x             *exchange // the exchange in progress
	// waiting: x waits for a target (t, or a free connection of pool);
	// tb is the backend of the attempt, acquired.
	waiting bool
	t       *tconn
	tb      *backend
	wpool   *tpool
	waitAt  time.Time
	// readable: the socket may hold unread bytes (an event came while
	// an exchange was in progress); hup: the client's FIN came; eof: it
	// was read; busy: process runs for it (complete must not recurse).
	readable, hup, eof, busy, gone bool
}

// tconn is a target connection owned by a loop: idle in its pool (c nil)
// or carrying c's request.
type tconn struct {
	pool       *tpool
	fd         int
	tag        uint32
	idx        int // in l.targets
	c          *lconn
	connecting bool
	reused     bool
	hup        bool      // the target's FIN came (EPOLLRDHUP)
	since      time.Time // connect start, last progress, or idle since
	wbuf       []byte    // the serialised request
	woff       int       // bytes of wbuf written
	rbuf       []byte    // a response not yet complete
}

type poolID struct {
	tr   *Transport
	addr string
}

// tpool is a loop's connections to one target.
type tpool struct {
	tr   *Transport
	ap   netip.AddrPort
	ok   bool // ap is an IP address the loop can connect to
	opts *TransportOptions
	idle []*tconn
	// all counts the connections to the target of every loop of the
	// Transport: MaxConnsPerTarget caps it.
	all     *atomic.Int64
	waiters []*lconn
}

// full reports whether a new connection would pass the cap.
func (p *tpool) full() bool { return p.all.Load() >= int64(p.opts.MaxConnsPerTarget) }

func newHTTPLoop(ls *loopSet) (*httpLoop, error) {
	epfd, wfd, file, rc, err := rawsock.NewEpoll("l7-evloop")
	if err != nil {
		return nil, err
	}
	s := ls.s
	l := &httpLoop{ls: ls, s: s, epfd: epfd, wfd: wfd, file: file, rc: rc, buf: make([]byte, loopReadSize),
		pools: make(map[poolID]*tpool), trs: make(map[*Transport]struct{}), maxHdr: s.fs.ReadBufferSize, rt: s.fs.ReadTimeout, tick: loopTick}
	l.br = bufio.NewReaderSize(&l.rd, l.maxHdr+4096)
	l.bw = bufio.NewWriterSize(&l.out, 16<<10)
	l.pollFn = l.poll
	go l.run()
	return l, nil
}

// add queues c for the loop; false when the loop has ended.
func (l *httpLoop) add(c *lconn) bool {
	l.qmu.Lock()
	defer l.qmu.Unlock()
	if l.closed {
		return false
	}
	l.ls.conns.Add(1)
	l.inbox = append(l.inbox, c)
	l.signal()
	return true
}

// wake makes the loop run a round (shutdown; kill closes everything).
func (l *httpLoop) wake(kill bool) {
	l.qmu.Lock()
	defer l.qmu.Unlock()
	if l.closed {
		return
	}
	l.killReq = l.killReq || kill
	l.signal()
}

// stop ends a loop that holds no connection yet (its siblings could not
// be made): the loop itself closes its descriptors.
func (l *httpLoop) stop() {
	l.qmu.Lock()
	defer l.qmu.Unlock()
	if !l.closed {
		l.quit = true
		l.signal()
	}
}

// drained queues t for the loop (the drainWaker of its Transports): its
// next round cuts what it has on t.
func (l *httpLoop) drained(t *runtime.Target) {
	l.qmu.Lock()
	defer l.qmu.Unlock()
	if !l.closed {
		l.drains = append(l.drains, t)
		l.signal()
	}
}

// signal writes the eventfd; qmu is held.
func (l *httpLoop) signal() { rawsock.Signal(l.wfd) }

// poll is the RawConn read callback: one epoll_wait that does not block;
// false parks the goroutine until the epoll descriptor is readable.
func (l *httpLoop) poll(fd uintptr) bool {
	for {
		n, err := rawsock.EpollWait(int(fd), l.events[:])
		if err == syscall.EINTR {
			continue
		}
		if err != 0 {
			l.perr = os.NewSyscallError("epoll_wait", err)
			return true
		}
		l.n = n
		return n > 0
	}
}

func (l *httpLoop) run() {
	next := time.Now().Add(l.tick)
	_ = l.file.SetReadDeadline(next)
	for {
		err := l.rc.Read(l.pollFn)
		if err == nil {
			err, l.perr = l.perr, nil
		}
		l.now = time.Now()
		switch {
		case err == nil:
			for i := range l.n {
				l.event(l.events[i])
			}
			l.n = 0
		case isTimeout(err):
		default:
			l.s.log.Error("l7: event loop ended; its connections are closed", "listener", l.s.name, "err", err)
			l.killAll()
			l.end()
			return
		}
		if l.takeInbox() {
			l.killAll()
			l.end()
			return
		}
		if len(l.accs) > 0 {
			l.checkAcceptors()
		}
		if !l.now.Before(next) {
			l.sweep()
			next = l.now.Add(l.tick)
			_ = l.file.SetReadDeadline(next)
		}
		if l.ls.stopping.Load() {
			l.closeIdle()
			if len(l.clients) == 0 {
				l.qmu.Lock()
				empty := len(l.inbox) == 0
				if empty {
					l.closed = true
				}
				l.qmu.Unlock()
				if empty {
					l.end()
					return
				}
			}
		}
	}
}

// end closes the loop's pools and descriptors. A loop that ends while
// its server still serves (a failed epoll) leaves accepting to Go.
func (l *httpLoop) end() {
	for len(l.targets) > 0 {
		l.closeTarget(l.targets[len(l.targets)-1])
	}
	l.qmu.Lock()
	l.closed = true
	accIn := l.accIn
	l.accIn = nil
	l.qmu.Unlock()
	fallback := !l.ls.stopping.Load()
	for len(l.accs) > 0 {
		l.dropAcceptor(l.accs[len(l.accs)-1], fallback)
	}
	for _, a := range accIn {
		rawClose(a.fd)
		if fallback && !a.stop.Load() {
			a.dl.AcceptInGo()
		}
	}
	for tr := range l.trs {
		tr.drain.removeWaker(l)
	}
	_ = syscall.Close(l.wfd)
	_ = l.file.Close()
}

// takeInbox adds the queued connections and runs a queued kill; true
// when the loop is to stop.
func (l *httpLoop) takeInbox() bool {
	l.qmu.Lock()
	in := l.inbox
	l.inbox = nil
	accIn := l.accIn
	l.accIn = nil
	drains := l.drains
	l.drains = nil
	kill := l.killReq
	l.killReq = false
	quit := l.quit
	l.qmu.Unlock()
	for _, a := range accIn {
		l.addAcceptor(a)
	}
	for _, c := range in {
		l.addClient(c)
	}
	for _, t := range drains {
		l.cutDrained(t)
	}
	if kill {
		l.killAll()
	}
	return quit
}

func (l *httpLoop) nextTag() uint32 {
	if l.seq++; l.seq == 0 {
		l.seq = 1
	}
	return l.seq
}

func (l *httpLoop) slot(fd int) *loopSlot {
	if fd >= len(l.slots) {
		l.slots = append(l.slots, make([]loopSlot, fd+1-len(l.slots)+64)...)
	}
	return &l.slots[fd]
}

func (l *httpLoop) addClient(c *lconn) {
	c.l, c.tag, c.since = l, l.nextTag(), l.now
	ev := syscall.EpollEvent{Events: loopEvMask, Fd: int32(c.fd), Pad: int32(c.tag)}
	if e := rawsock.EpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, c.fd, &ev); e != 0 {
		// Not in the set: the goroutine path serves it.
		l.ls.conns.Add(-1)
		loopHandOffs.Add(1)
		l.s.hwg.Add(1)
		go l.s.serveFromLoop(c, nil, nil, false)
		return
	}
	*l.slot(c.fd) = loopSlot{c: c, tag: c.tag}
	c.idx = len(l.clients)
	l.clients = append(l.clients, c)
	// No read yet: EPOLL_CTL_ADD reports a socket that is already
	// readable (edge-triggered too), so the request's bytes, there now or
	// later, come as an event. Reading at once would cost a recvfrom that
	// says EAGAIN whenever the client's request has not arrived yet (on
	// loopback, about every other new connection).
}

func (l *httpLoop) event(ev syscall.EpollEvent) {
	fd := int(ev.Fd)
	if fd == l.wfd {
		var b [8]byte
		_, _ = syscall.Read(l.wfd, b[:])
		return
	}
	if fd < 0 || fd >= len(l.slots) {
		return
	}
	sl := l.slots[fd]
	if sl.tag != uint32(ev.Pad) {
		return
	}
	switch {
	case sl.c != nil:
		c := sl.c
		if ev.Events&(syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
			c.hup = true
		}
		c.readable = true
		if c.x == nil {
			l.readClient(c)
		}
	case sl.t != nil:
		l.targetEvent(sl.t, ev.Events)
	case sl.a != nil:
		l.accept(sl.a)
	}
}

// readClient reads and serves what c sent, until the socket is drained or
// an exchange waits for its target.
func (l *httpLoop) readClient(c *lconn) {
	for !c.gone && c.readable && c.x == nil {
		n, e := rawRead(c.fd, l.buf)
		switch {
		case e == syscall.EAGAIN:
			c.readable = false
			continue
		case e == syscall.EINTR:
			continue
		case e != 0 || n == 0:
			// EOF or an error: what was read is still served (a client
			// may half-close after its request).
			c.readable, c.eof = false, true
			continue
		}
		if n < len(l.buf) {
			// Drained; after a FIN the stream has ended too.
			c.readable = false
			c.eof = c.hup
		}
		data := l.buf[:n]
		if len(c.pend) > 0 {
			c.pend = append(c.pend, data...)
			data = c.pend
		}
		l.process(c, data)
	}
	if !c.gone && c.x == nil && c.eof && len(c.pend) == 0 {
		l.closeClient(c)
	}
}

// process serves the complete requests at the start of data (c's bytes
// not yet served), until one waits for its target; the rest stays in
// c.pend.
func (l *httpLoop) process(c *lconn, data []byte) {
	c.busy = true
	defer func() { c.busy = false }()
	for !c.gone && c.x == nil {
		if len(data) == 0 {
			c.pend = c.pend[:0]
			c.headAt = time.Time{}
			if cap(c.pend) > 4<<10 {
				c.pend = nil
			}
			c.since = l.now
			return
		}
		end := headEnd(data)
		if end < 0 {
			if len(data) >= l.maxHdr {
				l.toGo(c, data)
				return
			}
			l.keep(c, data)
			if c.headAt.IsZero() {
				c.headAt = l.now
			}
			return
		}
		ctx := l.ctxFor(c)
		h := &ctx.Request.Header
		l.rd.Reset(data[:end])
		l.br.Reset(&l.rd)
		if err := h.Read(l.br); err != nil || l.br.Buffered() != 0 {
			l.toGo(c, data)
			return
		}
		v := classify(h, h.RawHeaders(), h.RequestURI())
		if !loopCarries(h, &v) {
			l.toGo(c, data)
			return
		}
		// What follows the head is kept in c.pend before the exchange runs:
		// data may be the loop's buffer, which the next read reuses.
		l.keep(c, data[end:])
		c.headAt = time.Time{}
		l.runExchange(c, &v)
		data = c.pend
	}
}

// keep makes c.pend hold exactly data (which may be c.pend's own tail).
func (l *httpLoop) keep(c *lconn, data []byte) {
	if len(data) == 0 {
		c.pend = c.pend[:0]
		return
	}
	c.pend = append(c.pend[:0], data...)
}

// headEnd returns the length of the request or response head at the start
// of b (through its empty line), or -1 when b holds no complete head. A
// bare LF ends lines too, as fasthttp reads them.
func headEnd(b []byte) int {
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return -1
		}
		i += j + 1
		if i < len(b) && b[i] == '\n' {
			return i + 1
		}
		if i+1 < len(b) && b[i] == '\r' && b[i+1] == '\n' {
			return i + 2
		}
		if i >= len(b) {
			return -1
		}
	}
}

// loopCarries reports whether the loop carries a request with head h and
// classification v: HTTP/1.1, compliant, without a body, Expect or an
// upgrade.
func loopCarries(h *fasthttp.RequestHeader, v *verdict) bool {
	if !h.IsHTTP11() || v.class != classCompliant {
		return false
	}
	if cl := h.ContentLength(); cl != 0 && cl != -2 {
		return false
	}
	if v.hopByHop && (len(h.Peek("Upgrade")) > 0 || len(h.Peek("Expect")) > 0) {
		return false
	}
	return true
}

// ctxFor returns c's request context, taking a free one when c has none.
func (l *httpLoop) ctxFor(c *lconn) *fasthttp.RequestCtx {
	if c.ctx != nil {
		return c.ctx
	}
	ctx, _ := loopCtxPool.Get().(*fasthttp.RequestCtx)
	if ctx == nil {
		ctx = new(fasthttp.RequestCtx)
	}
	ctx.Init2(c, nil, false)
	if c.id == 0 {
		c.id = ctx.ConnID()
	}
	ctx.Response.Header.SetNoDefaultContentType(true)
	c.ctx = ctx
	return ctx
}

// dropCtx gives c's request context back to the loop.
func (l *httpLoop) dropCtx(c *lconn) {
	if ctx := c.ctx; ctx != nil {
		c.ctx = nil
		ctx.Request.Reset()
		ctx.Response.Reset()
		loopCtxPool.Put(ctx)
	}
}

// runExchange serves the request parsed into c.ctx: serve, and when it
// does not wait for a target, the answer.
func (l *httpLoop) runExchange(c *lconn, v *verdict) {
	s := l.s
	s.counters.ActiveRequests.Add(1)
	x := acquireExchange()
	x.s, x.r, x.ctx, x.lc = s, s.router.Load(), c.ctx, c
	x.verdict, x.classified = *v, true
	c.x = x
	l.protect(c, (*exchange).serve)
	if !c.gone && c.x == x && !c.waiting {
		l.complete(c)
	}
}

// protect runs fn on c's exchange; a panic is answered 500 (as the
// goroutine path's handler does) and ends any attempt in progress.
func (l *httpLoop) protect(c *lconn, fn func(*exchange)) (ok bool) {
	x := c.x
	defer func() {
		if p := recover(); p != nil {
			l.abortAttempt(c)
			x.panicked(p)
			ok = false
		}
	}()
	fn(x)
	return true
}

// abortAttempt ends the target side of c's exchange: the connection (or
// the place in a wait queue) and the target acquired.
func (l *httpLoop) abortAttempt(c *lconn) {
	if t := c.t; t != nil {
		c.t, t.c = nil, nil
		l.closeTarget(t)
	}
	if p := c.wpool; p != nil {
		p.dropWaiter(c)
		c.wpool = nil
	}
	if c.tb != nil {
		c.tb.t.Release()
		c.tb = nil
	}
	c.waiting = false
}

// complete writes c's answer (its exchange is done), ends the exchange and
// goes on with c's next request.
func (l *httpLoop) complete(c *lconn) {
	x, ctx := c.x, c.ctx
	closeAfter := answerHead(x, ctx, c.born)
	x.finish()
	c.x = nil
	loopServed.Add(1)
	l.out.b = l.out.b[:0]
	l.bw.Reset(&l.out)
	err := ctx.Response.Write(l.bw)
	if err == nil {
		err = l.bw.Flush()
	}
	l.dropCtx(c)
	if err != nil {
		l.closeClient(c)
		return
	}
	l.sendAnswer(c, closeAfter)
}

// sendAnswer writes the answer in l.out to c, then goes on with c's next
// request (or closes it).
func (l *httpLoop) sendAnswer(c *lconn, closeAfter bool) {
	out := l.out.b
	for len(out) > 0 {
		n, e := rawWrite(c.fd, out)
		if e == syscall.EINTR {
			continue
		}
		if e == syscall.EAGAIN {
			n = 0
		}
		if e == syscall.EAGAIN || (e == 0 && n < len(out)) {
			// The client reads slower than we answer: the rest goes out
			// on the goroutine path, which then serves the connection.
			l.toGoWriting(c, out[n:], closeAfter)
			return
		}
		if e != 0 {
			l.closeClient(c)
			return
		}
		out = out[n:]
	}
	if cap(l.out.b) > 256<<10 {
		l.out.b = nil
	}
	if closeAfter {
		l.closeClient(c)
		return
	}
	c.since = l.now
	if !c.busy {
		l.process(c, c.pend)
		l.readClient(c)
	}
}

// answerHead prepares ctx's answer as fasthttp's server does after its
// handler: Connection: close when draining, past the connection's
// lifetime, or asked by either side; no body for HEAD. It reports whether
// the connection closes after the answer.
func answerHead(x *exchange, ctx *fasthttp.RequestCtx, born time.Time) bool {
	x.closeIfDue(born)
	if ctx.IsHead() {
		ctx.Response.SkipBody = true
	}
	closeAfter := ctx.Request.Header.ConnectionClose() || ctx.Response.Header.ConnectionClose()
	if closeAfter {
		ctx.Response.Header.SetConnectionClose()
	}
	return closeAfter
}

// detach takes c out of the loop (its socket stays open).
func (l *httpLoop) detach(c *lconn) {
	_ = rawsock.EpollCtl(l.epfd, syscall.EPOLL_CTL_DEL, c.fd, nil)
	l.unlink(c)
}

// unlink takes c out of the loop's tables; a socket about to be closed
// needs no EPOLL_CTL_DEL (closing its only descriptor takes it out of
// every epoll set).
func (l *httpLoop) unlink(c *lconn) {
	l.slots[c.fd] = loopSlot{}
	last := l.clients[len(l.clients)-1]
	l.clients[c.idx], last.idx = last, c.idx
	l.clients = l.clients[:len(l.clients)-1]
	c.gone = true
	l.ls.conns.Add(-1)
}

func (l *httpLoop) closeClient(c *lconn) {
	if c.gone {
		return
	}
	if c.x != nil {
		l.abortAttempt(c)
		c.x.finish()
		c.x = nil
	}
	l.dropCtx(c)
	l.unlink(c)
	_ = c.Conn.Close()
}

// toGo hands c, with data (its bytes not yet served), to the goroutine
// path: fasthttp serves the connection from the first of them.
func (l *httpLoop) toGo(c *lconn, data []byte) {
	pre := append([]byte(nil), data...)
	l.dropCtx(c)
	l.detach(c)
	loopHandOffs.Add(1)
	l.s.hwg.Add(1)
	go l.s.serveFromLoop(c, pre, nil, false)
}

// toGoWriting hands c over with out, the rest of an answer, to write
// first.
func (l *httpLoop) toGoWriting(c *lconn, out []byte, closeAfter bool) {
	rest := append([]byte(nil), out...)
	pre := append([]byte(nil), c.pend...)
	l.detach(c)
	loopHandOffs.Add(1)
	l.s.hwg.Add(1)
	go l.s.serveFromLoop(c, pre, rest, closeAfter)
}

// serveFromLoop serves a connection that left an event loop: out (an
// answer's rest) is written first, then fasthttp serves the connection
// from pre (bytes read and not yet served).
func (s *Server) serveFromLoop(c *lconn, pre, out []byte, closeAfter bool) {
	defer s.hwg.Done()
	c.goConn()
	if len(out) > 0 {
		_ = c.Conn.SetWriteDeadline(time.Now().Add(s.idle))
		if _, err := c.Conn.Write(out); err != nil {
			_ = c.Conn.Close()
			return
		}
		_ = c.Conn.SetWriteDeadline(time.Time{})
	}
	if closeAfter {
		_ = c.Conn.Close()
		return
	}
	s.serveConnAfterLoop(c, pre)
}

func (s *Server) serveConnAfterLoop(c *lconn, pre []byte) {
	var conn net.Conn = c.Conn
	if len(pre) > 0 {
		conn = &prefixConn{Conn: c.Conn, pre: pre}
	}
	dc := &deadlineConn{Conn: conn, born: c.born, connID: c.id}
	if len(pre) == 0 && s.park != nil {
		dc.p = s.park
	}
	if err := s.fs.ServeConn(dc); err != nil {
		s.log.Debug("l7: serve connection from the event loop", "listener", s.name, "err", err)
	}
}

// prefixConn reads pre before the connection's own bytes.
type prefixConn struct {
	net.Conn
	pre []byte
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if len(p.pre) > 0 {
		n := copy(b, p.pre)
		p.pre = p.pre[n:]
		return n, nil
	}
	return p.Conn.Read(b)
}

// CloseWrite half-closes when the connection can (a WebSocket tunnel
// passes a client's FIN on).
func (p *prefixConn) CloseWrite() error {
	if cw, ok := p.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return p.Conn.Close()
}

// ---- the target side ----

// send carries x's request to b's target (forward calls it once the
// request is built): through the loop's own pool when the target is an IP
// address without TLS, otherwise on the goroutine path.
func (l *httpLoop) send(x *exchange, b *backend, f *forwardAction, now time.Time) bool {
	c := x.lc
	x.fwd, x.fwdNow = f, now
	c.waiting = true
	l.attempt(c, b)
	return true
}

func (l *httpLoop) pool(tg *TargetGroup, addr string) *tpool {
	id := poolID{tr: tg.tr, addr: addr}
	p := l.pools[id]
	if p == nil {
		p = &tpool{tr: tg.tr, opts: &tg.tr.opts, all: tg.tr.loopConns(addr)}
		p.ap, p.ok = loopTargetAddr(addr)
		l.pools[id] = p
		if _, ok := l.trs[tg.tr]; !ok {
			l.trs[tg.tr] = struct{}{}
			tg.tr.drain.addWaker(l)
		}
	}
	return p
}

func loopTargetAddr(addr string) (netip.AddrPort, bool) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().IsValid() || ap.Addr().Zone() != "" {
		return netip.AddrPort{}, false
	}
	return ap, true
}

// attempt sends c's request to b's target.
func (l *httpLoop) attempt(c *lconn, b *backend) {
	x := c.x
	p := l.pool(x.tg, b.t.Addr)
	if !p.ok || x.tg.isTLS {
		l.exchangeToGo(c, b)
		return
	}
	b.t.Acquire()
	c.tb = b
	x.rec.Target = b.t.Addr
	if x.attempt > 0 {
		x.tSent = time.Now()
	} else {
		x.tSent = x.rec.Received
	}
	if targetDrained(b.t) {
		l.attemptFailed(c, errTargetDrained)
		return
	}
	if len(p.idle) == 0 && p.full() {
		c.wpool, c.waitAt = p, l.now
		p.waiters = append(p.waiters, c)
		return
	}
	t, err := l.conn(p)
	if err != nil {
		l.attemptFailed(c, err)
		return
	}
	l.sendOn(c, t)
}

// conn takes p's most recently used idle connection, or dials one.
func (l *httpLoop) conn(p *tpool) (*tconn, error) {
	if n := len(p.idle); n > 0 {
		t := p.idle[n-1]
		p.idle = p.idle[:n-1]
		return t, nil
	}
	return l.dial(p)
}

// sendOn writes c's request on t.
func (l *httpLoop) sendOn(c *lconn, t *tconn) {
	x := c.x
	t.c, c.t = c, t
	// The request is serialised into t's own buffer (it may go out in
	// pieces); the loop's answer buffer is kept aside meanwhile.
	if x.rawReq {
		t.wbuf = x.appendRawRequest(t.wbuf[:0])
		loopRawRequests.Add(1)
	} else {
		answers := l.out.b
		l.bw.Reset(&l.out)
		l.out.b = t.wbuf[:0]
		err := x.req.Write(l.bw)
		if err == nil {
			err = l.bw.Flush()
		}
		t.wbuf, l.out.b = l.out.b, answers
		if err != nil {
			t.woff = 0
			l.attemptFailed(c, err)
			return
		}
	}
	t.woff = 0
	t.since = l.now
	if !t.connecting {
		l.writeTarget(t)
	}
}

func (l *httpLoop) dial(p *tpool) (*tconn, error) {
	fd, inProgress, e := rawConnectTCP(p.ap)
	if e != 0 {
		return nil, &dialError{err: os.NewSyscallError("connect", e)}
	}
	t := &tconn{pool: p, fd: fd, tag: l.nextTag(), connecting: inProgress, since: l.now}
	ev := syscall.EpollEvent{Events: loopEvMask | syscall.EPOLLOUT, Fd: int32(fd), Pad: int32(t.tag)}
	if e := rawsock.EpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); e != 0 {
		rawClose(fd)
		return nil, &dialError{err: os.NewSyscallError("epoll_ctl", e)}
	}
	*l.slot(fd) = loopSlot{t: t, tag: t.tag}
	t.idx = len(l.targets)
	l.targets = append(l.targets, t)
	p.all.Add(1)
	return t, nil
}

// closeTarget closes t and serves a request waiting for a connection.
func (l *httpLoop) closeTarget(t *tconn) {
	if t.fd < 0 {
		return
	}
	l.forget(t)
	rawClose(t.fd)
	t.fd = -1
	l.serveWaiter(t.pool)
}

// forget takes t out of the loop's tables and its pool (the socket stays
// open).
func (l *httpLoop) forget(t *tconn) {
	l.slots[t.fd] = loopSlot{}
	last := l.targets[len(l.targets)-1]
	l.targets[t.idx], last.idx = last, t.idx
	l.targets = l.targets[:len(l.targets)-1]
	p := t.pool
	p.all.Add(-1)
	for i, it := range p.idle {
		if it == t {
			p.idle = append(p.idle[:i], p.idle[i+1:]...)
			break
		}
	}
}

// release puts t back in its pool (reuse) or closes it, then serves a
// request waiting for a connection.
func (l *httpLoop) release(t *tconn, reuse bool) {
	t.c = nil
	t.rbuf = t.rbuf[:0]
	if !reuse {
		l.closeTarget(t)
		return
	}
	t.reused = true
	t.since = l.now
	t.pool.idle = append(t.pool.idle, t)
	l.serveWaiter(t.pool)
}

func (l *httpLoop) serveWaiter(p *tpool) {
	for len(p.waiters) > 0 {
		if len(p.idle) == 0 && p.full() {
			return
		}
		c := p.waiters[0]
		p.waiters = p.waiters[1:]
		c.wpool = nil
		t, err := l.conn(p)
		if err != nil {
			l.attemptFailed(c, err)
			continue
		}
		l.sendOn(c, t)
	}
}

func (p *tpool) dropWaiter(c *lconn) {
	for i, w := range p.waiters {
		if w == c {
			p.waiters = append(p.waiters[:i], p.waiters[i+1:]...)
			return
		}
	}
}

func (l *httpLoop) targetEvent(t *tconn, evs uint32) {
	if t.connecting {
		if evs&(syscall.EPOLLERR|syscall.EPOLLHUP) != 0 {
			if e := rawsock.SoError(t.fd); e != 0 {
				l.attemptFailed(t.c, &dialError{err: os.NewSyscallError("connect", e)})
				return
			}
		}
		if evs&(syscall.EPOLLOUT|syscall.EPOLLERR|syscall.EPOLLHUP) == 0 {
			return
		}
		if e := rawsock.SoError(t.fd); e != 0 {
			l.attemptFailed(t.c, &dialError{err: os.NewSyscallError("connect", e)})
			return
		}
		t.connecting = false
		t.since = l.now
		if t.c == nil {
			// Its request went elsewhere (a panic): keep it for the next.
			l.release(t, true)
			return
		}
		l.writeTarget(t)
		return
	}
	if evs&(syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
		t.hup = true
	}
	if t.c == nil {
		// Idle in the pool: the target closed it or sent bytes nobody asked
		// for, unless this is an edge of the last response's bytes.
		if evs&(syscall.EPOLLIN|syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 && rawsock.PeekStale(t.fd) {
			l.closeTarget(t)
		}
		return
	}
	if evs&syscall.EPOLLOUT != 0 && t.woff < len(t.wbuf) {
		l.writeTarget(t)
		if t.c == nil {
			return
		}
	}
	if evs&(syscall.EPOLLIN|syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
		l.readTarget(t)
	}
}

// writeTarget writes what is left of t's request; the rest of a partial
// write goes out on EPOLLOUT.
func (l *httpLoop) writeTarget(t *tconn) {
	for t.woff < len(t.wbuf) {
		n, e := rawWrite(t.fd, t.wbuf[t.woff:])
		switch e {
		case 0:
			t.woff += n
			continue
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return
		}
		var err error = os.NewSyscallError("write", e)
		if t.reused && t.woff == 0 {
			// A pooled connection found closed before the first byte:
			// the request was not sent.
			err = errStaleConn
		}
		l.attemptFailed(t.c, err)
		return
	}
	t.since = l.now
}

// readTarget reads t's response and answers when it is complete.
func (l *httpLoop) readTarget(t *tconn) {
	for t.c != nil {
		n, e := rawRead(t.fd, l.buf)
		switch {
		case e == syscall.EAGAIN:
			return
		case e == syscall.EINTR:
			continue
		case e != 0:
			l.attemptFailed(t.c, os.NewSyscallError("read", e))
			return
		case n == 0:
			if len(t.rbuf) == 0 {
				// Closed before the first byte of the response: the same
				// error the goroutine path reports (retryable when the
				// request may be replayed).
				l.attemptFailed(t.c, fasthttp.ErrConnectionClosed)
			} else {
				l.attemptFailed(t.c, io.ErrUnexpectedEOF)
			}
			return
		}
		t.since = l.now
		data := l.buf[:n]
		if len(t.rbuf) > 0 {
			t.rbuf = append(t.rbuf, data...)
			data = t.rbuf
		}
		if l.response(t, data) {
			return
		}
		if len(t.rbuf) == 0 {
			t.rbuf = append(t.rbuf, data...)
		}
		if n < len(l.buf) && !t.hup {
			// Drained. After a FIN, the next read says EOF: no edge
			// would come for it.
			return
		}
	}
}

// response handles the bytes of t's response read so far (data); true
// when the exchange went on (answered, failed or handed over), false when
// more bytes are needed.
func (l *httpLoop) response(t *tconn, data []byte) bool {
	c := t.c
	x := c.x
	end := headEnd(data)
	if end < 0 {
		if len(data) >= t.pool.opts.ReadBufferSize {
			l.attemptFailed(c, errLoopHeadTooLarge)
			return true
		}
		return false
	}
	if rawForwardable(x) && scanRawHead(data[:end], &l.rh) && l.rh.cl <= maxBufferedBody {
		cl := l.rh.cl
		if len(data)-end < cl {
			return false
		}
		l.rawResponse(c, t, data[:end], data[end:end+cl], len(data) == end+cl)
		return true
	}
	resp := &x.resp
	resp.Reset()
	l.rd.Reset(data[:end])
	l.br.Reset(&l.rd)
	if err := resp.Header.Read(l.br); err != nil {
		l.attemptFailed(c, err)
		return true
	}
	st := resp.StatusCode()
	skip := x.head || st == fasthttp.StatusNoContent || st == fasthttp.StatusNotModified
	cl := resp.Header.ContentLength()
	if st < 200 || (!skip && (cl < 0 || cl > maxBufferedBody)) {
		l.responseToGo(c, t, data)
		return true
	}
	if skip {
		cl = 0
		resp.SkipBody = true
	}
	if len(data)-end < cl {
		return false
	}
	if cl > 0 {
		resp.SetBody(data[end : end+cl])
	}
	reuse := len(data) == end+cl && !x.closeTgt && !resp.ConnectionClose()
	c.t = nil
	l.release(t, reuse)
	x.b, x.acquired = c.tb, true
	c.tb = nil
	c.waiting = false
	l.protect(c, forwardDoneFn)
	l.complete(c)
	return true
}

func forwardDoneFn(x *exchange) { x.forwardDone(x.fwd, x.fwdNow) }

// rawForwardable reports whether x's answer may take the raw path
// (rawresp.go): not for HEAD (the parsed path keeps the target's
// Content-Length without a body), nor when app_cookie stickiness must read
// the target's cookies.
func rawForwardable(x *exchange) bool {
	if x.head {
		return false
	}
	_, app := x.tg.affinity.(*appCookie)
	return !app
}

// rawResponse answers c with t's response, head and body complete in the
// loop's buffers, forwarding the head as bytes (l.rh, from scanRawHead):
// the status line and fields as the target sent them less the hop-by-hop
// ones, then what the exchange added to the answer's header (stickiness
// cookies, Connection: close), then the body. The answer is built before
// t goes back to its pool: releasing it may serve another request that
// reads into the buffers head and body are in. exact: nothing followed
// the body (the connection may be reused).
func (l *httpLoop) rawResponse(c *lconn, t *tconn, head, body []byte, exact bool) {
	x, ctx := c.x, c.ctx
	h := &l.rh
	reuse := exact && !x.closeTgt && !h.close
	c.t = nil
	x.b, x.acquired = c.tb, true
	c.tb = nil
	c.waiting = false
	x.raw, x.rawStatus = true, h.status
	if !l.protect(c, forwardDoneFn) {
		// A panic: its 500 is the parsed path's answer.
		l.release(t, reuse)
		l.complete(c)
		return
	}
	closeAfter := answerHead(x, ctx, c.born)
	out := append(l.out.b[:0], head[:h.line]...)
	out = h.appendForwarded(out, head)
	for k, v := range ctx.Response.Header.All() {
		if equalFold(k, "Content-Length") {
			continue // the target's framing stands
		}
		out = append(out, k...)
		out = append(out, ':', ' ')
		out = append(out, v...)
		out = append(out, '\r', '\n')
	}
	out = append(out, '\r', '\n')
	x.rec.SentBytes = int64(len(out) + len(body))
	l.out.b = append(out, body...)
	l.release(t, reuse)
	x.finish()
	c.x = nil
	loopServed.Add(1)
	loopRawAnswers.Add(1)
	l.dropCtx(c)
	l.sendAnswer(c, closeAfter)
}

// attemptFailed ends c's attempt with err: another attempt (a retry on
// another target, as the goroutine path makes), or the error answered.
func (l *httpLoop) attemptFailed(c *lconn, err error) {
	if c == nil || c.x == nil {
		return
	}
	x := c.x
	b := c.tb
	l.abortAttempt(c)
	c.waiting = true
	var nb *backend
	var e *Error
	func() {
		defer func() {
			if p := recover(); p != nil {
				x.panicked(p)
				nb, e = nil, nil
			}
		}()
		nb, e = x.afterFailure(b, err, x.attempt)
	}()
	if nb != nil {
		x.attempt++
		l.attempt(c, nb)
		return
	}
	c.waiting = false
	if e != nil {
		x.failWith(e)
	}
	l.complete(c)
}

// exchangeToGo runs the rest of c's exchange with b's target on the
// goroutine path (a host-name or TLS target), which then serves c.
func (l *httpLoop) exchangeToGo(c *lconn, b *backend) {
	l.detach(c)
	loopHandOffs.Add(1)
	x := c.x
	c.waiting = false
	if x.rawReq {
		// The goroutine path sends x.req: fill it now.
		x.rawReq = false
		x.fillRequest(x.tg)
	}
	s := l.s
	s.hwg.Add(1)
	go s.finishOnGo(c, func() { x.forwardSync(x.fwd, b, x.fwdNow) })
}

// finishOnGo runs fn, the rest of c's exchange on the goroutine path (a
// panic is answered 500), then writes the answer and serves c on.
func (s *Server) finishOnGo(c *lconn, fn func()) {
	defer s.hwg.Done()
	c.goConn()
	func() {
		defer func() {
			if p := recover(); p != nil {
				c.x.panicked(p)
			}
		}()
		fn()
	}()
	s.answerOnGo(c)
}

// responseToGo hands c's exchange, with t's connection and data (the
// response's bytes read so far), to the goroutine path: it reads the
// response (interim ones skipped, the body streamed) as roundTrip does.
func (l *httpLoop) responseToGo(c *lconn, t *tconn, data []byte) {
	raw := append([]byte(nil), data...)
	fd := t.fd
	_ = rawsock.EpollCtl(l.epfd, syscall.EPOLL_CTL_DEL, fd, nil)
	l.forget(t)
	t.fd, t.c, c.t = -1, nil, nil
	l.serveWaiter(t.pool)
	l.detach(c)
	loopHandOffs.Add(1)
	x := c.x
	b := c.tb
	c.tb, c.waiting = nil, false
	s := l.s
	opts, tr := t.pool.opts, t.pool.tr
	s.hwg.Add(1)
	go s.finishOnGo(c, func() {
		f := os.NewFile(uintptr(fd), "l7-target")
		conn, err := net.FileConn(f)
		_ = f.Close()
		if err != nil {
			b.t.Release()
			x.failWith(upstreamError(err))
			return
		}
		ic := &idleConn{Conn: conn, read: opts.ResponseTimeout, write: opts.WriteTimeout, readSinceWrite: true}
		// The drain watch cuts the connection when the target's
		// deregistration delay ends, as it does the HostClients' ones
		// (checked after marking, as roundTrip does).
		ic.w = &tr.drain
		tr.drain.add(ic)
		ic.cur.Store(b.t)
		if targetDrained(b.t) {
			_ = ic.Close()
			b.t.Release()
			x.failWith(upstreamError(errTargetDrained))
			return
		}
		br := bufio.NewReaderSize(io.MultiReader(bytes.NewReader(raw), ic), opts.ReadBufferSize)
		x.resp.Reset()
		stream, err := readResponse(br, &x.resp, x.head)
		if err != nil {
			_ = ic.Close()
			if targetDrained(b.t) {
				err = errTargetDrained
			}
			b.t.Release()
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			x.failWith(upstreamError(err))
			return
		}
		x.b, x.acquired = b, true
		if stream {
			x.up = ownedConn{ic}
		} else {
			_ = ic.Close()
		}
		x.forwardDone(x.fwd, x.fwdNow)
	})
}

// ownedConn is a target connection an exchange owns outright (it left a
// loop's pool): done closes it.
type ownedConn struct{ net.Conn }

func (o ownedConn) done(bool) { _ = o.Close() }

// answerOnGo writes the answer of c's exchange on the goroutine path (a
// streamed body too: the stream's CloseWithError ends the exchange), then
// fasthttp serves the connection.
func (s *Server) answerOnGo(c *lconn) {
	x, ctx := c.x, c.ctx
	closeAfter := answerHead(x, ctx, c.born)
	if !x.streaming {
		x.finish()
	}
	c.x = nil
	bw := bufio.NewWriterSize(c.Conn, 16<<10)
	_ = c.Conn.SetWriteDeadline(time.Now().Add(s.idle))
	err := ctx.Response.Write(bw)
	if err == nil {
		err = bw.Flush()
	}
	_ = c.Conn.SetWriteDeadline(time.Time{})
	c.ctx = nil
	if err != nil || closeAfter {
		_ = c.Conn.Close()
		return
	}
	s.serveConnAfterLoop(c, c.pend)
}

// ---- timeouts and shutdown ----

// sweep enforces the timeouts: a client's header read and idle timeouts,
// a target's connect and response timeouts, the wait for a free target
// connection, the pool's idle lifetime and the deregistration cut.
func (l *httpLoop) sweep() {
	now := l.now
	for i := len(l.clients) - 1; i >= 0; i-- {
		if i >= len(l.clients) {
			continue
		}
		c := l.clients[i]
		switch {
		case c.x != nil:
			if p := c.wpool; p != nil {
				if now.Sub(c.waitAt) > p.opts.MaxConnWaitTimeout {
					l.attemptFailed(c, fasthttp.ErrNoFreeConns)
				} else {
					// A connection of another loop may have closed.
					l.serveWaiter(p)
				}
			}
		case !c.headAt.IsZero():
			if now.Sub(c.headAt) > l.rt {
				l.headerTimeout(c)
			}
		case now.Sub(c.since) > l.s.idle:
			l.closeClient(c)
		}
	}
	for i := len(l.targets) - 1; i >= 0; i-- {
		if i >= len(l.targets) {
			continue
		}
		t := l.targets[i]
		o := t.pool.opts
		switch {
		case t.c == nil:
			if now.Sub(t.since) > o.MaxIdleConnDuration {
				l.closeTarget(t)
			}
		case t.connecting && now.Sub(t.since) > o.ConnectTimeout:
			l.attemptFailed(t.c, &dialError{err: errLoopConnectTimeout})
		case !t.connecting && now.Sub(t.since) > o.ResponseTimeout:
			l.attemptFailed(t.c, errLoopResponseTimeout)
		case t.c.tb != nil && targetDrained(t.c.tb.t):
			l.attemptFailed(t.c, errTargetDrained)
		}
	}
}

// cutDrained ends what the loop has on dt once its deregistration delay
// is over, at once rather than at the next sweep (the goroutine path's
// drain watch closes its connections then): a request waiting for dt's
// answer or for a connection to it is answered 502, and the idle pooled
// connections to dt's address are closed.
func (l *httpLoop) cutDrained(dt *runtime.Target) {
	for i := len(l.clients) - 1; i >= 0; i-- {
		if i >= len(l.clients) {
			continue
		}
		if c := l.clients[i]; c.x != nil && c.tb != nil && c.tb.t == dt {
			l.attemptFailed(c, errTargetDrained)
		}
	}
	for id, p := range l.pools {
		if id.addr != dt.Addr {
			continue
		}
		for len(p.idle) > 0 {
			l.closeTarget(p.idle[len(p.idle)-1])
		}
	}
}

// headerTimeout answers a client whose request head did not arrive within
// the read timeout as fasthttp does (408, close).
func (l *httpLoop) headerTimeout(c *lconn) {
	ctx := l.ctxFor(c)
	l.s.handleParseError(ctx, errLoopHeaderTimeout)
	ctx.Response.Header.SetConnectionClose()
	l.out.b = l.out.b[:0]
	l.bw.Reset(&l.out)
	if ctx.Response.Write(l.bw) == nil && l.bw.Flush() == nil {
		_, _ = rawWrite(c.fd, l.out.b)
	}
	l.closeClient(c)
}

// closeIdle closes the clients between requests (Shutdown).
func (l *httpLoop) closeIdle() {
	for i := len(l.clients) - 1; i >= 0; i-- {
		if i >= len(l.clients) {
			continue
		}
		if c := l.clients[i]; c.x == nil && len(c.pend) == 0 {
			l.closeClient(c)
		}
	}
}

// killAll closes every client and target connection (Shutdown's deadline,
// a failed epoll); exchanges in progress end as the client leaving.
func (l *httpLoop) killAll() {
	for len(l.clients) > 0 {
		c := l.clients[len(l.clients)-1]
		if c.x != nil && c.x.rec.ErrorReason == "" {
			c.x.rec.ErrorReason = ReasonClientClosed
		}
		l.closeClient(c)
	}
	for len(l.targets) > 0 {
		l.closeTarget(l.targets[len(l.targets)-1])
	}
}
