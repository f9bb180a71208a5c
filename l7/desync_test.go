package l7

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/config"
)

// exchangeRaw writes a raw request, then a canary GET on the same
// connection, and returns the responses read (status codes) and whether
// the server closed the connection after the first.
func exchangeRaw(t *testing.T, addr, data string) (statuses []int, closed bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.WriteString(c, data); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, true
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	statuses = append(statuses, resp.StatusCode)
	if resp.Close {
		return statuses, true
	}
	if _, err := io.WriteString(c, "GET /canary HTTP/1.1\r\nHost: canary\r\n\r\n"); err != nil {
		return statuses, true
	}
	resp, err = http.ReadResponse(br, nil)
	if err != nil {
		return statuses, true
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return append(statuses, resp.StatusCode), false
}

func TestDesyncMitigation(t *testing.T) {
	type want struct {
		status    int  // first response
		forwarded bool // did the backend see it
		closed    bool // connection closed after it
	}
	cases := []struct {
		name, req                     string
		monitor, defensive, strictest want
	}{
		{"compliant POST",
			"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
			want{200, true, false}, want{200, true, false}, want{200, true, false}},
		{"CL and TE both (ambiguous)",
			"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG",
			want{200, true, true}, want{200, true, true}, want{400, false, true}},
		{"GET with a body (ambiguous)",
			"GET /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
			want{200, true, false}, want{200, true, true}, want{400, false, true}},
		{"GET with Content-Length: 0 (acceptable)",
			"GET /a HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
			want{200, true, false}, want{200, true, false}, want{400, false, true}},
		{"disguised Transfer_Encoding (ambiguous, never forwarded as a field)",
			"POST /a HTTP/1.1\r\nHost: x\r\nTransfer_Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc",
			want{200, true, false}, want{200, true, true}, want{400, false, true}},
		{"non-ASCII byte in a header value (acceptable)",
			"GET /a HTTP/1.1\r\nHost: x\r\nX-A: caf\xe9\r\n\r\n",
			want{200, true, false}, want{200, true, false}, want{400, false, true}},
		{"two different Content-Lengths",
			"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
			want{400, false, true}, want{400, false, true}, want{400, false, true}},
		{"Content-Length as a list",
			"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\nabc",
			want{400, false, true}, want{400, false, true}, want{400, false, true}},
		{"unknown transfer coding",
			"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
			want{501, false, true}, want{501, false, true}, want{501, false, true}},
		{"chunked twice",
			"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
			want{400, false, true}, want{400, false, true}, want{400, false, true}},
		{"chunked twice in one field",
			"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
			want{400, false, true}, want{400, false, true}, want{400, false, true}},
		{"HTTP/1.1 without Host",
			"GET /a HTTP/1.1\r\n\r\n",
			want{400, false, true}, want{400, false, true}, want{400, false, true}},
		{"control byte in a header value",
			"GET /a HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n",
			want{400, false, true}, want{400, false, true}, want{400, false, true}},
		{"NUL in a header value",
			"GET /a HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
			want{400, false, true}, want{400, false, true}, want{400, false, true}},
	}
	for _, mode := range []string{"monitor", "defensive", "strictest"} {
		t.Run(mode, func(t *testing.T) {
			be := newBackend(t, "a", nil)
			h := startLB(t, lbSetup{
				listener: config.Listener{Protocol: "HTTP", DesyncMitigation: mode, DefaultAction: fwd("web")},
				groups:   []config.TargetGroup{group("web", be.addr())},
			})
			for _, c := range cases {
				w := map[string]want{"monitor": c.monitor, "defensive": c.defensive, "strictest": c.strictest}[mode]
				before := be.count()
				sts, closed := exchangeRaw(t, h.addr, c.req)
				if len(sts) == 0 || sts[0] != w.status {
					t.Errorf("%s: statuses %v, want first %d", c.name, sts, w.status)
					continue
				}
				got := be.received()[before:]
				fwdFirst := len(got) > 0 && got[0].URI == "/a"
				if fwdFirst != w.forwarded {
					t.Errorf("%s: forwarded=%v, want %v", c.name, fwdFirst, w.forwarded)
				}
				if closed != w.closed {
					t.Errorf("%s: closed=%v, want %v (statuses %v)", c.name, closed, w.closed, sts)
				}
				for _, r := range got {
					if r.URI != "/a" && r.URI != "/canary" {
						t.Errorf("%s: backend saw a smuggled request %s %q", c.name, r.Method, r.URI)
					}
					if r.Header.Get("Transfer_Encoding") != "" {
						t.Errorf("%s: disguised TE reached the backend", c.name)
					}
				}
				if !closed && (len(sts) != 2 || sts[1] != 200) {
					t.Errorf("%s: canary statuses %v", c.name, sts)
				}
			}
		})
	}
}

func TestClassifyReasons(t *testing.T) {
	cases := []struct {
		req, class, reason string
	}{
		{"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "", ""},
		{"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", "Ambiguous", "BothTeClPresent"},
		{"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n", "Ambiguous", "UndefinedContentLengthSemantics"},
		{"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", "Acceptable", "GetHeadZeroContentLength"},
		{"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", "Ambiguous", "UndefinedTransferEncodingSemantics"},
		{"POST / HTTP/1.1\r\nHost: x\r\nContent_Length: 5\r\n\r\n", "Ambiguous", "SuspiciousHeader"},
		{"GET / HTTP/1.1\r\nHost: x\r\nX: caf\xe9\r\n\r\n", "Acceptable", "NonCompliantHeader"},
	}
	for _, c := range cases {
		var h fasthttpHeader
		if err := h.parse(c.req); err != nil {
			t.Fatalf("%q: %v", c.req, err)
		}
		v := classify(&h.RequestHeader, h.RawHeaders(), h.RequestURI())
		if v.class.String() != c.class || v.reason != c.reason {
			t.Errorf("%q: %s/%s, want %s/%s", c.req, v.class, v.reason, c.class, c.reason)
		}
	}
}

// TestValueBitsMatchesBytewise checks valueBits' eight-at-a-time test
// against the byte-by-byte table: every byte value at every position of
// a word and in the tail, in values of several lengths.
func TestValueBitsMatchesBytewise(t *testing.T) {
	want := func(b []byte) uint8 {
		var m uint8
		for _, c := range b {
			m |= valueByte[c]
		}
		return m
	}
	for _, n := range []int{1, 7, 8, 9, 16, 23} {
		for pos := range n {
			for c := range 256 {
				b := []byte(strings.Repeat("a", n))
				b[pos] = byte(c)
				if got, w := valueBits(b), want(b); got != w {
					t.Fatalf("valueBits(%q) = %b, want %b", b, got, w)
				}
			}
		}
	}
	for _, s := range []string{"", "text/html", "a\tb", "caf\xc3\xa9", "x\x7fy", "12345678\r", "abcdefgh\x00"} {
		if got, w := valueBits([]byte(s)), want([]byte(s)); got != w {
			t.Errorf("valueBits(%q) = %b, want %b", s, got, w)
		}
	}
}

// TestHeaderNameChecks checks the table token test and suspiciousName's
// early exits against their plain definitions.
func TestHeaderNameChecks(t *testing.T) {
	for c := range 256 {
		if got := allTokenChars([]byte{byte(c)}); got != isTokenChar(byte(c)) {
			t.Errorf("allTokenChars(%q) = %v", byte(c), got)
		}
	}
	plain := func(name string) bool {
		var letters []byte
		for _, c := range []byte(strings.ToLower(name)) {
			if c >= 'a' && c <= 'z' {
				letters = append(letters, c)
			}
		}
		s := string(letters)
		return len(letters) <= 24 && (s == "transferencoding" || s == "contentlength")
	}
	for _, n := range []string{"Transfer_Encoding", "Content-Length\x01", "content length", "-Content-Length", "1Transfer-Encoding",
		"Host", "Accept-Encoding", "Content-Type", "Transfer-Encodingx", "CONTENT_LENGTH", "Xcontent-length", "T-r-a-n-s-f-e-r-E-n-c-o-d-i-n-g",
		"Content-Lengt", "contentlengt", ""} {
		if got, w := suspiciousName([]byte(n)), plain(n); got != w {
			t.Errorf("suspiciousName(%q) = %v, want %v", n, got, w)
		}
	}
}

// TestClassifyFieldFacts checks the facts classify records for the
// forward path against the scans they replace: rawHasHopByHop, and a
// lookup of X-Forwarded-For by name.
func TestClassifyFieldFacts(t *testing.T) {
	for _, raw := range []string{
		"Host: a\r\nAccept: */*\r\n",
		"Host: a\r\nkeep-alive: 5\r\n",
		"Host: a\r\nCONNECTION: close\r\n",
		"Host: a\r\nExpect: 100-continue\r\n",
		"Host: a\r\nte: trailers\r\nX: y",
		"Host: a\r\nX-Upgrade: no\r\nTEX: y\r\n",
		"Proxy-Authorization: Basic x\r\n",
		"Host: a\r\nTransfer-Encoding: chunked\r\n",
		"Host: a\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n",
		"Host: a\r\nx-forwarded-for: 10.0.0.1\r\nUpgrade: websocket\r\n",
		"Host: a\r\nX-Forwarded-Forx: 1\r\nX-Forwarded-Fo: 2\r\n",
		"Host: a\r\n Connection: close\r\n",
		"Host: a\r\nX-Forwarded-For 1\r\n",
		string(browserHeaders),
		"Host: a\r\nx-amzn-trace-id: Root=1-x\r\n",
		"Host: a\r\nX-Amzn-Trace-Idx: 1\r\n",
	} {
		var h fasthttpHeader
		v := classify(&h.RequestHeader, []byte(raw), []byte("/"))
		if want := rawHasHopByHop([]byte(raw)); v.hopByHop != want {
			t.Errorf("classify(%q).hopByHop = %v, want %v", raw, v.hopByHop, want)
		}
		view := RequestView{RawHeaders: []byte(raw)}
		want := false
		for _, line := range strings.Split(raw, "\r\n") {
			name, _, ok := strings.Cut(line, ":")
			want = want || (ok && strings.EqualFold(name, "X-Forwarded-For"))
		}
		if v.xff != want {
			t.Errorf("classify(%q).xff = %v, want %v", raw, v.xff, want)
		}
		if got := view.Header("X-Forwarded-For", func([]byte) bool { return true }); got != want {
			t.Errorf("Header(%q, X-Forwarded-For) = %v, want %v", raw, got, want)
		}
		if want := view.Header("X-Amzn-Trace-Id", func([]byte) bool { return true }); v.trace != want {
			t.Errorf("classify(%q).trace = %v, want %v", raw, v.trace, want)
		}
		if view.Header("Upgrade", func([]byte) bool { return true }) && !v.hopByHop {
			t.Errorf("classify(%q): an Upgrade field without hopByHop", raw)
		}
	}
}
