package config

import (
	"os"
	"path/filepath"
	"testing"
)

// The loaders must never panic, whatever the bytes: a config file is
// operator input, and a reload with a broken file must leave the process
// running with every error reported.
func addSeeds(f *testing.F) {
	for _, pat := range []string{"testdata/*.yaml", "testdata/*.json", "testdata/spec/*.yaml"} {
		files, _ := filepath.Glob(pat)
		for _, name := range files {
			if b, err := os.ReadFile(name); err == nil {
				f.Add(b)
			}
		}
	}
	f.Add([]byte("listeners: [*a]"))
	f.Add([]byte("a: &a [*a]"))
	f.Add([]byte("<<: {listeners: 1}"))
}

func FuzzParseLB(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseLB("testdata/fuzz.yaml", data)
		if err == nil {
			_ = SummaryLB("fuzz.yaml", c)
		}
	})
}

func FuzzParseEdge(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseEdge("testdata/fuzz.yaml", data)
		if err == nil {
			_ = SummaryEdge("fuzz.yaml", c)
		}
	})
}
