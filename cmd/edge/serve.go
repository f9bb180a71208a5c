package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/internal/obs"
	"github.com/switchyard/switchyard/internal/runtime"
)

// hooks let in-process tests drive runServe: they deliver signals and
// learn the app once it is up. nil in production.
type hooks struct {
	signals chan os.Signal
	started func(*app)
}

// Addresses of the embedded default (SPEC §3.2).
const (
	demoHTTPAddr  = "127.0.0.1:8082"
	demoAdminAddr = "127.0.0.1:9902"
)

type runFlags struct {
	runtime.ServeFlags
	http, origin string
}

func parseRunFlags(args []string, stderr io.Writer) (*runFlags, error) {
	f := &runFlags{}
	fs := runtime.NewServeFlagSet("edge", &f.ServeFlags, stderr, usage,
		"config `file` (YAML); without it edge runs the embedded default",
		"admin API `address`, overriding admin.address")
	fs.StringVar(&f.http, "http", demoHTTPAddr, "edge listener `address` of the embedded default")
	fs.StringVar(&f.origin, "origin", "127.0.0.1:0", "demo origin `address` of the embedded default")
	if err := f.ParseServe(fs, args); err != nil {
		return nil, err
	}
	return f, nil
}

// runServe runs edge until a drain ends (0), a fatal error (1), or a bad
// config or flag stops it at start (2).
func runServe(args []string, stdout, stderr io.Writer, h *hooks) int {
	f, err := parseRunFlags(args, stderr)
	if err != nil {
		return runtime.FlagExit(err, stderr)
	}
	log, err := obs.NewLogger(f.LogLevel, f.LogFormat, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "edge:", strings.TrimPrefix(err.Error(), "obs: "))
		return exitConfig
	}
	// Catch signals before listening, so an early SIGHUP cannot kill us.
	var override chan os.Signal
	if h != nil {
		override = h.signals
	}
	sigs, stop := runtime.NotifySignals(override)
	defer stop()

	var (
		source string
		load   func() (*config.Edge, error)
		dm     *demo
	)
	if f.Config == "" {
		dm, err = startDemo(f.origin)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return exitRuntime
		}
		defer dm.Close()
		adminAddr := demoAdminAddr
		if f.AdminSet {
			adminAddr = f.Admin
		}
		yaml := dm.configYAML(f.http, adminAddr)
		source = "embedded default"
		load = func() (*config.Edge, error) { return config.ParseEdge(dm.dir+"/edge-default.yaml", yaml) }
	} else {
		source = f.Config
		path := f.Config
		load = func() (*config.Edge, error) {
			cfg, err := config.LoadEdge(path)
			if err == nil && f.AdminSet {
				cfg.Admin.Address = f.Admin
			}
			return cfg, err
		}
	}
	cfg, err := load()
	if err != nil {
		printConfigErrors(stderr, source, err)
		return exitConfig
	}
	a := newApp(log, stdout, source, load)
	if dm != nil {
		a.addrHint = func(int) string { return "it with -http" }
		a.adminHint = "it with -admin"
	} else {
		a.addrHint = func(i int) string { return fmt.Sprintf("listeners[%d].address in %s", i, f.Config) }
		a.adminHint = fmt.Sprintf("admin.address in %s, or use -admin", f.Config)
	}
	if err := a.start(cfg); err != nil {
		a.close()
		fmt.Fprintln(stderr, err)
		var ce errConfig
		if errors.As(err, &ce) {
			return exitConfig
		}
		return exitRuntime
	}
	log.Info("edge started", "config", source, "hash", a.e.Snapshot().Hash, "version", version)
	if dm != nil {
		dm.printTry(stdout, a.addrs()[0], a.adminAddr())
	}
	if h != nil && h.started != nil {
		h.started(a)
	}
	return runtime.SignalLoop{
		Signals: sigs,
		Reload: func(sig os.Signal) {
			log.Info("reloading", "signal", sig.String(), "config", source)
			a.reload()
		},
		Drain: func(ctx context.Context, sig os.Signal) int { return drain(ctx, a, log, sig) },
		Again: func(sig os.Signal) runtime.Again {
			log.Warn("second signal: stopping at once", "signal", sig.String())
			return runtime.CancelDrain
		},
		ClosedCode: exitOK,
	}.Run()
}

// drain runs the graceful shutdown of SPEC §1: readiness 503, stop
// accepting, Connection: close, wait for in-flight requests up to
// shutdown_timeout. A second signal cancels ctx: it stops at once.
func drain(ctx context.Context, a *app, log *slog.Logger, sig os.Signal) int {
	timeout := a.cfg.Load().ShutdownTimeout.D()
	if timeout <= 0 {
		timeout = config.DefaultShutdownTimeout
	}
	started := time.Now()
	log.Info("draining", "signal", sig.String(), "dur_s", timeout.Seconds())
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	a.shutdown(ctx)
	a.close()
	log.Info("stopped", "dur_s", time.Since(started).Seconds())
	return exitOK
}
