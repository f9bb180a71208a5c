// Command edge is a CloudFront-style caching reverse proxy, and the tool that
// signs CloudFront URLs and cookies (`edge sign`) and looks up countries
// (`edge geo`).
package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "version":
			fmt.Fprintf(stdout, "edge %s %s\n", version, runtime.Version())
			return 0
		case "sign":
			return runSign(args[1:], stdout, stderr)
		case "geo":
			return runGeo(args[1:], stdout, stderr)
		}
	}
	return runServe(args, stdout, stderr)
}
