package main

import (
	"io"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/internal/runtime"
)

// validateEdge is what `edge validate -config FILE` checks: the one-line
// summary, or every error as FILE:LINE:COL: path: message.
func validateEdge(path string) (string, error) {
	cfg, err := config.LoadEdge(path)
	if err != nil {
		return "", err
	}
	return config.SummaryEdge(path, cfg), nil
}

// printConfigErrors writes every error line of err, naming the file when
// the error does not.
func printConfigErrors(w io.Writer, path string, err error) { runtime.PrintConfigErrors(w, path, err) }
