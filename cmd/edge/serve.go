package main

import (
	"context"
	"errors"
	"flag"
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
	config, logLevel, logFormat string
	admin                       string
	adminSet                    bool
	http, origin                string
}

func parseRunFlags(args []string, stderr io.Writer) (*runFlags, error) {
	f := &runFlags{}
	fs := flag.NewFlagSet("edge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { usage(stderr) }
	fs.StringVar(&f.config, "config", "", "config `file` (YAML); without it edge runs the embedded default")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&f.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&f.admin, "admin", "", "admin API `address`, overriding admin.address")
	fs.StringVar(&f.http, "http", demoHTTPAddr, "edge listener `address` of the embedded default")
	fs.StringVar(&f.origin, "origin", "127.0.0.1:0", "demo origin `address` of the embedded default")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("edge: unexpected argument %q", fs.Arg(0))
	}
	fs.Visit(func(fl *flag.Flag) {
		if fl.Name == "admin" {
			f.adminSet = true
		}
	})
	return f, nil
}

// runServe runs edge until a drain ends (0), a fatal error (1), or a bad
// config or flag stops it at start (2).
func runServe(args []string, stdout, stderr io.Writer, h *hooks) int {
	f, err := parseRunFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		if !strings.HasPrefix(err.Error(), "flag provided but not defined") {
			fmt.Fprintln(stderr, err)
		}
		return exitConfig
	}
	log, err := obs.NewLogger(f.logLevel, f.logFormat, stderr)
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
	if f.config == "" {
		dm, err = startDemo(f.origin)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return exitRuntime
		}
		defer dm.Close()
		adminAddr := demoAdminAddr
		if f.adminSet {
			adminAddr = f.admin
		}
		yaml := dm.configYAML(f.http, adminAddr)
		source = "embedded default"
		load = func() (*config.Edge, error) { return config.ParseEdge(dm.dir+"/edge-default.yaml", yaml) }
	} else {
		source = f.config
		path := f.config
		load = func() (*config.Edge, error) {
			cfg, err := config.LoadEdge(path)
			if err == nil && f.adminSet {
				cfg.Admin.Address = f.admin
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
		a.addrHint = func(i int) string { return fmt.Sprintf("listeners[%d].address in %s", i, f.config) }
		a.adminHint = fmt.Sprintf("admin.address in %s, or use -admin", f.config)
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
