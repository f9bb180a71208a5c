package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/health"
	"github.com/switchyard/switchyard/internal/obs"
	"github.com/switchyard/switchyard/internal/runtime"
	"github.com/switchyard/switchyard/l4"
	"github.com/switchyard/switchyard/l7"
	tlsx "github.com/switchyard/switchyard/tls"
)

// snapshot is one compiled config: immutable once published. Requests
// read it through app.cur; a reload builds the next one beside it.
type snapshot struct {
	cfg      *config.LB
	hash     string
	source   string
	loadedAt time.Time
	groups   map[string]*l7.TargetGroup // HTTP(S) target groups by name
	routers  map[string]*l7.Router      // by listener address (the socket key)
	routes   map[string]*listenerRoutes // by listener name, for the observer
	health   map[string]health.Config   // by target group name
	l4       map[string]l4.Config       // TCP/TLS listeners by socket key
	flows    map[string]*flowListener   // TCP/TLS listeners by name
}

// flowListener is a TCP/TLS listener's pre-resolved metrics and log ids.
type flowListener struct {
	m     *obs.FlowMetrics
	group string
	typ   string // tcp or tls: the access-log line type
	elb   string // net/lb/<listener>
	arn   string // targetgroup/<name>
}

// listenerRoutes are one listener's pre-resolved metrics and log ids.
type listenerRoutes struct {
	elb     string
	none    *obs.RouteMetrics // answers without a target group
	byGroup map[string]*groupRoute
}

type groupRoute struct {
	m   *obs.RouteMetrics
	arn string
}

// liveListener is a socket and the server that currently serves it.
type liveListener struct {
	sock *runtime.Socket
	srv  *l7.Server      // HTTP and HTTPS listeners
	l4p  *l4.Proxy       // TCP and TLS listeners
	cfg  config.Listener // the settings srv or l4p was built with
	// HTTPS only: the certificate store outlives snapshots (a reload calls
	// Reload on it), and the ACME manager lives as long as its acme block.
	store    *tlsx.Store
	acme     *tlsx.ACMEManager
	acmeCfg  *config.ACME
	acmeStop context.CancelFunc
	stopped  bool // drained; written by drain before stopLocked reads it
}

// app is a running lb: what outlives snapshots (sockets, target state,
// connection pools, health checkers, the admin server) and the current
// snapshot.
type app struct {
	log       *slog.Logger
	stdout    io.Writer
	stderr    io.Writer
	metrics   *obs.Metrics
	reg       *runtime.Registry
	drainer   *runtime.Drainer
	transport *l7.Transport
	health    obs.Health

	source string
	load   func() (*config.LB, error)
	// addrHint names the config key or flag that sets an address, for
	// "address in use" errors: listeners[i].address in FILE, or -http.
	addrHint  func(i int) string
	adminHint string

	cur       atomic.Pointer[snapshot]
	applied   atomic.Uint64 // snapshots applied, the first included
	accessLog atomic.Pointer[obs.AccessLog]
	// acme is every running ACME manager, for HTTP-01 answers on the HTTP
	// listeners; replaced whole after each apply.
	acme atomic.Pointer[[]*tlsx.ACMEManager]

	mu       sync.Mutex     // serialises start, reload and drain
	serving  sync.WaitGroup // Serve goroutines
	live     map[string]*liveListener
	checkers map[string]*health.Checker
	// checkerPP is whether each checker dials with a PROXY v2 LOCAL header.
	checkerPP map[string]bool
	hctx      context.Context
	hcancel   context.CancelFunc
	drained   bool

	// api remembers targets registered through the admin API, so that a
	// reload (which syncs groups to the file) keeps them.
	api        sync.Mutex
	apiTargets map[string]bool

	adminSrv  *http.Server
	adminLn   net.Listener
	adminDone chan struct{}
	adminCfg  string // the admin address asked for

	// cookieSecret is the cookie_secret last installed in l7 ("" when the
	// process uses its own random one).
	cookieSecret string
}

func newApp(log *slog.Logger, stdout, stderr io.Writer, source string, load func() (*config.LB, error)) *app {
	reg := runtime.NewRegistry(nil)
	hctx, hcancel := context.WithCancel(context.Background())
	a := &app{
		log:        log,
		stdout:     stdout,
		stderr:     stderr,
		metrics:    obs.NewMetrics("lb"),
		reg:        reg,
		drainer:    runtime.NewDrainer(reg),
		transport:  l7.NewTransport(l7.TransportOptions{}),
		source:     source,
		load:       load,
		addrHint:   func(i int) string { return fmt.Sprintf("listeners[%d].address", i) },
		adminHint:  "admin.address",
		live:       make(map[string]*liveListener),
		checkers:   make(map[string]*health.Checker),
		checkerPP:  make(map[string]bool),
		hctx:       hctx,
		hcancel:    hcancel,
		apiTargets: make(map[string]bool),
	}
	a.metrics.WatchTargets("lb", reg)
	a.metrics.Registry().MustRegister(newServerCollector(a))
	return a
}

// snapshot returns the running snapshot. Never nil after start.
func (a *app) snapshot() *snapshot { return a.cur.Load() }

// errConfig marks errors that are the config's fault (exit 2, or a
// rejected reload); other start errors are the environment's (exit 1).
type errConfig struct{ err error }

func (e errConfig) Error() string { return e.err.Error() }
func (e errConfig) Unwrap() error { return e.err }

// start compiles cfg, opens every socket, starts serving and the admin
// API, and marks the process ready.
func (a *app) start(cfg *config.LB) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.applyLocked(cfg); err != nil {
		return err
	}
	if err := a.adminLocked(cfg.Admin.Address); err != nil {
		a.stopLocked()
		return err
	}
	a.health.SetReady(true)
	return nil
}

// adminLocked makes the admin API listen on addr ("" = off), moving it
// when a reload changed the address; the old one stops only once the new
// one listens.
func (a *app) adminLocked(addr string) error {
	if addr == a.adminCfg && (a.adminSrv != nil || addr == "") {
		return nil
	}
	var (
		ln   net.Listener
		srv  *http.Server
		done chan struct{}
	)
	if addr != "" {
		var err error
		ln, err = net.Listen("tcp", addr)
		if err != nil {
			return listenError("admin", a.adminHint, addr, err)
		}
		srv = obs.NewAdminServer(a.adminHandler(), a.log)
		done = make(chan struct{})
		go func() {
			defer close(done)
			srv.Serve(ln)
		}()
		a.log.Info("admin listening", "address", ln.Addr().String())
	}
	if a.adminSrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		a.adminSrv.Shutdown(ctx)
		cancel()
		<-a.adminDone
	}
	a.adminLn, a.adminSrv, a.adminDone, a.adminCfg = ln, srv, done, addr
	return nil
}

func listenError(what, hint, addr string, err error) error {
	if errAddrInUse(err) {
		return fmt.Errorf("lb: listen %s %s: address already in use (change %s)", what, addr, hint)
	}
	return fmt.Errorf("lb: listen %s %s: %w (check %s)", what, addr, err, hint)
}

// reload reads the config source again and swaps it in; on any error the
// running snapshot stays and every error line is logged.
func (a *app) reload() error {
	cfg, err := a.load()
	if err == nil {
		a.mu.Lock()
		if a.drained {
			a.mu.Unlock()
			return errors.New("lb: reload: draining")
		}
		err = a.applyLocked(cfg)
		if err == nil {
			// The rest of the config is in; a taken admin port only keeps
			// the admin API where it was.
			if aerr := a.adminLocked(cfg.Admin.Address); aerr != nil {
				a.log.Error("admin API kept on its old address", obs.KeyErr, aerr)
			}
		}
		a.mu.Unlock()
	}
	if err != nil {
		a.metrics.Reloaded(false, time.Time{})
		for _, line := range configErrorLines(err) {
			a.log.Error("config reload rejected; running config kept", obs.KeyErr, line)
		}
		return err
	}
	a.log.Info("config reloaded", "hash", a.snapshot().hash)
	return nil
}

// prepared is a compiled snapshot plus the resources opened for it, not
// yet visible to requests.
type prepared struct {
	snap      *snapshot
	newSocks  map[string]*runtime.Socket
	accessLog *obs.AccessLog
	tls       map[string]*tlsPrep // HTTPS listeners by socket key
}

// tlsPrep is an HTTPS listener's checked certificate setup.
type tlsPrep struct {
	sources []tlsx.CertSource
	opts    tlsx.Options
	store   *tlsx.Store // used when the listener gets a new server
	acme    *tlsx.ACMEManager
}

// compileLocked builds everything a snapshot needs without changing what
// runs: on error nothing is left open.
func (a *app) compileLocked(cfg *config.LB) (_ *prepared, err error) {
	s := &snapshot{
		cfg: cfg, hash: hashLB(cfg), source: a.source, loadedAt: time.Now(),
		groups:  make(map[string]*l7.TargetGroup),
		routers: make(map[string]*l7.Router),
		routes:  make(map[string]*listenerRoutes),
		health:  make(map[string]health.Config),
		l4:      make(map[string]l4.Config),
		flows:   make(map[string]*flowListener),
	}
	var errs []string
	for i, tg := range cfg.TargetGroups {
		hc, herr := health.FromConfig(tg.Protocol, tg.HealthCheck)
		if herr != nil {
			errs = append(errs, fmt.Sprintf("target_groups[%d] (%s): %v", i, tg.Name, herr))
		} else {
			s.health[tg.Name] = hc
		}
		switch strings.ToUpper(tg.Protocol) {
		case "", "HTTP", "HTTPS":
			g, gerr := l7.NewTargetGroup(tg, a.reg.Group(tg.Name), a.transport)
			if gerr != nil {
				errs = append(errs, fmt.Sprintf("target_groups[%d]: %v", i, gerr))
				continue
			}
			s.groups[tg.Name] = g
		}
	}
	for i, lc := range cfg.Listeners {
		key := sockKey(lc)
		_, dup1 := s.routers[key]
		_, dup2 := s.l4[key]
		if dup1 || dup2 {
			errs = append(errs, fmt.Sprintf("listeners[%d] (%s): address %s is used by another listener", i, lc.Name, lc.Address))
			continue
		}
		switch strings.ToUpper(lc.Protocol) {
		case "", "HTTP", "HTTPS":
		case "TCP", "TLS":
			c, err := a.compileL4(cfg, lc)
			if err != nil {
				errs = append(errs, fmt.Sprintf("listeners[%d] (%s): %v", i, lc.Name, err))
				continue
			}
			s.l4[key] = c
			s.flows[lc.Name] = &flowListener{
				m: a.metrics.Flows(lc.Name, c.Group.Name), group: c.Group.Name, typ: strings.ToLower(lc.Protocol),
				elb: "net/lb/" + lc.Name, arn: "targetgroup/" + c.Group.Name,
			}
			continue
		default:
			errs = append(errs, fmt.Sprintf("listeners[%d] (%s): unknown protocol %q", i, lc.Name, lc.Protocol))
			continue
		}
		r, rerr := l7.NewRouter(lc, s.groups, l7.RouterOptions{})
		if rerr != nil {
			errs = append(errs, fmt.Sprintf("listeners[%d]: %v", i, rerr))
			continue
		}
		s.routers[sockKey(lc)] = r
		lr := &listenerRoutes{elb: "app/lb/" + lc.Name, none: a.metrics.Route(lc.Name, ""), byGroup: make(map[string]*groupRoute)}
		for name := range s.groups {
			lr.byGroup[name] = &groupRoute{m: a.metrics.Route(lc.Name, name), arn: "targetgroup/" + name}
		}
		s.routes[lc.Name] = lr
	}
	if len(errs) > 0 {
		return nil, errConfig{errors.New(strings.Join(errs, "\n"))}
	}

	p := &prepared{snap: s, newSocks: make(map[string]*runtime.Socket), tls: make(map[string]*tlsPrep)}
	defer func() {
		if err != nil {
			for _, sk := range p.newSocks {
				sk.Close()
			}
			p.accessLog.Close()
		}
	}()
	for i, lc := range cfg.Listeners {
		if !strings.EqualFold(lc.Protocol, "HTTPS") && !strings.EqualFold(lc.Protocol, "TLS") {
			continue
		}
		tp, terr := a.prepareTLS(lc)
		if terr != nil {
			errs = append(errs, fmt.Sprintf("listeners[%d] (%s): %v", i, lc.Name, terr))
			continue
		}
		p.tls[sockKey(lc)] = tp
	}
	if len(errs) > 0 {
		return nil, errConfig{errors.New(strings.Join(errs, "\n"))}
	}
	for i, lc := range cfg.Listeners {
		key := sockKey(lc)
		if _, ok := a.live[key]; ok {
			continue
		}
		ln, lerr := listen(lc)
		if lerr != nil {
			return nil, listenError("listener "+lc.Name, a.addrHint(i), lc.Address, lerr)
		}
		p.newSocks[key] = runtime.NewSocket(key, ln, a.metrics.Listener(lc.Name))
	}
	al, aerr := a.openAccessLog(cfg.AccessLog)
	if aerr != nil {
		return nil, errConfig{fmt.Errorf("access_log: %w", aerr)}
	}
	p.accessLog = al
	return p, nil
}

// compileL4 builds a TCP/TLS listener's forwarding config: its default
// action forwards every flow to one target group.
func (a *app) compileL4(cfg *config.LB, lc config.Listener) (l4.Config, error) {
	var name string
	if f := lc.DefaultAction.Forward; f != nil {
		name = f.TargetGroup
		if name == "" && len(f.TargetGroups) == 1 {
			name = f.TargetGroups[0].Name
		}
	}
	if name == "" {
		return l4.Config{}, errors.New("default_action: a TCP or TLS listener forwards to exactly one target group")
	}
	var tg *config.TargetGroup
	for i := range cfg.TargetGroups {
		if cfg.TargetGroups[i].Name == name {
			tg = &cfg.TargetGroups[i]
		}
	}
	if tg == nil {
		return l4.Config{}, fmt.Errorf("default_action: unknown target group %q", name)
	}
	alg, ok := l4.ParseAlgorithm(tg.Algorithm)
	if !ok {
		return l4.Config{}, fmt.Errorf("target group %s: algorithm %q is not a TCP algorithm (flow_hash or source_ip)", name, tg.Algorithm)
	}
	if err := l4.ValidateEndpointID(tg.ProxyProtocolEndpointID); err != nil {
		return l4.Config{}, fmt.Errorf("target group %s: %w", name, err)
	}
	c := l4.Config{
		Listener: lc.Name, Group: a.reg.Group(name), Algorithm: alg,
		IdleTimeout: lc.IdleTimeout.D(), ProxyProtocolV2: tg.ProxyProtocolV2,
		EndpointID: tg.ProxyProtocolEndpointID, ConnectionTermination: tg.ConnectionTermination,
		OnFlow: a.observeFlow,
	}
	if strings.EqualFold(tg.Protocol, "TLS") {
		// A TLS target group gets TLS from lb. ELB does not verify target
		// certificates (targets commonly use self-signed ones), so neither
		// does lb; the client's SNI is passed on.
		c.TargetTLS = &tls.Config{InsecureSkipVerify: true}
	}
	return c, nil
}

// observeFlow counts an ended TCP/TLS flow and writes its access-log line
// (a tcp or tls line, see obs.FlowRecord). It runs on the flow's goroutine
// once per flow; only a failed flow's error text allocates.
func (a *app) observeFlow(r *l4.Record) {
	s := a.cur.Load()
	failure := ""
	switch r.CloseReason {
	case l4.ReasonClientClose, l4.ReasonTargetClose:
	default:
		failure = r.CloseReason
	}
	fl := s.flows[r.Listener]
	if fl == nil {
		// A flow of a listener the last reload removed or renamed: its
		// series are resolved the slow way rather than lost.
		fl = &flowListener{m: a.metrics.Flows(r.Listener, r.TargetGroup), group: r.TargetGroup, typ: "tcp",
			elb: "net/lb/" + r.Listener, arn: "targetgroup/" + r.TargetGroup}
	}
	fl.m.Observe(r.Received, r.Sent, failure)
	if failure != "" && a.log.Enabled(context.Background(), slog.LevelDebug) {
		a.log.Debug("flow ended", obs.KeyListener, r.Listener, obs.KeyTargetGroup, r.TargetGroup,
			obs.KeyTarget, r.Target, obs.KeyClientIP, r.Client.Addr().String(), "reason", r.CloseReason, obs.KeyErr, r.Err)
	}
	al := a.accessLog.Load()
	if al == nil {
		return
	}
	rec := obs.FlowRecord{
		Type: fl.typ, Time: r.Start.Add(r.Duration), ELB: fl.elb, Listener: r.Listener,
		Client: r.Client, Destination: r.Destination, Target: r.Target,
		ConnectTime: -1, TLSHandshake: -1,
		ReceivedBytes: r.Received, SentBytes: r.Sent, Duration: r.Duration,
		TargetGroup: fl.arn, DomainName: r.SNI, CloseReason: r.CloseReason, Created: r.Start,
	}
	if r.TargetGroup != "" && r.TargetGroup != fl.group {
		rec.TargetGroup = "targetgroup/" + r.TargetGroup // a flow from before a reload that moved the listener
	}
	if r.Target != "" || r.CloseReason == l4.ReasonConnectError {
		rec.ConnectTime = r.ConnectTime
	}
	if fl.typ == "tls" {
		rec.TLSHandshake = r.TLSHandshakeTime
	}
	if r.Err != nil {
		rec.Error = r.Err.Error()
	}
	al.LogFlow(&rec)
}

// prepareTLS loads and checks an HTTPS listener's certificates, policy
// and acme block without touching the running listener. An ACME manager
// is kept when the acme block did not change.
func (a *app) prepareTLS(lc config.Listener) (*tlsPrep, error) {
	tp := &tlsPrep{
		sources: tlsx.FromConfig(lc.Certificates),
		opts:    tlsx.Options{Listener: lc.Name, Policy: lc.SSLPolicy, NextProtos: []string{"http/1.1"}, Logger: a.log},
	}
	if strings.EqualFold(lc.Protocol, "TLS") {
		// An NLB TLS listener offers what its ALPN policy says.
		tp.opts.NextProtos, tp.opts.ALPNPolicy = nil, lc.ALPNPolicy
	}
	if lc.ACME != nil {
		if ll, ok := a.live[sockKey(lc)]; ok && ll.acme != nil && reflect.DeepEqual(ll.acmeCfg, lc.ACME) {
			tp.acme = ll.acme
		} else {
			// TLS-ALPN-01 first (answered on this listener itself), then
			// HTTP-01, answered on every HTTP listener (acmeHTTP01).
			o := tlsx.FromACMEConfig(lc.Name, lc.ACME)
			o.Logger = a.log
			m, err := tlsx.NewACMEManager(o)
			if err != nil {
				return nil, err
			}
			tp.acme = m
		}
		tp.opts.ACME = tp.acme
	}
	if ll, ok := a.live[sockKey(lc)]; ok && ll.store != nil {
		// The running store will Reload: check the certificates on a
		// throwaway store that does not subscribe to the ACME manager.
		vopts := tp.opts
		vopts.ACME = nil
		if len(tp.sources) > 0 {
			if _, err := tlsx.NewStore(tp.sources, vopts); err != nil {
				return nil, err
			}
		} else if _, ok := tlsx.Policy(lc.SSLPolicy); !ok {
			return nil, fmt.Errorf("ssl_policy %q: unknown policy", lc.SSLPolicy)
		}
		return tp, nil
	}
	st, err := tlsx.NewStore(tp.sources, tp.opts)
	if err != nil {
		return nil, err
	}
	tp.store = st
	return tp, nil
}

// openAccessLog opens the access log of cfg; stdout and stderr are the
// writers run was given, so in-process runs keep their output.
func (a *app) openAccessLog(c config.AccessLog) (*obs.AccessLog, error) {
	var w io.Writer
	switch c.Path {
	case "stdout":
		w = a.stdout
	case "stderr":
		w = a.stderr
	default:
		return obs.OpenAccessLog(c.Path, c.Format, a.metrics.AccessLogDrops)
	}
	f, err := obs.ParseFormat(c.Format)
	if err != nil {
		return nil, err
	}
	// Hide any Close: the process's stdout outlives every snapshot.
	return obs.NewAccessLog(struct{ io.Writer }{w}, f, obs.DefaultBufferSize, a.metrics.AccessLogDrops), nil
}

// applyLocked compiles cfg and, when that worked, makes it the running
// snapshot: targets synced, health checks updated, routers swapped,
// listeners opened and closed. A request keeps the router it started with.
// applyCookieSecret installs the config's stickiness-cookie secret when it
// changed. Removing it from the file installs a fresh random secret, which
// is what the process would have used without it: cookies sealed with the
// removed secret are then ignored and rewritten, as after a restart.
func (a *app) applyCookieSecret(secret string) error {
	if secret == a.cookieSecret {
		return nil
	}
	key := []byte(secret)
	if secret == "" {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return fmt.Errorf("cookie secret: %w", err)
		}
	}
	if err := l7.SetCookieKey(key); err != nil {
		return fmt.Errorf("cookie_secret: %w", err)
	}
	a.cookieSecret = secret
	return nil
}

func (a *app) applyLocked(cfg *config.LB) error {
	p, err := a.compileLocked(cfg)
	if err != nil {
		return err
	}
	old := a.cur.Load()
	s := p.snap
	if err := a.applyCookieSecret(cfg.CookieSecret.Reveal()); err != nil {
		return err
	}

	// Targets first, so the new routers see them registered.
	keep := make(map[string]bool)
	for _, tg := range cfg.TargetGroups {
		keep[tg.Name] = true
		specs := make([]runtime.TargetSpec, 0, len(tg.Targets))
		seen := make(map[string]bool)
		for _, t := range tg.Targets {
			specs = append(specs, runtime.TargetSpec{Addr: t.Address, Weight: t.Weight})
			seen[t.Address] = true
		}
		a.api.Lock()
		for k := range a.apiTargets {
			if name, addr, _ := strings.Cut(k, "\x00"); name == tg.Name && !seen[addr] {
				specs = append(specs, runtime.TargetSpec{Addr: addr})
			}
		}
		a.api.Unlock()
		g := a.reg.Group(tg.Name)
		g.SetSlowStart(tg.SlowStart.D())
		g.Sync(specs, deregistrationDelay(tg))
		hc := s.health[tg.Name]
		chk, ok := a.checkers[tg.Name]
		if ok && a.checkerPP[tg.Name] == tg.ProxyProtocolV2 {
			chk.Update(hc)
		} else {
			if ok {
				chk.Stop()
			}
			ho := health.Options{Logger: a.log}
			if tg.ProxyProtocolV2 {
				// Targets that expect a PROXY v2 header get a LOCAL one on
				// checks, as NLB sends.
				ho.Dial = l4.DialLocal(&net.Dialer{})
			}
			chk = health.NewChecker(g, hc, ho)
			chk.Start(a.hctx)
			a.checkers[tg.Name] = chk
			a.checkerPP[tg.Name] = tg.ProxyProtocolV2
		}
	}
	if old != nil {
		for _, tg := range old.cfg.TargetGroups {
			if !keep[tg.Name] {
				// A group that left the config drains all its targets.
				a.reg.Group(tg.Name).Sync(nil, deregistrationDelay(tg))
				if chk, ok := a.checkers[tg.Name]; ok {
					chk.Stop()
					delete(a.checkers, tg.Name)
				}
			}
		}
	}

	// Publish the snapshot and the access log before the routers, so the
	// first request on a new router finds its metrics.
	a.cur.Store(s)
	oldLog := a.accessLog.Swap(p.accessLog)

	want := make(map[string]bool)
	for _, lc := range cfg.Listeners {
		key := sockKey(lc)
		want[key] = true
		tp := p.tls[key]
		if ll, ok := a.live[key]; ok {
			ll.sock.SetCounter(a.metrics.Listener(lc.Name))
			if ll.store != nil && tp != nil {
				// Certificates and policy change in place: new handshakes only.
				if err := ll.store.Reload(tp.sources, tp.opts); err != nil {
					a.log.Error("certificate reload", obs.KeyListener, lc.Name, obs.KeyErr, err)
				}
			}
			a.setACMELocked(ll, lc, tp)
			if serverSettingsEqual(ll.cfg, lc) && a.updateLocked(ll, lc, s, key) {
				continue
			}
			if tp != nil && ll.store == nil {
				ll.store = tp.store // the listener became HTTPS
			} else if tp == nil {
				ll.store = nil // the listener became HTTP
			}
			// Settings the server was built with changed: a new server takes
			// over the same socket, the old one finishes its requests.
			old := *ll
			if err := a.serveLocked(ll, lc, s, key); err != nil {
				a.log.Error("listener restart", obs.KeyListener, lc.Name, obs.KeyErr, err)
				*ll = old
				a.updateLocked(ll, lc, s, key)
				continue
			}
			go a.retire(&old, lc.Name, cfg.ShutdownTimeout.D())
			continue
		}
		ll := &liveListener{sock: p.newSocks[key]}
		if tp != nil {
			ll.store = tp.store
		}
		a.setACMELocked(ll, lc, tp)
		if err := a.serveLocked(ll, lc, s, key); err != nil {
			// NewServer only fails on a nil router, which compile excludes.
			a.log.Error("listener start", obs.KeyListener, lc.Name, obs.KeyErr, err)
			ll.sock.Close()
			continue
		}
		a.live[key] = ll
		a.log.Info("listening", obs.KeyListener, lc.Name, "address", ll.sock.Addr())
	}
	for key, ll := range a.live {
		if want[key] {
			continue
		}
		delete(a.live, key)
		ll.sock.Close()
		a.setACMELocked(ll, ll.cfg, nil)
		a.log.Info("listener closed", obs.KeyListener, ll.cfg.Name, "address", key)
		go a.retire(ll, ll.cfg.Name, cfg.ShutdownTimeout.D())
	}
	if oldLog != nil {
		// Requests that loaded the old log a moment ago may still write;
		// their lines are counted as drops rather than lost silently.
		go func() {
			time.Sleep(time.Second)
			oldLog.Close()
		}()
	}
	a.publishACMELocked()
	a.forgetSeriesLocked(old, s)
	a.metrics.Reloaded(true, s.loadedAt)
	a.applied.Add(1)
	return nil
}

// forgetSeriesLocked deletes the metric series of listeners and
// (listener, target group) pairs that old had and s has not, so a reload
// that removes or renames them leaves no stale series behind. A request
// or flow of the old snapshot that ends later recreates its series (at 1,
// not lost), which is rare and only around a reload.
func (a *app) forgetSeriesLocked(old, s *snapshot) {
	groups := make([]string, 0, len(s.cfg.TargetGroups))
	for _, tg := range s.cfg.TargetGroups {
		groups = append(groups, tg.Name)
	}
	a.metrics.SetTargetGroups(groups)
	if old == nil {
		return
	}
	oldL, oldP := seriesKeys(old)
	newL, newP := seriesKeys(s)
	for l := range oldL {
		if !newL[l] {
			a.metrics.ForgetListener(l)
		}
	}
	for p := range oldP {
		if newL[p[0]] && !newP[p] {
			a.metrics.ForgetRoute(p[0], p[1])
		}
	}
}

// seriesKeys lists the listeners and (listener, target group) pairs s
// has metric series for.
func seriesKeys(s *snapshot) (map[string]bool, map[[2]string]bool) {
	ls, ps := make(map[string]bool), make(map[[2]string]bool)
	for l, lr := range s.routes {
		ls[l] = true
		ps[[2]string{l, ""}] = true
		for g := range lr.byGroup {
			ps[[2]string{l, g}] = true
		}
	}
	for l, fl := range s.flows {
		ls[l] = true
		ps[[2]string{l, fl.group}] = true
	}
	return ls, ps
}

// publishACMELocked makes the running ACME managers the ones HTTP
// listeners answer HTTP-01 challenges for.
func (a *app) publishACMELocked() {
	var ms []*tlsx.ACMEManager
	for _, ll := range a.live {
		if ll.acme != nil {
			ms = append(ms, ll.acme)
		}
	}
	a.acme.Store(&ms)
}

// acmeHTTP01 is every HTTP(S) server's HTTP-01 hook: l7 asks it before
// any rule for /.well-known/acme-challenge/ paths, so a CA validating a
// domain of any HTTPS listener's acme block is answered by lb, never by a
// target (ELB-style listeners cannot be told apart by the CA).
func (a *app) acmeHTTP01(path []byte) ([]byte, bool) {
	ms := a.acme.Load()
	if ms == nil || len(*ms) == 0 {
		return nil, false
	}
	return tlsx.HTTP01(*ms, path)
}

// tlsFacts reports an HTTPS connection's access-log fields, the chosen
// certificate included (known because the store's listener accepted it).
// l7 reads tlsx's "-" (unknown) as its own "".
func tlsFacts(c net.Conn) l7.TLSFacts {
	f := tlsx.Facts(c)
	return l7.TLSFacts{Version: f.Protocol, Cipher: f.Cipher, ServerName: f.DomainName, ChosenCert: f.ChosenCert}
}

// sockKey is the listener registry key: the configured address, which a
// reload that keeps it finds again. Port 0 means "any free port", so two
// listeners may both ask for it; their sockets are told apart by name.
func sockKey(lc config.Listener) string {
	if _, port, err := net.SplitHostPort(lc.Address); err == nil && port == "0" {
		return lc.Address + "/" + lc.Name
	}
	return lc.Address
}

// setACMELocked makes ll run tp's ACME manager (nil: none), stopping a
// manager the new config no longer uses.
func (a *app) setACMELocked(ll *liveListener, lc config.Listener, tp *tlsPrep) {
	var m *tlsx.ACMEManager
	if tp != nil {
		m = tp.acme
	}
	if ll.acme == m {
		return
	}
	if ll.acmeStop != nil {
		ll.acmeStop()
		ll.acme, ll.acmeCfg, ll.acmeStop = nil, nil, nil
	}
	if m == nil {
		return
	}
	ctx, cancel := context.WithCancel(a.hctx)
	ll.acme, ll.acmeCfg, ll.acmeStop = m, lc.ACME, cancel
	go m.Run(ctx)
}

// updateLocked applies s to ll's running server in place: a router swap
// for HTTP(S), a config update for TCP/TLS. It reports false when the
// server cannot take s in place (then the caller replaces it).
func (a *app) updateLocked(ll *liveListener, lc config.Listener, s *snapshot, key string) bool {
	switch {
	case ll.srv != nil && s.routers[key] != nil:
		ll.srv.SetRouter(s.routers[key])
		return true
	case ll.l4p != nil:
		c, ok := s.l4[key]
		if !ok {
			return false
		}
		if ll.store != nil {
			c.TLS = ll.store.TLSConfig()
		}
		if err := ll.l4p.Update(c); err != nil {
			a.log.Error("listener update", obs.KeyListener, lc.Name, obs.KeyErr, err)
			return false
		}
		return true
	}
	return false
}

// serveLocked starts a server for lc (an l7 server or an l4 proxy, as its
// protocol says) on ll's socket, with s's router or forwarding config.
func (a *app) serveLocked(ll *liveListener, lc config.Listener, s *snapshot, key string) error {
	var ln net.Listener
	if lc.ProxyProtocol == nil && ll.store == nil {
		// A plain TCP or HTTP listener: the event loops (l4's, l7's)
		// accept on the socket themselves (no accept goroutine, and the
		// client socket stays out of Go's netpoller while a loop holds it).
		ln = ll.sock.Direct()
	} else {
		ln = ll.sock.Handoff()
	}
	if pp := lc.ProxyProtocol; pp != nil {
		// Only trusted peers may (and must) send a PROXY header; the
		// header is read off the accept loop, so a silent peer stalls nothing.
		ln = l4.NewProxyProtocolListener(ln, parsePrefixes(pp.Trusted), pp.HeaderTimeout.D())
	}
	if c, ok := s.l4[key]; ok {
		if ll.store != nil {
			c.TLS = ll.store.TLSConfig() // l4 terminates TLS itself
		}
		p, err := l4.NewProxy(c, nil, a.log)
		if err != nil {
			ln.Close()
			return err
		}
		ll.srv, ll.l4p, ll.cfg = nil, p, lc
		a.serving.Add(1)
		go func() {
			defer a.serving.Done()
			if err := p.Serve(ln); err != nil && !errors.Is(err, l4.ErrProxyClosed) && !errors.Is(err, net.ErrClosed) {
				a.log.Error("serve", obs.KeyListener, lc.Name, obs.KeyErr, err)
			}
		}()
		return nil
	}
	srv, err := l7.NewServer(s.routers[key], l7.ServerOptions{
		Listener: lc, Observer: a, Logger: a.log,
		TLSFacts: tlsFacts, HTTP01: a.acmeHTTP01,
		// Plain-HTTP connections ride the event loops (l7/loop_linux.go).
		EventLoop: true,
	})
	if err != nil {
		ln.Close()
		return err
	}
	ll.srv, ll.l4p, ll.cfg = srv, nil, lc
	if ll.store != nil {
		ln = ll.store.Listener(ln)
	}
	a.serving.Add(1)
	go func() {
		defer a.serving.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, net.ErrClosed) {
			a.log.Error("serve", obs.KeyListener, lc.Name, obs.KeyErr, err)
		}
	}()
	return nil
}

// startDrain makes the listener's responses carry Connection: close.
func (ll *liveListener) startDrain() {
	if ll.srv != nil {
		ll.srv.StartDrain()
	}
}

// shutdown stops the listener's server: it stops accepting and waits for
// in-flight requests or flows until ctx ends, then cuts them.
func (ll *liveListener) shutdown(ctx context.Context) error {
	switch {
	case ll.srv != nil:
		return ll.srv.Shutdown(ctx)
	case ll.l4p != nil:
		return ll.l4p.Shutdown(ctx)
	}
	return nil
}

// parsePrefixes parses CIDRs the config has checked; a bare address
// counts as a single-host prefix.
func parsePrefixes(cidrs []string) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(cidrs))
	for _, c := range cidrs {
		if p, err := netip.ParsePrefix(c); err == nil {
			out = append(out, p)
		} else if a, err := netip.ParseAddr(c); err == nil {
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	return out
}

// retire drains a server that a reload replaced or removed.
func (a *app) retire(ll *liveListener, name string, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := ll.shutdown(ctx); err != nil && !errors.Is(err, context.Canceled) {
		a.log.Warn("retired listener cut at shutdown_timeout", obs.KeyListener, name, obs.KeyErr, err)
	}
}

// serverSettingsEqual reports whether two listener configs build the same
// server: everything but the routing part (rules, default action, XFF
// and desync modes), which a router swap changes in place.
func serverSettingsEqual(a, b config.Listener) bool {
	strip := func(l config.Listener) config.Listener {
		l.Rules, l.DefaultAction = nil, config.Action{}
		l.XFF, l.XFFClientPort, l.DesyncMitigation = "", false, ""
		// The certificate store reloads in place.
		l.SSLPolicy, l.Certificates, l.ACME, l.ALPNPolicy = "", nil, nil, ""
		if isL4(l.Protocol) {
			// l4.Proxy.Update takes the name and idle timeout too.
			l.Name, l.IdleTimeout = "", 0
		}
		return l
	}
	return reflect.DeepEqual(strip(a), strip(b))
}

// isL4 reports whether protocol is served by l4 (TCP, TLS).
func isL4(protocol string) bool {
	return strings.EqualFold(protocol, "TCP") || strings.EqualFold(protocol, "TLS")
}

// boundAddr is the address a listener's socket is bound to (the port a
// ":0" picked), or key when it has none.
func (a *app) boundAddr(key string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if ll, ok := a.live[key]; ok {
		return ll.sock.Addr()
	}
	return key
}

// listenerAddrs returns the bound address of each listener, by name.
func (a *app) listenerAddrs() map[string]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string]string, len(a.live))
	for _, ll := range a.live {
		out[ll.cfg.Name] = ll.sock.Addr()
	}
	return out
}

// adminAddr returns the admin API's bound address, "" when off.
func (a *app) adminAddr() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.adminLn == nil {
		return ""
	}
	return a.adminLn.Addr().String()
}

// drain is the graceful shutdown of SPEC §1: readiness 503, listeners stop
// accepting, keep-alive responses carry Connection: close, in-flight work
// finishes until timeout, then what is left is cut.
func (a *app) drain(timeout time.Duration) error {
	a.mu.Lock()
	a.drained = true
	a.health.SetDraining()
	a.drainer.Begin()
	lives := make([]*liveListener, 0, len(a.live))
	for _, ll := range a.live {
		ll.startDrain()
		lives = append(lives, ll)
	}
	a.mu.Unlock()
	a.log.Info("draining", "shutdown_timeout", timeout.String(), "in_flight", a.drainer.InFlight())

	for _, ll := range lives {
		ll.sock.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, ll := range lives {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := ll.shutdown(ctx); err != nil && !errors.Is(err, context.Canceled) {
				a.log.Warn("listener cut at shutdown_timeout", obs.KeyListener, ll.cfg.Name, obs.KeyErr, err)
			}
			ll.stopped = true
		}()
	}
	wg.Wait()
	err := a.drainer.Wait(ctx)
	if err != nil {
		a.log.Warn("drain cut at shutdown_timeout", obs.KeyErr, err)
	}
	a.mu.Lock()
	a.stopLocked()
	a.mu.Unlock()
	a.log.Info("drained")
	return err
}

// stopLocked releases what outlives snapshots: checkers, pools, the access
// log and the admin server.
func (a *app) stopLocked() {
	a.hcancel()
	for name, chk := range a.checkers {
		chk.Stop()
		delete(a.checkers, name)
	}
	for key, ll := range a.live {
		ll.sock.Close()
		if !ll.stopped {
			// A start that failed half-way: nothing was served yet.
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			ll.shutdown(ctx)
			cancel()
		}
		if ll.acmeStop != nil {
			ll.acmeStop()
		}
		delete(a.live, key)
	}
	// No Serve goroutine outlives the app, so nothing logs after run returns.
	a.serving.Wait()
	a.transport.CloseIdleConnections()
	if al := a.accessLog.Swap(nil); al != nil {
		al.Close()
	}
	a.adminLocked("")
}

// ObserveRequest is the l7.Observer: it counts the request on the
// snapshot's pre-resolved metrics and writes its access-log line. It runs
// on the request's goroutine and allocates nothing.
func (a *app) ObserveRequest(r *l7.Record) {
	s := a.cur.Load()
	var rm *obs.RouteMetrics
	elb, arn := "", ""
	if lr := s.routes[r.Listener]; lr != nil {
		elb = lr.elb
		if r.TargetGroup == "" {
			rm = lr.none
		} else if g := lr.byGroup[r.TargetGroup]; g != nil {
			rm, arn = g.m, g.arn
		}
	}
	if rm == nil {
		// A request that started on the previous snapshot and names a
		// listener or group this one lacks: resolve its series the slow way
		// (rare, and only around a reload) rather than lose the count.
		rm = a.metrics.Route(r.Listener, r.TargetGroup)
		elb = "app/lb/" + r.Listener
		if r.TargetGroup != "" {
			arn = "targetgroup/" + r.TargetGroup
		}
	}
	tt := time.Duration(-1)
	if r.TargetStatus > 0 {
		tt = r.TargetProcessing
	}
	rm.Observe(r.Status, tt)
	if r.ErrorReason == l7.ReasonPanic {
		a.metrics.Panics.Inc()
	}
	al := a.accessLog.Load()
	if al == nil {
		return
	}
	rec := obs.Record{
		Type: r.Type, Time: r.Done, ELB: elb, Listener: r.Listener, ClientAddr: r.Client,
		Target: r.Target, RequestProcessing: r.RequestProcessing, TargetProcessing: r.TargetProcessing,
		ResponseProcessing: r.ResponseProcessing, ELBStatus: r.Status, TargetStatus: r.TargetStatus,
		ReceivedBytes: r.ReceivedBytes, SentBytes: r.SentBytes,
		Method: b2s(r.Method), Scheme: r.Scheme, Host: b2s(r.Host), Port: b2s(r.Port),
		URI: b2s(r.URI), Proto: b2s(r.Proto), UserAgent: b2s(r.UserAgent),
		SSLCipher: r.TLSCipher, SSLProtocol: r.TLSProtocol, TargetGroup: arn,
		TraceID: b2s(r.TraceID), DomainName: r.ServerName, ChosenCert: r.ChosenCert,
		MatchedRulePriority: r.RulePriority, RequestCreation: r.Received,
		RedirectURL: b2s(r.RedirectURL), ErrorReason: r.ErrorReason,
		Classification: r.Classification, ClassificationWhy: r.ClassificationReason,
	}
	if r.Actions != 0 {
		rec.Actions = r.Actions.String()
	}
	if r.RulePriority < 0 && r.Actions == 0 {
		rec.MatchedRulePriority = obs.RuleNone // failed before routing: "-"
	}
	al.Log(&rec)
}

// b2s views b as a string without copying. The string is valid only while
// b is: the access log formats it before ObserveRequest returns.
func b2s(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

func itoa(n int) string { return strconv.Itoa(n) }
