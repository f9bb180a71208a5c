//go:build linux

package main

import (
	"net"
	"syscall"
)

// viewerNotsentLowat is the TCP_NOTSENT_LOWAT of every viewer connection:
// a write returns once this much of it is queued but not yet sent, and the
// connection is writable again when less than half of that is left. The
// kernel paces TCP (BBR), so a large answer is queued faster than it
// leaves; with the mark its rest is written in pieces as the queue drains,
// and each piece starts with nothing unsent, which marks the flow
// application-limited until what is in flight has been ACKed. The answer's
// last segment, which a paused keep-alive viewer ACKs only with its next
// request (delayed ACK), then yields no bandwidth sample that can drag
// BBR's estimate, and the next answer's pacing, down to one segment per
// pause: the ~35 ms stalls of docs/edge.md, "At partial load".
const viewerNotsentLowat = 64 << 10

// tcpNotsentLowat is TCP_NOTSENT_LOWAT (linux/tcp.h), which package
// syscall does not name.
const tcpNotsentLowat = 25

// setViewerSockopts sets the viewer socket options on c. The kernel does
// not copy TCP_NOTSENT_LOWAT from a listening socket to the connections it
// accepts, so this runs once per accepted connection.
func setViewerSockopts(c *net.TCPConn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, tcpNotsentLowat, viewerNotsentLowat)
	}); err != nil {
		return err
	}
	return serr
}
