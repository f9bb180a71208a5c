// Package config is the lb and edge configuration as plain data: strict
// YAML decoding with file:line:col positions, AWS defaults, every
// cross-check of SPEC §2 and the ELB/CloudFront references, a stable hash
// and the one-line validate summary.
//
// It does not compile anything into running objects (cmd/lb and cmd/edge
// do that), open sockets, or parse certificate and key contents: it checks
// that named files exist and are readable, and leaves their parsing to the
// packages that use them. It imports none of the running packages.
//
// Use:
//
//	cfg, err := config.LoadLB("lb.yaml")
//	if err != nil {
//		fmt.Fprintln(os.Stderr, err) // every problem, one per line: FILE:LINE:COL: path: message
//		os.Exit(2)
//	}
//	fmt.Println(config.SummaryLB("lb.yaml", cfg)) // lb.yaml: ok: 3 listeners, ...; hash 1f2e3d4c5b6a7988
//
// Errors from Load/Parse are config.Errors (errors.As works) except for a
// file that cannot be read. Relative file paths in the config are resolved
// against the config file's directory, in place. A loaded config is
// immutable by convention: share it, do not modify it.
package config
