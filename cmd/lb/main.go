package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	goruntime "runtime"
	"runtime/debug"
	"strings"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit codes of SPEC §1.
const (
	exitOK      = 0 // clean drain, or a command that succeeded
	exitRuntime = 1 // fatal runtime error
	exitConfig  = 2 // bad config or bad flags
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the process: tests call it in-process.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "version", "-version", "--version":
			fmt.Fprintf(stdout, "lb %s %s\n", buildVersion(), goruntime.Version())
			return exitOK
		case "validate":
			return runValidate(args[1:], stdout, stderr)
		case "help", "-h", "-help", "--help":
			usage(stdout)
			return exitOK
		}
		if !strings.HasPrefix(args[0], "-") {
			fmt.Fprintf(stderr, "lb: unknown command %q (want validate or version, or flags only)\n", args[0])
			usage(stderr)
			return exitConfig
		}
	}
	return runServe(args, stdout, stderr, nil)
}

// buildVersion is version, or the module version the binary was built
// from (go install …@v1.2.3) when no -ldflags set one.
func buildVersion() string {
	if version != "dev" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return version
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  lb [-config FILE] [-log-level debug|info|warn|error] [-log-format text|json]
     [-admin ADDR] [-http ADDR] [-tcp ADDR]
  lb validate -config FILE
  lb version

Without -config, lb runs the embedded lab default: three demo backends on
127.0.0.1 behind an HTTP listener on 127.0.0.1:8080 (-http), a TCP listener
on 127.0.0.1:8081 (-tcp), and the admin API on 127.0.0.1:9901 (-admin).
`)
}

// runFlags are the flags of a running lb.
type runFlags struct {
	config    string
	logLevel  string
	logFormat string
	admin     string // overrides admin.address when set
	adminSet  bool
	http      string // the demo HTTP listener address
	tcp       string // the demo TCP listener address
}

func parseRunFlags(args []string, stderr io.Writer) (*runFlags, error) {
	f := &runFlags{}
	fs := flag.NewFlagSet("lb", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { usage(stderr) }
	fs.StringVar(&f.config, "config", "", "config `file` (YAML); without it lb runs the embedded lab default")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&f.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&f.admin, "admin", "", "admin API `address`, overriding admin.address (\"\" keeps the config's)")
	fs.StringVar(&f.http, "http", demoHTTPAddr, "HTTP listener `address` of the embedded lab default")
	fs.StringVar(&f.tcp, "tcp", demoTCPAddr, "TCP listener `address` of the embedded lab default")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("lb: unexpected argument %q", fs.Arg(0))
	}
	fs.Visit(func(fl *flag.Flag) {
		if fl.Name == "admin" {
			f.adminSet = true
		}
		if (fl.Name == "http" || fl.Name == "tcp") && f.config != "" {
			f.http, f.tcp = "", "" // -http and -tcp only apply to the lab default
		}
	})
	return f, nil
}

func runValidate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("lb validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "config `file` to check")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitConfig
	}
	if *path == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: lb validate -config FILE")
		return exitConfig
	}
	cfg, err := loadLB(*path)
	if err != nil {
		printConfigErrors(stderr, *path, err)
		return exitConfig
	}
	fmt.Fprintln(stdout, summaryLB(*path, cfg))
	return exitOK
}
