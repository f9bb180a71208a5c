package l4

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard/switchyard/internal/runtime"
)

// Defaults of Config.
const (
	// DefaultIdleTimeout is NLB's TCP idle timeout.
	DefaultIdleTimeout = 350 * time.Second
	// DefaultConnectTimeout bounds each connect to a target (HAProxy's
	// usual `timeout connect` order of magnitude; NLB waits up to 30 s for
	// a target to answer, too long to hold a client before the retry).
	DefaultConnectTimeout = 10 * time.Second
	// DefaultHandshakeTimeout bounds a TLS listener's client handshake.
	DefaultHandshakeTimeout = 10 * time.Second
)

// ErrProxyClosed is returned by Serve after Shutdown or Close.
var ErrProxyClosed = errors.New("l4: proxy closed")

// Config is one TCP or TLS listener's forwarding setup. It is plain data
// plus the group to forward to; NewProxy and Update compile it.
type Config struct {
	// Listener names the listener in records and logs.
	Listener string
	// Group is the target group; required.
	Group *runtime.Group
	// Algorithm is FlowHash (default) or SourceIP.
	Algorithm Algorithm
	// IdleTimeout resets a flow that moved no byte either way for that
	// long (0: 350 s). The check runs every IdleTimeout/8, so a flow is
	// reset between IdleTimeout and 1.125×IdleTimeout after its last byte.
	IdleTimeout time.Duration
	// ConnectTimeout bounds each connect to a target (0: 10 s). A failed
	// connect is retried once on another routable target.
	ConnectTimeout time.Duration
	// ProxyProtocolV2 sends a PROXY v2 header to the target before any
	// client byte (target group `proxy_protocol_v2`).
	ProxyProtocolV2 bool
	// EndpointID, when set, is sent in the header as the AWS 0xEA/0x01 TLV
	// (target group `proxy_protocol_endpoint_id`); see ValidateEndpointID.
	EndpointID string
	// ConnectionTermination resets a target's flows when its
	// deregistration delay ends (target group `connection_termination`).
	ConnectionTermination bool
	// TLS, when set, makes this a TLS listener: the client handshake is
	// terminated here and plaintext goes to the target; the SNI is sent as
	// PP2_TYPE_AUTHORITY. Owned by the caller; not modified.
	TLS *tls.Config
	// HandshakeTimeout bounds each TLS handshake, with the client and with
	// a TLS target (0: 10 s).
	HandshakeTimeout time.Duration
	// TargetTLS, when set, makes target connections TLS (a target group
	// with protocol TLS): the client's SNI is sent unless ServerName is
	// set. Build it with InsecureSkipVerify to match ELB, which does not
	// verify target certificates. Owned by the caller; not modified.
	TargetTLS *tls.Config
	// TerminateUnhealthy resets a target's flows when it turns unhealthy,
	// unless the group fails open: NLB's
	// target_health_state.unhealthy.connection_termination, which is on
	// by default there. Off unless set.
	TerminateUnhealthy bool
	// OnFlow, when set, is called once per flow after it ends, on the
	// flow's goroutine: the access log. It must not block for long.
	OnFlow func(*Record)
}

// snapshot is a compiled Config.
type snapshot struct {
	Config
	groupName string
	balancer  *Balancer
	dialer    *net.Dialer
	unwatch   func() // stops the TerminateUnhealthy watch; nil when off
}

// Counters are a Proxy's running totals, for the caller's metrics. All
// fields are updated atomically; read them with Load. Byte counts grow as
// each copy step ends: at the latest every IdleTimeout/8 while data flows.
type Counters struct {
	ActiveFlows         atomic.Int64
	NewFlows            atomic.Uint64
	BytesIn             atomic.Uint64 // client → target
	BytesOut            atomic.Uint64 // target → client
	TargetConnectErrors atomic.Uint64
	TLSHandshakeErrors  atomic.Uint64
}

// Proxy forwards TCP flows from the listeners it serves to the targets of a
// group. Serve may run on several listeners at once. Safe for concurrent use.
type Proxy struct {
	cfg      atomic.Pointer[snapshot]
	counters *Counters
	log      *slog.Logger

	ctx    context.Context // cancelled by Close: aborts dials and handshakes
	cancel context.CancelFunc

	conns   atomic.Int64 // accepted and not yet finished
	workers workers
	tick    atomic.Int64 // the sweeper's period (time.Duration): min idle_timeout/8 seen

	loops   atomic.Pointer[[]*evloop] // made on first use (startLoops)
	loopErr error                     // why they could not be made (p.mu)

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	flows     map[*flow]struct{}
	watched   map[*runtime.Target]struct{}
	closing   bool
	// stopping mirrors closing for the event loops, which drop their
	// listening sockets (acceptor) when they see it.
	stopping atomic.Bool
}

// NewProxy compiles cfg. counters may be nil (the Proxy keeps its own) or
// shared with an older Proxy so that totals survive a listener's
// replacement; log may be nil. It returns an error for a missing group or
// an invalid endpoint id.
func NewProxy(cfg Config, counters *Counters, log *slog.Logger) (*Proxy, error) {
	if counters == nil {
		counters = new(Counters)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Proxy{
		counters:  counters,
		log:       log,
		listeners: make(map[net.Listener]struct{}),
		flows:     make(map[*flow]struct{}),
		watched:   make(map[*runtime.Target]struct{}),
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.workers = workers{ch: make(chan func()), done: p.ctx.Done(), max: maxIdleWorkers}
	s, err := p.compile(cfg, nil)
	if err != nil {
		p.cancel()
		return nil, err
	}
	p.cfg.Store(s)
	go p.sweep()
	return p, nil
}

// sweep wakes, every tick, the flow directions still waiting on their
// first read without a deadline (see direction.run), until the Proxy is
// closed. The tick is the smallest idle_timeout/8 any config had, so flows
// that keep an older config with a shorter idle timeout are checked in
// time too.
func (p *Proxy) sweep() {
	tick := time.Duration(p.tick.Load())
	t := time.NewTicker(tick)
	defer t.Stop()
	var wake []*direction
	for {
		select {
		case <-t.C:
		case <-p.ctx.Done():
			return
		}
		if d := time.Duration(p.tick.Load()); d != tick {
			tick = d
			t.Reset(tick)
		}
		wake = wake[:0]
		p.mu.Lock()
		for f := range p.flows {
			for _, d := range [2]*direction{&f.up, &f.down} {
				if d.live.Load() && !d.armed.Load() {
					wake = append(wake, d)
				}
			}
		}
		p.mu.Unlock()
		for _, d := range wake {
			d.wake()
		}
		clear(wake) // hold no flow until the next tick
	}
}

func (p *Proxy) compile(cfg Config, old *snapshot) (*snapshot, error) {
	if cfg.Group == nil {
		return nil, fmt.Errorf("l4: listener %q: no target group", cfg.Listener)
	}
	if err := ValidateEndpointID(cfg.EndpointID); err != nil {
		return nil, err
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	interval := int64(max(cfg.IdleTimeout/8, time.Millisecond))
	for {
		cur := p.tick.Load()
		if cur != 0 && cur <= interval || p.tick.CompareAndSwap(cur, interval) {
			break
		}
	}
	// No TCP keep-alive towards targets (NLB sends none either): the idle
	// timeout ends dead flows, and it saves four setsockopt calls per flow.
	s := &snapshot{Config: cfg, groupName: cfg.Group.Name, dialer: &net.Dialer{KeepAlive: -1}}
	if old != nil && old.balancer.Group() == cfg.Group {
		s.balancer = old.balancer
	} else {
		s.balancer = NewBalancer(cfg.Group)
	}
	if cfg.TerminateUnhealthy {
		s.unwatch = cfg.Group.Watch(func(v *runtime.View) {
			if v.FailOpen {
				return
			}
			for _, t := range v.Registered {
				if t.State() == runtime.StateUnhealthy {
					// Watchers must not block: scan the flows elsewhere.
					go p.resetUnhealthy()
					return
				}
			}
		})
	}
	return s, nil
}

// resetUnhealthy resets the flows of targets that are unhealthy now, for
// listeners with TerminateUnhealthy, unless their group fails open.
func (p *Proxy) resetUnhealthy() {
	p.mu.Lock()
	var victims []*flow
	for f := range p.flows {
		f.mu.Lock()
		t := f.target
		f.mu.Unlock()
		if t != nil && f.cfg.TerminateUnhealthy && t.State() == runtime.StateUnhealthy && !f.cfg.Group.View().FailOpen {
			victims = append(victims, f)
		}
	}
	p.mu.Unlock()
	for _, f := range victims {
		f.kill(ReasonUnhealthy, nil)
	}
}

// Update swaps in a new config atomically. Flows already open keep the
// config they started with (their target, idle timeout, header); new flows
// use cfg. The Maglev table is kept when the group is the same.
func (p *Proxy) Update(cfg Config) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.cfg.Load()
	s, err := p.compile(cfg, old)
	if err != nil {
		return err
	}
	p.cfg.Store(s)
	if s.balancer != old.balancer {
		old.balancer.Close()
	}
	if old.unwatch != nil {
		old.unwatch()
	}
	return nil
}

// Counters returns the proxy's counters.
func (p *Proxy) Counters() *Counters { return p.counters }

// Synced reports whether the flow-hash table reflects the target group's
// current view (it is rebuilt off the accept path after every change).
func (p *Proxy) Synced() bool {
	s := p.cfg.Load()
	return s.balancer.Gen() == s.balancer.Group().View().Gen
}

// Serve accepts flows on ln until Shutdown or Close (then it returns
// ErrProxyClosed) or a permanent accept error. The accept loop only
// accepts: PROXY headers, TLS handshakes, the pick and the connect run on
// the flow's goroutine. Wrap ln with NewProxyProtocolListener to take
// client addresses from a load balancer in front. A DirectListener is
// accepted on by the event loops themselves (accept_linux.go; on other
// systems, which have no event loop, it is accepted in Go).
func (p *Proxy) Serve(ln net.Listener) error {
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		_ = ln.Close()
		return ErrProxyClosed
	}
	p.listeners[ln] = struct{}{}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.listeners, ln)
		p.mu.Unlock()
	}()
	if dl, ok := ln.(DirectListener); ok {
		return p.serveDirect(dl)
	}
	return p.acceptLoop(ln)
}

// acceptLoop accepts on ln until it fails for good (Serve).
func (p *Proxy) acceptLoop(ln net.Listener) error {
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if p.isClosing() {
				return ErrProxyClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				p.log.Warn("l4: accept", "listener", p.cfg.Load().Listener, "err", err)
				t := time.NewTimer(delay)
				select {
				case <-t.C:
				case <-p.ctx.Done():
					t.Stop()
				}
				continue
			}
			return fmt.Errorf("l4: accept %s: %w", ln.Addr(), err)
		}
		delay = 0
		p.conns.Add(1)
		if !p.serveFast(c) {
			p.workers.run(func() { p.serveConn(c) })
		}
	}
}

func (p *Proxy) isClosing() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closing
}

func (p *Proxy) track(f *flow) {
	p.mu.Lock()
	p.flows[f] = struct{}{}
	closing := p.closing && p.ctx.Err() != nil
	p.mu.Unlock()
	if closing {
		f.kill(ReasonShutdown, nil)
	}
}

func (p *Proxy) untrack(f *flow) {
	p.mu.Lock()
	delete(p.flows, f)
	p.mu.Unlock()
}

// watchDrain resets t's flows when its deregistration delay ends; one
// goroutine per target, only for groups with connection_termination.
func (p *Proxy) watchDrain(t *runtime.Target) {
	p.mu.Lock()
	if _, ok := p.watched[t]; ok {
		p.mu.Unlock()
		return
	}
	p.watched[t] = struct{}{}
	p.mu.Unlock()
	go func() {
		select {
		case <-t.Drained():
		case <-p.ctx.Done():
			return
		}
		p.mu.Lock()
		delete(p.watched, t)
		var victims []*flow
		for f := range p.flows {
			f.mu.Lock()
			if f.target == t {
				victims = append(victims, f)
			}
			f.mu.Unlock()
		}
		p.mu.Unlock()
		for _, f := range victims {
			f.kill(ReasonDeregistered, nil)
		}
	}()
}

// Shutdown stops accepting on every listener Serve runs on (closing them),
// then waits for open flows to end. When ctx ends first, the remaining
// flows are reset and ctx's error is returned.
func (p *Proxy) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	p.closing = true
	p.stopping.Store(true)
	for ln := range p.listeners {
		_ = ln.Close()
	}
	p.mu.Unlock()
	p.wakeLoops() // they stop accepting
	poll := time.Millisecond
	t := time.NewTimer(poll)
	defer t.Stop()
	for {
		if p.conns.Load() == 0 {
			p.finish()
			return nil
		}
		select {
		case <-ctx.Done():
			p.Close()
			return ctx.Err()
		case <-t.C:
			poll = min(2*poll, 100*time.Millisecond)
			t.Reset(poll)
		}
	}
}

// Close stops accepting and resets every open flow at once.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closing = true
	p.stopping.Store(true)
	for ln := range p.listeners {
		_ = ln.Close()
	}
	p.cancel()
	flows := make([]*flow, 0, len(p.flows))
	for f := range p.flows {
		flows = append(flows, f)
	}
	p.mu.Unlock()
	for _, f := range flows {
		f.kill(ReasonShutdown, nil)
	}
	p.finish()
	return nil
}

func (p *Proxy) finish() {
	p.cancel()
	p.wakeLoops()
	s := p.cfg.Load()
	s.balancer.Close()
	if s.unwatch != nil {
		s.unwatch()
	}
}

// Addr returns the address of one listener Serve runs on, or nil.
func (p *Proxy) Addr() net.Addr {
	p.mu.Lock()
	defer p.mu.Unlock()
	for ln := range p.listeners {
		return ln.Addr()
	}
	return nil
}

// NewStandalone starts a standalone TCP proxy for benchmarks and trials: it
// listens on addr and forwards by flow hash to targets, which are always
// routable (no health checks), with PROXY v2 when proxyV2 is set. It
// returns the proxy and the bound address once listening; the proxy serves
// until Shutdown or Close.
func NewStandalone(addr string, targets []string, proxyV2 bool) (*Proxy, net.Addr, error) {
	g := runtime.NewRegistry(nil).Group("standalone")
	g.SetChecksDisabled(true)
	specs := make([]runtime.TargetSpec, len(targets))
	for i, t := range targets {
		specs[i] = runtime.TargetSpec{Addr: t}
	}
	g.Register(specs)
	p, err := NewProxy(Config{Listener: "standalone", Group: g, ProxyProtocolV2: proxyV2}, nil, nil)
	if err != nil {
		return nil, nil, err
	}
	lc := net.ListenConfig{KeepAlive: -1}
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		p.Close()
		return nil, nil, fmt.Errorf("l4: listen %s: %w", addr, err)
	}
	go func() { _ = p.Serve(ln) }()
	return p, ln.Addr(), nil
}

// maxIdleWorkers bounds the goroutines kept waiting for the next flow.
const maxIdleWorkers = 256

// workers reuses flow goroutines: one that finished its flow waits for the
// next instead of exiting, so the stack a dial grew is not grown again for
// every connection (stack growth was ~5 % of the CPU of short flows).
type workers struct {
	ch   chan func()
	done <-chan struct{}
	idle atomic.Int32
	max  int32
}

// run hands fn to an idle worker, or starts one. It never blocks.
func (w *workers) run(fn func()) {
	select {
	case w.ch <- fn:
	default:
		go w.loop(fn)
	}
}

func (w *workers) loop(fn func()) {
	for {
		fn()
		if w.idle.Add(1) > w.max {
			w.idle.Add(-1)
			return
		}
		select {
		case fn = <-w.ch:
			w.idle.Add(-1)
		case <-w.done:
			w.idle.Add(-1)
			return
		}
	}
}
