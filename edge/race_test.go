//go:build race

package edge

// The race detector makes sync.Pool drop items at random, so allocation
// counts of paths that use a pool are meaningless under it.
const raceEnabled = true
