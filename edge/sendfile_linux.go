package edge

import (
	"errors"
	"io"
	"net"
	"runtime"
	"sync/atomic"
	"syscall"

	"github.com/valyala/fasthttp"
	"golang.org/x/sys/unix"
)

// sentFromFile counts the body bytes sent by sendfile (tests read it to
// tell the two paths apart).
var sentFromFile atomic.Int64

// sendState is one sendfile in progress; its step is made once per pooled
// cachedBody so that a send allocates no closure.
type sendState struct {
	rc   syscall.RawConn // the viewer's socket; nil: copy the body
	src  int             // the body file's descriptor
	pos  int64           // next file offset to send
	rem  int64           // bytes left
	err  error
	step func(fd uintptr) bool
}

func (s *sendState) init() { s.step = s.sendStep }

// prepareSendfile readies c to be sent from its body file to the plain TCP
// viewer connection conn, as NGINX sends cache hits: fasthttp flushes the
// header as soon as it is written (ImmediateHeaderFlush) and the body
// follows by sendfile(2), so the edge copies none of it (the copy was ~45 %
// of its CPU on 256 KiB hits). Nothing changes when conn is TLS or not a
// TCP socket. NGINX also corks the socket around the two (TCP_CORK, for
// full segments); measured here, a cork cost ~40 % more CPU per hit (the
// uncork's push runs the loopback receive inline) while the header's own
// small segment costs the edge next to nothing (bench/RESULTS.md, session 4).
func (c *cachedBody) prepareSendfile(rs *fasthttp.Response, conn net.Conn) {
	tc := viewerTCPConn(conn)
	if tc == nil {
		return
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return
	}
	c.send.rc = rc
	rs.ImmediateHeaderFlush = true
}

func (s *sendState) reset() { s.rc, s.err = nil, nil }

// sendfile writes c's body to the viewer's socket from the body file; ok is
// false when c was not prepared for it (nothing written then). fasthttp has
// flushed the header (ImmediateHeaderFlush), so the socket's byte order is
// header then body.
func (c *cachedBody) sendfile(io.Writer) (n int64, ok bool, err error) {
	s := &c.send
	if s.rc == nil {
		return 0, false, nil
	}
	s.src, s.pos, s.rem, s.err = c.file.Fd(), c.off, int64(len(c.b)), nil
	werr := s.rc.Write(s.step)
	runtime.KeepAlive(c.file)
	sent := int64(len(c.b)) - s.rem
	sentFromFile.Add(sent)
	c.b = c.b[len(c.b):]
	return sent, true, errors.Join(werr, s.err)
}

// sendStep sends from the body file until done, an error, or the socket
// is full (false: the poller waits for room, within the connection's write
// deadline).
func (s *sendState) sendStep(fd uintptr) bool {
	for s.rem > 0 {
		n, err := unix.Sendfile(int(fd), s.src, &s.pos, int(min(s.rem, 1<<30)))
		if n > 0 {
			s.rem -= int64(n)
		}
		switch {
		case err == unix.EAGAIN:
			return false
		case err == unix.EINTR:
		case err != nil:
			s.err = err
			return true
		case n == 0:
			s.err = io.ErrUnexpectedEOF
			return true
		}
	}
	return true
}
