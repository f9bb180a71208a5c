package l4

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"
)

func mustListen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func dialFrom(t testing.TB, from, to string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", to)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

type accepted struct {
	c   net.Conn
	err error
}

// acceptN accepts in the background and reports each result.
func acceptAll(ln net.Listener) <-chan accepted {
	ch := make(chan accepted, 64)
	go func() {
		for {
			c, err := ln.Accept()
			ch <- accepted{c, err}
			if err != nil {
				return
			}
		}
	}()
	return ch
}

func nextConn(t *testing.T, ch <-chan accepted, within time.Duration) net.Conn {
	t.Helper()
	select {
	case a := <-ch:
		if a.err != nil {
			t.Fatalf("accept: %v", a.err)
		}
		t.Cleanup(func() { a.c.Close() })
		return a.c
	case <-time.After(within):
		t.Fatalf("no connection accepted within %v", within)
		return nil
	}
}

func noConn(t *testing.T, ch <-chan accepted, within time.Duration) {
	t.Helper()
	select {
	case a := <-ch:
		if a.err == nil {
			a.c.Close()
			t.Fatalf("a connection from %v was accepted", a.c.RemoteAddr())
		}
	case <-time.After(within):
	}
}

// expectClosed reads until the server closes the connection.
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection not closed by the server (read %d bytes)", n)
	}
	if n != 0 {
		t.Fatalf("server sent %d bytes before closing", n)
	}
}

func lo(p string) []netip.Prefix { return []netip.Prefix{netip.MustParsePrefix(p)} }

func TestProxyListenerCarriesClient(t *testing.T) {
	ln := NewProxyProtocolListener(mustListen(t), lo("127.0.0.0/8"), 5*time.Second)
	defer ln.Close()
	acc := acceptAll(ln)

	carried := netip.MustParseAddrPort("127.9.9.9:4321")
	dst := netip.MustParseAddrPort("127.0.0.1:8081")
	hdr, _ := AppendHeaderV2(nil, carried, dst, nil)
	c := dialFrom(t, "127.0.0.1", ln.Addr().String())
	if _, err := c.Write(append(hdr, "hello"...)); err != nil {
		t.Fatal(err)
	}
	s := nextConn(t, acc, 5*time.Second)
	if got := s.RemoteAddr().String(); got != carried.String() {
		t.Errorf("RemoteAddr %s, want %s", got, carried)
	}
	if got := s.LocalAddr().String(); got != dst.String() {
		t.Errorf("LocalAddr %s, want %s", got, dst)
	}
	b := make([]byte, 5)
	_ = s.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(s, b); err != nil || string(b) != "hello" {
		t.Errorf("payload %q, %v", b, err)
	}

	// v1 from the same trusted range, IPv6 carried.
	c1 := dialFrom(t, "127.0.0.1", ln.Addr().String())
	if _, err := io.WriteString(c1, "PROXY TCP6 ::1 ::1 5555 80\r\nping"); err != nil {
		t.Fatal(err)
	}
	s1 := nextConn(t, acc, 5*time.Second)
	if got := s1.RemoteAddr().String(); got != "[::1]:5555" {
		t.Errorf("v1 RemoteAddr %s", got)
	}
	br := bufio.NewReader(s1)
	_ = s1.SetReadDeadline(time.Now().Add(5 * time.Second))
	if b, _ := br.Peek(4); string(b) != "ping" {
		t.Errorf("v1 payload %q", b)
	}

	// LOCAL keeps the real endpoints.
	c2 := dialFrom(t, "127.0.0.3", ln.Addr().String())
	local, _ := AppendLocalHeaderV2(nil, nil)
	if _, err := c2.Write(local); err != nil {
		t.Fatal(err)
	}
	s2 := nextConn(t, acc, 5*time.Second)
	if got := s2.RemoteAddr().String(); got != c2.LocalAddr().String() {
		t.Errorf("LOCAL RemoteAddr %s, want the real peer %s", got, c2.LocalAddr())
	}
}

// An untrusted peer is refused even with a valid header; a trusted peer
// without a header is refused too; neither reaches Accept.
func TestProxyListenerTrust(t *testing.T) {
	l := NewProxyProtocolListener(mustListen(t), lo("127.0.0.2/32"), 5*time.Second).(*ProxyProtocolListener)
	defer l.Close()
	acc := acceptAll(l)
	hdr, _ := AppendHeaderV2(nil, netip.MustParseAddrPort("127.6.6.6:1"), netip.MustParseAddrPort("127.0.0.1:2"), nil)

	bad := dialFrom(t, "127.0.0.1", l.Addr().String())
	_, _ = bad.Write(append(hdr, "data"...))
	expectClosed(t, bad)

	noHdr := dialFrom(t, "127.0.0.2", l.Addr().String())
	_, _ = io.WriteString(noHdr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	expectClosed(t, noHdr)

	// A UDP header on a TCP listener is refused.
	udp := append([]byte(nil), hdr...)
	udp[13] = 0x12
	badT := dialFrom(t, "127.0.0.2", l.Addr().String())
	_, _ = badT.Write(udp)
	expectClosed(t, badT)

	noConn(t, acc, 100*time.Millisecond)
	if l.RefusedUntrusted() != 1 || l.RefusedHeader() != 2 {
		t.Errorf("refused untrusted %d, header %d; want 1, 2", l.RefusedUntrusted(), l.RefusedHeader())
	}

	good := dialFrom(t, "127.0.0.2", l.Addr().String())
	_, _ = good.Write(hdr)
	s := nextConn(t, acc, 5*time.Second)
	if s.RemoteAddr().String() != "127.6.6.6:1" {
		t.Errorf("RemoteAddr %s", s.RemoteAddr())
	}
}

// Silent trusted peers do not stall others, and are closed at the timeout.
func TestProxyListenerSilentPeers(t *testing.T) {
	const timeout = 3 * time.Second
	ln := NewProxyProtocolListener(mustListen(t), lo("127.0.0.0/8"), timeout)
	defer ln.Close()
	acc := acceptAll(ln)
	var silent []net.Conn
	for range 500 { // hardening.md §4.6: 500 silent connections
		silent = append(silent, dialFrom(t, "127.0.0.1", ln.Addr().String()))
	}
	// A peer that sent one byte of its header and stopped does not stall others either.
	hdr, _ := AppendHeaderV2(nil, netip.MustParseAddrPort("127.5.5.5:5"), netip.MustParseAddrPort("127.0.0.1:1"), nil)
	slow := dialFrom(t, "127.0.0.1", ln.Addr().String())
	_, _ = slow.Write(hdr[:1])

	start := time.Now()
	good := dialFrom(t, "127.0.0.1", ln.Addr().String())
	_, _ = good.Write(hdr)
	s := nextConn(t, acc, 2*time.Second)
	if s.RemoteAddr().String() != "127.5.5.5:5" {
		t.Errorf("RemoteAddr %s", s.RemoteAddr())
	}
	if d := time.Since(start); d > timeout/2 {
		t.Errorf("good client waited %v behind silent peers (header timeout %v)", d, timeout)
	}
	// Silent peers are closed at the header timeout, not before and not never.
	expectClosed(t, silent[0])
	if d := time.Since(start); d < timeout/2 || d > 3*timeout {
		t.Errorf("silent peer closed after %v, header timeout %v", d, timeout)
	}
	noConn(t, acc, 50*time.Millisecond)
}

func TestProxyListenerClose(t *testing.T) {
	ln := NewProxyProtocolListener(mustListen(t), lo("127.0.0.0/8"), time.Second)
	acc := acceptAll(ln)
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case a := <-acc:
		if !errors.Is(a.err, net.ErrClosed) {
			t.Errorf("Accept after Close: %v", a.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Accept still blocked after Close")
	}
}
