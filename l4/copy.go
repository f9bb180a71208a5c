package l4

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
)

// pastDeadline wakes a blocked read at once (a "poke").
var pastDeadline = time.Unix(1, 0)

// tcpSocket is a plain TCP socket under a flow's side: a *net.TCPConn
// (accepted clients, host-name targets) or an *fdConn (targets dialled on
// a raw descriptor). Raw reads, splice, half-close and linger need only
// this much.
type tcpSocket interface {
	net.Conn
	syscall.Conn
	CloseWrite() error
	SetLinger(sec int) error
}

// unwrapTCP returns the TCP socket under c when every layer between is a
// plain wrapper (NetConn(), go-proxyproto's Conn), so that the copy can
// read it raw and let the kernel splice. It returns nil for TLS and
// unknown types. Closing must still go through c so that wrappers see it.
func unwrapTCP(c net.Conn) tcpSocket {
	for range 8 {
		switch v := c.(type) {
		case *net.TCPConn:
			return v
		case *fdConn:
			return v
		case *tls.Conn:
			return nil
		case *proxyproto.Conn:
			c = v.Raw()
		case interface{ NetConn() net.Conn }:
			c = v.NetConn()
		default:
			return nil
		}
	}
	return nil
}

// socketOf returns the TCP socket under c, through TLS too, for socket
// options (linger) only.
func socketOf(c net.Conn) tcpSocket {
	for range 8 {
		switch v := c.(type) {
		case *net.TCPConn:
			return v
		case *fdConn:
			return v
		case *tls.Conn:
			c = v.NetConn()
		case *proxyproto.Conn:
			c = v.Raw()
		case interface{ NetConn() net.Conn }:
			c = v.NetConn()
		default:
			return nil
		}
	}
	return nil
}

// closeWrite half-closes c: TLS sends close_notify, TCP sends FIN.
func closeWrite(c net.Conn) error {
	if tc, ok := c.(*tls.Conn); ok {
		return tc.CloseWrite()
	}
	if s := unwrapTCP(c); s != nil {
		return s.CloseWrite()
	}
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

const copyBufSize = 32 << 10

// armedDirections counts directions that took a read deadline of their
// own (tests check that short flows never do).
var armedDirections atomic.Uint64

// spliceSwitches counts switches to splice mode (tests check bulk
// transfers take that path).
var spliceSwitches atomic.Uint64

var copyBufs = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}

// tlsBufs serve TLS sources: a TLS read returns at most one record (16 KiB
// of plaintext), and the buffer is held while the read waits.
var tlsBufs = sync.Pool{New: func() any { b := make([]byte, 16<<10); return &b }}

// direction copies one way of a flow. The read deadline of src is set
// every interval (idle_timeout/8); a read that times out having moved
// nothing for a whole idle timeout marks the direction idle. The flow is
// reset only when both directions are idle (or one is idle and the other
// has finished). Because a splice reports its progress only when it
// returns, a direction that finds the other marked idle first pokes it (a
// read deadline in the past) and lets the poked side decide with fresh
// numbers: this keeps a busy splice from being taken for an idle one.
type direction struct {
	f      *flow
	toward string // "target" for client→target, "client" for the reverse
	src    net.Conn
	dst    net.Conn
	// srcTCP is the socket under src when it is plain TCP (not TLS): it is
	// read with raw non-blocking reads. dstTCP likewise for dst: when both
	// are set, bulk transfers are spliced.
	srcTCP, dstTCP tcpSocket
	rc             syscall.RawConn       // srcTCP's
	wrc            syscall.RawConn       // dstTCP's, taken at the first splice
	readFn         func(fd uintptr) bool // d.rawRead, bound once
	buf            *[]byte               // held only while bytes are moving
	rn             int
	rerr           error
	splicing       bool
	// ppFirst: src is a go-proxyproto Conn that may hold buffered payload.
	ppFirst bool
	// pending: bytes the event loop read from src but could not write to
	// dst before it handed the flow over; run writes them first. A pooled
	// buffer (copyBufs), returned once written.
	pending    []byte
	pendingBuf *[]byte
	other      *direction
	count      *atomic.Uint64 // Counters.BytesIn or BytesOut

	n     int64 // bytes moved; read by the flow after both ends finish
	idle  atomic.Bool
	poked atomic.Bool
	done  atomic.Bool
	// live: init is done, the sweeper may touch src. armed: the direction
	// keeps a read deadline of its own (from its first timeout on).
	live   atomic.Bool
	armed  atomic.Bool
	closed bool // ended by EOF (half-close), not by an error
}

func newDirection(f *flow, toward string, src, dst net.Conn, count *atomic.Uint64) *direction {
	d := new(direction)
	d.init(f, toward, src, dst, count)
	return d
}

// init sets up a zero direction (the flow holds both of its directions,
// so that a flow costs one allocation, not three).
func (d *direction) init(f *flow, toward string, src, dst net.Conn, count *atomic.Uint64) {
	d.f, d.toward, d.src, d.dst, d.count = f, toward, src, dst, count
	d.srcTCP, d.dstTCP = unwrapTCP(src), unwrapTCP(dst)
	if d.srcTCP != nil {
		rc, err := d.srcTCP.SyscallConn()
		if err != nil {
			d.srcTCP = nil
			return
		}
		d.rc = rc
		d.readFn = d.rawRead
		_, d.ppFirst = src.(*proxyproto.Conn)
	}
}

// wake ends a wait of an unarmed direction (see run); the sweeper calls it.
func (d *direction) wake() {
	if d.live.Load() && !d.armed.Load() && !d.done.Load() {
		_ = d.src.SetReadDeadline(pastDeadline)
	}
}

func (d *direction) poke() {
	d.poked.Store(true)
	_ = d.src.SetReadDeadline(pastDeadline)
}

// copyOnce moves bytes until EOF (nil error) or an error.
func (d *direction) copyOnce() (int64, error) {
	if d.srcTCP != nil {
		return d.copyTCP()
	}
	return d.copyGeneric()
}

// rawRead is the RawConn read callback: one non-blocking read into a
// buffer taken from the pool; on EAGAIN the buffer goes back before the
// goroutine parks, so an idle flow holds no buffer.
func (d *direction) rawRead(fd uintptr) bool {
	if d.buf == nil {
		d.buf = copyBufs.Get().(*[]byte)
	}
	for {
		n, err := syscall.Read(int(fd), *d.buf)
		if err == syscall.EINTR {
			continue
		}
		if err == syscall.EAGAIN {
			d.releaseBuf()
			return false
		}
		d.rn, d.rerr = max(n, 0), err
		return true
	}
}

func (d *direction) releaseBuf() {
	if d.buf != nil {
		copyBufs.Put(d.buf)
		d.buf = nil
	}
}

// copyTCP reads a plain TCP source without blocking on a buffer and writes
// what it gets; when a read fills the whole buffer (a bulk transfer) and
// the destination is TCP too, it switches to splice(2) until the flow next
// goes quiet. Small messages cost one read and one write, like a plain
// copy; bulk ones never enter user space.
func (d *direction) copyTCP() (int64, error) {
	var total int64
	if d.ppFirst {
		n, err := d.drainProxyBuffer()
		total += n
		if err != nil {
			return total, err
		}
	}
	for {
		if d.splicing {
			n, err := d.splice()
			total += n
			if n == 0 && isTimeout(err) {
				// Quiet for a whole check interval: leave splice mode so
				// that the flow does not hold a pipe while idle.
				d.splicing = false
			}
			if err != errNoPipe {
				return total, err
			}
			d.splicing = false // no pipe to be had (EMFILE): copy through the buffer
		}
		if err := d.rc.Read(d.readFn); err != nil {
			d.releaseBuf()
			return total, err
		}
		if d.rerr != nil {
			d.releaseBuf()
			return total, os.NewSyscallError("read", d.rerr)
		}
		if d.rn == 0 {
			d.releaseBuf()
			return total, nil // EOF
		}
		b := (*d.buf)[:d.rn]
		var nw int
		var err error
		if d.dstTCP != nil {
			nw, err = d.dstTCP.Write(b)
		} else {
			nw, err = d.dst.Write(b)
		}
		total += int64(nw)
		if err != nil {
			d.releaseBuf()
			return total, err
		}
		if canSplice && len(b) == len(*d.buf) && d.dstTCP != nil {
			d.releaseBuf()
			d.splicing = true
			spliceSwitches.Add(1)
		}
	}
}

// drainProxyBuffer forwards the payload go-proxyproto read past the header
// into its own buffer: with the read deadline in the past, its Read returns
// buffered bytes and then a timeout without touching the socket.
func (d *direction) drainProxyBuffer() (int64, error) {
	d.ppFirst = false
	pc := d.src.(*proxyproto.Conn)
	_ = pc.SetReadDeadline(pastDeadline)
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	var total int64
	for {
		n, err := pc.Read(*bp)
		if n > 0 {
			w, werr := d.dst.Write((*bp)[:n])
			total += int64(w)
			if werr != nil {
				return total, werr
			}
		}
		if err != nil {
			// A timeout means drained: run sets the deadline again and
			// counts the bytes as progress.
			return total, err
		}
	}
}

// copyGeneric copies through a pooled buffer (TLS sources).
func (d *direction) copyGeneric() (int64, error) {
	bp := tlsBufs.Get().(*[]byte)
	defer tlsBufs.Put(bp)
	buf := *bp
	var n int64
	for {
		nr, er := d.src.Read(buf)
		if nr > 0 {
			nw, ew := d.dst.Write(buf[:nr])
			n += int64(nw)
			if ew != nil {
				return n, ew
			}
			if nw != nr {
				return n, io.ErrShortWrite
			}
		}
		if er != nil {
			if er == io.EOF {
				return n, nil
			}
			return n, er
		}
	}
}

func isTimeout(err error) bool {
	return errors.Is(err, os.ErrDeadlineExceeded)
}

// run copies until the source ends, the flow is killed or goes idle.
// start is the time the copy starts (the caller's clock reading, saving
// one per direction).
//
// The first read waits without a deadline: most flows end before the
// first idle check is due, and arming and removing a timer per direction
// was a measurable part of a short flow's cost. The Proxy's sweeper wakes
// a direction that is still unarmed at its next tick (every
// idle_timeout/8); from that first timeout on the direction keeps a
// deadline of its own, as before, so the idle bound is unchanged.
func (d *direction) run(idle time.Duration, start time.Time) {
	interval := max(idle/8, time.Millisecond)
	idleSince, now := start, start
	if d.pending != nil {
		// Left over by the event loop. The write waits without a deadline,
		// as every write of a direction does.
		n, err := d.dst.Write(d.pending)
		copyBufs.Put(d.pendingBuf)
		d.pending, d.pendingBuf = nil, nil
		d.n += int64(n)
		d.count.Add(uint64(n))
		if err != nil {
			d.done.Store(true)
			d.f.kill(ReasonError, err)
			return
		}
	}
	for {
		if d.armed.Load() {
			_ = d.src.SetReadDeadline(now.Add(interval))
		}
		if d.poked.Load() {
			// A poke that raced with the line above must not be lost.
			_ = d.src.SetReadDeadline(pastDeadline)
		}
		n, err := d.copyOnce()
		if n > 0 {
			d.n += n
			d.count.Add(uint64(n))
			d.idle.Store(false)
		}
		if d.f.dead.Load() {
			d.done.Store(true)
			return
		}
		if err == nil {
			d.closed = true
			// Record who finished first before the FIN goes out: the peer
			// may answer it with its own before this goroutine runs again.
			d.f.finished(d)
			d.done.Store(true)
			if !d.other.done.Load() {
				// Half-close: the other way goes on. When the other way has
				// ended already, the flow closes both sockets next, which
				// sends the FIN without a shutdown(2) of its own.
				_ = closeWrite(d.dst)
			}
			return
		}
		if !isTimeout(err) {
			d.done.Store(true)
			d.f.kill(ReasonError, err)
			return
		}
		// A timeout: the check interval passed, the sweeper woke an
		// unarmed direction, or the other way poked. The clock is read
		// only here, not on every copy step.
		if !d.armed.Swap(true) {
			armedDirections.Add(1)
		}
		now = time.Now()
		if n > 0 {
			idleSince = now
		}
		poked := d.poked.Swap(false)
		if n > 0 || now.Sub(idleSince) < idle {
			continue
		}
		d.idle.Store(true)
		o := d.other
		switch {
		case o.done.Load():
			d.done.Store(true)
			d.f.kill(ReasonIdleTimeout, nil)
			return
		case o.idle.Load() && poked:
			// The other side marked itself idle and poked us: both are.
			d.done.Store(true)
			d.f.kill(ReasonIdleTimeout, nil)
			return
		case o.idle.Load():
			o.poke()
		}
	}
}
