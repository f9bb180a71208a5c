//go:build linux

package main

import (
	"net"
	"syscall"
	"testing"
)

func notsentLowat(t *testing.T, c syscall.Conn) int {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var gerr error
	if err := rc.Control(func(fd uintptr) {
		v, gerr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, tcpNotsentLowat)
	}); err != nil || gerr != nil {
		t.Fatalf("getsockopt TCP_NOTSENT_LOWAT: %v %v", err, gerr)
	}
	return v
}

// TestViewerNotsentLowat: the connections a viewer listener accepts carry
// TCP_NOTSENT_LOWAT (set per connection: the kernel does not copy it from
// the listening socket), and the edge's listeners are viewer listeners.
func TestViewerNotsentLowat(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := viewerListener{inner.(*net.TCPListener)}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tc, ok := s.(*net.TCPConn)
	if !ok {
		t.Fatalf("accepted %T, want *net.TCPConn", s)
	}
	if got := notsentLowat(t, tc); got != viewerNotsentLowat {
		t.Fatalf("accepted connection: TCP_NOTSENT_LOWAT %d, want %d", got, viewerNotsentLowat)
	}

	r := startRun(t, "-http", "127.0.0.1:0", "-admin", "127.0.0.1:0", "-log-level", "warn")
	if _, ok := r.a.socks[0].ln.(viewerListener); !ok {
		t.Fatalf("edge listener is %T, want viewerListener", r.a.socks[0].ln)
	}
}
