//go:build !race

package l7

const raceOn = false
