package main

import (
	"context"
	"net"

	"github.com/switchyard/switchyard/config"
)

// listen opens lc's socket. TCP and TLS listeners accept without TCP
// keep-alive (KeepAlive -1): l4 flows have their own idle timeout, and
// leaving it off saves the setsockopt calls Go makes on every accepted
// connection. HTTP(S) listeners keep Go's default (15 s probes), which
// finds dead clients of idle keep-alive connections.
func listen(lc config.Listener) (net.Listener, error) {
	lcfg := net.ListenConfig{}
	if isL4(lc.Protocol) {
		lcfg.KeepAlive = -1
	}
	return lcfg.Listen(context.Background(), "tcp", lc.Address)
}
