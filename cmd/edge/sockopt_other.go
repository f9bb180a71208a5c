//go:build !linux

package main

import "net"

// setViewerSockopts sets nothing on this platform (the notsent low-water
// mark of sockopt_linux.go is Linux's).
func setViewerSockopts(*net.TCPConn) error { return nil }
