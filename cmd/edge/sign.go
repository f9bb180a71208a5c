package main

import (
	"fmt"
	"io"
)

// runSign is being written; this file is replaced by its real implementation.
func runSign(args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "edge sign: not built yet")
	return 1
}
