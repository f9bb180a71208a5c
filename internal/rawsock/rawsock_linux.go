// Package rawsock holds the raw socket and epoll system calls of the event
// loops (l4's TCP loop, l7's HTTP loop): non-blocking calls made without
// telling the scheduler, on plain descriptors.
package rawsock

import (
	"net/netip"
	"syscall"
	"time"
	"unsafe"
)

// The event loops' system calls are raw (syscall.RawSyscall): none of them
// blocks — every socket is non-blocking and epoll_wait is asked not to
// wait — so the scheduler need not be told (entersyscall/exitsyscall cost
// ~0.1 µs a call), and a call that runs long in the kernel (a connect or a
// close on loopback runs the peer's TCP receive path too, tens of µs) is
// not taken for a blocked one: sysmon would hand the P to another thread
// meanwhile, and the loop would have to wait for it back. Errors are
// syscall.Errno values, 0 for none.

// Read reads from the socket fd into b. recvfrom, not read: it goes to
// the socket directly, without the VFS layer's file-position lock and
// checks that read(2) takes (perf: vfs_read, fdget_pos, rw_verify_area
// and the iterator setup were ~1 % of lb's CPU on short connections;
// HAProxy uses recvfrom too).
func Read(fd int, b []byte) (int, syscall.Errno) {
	n, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)), 0, 0, 0)
	if e != 0 {
		return -1, e
	}
	return int(n), 0
}

// Write writes b to the socket fd once: sendto, for the reason Read
// uses recvfrom, with MSG_NOSIGNAL (a reset peer gives EPIPE, no SIGPIPE
// for the runtime to field).
func Write(fd int, b []byte, flags int) (int, syscall.Errno) {
	n, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)), uintptr(flags|syscall.MSG_NOSIGNAL), 0, 0)
	if e != 0 {
		return -1, e
	}
	return int(n), 0
}

func Close(fd int) syscall.Errno {
	_, _, e := syscall.RawSyscall(syscall.SYS_CLOSE, uintptr(fd), 0, 0)
	return e
}

func Shutdown(fd, how int) syscall.Errno {
	_, _, e := syscall.RawSyscall(syscall.SYS_SHUTDOWN, uintptr(fd), uintptr(how), 0)
	return e
}

// EpollWait takes the pending events without waiting (epoll_pwait with
// a zero timeout and no signal mask: every architecture has it).
func EpollWait(epfd int, events []syscall.EpollEvent) (int, syscall.Errno) {
	n, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(unsafe.SliceData(events))), uintptr(len(events)), 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), 0
}

func EpollCtl(epfd, op, fd int, ev *syscall.EpollEvent) syscall.Errno {
	_, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_CTL, uintptr(epfd), uintptr(op), uintptr(fd), uintptr(unsafe.Pointer(ev)), 0, 0)
	return e
}

// SocketTCP opens a non-blocking, close-on-exec TCP socket: one
// socket(2) with SOCK_NONBLOCK|SOCK_CLOEXEC, no fcntl.
func SocketTCP(family int) (int, syscall.Errno) {
	fd, _, e := syscall.RawSyscall(syscall.SYS_SOCKET, uintptr(family), syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, syscall.IPPROTO_TCP)
	if e != 0 {
		return -1, e
	}
	return int(fd), 0
}

func SetsockoptInt(fd, level, opt, value int) syscall.Errno {
	v := int32(value)
	_, _, e := syscall.RawSyscall6(syscall.SYS_SETSOCKOPT, uintptr(fd), uintptr(level), uintptr(opt), uintptr(unsafe.Pointer(&v)), 4, 0)
	return e
}

// Sockaddr is a target's address in the kernel's layout, for connect.
type Sockaddr struct {
	sa4 syscall.RawSockaddrInet4
	sa6 syscall.RawSockaddrInet6
	v6  bool
}

func (r *Sockaddr) Set(ap netip.AddrPort) {
	port := ap.Port()
	if a := ap.Addr(); a.Is4() {
		r.sa4 = syscall.RawSockaddrInet4{Family: syscall.AF_INET, Addr: a.As4()}
		p := (*[2]byte)(unsafe.Pointer(&r.sa4.Port))
		p[0], p[1] = byte(port>>8), byte(port)
		r.v6 = false
	} else {
		r.sa6 = syscall.RawSockaddrInet6{Family: syscall.AF_INET6, Addr: a.As16()}
		p := (*[2]byte)(unsafe.Pointer(&r.sa6.Port))
		p[0], p[1] = byte(port>>8), byte(port)
		r.v6 = true
	}
}

// Connect starts a connect of the non-blocking socket fd to r.
func Connect(fd int, r *Sockaddr) syscall.Errno {
	p, n := unsafe.Pointer(&r.sa4), unsafe.Sizeof(r.sa4)
	if r.v6 {
		p, n = unsafe.Pointer(&r.sa6), unsafe.Sizeof(r.sa6)
	}
	_, _, e := syscall.RawSyscall(syscall.SYS_CONNECT, uintptr(fd), uintptr(p), n)
	return e
}

// PeekStale reports whether an idle pooled connection has something to
// read (bytes or EOF) or an error pending: it must not carry a request.
func PeekStale(fd int) bool {
	var b [1]byte
	_, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), 1,
		syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
	return e != syscall.EAGAIN && e != syscall.EINTR
}

// SoError reads and clears a socket's pending error (a connect's outcome).
func SoError(fd int) syscall.Errno {
	var v int32
	l := uint32(4)
	_, _, e := syscall.RawSyscall6(syscall.SYS_GETSOCKOPT, uintptr(fd), syscall.SOL_SOCKET, syscall.SO_ERROR,
		uintptr(unsafe.Pointer(&v)), uintptr(unsafe.Pointer(&l)), 0)
	if e != 0 {
		return e
	}
	return syscall.Errno(v)
}

// Accept4 accepts one connection on the listening socket fd as a
// non-blocking, close-on-exec socket, with the peer's address in rsa.
func Accept4(fd int, rsa *syscall.RawSockaddrAny) (int, syscall.Errno) {
	n := uint32(syscall.SizeofSockaddrAny)
	r, _, e := syscall.RawSyscall6(syscall.SYS_ACCEPT4, uintptr(fd), uintptr(unsafe.Pointer(rsa)), uintptr(unsafe.Pointer(&n)),
		syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0, 0)
	if e != 0 {
		return -1, e
	}
	return int(r), 0
}

// AddrPort converts an accept4 or getsockname address, unmapping
// IPv4-mapped IPv6 addresses (as the net package's addresses are).
func AddrPort(rsa *syscall.RawSockaddrAny) netip.AddrPort {
	switch rsa.Addr.Family {
	case syscall.AF_INET:
		sa := (*syscall.RawSockaddrInet4)(unsafe.Pointer(rsa))
		p := (*[2]byte)(unsafe.Pointer(&sa.Port))
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(p[0])<<8|uint16(p[1]))
	case syscall.AF_INET6:
		sa := (*syscall.RawSockaddrInet6)(unsafe.Pointer(rsa))
		p := (*[2]byte)(unsafe.Pointer(&sa.Port))
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), uint16(p[0])<<8|uint16(p[1]))
	}
	return netip.AddrPort{}
}

// LocalAddrPort is a socket's local address (getsockname), for listeners
// bound to a wildcard address; invalid on error.
func LocalAddrPort(fd int) netip.AddrPort {
	var rsa syscall.RawSockaddrAny
	n := uint32(syscall.SizeofSockaddrAny)
	_, _, e := syscall.RawSyscall(syscall.SYS_GETSOCKNAME, uintptr(fd), uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&n)))
	if e != 0 {
		return netip.AddrPort{}
	}
	return AddrPort(&rsa)
}

// AcceptOutcome is what an event loop does after an accept4.
type AcceptOutcome int

const (
	Accepted    AcceptOutcome = iota // a connection: serve it
	AcceptEmpty                      // EAGAIN: nothing more queued
	AcceptRetry                      // the peer gave up before accept (ECONNABORTED...): try again
	AcceptPause                      // out of descriptors or memory: back off (AcceptBackoff)
	AcceptStop                       // anything else (EINVAL: the socket was shut down): stop accepting on it
)

// Accept4Outcome classifies accept4's error e.
func Accept4Outcome(e syscall.Errno) AcceptOutcome {
	switch e {
	case 0:
		return Accepted
	case syscall.EAGAIN:
		return AcceptEmpty
	case syscall.EINTR, syscall.ECONNABORTED, syscall.EPROTO:
		return AcceptRetry
	case syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM:
		return AcceptPause
	}
	return AcceptStop
}

// AcceptBackoff is the next pause after AcceptPause, prev the last one
// (0 after a success): doubling from 5 ms to 1 s, as net/http backs off,
// instead of spinning on a listening socket that stays readable.
func AcceptBackoff(prev time.Duration) time.Duration {
	return min(max(2*prev, 5*time.Millisecond), time.Second)
}
