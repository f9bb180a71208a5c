package runtime

import (
	"fmt"
	"os"
	"syscall"
)

// reexec replaces the process image with the same binary through
// /proc/self/exe, which names the running file even if it was replaced or
// removed on disk since the start (an upgrade in place).
func reexec(env []string) error {
	if err := syscall.Exec("/proc/self/exe", os.Args, env); err != nil {
		return fmt.Errorf("runtime: re-exec with GODEBUG=%s: %w", sysmonSetting, err)
	}
	return nil
}
