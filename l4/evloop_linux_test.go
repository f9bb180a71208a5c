package l4

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Short plain-TCP flows to an IP target live in the event loop from start
// to end: none is handed to the goroutine path, each is recorded with the
// right bytes and reason, and both ends see a clean close.
func TestEventLoopShortFlows(t *testing.T) {
	be := startBackend(t, false, echo)
	env := startProxy(t, Config{}, nil, be.addr)
	added, handed := loopFlows.Load(), loopHandOffs.Load()
	for range 20 {
		c := dial(t, env.addr)
		roundTrip(t, c, "ping")
		_ = c.CloseWrite()
		if rest, err := io.ReadAll(c); err != nil || len(rest) != 0 {
			t.Fatalf("after the client's FIN: %q, %v; want EOF", rest, err)
		}
		_ = c.Close()
		r := env.record(t)
		if r.CloseReason != ReasonClientClose || r.Received != 4 || r.Sent != 4 || r.Target != be.addr {
			t.Errorf("record %+v", r)
		}
	}
	if n := loopFlows.Load() - added; n != 20 {
		t.Errorf("%d of 20 flows went to the event loop", n)
	}
	if n := loopHandOffs.Load() - handed; n != 0 {
		t.Errorf("%d short flows were handed to goroutines", n)
	}
	if a := env.p.Counters().ActiveFlows.Load(); a != 0 {
		t.Errorf("%d flows still active", a)
	}
}

// A target that answers after the client's FIN (half-close) and a target
// that closes first both work in the loop.
func TestEventLoopHalfCloseBothWays(t *testing.T) {
	be := startBackend(t, false, func(c net.Conn, br *bufio.Reader) {
		b, err := br.ReadByte()
		if err != nil {
			return
		}
		if b == 'c' { // close first, then drain what the client still sends
			_, _ = c.Write([]byte("bye"))
			_ = c.(*net.TCPConn).CloseWrite()
			_, _ = io.Copy(io.Discard, br)
			return
		}
		rest, _ := io.ReadAll(br) // until the client's FIN
		_, _ = c.Write(append([]byte{b}, rest...))
	})
	env := startProxy(t, Config{}, nil, be.addr)

	c := dial(t, env.addr)
	_, _ = c.Write([]byte("hello"))
	_ = c.CloseWrite()
	if got, err := io.ReadAll(c); err != nil || string(got) != "hello" {
		t.Errorf("answer after the client's FIN: %q, %v", got, err)
	}
	c.Close()
	if r := env.record(t); r.CloseReason != ReasonClientClose {
		t.Errorf("record %+v", r)
	}

	c = dial(t, env.addr)
	_, _ = c.Write([]byte("c"))
	buf := make([]byte, 3)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "bye" {
		t.Fatalf("read %q, %v", buf, err)
	}
	if n, err := c.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("after the target's FIN: %d, %v; want EOF", n, err)
	}
	_, _ = c.Write([]byte("still sending"))
	_ = c.CloseWrite()
	c.Close()
	if r := env.record(t); r.CloseReason != ReasonTargetClose || r.Received != 14 {
		t.Errorf("record %+v", r)
	}
}

// Close resets the flows the loop holds, and the loop goroutine ends.
func TestEventLoopClose(t *testing.T) {
	be := startBackend(t, false, echo)
	env := startProxy(t, Config{}, nil, be.addr)
	conns := make([]*net.TCPConn, 8)
	for i := range conns {
		conns[i] = dial(t, env.addr)
		roundTrip(t, conns[i], "x")
	}
	ls := env.p.loops.Load()
	if ls == nil {
		t.Fatal("no event loop")
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
	for _, l := range *ls {
		for i := 0; ; i++ {
			l.qmu.Lock()
			ended := l.wclosed
			l.qmu.Unlock()
			if ended {
				break
			}
			if i == 5000 {
				t.Fatal("an event loop is still running after Close")
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// loopRig is a flow held by a bare evloop (no goroutine, no epoll) with
// real sockets: client is the test's end of the flow's client socket,
// target the test's end of its target socket.
type loopRig struct {
	l              *evloop
	f              *flow
	client, target *net.TCPConn
}

func newLoopRig(t *testing.T) *loopRig {
	t.Helper()
	p, err := NewProxy(Config{Group: newTestGroup(t, "127.0.0.1:1")}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	ln := mustListen(t)
	accepted := make(chan net.Conn, 2)
	go func() {
		for range 2 {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	client := dial(t, ln.Addr().String())
	proxySide := (<-accepted).(*net.TCPConn)
	sock, err := startConnect(netip.MustParseAddrPort(ln.Addr().String()), true)
	if err != nil || !sock.finished || sock.cerr != nil {
		t.Fatalf("connect: %v %v", err, sock)
	}
	target := (<-accepted).(*net.TCPConn)
	t.Cleanup(func() { client.Close(); target.Close() })

	f := p.newFlow(proxySide, p.cfg.Load())
	f.target = p.cfg.Load().balancer.Pick(0)
	f.target.Acquire()
	f.lt = f.target
	rc, _ := proxySide.SyscallConn()
	_ = rc.Control(func(fd uintptr) { f.cfd = int(fd) })
	f.tfd, f.tsock = sock.fd, sock
	f.up.count, f.down.count = &p.counters.BytesIn, &p.counters.BytesOut
	l := &evloop{p: p, epfd: -1, buf: make([]byte, copyBufSize), fds: make([]*flow, max(f.cfd, f.tfd)+1)}
	l.fds[f.cfd], l.fds[f.tfd] = f, f
	l.count = 1
	f.ev = l
	return &loopRig{l: l, f: f, client: client, target: target}
}

// moveUp moves what the client sent; false when the flow left the loop.
func (r *loopRig) moveUp() bool {
	r.f.cr = true
	return r.l.move(r.f, &r.f.up, r.f.cfd, r.f.tfd, &r.f.cr, false, false)
}

// Moving a message through the loop allocates nothing.
func TestEventLoopMoveAllocs(t *testing.T) {
	r := newLoopRig(t)
	msg := bytes.Repeat([]byte("m"), 1024)
	buf := make([]byte, len(msg))
	step := func() {
		_, _ = r.client.Write(msg)
		for i := 0; ; i++ {
			// The bytes may not have crossed loopback yet: move until they have.
			r.moveUp()
			if r.f.up.n%int64(len(msg)) == 0 || i == 1000 {
				break
			}
		}
		_, _ = io.ReadFull(r.target, buf)
	}
	step()
	if allocs := testing.AllocsPerRun(200, step); allocs != 0 {
		t.Errorf("%.1f allocations per message moved, want 0", allocs)
	}
	if !bytes.Equal(buf, msg) {
		t.Error("the target got other bytes")
	}
}

// A write the receiver cannot take hands the flow to the goroutine path
// with the bytes that were not written; they arrive first, in order. (No
// read here can fill the loop's buffer — at most one 8 KiB chunk is
// queued — so the hand-off is for the pending bytes, not for bulk.)
func TestEventLoopHandOffPending(t *testing.T) {
	r := newLoopRig(t)
	_ = syscall.SetsockoptInt(r.f.tfd, syscall.SOL_SOCKET, syscall.SO_SNDBUF, 4096)
	_ = r.target.SetReadBuffer(4096)
	handed := loopHandOffs.Load()
	var sent []byte
	chunk := make([]byte, 8<<10)
	for i := 0; ; i++ {
		for j := range chunk {
			chunk[j] = byte(i + j)
		}
		_, _ = r.client.Write(chunk)
		sent = append(sent, chunk...)
		moved := true
		for moved && r.f.up.n < int64(len(sent)) {
			moved = r.moveUp()
			if moved && r.f.up.n < int64(len(sent)) && !r.f.cr {
				// The chunk is not all in yet: wait for the rest.
				time.Sleep(time.Millisecond)
			}
		}
		if !moved {
			break
		}
		if i == 10000 {
			t.Fatal("the target's socket never filled up")
		}
	}
	if loopHandOffs.Load() == handed {
		t.Fatal("the flow left the loop without a hand-off")
	}
	_ = r.client.CloseWrite()
	got, err := io.ReadAll(r.target)
	if err != nil || !bytes.Equal(got, sent) {
		t.Fatalf("target got %d of %d bytes (%v), or other bytes", len(got), len(sent), err)
	}
}

// A connect that gets no answer ends at the connect timeout in the loop
// too (no goroutine waits for it): the flow is recorded as a connect error
// with a timeout, and the client is reset.
func TestEventLoopConnectTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	env := startProxy(t, Config{ConnectTimeout: timeout}, nil, fullListener(t))
	added := loopFlows.Load()
	// The timeout runs from the proxy's accept, which may come before dial
	// returns here: start the clock before dialling.
	start := time.Now()
	c := dial(t, env.addr)
	_, _ = c.Write([]byte("waits for the connect"))
	if _, err := c.Read(make([]byte, 1)); !isReset(err) && err != io.EOF {
		t.Errorf("client read: %v, want a reset", err)
	}
	el := time.Since(start)
	r := env.record(t)
	var ne net.Error
	if r.CloseReason != ReasonConnectError || !errors.As(r.Err, &ne) || !ne.Timeout() {
		t.Errorf("record %+v", r)
	}
	if el < timeout || el > 10*timeout {
		t.Errorf("gave up after %v, connect timeout %v", el, timeout)
	}
	if loopFlows.Load() == added {
		t.Error("the flow did not go through the event loop")
	}
}

// A target that sends its answer and then a reset: the client gets the
// answer, then a reset too (not a clean FIN), and the flow is an error.
func TestEventLoopResetAfterData(t *testing.T) {
	be := startBackend(t, false, func(c net.Conn, br *bufio.Reader) {
		if _, err := br.ReadByte(); err != nil {
			return
		}
		_, _ = c.Write([]byte("answer"))
		_ = c.(*net.TCPConn).SetLinger(0)
		_ = c.Close()
	})
	env := startProxy(t, Config{}, nil, be.addr)
	for range 5 {
		c := dial(t, env.addr)
		_, _ = c.Write([]byte("q"))
		got, err := io.ReadAll(c)
		if !isReset(err) || len(got) > len("answer") || !bytes.HasPrefix([]byte("answer"), got) {
			t.Errorf("client got %q, %v; want (part of) the answer, then a reset", got, err)
		}
		c.Close()
		if r := env.record(t); r.CloseReason != ReasonError {
			t.Errorf("record %+v", r)
		}
	}
}

// The target's last bytes, read together with its FIN, reach the client in
// one segment that carries the FIN too (as HAProxy sends a response whose
// server closed), at once: no data segment now and a FIN a round later.
func TestEventLoopLastBytesCarryFIN(t *testing.T) {
	r := newLoopRig(t)
	if _, err := r.target.Write([]byte("answer")); err != nil {
		t.Fatal(err)
	}
	_ = r.target.CloseWrite()
	// Wait until the proxy's target socket has the FIN (CLOSE_WAIT).
	for i := 0; ; i++ {
		ti, err := unix.GetsockoptTCPInfo(r.f.tfd, unix.IPPROTO_TCP, unix.TCP_INFO)
		if err != nil {
			t.Fatal(err)
		}
		if ti.State == unix.BPF_TCP_CLOSE_WAIT {
			break
		}
		if i == 1000 {
			t.Fatalf("the target's FIN never arrived (state %d)", ti.State)
		}
		time.Sleep(time.Millisecond)
	}
	segsIn := func() uint32 {
		var ti *unix.TCPInfo
		var err error
		rc, _ := r.client.SyscallConn()
		_ = rc.Control(func(fd uintptr) { ti, err = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO) })
		if err != nil {
			t.Fatal(err)
		}
		return ti.Segs_in
	}
	before := segsIn()
	r.f.tr, r.f.thup = true, true
	if !r.l.move(r.f, &r.f.down, r.f.tfd, r.f.cfd, &r.f.tr, true, false) {
		t.Fatal("the flow left the loop")
	}
	if n := segsIn() - before; n != 1 {
		t.Errorf("the client got %d segments for the last bytes and the FIN, want 1", n)
	}
	if r.f.fin != 0 || len(r.l.fins) != 0 {
		t.Error("the FIN was deferred")
	}
	_ = r.client.SetReadDeadline(time.Now().Add(5 * time.Second))
	if got, err := io.ReadAll(r.client); err != nil || string(got) != "answer" {
		t.Errorf("client read %q, %v; want the answer, then EOF", got, err)
	}
	// The client's own FIN ends the flow cleanly.
	_ = r.client.CloseWrite()
	for i := 0; r.l.owns(r.f); i++ {
		r.f.cr, r.f.chup = true, true
		r.l.move(r.f, &r.f.up, r.f.cfd, r.f.tfd, &r.f.cr, true, false)
		if i == 1000 {
			t.Fatal("the flow did not end after the client's FIN")
		}
		time.Sleep(time.Millisecond)
	}
	if got, err := io.ReadAll(r.target); err != nil || len(got) != 0 {
		t.Errorf("target read %q, %v; want EOF", got, err)
	}
}

// An event epoll reported for a socket the loop closed earlier in the same
// batch is not taken for a new flow's whose socket already has the same
// descriptor number (Linux hands out the lowest free number, so a flow
// accepted later in the batch gets it at once): the old client's FIN must
// not end the new client's stream.
func TestEventLoopStaleEventAfterReuse(t *testing.T) {
	r := newLoopRig(t)
	l, old := r.l, r.f
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(epfd) })
	l.epfd = epfd
	l.fds[old.cfd], l.fds[old.tfd], l.count = nil, nil, 0
	if !l.addLocked(old) {
		t.Fatal("add")
	}
	_ = r.client.CloseWrite()
	var stale syscall.EpollEvent
	for i := 0; stale.Events&syscall.EPOLLRDHUP == 0; i++ {
		evs := make([]syscall.EpollEvent, 8)
		n, _ := syscall.EpollWait(epfd, evs, 10)
		for _, ev := range evs[:max(n, 0)] {
			if int(ev.Fd) == old.cfd {
				stale = ev
			}
		}
		if i == 500 {
			t.Fatal("no event for the client's FIN")
		}
	}
	cfd, tfd := old.cfd, old.tfd
	l.release(old, false)

	// A new flow whose sockets have the old numbers. Linux would usually
	// hand them out anyway (the lowest free numbers); dup3 makes it sure
	// whatever else the test process opened meanwhile.
	for _, want := range []int{cfd, tfd} {
		fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		if fd != want {
			err := unix.Dup3(fd, want, unix.O_CLOEXEC)
			syscall.Close(fd)
			if err != nil {
				t.Fatal(err)
			}
		}
		t.Cleanup(func() { syscall.Close(want) })
	}
	nf := &flow{p: old.p, cfg: old.cfg}
	nf.cfd, nf.tfd = cfd, tfd
	nf.connecting = true // as a flow the loop has just accepted
	if !l.addLocked(nf) {
		t.Fatal("add the new flow")
	}
	l.event(stale)
	if nf.cr || nf.chup || nf.cfail {
		t.Errorf("the old client's event was taken for the new one's: readable %v, FIN %v, error %v", nf.cr, nf.chup, nf.cfail)
	}
	l.fds[cfd], l.fds[tfd] = nil, nil
}
