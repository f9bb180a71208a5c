package config

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestGolden loads every testdata/*.yaml, *.json and testdata/spec/*.yaml
// (lb or edge by file name) and compares the full output — every error
// line, or the validate summary — with the .golden file beside it.
func TestGolden(t *testing.T) {
	var files []string
	for _, pat := range []string{"testdata/*.yaml", "testdata/*.json", "testdata/spec/*.yaml"} {
		m, err := filepath.Glob(pat)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 10 {
		t.Fatalf("found only %d config fixtures", len(files))
	}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			got := render(f)
			golden := strings.TrimSuffix(f, filepath.Ext(f)) + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./config -update)", err)
			}
			if got != string(want) {
				t.Errorf("%s differs from %s\n--- got:\n%s--- want:\n%s", f, golden, got, want)
			}
		})
	}
}

func render(f string) string {
	var out string
	if strings.HasPrefix(filepath.Base(f), "edge") {
		c, err := LoadEdge(f)
		if err != nil {
			return err.Error() + "\n"
		}
		out = SummaryEdge(f, c)
	} else {
		c, err := LoadLB(f)
		if err != nil {
			return err.Error() + "\n"
		}
		out = SummaryLB(f, c)
	}
	// The spec fixtures name files, which load as absolute paths, so their
	// hash depends on where the checkout lives; TestHash covers hashing.
	if strings.Contains(f, "spec") {
		if i := strings.LastIndex(out, "; hash "); i >= 0 {
			out = out[:i] + "; hash (depends on the checkout path)"
		}
	}
	return out + "\n"
}
