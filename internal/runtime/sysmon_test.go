package runtime

import (
	"io"
	"os"
	"os/exec"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestSysmonEnv(t *testing.T) {
	cases := []struct {
		name string
		in   []string
		want []string
		exec bool
	}{
		{"no GODEBUG", []string{"A=1"}, []string{"A=1", "GODEBUG=" + sysmonSetting}, true},
		{"empty GODEBUG", []string{"GODEBUG=", "A=1"}, []string{"GODEBUG=" + sysmonSetting, "A=1"}, true},
		{"other settings kept", []string{"GODEBUG=gctrace=1,madvdontneed=1"},
			[]string{"GODEBUG=gctrace=1,madvdontneed=1," + sysmonSetting}, true},
		{"operator's schedtrace wins", []string{"GODEBUG=gctrace=1, schedtrace=0"},
			[]string{"GODEBUG=gctrace=1, schedtrace=0"}, false},
		{"already set by the re-exec", []string{"GODEBUG=" + sysmonSetting}, []string{"GODEBUG=" + sysmonSetting}, false},
		{"scheddetail is another setting", []string{"GODEBUG=scheddetail=1"},
			[]string{"GODEBUG=scheddetail=1," + sysmonSetting}, true},
	}
	for _, c := range cases {
		got, ok := sysmonEnv(c.in)
		if ok != c.exec || !slices.Equal(got, c.want) {
			t.Errorf("%s: sysmonEnv(%q) = %q, %v; want %q, %v", c.name, c.in, got, ok, c.want, c.exec)
		}
	}
}

func TestCommandServes(t *testing.T) {
	c := Command{Subcommands: map[string]func([]string, io.Writer, io.Writer) int{"sign": nil}}
	for args, want := range map[string]bool{
		"":                   true,
		"-config lb.yaml":    true,
		"-log-level debug":   true,
		"version":            false,
		"--version":          false,
		"validate -config x": false,
		"help":               false,
		"-h":                 false,
		"sign url -url x":    false,
		"nonsense":           false, // Run prints "unknown command"
	} {
		if got := c.Serves(strings.Fields(args)); got != want {
			t.Errorf("Serves(%q) = %v, want %v", args, got, want)
		}
	}
}

// The child half of TestKeepSysmonAwakeReexecs: print the PID, re-exec,
// and (after the re-exec, or when none happens) print the PID and GODEBUG
// again.
func TestMain(m *testing.M) {
	if os.Getenv("SYSMON_TEST_CHILD") == "1" {
		os.Stdout.WriteString("pid " + strconv.Itoa(os.Getpid()) + " GODEBUG=" + os.Getenv("GODEBUG") + "\n")
		if err := KeepSysmonAwake(); err != nil {
			os.Stdout.WriteString("error " + err.Error() + "\n")
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestKeepSysmonAwakeReexecs(t *testing.T) {
	if goruntime.GOOS != "linux" {
		t.Skip("re-exec is Linux only (/proc/self/exe)")
	}
	run := func(godebug string) []string {
		t.Helper()
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "SYSMON_TEST_CHILD=1")
		if godebug != "" {
			cmd.Env = append(cmd.Env, "GODEBUG="+godebug)
		}
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		return strings.Split(strings.TrimSpace(string(out)), "\n")
	}

	lines := run("gctrace=0")
	if len(lines) != 2 {
		t.Fatalf("want two lines (before and after the re-exec), got %q", lines)
	}
	before, after := strings.Fields(lines[0]), strings.Fields(lines[1])
	if before[1] != after[1] {
		t.Errorf("PID changed across the re-exec: %s then %s", before[1], after[1])
	}
	if want := "GODEBUG=gctrace=0," + sysmonSetting; after[2] != want {
		t.Errorf("after the re-exec %s, want %s", after[2], want)
	}

	if lines := run("schedtrace=0"); len(lines) != 1 {
		t.Errorf("GODEBUG=schedtrace=0 must keep Go's default without a re-exec, got %q", lines)
	}
}
