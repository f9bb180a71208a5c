package edge

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// rawOrigin is an origin on 127.0.0.1:0 that reads each request head and
// then does what answer says with the connection (write garbage, reset,
// stay silent). It stops at cleanup.
func rawOrigin(t *testing.T, answer func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	t.Cleanup(func() { close(done); ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 50 { // bounded: each case makes a few connections
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				br := bufio.NewReader(c)
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						return
					}
					if line == "\r\n" {
						break
					}
				}
				answer(c)
				select { // hold the connection open until the edge gives up or the test ends
				case <-done:
				case <-time.After(3 * time.Second):
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

// TestOriginErrorMapping: origin failures go through l7's error mapping
// (l7.UpstreamError) and are answered with CloudFront's error page; the
// access log names them as CloudFront's detailed result types.
func TestOriginErrorMapping(t *testing.T) {
	refused := func(t *testing.T) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		u := "http://" + ln.Addr().String()
		ln.Close()
		return u
	}
	for _, tc := range []struct {
		name   string
		origin func(t *testing.T) string
		status int
		detail string
	}{
		{"refused", refused, 502, "OriginConnectError"},
		{"reset", func(t *testing.T) string {
			return rawOrigin(t, func(c net.Conn) {
				_ = c.(*net.TCPConn).SetLinger(0)
				c.Close()
			})
		}, 502, "OriginCommError"},
		{"malformed", func(t *testing.T) string {
			return rawOrigin(t, func(c net.Conn) { _, _ = c.Write([]byte("SMTP ready, not HTTP\r\n\r\n")) })
		}, 502, "OriginInvalidResponseError"},
		{"header too big", func(t *testing.T) string {
			return rawOrigin(t, func(c net.Conn) {
				_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("b", 40<<10) + "\r\nContent-Length: 0\r\n\r\n"))
			})
		}, 502, "OriginHeaderTooBigError"},
		{"timeout", func(t *testing.T) string { return rawOrigin(t, func(net.Conn) {}) }, 504, "OriginCommError"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			yaml := strings.Replace(siteYAML(tc.origin(t), ""), "response_timeout: 2s", "response_timeout: 1s", 1)
			te := startEdge(t, yaml, edgeOpt{logFormat: "json"})
			start := time.Now()
			a := te.get(t, "/e")
			wantStatus(t, a, tc.status, "Error from edge")
			if d := time.Since(start); d > 4*time.Second {
				t.Fatalf("answered after %v", d)
			}
			if !strings.Contains(a.Body, "ERROR") || !strings.Contains(a.Body, a.Header.Get("X-Edge-Request-Id")) {
				t.Fatalf("not CloudFront's error page: %q", a.Body)
			}
			var rec map[string]any
			if err := json.Unmarshal([]byte(strings.TrimSpace(te.logs.String())), &rec); err != nil {
				t.Fatalf("%v: %q", err, te.logs.String())
			}
			if rec["x-edge-detailed-result-type"] != tc.detail || rec["x-edge-result-type"] != "Error" {
				t.Fatalf("logged %v / %v, want %s", rec["x-edge-result-type"], rec["x-edge-detailed-result-type"], tc.detail)
			}
		})
	}
}

// TestOriginStaleConnectionRetried: an origin that closes every keep-alive
// connection after one answer (without saying Connection: close) costs the
// viewer nothing: the pooled connection is found closed and the GET goes
// out again on a fresh one, for each request.
func TestOriginStaleConnectionRetried(t *testing.T) {
	var mu sync.Mutex
	conns := 0
	u := rawOrigin(t, func(c net.Conn) {
		mu.Lock()
		conns++
		mu.Unlock()
		_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\nCache-Control: no-store\r\nContent-Length: 2\r\n\r\nok"))
		c.Close()
	})
	te := startEdge(t, siteYAML(u, ""), edgeOpt{})
	for i := range 5 {
		a := te.get(t, "/again")
		if a.Status != 200 || a.Body != "ok" {
			t.Fatalf("request %d: %d %q", i, a.Status, a.Body)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if conns < 5 {
		t.Fatalf("origin saw %d connections for 5 requests", conns)
	}
}

// TestOriginAnswerWithoutContentType: an origin answer without
// Content-Type reaches the viewer, and the cache, without one — fasthttp
// reports text/plain for it, which edge used to store and send (and
// compress as text).
func TestOriginAnswerWithoutContentType(t *testing.T) {
	for _, answer := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nCache-Control: max-age=60\r\n\r\nok",
		"HTTP/1.0 200 OK\r\nCache-Control: max-age=60\r\n\r\nok", // body until close
	} {
		origin := rawOrigin(t, func(c net.Conn) {
			_, _ = io.WriteString(c, answer)
			if strings.HasPrefix(answer, "HTTP/1.0") {
				_ = c.Close()
			}
		})
		te := startEdge(t, siteYAML(origin, ""), edgeOpt{})
		for _, want := range []string{"Miss from edge", "Hit from edge"} {
			a := te.get(t, "/a", "Accept-Encoding", "gzip")
			if a.Status != 200 || a.Body != "ok" || a.Header.Get("X-Cache") != want {
				t.Fatalf("%q: got %d %q (X-Cache %q), want 200 \"ok\" %s", answer, a.Status, a.Body, a.Header.Get("X-Cache"), want)
			}
			if ct := a.Header.Values("Content-Type"); len(ct) != 0 {
				t.Errorf("%q (%s): Content-Type %q reached the viewer", answer, want, ct)
			}
			te.wait()
		}
	}
}
