package l4

import (
	"net/netip"
	"syscall"

	"github.com/switchyard/switchyard/internal/rawsock"
)

// The event loop's raw system calls live in internal/rawsock (shared with
// l7's HTTP loop); these names keep l4's code and its portable twins
// (sys_other.go) alike.

func rawRead(fd int, b []byte) (int, syscall.Errno) { return rawsock.Read(fd, b) }

func rawWrite(fd int, b []byte, flags int) (int, syscall.Errno) { return rawsock.Write(fd, b, flags) }

func rawClose(fd int) syscall.Errno { return rawsock.Close(fd) }

func rawShutdown(fd, how int) syscall.Errno { return rawsock.Shutdown(fd, how) }

func rawEpollWait(epfd int, events []syscall.EpollEvent) (int, syscall.Errno) {
	return rawsock.EpollWait(epfd, events)
}

func rawEpollCtl(epfd, op, fd int, ev *syscall.EpollEvent) syscall.Errno {
	return rawsock.EpollCtl(epfd, op, fd, ev)
}

func rawSocketTCP(family int) (int, syscall.Errno) { return rawsock.SocketTCP(family) }

func rawSetsockoptInt(fd, level, opt, value int) syscall.Errno {
	return rawsock.SetsockoptInt(fd, level, opt, value)
}

// rawSockaddr is a target's address in the kernel's layout, for connect.
type rawSockaddr struct{ rawsock.Sockaddr }

func (r *rawSockaddr) set(ap netip.AddrPort) { r.Set(ap) }

// rawConnect starts a connect of the non-blocking socket fd to r.
func rawConnect(fd int, r *rawSockaddr) syscall.Errno { return rawsock.Connect(fd, &r.Sockaddr) }
