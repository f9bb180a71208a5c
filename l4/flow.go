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

	loopFlow // while an event loop owns the sockets (evloop_linux.go)
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
	if l := f.ev; l != nil {
		// The loop owns the sockets: it resets them.
		f.mu.Unlock()
		l.kill(f)
		return
	}
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

// newFlow starts the flow of an accepted connection: its record, its
// place in the Proxy's flow set and the counters. f.end closes its books.
func (p *Proxy) newFlow(c net.Conn, cfg *snapshot) *flow {
	f := &flow{p: p, cfg: cfg, client: c}
	f.rec.Start = time.Now()
	f.rec.Listener = cfg.Listener
	f.rec.TargetGroup = cfg.groupName
	f.up.toward, f.down.toward = "target", "client"
	p.track(f)
	p.counters.NewFlows.Add(1)
	p.counters.ActiveFlows.Add(1)
	return f
}

// end closes the flow's books once both of its sockets are closed: the
// counters, the flow set, the record and OnFlow.
func (f *flow) end() {
	p := f.p
	p.counters.ActiveFlows.Add(-1)
	p.untrack(f)
	// Marking the flow dead under its lock stops a late kill (Close,
	// termination) from writing the record while it is read below.
	f.mu.Lock()
	f.dead.Store(true)
	if f.rec.CloseReason == "" {
		f.rec.CloseReason = ReasonError
	}
	f.mu.Unlock()
	f.rec.Received, f.rec.Sent = f.up.n, f.down.n
	f.rec.Duration = time.Since(f.rec.Start)
	if f.cfg.OnFlow != nil {
		f.cfg.OnFlow(&f.rec)
	}
	p.conns.Add(-1)
}

func (p *Proxy) serveConn(c net.Conn) {
	cfg := p.cfg.Load()
	f := p.newFlow(c, cfg)
	defer f.end()

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

	key := cfg.Algorithm.Key(f.rec.Client, f.rec.Destination)
	t := cfg.balancer.Pick(key)
	if t == nil {
		f.kill(ReasonNoTarget, nil)
		return
	}
	f.route(t, key, time.Now(), nil, nil)
}

// route connects the flow to t (or, when that fails, to one other target)
// and copies until the flow ends. When the fast path (serveFast) has
// started the connect to t already, first is that socket or firstErr its
// error, and t is acquired. start is when connecting began.
func (f *flow) route(t *runtime.Target, key uint64, start time.Time, first *fdConn, firstErr error) {
	cfg, p := f.cfg, f.p
	backend, t, err := f.connect(t, key, first, firstErr)
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
//
// first (or firstErr) is a connect to t that the fast path started, with
// t acquired already: it is waited for instead of dialling t again.
func (f *flow) connect(t *runtime.Target, key uint64, first *fdConn, firstErr error) (net.Conn, *runtime.Target, error) {
	cfg := f.cfg
	var connErr error
	for attempt := 0; attempt < 2 && t != nil; attempt++ {
		var c net.Conn
		var err error
		switch {
		case attempt == 0 && firstErr != nil:
			err = firstErr
		case attempt == 0 && first != nil:
			var fc *fdConn
			if fc, err = first.wait(t.Addr, cfg.ConnectTimeout, f); err == nil {
				c = fc
			}
		default:
			t.Acquire()
			c, err = f.dialTarget(t.Addr)
		}
		if err == nil {
			return c, t, nil
		}
		f.mu.Lock()
		f.backend = nil // a failed raw dial's socket, closed already
		f.mu.Unlock()
		t.Release()
		f.p.counters.TargetConnectErrors.Add(1)
		t.ReportFailure()
		if connErr == nil {
			connErr = fmt.Errorf("l4: connect %s: %w", t.Addr, err)
		}
		if f.dead.Load() {
			break
		}
		t = cfg.balancer.Alternate(key, t)
	}
	return nil, nil, connErr
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
// one more. A direction that ended already (in the event loop, before the
// flow was handed over) is not run again.
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
	if !down.done.Load() {
		f.downDone.Add(1)
		f.p.workers.run(func() {
			down.run(idle, start)
			f.downDone.Done()
		})
	}
	if !up.done.Load() {
		up.run(idle, start)
	}
	f.downDone.Wait()
	if !f.dead.Load() {
		f.mu.Lock()
		f.dead.Store(true)
		f.mu.Unlock()
		_ = client.Close()
		_ = backend.Close()
	}
}
