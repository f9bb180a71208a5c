package cache

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// createBodyFile writes body to a new memfd and seals it: after the seals no
// write, truncate or growth is possible, so a page the kernel lends to a
// socket holds the bytes the entry was built from until it is sent.
func createBodyFile(body []byte) (*os.File, error) {
	fd, err := unix.MemfdCreate("switchyard-cache-body", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("cache: memfd_create: %w", err)
	}
	f := os.NewFile(uintptr(fd), "switchyard-cache-body")
	for off := 0; off < len(body); {
		n, err := unix.Pwrite(fd, body[off:], int64(off))
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("cache: write body file: %w", err)
		}
		off += n
	}
	const seals = unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != nil {
		f.Close()
		return nil, fmt.Errorf("cache: seal body file: %w", err)
	}
	return f, nil
}
