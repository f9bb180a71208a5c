//go:build !linux

package l4

import (
	"errors"
	"net/netip"
	"syscall"
)

// The raw target dial (dial.go) through the syscall package's portable
// calls: without SOCK_NONBLOCK and SOCK_CLOEXEC in socket(2) everywhere,
// the socket is opened under syscall.ForkLock (so that no child inherits
// it before close-on-exec is set) and made non-blocking with fcntl. Only
// Linux has the event loop that makes the raw calls worth their cost.

// rawSocketTCP opens a non-blocking, close-on-exec TCP socket.
func rawSocketTCP(family int) (int, syscall.Errno) {
	syscall.ForkLock.RLock()
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM, syscall.IPPROTO_TCP)
	if err == nil {
		syscall.CloseOnExec(fd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return -1, errnoOf(err)
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		_ = syscall.Close(fd)
		return -1, errnoOf(err)
	}
	return fd, 0
}

func rawClose(fd int) syscall.Errno { return errnoOf(syscall.Close(fd)) }

func rawSetsockoptInt(fd, level, opt, value int) syscall.Errno {
	return errnoOf(syscall.SetsockoptInt(fd, level, opt, value))
}

// rawSockaddr is a target's address, for connect.
type rawSockaddr struct{ sa syscall.Sockaddr }

func (r *rawSockaddr) set(ap netip.AddrPort) {
	if a := ap.Addr(); a.Is4() {
		r.sa = &syscall.SockaddrInet4{Port: int(ap.Port()), Addr: a.As4()}
	} else {
		r.sa = &syscall.SockaddrInet6{Port: int(ap.Port()), Addr: a.As16()}
	}
}

// rawConnect starts a connect of the non-blocking socket fd to r.
func rawConnect(fd int, r *rawSockaddr) syscall.Errno { return errnoOf(syscall.Connect(fd, r.sa)) }

// errnoOf is err as a syscall.Errno (0 for nil); the syscall package's
// calls return nothing else on these systems.
func errnoOf(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	return syscall.EINVAL
}
