package l7

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/switchyard/config"
)

// Response-side framing faults (hardening §4.2): a target that answers
// with a body where none may be, or with garbage, never makes a later
// client receive those bytes as its response.
func TestResponseFramingFaults(t *testing.T) {
	cases := []struct {
		name, first string
		method      string
	}{
		{"body on HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nEVIL", "HEAD"},
		{"body on 204", "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nEVIL", "GET"},
		{"body on 304", "HTTP/1.1 304 Not Modified\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nEVIL", "GET"},
		{"repeated 100 Continue", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", "GET"},
		{"garbage", "\x00\x01garbage\r\n\r\n", "GET"},
		// RFC 9112 §6.3: Transfer-Encoding wins and Content-Length is dropped.
		{"CL and TE", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbody\r\n0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nEVIL", "GET"},
		{"obs-fold hiding Set-Cookie", "HTTP/1.1 200 OK\r\nX-A: a\r\n Set-Cookie: evil=1\r\nContent-Length: 2\r\n\r\nok", "GET"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			addr := rawTarget(t, func(conn net.Conn) {
				br := bufio.NewReader(conn)
				for i := 0; ; i++ {
					_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
					if _, err := http.ReadRequest(br); err != nil {
						return
					}
					if i == 0 {
						io.WriteString(conn, c.first)
						continue
					}
					io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ngood")
				}
			})
			h := startLB(t, lbSetup{listener: config.Listener{Protocol: "HTTP", DefaultAction: fwd("web")},
				groups: []config.TargetGroup{group("web", addr)}})
			req, _ := http.NewRequest(c.method, h.url("/first"), nil)
			resp, err := h.hc.Do(req)
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if strings.Contains(string(b), "EVIL") {
					t.Fatalf("first client got the smuggled body %q", b)
				}
				if resp.Header.Get("Set-Cookie") != "" {
					t.Fatalf("folded Set-Cookie surfaced: %q", resp.Header.Get("Set-Cookie"))
				}
			}
			for i := 0; i < 3; i++ {
				resp, err := h.hc.Get(h.url("/next"))
				if err != nil {
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(b) == "EVIL" {
					t.Fatalf("a later client received bytes the target sent after an earlier response")
				}
			}
		})
	}
}

// Bytes a target sends after a complete response, in a later segment while
// the connection sits in the pool, never become the next client's
// response: the reused connection is found poisoned before the request
// goes out, and the request goes on a fresh connection.
func TestLateUnsolicitedBytesNeverReachNextClient(t *testing.T) {
	sentEvil := make(chan struct{}, 1)
	poison := make(chan struct{})
	var served atomic.Int32
	addr := rawTarget(t, func(conn net.Conn) {
		br := bufio.NewReader(conn)
		for {
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			if served.Add(1) == 1 {
				io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				// Once the client has its answer, poison the idle connection.
				<-poison
				io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nEVIL")
				sentEvil <- struct{}{}
				continue
			}
			io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ngood")
		}
	})
	h := startLB(t, lbSetup{listener: config.Listener{Protocol: "HTTP", DefaultAction: fwd("web")},
		groups: []config.TargetGroup{group("web", addr)}})
	if _, _, body := h.get("/1"); body != "ok" {
		t.Fatalf("first: %q", body)
	}
	close(poison)
	select {
	case <-sentEvil:
	case <-time.After(5 * time.Second):
		t.Fatal("target never poisoned the connection")
	}
	// POST: not idempotent, so only a request that was never sent may move
	// to a fresh connection.
	req, _ := http.NewRequest("POST", h.url("/next"), strings.NewReader("x"))
	if st, _, body := h.do(req); st != 200 || body != "good" {
		t.Fatalf("next client got %d %q", st, body)
	}
}
