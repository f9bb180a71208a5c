//go:build !unix

package l7

import "syscall"

// staleSocket cannot peek on this platform; stale connections are then
// found by the exchange itself (and retried when safe).
func staleSocket(syscall.RawConn) bool { return false }
