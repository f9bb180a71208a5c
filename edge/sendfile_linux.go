package edge

import (
	"errors"
	"io"
	"net"
	"runtime"
	"sync/atomic"
	"syscall"

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
// viewer connection conn, as NGINX sends cache hits: the body goes by
// sendfile(2), so the edge copies almost none of it (the copy was ~45 % of
// its CPU on 256 KiB hits). Nothing changes when conn is TLS or not a TCP
// socket, or when the body is too short to be worth it (sendLeadIn).
func (c *cachedBody) prepareSendfile(conn net.Conn) {
	if len(c.b) <= 2*sendLeadIn {
		return
	}
	tc := viewerTCPConn(conn)
	if tc == nil {
		return
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return
	}
	c.send.rc = rc
}

// sendLeadIn is how much of the body goes through fasthttp's buffered writer
// before the sendfile: 2 × the viewer write buffer (l7.ApplyServerLimits,
// TestViewerWriteBufferSize) + 1. bufio.Writer fills its buffer behind the
// header, flushes it (the same first write as without sendfile: header and
// the body's first bytes in one segment, the shape chosen for the tail at
// partial load, see cachedBody) and, the rest being more than a buffer,
// writes the rest straight to the socket — leaving the buffer empty, so the
// sendfile that follows cannot overtake buffered bytes. Measured against
// flushing the header alone (fasthttp's ImmediateHeaderFlush), which copies
// nothing: the lone header segment put p99.9 at 16 ms against 3.6 ms at
// 3.9k req/s; and NGINX's cork around header and sendfile cost ~40 % more
// CPU per hit here (bench/RESULTS.md, session 4).
const sendLeadIn = 2*streamBodyOver + 1

func (s *sendState) reset() { s.rc, s.err = nil, nil }

// sendfile writes c's body to the viewer: sendLeadIn bytes through w
// (fasthttp's buffered writer, which leaves it empty), the rest by sendfile
// from the body file. ok is false when c was not prepared for it (nothing
// written then).
func (c *cachedBody) sendfile(w io.Writer) (n int64, ok bool, err error) {
	s := &c.send
	if s.rc == nil {
		return 0, false, nil
	}
	if _, err := w.Write(c.b[:sendLeadIn]); err != nil {
		return 0, true, err
	}
	c.b = c.b[sendLeadIn:]
	s.src, s.pos, s.rem, s.err = c.file.Fd(), c.off+sendLeadIn, int64(len(c.b)), nil
	werr := s.rc.Write(s.step)
	runtime.KeepAlive(c.file)
	sent := int64(len(c.b)) - s.rem
	sentFromFile.Add(sent)
	c.b = c.b[len(c.b):]
	return sendLeadIn + sent, true, errors.Join(werr, s.err)
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
