package cache

import (
	"os"
	"runtime"
	"sync/atomic"
)

// FileBodyOver is the body size above which an entry's body is also kept in
// a sealed in-memory file (Linux memfd), so that a hit can be sent with
// sendfile(2): the socket then takes references to the file's pages instead
// of the edge copying every byte of the answer into socket buffers. That copy
// was ~45 % of the edge's CPU on 256 KiB hits, and the part of it that a
// busy machine slows down most (bench/RESULTS.md, session 4). NGINX sends
// cache hits the same way, from its cache files. Smaller bodies are cheaper
// to copy than to send by reference.
const FileBodyOver = 128 << 10

// maxBodyFiles bounds the open body files of the process: each holds a file
// descriptor until its last entry is collected, and descriptors are shared
// with the viewer connections. Entries built while the bound is reached keep
// their body in memory only (served by copy).
const maxBodyFiles = 1024

// bodyFiles counts the open body files.
var bodyFiles atomic.Int64

// BodyFile is the sealed in-memory file holding an entry's body (a copy of
// Entry.Body, byte for byte). It is read-only (sealed against writes and
// size changes), shared by the entries made from one answer (a 304 refresh
// keeps it), and closed when the last of them is garbage: a send in flight
// holds it, so its descriptor never closes under a sendfile, and the pages
// a socket still references outlive the close.
type BodyFile struct {
	f  *os.File
	fd int
}

// Fd is the file's descriptor, valid while b is reachable: callers keep b
// alive (runtime.KeepAlive) across every use of the number.
func (b *BodyFile) Fd() int { return b.fd }

// newBodyFile returns a sealed file holding body, or nil when the platform
// has none, the bound is reached or the kernel refuses; the entry then keeps
// its body in memory only.
func newBodyFile(body []byte) *BodyFile {
	if len(body) <= FileBodyOver {
		return nil
	}
	if bodyFiles.Add(1) > maxBodyFiles {
		bodyFiles.Add(-1)
		return nil
	}
	f, err := createBodyFile(body)
	if err != nil {
		bodyFiles.Add(-1)
		return nil
	}
	b := &BodyFile{f: f, fd: int(f.Fd())}
	runtime.AddCleanup(b, func(f *os.File) {
		f.Close()
		bodyFiles.Add(-1)
	}, f)
	return b
}

// OpenBodyFiles is the number of body files open now (for tests and metrics).
func OpenBodyFiles() int64 { return bodyFiles.Load() }

// File returns the sealed file holding the entry's body, or nil when the
// body is in memory only (small bodies, non-Linux, the bound reached).
func (e *Entry) File() *BodyFile { return e.file }
