package runtime_test

import (
	"bytes"
	"errors"
	"io"
	goruntime "runtime"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/internal/runtime"
)

func testCommand(served *[]string) runtime.Command {
	return runtime.Command{
		Name: "x", Version: "v9", Known: "validate, ping or version",
		Usage: func(w io.Writer) { io.WriteString(w, "usage: x\n") },
		Validate: func(path string) (string, error) {
			if path == "good.yaml" {
				return "good.yaml: ok", nil
			}
			return "", errors.New("line 3: bad\nline 4: worse")
		},
		Subcommands: map[string]func([]string, io.Writer, io.Writer) int{
			"ping": func(args []string, stdout, _ io.Writer) int {
				io.WriteString(stdout, "pong "+strings.Join(args, ","))
				return 4
			},
		},
		Serve: func(args []string, _, _ io.Writer) int {
			*served = args
			return 6
		},
	}
}

func TestCommandDispatch(t *testing.T) {
	var served []string
	c := testCommand(&served)
	for _, tc := range []struct {
		args           []string
		code           int
		stdout, stderr string
	}{
		{[]string{"version"}, 0, "x v9 " + goruntime.Version() + "\n", ""},
		{[]string{"help"}, 0, "usage: x\n", ""},
		{[]string{"ping", "a", "b"}, 4, "pong a,b", ""},
		{[]string{"validate", "-config", "good.yaml"}, 0, "good.yaml: ok\n", ""},
		{[]string{"validate", "-config", "bad.yaml"}, 2, "", "bad.yaml: line 3: bad\nline 4: worse\n"},
		{[]string{"validate"}, 2, "", "usage: x validate -config FILE\n"},
		{[]string{"frob"}, 2, "", "x: unknown command \"frob\" (want validate, ping or version, or flags only)\nusage: x\n"},
		{[]string{"-config", "a.yaml"}, 6, "", ""},
	} {
		var out, errb bytes.Buffer
		code := c.Run(tc.args, &out, &errb)
		if code != tc.code || out.String() != tc.stdout || errb.String() != tc.stderr {
			t.Errorf("%v: code %d stdout %q stderr %q; want %d %q %q", tc.args, code, out.String(), errb.String(), tc.code, tc.stdout, tc.stderr)
		}
	}
	if strings.Join(served, " ") != "-config a.yaml" {
		t.Fatalf("Serve got %q", served)
	}
}

func TestServeFlags(t *testing.T) {
	var f runtime.ServeFlags
	var errb bytes.Buffer
	fs := runtime.NewServeFlagSet("x", &f, &errb, func(io.Writer) {}, "config", "admin")
	if err := f.ParseServe(fs, []string{"-config", "c.yaml", "-log-level", "debug", "-admin", ""}); err != nil {
		t.Fatal(err)
	}
	if f.Config != "c.yaml" || f.LogLevel != "debug" || f.LogFormat != "text" || f.Admin != "" || !f.AdminSet {
		t.Fatalf("flags %+v", f)
	}
	var g runtime.ServeFlags
	fs = runtime.NewServeFlagSet("x", &g, &errb, func(io.Writer) {}, "config", "admin")
	err := g.ParseServe(fs, []string{"extra"})
	if err == nil || err.Error() != `x: unexpected argument "extra"` {
		t.Fatalf("err %v", err)
	}
	errb.Reset()
	if code := runtime.FlagExit(err, &errb); code != runtime.ExitConfig || !strings.Contains(errb.String(), "unexpected argument") {
		t.Fatalf("FlagExit: %d %q", code, errb.String())
	}
}
