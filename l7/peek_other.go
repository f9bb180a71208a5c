//go:build !unix

package l7

import "syscall"

// peeker cannot peek on this platform; stale connections are then found
// by the exchange itself (and retried when safe).
type peeker struct{}

func newPeeker(syscall.RawConn) *peeker { return &peeker{} }

func (*peeker) stale() bool { return false }
