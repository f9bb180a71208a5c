package rawsock

import (
	"encoding/binary"
	"fmt"
	"os"
	"syscall"
)

// EPOLLET is the edge-triggered flag as a uint32 (syscall spells it as a
// negative int).
const EPOLLET = 1 << 31

// NewEpoll makes what an event loop waits on: a non-blocking epoll
// instance, waited on in Go's netpoller through file (an epoll descriptor
// is readable while events are pending, so an idle loop is a parked
// goroutine), with wake, an eventfd, in its set (edge-triggered) so that
// other goroutines can make the loop run a round (Signal). name names the
// os.File in errors.
func NewEpoll(name string) (epfd, wake int, file *os.File, rc syscall.RawConn, err error) {
	epfd, err = syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return -1, -1, nil, nil, fmt.Errorf("%s: epoll_create1: %w", name, err)
	}
	if err := syscall.SetNonblock(epfd, true); err != nil {
		_ = syscall.Close(epfd)
		return -1, -1, nil, nil, fmt.Errorf("%s: epoll fd non-blocking: %w", name, err)
	}
	w, _, errno := syscall.RawSyscall(syscall.SYS_EVENTFD2, 0, syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if errno != 0 {
		_ = syscall.Close(epfd)
		return -1, -1, nil, nil, fmt.Errorf("%s: eventfd: %w", name, errno)
	}
	wake = int(w)
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | EPOLLET, Fd: int32(wake)}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, wake, &ev); err != nil {
		_ = syscall.Close(epfd)
		_ = syscall.Close(wake)
		return -1, -1, nil, nil, fmt.Errorf("%s: epoll_ctl eventfd: %w", name, err)
	}
	file = os.NewFile(uintptr(epfd), name)
	if rc, err = file.SyscallConn(); err != nil {
		_ = file.Close()
		_ = syscall.Close(wake)
		return -1, -1, nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	return epfd, wake, file, rc, nil
}

// Signal makes the eventfd wake readable (the loop runs a round).
func Signal(wake int) {
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	_, _ = syscall.Write(wake, one[:])
}
