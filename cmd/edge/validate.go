package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/switchyard/switchyard/config"
)

// runValidate is `edge validate -config FILE`: exit 0 and a one-line
// summary, or exit 2 and every error as FILE:LINE:COL: path: message.
func runValidate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("edge validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "config `file` to check")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitConfig
	}
	if *path == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: edge validate -config FILE")
		return exitConfig
	}
	cfg, err := config.LoadEdge(*path)
	if err != nil {
		printConfigErrors(stderr, *path, err)
		return exitConfig
	}
	fmt.Fprintln(stdout, config.SummaryEdge(*path, cfg))
	return exitOK
}

// printConfigErrors writes every error line of err, naming the file when
// the error does not.
func printConfigErrors(w io.Writer, path string, err error) {
	msg := err.Error()
	if !strings.Contains(msg, path) {
		msg = path + ": " + msg
	}
	fmt.Fprintln(w, msg)
}
