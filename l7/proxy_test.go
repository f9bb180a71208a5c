package l7

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/config"
)

func TestForwardSetsForwardedHeadersAndStripsHopByHop(t *testing.T) {
	be := newBackend(t, "a", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Set("X-Secret-Hop", "1")
		w.Header().Set("Connection", "X-Secret-Hop")
		w.Header().Set("X-Kept", "yes")
		_, _ = w.Write([]byte("hello"))
	})
	h := startLB(t, lbSetup{
		listener: config.Listener{Protocol: "HTTP", DefaultAction: fwd("web")},
		groups:   []config.TargetGroup{group("web", be.addr())},
	})
	st, hdr, body := h.get("/a/b?x=1", "Host", "App.Example.COM", "Connection", "X-Drop-Me", "X-Drop-Me", "v",
		"Keep-Alive", "timeout=1", "Proxy-Authorization", "x", "X-Forwarded-Proto", "forged")
	if st != 200 || body != "hello" {
		t.Fatalf("client got %d %q", st, body)
	}
	if hdr.Get("X-Kept") != "yes" || hdr.Get("X-Secret-Hop") != "" || hdr.Get("Keep-Alive") != "" {
		t.Errorf("response hop-by-hop not stripped: %v", hdr)
	}
	got := be.received()
	if len(got) != 1 {
		t.Fatalf("backend saw %d requests", len(got))
	}
	r := got[0]
	if r.URI != "/a/b?x=1" {
		t.Errorf("backend URI %q", r.URI)
	}
	_, port, _ := strings.Cut(h.addr, ":")
	if r.Host != "app.example.com:"+port {
		t.Errorf("backend Host %q, want lower-cased with listener port %s", r.Host, port)
	}
	for _, n := range []string{"X-Drop-Me", "Keep-Alive", "Proxy-Authorization"} {
		if v := r.Header.Get(n); v != "" {
			t.Errorf("backend received hop-by-hop %s: %q", n, v)
		}
	}
	if r.Header.Get("X-Forwarded-For") != "127.0.0.1" {
		t.Errorf("X-Forwarded-For %q", r.Header.Get("X-Forwarded-For"))
	}
	if r.Header.Get("X-Forwarded-Proto") != "http" || r.Header.Get("X-Forwarded-Port") != port {
		t.Errorf("X-Forwarded-Proto %q Port %q", r.Header.Get("X-Forwarded-Proto"), r.Header.Get("X-Forwarded-Port"))
	}
	if !regexp.MustCompile(`^Root=1-[0-9a-f]{8}-[0-9a-f]{24}$`).MatchString(r.Header.Get("X-Amzn-Trace-Id")) {
		t.Errorf("trace id %q", r.Header.Get("X-Amzn-Trace-Id"))
	}
	rec := h.obs.last(t)
	if rec.Status != 200 || rec.TargetStatus != 200 || rec.Target != be.addr() || rec.TargetGroup != "web" || rec.RulePriority != 0 {
		t.Errorf("record %+v", rec)
	}
	if rec.ConnID == 0 {
		t.Errorf("record without a connection id")
	}
	if string(rec.TraceID) != r.Header.Get("X-Amzn-Trace-Id") {
		t.Errorf("record trace %q", rec.TraceID)
	}
}

// TestResponseHopByHopEveryConnectionField: a target's answer with two
// Connection fields loses the fields each of them names, not only those
// the first names (fasthttp's Peek returns the first).
func TestResponseHopByHopEveryConnectionField(t *testing.T) {
	be := newBackend(t, "a", func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Connection"] = []string{"X-Hop-A", "X-Hop-B"}
		w.Header().Set("X-Hop-A", "1")
		w.Header().Set("X-Hop-B", "2")
		w.Header().Set("X-Kept", "yes")
		_, _ = w.Write([]byte("hello"))
	})
	h := startLB(t, lbSetup{
		listener: config.Listener{Protocol: "HTTP", DefaultAction: fwd("web")},
		groups:   []config.TargetGroup{group("web", be.addr())},
	})
	for range 2 { // a fresh and a pooled target connection
		st, hdr, body := h.get("/")
		if st != 200 || body != "hello" {
			t.Fatalf("client got %d %q", st, body)
		}
		if hdr.Get("X-Kept") != "yes" || hdr.Get("X-Hop-A") != "" || hdr.Get("X-Hop-B") != "" {
			t.Errorf("fields named by Connection reached the client: %v", hdr)
		}
	}
}

// TestBufferedBodiesDoNotBleedAcrossResponses: a buffered answer's body
// moves to the client's response by exchanging buffers with it; long and
// short bodies in turn, on the same client and target connections, each
// arrive exactly as sent.
func TestBufferedBodiesDoNotBleedAcrossResponses(t *testing.T) {
	be := newBackend(t, "a", func(w http.ResponseWriter, r *http.Request) {
		n := 3000
		if strings.HasPrefix(r.URL.Path, "/short") {
			n = 3
		}
		_, _ = w.Write([]byte(strings.Repeat(r.URL.Path[1:2], n)))
	})
	h := startLB(t, lbSetup{
		listener: config.Listener{Protocol: "HTTP", DefaultAction: fwd("web")},
		groups:   []config.TargetGroup{group("web", be.addr())},
	})
	for i := range 20 {
		path, want := "/long", strings.Repeat("l", 3000)
		if i%2 == 1 {
			path, want = "/short", "sss"
		}
		if st, _, body := h.get(path); st != 200 || body != want {
			t.Fatalf("request %d %s: %d, %d bytes %.20q", i, path, st, len(body), body)
		}
	}
}

// TestRequestTargetAsRouted: the target gets the canonical path routing
// saw plus the query, byte for byte as the outgoing request was built (the
// request target is written as set, never parsed and rebuilt).
func TestRequestTargetAsRouted(t *testing.T) {
	be := newBackend(t, "a", nil)
	h := startLB(t, lbSetup{listener: config.Listener{Protocol: "HTTP", DefaultAction: fwd("web")},
		groups: []config.TargetGroup{group("web", be.addr())}})
	for _, c := range []struct{ sent, want string }{
		{"/", "/"},
		{"/a/b?x=1", "/a/b?x=1"},
		{"/a//b/../c?q=%2F&x=a+b", "/a/c?q=%2F&x=a+b"},
		{"/%2e%2e/x", "/x"},
		{"/a%2Fb", "/a/b"},
		{"/caf%C3%A9?x=%20", "/caf%C3%A9?x=%20"},
		{"http://example.com/abs?y=2", "/abs?y=2"},
		{"/a?", "/a"},
		{"/./a/./b/", "/a/b/"},
		{"/a%20b", "/a%20b"},
		{"//x//y", "/x/y"},
	} {
		resp := h.raw("GET " + c.sent + " HTTP/1.1\r\nHost: h.example\r\nConnection: close\r\n\r\n")
		if st := rawStatus(t, resp); st != 200 {
			t.Fatalf("%s: status %d", c.sent, st)
		}
		r := be.received()
		if got := r[len(r)-1].URI; got != c.want {
			t.Errorf("%s reached the target as %q, want %q", c.sent, got, c.want)
		}
	}
}

// A target's answer without Content-Type gets none on the way (fasthttp
// would add text/plain), on either path, HTTP/1.1 or HTTP/1.0 (whose
// fields are copied one by one).
func TestTargetAnswerGainsNoContentType(t *testing.T) {
	for _, answer := range []string{
		"HTTP/1.1 200 OK\r\nDate: d\r\nContent-Length: 2\r\n\r\nhi",
		"HTTP/1.0 200 OK\r\nDate: d\r\n\r\nhi", // body until close
	} {
		addr := rawTarget(t, func(c net.Conn) {
			br := bufio.NewReader(c)
			for {
				if _, err := http.ReadRequest(br); err != nil {
					return
				}
				if _, err := io.WriteString(c, answer); err != nil || strings.HasPrefix(answer, "HTTP/1.0") {
					return
				}
			}
		})
		h := startLB(t, lbSetup{listener: config.Listener{Protocol: "HTTP", DefaultAction: fwd("web")},
			groups: []config.TargetGroup{group("web", addr)}})
		resp := h.raw("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
		if !strings.HasPrefix(resp, "HTTP/1.1 200 ") || strings.Contains(strings.ToLower(resp), "content-type") || !strings.Contains(resp, "hi") {
			t.Errorf("target answered %q; client got %q", answer, resp)
		}
	}
}

// Every copy of X-Forwarded-Proto, X-Forwarded-Port and X-Amzn-Trace-Id
// a client sends is replaced, not only the first: a second copy would
// reach the target beside lb's (a target reading the last one would take
// the client's word for the scheme or port).
func TestForwardReplacesEveryCopyOfForwardedFields(t *testing.T) {
	be := newBackend(t, "a", nil)
	h := startLB(t, lbSetup{listener: config.Listener{Protocol: "HTTP", DefaultAction: fwd("web")},
		groups: []config.TargetGroup{group("web", be.addr())}})
	resp := h.raw("GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Proto: https\r\n" +
		"X-Forwarded-Port: 1\r\nx-forwarded-port: 2\r\nX-Amzn-Trace-Id: Root=1-00000000-000000000000000000000001\r\n" +
		"X-Amzn-Trace-Id: Root=b\r\nConnection: close\r\n\r\n")
	if !strings.HasPrefix(resp, "HTTP/1.1 200 ") {
		t.Fatalf("answer %q", resp)
	}
	_, port, _ := strings.Cut(h.addr, ":")
	r := be.received()[0]
	if v := r.Header.Values("X-Forwarded-Proto"); len(v) != 1 || v[0] != "http" {
		t.Errorf("X-Forwarded-Proto %q, want [http]", v)
	}
	if v := r.Header.Values("X-Forwarded-Port"); len(v) != 1 || v[0] != port {
		t.Errorf("X-Forwarded-Port %q, want [%s]", v, port)
	}
	if v := r.Header.Values("X-Amzn-Trace-Id"); len(v) != 1 || !strings.HasPrefix(v[0], "Self=1-") ||
		!strings.HasSuffix(v[0], ";Root=1-00000000-000000000000000000000001") {
		t.Errorf("X-Amzn-Trace-Id %q, want one, Self= added to the first", v)
	}
}

// TestConnectionNamesAreBounded: every name a Connection field lists is
// removed from the forwarded request, up to maxConnectionNamesPerRequest
// names; a request listing more (each name is a pass over the fields to
// strip — thousands made one request cost tens of milliseconds) gets 400
// and never reaches a target.
func TestConnectionNamesAreBounded(t *testing.T) {
	be := newBackend(t, "a", nil)
	h := startLB(t, lbSetup{listener: config.Listener{Protocol: "HTTP", DefaultAction: fwd("web")},
		groups: []config.TargetGroup{group("web", be.addr())}})
	names := func(n int) string {
		var b strings.Builder
		for i := range n {
			switch {
			case i > 0 && i%2 == 0:
				b.WriteString(", ")
			case i > 0:
				b.WriteString(",")
			}
			fmt.Fprintf(&b, "x-n%d", i)
		}
		return b.String()
	}
	// At the bound, split over two fields: forwarded, the fields either
	// names gone.
	half := maxConnectionNamesPerRequest / 2
	resp := h.raw("GET /ok HTTP/1.1\r\nHost: a\r\nConnection: " + names(half) + "\r\nConnection: close, x-second, " +
		names(maxConnectionNamesPerRequest-half-2) + "\r\nX-Second: gone\r\nX-N0: gone\r\nX-Kept: k\r\n\r\n")
	if !strings.HasPrefix(resp, "HTTP/1.1 200 ") {
		t.Fatalf("at the bound: %q", resp)
	}
	r := be.received()[0]
	if r.Header.Get("X-Second") != "" || r.Header.Get("X-N0") != "" || r.Header.Get("X-Kept") != "k" {
		t.Fatalf("target saw %v", r.Header)
	}
	resp = h.raw("GET /many HTTP/1.1\r\nHost: a\r\nConnection: close, " + names(maxConnectionNamesPerRequest) + "\r\n\r\n")
	if !strings.HasPrefix(resp, "HTTP/1.1 400 ") {
		t.Fatalf("past the bound: %q", resp)
	}
	if n := be.count(); n != 1 {
		t.Fatalf("the target got %d requests, want 1", n)
	}
}
