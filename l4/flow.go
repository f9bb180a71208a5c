package l4

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard/switchyard/internal/runtime"
)

// Close reasons of a flow, as Record.CloseReason.
const (
	// ReasonClientClose: both halves ended cleanly, the client finished first.
	ReasonClientClose = "client_close"
	// ReasonTargetClose: both halves ended cleanly, the target finished first.
	ReasonTargetClose = "target_close"
	// ReasonIdleTimeout: nothing moved either way for the idle timeout; both
	// sides were reset.
	ReasonIdleTimeout = "idle_timeout"
	// ReasonError: a read or write failed (a reset from either side).
	ReasonError = "error"
	// ReasonNoTarget: the target group had no routable target.
	ReasonNoTarget = "no_target"
	// ReasonConnectError: the connect to the target (and the retry) failed.
	ReasonConnectError = "target_connect_error"
	// ReasonTLSHandshake: the client's TLS handshake failed.
	ReasonTLSHandshake = "tls_handshake_error"
	// ReasonShutdown: the flow was still open at the Shutdown deadline.
	ReasonShutdown = "shutdown"
	// ReasonDeregistered: the target's deregistration delay ended with
	// connection_termination on.
	ReasonDeregistered = "target_deregistered"
	// ReasonUnhealthy: the target turned unhealthy (Config.TerminateUnhealthy).
	ReasonUnhealthy = "target_unhealthy"
	// ReasonTargetTLSHandshake: the TLS handshake with a TLS target failed.
	ReasonTargetTLSHandshake = "target_tls_handshake_error"
)

// Record describes one flow, for the access log (NLB-style fields). The
// pointer passed to Config.OnFlow is valid only during the call.
type Record struct {
	Listener    string
	TargetGroup string
	// Client is the client address: the TCP peer, or the address carried
	// by a trusted PROXY header.
	Client netip.AddrPort
	// Destination is the address the client connected to (or the carried one).
	Destination netip.AddrPort
	// Target is the target's host:port, "" when none was connected.
	Target string
	// SNI is the server name of a TLS listener's handshake.
	SNI string
	// Start is when the flow was accepted.
	Start time.Time
	// TLSHandshakeTime is the client handshake's duration (TLS listeners).
	TLSHandshakeTime time.Duration
	// ConnectTime is the time to connect to the target, retry included.
	ConnectTime time.Duration
	// Received is the bytes from the client to the target; Sent the reverse.
	Received, Sent int64
	// Duration is the flow's whole life.
	Duration time.Duration
	// CloseReason is one of the Reason constants.
	CloseReason string
	// Err is the error behind ReasonError, ReasonConnectError or
	// ReasonTLSHandshake, else nil.
	Err error
}

// uniquePrefix makes PP2_TYPE_UNIQUE_ID values unique across processes; a
// counter makes them unique within one without a random read per flow.
var (
	uniquePrefix [8]byte
	uniqueSeq    atomic.Uint64
)

func init() {
	_, _ = rand.Read(uniquePrefix[:])
}

// flow is one accepted connection and, once connected, its target
// connection.
type flow struct {
	p      *Proxy
	cfg    *snapshot
	client net.Conn // the outermost conn: closing it runs every wrapper's Close

	mu      sync.Mutex
	target  *runtime.Target
	backend net.Conn
	dead    atomic.Bool
	rec     Record
	doneN   int // directions finished by EOF
	hdr     [160]byte

	// up (client → target) and down, once connected; downDone ends when
	// down's goroutine has finished.
	up, down direction
	downDone sync.WaitGroup
}

// kill ends the flow at once: both sockets are reset (SO_LINGER 0, so the
// peers see RST as NLB sends) and closed. The first reason wins.
func (f *flow) kill(reason string, err error) {
	f.mu.Lock()
	if f.dead.Load() {
		f.mu.Unlock()
		return
	}
	f.dead.Store(true)
	f.rec.CloseReason = reason
	f.rec.Err = err
	b, c := f.backend, f.client
	f.mu.Unlock()
	reset(c)
	if b != nil {
		reset(b)
	}
}

func reset(c net.Conn) {
	if s := socketOf(c); s != nil {
		_ = s.SetLinger(0)
	}
	_ = c.Close()
}

// finished records a direction that ended by EOF; when both have, the flow
// ends cleanly.
func (f *flow) finished(d *direction) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dead.Load() {
		return
	}
	f.doneN++
	if f.doneN == 1 {
		if d.toward == "target" {
			f.rec.CloseReason = ReasonClientClose
		} else {
			f.rec.CloseReason = ReasonTargetClose
		}
	}
}

func (p *Proxy) serveConn(c net.Conn) {
	cfg := p.cfg.Load()
	f := &flow{p: p, cfg: cfg, client: c}
	f.rec.Start = time.Now()
	f.rec.Listener = cfg.Listener
	f.rec.TargetGroup = cfg.groupName
	p.track(f)
	ctr := p.counters
	ctr.NewFlows.Add(1)
	ctr.ActiveFlows.Add(1)
	defer func() {
		ctr.ActiveFlows.Add(-1)
		p.untrack(f)
		// Every path here has closed both sockets. Marking the flow dead
		// under its lock stops a late kill (Close, termination) from
		// writing the record while it is read below.
		f.mu.Lock()
		f.dead.Store(true)
		if f.rec.CloseReason == "" {
			f.rec.CloseReason = ReasonError
		}
		f.mu.Unlock()
		f.rec.Duration = time.Since(f.rec.Start)
		if cfg.OnFlow != nil {
			cfg.OnFlow(&f.rec)
		}
		p.conns.Add(-1)
	}()

	if cfg.TLS != nil {
		tc := tls.Server(c, cfg.TLS)
		f.mu.Lock()
		f.client = tc
		f.mu.Unlock()
		hs := time.Now()
		ctx, cancel := context.WithTimeout(p.ctx, cfg.HandshakeTimeout)
		err := tc.HandshakeContext(ctx)
		cancel()
		f.rec.TLSHandshakeTime = time.Since(hs)
		if err != nil {
			p.counters.TLSHandshakeErrors.Add(1)
			f.rec.Client, _ = addrPort(c.RemoteAddr())
			f.kill(ReasonTLSHandshake, fmt.Errorf("l4: tls handshake %s: %w", c.RemoteAddr(), err))
			return
		}
		f.rec.SNI = tc.ConnectionState().ServerName
	}
	// After the PROXY header (read before Accept returned, see
	// ProxyProtocolListener) these are the carried addresses.
	f.rec.Client, _ = addrPort(c.RemoteAddr())
	f.rec.Destination, _ = addrPort(c.LocalAddr())
	if f.dead.Load() {
		return
	}

	bal := cfg.balancer
	key := cfg.Algorithm.Key(f.rec.Client, f.rec.Destination)
	t := bal.Pick(key)
	if t == nil {
		f.kill(ReasonNoTarget, nil)
		return
	}
	start := time.Now()
	backend, t, err := f.connect(t, key)
	f.rec.ConnectTime = time.Since(start)
	if err != nil {
		f.kill(ReasonConnectError, err)
		return
	}
	defer t.Release()
	f.mu.Lock()
	f.target, f.backend = t, backend
	dead := f.dead.Load()
	f.mu.Unlock()
	f.rec.Target = t.Addr
	if dead {
		reset(backend)
		return
	}
	if cfg.ConnectionTermination {
		p.watchDrain(t)
	}
	if cfg.ProxyProtocolV2 {
		if err := f.sendHeader(backend); err != nil {
			f.kill(ReasonError, err)
			return
		}
	}
	if cfg.TargetTLS != nil {
		tc, err := f.targetHandshake(backend)
		if err != nil {
			f.kill(ReasonTargetTLSHandshake, err)
			return
		}
		backend = tc
	}
	f.pipe(backend)
}

// targetHandshake starts TLS to the target (a TLS target group), after the
// PROXY header, which always travels in clear. The client's SNI is passed
// on unless the config names a server. Certificates are not verified
// unless the config asks for it, as ELB does not verify targets.
func (f *flow) targetHandshake(backend net.Conn) (net.Conn, error) {
	cfg := f.cfg.TargetTLS
	if cfg.ServerName == "" && f.rec.SNI != "" {
		cfg = cfg.Clone()
		cfg.ServerName = f.rec.SNI
	}
	tc := tls.Client(backend, cfg)
	f.mu.Lock()
	f.backend = tc
	f.mu.Unlock()
	ctx, cancel := context.WithTimeout(f.p.ctx, f.cfg.HandshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, fmt.Errorf("l4: tls handshake with target %s: %w", f.rec.Target, err)
	}
	return tc, nil
}

// connect dials t, and once more a different routable target when that
// fails. Each failed target gets a passive failure report. It returns the
// connected target with one Acquire held.
func (f *flow) connect(t *runtime.Target, key uint64) (net.Conn, *runtime.Target, error) {
	cfg := f.cfg
	var firstErr error
	for attempt := 0; attempt < 2 && t != nil; attempt++ {
		t.Acquire()
		c, err := f.dialTarget(t.Addr)
		if err == nil {
			return c, t, nil
		}
		f.mu.Lock()
		f.backend = nil // a failed raw dial's socket, closed already
		f.mu.Unlock()
		t.Release()
		f.p.counters.TargetConnectErrors.Add(1)
		t.ReportFailure()
		if firstErr == nil {
			firstErr = fmt.Errorf("l4: connect %s: %w", t.Addr, err)
		}
		if f.dead.Load() {
			break
		}
		t = cfg.balancer.Alternate(key, t)
	}
	return nil, nil, firstErr
}

func (f *flow) sendHeader(backend net.Conn) error {
	var id [16]byte
	copy(id[:8], uniquePrefix[:])
	binary.BigEndian.PutUint64(id[8:], uniqueSeq.Add(1))
	o := HeaderOptions{UniqueID: id[:], Authority: f.rec.SNI, EndpointID: f.cfg.EndpointID}
	b, err := AppendHeaderV2(f.hdr[:0], f.rec.Client, f.rec.Destination, &o)
	if err != nil {
		return err
	}
	_ = backend.SetWriteDeadline(time.Now().Add(f.cfg.ConnectTimeout))
	if _, err := backend.Write(b); err != nil {
		return fmt.Errorf("l4: proxy header %s: %w", f.rec.Target, err)
	}
	_ = backend.SetWriteDeadline(time.Time{})
	return nil
}

// pipe copies both ways: client→target on this goroutine, target→client on
// one more.
func (f *flow) pipe(backend net.Conn) {
	f.mu.Lock()
	client := f.client
	f.mu.Unlock()
	up, down := &f.up, &f.down
	up.init(f, "target", client, backend, &f.p.counters.BytesIn)
	down.init(f, "client", backend, client, &f.p.counters.BytesOut)
	up.other, down.other = down, up
	up.live.Store(true)
	down.live.Store(true)
	idle := f.cfg.IdleTimeout
	start := time.Now()
	f.downDone.Add(1)
	f.p.workers.run(func() {
		down.run(idle, start)
		f.downDone.Done()
	})
	up.run(idle, start)
	f.downDone.Wait()
	f.rec.Received, f.rec.Sent = up.n, down.n
	if !f.dead.Load() {
		f.mu.Lock()
		f.dead.Store(true)
		f.mu.Unlock()
		_ = client.Close()
		_ = backend.Close()
	}
}
