//go:build unix

package edge

import "syscall"

// read stores the connection's TCP_MAXSEG (0 on error).
func (vc *viewerConn) read(fd uintptr) {
	mss, err := syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_MAXSEG)
	if err != nil {
		mss = 0
	}
	vc.mss = mss
}
