package l7

import (
	"bufio"
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

var rawHeadCases = []struct {
	head string
	ok   bool
}{
	{"HTTP/1.1 200 OK\r\nDate: x\r\nContent-Length: 3\r\n\r\n", true},
	{"HTTP/1.1 200 OK\r\nServer: s\r\nDate: x\r\nContent-Type: text/plain\r\nContent-Length: 1024\r\n\r\n", true},
	{"HTTP/1.1 404 \r\nDate: x\r\ncontent-length:0\r\n\r\n", true},
	{"HTTP/1.1 200 OK\r\nDate: x\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 1\r\n\r\n", true},
	{"HTTP/1.1 200 OK\r\nDate: x\r\nConnection: close\r\nContent-Length: 1\r\n\r\n", true},
	{"HTTP/1.1 200 OK\r\nDate: x\r\nX-A: a\tb \r\nContent-Length: 1\r\n\r\n", true},
	{"HTTP/1.1 200 OK\r\nSet-Cookie: a=1; Path=/\r\nSet-Cookie: a=2\r\nDate: x\r\nContent-Length: 1\r\n\r\n", true},
	{"HTTP/1.0 200 OK\r\nDate: x\r\nContent-Length: 3\r\n\r\n", false},
	{"HTTP/1.1 100 Continue\r\n\r\n", false},
	{"HTTP/1.1 204 No Content\r\nDate: x\r\nContent-Length: 0\r\n\r\n", false},
	{"HTTP/1.1 304 Not Modified\r\nDate: x\r\nContent-Length: 0\r\n\r\n", false},
	{"HTTP/1.1 200 OK\r\nDate: x\r\n\r\n", false},                                           // unframed
	{"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", false},                                 // no Date
	{"HTTP/1.1 200 OK\r\nDate: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n", false}, // repeated
	{"HTTP/1.1 200 OK\r\nDate: x\r\nContent-Length: 3, 3\r\n\r\n", false},                   // list
	{"HTTP/1.1 200 OK\r\nDate: x\r\nContent-Length: +3\r\n\r\n", false},                     // sign
	{"HTTP/1.1 200 OK\r\nDate: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", false},
	{"HTTP/1.1 200 OK\r\nDate: x\r\nConnection: x-secret\r\nContent-Length: 1\r\n\r\n", false}, // names a field
	{"HTTP/1.1 200 OK\r\nDate: x\r\nUpgrade: h2c\r\nContent-Length: 1\r\n\r\n", false},
	{"HTTP/1.1 200 OK\r\nDate: x\r\nX-A : a\r\nContent-Length: 1\r\n\r\n", false},     // space before colon
	{"HTTP/1.1 200 OK\r\nDate: x\r\n folded\r\nContent-Length: 1\r\n\r\n", false},     // obs-fold
	{"HTTP/1.1 200 OK\r\nDate: x\nContent-Length: 1\r\n\r\n", false},                  // bare LF
	{"HTTP/1.1 200 OK\r\nDate: x\r\nX-A: a\x00b\r\nContent-Length: 1\r\n\r\n", false}, // NUL
	{"HTTP/1.1 200 OK\r\nDate: x\r\nX-A: a\rb\r\nContent-Length: 1\r\n\r\n", false},   // bare CR
	{"HTTP/1.1 2000 OK\r\nDate: x\r\nContent-Length: 1\r\n\r\n", false},
	{"HTTP/1.1 200 OK\r\nDate: x\r\nContent-Length: 1\r\n", false}, // no blank line
}

func TestScanRawHead(t *testing.T) {
	for _, tc := range rawHeadCases {
		var h rawHead
		if got := scanRawHead([]byte(tc.head), &h); got != tc.ok {
			t.Errorf("%q: accepted %v, want %v", tc.head, got, tc.ok)
		}
	}
	var h rawHead
	head := []byte("HTTP/1.1 200 OK\r\nA: 1\r\nConnection: keep-alive, close\r\nB: 2\r\nKeep-Alive: timeout=5\r\nDate: x\r\nContent-Length: 7\r\n\r\n")
	if !scanRawHead(head, &h) || h.status != 200 || h.cl != 7 || !h.close {
		t.Fatalf("scan: %+v", h)
	}
	if got := string(h.appendForwarded(nil, head)); got != "A: 1\r\nB: 2\r\nDate: x\r\nContent-Length: 7\r\n" {
		t.Fatalf("forwarded %q", got)
	}
	if n := testing.AllocsPerRun(100, func() { scanRawHead(head, &h) }); n != 0 {
		t.Fatalf("scan allocates %v", n)
	}
}

// checkRawHeadAgrees holds scanRawHead to fasthttp's parser: whatever it
// accepts, fasthttp reads with the same status, Content-Length and
// Connection: close, and the fields forwarded are the ones fasthttp's
// answer keeps (the parsed path strips the same hop-by-hop ones).
func checkRawHeadAgrees(t *testing.T, data []byte) {
	var h rawHead
	if !scanRawHead(data, &h) {
		return
	}
	var fh fasthttp.ResponseHeader
	if err := fh.Read(bufio.NewReader(bytes.NewReader(data))); err != nil {
		t.Fatalf("%q: raw path accepts, fasthttp refuses: %v", data, err)
	}
	if fh.StatusCode() != h.status || fh.ContentLength() != h.cl || fh.ConnectionClose() != h.close {
		t.Fatalf("%q: fasthttp status %d length %d close %v; raw %d %d %v", data,
			fh.StatusCode(), fh.ContentLength(), fh.ConnectionClose(), h.status, h.cl, h.close)
	}
	// As respond leaves the answer: no Content-Type invented.
	fh.SetNoDefaultContentType(true)
	var want, got []string
	for k, v := range fh.All() {
		if isHopByHop(k) {
			continue
		}
		want = append(want, strings.ToLower(string(k))+": "+string(v))
	}
	fwd := h.appendForwarded(nil, data)
	for line := range strings.SplitSeq(strings.TrimSuffix(string(fwd), "\r\n"), "\r\n") {
		k, v, _ := strings.Cut(line, ":")
		got = append(got, strings.ToLower(k)+": "+strings.Trim(v, " \t"))
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(want, got) {
		t.Fatalf("%q: fields differ\nfasthttp %q\nraw      %q", data, want, got)
	}
}

func TestRawHeadAgreesWithFasthttp(t *testing.T) {
	for _, tc := range rawHeadCases {
		checkRawHeadAgrees(t, []byte(tc.head))
	}
}

func FuzzRawHeadAgreesWithFasthttp(f *testing.F) {
	for _, tc := range rawHeadCases {
		f.Add([]byte(tc.head))
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkRawHeadAgrees(t, data) })
}
