package l4

import (
	"net"

	"github.com/switchyard/switchyard/internal/runtime"
)

// DirectListener is a listening socket the event loop accepts on itself:
// runtime.Direct is one. Accept returns the connections something else
// accepted on the same socket (the socket's own accept goroutine, during a
// reload that changed the listener's protocol); Close detaches the Proxy,
// which then stops accepting and closes its duplicates.
type DirectListener interface {
	net.Listener
	// Dup returns a descriptor of the listening socket that the caller
	// owns and must close.
	Dup() (int, error)
	// Counter is told of each connection the Proxy accepts and closes.
	Counter() runtime.ConnCounter
	// AcceptInGo makes Accept return every connection (the fallback when
	// no event loop can take the socket).
	AcceptInGo()
}
