//go:build !linux

package l7

import "time"

// parker parks idle connections on Linux only (epoll); elsewhere every
// idle keep-alive connection keeps its fasthttp goroutine.
type parker struct {
	idle, after, busyAfter time.Duration
	busyWaiters            int32
}

func newParker(*Server) *parker { return nil }

func (p *parker) park(c *deadlineConn) { c.closeParked() }

func (p *parker) close() {}

func (p *parker) idleWaiting() int64 { return 0 }

func (p *parker) parkedCount() int { return 0 }
