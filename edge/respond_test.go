package edge

import (
	"bufio"
	"bytes"
	"testing"

	"github.com/valyala/fasthttp"
)

// writeLog records the size of every write fasthttp's buffered writer
// makes to the connection.
type writeLog struct {
	sizes []int
	buf   bytes.Buffer
}

func (w *writeLog) Write(p []byte) (int, error) {
	w.sizes = append(w.sizes, len(p))
	return w.buf.Write(p)
}

// TestCachedBodyWriteShape writes a streamed 256 KiB cached body the way
// fasthttp's server does (Response.Write on the connection's 16 KiB
// bufio.Writer) and checks what the socket would see: exactly two writes,
// the full buffer (header and the body's first bytes) then the rest, and
// every byte in order. It fails if the body goes back to one writev with
// the header (the ~40 ms stalls on BBR, setCachedBody), or is cut into
// more writes (docs/edge.md: whole-segment pieces cost CPU at saturation).
func TestCachedBodyWriteShape(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdefghijklmnopqrstuvwxyz"), (256<<10)/36+1)[:256<<10]
	var rs fasthttp.Response
	rs.Header.Set("Content-Type", "application/octet-stream")
	rs.Header.Set("X-Cache", "Hit from edge")
	setCachedBody(&rs, body, nil, 0, nil, true)
	if !rs.IsBodyStream() {
		t.Fatal("a 256 KiB cached body is not streamed")
	}
	var wl writeLog
	bw := bufio.NewWriterSize(&wl, 16<<10)
	if err := rs.Write(bw); err != nil {
		t.Fatal(err)
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	head := len(rs.Header.Header())
	if got := wl.buf.Bytes(); len(got) != head+len(body) || !bytes.Equal(got[head:], body) {
		t.Fatalf("wire: %d bytes, want %d header + %d body", len(got), head, len(body))
	}
	if len(wl.sizes) != 2 || wl.sizes[0] != 16<<10 {
		t.Fatalf("writes %v, want the 16 KiB buffer then the rest", wl.sizes)
	}
}
