package l7

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/switchyard/switchyard/config"
)

func TestRequestSizeLimits(t *testing.T) {
	be := newBackend(t, "a", nil)
	h := startLB(t, lbSetup{listener: config.Listener{Protocol: "HTTP", DefaultAction: fwd("web")},
		groups: []config.TargetGroup{group("web", be.addr())}})
	cases := []struct {
		name, req string
		want      int
	}{
		{"request line over 16 KiB", "GET /" + strings.Repeat("a", 17<<10) + " HTTP/1.1\r\nHost: x\r\n\r\n", 414},
		{"one header over 16 KiB", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("b", 17<<10) + "\r\n\r\n", 431},
		{"header block over 64 KiB", "GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-Many: "+strings.Repeat("c", 1000)+"\r\n", 70) + "\r\n", 431},
		{"header block just under the limits", "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + strings.Repeat("X-Many: "+strings.Repeat("c", 1000)+"\r\n", 40) + "\r\n", 200},
	}
	for _, c := range cases {
		before := be.count()
		if got := rawStatus(t, h.raw(c.req)); got != c.want {
			t.Errorf("%s: status %d, want %d", c.name, got, c.want)
		}
		if forwarded := be.count() - before; (c.want == 200) != (forwarded == 1) {
			t.Errorf("%s: forwarded %d", c.name, forwarded)
		}
	}
}

func TestHeadChunkedAndHTTPSTargets(t *testing.T) {
	chunked := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "")
		if r.Method == "HEAD" {
			w.Header().Set("Content-Length", "12345")
			return
		}
		for i := 0; i < 5; i++ {
			fmt.Fprintf(w, "part%d;", i)
			w.(http.Flusher).Flush()
		}
	}
	plain := newBackend(t, "plain", chunked)
	secure := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "tls %v %s", r.TLS != nil, r.Header.Get("X-Forwarded-Proto"))
	}))
	t.Cleanup(secure.Close)
	tlsGroup := group("secure", secure.Listener.Addr().String())
	tlsGroup.Protocol = "HTTPS"
	h := startLB(t, lbSetup{listener: config.Listener{Protocol: "HTTP", DefaultAction: fwd("plain"), Rules: []config.Rule{
		{Priority: 1, Conditions: config.Conditions{Path: []string{"/tls"}}, Action: fwd("secure")}}},
		groups: []config.TargetGroup{group("plain", plain.addr()), tlsGroup}})

	resp, err := h.hc.Get(h.url("/chunked"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "part0;part1;part2;part3;part4;" || len(resp.TransferEncoding) == 0 {
		t.Fatalf("chunked response: %q, transfer-encoding %v", b, resp.TransferEncoding)
	}
	req, _ := http.NewRequest("HEAD", h.url("/head"), nil)
	resp, err = h.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ContentLength != 12345 {
		t.Fatalf("HEAD: %d, Content-Length %d, want 12345", resp.StatusCode, resp.ContentLength)
	}
	if st, _, body := h.get("/tls"); st != 200 || body != "tls true http" {
		t.Fatalf("HTTPS target: %d %q", st, body)
	}
}

func TestHTTP10WithoutHostGetsListenerHost(t *testing.T) {
	be := newBackend(t, "a", nil)
	h := startLB(t, lbSetup{listener: config.Listener{Protocol: "HTTP", DefaultAction: fwd("web")},
		groups: []config.TargetGroup{group("web", be.addr())}})
	if st := rawStatus(t, h.raw("GET /old HTTP/1.0\r\n\r\n")); st != 200 {
		t.Fatalf("status %d", st)
	}
	if got := be.received()[0].Host; got != h.addr {
		t.Fatalf("backend Host %q, want the listener address %q", got, h.addr)
	}
}

func TestResponseBodyUntilClose(t *testing.T) {
	for _, head := range []string{"HTTP/1.0 200 OK\r\n\r\n", "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"} {
		addr := rawTarget(t, func(c net.Conn) {
			readRequestHead(c)
			io.WriteString(c, head+strings.Repeat("z", 200<<10))
		})
		h := startLB(t, lbSetup{listener: config.Listener{Protocol: "HTTP", DefaultAction: fwd("web")},
			groups: []config.TargetGroup{group("web", addr)}})
		for i := 0; i < 2; i++ {
			st, _, body := h.get("/")
			if st != 200 || len(body) != 200<<10 {
				t.Fatalf("%q: request %d: %d, %d bytes", head, i, st, len(body))
			}
		}
	}
}

func TestHTTP10ClientGetsUnchunkedBody(t *testing.T) {
	be := newBackend(t, "a", func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i < 50; i++ { // chunked, 200 KiB
			w.Write([]byte(strings.Repeat("q", 4<<10)))
			w.(http.Flusher).Flush()
		}
	})
	h := startLB(t, lbSetup{listener: config.Listener{Protocol: "HTTP", DefaultAction: fwd("web")},
		groups: []config.TargetGroup{group("web", be.addr())}})
	out := h.raw("GET / HTTP/1.0\r\nHost: x\r\n\r\n")
	head, body, ok := strings.Cut(out, "\r\n\r\n")
	if !ok || !strings.HasPrefix(head, "HTTP/1.") || strings.Contains(strings.ToLower(head), "transfer-encoding") {
		t.Fatalf("head %q", head)
	}
	if body != strings.Repeat("q", 200<<10) {
		t.Fatalf("body of %d bytes, want 200 KiB of q", len(body))
	}
	rec := waitRecord(t, h.obs, func(r Record) bool { return r.Status == 200 })
	if rec.SentBytes < 200<<10 {
		t.Fatalf("sent bytes %d", rec.SentBytes)
	}
}

func TestHTTPSTargetKeepAlive(t *testing.T) {
	var conns atomic.Int32
	secure := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "s")
	}))
	secure.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	secure.StartTLS()
	t.Cleanup(secure.Close)
	g := group("secure", secure.Listener.Addr().String())
	g.Protocol = "HTTPS"
	h := startLB(t, lbSetup{listener: config.Listener{Protocol: "HTTP", DefaultAction: fwd("secure")}, groups: []config.TargetGroup{g}})
	for i := 0; i < 20; i++ {
		if st, _, body := h.get("/"); st != 200 || body != "s" {
			t.Fatalf("request %d: %d %q", i, st, body)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d TLS connections for 20 sequential requests, want 1 reused", n)
	}
}
