//go:build !linux

package l4

import "net"

// The event loops (evloop_linux.go, accept_linux.go) wait on epoll, which
// only Linux has. Elsewhere every flow takes the goroutine path (serveConn
// and flow.pipe: the same flows, records and timeouts, with a goroutine
// per direction) and a DirectListener's connections are accepted in Go.

// evloop is never made here.
type evloop struct{}

// loopFlow is a flow's event-loop state; ev stays nil here.
type loopFlow struct{ ev *evloop }

// kill is never called: no flow has a loop.
func (l *evloop) kill(*flow) {}

// serveFast declines every connection: serveConn takes it.
func (p *Proxy) serveFast(net.Conn) bool { return false }

// wakeLoops has no loop to wake.
func (p *Proxy) wakeLoops() {}

// serveDirect accepts a DirectListener's connections in Go.
func (p *Proxy) serveDirect(dl DirectListener) error {
	dl.AcceptInGo()
	return p.acceptLoop(dl)
}
