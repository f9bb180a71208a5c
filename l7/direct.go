package l7

import (
	"net"

	"github.com/switchyard/switchyard/internal/runtime"
)

// directListener is a listening socket the event loops accept on
// themselves (runtime.Direct is one; cmd/lb passes it for plain-HTTP
// listeners): each loop holds a duplicate of the descriptor in its epoll
// set and calls accept4 itself, so a client socket never enters Go's
// netpoller while the loop holds it — no accept goroutine woken, no
// netpoller registration and removal, no hand-over per connection. Accept
// returns what something else accepted on the same socket (the Socket's
// accept goroutine, which runs only after AcceptInGo or for another
// holder), and fasthttp serves those as it does any listener's.
type directListener interface {
	net.Listener
	// Dup returns a descriptor of the listening socket that the caller
	// owns and must close.
	Dup() (int, error)
	// Counter is told of each connection the loops accept and close.
	Counter() runtime.ConnCounter
	// AcceptInGo makes Accept return every connection (the fallback when
	// no loop can take the socket).
	AcceptInGo()
}
