package edge

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/testenv"
)

// bigBody is a 256 KiB body whose every 26 bytes differ from the next, so a
// byte sent from the wrong offset shows.
func bigBody() string {
	var sb strings.Builder
	for i := range 256 << 10 {
		sb.WriteByte(byte('a' + i%26 + (i/26)%3))
	}
	return sb.String()
}

// TestLargeHitSentByFile: a cached 256 KiB body goes to a plain TCP viewer
// by sendfile from its body file after the lead-in, whole and in order (a
// lead-in that left bytes in the write buffer would show as reordered
// bytes); a
// Range is sent from its offset; HEAD and GET alternate on one connection.
func TestLargeHitSentByFile(t *testing.T) {
	body := bigBody()
	o := newOrigin(t, reply(200, body, "Cache-Control", "max-age=600", "Content-Type", "application/octet-stream"))
	te := startEdge(t, siteYAML(o.URL, benchCfg), edgeOpt{})
	te.get(t, "/big")
	te.wait()
	before := sentSettled()
	a := te.get(t, "/big")
	if a.Header.Get("X-Cache") != "Hit from edge" || a.Body != body {
		t.Fatalf("hit: %q, %d bytes, equal %v", a.Header.Get("X-Cache"), len(a.Body), a.Body == body)
	}
	if got := sentSettled() - before; got != int64(len(body)-sendLeadIn) {
		t.Fatalf("%d of %d body bytes went by sendfile, want all but the %d written first", got, len(body), sendLeadIn)
	}
	before = sentSettled()
	r := te.get(t, "/big", "Range", "bytes=100000-250000")
	if r.Status != 206 || r.Body != body[100000:250001] {
		t.Fatalf("range: %d, %d bytes, equal %v", r.Status, len(r.Body), r.Body == body[100000:250001])
	}
	if got := sentSettled() - before; got != 150001-sendLeadIn {
		t.Fatalf("%d range bytes went by sendfile, want %d", got, 150001-sendLeadIn)
	}
	start := time.Now()
	for range 3 {
		h := te.do(t, "HEAD", "/big")
		if h.Status != 200 || h.Header.Get("Content-Length") != "262144" || h.Body != "" {
			t.Fatalf("head: %d, Content-Length %q, %d body bytes", h.Status, h.Header.Get("Content-Length"), len(h.Body))
		}
		if a := te.get(t, "/big"); a.Body != body {
			t.Fatalf("GET after HEAD: %d bytes", len(a.Body))
		}
	}
	// Six answers on keep-alive connections: a stalled one (a header left
	// unflushed, a socket left corked: ~200 ms each) would show here.
	if d := time.Since(start); d > time.Second {
		t.Fatalf("HEAD and GET answers took %v", d)
	}
}

// TestLargeHitSendfileSlowViewer: a viewer with a 4 KiB receive buffer that
// waits before reading makes sendfile hit a full socket again and again
// (EAGAIN, wait for room); every byte still arrives in order.
func TestLargeHitSendfileSlowViewer(t *testing.T) {
	body := bigBody()
	o := newOrigin(t, reply(200, body, "Cache-Control", "max-age=600"))
	te := startEdge(t, siteYAML(o.URL, benchCfg), edgeOpt{})
	te.get(t, "/big")
	te.wait()
	d := net.Dialer{Timeout: time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		if err != nil {
			return err
		}
		return serr
	}}
	c, err := d.Dial("tcp", te.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	before := sentSettled()
	if _, err := io.WriteString(c, "GET /big HTTP/1.1\r\nHost: example.com\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReaderSize(c, 1024)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got strings.Builder
	for {
		var p [1500]byte
		n, err := resp.Body.Read(p[:])
		got.Write(p[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("after %d bytes: %v", got.Len(), err)
		}
	}
	if resp.Header.Get("X-Cache") != "Hit from edge" || got.String() != body {
		t.Fatalf("slow viewer: %q, %d bytes, equal %v", resp.Header.Get("X-Cache"), got.Len(), got.String() == body)
	}
	if got := sentSettled() - before; got != int64(len(body)-sendLeadIn) {
		t.Fatalf("%d bytes of the slow viewer's answer went by sendfile, want %d", got, len(body)-sendLeadIn)
	}
}

// TestLargeHitTLSViewerCopies: a TLS viewer's answer must be encrypted, so
// it is written from memory (no sendfile), whole.
func TestLargeHitTLSViewerCopies(t *testing.T) {
	body := bigBody()
	o := newOrigin(t, reply(200, body, "Cache-Control", "max-age=600"))
	cert := testenv.SelfSigned(t, "127.0.0.1")
	te := startEdge(t, siteYAML(o.URL, benchCfg), edgeOpt{listener: func(ln net.Listener) net.Listener {
		return tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}})
	}})
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, DisableCompression: true}}
	defer c.CloseIdleConnections()
	fetch := func() (string, string) {
		resp, err := c.Get("https://" + te.addr + "/big")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Header.Get("X-Cache"), string(b)
	}
	fetch()
	te.wait()
	before := sentSettled()
	xc, got := fetch()
	if xc != "Hit from edge" || got != body {
		t.Fatalf("TLS hit: %q, %d bytes, equal %v", xc, len(got), got == body)
	}
	if n := sentSettled() - before; n != 0 {
		t.Fatalf("%d bytes of a TLS answer went by sendfile", n)
	}
}

// TestViewerWriteBufferSize: sendLeadIn assumes the viewer servers' write
// buffer is streamBodyOver bytes; a larger one could leave part of the
// lead-in buffered while sendfile writes behind it.
func TestViewerWriteBufferSize(t *testing.T) {
	te := startEdge(t, siteYAML(newOrigin(t, reply(200, "x")).URL, benchCfg), edgeOpt{})
	if got := te.e.NewServer(ListenerOptions{Name: "t"}).WriteBufferSize; got != streamBodyOver {
		t.Fatalf("viewer write buffer %d bytes, sendLeadIn assumes %d", got, streamBodyOver)
	}
}

// sentSettled reads sentFromFile once no send is adding to it: a viewer can
// have read a whole answer a moment before the edge's write returns and
// counts it.
func sentSettled() int64 {
	n := sentFromFile.Load()
	for range 100 {
		time.Sleep(20 * time.Millisecond)
		m := sentFromFile.Load()
		if m == n {
			return n
		}
		n = m
	}
	return n
}
