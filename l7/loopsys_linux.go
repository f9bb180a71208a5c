//go:build linux

package l7

import (
	"net/netip"
	"syscall"

	"github.com/switchyard/switchyard/internal/rawsock"
)

// The event loop's system calls (internal/rawsock): none of them blocks.

func rawRead(fd int, b []byte) (int, syscall.Errno) {
	if len(b) == 0 {
		return 0, 0
	}
	return rawsock.Read(fd, b)
}

func rawWrite(fd int, b []byte) (int, syscall.Errno) {
	if len(b) == 0 {
		return 0, 0
	}
	return rawsock.Write(fd, b, 0)
}

func rawClose(fd int) { _ = rawsock.Close(fd) }

// rawConnectTCP opens a non-blocking TCP socket (TCP_NODELAY, as Go's
// dialer sets) and starts its connect to ap. inProgress reports a connect
// whose end epoll tells (EPOLLOUT).
func rawConnectTCP(ap netip.AddrPort) (fd int, inProgress bool, err syscall.Errno) {
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	family := syscall.AF_INET
	if ap.Addr().Is6() {
		family = syscall.AF_INET6
	}
	fd, err = rawsock.SocketTCP(family)
	if err != 0 {
		return -1, false, err
	}
	_ = rawsock.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
	var sa rawsock.Sockaddr
	sa.Set(ap)
	switch e := rawsock.Connect(fd, &sa); e {
	case 0:
		return fd, false, 0
	case syscall.EINPROGRESS, syscall.EINTR:
		return fd, true, 0
	default:
		rawClose(fd)
		return -1, false, e
	}
}
