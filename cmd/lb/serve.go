package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"

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

// runServe runs lb until a drain ends (0), a fatal error (1), or a bad
// config or flag stops it at start (2).
func runServe(args []string, stdout, stderr io.Writer, h *hooks) int {
	f, err := parseRunFlags(args, stderr)
	if err != nil {
		return runtime.FlagExit(err, stderr)
	}
	log, err := obs.NewLogger(f.LogLevel, f.LogFormat, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "lb:", strings.TrimPrefix(err.Error(), "obs: "))
		return exitConfig
	}

	// Catch signals before anything listens: a SIGHUP during start-up must
	// not kill the process (its default action), and a SIGTERM is honoured
	// as soon as the app is up.
	var override chan os.Signal
	if h != nil {
		override = h.signals
	}
	sigs, stop := runtime.NotifySignals(override)
	defer stop()

	var (
		source string
		load   func() (*config.LB, error)
		lab    *demo
	)
	if f.Config == "" {
		lab, err = startDemo(3, log)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return exitRuntime
		}
		defer lab.Close()
		adminAddr := demoAdminAddr
		if f.AdminSet {
			adminAddr = f.Admin
		}
		yaml := lab.configYAML(f.http, f.tcp, adminAddr)
		source = "embedded lab default"
		load = func() (*config.LB, error) { return parseLB("lab-default.yaml", yaml) }
	} else {
		source = f.Config
		path := f.Config
		load = func() (*config.LB, error) {
			cfg, err := loadLB(path)
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

	a := newApp(log, stdout, stderr, source, load)
	if lab != nil {
		a.addrHint = func(i int) string {
			if i == 1 {
				return "it with -tcp"
			}
			return "it with -http"
		}
		a.adminHint = "it with -admin"
	} else {
		a.addrHint = func(i int) string { return fmt.Sprintf("listeners[%d].address in %s", i, f.Config) }
		a.adminHint = fmt.Sprintf("admin.address in %s, or use -admin", f.Config)
	}
	if err := a.start(cfg); err != nil {
		fmt.Fprintln(stderr, err)
		var ce errConfig
		if errors.As(err, &ce) {
			return exitConfig
		}
		return exitRuntime
	}
	log.Info("lb started", "config", source, "hash", a.snapshot().hash, "version", buildVersion())
	if lab != nil {
		addrs := a.listenerAddrs()
		printTry(stdout, addrs["web"], addrs["stream"], a.adminAddr())
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
		Drain: func(_ context.Context, sig os.Signal) int {
			log.Info("drain started", "signal", sig.String())
			a.drain(a.snapshot().cfg.ShutdownTimeout.D())
			return exitOK
		},
		// A second stop signal returns at once with exit 1 (SPEC §1).
		Again: func(sig os.Signal) runtime.Again {
			if sig == syscall.SIGHUP {
				log.Info("reload ignored while draining")
				return runtime.KeepDraining
			}
			log.Warn("second signal: exiting without waiting", "signal", sig.String())
			return runtime.ExitNow
		},
		ExitNowCode: exitRuntime,
		ClosedCode:  exitOK,
	}.Run()
}
