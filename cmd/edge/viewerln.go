package main

import "net"

// viewerListener is a viewer listener that sets the viewer socket options
// (setViewerSockopts) on each connection it accepts and hands it on as the
// *net.TCPConn it is, so fasthttp still sees a plain TCP connection
// (TCP keep-alive, its write path).
type viewerListener struct{ *net.TCPListener }

// Accept returns the next viewer connection. A socket option that cannot
// be set does not refuse the viewer: the connection is served without it.
func (l viewerListener) Accept() (net.Conn, error) {
	c, err := l.AcceptTCP()
	if err != nil {
		return nil, err
	}
	_ = setViewerSockopts(c) // best effort, see above
	return c, nil
}
