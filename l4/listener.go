package l4

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
)

// DefaultHeaderTimeout is how long a trusted peer has to send its whole
// PROXY header. The spec asks for at least 3 s (a TCP retransmit); more
// only lets silent peers hold sockets longer.
const DefaultHeaderTimeout = 5 * time.Second

// maxPendingHeaders bounds the connections waiting for their PROXY header;
// beyond it new connections are closed at once instead of each holding a
// goroutine and a socket for the header timeout.
const maxPendingHeaders = 4096

// ProxyProtocolListener accepts connections that start with a PROXY v1 or
// v2 header from trusted peers (go-proxyproto's Listener with a trust
// policy). A peer outside the trusted prefixes is refused at accept, a
// trusted peer that does not send a valid header within the timeout is
// closed, and neither ever reaches the caller. Headers are read on a
// goroutine per connection, so a slow or silent peer never stalls Accept;
// the connections Accept returns have their header read already, so their
// RemoteAddr (the carried client) and LocalAddr (the carried destination)
// never block. A LOCAL header or a v1 "PROXY UNKNOWN" keeps the real
// endpoints. Returned connections are *proxyproto.Conn. Safe for concurrent
// use.
type ProxyProtocolListener struct {
	inner   *proxyproto.Listener
	trusted []netip.Prefix

	ready   chan net.Conn
	done    chan struct{}
	errc    chan struct{}
	err     error
	once    sync.Once
	pending atomic.Int64

	refusedUntrusted atomic.Uint64
	refusedHeader    atomic.Uint64
}

// NewProxyProtocolListener wraps ln (see ProxyProtocolListener). A
// headerTimeout ≤ 0 means DefaultHeaderTimeout. An empty trusted list
// refuses every connection. The listener starts accepting from ln at once.
func NewProxyProtocolListener(ln net.Listener, trusted []netip.Prefix, headerTimeout time.Duration) net.Listener {
	if headerTimeout <= 0 {
		headerTimeout = DefaultHeaderTimeout
	}
	l := &ProxyProtocolListener{
		trusted: make([]netip.Prefix, len(trusted)),
		ready:   make(chan net.Conn),
		done:    make(chan struct{}),
		errc:    make(chan struct{}),
	}
	for i, p := range trusted {
		l.trusted[i] = p.Masked()
	}
	l.inner = &proxyproto.Listener{
		Listener:          ln,
		ConnPolicy:        l.policy,
		ValidateHeader:    validateHeader,
		ReadHeaderTimeout: headerTimeout,
	}
	go l.acceptLoop()
	return l
}

// Trusted reports whether a PROXY header from addr is believed.
func (l *ProxyProtocolListener) Trusted(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, p := range l.trusted {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// policy runs in go-proxyproto's Accept on the raw connection, whose
// RemoteAddr is the socket peer and never blocks.
func (l *ProxyProtocolListener) policy(o proxyproto.ConnPolicyOptions) (proxyproto.Policy, error) {
	ap, ok := addrPort(o.Upstream)
	if !ok {
		l.refusedUntrusted.Add(1)
		return proxyproto.REJECT, fmt.Errorf("l4: proxy protocol %v: unknown peer address: %w", o.Upstream, proxyproto.ErrInvalidUpstream)
	}
	if !l.Trusted(ap.Addr()) {
		l.refusedUntrusted.Add(1)
		return proxyproto.REJECT, fmt.Errorf("l4: proxy protocol %s: not a trusted sender: %w", ap.Addr(), proxyproto.ErrInvalidUpstream)
	}
	if l.pending.Load() >= maxPendingHeaders {
		l.refusedHeader.Add(1)
		return proxyproto.REJECT, fmt.Errorf("l4: proxy protocol %s: %d connections already waiting for a header: %w", ap.Addr(), maxPendingHeaders, proxyproto.ErrInvalidUpstream)
	}
	return proxyproto.REQUIRE, nil
}

// errBadTransport refuses headers for datagram or unix sockets: a TCP
// listener cannot carry them.
var errBadTransport = errors.New("l4: proxy protocol: header is not for a TCP connection")

func validateHeader(h *proxyproto.Header) error {
	if h.Command.IsLocal() {
		return nil
	}
	switch h.TransportProtocol {
	case proxyproto.TCPv4, proxyproto.TCPv6, proxyproto.UNSPEC:
		return nil
	}
	return errBadTransport
}

func (l *ProxyProtocolListener) acceptLoop() {
	var delay time.Duration
	for {
		c, err := l.inner.Accept()
		if err != nil {
			select {
			case <-l.done:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				// EMFILE and friends: back off instead of spinning.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				t := time.NewTimer(delay)
				select {
				case <-t.C:
					continue
				case <-l.done:
					t.Stop()
					return
				}
			}
			l.err = err
			close(l.errc)
			return
		}
		delay = 0
		pc, ok := c.(*proxyproto.Conn)
		if !ok {
			// A SKIP policy would return the raw conn; ours never does.
			c.Close()
			continue
		}
		l.pending.Add(1)
		go l.readHeader(pc)
	}
}

func isTemporary(err error) bool {
	t, ok := err.(interface{ Temporary() bool })
	return ok && t.Temporary()
}

// readHeader reads the header (bounded by the header timeout) and hands the
// connection to Accept.
func (l *ProxyProtocolListener) readHeader(c *proxyproto.Conn) {
	// A zero-length Read processes the header and returns its error
	// without reading payload.
	_, err := c.Read(nil)
	l.pending.Add(-1)
	if err != nil {
		l.refusedHeader.Add(1)
		c.Close()
		return
	}
	select {
	case l.ready <- c:
	case <-l.done:
		c.Close()
	}
}

// Accept returns the next connection whose header has been read.
func (l *ProxyProtocolListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ready:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	case <-l.errc:
		return nil, fmt.Errorf("l4: proxy protocol accept: %w", l.err)
	}
}

// Close closes the wrapped listener; connections still waiting for their
// header are closed as they finish.
func (l *ProxyProtocolListener) Close() error {
	err := net.ErrClosed
	l.once.Do(func() {
		close(l.done)
		err = l.inner.Close()
	})
	return err
}

// Addr is the wrapped listener's address.
func (l *ProxyProtocolListener) Addr() net.Addr { return l.inner.Addr() }

// RefusedUntrusted counts connections refused because the peer is not trusted.
func (l *ProxyProtocolListener) RefusedUntrusted() uint64 { return l.refusedUntrusted.Load() }

// RefusedHeader counts trusted connections closed for a missing, invalid or
// late header (or because too many were waiting for one).
func (l *ProxyProtocolListener) RefusedHeader() uint64 { return l.refusedHeader.Load() }

// addrPort converts a net.Addr of a TCP connection without allocating in
// the common case.
func addrPort(a net.Addr) (netip.AddrPort, bool) {
	switch v := a.(type) {
	case *net.TCPAddr:
		ap := v.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), ap.IsValid()
	case nil:
		return netip.AddrPort{}, false
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
}
