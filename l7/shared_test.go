package l7

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/switchyard/switchyard/config"
)

func TestSharedHopByHop(t *testing.T) {
	for _, tc := range []struct {
		name, conn string
		want       bool
	}{
		{"Connection", "", true}, {"keep-alive", "", true}, {"TRANSFER-ENCODING", "", true}, {"te", "", true},
		{"Upgrade", "", true}, {"Proxy-Authorization", "", true}, {"Trailer", "", true},
		{"X-Foo", "", false}, {"X-Foo", "keep-alive, x-foo", true}, {"x-foo", " X-Foo ,", true},
		{"X-Foo", "x-foobar", false}, {"Content-Type", "close", false}, {"Expect", "", false},
	} {
		if got := HopByHop([]byte(tc.name), []byte(tc.conn)); got != tc.want {
			t.Errorf("HopByHop(%q, %q) = %v, want %v", tc.name, tc.conn, got, tc.want)
		}
	}
	name, conn := []byte("X-Secret"), []byte("close, X-Secret")
	if n := testing.AllocsPerRun(100, func() { HopByHop(name, conn) }); n != 0 {
		t.Fatalf("HopByHop allocates %v times", n)
	}
}

func TestSharedUpstreamError(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	for _, tc := range []struct {
		name   string
		err    error
		status int
		reason string
	}{
		{"refused", DialError(refused), 502, ReasonConnectRefused},
		{"connect timeout", DialError(fasthttp.ErrDialTimeout), 504, ReasonConnectTimeout},
		{"response timeout", fasthttp.ErrTimeout, 504, ReasonResponseTimeout},
		{"reset", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, 502, ReasonReset},
		{"early close", fasthttp.ErrConnectionClosed, 502, ReasonReset},
		{"truncated", io.ErrUnexpectedEOF, 502, ReasonReset},
		{"malformed", errors.New("cannot find whitespace in the first line of response"), 502, ReasonMalformedResponse},
		{"pool full", fasthttp.ErrNoFreeConns, 503, "TargetPoolExhausted"},
	} {
		e := UpstreamError(tc.err)
		if e == nil || e.Status != tc.status || e.Reason != tc.reason || e.Side != SideUpstream || !errors.Is(e, tc.err) {
			t.Errorf("%s: UpstreamError = %+v, want %d %s wrapping the cause", tc.name, e, tc.status, tc.reason)
		}
	}
	if UpstreamError(nil) != nil || DialError(nil) != nil {
		t.Fatal("nil error mapped to an error")
	}
	own := &Error{Side: SideUpstream, Status: 502, Reason: "Mine"}
	if UpstreamError(own) != own {
		t.Fatal("an *Error was not returned as it is")
	}
}

func TestSharedPathPattern(t *testing.T) {
	long := "/" + strings.Repeat("a", 126) + "*" + strings.Repeat("b", 100) + "?.jpg" // 233 bytes, '*' at 127
	for _, tc := range []struct {
		p, s string
		want bool
	}{
		{"/images/*.jpg", "/images/a/b.jpg", true}, {"/images/*.jpg", "/images/a.JPG", false},
		{"*.doc?", "/a.docx", true}, {"*.doc?", "/a.doc", false}, {"*.doc*", "/a.doc", true},
		{"/a", "/a", true}, {"/a", "/ab", false}, {"/a", "/A", false}, {"*", "", true},
		{"/**/x", "/x", false}, {"/**/x", "//x", true}, {`/a\*`, `/a\zz`, true}, {`/a\*`, `/a*`, false},
		{long, "/" + strings.Repeat("a", 126) + "XYZ/" + strings.Repeat("b", 100) + "1.jpg", true},
		{long, "/" + strings.Repeat("a", 126) + strings.Repeat("b", 100) + ".jpg", false},
		{strings.Repeat("x", 200), strings.Repeat("x", 200), true},
		{strings.Repeat("x", 200), strings.Repeat("x", 199), false},
	} {
		p, err := CompilePathPattern(tc.p)
		if err != nil {
			t.Fatalf("compile %q: %v", tc.p, err)
		}
		if got := p.Match([]byte(tc.s)); got != tc.want {
			t.Errorf("match(%q, %q) = %v, want %v", tc.p, tc.s, got, tc.want)
		}
		if p.String() != tc.p {
			t.Errorf("String() = %q, want %q", p.String(), tc.p)
		}
	}
	for _, bad := range []string{"", strings.Repeat("a", MaxPathPatternLen+1), "/a\x01"} {
		if _, err := CompilePathPattern(bad); err == nil {
			t.Errorf("compile %q: no error", bad)
		}
	}
	p, _ := CompilePathPattern("/img/*/x?.jpg")
	path := []byte("/img/a/b/c/x1.jpg")
	if n := testing.AllocsPerRun(100, func() { p.Match(path) }); n != 0 {
		t.Fatalf("Match allocates %v times", n)
	}
}

// TestSharedTransportClient: Client hands out one pool per address; Do
// over it reaches the server, a silent server is a response timeout
// (per read, 504) and a closed port a connect error (502), as lb maps them.
func TestSharedTransportClient(t *testing.T) {
	release := make(chan struct{})
	b := newBackend(t, "shared", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/silent" {
			select {
			case <-release:
			case <-time.After(5 * time.Second):
			}
		}
		_, _ = io.WriteString(w, "shared:"+r.Header.Get("X-Test"))
	})
	t.Cleanup(func() { close(release) })
	tr := NewTransport(TransportOptions{ResponseTimeout: 300 * time.Millisecond, ConnectTimeout: time.Second})
	t.Cleanup(tr.CloseIdleConnections)
	c := tr.Client(b.addr(), false)
	if c != tr.Client(b.addr(), false) || c == tr.Client(b.addr(), true) {
		t.Fatal("Client does not hand out one pool per address and scheme")
	}
	do := func(c *fasthttp.HostClient, path string) (int, string, error) {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI("http://" + b.addr() + path)
		req.Header.Set("X-Test", "1")
		err := c.Do(req, resp)
		return resp.StatusCode(), string(resp.Body()), err
	}
	for range 2 {
		if st, body, err := do(c, "/ok"); err != nil || st != 200 || body != "shared:1" {
			t.Fatalf("Do: %d %q %v", st, body, err)
		}
	}
	start := time.Now()
	_, _, err := do(c, "/silent")
	if e := UpstreamError(err); e == nil || e.Status != 504 || e.Reason != ReasonResponseTimeout {
		t.Fatalf("silent server: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("response timeout after %v", d)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	_, _, err = do(tr.Client(closed, false), "/")
	if e := UpstreamError(err); e == nil || e.Status != 502 || e.Reason != ReasonConnectRefused || !e.Retryable {
		t.Fatalf("closed port: %v", err)
	}
	if n := b.count(); n != 3 {
		t.Fatalf("server saw %d requests, want 3", n)
	}
}

// TestSharedServerLimitsMatchNewServer: ApplyServerLimits sets what
// lb's NewServer sets for the same listener, field by field, so the two
// binaries cannot drift apart while NewServer keeps its own copy.
func TestSharedServerLimitsMatchNewServer(t *testing.T) {
	for _, tc := range []struct {
		idle time.Duration
		o    ServerOptions
		l    ServerLimits
	}{
		{0, ServerOptions{}, ServerLimits{}},
		{5 * time.Second, ServerOptions{ReadTimeout: 20 * time.Second, MaxHeaderBytes: 8 << 10, Concurrency: 99},
			ServerLimits{IdleTimeout: 5 * time.Second, ReadTimeout: 20 * time.Second, MaxHeaderBytes: 8 << 10, Concurrency: 99}},
	} {
		lc := config.Listener{Name: "x", Protocol: "HTTP", IdleTimeout: config.Duration(tc.idle), DefaultAction: fixed("x")}
		r, err := NewRouter(lc, nil, RouterOptions{})
		if err != nil {
			t.Fatal(err)
		}
		tc.o.Listener = lc
		s, err := NewServer(r, tc.o)
		if err != nil {
			t.Fatal(err)
		}
		var got fasthttp.Server
		ApplyServerLimits(&got, tc.l)
		want := s.fs
		type field struct {
			name      string
			got, want any
		}
		for _, f := range []field{
			{"Name", got.Name, want.Name}, {"Concurrency", got.Concurrency, want.Concurrency},
			{"ReadBufferSize", got.ReadBufferSize, want.ReadBufferSize}, {"WriteBufferSize", got.WriteBufferSize, want.WriteBufferSize},
			{"ReadTimeout", got.ReadTimeout, want.ReadTimeout}, {"WriteTimeout", got.WriteTimeout, want.WriteTimeout},
			{"IdleTimeout", got.IdleTimeout, want.IdleTimeout}, {"MaxRequestBodySize", got.MaxRequestBodySize, want.MaxRequestBodySize},
			{"DisablePreParseMultipartForm", got.DisablePreParseMultipartForm, want.DisablePreParseMultipartForm},
			{"NoDefaultServerHeader", got.NoDefaultServerHeader, want.NoDefaultServerHeader},
			{"NoDefaultContentType", got.NoDefaultContentType, want.NoDefaultContentType},
			{"NoDefaultDate", got.NoDefaultDate, want.NoDefaultDate}, {"CloseOnShutdown", got.CloseOnShutdown, want.CloseOnShutdown},
		} {
			if f.got != f.want {
				t.Errorf("idle %v: %s = %v, NewServer sets %v", tc.idle, f.name, f.got, f.want)
			}
		}
	}
}

// BenchmarkPathPatternMatch: a CloudFront-style behaviour list walked for
// one path (three misses, then a hit).
func BenchmarkPathPatternMatch(b *testing.B) {
	var pats []PathPattern
	for _, s := range []string{"/api/v?/*", "*.php", "/static/exact.css", "/img/*.jpg"} {
		p, err := CompilePathPattern(s)
		if err != nil {
			b.Fatal(err)
		}
		pats = append(pats, p)
	}
	path := []byte("/img/2026/11/26/some-long-name.jpg")
	b.ReportAllocs()
	for b.Loop() {
		for i := range pats {
			if pats[i].Match(path) {
				break
			}
		}
	}
}
