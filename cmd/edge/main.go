// Command edge is a CloudFront-style caching reverse proxy, and the tool that
// signs CloudFront URLs and cookies (`edge sign`) and looks up countries
// (`edge geo`).
//
//	edge                          run on the embedded default (demo origin + edge)
//	edge -config FILE             run on FILE
//	edge validate -config FILE    check FILE, print every error
//	edge sign url|cookies ...     sign a URL or cookies
//	edge geo IP...                print countries
//	edge version
package main

import (
	"fmt"
	"io"
	"os"

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

// command is edge's command-line shape.
func command() runtime.Command {
	return runtime.Command{
		Name: "edge", Version: version, Usage: usage, Known: "validate, sign, geo or version",
		Validate: validateEdge,
		Subcommands: map[string]func([]string, io.Writer, io.Writer) int{
			"sign": runSign,
			"geo":  runGeo,
		},
		Serve: func(args []string, stdout, stderr io.Writer) int { return runServe(args, stdout, stderr, nil) },
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  edge [-config FILE] [-log-level debug|info|warn|error] [-log-format text|json]
       [-admin ADDR] [-http ADDR] [-origin ADDR]
  edge validate -config FILE
  edge sign url     -key-pair-id ID -private-key PEM -url URL -expires TIME [-starts TIME] [-ip CIDR] [-policy FILE]
  edge sign cookies (same flags)
  edge geo IP... [-db FILE]
  edge version

Without -config, edge runs the embedded default: a demo origin on 127.0.0.1
(-origin) behind an edge on 127.0.0.1:8082 (-http), admin API on
127.0.0.1:9902 (-admin).
`)
}
