//go:build !unix

package edge

// read cannot ask for the MSS on this platform: large bodies then go out
// in one write.
func (vc *viewerConn) read(uintptr) { vc.mss = 0 }
