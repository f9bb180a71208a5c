package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/testenv"
)

func runCLI(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestVersion(t *testing.T) {
	code, out, _ := runCLI("version")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	if want := "lb " + buildVersion() + " " + goruntime.Version() + "\n"; out != want {
		t.Errorf("version printed %q, want %q", out, want)
	}
}

// checkGolden compares got with testdata/name, rewriting it under -update.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -update to create): %v", err)
	}
	if got != string(want) {
		t.Errorf("%s mismatch\n got:\n%s\nwant:\n%s", name, got, want)
	}
}

var errorLine = regexp.MustCompile(`^testdata/bad\.yaml:\d+:\d+: \S.*$`)

func TestValidateGolden(t *testing.T) {
	code, out, errOut := runCLI("validate", "-config", "testdata/good.yaml")
	if code != exitOK || errOut != "" {
		t.Fatalf("good config: exit %d, stderr %q", code, errOut)
	}
	if strings.Count(out, "\n") != 1 || !strings.Contains(out, "hash") {
		t.Errorf("good config summary is not one line with the hash: %q", out)
	}
	checkGolden(t, "validate_good.golden", out)

	code, out, errOut = runCLI("validate", "--config", "testdata/bad.yaml")
	if code != exitConfig || out != "" {
		t.Fatalf("bad config: exit %d, stdout %q", code, out)
	}
	lines := strings.Split(strings.TrimSuffix(errOut, "\n"), "\n")
	// Every problem is reported, not only the first: decode errors,
	// unknown keys and cross-checks alike.
	for _, want := range []string{"shutdown_timeout", "listeners[0].idle_timeout", "listeners[0].colour",
		"listeners[0].rules[0].conditions.source_ip[0]", "listeners[0].rules[0].action.forward.target_group",
		"listeners[0].rules[1].priority", "target_groups[0].deregistration_delay"} {
		if !strings.Contains(errOut, ": "+want+": ") {
			t.Errorf("errors lack %s:\n%s", want, errOut)
		}
	}
	for _, l := range lines {
		if !errorLine.MatchString(l) {
			t.Errorf("error line not FILE:LINE:COL: ...: %q", l)
		}
	}
	checkGolden(t, "validate_bad.golden", errOut)

	if code, _, errOut := runCLI("validate"); code != exitConfig || !strings.Contains(errOut, "usage") {
		t.Errorf("validate without -config: exit %d, %q", code, errOut)
	}
	if code, _, errOut := runCLI("validate", "-config", "testdata/missing.yaml"); code != exitConfig || !strings.Contains(errOut, "missing.yaml") {
		t.Errorf("validate missing file: exit %d, %q", code, errOut)
	}
}

// TestValidateBinary runs the built binary once: exit codes are the
// process's, not run's.
func TestValidateBinary(t *testing.T) {
	bin := lbBinary(t)
	res := testenv.Run(t, 30*time.Second, bin, "validate", "-config", "testdata/good.yaml")
	if res.Code != 0 {
		t.Fatalf("good config: exit %d: %s", res.Code, res.Stderr)
	}
	want, _ := os.ReadFile("testdata/validate_good.golden")
	if res.Stdout != string(want) {
		t.Errorf("binary printed %q, want %q", res.Stdout, want)
	}
	res = testenv.Run(t, 30*time.Second, bin, "validate", "-config", "testdata/bad.yaml")
	if res.Code != exitConfig {
		t.Fatalf("bad config: exit %d, want 2", res.Code)
	}
	want, _ = os.ReadFile("testdata/validate_bad.golden")
	if res.Stderr != string(want) {
		t.Errorf("binary printed %q, want %q", res.Stderr, want)
	}
	res = testenv.Run(t, 30*time.Second, bin, "version")
	if res.Code != 0 || !strings.HasPrefix(res.Stdout, "lb ") || !strings.Contains(res.Stdout, goruntime.Version()) {
		t.Errorf("version: %q, exit %d", res.Stdout, res.Code)
	}
}

func TestBadFlagsExit2(t *testing.T) {
	for _, args := range [][]string{
		{"-no-such-flag"},
		{"-log-level", "loud"},
		{"-log-format", "xml"},
		{"frobnicate"},
		{"-config", "testdata/bad.yaml"},
		{"-config", "testdata/missing.yaml"},
	} {
		code, _, errOut := runCLI(args...)
		if code != exitConfig {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
		if strings.Contains(errOut, "goroutine ") {
			t.Errorf("%v: stack trace on a bad flag:\n%s", args, errOut)
		}
		if errOut == "" {
			t.Errorf("%v: no message", args)
		}
	}
}
