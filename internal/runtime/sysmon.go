package runtime

import (
	"os"
	"strings"
)

// sysmonSetting keeps the Go runtime's sysmon thread out of its deep
// sleep. Without it, every time all of the process's Ps go idle sysmon
// parks on a note, the next system call wakes it with a futex, and it polls
// again every 20 µs until it has seen a millisecond of nothing to do. A
// proxy at partial load goes idle and busy thousands of times a second, so
// it pays that wake-up and the polling each time — on a core it shares with
// the serving thread when pinned. Measured on the 1 KiB path at equal
// offered load (bench/RESULTS.md, session 2): edge 29.1 → 19.8 µs of CPU
// per cache hit at 14.5k req/s, lb 0.69× → 0.79× HAProxy's requests per
// CPU-second and p99 3.6 → 2.0 ms at ~21k req/s; no change at saturation.
//
// schedtrace is the one runtime knob that has this effect (runtime/proc.go:
// sysmon skips the deep sleep while schedtrace > 0); at its largest value,
// about 24.8 days, the trace line it prints is that rare. Side effects: a
// fully idle process wakes every 10 ms instead of sleeping, one SCHED line
// on stderr every 24.8 days of monotonic clock (so possibly once at start
// on a host up longer than that), and a scheduler dump added to the output
// of a fatal runtime error.
const sysmonSetting = "schedtrace=2147483647"

// sysmonEnv returns env with GODEBUG extended by the sysmon setting, and
// false when GODEBUG already names schedtrace: the operator's value (for
// example schedtrace=0, Go's default) wins and nothing is re-executed.
func sysmonEnv(env []string) ([]string, bool) {
	out := make([]string, 0, len(env)+1)
	found := false
	for _, kv := range env {
		v, ok := strings.CutPrefix(kv, "GODEBUG=")
		if !ok {
			out = append(out, kv)
			continue
		}
		for _, s := range strings.Split(v, ",") {
			if name, _, _ := strings.Cut(strings.TrimSpace(s), "="); name == "schedtrace" {
				return env, false
			}
		}
		found = true
		if v == "" {
			out = append(out, "GODEBUG="+sysmonSetting)
		} else {
			out = append(out, "GODEBUG="+v+","+sysmonSetting)
		}
	}
	if !found {
		out = append(out, "GODEBUG="+sysmonSetting)
	}
	return out, true
}

// KeepSysmonAwake re-executes the running binary in place (same PID, same
// arguments, same open descriptors) with the sysmon setting added to
// GODEBUG, because the runtime reads GODEBUG only when a process starts.
// Call it first thing in main, only on the path that serves, never from
// tests of the serving code. It returns only when nothing was re-executed:
// nil when GODEBUG already names schedtrace (or on systems without
// /proc/self/exe), the exec error otherwise — the caller logs it and
// serves with Go's default.
func KeepSysmonAwake() error {
	env, ok := sysmonEnv(os.Environ())
	if !ok {
		return nil
	}
	return reexec(env)
}
