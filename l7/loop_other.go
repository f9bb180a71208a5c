//go:build !linux

package l7

import (
	"net"
	"sync/atomic"
	"time"
)

// Off Linux there is no event loop: every connection takes the goroutine
// path (fasthttp's Server and the targets' HostClients).

var loopServed, loopHandOffs, loopAccepted, loopRawAnswers atomic.Uint64

type loopSet struct{ conns atomic.Int64 }

func newLoopSet(*Server) *loopSet   { return nil }
func (*loopSet) take(net.Conn) bool { return false }
func (*loopSet) shutdown()          {}
func (*loopSet) kill()              {}

type acceptor struct{}

func (*loopSet) serveDirect(directListener) []*acceptor { return nil }
func (*loopSet) stopAccepting([]*acceptor)              {}

type httpLoop struct{}

type lconn struct {
	net.Conn
	l    *httpLoop
	id   uint64
	born time.Time
}

func (*httpLoop) send(*exchange, *backend, *forwardAction, time.Time) bool { return false }
