package edge

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

func TestBodyWriteSize(t *testing.T) {
	for _, c := range []struct{ mss, want int }{
		{0, 0}, {-1, 0},
		{65483, 65483}, // loopback: one segment per write
		{32768, 65536}, // a fresh loopback connection (half the first window)
		{1448, 45 * 1448},
		{536, 122 * 536},
		{70000, 70000}, // a segment larger than maxBodyWrite: one per write
	} {
		if got := bodyWriteSize(c.mss); got != c.want {
			t.Errorf("bodyWriteSize(%d) = %d, want %d", c.mss, got, c.want)
		}
	}
}

// TestViewerWriteBuffer keeps viewerWriteBuffer (where cachedBody.WriteTo
// expects fasthttp's first flush) equal to the servers' write buffer.
func TestViewerWriteBuffer(t *testing.T) {
	o := newOrigin(t, reply(200, "ok"))
	te := startEdge(t, siteYAML(o.URL, benchCfg), edgeOpt{})
	if s := te.e.NewServer(ListenerOptions{}); s.WriteBufferSize != viewerWriteBuffer {
		t.Fatalf("server write buffer %d, viewerWriteBuffer %d", s.WriteBufferSize, viewerWriteBuffer)
	}
}

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

// TestCachedBodyWritesWholeSegments writes a streamed 256 KiB body the way
// fasthttp's server does (Response.Write on the connection's 16 KiB
// bufio.Writer) and checks the writes the socket would see: the buffer
// (header and the body's first bytes), then whole segments, then the rest.
// It fails if a middle write leaves a short segment behind or the pieces
// are lost (one write of the rest, the stalling shape on BBR).
func TestCachedBodyWritesWholeSegments(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdefghijklmnopqrstuvwxyz"), (256<<10)/36+1)[:256<<10]
	for _, c := range []struct {
		name string
		mss  int
	}{{"loopback", 65483}, {"fresh loopback", 32768}, {"ethernet", 1448}, {"unknown", 0}} {
		t.Run(c.name, func(t *testing.T) {
			var rs fasthttp.Response
			rs.Header.Set("Content-Type", "application/octet-stream")
			rs.Header.Set("X-Cache", "Hit from edge")
			cb := cachedBodies.Get().(*cachedBody)
			cb.b, cb.rs, cb.piece = body, &rs, bodyWriteSize(c.mss)
			rs.SetBodyStream(cb, len(body))
			var wl writeLog
			bw := bufio.NewWriterSize(&wl, viewerWriteBuffer)
			if err := rs.Write(bw); err != nil {
				t.Fatal(err)
			}
			if err := bw.Flush(); err != nil {
				t.Fatal(err)
			}
			head := len(rs.Header.Header())
			if got := wl.buf.Bytes(); len(got) != head+len(body) || !bytes.Equal(got[head:], body) {
				t.Fatalf("wire: %d bytes, want %d header + %d body, body equal %v", len(got), head, len(body), bytes.Equal(got[min(head, len(got)):], body))
			}
			if wl.sizes[0] != viewerWriteBuffer {
				t.Fatalf("first write %d bytes, want the %d-byte buffer: %v", wl.sizes[0], viewerWriteBuffer, wl.sizes)
			}
			piece := bodyWriteSize(c.mss)
			if piece == 0 {
				if len(wl.sizes) != 2 {
					t.Fatalf("unknown MSS: writes %v, want the buffer and the rest", wl.sizes)
				}
				return
			}
			mid, last := wl.sizes[1:len(wl.sizes)-1], wl.sizes[len(wl.sizes)-1]
			if want := (head + len(body) - viewerWriteBuffer - 1) / piece; len(mid) != want {
				t.Fatalf("writes %v: %d whole-segment writes, want %d of %d", wl.sizes, len(mid), want, piece)
			}
			for _, n := range mid {
				if n != piece || n%c.mss != 0 {
					t.Fatalf("writes %v: a middle write of %d bytes is not %d (whole %d-byte segments)", wl.sizes, n, piece, c.mss)
				}
			}
			if last <= 0 || last > piece {
				t.Fatalf("writes %v: last write %d bytes", wl.sizes, last)
			}
		})
	}
}

// TestCachedBodyWriteAllocations: writing a streamed cached body allocates
// nothing (the pooled stream, fasthttp's buffers and the header are reused).
func TestCachedBodyWriteAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under -race")
	}
	body := bytes.Repeat([]byte("x"), 256<<10)
	var rs fasthttp.Response
	bw := bufio.NewWriterSize(io.Discard, viewerWriteBuffer)
	allocs := testing.AllocsPerRun(200, func() {
		rs.Header.Set("X-Cache", "Hit from edge")
		cb := cachedBodies.Get().(*cachedBody)
		cb.b, cb.rs, cb.piece = body, &rs, bodyWriteSize(65483)
		rs.SetBodyStream(cb, len(body))
		if err := rs.Write(bw); err != nil {
			t.Fatal(err)
		}
		rs.Reset()
	})
	if allocs > 0 {
		t.Fatalf("writing a 256 KiB cached body allocates %.1f times, want 0", allocs)
	}
}

// TestViewerSegmentSize: a listener from NewServer reads its viewer
// connections' MSS for large hits, remembers each connection without
// allocating per answer, and forgets it when the connection ends; the
// answers are whole and byte-exact over a keep-alive connection.
func TestViewerSegmentSize(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("TCP_MAXSEG is read on Linux")
	}
	body := strings.Repeat("abcdefghijklmnopqrstuvwxyz", (256<<10)/26+1)[:256<<10]
	o := newOrigin(t, reply(200, body, "Cache-Control", "max-age=600", "Content-Type", "application/octet-stream"))
	te := startEdge(t, siteYAML(o.URL, benchCfg), edgeOpt{})
	te.get(t, "/big")
	te.wait()

	srv, l := te.e.newServer(ListenerOptions{Name: "segments"})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln) //nolint:errcheck // ends at Shutdown
	t.Cleanup(func() { _ = srv.Shutdown() })

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	for i := range 3 {
		if _, err := io.WriteString(c, "GET /big HTTP/1.1\r\nHost: cdn.example.com\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		got, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil || res.Header.Get("X-Cache") != "Hit from edge" || string(got) != body {
			t.Fatalf("answer %d: %v, X-Cache %q, %d bytes, equal %v", i, err, res.Header.Get("X-Cache"), len(got), string(got) == body)
		}
	}
	if n := l.conns.tracked(); n != 1 {
		t.Fatalf("%d connections remembered after three large hits on one, want 1", n)
	}

	// The server side of the connection: its MSS is read without allocating.
	var server net.Conn
	l.conns.mu.Lock()
	for k := range l.conns.m {
		server = k
	}
	l.conns.mu.Unlock()
	if mss := l.conns.segmentSize(server); mss <= 0 || mss > 65535 {
		t.Fatalf("segment size %d", mss)
	}
	if !raceEnabled {
		if allocs := testing.AllocsPerRun(100, func() { l.conns.segmentSize(server) }); allocs > 0 {
			t.Fatalf("reading a known connection's MSS allocates %.1f times, want 0", allocs)
		}
	}

	c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for l.conns.tracked() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections still remembered after the viewer closed", l.conns.tracked())
		}
		time.Sleep(10 * time.Millisecond)
	}

	// A bare Handler keeps nothing (no hook would forget it).
	var bare viewerConns
	if mss := bare.segmentSize(server); mss != 0 || bare.tracked() != 0 {
		t.Fatalf("untracked listener: MSS %d, %d remembered", mss, bare.tracked())
	}
}
