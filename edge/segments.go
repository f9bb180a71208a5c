package edge

import (
	"net"
	"sync"
	"syscall"
)

// maxBodyWrite bounds one write of a large cached body to the viewer
// (setCachedBody): the body goes out in writes of at most this size, each
// a whole number of the connection's TCP segments (its MSS) except the
// last. See cachedBody.WriteTo for why.
const maxBodyWrite = 64 << 10

// viewerWriteBuffer is the viewer connection's write buffer
// (l7.ApplyServerLimits; TestViewerWriteBuffer keeps them equal): the first
// write of a streamed body carries the header and the body's first bytes
// up to this size.
const viewerWriteBuffer = 16 << 10

// bodyWriteSize is the size of each write of a large body to a connection
// whose TCP maximum segment size is mss: the largest whole number of
// segments within maxBodyWrite (one segment when a segment is larger,
// as on loopback's ~64 KiB MSS). 0 (unknown MSS) means one write.
func bodyWriteSize(mss int) int {
	if mss <= 0 {
		return 0
	}
	return max(maxBodyWrite/mss, 1) * mss
}

// viewerConns learns the TCP maximum segment size of a listener's viewer
// connections. The MSS is read with one getsockopt per large answer (it
// grows after the handshake: Linux bounds it to half the largest window
// the peer has offered, so a fresh loopback connection reports 32 KiB and
// later 64 KiB); what is kept per connection is the means to read it
// without allocating (its syscall.RawConn and a bound probe). Entries
// are dropped when fasthttp reports the connection closed or hijacked
// (NewServer's ConnState hook); a listener without that hook (Handler
// alone) keeps nothing and reports no MSS.
type viewerConns struct {
	track bool // NewServer installed the ConnState hook that forgets
	mu    sync.Mutex
	m     map[net.Conn]*viewerConn
}

type viewerConn struct {
	rc    syscall.RawConn
	probe func(fd uintptr) // vc.read, bound once
	mss   int
}

// segmentSize returns c's current TCP maximum segment size, or 0 when c
// is not a plain TCP connection (TLS, PROXY protocol wrappers) or it
// cannot be read.
func (v *viewerConns) segmentSize(c net.Conn) int {
	if !v.track {
		return 0
	}
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return 0
	}
	v.mu.Lock()
	vc := v.m[c]
	if vc == nil {
		rc, err := tc.SyscallConn()
		if err != nil {
			v.mu.Unlock()
			return 0
		}
		vc = &viewerConn{rc: rc}
		vc.probe = vc.read
		if v.m == nil {
			v.m = make(map[net.Conn]*viewerConn)
		}
		v.m[c] = vc
	}
	v.mu.Unlock()
	// One request at a time per connection: only this goroutine touches vc.
	vc.mss = 0
	if err := vc.rc.Control(vc.probe); err != nil {
		return 0
	}
	return vc.mss
}

// forget drops c's entry (fasthttp closed or hijacked it).
func (v *viewerConns) forget(c net.Conn) {
	v.mu.Lock()
	delete(v.m, c)
	v.mu.Unlock()
}

// tracked is the number of connections remembered (tests).
func (v *viewerConns) tracked() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.m)
}
