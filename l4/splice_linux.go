package l4

import (
	"errors"
	"io"
	"os"
	"runtime"
	"sync"
	"syscall"
)

// Bulk transfers move socket → pipe → socket with splice(2), waiting in
// Go's netpoller through the two sockets' RawConns. net.TCPConn.ReadFrom
// does the same between two *net.TCPConn, but a target dialled on a raw
// descriptor (fdConn) is not one, so l4 keeps this small loop of its own
// (modelled on internal/poll/splice_linux.go: same pipe size, same flags).

// canSplice: bulk transfers switch to splice (copyTCP).
const canSplice = true

const (
	spliceMove     = 0x1 // SPLICE_F_MOVE
	spliceNonblock = 0x2 // SPLICE_F_NONBLOCK
	// maxSpliceSize is one splice's most and the pipe's size, as Go's.
	maxSpliceSize = 1 << 20
	fSetPipeSize  = 1031 // F_SETPIPE_SZ
)

// errNoPipe: no pipe could be made (descriptor limit); the caller copies
// through a buffer instead.
var errNoPipe = errors.New("l4: splice: no pipe")

// splicePipe is a pipe kept empty between uses.
type splicePipe struct{ r, w int }

var pipes = &sync.Pool{New: func() any {
	var fds [2]int
	if err := syscall.Pipe2(fds[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		return nil
	}
	// A smaller pipe works too, with more system calls.
	_, _, _ = syscall.Syscall(syscall.SYS_FCNTL, uintptr(fds[0]), fSetPipeSize, maxSpliceSize)
	p := &splicePipe{r: fds[0], w: fds[1]}
	// The pool drops pipes at GC time; the finalizer closes them then.
	runtime.SetFinalizer(p, (*splicePipe).close)
	return p
}}

func (p *splicePipe) close() {
	_ = syscall.Close(p.r)
	_ = syscall.Close(p.w)
}

// splice moves bytes from d.srcTCP to d.dstTCP until EOF (nil error), an
// error, or the read deadline (the idle check): then the pipe is empty
// again and goes back to the pool. Writes wait without a deadline, as a
// write of net.TCPConn does; a kill closes the socket and ends them.
func (d *direction) splice() (int64, error) {
	if d.wrc == nil {
		rc, err := d.dstTCP.SyscallConn()
		if err != nil {
			return 0, err
		}
		d.wrc = rc
	}
	p, _ := pipes.Get().(*splicePipe)
	if p == nil {
		return 0, errNoPipe
	}
	// The callbacks are made once per call, not per splice: each closure
	// handed to a RawConn is an allocation.
	var n, m int64
	var serr error
	pump := func(fd uintptr) bool { // socket → pipe
		for {
			n, serr = syscall.Splice(int(fd), nil, p.w, nil, maxSpliceSize, spliceMove|spliceNonblock)
			if serr != syscall.EINTR {
				return serr != syscall.EAGAIN
			}
		}
	}
	drain := func(fd uintptr) bool { // pipe → socket
		for {
			m, serr = syscall.Splice(p.r, nil, int(fd), nil, int(n), spliceMove|spliceNonblock)
			if serr != syscall.EINTR {
				return serr != syscall.EAGAIN
			}
		}
	}
	var total int64
	for {
		err := d.rc.Read(pump)
		if err == nil && serr != nil {
			err = os.NewSyscallError("splice", serr)
		}
		if err != nil || n == 0 {
			pipes.Put(p) // empty: nothing went in
			return total, err
		}
		for n > 0 {
			err := d.wrc.Write(drain)
			if err == nil && serr != nil {
				err = os.NewSyscallError("splice", serr)
			}
			if err == nil && m == 0 {
				err = io.ErrShortWrite // a socket never takes 0 of n > 0 bytes; do not spin
			}
			if err != nil {
				// Bytes are stuck in the pipe: it cannot be reused.
				runtime.SetFinalizer(p, nil)
				p.close()
				return total, err
			}
			n -= m
			total += m
		}
	}
}
