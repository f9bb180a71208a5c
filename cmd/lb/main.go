package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/switchyard/switchyard/internal/runtime"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit codes of SPEC §1.
const (
	exitOK      = runtime.ExitOK
	exitRuntime = runtime.ExitRuntime
	exitConfig  = runtime.ExitConfig
)

func main() {
	os.Exit(command().Main(os.Args[1:]))
}

// run is main without the process: tests call it in-process.
func run(args []string, stdout, stderr io.Writer) int {
	return command().Run(args, stdout, stderr)
}

// command is lb's command-line shape.
func command() runtime.Command {
	return runtime.Command{
		Name: "lb", Version: buildVersion(), Usage: usage, Known: "validate or version",
		Validate: func(path string) (string, error) {
			cfg, err := loadLB(path)
			if err != nil {
				return "", err
			}
			return summaryLB(path, cfg), nil
		},
		Serve: func(args []string, stdout, stderr io.Writer) int { return runServe(args, stdout, stderr, nil) },
	}
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
	runtime.ServeFlags
	http string // the demo HTTP listener address
	tcp  string // the demo TCP listener address
}

func parseRunFlags(args []string, stderr io.Writer) (*runFlags, error) {
	f := &runFlags{}
	fs := runtime.NewServeFlagSet("lb", &f.ServeFlags, stderr, usage,
		"config `file` (YAML); without it lb runs the embedded lab default",
		"admin API `address`, overriding admin.address (\"\" keeps the config's)")
	fs.StringVar(&f.http, "http", demoHTTPAddr, "HTTP listener `address` of the embedded lab default")
	fs.StringVar(&f.tcp, "tcp", demoTCPAddr, "TCP listener `address` of the embedded lab default")
	if err := f.ParseServe(fs, args); err != nil {
		return nil, err
	}
	fs.Visit(func(fl *flag.Flag) {
		if (fl.Name == "http" || fl.Name == "tcp") && f.Config != "" {
			f.http, f.tcp = "", "" // -http and -tcp only apply to the lab default
		}
	})
	return f, nil
}
