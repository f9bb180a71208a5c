//go:build !linux

package edge

import (
	"io"
	"net"
)

// sendState: sendfile is Linux-only (cache body files are memfds).
type sendState struct{}

func (s *sendState) init()  {}
func (s *sendState) reset() {}

// prepareSendfile does nothing here: cached bodies are copied.
func (c *cachedBody) prepareSendfile(net.Conn) {}

// sendfile is never possible here.
func (c *cachedBody) sendfile(io.Writer) (int64, bool, error) { return 0, false, nil }
