package main

import (
	"fmt"
	"io"
)

// runServe is being written; this file is replaced by its real implementation.
func runServe(args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "edge serve: not built yet")
	return 1
}
