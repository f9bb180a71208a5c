package l4

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"
)

// fullListener is a loopback address whose accept queue is full: a new
// connect gets no answer (the SYN is dropped) until it times out.
func fullListener(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(sa.(*syscall.SockaddrInet4).Port)).String()
	// Fill the queue (backlog 0 holds one) until a connect hangs.
	for range 8 {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			return addr
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Skip("could not fill a listener's accept queue")
	return ""
}

// A raw-socket target connection works as a net.Conn and a tcpSocket:
// addresses, both ways of data, half-close and a reset by linger 0.
func TestDialFD(t *testing.T) {
	ln := mustListen(t)
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	ap := netip.MustParseAddrPort(ln.Addr().String())
	c, err := dialFD(ap, ln.Addr().String(), time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := <-accepted
	if s == nil {
		t.Fatal("no connection accepted")
	}
	defer s.Close()
	if got := c.RemoteAddr().String(); got != ln.Addr().String() {
		t.Errorf("RemoteAddr %s, want %s", got, ln.Addr())
	}
	if got := c.LocalAddr(); got == nil || got.String() != s.RemoteAddr().String() {
		t.Errorf("LocalAddr %v, the server sees %v", got, s.RemoteAddr())
	}
	var ts tcpSocket = c
	if unwrapTCP(c) != ts || socketOf(wrapped{c}) != ts {
		t.Error("an fdConn is not taken for a TCP socket")
	}

	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	_ = s.SetDeadline(time.Now().Add(5 * time.Second))
	if got, err := io.ReadAll(s); err != nil || string(got) != "ping" {
		t.Fatalf("server read %q, %v; want ping then EOF", got, err)
	}
	if _, err := s.Write([]byte("pong")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "pong" {
		t.Fatalf("read after half-close %q, %v", buf, err)
	}

	// Linger 0, then close: the peer sees a reset (as kill sends).
	accepted2 := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted2 <- c
		}
		close(accepted2)
	}()
	c2, err := dialFD(ap, ln.Addr().String(), time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	s2 := <-accepted2
	if s2 == nil {
		t.Fatal("no second connection accepted")
	}
	defer s2.Close()
	if err := c2.SetLinger(0); err != nil {
		t.Fatal(err)
	}
	_ = c2.Close()
	_ = s2.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := s2.Read(buf); !isReset(err) {
		t.Errorf("after linger 0 and close the server read %v, want a reset", err)
	}
}

func TestDialFDRefused(t *testing.T) {
	ap := netip.MustParseAddrPort(deadAddr(t))
	_, err := dialFD(ap, ap.String(), time.Second, nil)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial of a closed port: %v, want ECONNREFUSED", err)
	}
}

// A connect that gets no answer ends at the connect timeout with a
// timeout error.
func TestDialFDTimeout(t *testing.T) {
	ap := netip.MustParseAddrPort(fullListener(t))
	start := time.Now()
	_, err := dialFD(ap, ap.String(), 150*time.Millisecond, nil)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("dial: %v, want a timeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("timeout after %v", d)
	}
}

// Killing a flow (Close, a reset) ends its connect at once instead of at
// the connect timeout.
func TestDialFDAbortedByKill(t *testing.T) {
	ap := netip.MustParseAddrPort(fullListener(t))
	client, other := net.Pipe()
	defer other.Close()
	f := &flow{client: client}
	errc := make(chan error, 1)
	go func() {
		_, err := dialFD(ap, ap.String(), time.Minute, f)
		errc <- err
	}()
	for i := 0; ; i++ {
		f.mu.Lock()
		dialing := f.backend != nil
		f.mu.Unlock()
		if dialing {
			break
		}
		if i == 5000 {
			t.Fatal("the dial never registered its socket with the flow")
		}
		time.Sleep(time.Millisecond)
	}
	f.kill(ReasonShutdown, nil)
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("a killed dial succeeded")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a killed dial still waits")
	}
	// A flow that is dead already is not dialled for at all.
	if _, err := dialFD(ap, ap.String(), time.Minute, f); !errors.Is(err, errDialAborted) {
		t.Errorf("dial for a dead flow: %v", err)
	}
}

func TestRawTarget(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // "" = net.Dialer
	}{
		{"127.0.0.1:80", "127.0.0.1:80"},
		{"[::1]:443", "[::1]:443"},
		{"[::ffff:10.0.0.1]:80", "10.0.0.1:80"},
		{"[fe80::1%lo]:80", ""},
		{"localhost:80", ""},
		{"db.internal:5432", ""},
	} {
		ap, ok := rawTarget(tc.in)
		if got := map[bool]string{true: ap.String(), false: ""}[ok]; got != tc.want {
			t.Errorf("rawTarget(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// A host-name target is dialled with net.Dialer and carries flows too.
func TestProxyHostNameTarget(t *testing.T) {
	be := startBackend(t, false, echo)
	_, port, _ := net.SplitHostPort(be.addr)
	env := startProxy(t, Config{}, nil, net.JoinHostPort("localhost", port))
	c := dial(t, env.addr)
	_, _ = io.WriteString(c, "hello")
	_ = c.CloseWrite()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if got, err := io.ReadAll(c); err != nil || string(got) != "hello" {
		t.Fatalf("echo %q, %v", got, err)
	}
	if r := env.record(t); r.CloseReason != ReasonClientClose && r.CloseReason != ReasonTargetClose {
		t.Errorf("record %+v", r)
	}
}

// Short flows never arm a read deadline (no timer per direction); an idle
// flow in the event loop does not either (the loop's sweep resets it), and
// is still reset when idle.
func TestShortFlowsArmNoDeadline(t *testing.T) {
	be := startBackend(t, false, echo)
	env := startProxy(t, Config{IdleTimeout: time.Minute}, nil, be.addr)
	before := armedDirections.Load()
	for range 20 {
		c := dial(t, env.addr)
		roundTrip(t, c, "ping")
		_ = c.Close()
		env.record(t)
	}
	if n := armedDirections.Load() - before; n != 0 {
		t.Errorf("20 short flows armed %d read deadlines, want 0", n)
	}

	const idle = 400 * time.Millisecond
	env2 := startProxy(t, Config{IdleTimeout: idle}, nil, be.addr)
	before = armedDirections.Load()
	c := dial(t, env2.addr)
	roundTrip(t, c, "ping")
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); !isReset(err) {
		t.Errorf("idle flow: %v, want a reset", err)
	}
	if r := env2.record(t); r.CloseReason != ReasonIdleTimeout {
		t.Errorf("record %+v", r)
	}
	if n := armedDirections.Load() - before; n != 0 {
		t.Errorf("an idle flow armed %d read deadlines, want 0", n)
	}
}
