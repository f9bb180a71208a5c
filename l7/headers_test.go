package l7

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/switchyard/switchyard/config"
)

func TestXForwardedForModes(t *testing.T) {
	cases := []struct {
		mode     string
		port     bool
		incoming []string
		want     string // "" = absent
	}{
		{"append", false, nil, "127.0.0.1"},
		{"append", false, []string{"203.0.113.1"}, "203.0.113.1, 127.0.0.1"},
		{"append", false, []string{"203.0.113.1, 198.51.100.2"}, "203.0.113.1, 198.51.100.2, 127.0.0.1"},
		{"append", false, []string{"203.0.113.1", "198.51.100.2"}, "203.0.113.1, 198.51.100.2, 127.0.0.1"},
		{"append", true, []string{"203.0.113.1"}, "203.0.113.1, 127.0.0.1:"},
		{"preserve", false, nil, ""},
		{"preserve", true, []string{"203.0.113.1, 198.51.100.2"}, "203.0.113.1, 198.51.100.2"},
		{"remove", false, nil, ""},
		{"remove", true, []string{"203.0.113.1"}, ""},
	}
	for _, c := range cases {
		t.Run(c.mode, func(t *testing.T) {
			be := newBackend(t, "a", nil)
			h := startLB(t, lbSetup{
				listener: config.Listener{Protocol: "HTTP", XFF: c.mode, XFFClientPort: c.port, DefaultAction: fwd("web")},
				groups:   []config.TargetGroup{group("web", be.addr())},
			})
			var hdr []string
			for _, v := range c.incoming {
				hdr = append(hdr, "X-Forwarded-For", v)
			}
			if st, _, _ := h.get("/", hdr...); st != 200 {
				t.Fatalf("status %d", st)
			}
			got := strings.Join(be.received()[0].Header.Values("X-Forwarded-For"), ", ")
			if c.port && c.mode == "append" {
				if !regexp.MustCompile("^" + regexp.QuoteMeta(c.want) + `\d+$`).MatchString(got) {
					t.Fatalf("XFF %q, want %q<port>", got, c.want)
				}
				return
			}
			if got != c.want {
				t.Fatalf("XFF %q, want %q", got, c.want)
			}
		})
	}
}

func TestXFFClientPortIPv6Bracketed(t *testing.T) {
	v := &RequestView{Client: mustAddrPort("[2001:db8::1]:4242")}
	if got := string(appendXFF(nil, v, true)); got != "[2001:db8::1]:4242" {
		t.Fatalf("got %q", got)
	}
	if got := string(appendXFF(nil, v, false)); got != "2001:db8::1" {
		t.Fatalf("got %q", got)
	}
}

func TestTraceID(t *testing.T) {
	now := time.Unix(0x67891233, 0)
	root := regexp.MustCompile(`^Root=1-67891233-[0-9a-f]{24}$`)
	if got := string(appendTraceID(nil, nil, now)); !root.MatchString(got) {
		t.Fatalf("fresh trace id %q", got)
	}
	got := string(appendTraceID(nil, []byte("Root=1-5759e988-bd862e3fe1be46a994272793;CalledFrom=app"), now))
	if !regexp.MustCompile(`^Self=1-67891233-[0-9a-f]{24};Root=1-5759e988-bd862e3fe1be46a994272793;CalledFrom=app$`).MatchString(got) {
		t.Fatalf("with Root: %q", got)
	}
	got2 := string(appendTraceID(nil, []byte(got), now))
	if strings.Count(got2, "Self=") != 1 || !strings.Contains(got2, "Root=1-5759e988-bd862e3fe1be46a994272793") || got2 == got {
		t.Fatalf("Self not replaced: %q", got2)
	}
	if got := string(appendTraceID(nil, []byte("garbage"), now)); !root.MatchString(got) {
		t.Fatalf("without Root: %q", got)
	}

	be := newBackend(t, "a", nil)
	h := startLB(t, lbSetup{listener: config.Listener{Protocol: "HTTP", DefaultAction: fwd("web")}, groups: []config.TargetGroup{group("web", be.addr())}})
	h.get("/", "X-Amzn-Trace-Id", "Root=1-5759e988-bd862e3fe1be46a994272793")
	sent := be.received()[0].Header.Get("X-Amzn-Trace-Id")
	if !regexp.MustCompile(`^Self=1-[0-9a-f]{8}-[0-9a-f]{24};Root=1-5759e988-bd862e3fe1be46a994272793$`).MatchString(sent) {
		t.Fatalf("backend got trace %q", sent)
	}
	if rec := h.obs.last(t); string(rec.TraceID) != sent {
		t.Fatalf("record trace %q", rec.TraceID)
	}
}

func TestHostHeaderAsALB(t *testing.T) {
	v := &RequestView{Host: []byte("WWW.Example.com"), HostPort: []byte("8443"), ListenerPort: 443}
	if got := string(appendForwardHost(nil, v)); got != "www.example.com" {
		t.Fatalf("port 443 listener: %q", got)
	}
	v.ListenerPort = 8080
	if got := string(appendForwardHost(nil, v)); got != "www.example.com:8443" {
		t.Fatalf("explicit port kept: %q", got)
	}
	v.HostPort = nil
	if got := string(appendForwardHost(nil, v)); got != "www.example.com:8080" {
		t.Fatalf("listener port added: %q", got)
	}
}

func TestExpectContinue(t *testing.T) {
	be := newBackend(t, "a", nil)
	h := startLB(t, lbSetup{listener: config.Listener{Protocol: "HTTP", DefaultAction: fwd("web")}, groups: []config.TargetGroup{group("web", be.addr())}})
	h.hc.Transport.(*http.Transport).ExpectContinueTimeout = 5 * time.Second
	req, _ := http.NewRequest("POST", h.url("/up"), strings.NewReader("payload-123"))
	req.Header.Set("Expect", "100-continue")
	st, _, _ := h.do(req)
	if st != 200 {
		t.Fatalf("status %d", st)
	}
	got := be.received()[0]
	if got.Body != "payload-123" || got.Header.Get("Expect") != "" {
		t.Fatalf("backend got body %q Expect %q", got.Body, got.Header.Get("Expect"))
	}
}

// Header hygiene on the hot path (hop-by-hop stripping, X-Forwarded-*,
// trace id, Host) allocates nothing once its buffers are warm.
func TestHeaderHygieneAllocatesNothing(t *testing.T) {
	var in fasthttpHeader
	raw := "GET /a?b=1 HTTP/1.1\r\nHost: Www.Example.com\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: 5\r\n" +
		"X-Forwarded-For: 203.0.113.9\r\nX-Amzn-Trace-Id: Root=1-5759e988-bd862e3fe1be46a994272793\r\n\r\n"
	if err := in.parse(raw); err != nil {
		t.Fatal(err)
	}
	v := &RequestView{Host: []byte("Www.Example.com"), RawHeaders: in.RawHeaders(), Client: mustAddrPort("127.0.0.1:4000"), ListenerPort: 8080}
	var out fasthttpHeader
	var xff, trace, host []byte
	now := time.Now()
	run := func() {
		in.CopyTo(&out.RequestHeader)
		stripRequestHopByHop(&out.RequestHeader, in.RawHeaders())
		xff = appendXFF(xff[:0], v, true)
		out.SetBytesV("X-Forwarded-For", xff)
		trace = appendTraceID(trace[:0], in.Peek("X-Amzn-Trace-Id"), now)
		out.SetBytesV("X-Amzn-Trace-Id", trace)
		host = appendForwardHost(host[:0], v)
		out.SetHostBytes(host)
		countXFF(v)
	}
	run()
	if allocs := testing.AllocsPerRun(1000, run); allocs != 0 {
		t.Fatalf("header hygiene allocates %.1f per request", allocs)
	}
	if len(out.Peek("X-Hop")) != 0 || len(out.Peek("Keep-Alive")) != 0 {
		t.Fatalf("hop-by-hop left: %s", out.Header())
	}
}

func TestXFFFromIPv6Client(t *testing.T) {
	be := newBackend(t, "a", nil)
	h := startLB(t, lbSetup{listen: "[::1]:0",
		listener: config.Listener{Protocol: "HTTP", XFFClientPort: true, DefaultAction: fwd("web")},
		groups:   []config.TargetGroup{group("web", be.addr())}})
	if st, _, _ := h.get("/", "X-Forwarded-For", "203.0.113.1"); st != 200 {
		t.Fatalf("status %d", st)
	}
	got := be.received()[0].Header.Get("X-Forwarded-For")
	if !regexp.MustCompile(`^203\.0\.113\.1, \[::1\]:\d+$`).MatchString(got) {
		t.Fatalf("XFF %q, want the IPv6 client bracketed with its port", got)
	}
	if rec := h.obs.last(t); rec.Client.Addr().String() != "::1" {
		t.Fatalf("record client %v", rec.Client)
	}
}

// The one-pass presence checks that let the common request skip the Del
// calls must see every hop-by-hop field, in any case.
func TestHopByHopPresence(t *testing.T) {
	for raw, want := range map[string]bool{
		"Host: a\r\nAccept: */*\r\n":                   false,
		"Host: a\r\nkeep-alive: 5\r\n":                 true,
		"Host: a\r\nCONNECTION: close\r\n":             true,
		"Host: a\r\nExpect: 100-continue\r\n":          true,
		"Host: a\r\nte: trailers\r\nX: y":              true,
		"Host: a\r\nX-Upgrade: no\r\nTEX: y\r\n":       false,
		"Proxy-Authorization: Basic x\r\n":             true,
		"Host: a\r\nTransfer-Encoding: chunked\r\n":    true,
		"Host: a\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n": false,
	} {
		if got := rawHasHopByHop([]byte(raw)); got != want {
			t.Errorf("rawHasHopByHop(%q) = %v", raw, got)
		}
	}
	var h fasthttp.ResponseHeader
	h.Set("X-Keep", "1")
	if responseHasHopByHop(&h) {
		t.Fatal("plain response seen as hop-by-hop")
	}
	h.Set("Keep-Alive", "timeout=5")
	if !responseHasHopByHop(&h) {
		t.Fatal("Keep-Alive missed")
	}
}

// TestIsHopByHopMatchesList checks isHopByHop's length switch against the
// hopByHop list it stands for: every listed name in any case, and names of
// the same lengths that are not listed.
func TestIsHopByHopMatchesList(t *testing.T) {
	for _, n := range hopByHop {
		for _, v := range []string{n, strings.ToLower(n), strings.ToUpper(n)} {
			if !isHopByHop([]byte(v)) {
				t.Errorf("isHopByHop(%q) = false", v)
			}
		}
	}
	for _, v := range []string{"", "T", "TF", "Accept", "Upgrader", "Trailers", "Connectio", "Connectiom", "Keep-Alivf",
		"Proxy-Connectiom", "Transfer-Encodinf", "Proxy-Authenticatf", "Proxy-Authorizatiom", "Content-Length", "X-Upgrade"} {
		if isHopByHop([]byte(v)) {
			t.Errorf("isHopByHop(%q) = true", v)
		}
	}
}

// TestHeaderScans checks the header-block scans against the plain
// definitions: the first CRLF (not a bare CR or LF), the first byte.
func TestHeaderScans(t *testing.T) {
	for _, s := range []string{"", "\r", "\n", "a\rb\nc\r\n", "\r\r\n", "abc", "a: b\r\nc: d\r\n", strings.Repeat("x", 100) + "\r\n"} {
		want := strings.Index(s, "\r\n")
		if got := indexCRLF([]byte(s)); got != want {
			t.Errorf("indexCRLF(%q) = %d, want %d", s, got, want)
		}
		want = strings.IndexByte(s, ':')
		if got := indexByte([]byte(s), ':'); got != want {
			t.Errorf("indexByte(%q, ':') = %d, want %d", s, got, want)
		}
	}
}
