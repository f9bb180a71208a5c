package main

import (
	"fmt"
	"io"
)

// runGeo is being written; this file is replaced by its real implementation.
func runGeo(args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "edge geo: not built yet")
	return 1
}
