//go:build unix

package l7

import (
	"errors"
	"syscall"
)

// staleSocket reports whether an idle pooled connection must not carry a
// new request: the target closed it (EOF, reset) or sent bytes nobody
// asked for (a response after a response: queue poisoning). It peeks one
// byte without blocking and without consuming it.
func staleSocket(rc syscall.RawConn) bool {
	var (
		n    int
		serr error
	)
	err := rc.Read(func(fd uintptr) bool {
		var b [1]byte
		n, _, serr = syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return true
	})
	if err != nil {
		return false // cannot tell (deadline passed): let the exchange decide
	}
	switch {
	case serr == nil:
		return true // n > 0: unsolicited bytes; n == 0: EOF
	case errors.Is(serr, syscall.EAGAIN), errors.Is(serr, syscall.EWOULDBLOCK), errors.Is(serr, syscall.EINTR):
		return false
	}
	_ = n
	return true
}
