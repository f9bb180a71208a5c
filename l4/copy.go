package l4

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
)

// pastDeadline wakes a blocked read at once (a "poke").
var pastDeadline = time.Unix(1, 0)

// unwrapTCP returns the *net.TCPConn under c when every layer between is a
// plain wrapper (NetConn(), go-proxyproto's Conn), so that the copy can let
// the kernel splice. It returns nil for TLS and unknown types. Closing must
// still go through c so that wrappers see it.
func unwrapTCP(c net.Conn) *net.TCPConn {
	for range 8 {
		switch v := c.(type) {
		case *net.TCPConn:
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
func socketOf(c net.Conn) *net.TCPConn {
	for range 8 {
		switch v := c.(type) {
		case *net.TCPConn:
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

// spliceWriter lets go-proxyproto's Conn.WriteTo hand over the bytes it
// buffered past the header (Write) and then the raw socket (ReadFrom), so
// the rest of the flow is spliced.
type spliceWriter struct{ dst *net.TCPConn }

func (w spliceWriter) Write(b []byte) (int, error) { return w.dst.Write(b) }

func (w spliceWriter) ReadFrom(r io.Reader) (int64, error) {
	if c, ok := r.(net.Conn); ok {
		if s := unwrapTCP(c); s != nil {
			return w.dst.ReadFrom(s)
		}
	}
	// go-proxyproto passes net's own no-WriteTo wrapper of a *TCPConn,
	// which TCPConn.ReadFrom splices from too.
	return w.dst.ReadFrom(r)
}

const copyBufSize = 32 << 10

var copyBufs = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}

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
	// srcTCP and dstTCP are set when both ends unwrap to TCP: splice.
	srcTCP, dstTCP *net.TCPConn
	// ppFirst: src is a go-proxyproto Conn that may hold buffered payload.
	ppFirst bool
	other   *direction
	count   *atomic.Uint64 // Counters.BytesIn or BytesOut

	n      int64 // bytes moved; read by the flow after both ends finish
	idle   atomic.Bool
	poked  atomic.Bool
	done   atomic.Bool
	closed bool // ended by EOF (half-close), not by an error
}

func newDirection(f *flow, toward string, src, dst net.Conn, count *atomic.Uint64) *direction {
	d := &direction{f: f, toward: toward, src: src, dst: dst, count: count}
	s, t := unwrapTCP(src), unwrapTCP(dst)
	if s != nil && t != nil {
		d.srcTCP, d.dstTCP = s, t
		_, d.ppFirst = src.(*proxyproto.Conn)
	}
	return d
}

func (d *direction) poke() {
	d.poked.Store(true)
	_ = d.src.SetReadDeadline(pastDeadline)
}

// copyOnce moves bytes until EOF (nil error) or an error, splicing when it can.
func (d *direction) copyOnce() (int64, error) {
	if d.srcTCP != nil {
		if d.ppFirst {
			d.ppFirst = false
			return d.src.(*proxyproto.Conn).WriteTo(spliceWriter{d.dstTCP})
		}
		return d.dstTCP.ReadFrom(d.srcTCP)
	}
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
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
func (d *direction) run(idle time.Duration) {
	interval := max(idle/8, time.Millisecond)
	idleSince := time.Now()
	for {
		_ = d.src.SetReadDeadline(time.Now().Add(interval))
		if d.poked.Load() {
			// A poke that raced with the line above must not be lost.
			_ = d.src.SetReadDeadline(pastDeadline)
		}
		n, err := d.copyOnce()
		if n > 0 {
			d.n += n
			d.count.Add(uint64(n))
			idleSince = time.Now()
			d.idle.Store(false)
		}
		if d.f.dead.Load() {
			d.done.Store(true)
			return
		}
		if err == nil {
			d.closed = true
			d.done.Store(true)
			_ = closeWrite(d.dst)
			d.f.finished(d)
			return
		}
		if !isTimeout(err) {
			d.done.Store(true)
			d.f.kill(ReasonError, err)
			return
		}
		poked := d.poked.Swap(false)
		if n > 0 || time.Since(idleSince) < idle {
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
