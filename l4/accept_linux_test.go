package l4

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/netip"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/switchyard/switchyard/internal/runtime"
)

// connCounter counts a Socket's connections (runtime.ConnCounter).
type connCounter struct{ open, closed atomic.Int64 }

func (c *connCounter) ConnOpened() { c.open.Add(1) }
func (c *connCounter) ConnClosed() { c.closed.Add(1) }

// balanced waits until every opened connection was closed (closes run on
// the loop or on flow goroutines, just before the record).
func (c *connCounter) balanced(t *testing.T, want int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for c.open.Load() != want || c.closed.Load() != want {
		if time.Now().After(deadline) {
			t.Fatalf("connections opened %d closed %d, want %d each", c.open.Load(), c.closed.Load(), want)
		}
		time.Sleep(time.Millisecond)
	}
}

type directEnv struct {
	*proxyEnv
	sock *runtime.Socket
	cc   *connCounter
}

// startDirectProxy serves a Proxy on a runtime.Socket's Direct, as cmd/lb
// does for TCP listeners: the event loops accept themselves.
func startDirectProxy(t *testing.T, cfg Config, network, addr string, targets ...string) *directEnv {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	cc := new(connCounter)
	sock := runtime.NewSocket("direct-test", ln, cc)
	t.Cleanup(sock.Close)
	env := &directEnv{proxyEnv: startProxyOn(t, cfg, sock.Direct(), targets...), sock: sock, cc: cc}
	return env
}

// startProxyOn is startProxy on a given listener.
func startProxyOn(t *testing.T, cfg Config, ln net.Listener, targets ...string) *proxyEnv {
	t.Helper()
	env := &proxyEnv{records: make(chan Record, 256), serveErr: make(chan error, 1), addr: ln.Addr().String()}
	if cfg.Group == nil {
		cfg.Group = newTestGroup(t, targets...)
	}
	env.g = cfg.Group
	cfg.OnFlow = func(r *Record) { env.records <- *r }
	if cfg.Listener == "" {
		cfg.Listener = "tcp-test"
	}
	p, err := NewProxy(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	env.p = p
	go func() { env.serveErr <- p.Serve(ln) }()
	t.Cleanup(func() { p.Close() })
	return env
}

// Connections on a Direct are accepted by the event loop: no Go accept
// (the Socket's accept goroutine never starts), the record's addresses come
// from accept4 and the listener, every flow stays in the loop, and the
// listener's connection count balances.
func TestDirectShortFlows(t *testing.T) {
	be := startBackend(t, false, echo)
	env := startDirectProxy(t, Config{}, "tcp", "127.0.0.1:0", be.addr)
	added, handed := loopFlows.Load(), loopHandOffs.Load()
	for i := range 20 {
		c := dial(t, env.addr)
		roundTrip(t, c, "ping")
		_ = c.CloseWrite()
		if rest, err := io.ReadAll(c); err != nil || len(rest) != 0 {
			t.Fatalf("flow %d after the client's FIN: %q, %v; want EOF", i, rest, err)
		}
		client := c.LocalAddr().(*net.TCPAddr).AddrPort()
		_ = c.Close()
		r := env.record(t)
		if r.CloseReason != ReasonClientClose || r.Received != 4 || r.Sent != 4 || r.Target != be.addr {
			t.Errorf("record %+v", r)
		}
		if r.Client != client || r.Destination != netip.MustParseAddrPort(env.addr) {
			t.Errorf("record client %v destination %v, want %v and %v", r.Client, r.Destination, client, env.addr)
		}
	}
	if n := loopFlows.Load() - added; n != 20 {
		t.Errorf("%d of 20 flows went to the event loop", n)
	}
	if n := loopHandOffs.Load() - handed; n != 0 {
		t.Errorf("%d short flows were handed to goroutines", n)
	}
	env.cc.balanced(t, 20)
	if a := env.p.Counters().ActiveFlows.Load(); a != 0 {
		t.Errorf("%d flows still active", a)
	}
}

// TCP_NODELAY is set once on the listening socket and Linux copies it to
// each accepted socket, so the loop does not set it per connection.
func TestDirectNoDelayInherited(t *testing.T) {
	be := startBackend(t, false, echo)
	env := startDirectProxy(t, Config{}, "tcp", "127.0.0.1:0", be.addr)
	c := dial(t, env.addr)
	roundTrip(t, c, "x") // the loop has its acceptor by now
	c.Close()
	env.record(t)
	d := env.sock.Direct()
	defer d.Close()
	fd, err := d.Dup()
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	if v, err := syscall.GetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY); err != nil || v == 0 {
		t.Fatalf("listening socket TCP_NODELAY %d, %v", v, err)
	}
	// The kernel behaviour the loop relies on: an accepted socket inherits it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	rc, _ := ln.(*net.TCPListener).SyscallConn()
	var lfd int
	_ = rc.Control(func(fd uintptr) {
		lfd = int(fd)
		_ = syscall.SetsockoptInt(lfd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
	})
	cc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	var afd int
	for range 1000 {
		if afd, _, err = syscall.Accept4(lfd, syscall.SOCK_CLOEXEC); err != syscall.EAGAIN {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(afd)
	if v, err := syscall.GetsockoptInt(afd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY); err != nil || v == 0 {
		t.Fatalf("accepted socket TCP_NODELAY %d, %v: not inherited", v, err)
	}
}

// Flows the loop accepted but cannot carry take the goroutine path with
// their client socket wrapped: a bulk transfer (splice), a host-name target
// and a refused connect retried on another target.
func TestDirectGoroutinePaths(t *testing.T) {
	be := startBackend(t, false, echo)
	t.Run("bulk", func(t *testing.T) {
		env := startDirectProxy(t, Config{}, "tcp", "127.0.0.1:0", be.addr)
		payload := randomBytes(1 << 20)
		c := dial(t, env.addr)
		go func() {
			_, _ = c.Write(payload)
			_ = c.CloseWrite()
		}()
		got, err := io.ReadAll(c)
		c.Close()
		if err != nil || !bytes.Equal(got, payload) {
			t.Fatalf("echoed %d bytes (want %d), equal %v, %v", len(got), len(payload), bytes.Equal(got, payload), err)
		}
		if r := env.record(t); r.Received != 1<<20 || r.Sent != 1<<20 || r.CloseReason != ReasonClientClose {
			t.Errorf("record %+v", r)
		}
		env.cc.balanced(t, 1)
	})
	t.Run("host name target", func(t *testing.T) {
		_, port, _ := net.SplitHostPort(be.addr)
		env := startDirectProxy(t, Config{}, "tcp", "127.0.0.1:0", "localhost:"+port)
		for range 3 {
			c := dial(t, env.addr)
			roundTrip(t, c, "hello")
			c.Close()
			if r := env.record(t); r.Target != "localhost:"+port || r.Received != 5 {
				t.Errorf("record %+v", r)
			}
		}
		env.cc.balanced(t, 3)
	})
	t.Run("connect retry", func(t *testing.T) {
		dead := deadAddr(t)
		env := startDirectProxy(t, Config{ConnectTimeout: 2 * time.Second}, "tcp", "127.0.0.1:0", dead, be.addr)
		// 20 flows: Maglev sends about half of the client ports to the dead
		// target first; none doing so has odds of 1 in 2^20.
		for i := range 20 {
			c := dial(t, env.addr)
			roundTrip(t, c, "ping")
			c.Close()
			if r := env.record(t); r.Target != be.addr {
				t.Fatalf("flow %d went to %q", i, r.Target)
			}
		}
		if env.p.Counters().TargetConnectErrors.Load() == 0 {
			t.Error("no flow tried the dead target first")
		}
		env.cc.balanced(t, 20)
	})
	t.Run("no target", func(t *testing.T) {
		env := startDirectProxy(t, Config{}, "tcp", "127.0.0.1:0")
		expectRefused(t, env.addr)
		if r := env.record(t); r.CloseReason != ReasonNoTarget {
			t.Errorf("record %+v", r)
		}
		env.cc.balanced(t, 1)
	})
}

// A listener bound to a wildcard address records each flow's real local
// address (getsockname), which the flow hash uses too.
func TestDirectWildcardDestination(t *testing.T) {
	be := startBackend(t, false, echo)
	env := startDirectProxy(t, Config{}, "tcp4", "0.0.0.0:0", be.addr)
	_, port, _ := net.SplitHostPort(env.addr)
	c := dial(t, "127.0.0.1:"+port)
	roundTrip(t, c, "x")
	c.Close()
	if r := env.record(t); r.Destination != netip.MustParseAddrPort("127.0.0.1:"+port) {
		t.Errorf("destination %v", r.Destination)
	}
}

// A reload that replaces the server keeps the socket: the old Proxy's
// Shutdown stops its loop accepting, the new Proxy takes every next
// connection, none is refused; closing the Socket refuses connections at
// once even though the loops held duplicates of it, and ends Serve.
func TestDirectReplaceAndClose(t *testing.T) {
	be := startBackend(t, false, echo)
	env := startDirectProxy(t, Config{}, "tcp", "127.0.0.1:0", be.addr)
	c := dial(t, env.addr)
	roundTrip(t, c, "old")
	c.Close()
	env.record(t)

	env2 := startProxyOn(t, Config{}, env.sock.Direct(), be.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := env.p.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-env.serveErr:
		if err != ErrProxyClosed {
			t.Errorf("old Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("old Serve did not return")
	}
	for i := range 10 {
		c := dial(t, env.addr)
		roundTrip(t, c, "new")
		c.Close()
		if r := env2.record(t); r.CloseReason != ReasonClientClose {
			t.Errorf("flow %d: record %+v", i, r)
		}
	}
	select {
	case r := <-env.records:
		t.Errorf("the shut-down Proxy took a flow: %+v", r)
	default:
	}

	env.sock.Close()
	if c, err := net.DialTimeout("tcp", env.addr, 5*time.Second); err == nil {
		c.Close()
		t.Fatal("connect succeeded after the Socket's Close")
	}
	select {
	case err := <-env2.serveErr:
		if err == nil {
			t.Error("Serve returned nil")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after the Socket's Close")
	}
	// The loop dropped its duplicate.
	deadline := time.Now().Add(5 * time.Second)
	for _, l := range *env2.p.loops.Load() {
		for {
			l.mu.Lock()
			n := len(l.accs)
			l.mu.Unlock()
			if n == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("loop still holds %d listening sockets", n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	env.cc.balanced(t, 11)
}

// Close resets the flows the loop accepted and holds.
func TestDirectClose(t *testing.T) {
	be := startBackend(t, false, echo)
	env := startDirectProxy(t, Config{}, "tcp", "127.0.0.1:0", be.addr)
	conns := make([]*net.TCPConn, 4)
	for i := range conns {
		conns[i] = dial(t, env.addr)
		roundTrip(t, conns[i], "x")
	}
	env.p.Close()
	for i, c := range conns {
		if _, err := c.Read(make([]byte, 1)); !isReset(err) {
			t.Errorf("flow %d after Close: %v, want a reset", i, err)
		}
		if r := env.record(t); r.CloseReason != ReasonShutdown {
			t.Errorf("record %+v", r)
		}
	}
	env.cc.balanced(t, 4)
}

// Converting accept4's address allocates nothing, reads the port in
// network order and unmaps IPv4-mapped addresses (as addrPort does).
func TestSockaddrAddrPortAllocs(t *testing.T) {
	var rsa syscall.RawSockaddrAny
	sa := (*syscall.RawSockaddrInet6)(unsafe.Pointer(&rsa))
	sa.Family = syscall.AF_INET6
	sa.Addr = netip.MustParseAddr("::ffff:10.1.2.3").As16()
	p := (*[2]byte)(unsafe.Pointer(&sa.Port))
	p[0], p[1] = 12345>>8, 12345&0xff
	if got, want := sockaddrAddrPort(&rsa), netip.MustParseAddrPort("10.1.2.3:12345"); got != want {
		t.Fatalf("got %v, want %v", got, want)
	}
	if n := testing.AllocsPerRun(100, func() { _ = sockaddrAddrPort(&rsa) }); n != 0 {
		t.Errorf("%v allocations", n)
	}
}
