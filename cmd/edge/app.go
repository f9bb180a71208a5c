package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/switchyard/switchyard/cache"
	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/edge"
	"github.com/switchyard/switchyard/geo"
	"github.com/switchyard/switchyard/internal/obs"
	"github.com/switchyard/switchyard/l4"
	tlsx "github.com/switchyard/switchyard/tls"
)

// errConfig marks start-up errors caused by the config (exit 2).
type errConfig struct{ error }

func (e errConfig) Unwrap() error { return e.error }

// app is a running edge: the pipeline, its listeners and the admin API.
// Config reloads (SIGHUP) compile a new snapshot and swap it; listeners,
// the object store, origin pools and the geo database stay.
type app struct {
	log       *slog.Logger
	stdout    io.Writer
	source    string
	load      func() (*config.Edge, error)
	addrHint  func(i int) string
	adminHint string

	cfg     atomic.Pointer[config.Edge]
	e       *edge.Edge
	store   *cache.Store
	db      *geo.DB
	geoPath string
	metrics *obs.Metrics
	health  obs.Health
	alog    *obs.AsyncWriter
	alogOut io.Closer

	mu          sync.Mutex
	socks       []*sock // in config order
	retired     []*sock // removed by a reload, draining
	listenAddrs []string
	admin       *http.Server
	adminLn     net.Listener
	wg          sync.WaitGroup
}

func newApp(log *slog.Logger, stdout io.Writer, source string, load func() (*config.Edge, error)) *app {
	return &app{log: log, stdout: stdout, source: source, load: load,
		addrHint: func(int) string { return "the listener address" }}
}

func (a *app) start(cfg *config.Edge) error {
	db, err := geo.Open(cfg.Geo.Database)
	if err != nil {
		return errConfig{fmt.Errorf("edge: geo.database: %w", err)}
	}
	a.db, a.geoPath = db, cfg.Geo.Database
	a.store, err = cache.NewStore(cache.StoreOptions(int64(cfg.Cache.MaxSize), int64(cfg.Cache.MaxObjectSize)))
	if err != nil {
		return errConfig{fmt.Errorf("edge: cache: %w", err)}
	}
	a.metrics = obs.NewMetrics("edge")
	var al *edge.AccessLog
	if cfg.AccessLog.Path != "" {
		var w io.Writer
		switch cfg.AccessLog.Path {
		case "stdout":
			w = a.stdout
		case "stderr":
			w = os.Stderr
		default:
			f, err := os.OpenFile(cfg.AccessLog.Path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
			if err != nil {
				return errConfig{fmt.Errorf("edge: access_log.path: %w", err)}
			}
			w, a.alogOut = f, f
		}
		a.alog = obs.NewAsyncWriter(w, obs.DefaultBufferSize, a.metrics.AccessLogDrops)
		al, err = edge.NewAccessLog(a.alog, cfg.AccessLog.Format)
		if err != nil {
			return errConfig{err}
		}
	}
	a.e, err = edge.New(edge.Options{Store: a.store, Geo: db, Metrics: edge.NewMetrics(a.metrics.Registry(), db),
		Log: a.log, AccessLog: al})
	if err != nil {
		return err
	}
	snap, err := a.e.Compile(cfg)
	if err != nil {
		return errConfig{err}
	}
	a.e.Swap(snap)
	a.cfg.Store(cfg)
	a.metrics.Reloaded(true, time.Now())

	for i, lc := range cfg.Listeners {
		sk, err := a.listen(i, lc)
		if err != nil {
			return err
		}
		a.mu.Lock()
		a.socks = append(a.socks, sk)
		a.listenAddrs = append(a.listenAddrs, sk.addr)
		a.mu.Unlock()
	}
	if err := a.startAdmin(cfg.Admin.Address); err != nil {
		return err
	}
	a.health.SetReady(true)
	return nil
}

// sock is one running listener: its socket, server and certificates.
// Sockets outlive snapshots: a reload keeps those whose settings did not
// change, opens new ones and drains the ones that left the config.
type sock struct {
	key  string // what must match for a reload to keep it
	addr string // the bound address
	lc   config.EdgeListener
	ln   net.Listener
	srv  *fasthttp.Server
	tls  *tlsx.Store
}

// sockKey is everything of a listener fixed at start; certificates and
// the TLS policy reload in place.
func sockKey(lc config.EdgeListener) string {
	return config.Hash(config.EdgeListener{Protocol: lc.Protocol, Address: lc.Address, IdleTimeout: lc.IdleTimeout,
		ProxyProtocol: lc.ProxyProtocol, TrustedProxies: lc.TrustedProxies})
}

func (a *app) listen(i int, lc config.EdgeListener) (*sock, error) {
	ln, err := net.Listen("tcp", lc.Address)
	if err != nil {
		return nil, fmt.Errorf("edge: listen %s: %w (change %s)", lc.Address, err, a.addrHint(i))
	}
	sk := &sock{key: sockKey(lc), addr: ln.Addr().String(), lc: lc}
	name := fmt.Sprintf("%s-%s", lc.Protocol, sk.addr)
	lo := edge.ListenerOptions{Name: name, IdleTimeout: lc.IdleTimeout.D(), TrustedProxies: prefixes(lc.TrustedProxies)}
	var wrapped net.Listener = ln
	if tl, ok := ln.(*net.TCPListener); ok {
		wrapped = viewerListener{tl} // viewer socket options on every connection
	}
	if pp := lc.ProxyProtocol; pp != nil {
		// Only trusted peers may (and must) send a PROXY header; its source
		// becomes the viewer address for geo, signatures, logs and XFF.
		wrapped = l4.NewProxyProtocolListener(wrapped, prefixes(pp.Trusted), pp.HeaderTimeout.D())
	}
	if lc.Protocol == "HTTPS" {
		st, err := tlsx.NewStore(tlsx.FromConfig(lc.Certificates), tlsx.Options{Listener: name, Policy: lc.SSLPolicy,
			NextProtos: []string{"http/1.1"}, Logger: a.log})
		if err != nil {
			ln.Close()
			return nil, errConfig{fmt.Errorf("edge: listeners[%d]: %w", i, err)}
		}
		sk.tls = st
		wrapped = st.Listener(wrapped)
		lo.TLS = true
		lo.TLSFacts = func(c net.Conn) (string, string, string) {
			f := tlsx.Facts(c)
			hs := "fullHandshake"
			if f.ChosenCert == "session-reused" {
				hs = "sessionResumed"
			}
			return f.Protocol, f.Cipher, hs
		}
	}
	sk.ln, sk.srv = wrapped, a.e.NewServer(lo)
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := sk.srv.Serve(wrapped); err != nil {
			a.log.Error("listener stopped", "listener", name, "err", err)
		}
	}()
	return sk, nil
}

// reloadSocks matches cfg's listeners against the running ones: kept
// when their settings are unchanged (certificates reloaded in place),
// opened when new, drained when gone. A listener whose address stays but
// whose settings changed is kept as it was (the port cannot be opened
// twice) and needs a restart. On an error nothing changes.
func (a *app) reloadSocks(cfg *config.Edge) error {
	a.mu.Lock()
	old := append([]*sock(nil), a.socks...)
	a.mu.Unlock()
	used := make([]bool, len(old))
	next := make([]*sock, len(cfg.Listeners))
	var opened []*sock
	for i, lc := range cfg.Listeners {
		for j, sk := range old {
			if !used[j] && (sk.key == sockKey(lc) || sk.lc.Address == lc.Address) {
				if sk.key != sockKey(lc) {
					a.log.Warn("reload: listener settings changed; they take effect at the next start", "listener", sk.addr)
				}
				used[j], next[i] = true, sk
				break
			}
		}
		if next[i] != nil {
			continue
		}
		sk, err := a.listen(i, lc)
		if err != nil {
			for _, o := range opened {
				o.ln.Close()
				_ = o.srv.Shutdown()
			}
			return err
		}
		opened = append(opened, sk)
		next[i] = sk
	}
	for i, sk := range next {
		lc := cfg.Listeners[i]
		if sk.tls != nil && lc.Protocol == "HTTPS" && !contains(opened, sk) {
			if err := sk.tls.Reload(tlsx.FromConfig(lc.Certificates), tlsx.Options{Listener: sk.addr,
				Policy: lc.SSLPolicy, NextProtos: []string{"http/1.1"}, Logger: a.log}); err != nil {
				a.log.Error("certificate reload rejected", "listener", sk.addr, "err", err)
			}
		}
	}
	var gone []*sock
	for j, sk := range old {
		if !used[j] {
			gone = append(gone, sk)
		}
	}
	addrs := make([]string, len(next))
	for i, sk := range next {
		addrs[i] = sk.addr
	}
	a.mu.Lock()
	a.socks, a.listenAddrs = next, addrs
	a.retired = append(a.retired, gone...)
	a.mu.Unlock()
	for _, sk := range gone {
		a.log.Info("reload: listener removed; draining it", "listener", sk.addr)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), a.cfg.Load().ShutdownTimeout.D()+time.Second)
			defer cancel()
			_ = sk.srv.ShutdownWithContext(ctx)
		}()
	}
	return nil
}

func contains(ss []*sock, s *sock) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func prefixes(ss []string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p)
		} else if ad, err := netip.ParseAddr(s); err == nil {
			out = append(out, netip.PrefixFrom(ad, ad.BitLen()))
		}
	}
	return out
}

// reload re-reads the config and swaps in a new snapshot: new key groups,
// distributions, behaviours and origins take effect for new requests,
// requests in flight finish on the old snapshot (so a key rotation fails
// no request). A bad file is logged and the running config kept.
// Listener addresses, cache sizes and the admin address need a restart.
func (a *app) reload() {
	cfg, err := a.load()
	if err == nil {
		var snap *edge.Snapshot
		snap, err = a.e.Compile(cfg)
		if err == nil {
			// The database is re-read on every reload, so an updated file
			// at the same path takes effect too.
			if gerr := a.db.Reload(cfg.Geo.Database); gerr != nil {
				err = fmt.Errorf("edge: geo.database: %w", gerr)
			}
			if err == nil {
				a.warnRestart(a.cfg.Load(), cfg)
				err = a.reloadSocks(cfg)
			}
			if err == nil {
				a.e.Swap(snap)
				a.cfg.Store(cfg)
				a.geoPath = cfg.Geo.Database
				a.metrics.Reloaded(true, time.Now())
				a.log.Info("reloaded", "config", a.source, "hash", snap.Hash)
				return
			}
		}
	}
	a.metrics.Reloaded(false, time.Now())
	for _, line := range splitLines(err.Error()) {
		a.log.Error("reload rejected; keeping the running config", "err", line)
	}
}

// warnRestart logs the settings a reload cannot apply to the running
// store and admin server; they take effect at the next start.
func (a *app) warnRestart(old, cfg *config.Edge) {
	if old.Cache != cfg.Cache {
		a.log.Warn("reload: cache size changes need a restart; the running store is kept")
	}
	if old.Admin.Address != cfg.Admin.Address {
		a.log.Warn("reload: admin.address changes need a restart")
	}
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// shutdown drains: readiness 503, Connection: close on every response,
// stop accepting, wait for in-flight requests until ctx ends.
func (a *app) shutdown(ctx context.Context) {
	a.health.SetDraining()
	a.e.StartDrain()
	a.mu.Lock()
	var servers []*fasthttp.Server
	for _, sk := range append(append([]*sock(nil), a.socks...), a.retired...) {
		servers = append(servers, sk.srv)
	}
	a.mu.Unlock()
	var wg sync.WaitGroup
	for _, s := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.ShutdownWithContext(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
				a.log.Warn("shutdown", "err", err)
			}
		}()
	}
	wg.Wait()
}

// close releases everything (after shutdown, or after a failed start).
func (a *app) close() {
	a.mu.Lock()
	for _, sk := range append(append([]*sock(nil), a.socks...), a.retired...) {
		sk.ln.Close()
	}
	a.mu.Unlock()
	if a.admin != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = a.admin.Shutdown(ctx)
		cancel()
	}
	if a.e != nil {
		a.e.CloseIdleConnections()
	}
	if a.alog != nil {
		a.alog.Flush()
		a.alog.Close()
	}
	if a.alogOut != nil {
		a.alogOut.Close()
	}
	if a.store != nil {
		a.store.Close()
	}
}

// addrs returns the bound listener addresses, in config order.
func (a *app) addrs() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.listenAddrs...)
}

func (a *app) adminAddr() string {
	if a.adminLn == nil {
		return ""
	}
	return a.adminLn.Addr().String()
}
