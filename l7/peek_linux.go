//go:build linux

package l7

import (
	"syscall"
	"unsafe"
)

// peeker checks an idle pooled connection without blocking and without
// consuming anything: one recv(MSG_PEEK|MSG_DONTWAIT) per reuse.
//
// The call goes straight to the kernel on the descriptor saved at dial
// time, not through RawConn.Read: that path's fd lock, poller reset and
// scheduler hand-off cost about a quarter of the peek, once per request,
// for a call that never blocks. The descriptor is only peeked while the
// exchange holds the connection; were it closed under it (a drain cutting
// the connection) and its number reused, the peek still consumes nothing
// and the write that follows fails on the closed connection.
type peeker struct {
	fd  uintptr
	buf [1]byte
}

func newPeeker(rc syscall.RawConn) *peeker {
	p := &peeker{}
	ok := false
	if err := rc.Control(func(fd uintptr) { p.fd, ok = fd, true }); err != nil || !ok {
		return nil
	}
	return p
}

// stale reports whether the connection must not carry a new request: the
// target closed it (EOF, reset) or sent bytes nobody asked for (a response
// after a response: queue poisoning).
func (p *peeker) stale() bool {
	_, _, errno := syscall.RawSyscall6(syscall.SYS_RECVFROM, p.fd, uintptr(unsafe.Pointer(&p.buf[0])), 1,
		syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
	switch errno {
	case 0:
		return true // n > 0: unsolicited bytes; n == 0: EOF
	case syscall.EAGAIN, syscall.EINTR:
		return false
	}
	return true
}
