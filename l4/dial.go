package l4

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"
)

// Target connections to an IP-literal target are dialled on a raw
// non-blocking socket (dialFD) rather than with net.Dialer: short flows
// spend a good part of their CPU in the dial, and a *net.TCPConn costs a
// resolver pass, a context, a getsockname and a getpeername that a proxy
// does not need (it knows the target address, and the PROXY header and log
// use the client side's addresses), plus a park on the netpoller even
// when the connect has already completed, as it has on loopback.
// Measured with bench/tcp-short.sh (see docs/l4.md). Host-name targets and
// IPv6 targets with a zone keep net.Dialer.

// fdConn is a connected target socket on a raw descriptor, wrapped in an
// *os.File so that reads, writes and deadlines wait in Go's netpoller. It
// is a net.Conn (PROXY header writes, TLS to targets) and a tcpSocket
// (raw reads, splice, half-close, linger). Safe for concurrent use as an
// os.File is.
type fdConn struct {
	f  *os.File // nil until wrap
	rc syscall.RawConn
	fd int            // the descriptor, owned by f once wrapped
	ap netip.AddrPort // the target

	// The connect's state, kept here rather than in closures so that a
	// dial allocates less.
	sa       syscall.Sockaddr // &sa4 or &sa6
	sa4      syscall.SockaddrInet4
	sa6      syscall.SockaddrInet6
	cerr     error
	finished bool
}

// errDialAborted is returned when the flow was killed during the dial.
var errDialAborted = errors.New("l4: connect aborted: flow closed")

// dialFD connects to ap within timeout. When f is not nil the socket
// becomes f's backend before any wait, so that a kill of the flow (Close,
// a reset) closes it and ends the wait. name is the os.File's name, used
// in error texts.
func dialFD(ap netip.AddrPort, name string, timeout time.Duration, f *flow) (*fdConn, error) {
	c, err := startConnect(ap, true)
	if err != nil {
		return nil, err
	}
	return c.wait(name, timeout, f)
}

// startConnect opens a non-blocking socket and starts its connect to ap;
// with check it then asks once whether the connect is over (c.finished,
// c.cerr): on loopback it always is. The socket is a bare descriptor
// (c.fd) until wait wraps it. The event loop (evloop_linux.go) asks no question:
// epoll tells it.
func startConnect(ap netip.AddrPort, check bool) (*fdConn, error) {
	family := syscall.AF_INET6
	if ap.Addr().Is4() {
		family = syscall.AF_INET
	}
	fd, e := rawSocketTCP(family)
	if e != 0 {
		return nil, os.NewSyscallError("socket", e)
	}
	// Nagle would hold a small write back until the previous one is
	// acknowledged; a proxy forwards each read as it comes (net.Dial's
	// default and HAProxy's too).
	if e := rawSetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1); e != 0 {
		_ = rawClose(fd)
		return nil, os.NewSyscallError("setsockopt", e)
	}
	c := &fdConn{ap: ap, fd: fd}
	if a := ap.Addr(); a.Is4() {
		c.sa4 = syscall.SockaddrInet4{Port: int(ap.Port()), Addr: a.As4()}
		c.sa = &c.sa4
	} else {
		c.sa6 = syscall.SockaddrInet6{Port: int(ap.Port()), Addr: a.As16()}
		c.sa = &c.sa6
	}
	var rsa rawSockaddr
	rsa.set(ap)
	switch e := rawConnect(fd, &rsa); e {
	case 0, syscall.EINPROGRESS, syscall.EINTR:
		// EINTR: the connect goes on asynchronously, as EINPROGRESS.
	default:
		_ = rawClose(fd)
		return nil, os.NewSyscallError("connect", e)
	}
	if check {
		c.finished = c.done(uintptr(fd))
	}
	return c, nil
}

// done is the connect check: a second connect reports the state without
// waiting: 0 once connected (then EISCONN), EALREADY while the handshake
// runs, else the error that ended it.
func (c *fdConn) done(fd uintptr) bool {
	switch err := syscall.Connect(int(fd), c.sa); err {
	case nil, syscall.EISCONN:
		c.cerr = nil
		return true
	case syscall.EALREADY, syscall.EINPROGRESS, syscall.EINTR:
		return false
	default:
		c.cerr = os.NewSyscallError("connect", err)
		return true
	}
}

// closeFD closes a socket wait has not wrapped (a failed connect, or a
// flow that died before its socket was handed on).
func (c *fdConn) closeFD() { _ = rawClose(c.fd) }

// wrap makes c's descriptor an *os.File, so that reads, writes and
// deadlines wait in Go's netpoller.
func (c *fdConn) wrap(name string) error {
	c.f = os.NewFile(uintptr(c.fd), name)
	rc, err := c.f.SyscallConn()
	if err != nil {
		_ = c.f.Close()
		return err
	}
	c.rc = rc
	return nil
}

// wait finishes a connect startConnect began: it wraps the socket and,
// unless the connect is over already, waits for it in the netpoller up to
// timeout. When f is not nil the socket becomes f's backend first (see
// dialFD). On error the socket is closed.
func (c *fdConn) wait(name string, timeout time.Duration, f *flow) (*fdConn, error) {
	if c.finished && c.cerr != nil {
		c.closeFD()
		return nil, c.cerr
	}
	if err := c.wrap(name); err != nil {
		return nil, err
	}
	if f != nil && !f.setDialing(c) {
		_ = c.f.Close()
		return nil, errDialAborted
	}
	var err error
	if !c.finished {
		_ = c.f.SetWriteDeadline(time.Now().Add(timeout))
		err = c.rc.Write(c.done)
		_ = c.f.SetWriteDeadline(time.Time{})
	}
	if err == nil {
		err = c.cerr
	}
	if err != nil {
		_ = c.f.Close()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, &net.OpError{Op: "dial", Net: "tcp", Addr: c.RemoteAddr(), Err: err}
		}
		return nil, err
	}
	return c, nil
}

// rawTarget reports the address to dial on a raw socket: an IP literal
// without a zone (zones need an interface lookup net.Dialer does).
func rawTarget(addr string) (netip.AddrPort, bool) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || ap.Addr().Zone() != "" {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
}

// dialTarget connects f to addr: a raw socket for IP literals, net.Dialer
// otherwise.
func (f *flow) dialTarget(addr string) (net.Conn, error) {
	cfg := f.cfg
	if ap, ok := rawTarget(addr); ok {
		return dialFD(ap, addr, cfg.ConnectTimeout, f)
	}
	ctx, cancel := context.WithTimeout(f.p.ctx, cfg.ConnectTimeout)
	defer cancel()
	return cfg.dialer.DialContext(ctx, "tcp", addr)
}

// setDialing makes c the flow's backend while it connects; false when the
// flow is dead already.
func (f *flow) setDialing(c *fdConn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dead.Load() {
		return false
	}
	f.backend = c
	return true
}

func (c *fdConn) Read(b []byte) (int, error)  { return c.f.Read(b) }
func (c *fdConn) Write(b []byte) (int, error) { return c.f.Write(b) }

// Close closes the socket; one the event loop holds unwrapped (an accepted
// client, see loopClient) is closed raw.
func (c *fdConn) Close() error {
	if c.f == nil {
		if e := rawClose(c.fd); e != 0 {
			return os.NewSyscallError("close", e)
		}
		return nil
	}
	return c.f.Close()
}

// control runs fn on the descriptor: through the RawConn once wrapped, else
// directly (the event loop's goroutine owns an unwrapped socket).
func (c *fdConn) control(fn func(fd uintptr)) error {
	switch {
	case c.rc != nil:
		return c.rc.Control(fn)
	case c.f != nil:
		return os.ErrClosed // a wrap that failed closed it
	}
	fn(uintptr(c.fd))
	return nil
}

// LocalAddr asks the kernel (getsockname): nothing on the flow path needs it.
func (c *fdConn) LocalAddr() net.Addr {
	var a net.Addr
	_ = c.control(func(fd uintptr) {
		sa, err := syscall.Getsockname(int(fd))
		if err != nil {
			return
		}
		switch v := sa.(type) {
		case *syscall.SockaddrInet4:
			a = &net.TCPAddr{IP: net.IP(v.Addr[:]).To16(), Port: v.Port}
		case *syscall.SockaddrInet6:
			a = &net.TCPAddr{IP: net.IP(v.Addr[:]), Port: v.Port}
		}
	})
	return a
}

// RemoteAddr is the target's address.
func (c *fdConn) RemoteAddr() net.Addr { return net.TCPAddrFromAddrPort(c.ap) }

func (c *fdConn) SetDeadline(t time.Time) error {
	if c.f == nil {
		return errUnwrapped
	}
	return c.f.SetDeadline(t)
}

func (c *fdConn) SetReadDeadline(t time.Time) error {
	if c.f == nil {
		return errUnwrapped
	}
	return c.f.SetReadDeadline(t)
}

func (c *fdConn) SetWriteDeadline(t time.Time) error {
	if c.f == nil {
		return errUnwrapped
	}
	return c.f.SetWriteDeadline(t)
}

// errUnwrapped: deadlines need the netpoller, which an event-loop socket
// has not entered.
var errUnwrapped = errors.New("l4: socket is in the event loop")

// SyscallConn gives the descriptor for raw reads and splice.
func (c *fdConn) SyscallConn() (syscall.RawConn, error) { return c.rc, nil }

// CloseWrite sends FIN (shutdown SHUT_WR); reads go on.
func (c *fdConn) CloseWrite() error {
	var serr error
	if err := c.control(func(fd uintptr) { serr = syscall.Shutdown(int(fd), syscall.SHUT_WR) }); err != nil {
		return err
	}
	return os.NewSyscallError("shutdown", serr)
}

// SetLinger sets SO_LINGER as net.TCPConn.SetLinger does; 0 makes Close
// send RST.
func (c *fdConn) SetLinger(sec int) error {
	l := syscall.Linger{}
	if sec >= 0 {
		l.Onoff, l.Linger = 1, int32(sec)
	}
	var serr error
	if err := c.control(func(fd uintptr) { serr = syscall.SetsockoptLinger(int(fd), syscall.SOL_SOCKET, syscall.SO_LINGER, &l) }); err != nil {
		return err
	}
	return os.NewSyscallError("setsockopt", serr)
}
