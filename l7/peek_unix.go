//go:build unix && !linux

package l7

import (
	"errors"
	"syscall"
)

// peeker checks an idle pooled connection without blocking and without
// consuming anything. Its callback is built once per connection, so a
// check allocates nothing.
type peeker struct {
	rc   syscall.RawConn
	fn   func(fd uintptr) bool
	n    int
	serr error
	buf  [1]byte
}

func newPeeker(rc syscall.RawConn) *peeker {
	p := &peeker{rc: rc}
	p.fn = func(fd uintptr) bool {
		p.n, _, p.serr = syscall.Recvfrom(int(fd), p.buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return true
	}
	return p
}

// stale reports whether the connection must not carry a new request: the
// target closed it (EOF, reset) or sent bytes nobody asked for (a response
// after a response: queue poisoning).
func (p *peeker) stale() bool {
	if err := p.rc.Read(p.fn); err != nil {
		return false // cannot tell (deadline passed): let the exchange decide
	}
	switch {
	case p.serr == nil:
		return true // n > 0: unsolicited bytes; n == 0: EOF
	case errors.Is(p.serr, syscall.EAGAIN), errors.Is(p.serr, syscall.EWOULDBLOCK), errors.Is(p.serr, syscall.EINTR):
		return false
	}
	return true
}
