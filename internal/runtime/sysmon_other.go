//go:build !linux

package runtime

// reexec does nothing where /proc/self/exe is not known to exist: the
// process serves with Go's default sysmon behaviour.
func reexec(env []string) error { return nil }
