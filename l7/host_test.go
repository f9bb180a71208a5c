package l7

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/switchyard/switchyard/config"
)

// headTarget is a raw target that records each request head it reads and
// answers 200: unlike a net/http backend, it takes whatever lb sends, so
// a test sees a malformed request that would have been forwarded.
type headTarget struct {
	addr  string
	mu    sync.Mutex
	heads []string
}

func newHeadTarget(t *testing.T) *headTarget {
	ht := &headTarget{}
	ht.addr = rawTarget(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			var head strings.Builder
			for {
				l, err := br.ReadString('\n')
				if err != nil {
					return
				}
				head.WriteString(l)
				if l == "\r\n" {
					break
				}
			}
			ht.mu.Lock()
			ht.heads = append(ht.heads, head.String())
			ht.mu.Unlock()
			if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"); err != nil {
				return
			}
		}
	})
	return ht
}

func (ht *headTarget) count() int {
	ht.mu.Lock()
	defer ht.mu.Unlock()
	return len(ht.heads)
}

// since returns the request line and the Host value of each head read
// after the first n.
func (ht *headTarget) since(n int) (lines, hosts []string) {
	ht.mu.Lock()
	defer ht.mu.Unlock()
	for _, h := range ht.heads[n:] {
		first, rest, _ := strings.Cut(h, "\r\n")
		lines = append(lines, first)
		for l := range strings.SplitSeq(rest, "\r\n") {
			if v, ok := strings.CutPrefix(l, "Host: "); ok {
				hosts = append(hosts, v)
			}
		}
	}
	return lines, hosts
}

// TestInvalidHostIsRefused: a Host field or an absolute-form authority
// that is not a host (with an optional port) gets 400 and reaches no
// target; fasthttp's URI parse would otherwise drop the path ("Host: a/b"
// forwarded GET / for GET /a), route on the part after '@', or decode %XX
// into the Host it forwards. Valid hosts pass with the path intact.
func TestInvalidHostIsRefused(t *testing.T) {
	ht := newHeadTarget(t)
	h := startLB(t, lbSetup{listener: config.Listener{Protocol: "HTTP", DefaultAction: fwd("web")},
		groups: []config.TargetGroup{group("web", ht.addr)}})
	_, port, _ := strings.Cut(h.addr, ":") // lb adds its listener port, as ALB does
	bad := []string{
		"Host: a/b", "Host: a b", "Host: a\"b", "Host: a:1:2", "Host: a@b", "Host: :80", "Host: a%2eb",
		"Host: a\x80b", "Host: a:80x", "Host: a:123456", "Host: [::1", "Host: []", "Host: [::1]x", "Host: [g::1]",
		"Host: a\\b", "Host: a?b", "Host: a#b",
	}
	for _, f := range bad {
		req := "GET /a HTTP/1.1\r\n" + f + "\r\n\r\n"
		before := ht.count()
		sts, closed := exchangeRaw(t, h.addr, req)
		if len(sts) != 1 || sts[0] != 400 || !closed {
			t.Errorf("%q: statuses %v closed %v, want 400 and close", f, sts, closed)
		}
		if lines, _ := ht.since(before); len(lines) > 0 {
			t.Errorf("%q reached the target as %q", f, lines)
		}
	}
	for _, target := range []string{"http://a%80b/a", "http://a%2fb/a", "http://u@a.test/a", "http://a.test:%20/a", "http://a.test:80x/a"} {
		req := "GET " + target + " HTTP/1.1\r\nHost: b.test\r\n\r\n"
		before := ht.count()
		if sts, _ := exchangeRaw(t, h.addr, req); len(sts) != 1 || sts[0] != 400 {
			t.Errorf("%q: statuses %v, want 400", target, sts)
		}
		if lines, _ := ht.since(before); len(lines) > 0 {
			t.Errorf("%q reached the target as %q", target, lines)
		}
	}
	good := []struct{ req, line, host string }{
		{"GET /a HTTP/1.1\r\nHost: A.Example.COM:8080\r\n\r\n", "GET /a HTTP/1.1", "a.example.com:8080"},
		{"GET /a HTTP/1.1\r\nHost: a_b.test.\r\n\r\n", "GET /a HTTP/1.1", "a_b.test.:" + port},
		{"GET /a HTTP/1.1\r\nHost: [::1]:80\r\n\r\n", "GET /a HTTP/1.1", "[::1]:80"},
		{"GET /a HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", "GET /a HTTP/1.1", "127.0.0.1:" + port},
		{"GET /a?q=1 HTTP/1.1\r\nHost: x-y~z!$&'()*+,;=\r\n\r\n", "GET /a?q=1 HTTP/1.1", "x-y~z!$&'()*+,;=:" + port},
		{"GET http://a.test/a HTTP/1.1\r\nHost: b.test\r\n\r\n", "GET /a HTTP/1.1", "a.test:" + port},
	}
	for _, g := range good {
		before := ht.count()
		sts, _ := exchangeRaw(t, h.addr, g.req)
		lines, hosts := ht.since(before)
		if len(sts) == 0 || sts[0] != 200 || len(lines) == 0 || lines[0] != g.line || len(hosts) == 0 || hosts[0] != g.host {
			t.Errorf("%q: statuses %v, target saw %q with Host %q; want %q, Host %q", g.req, sts, lines, hosts, g.line, g.host)
		}
	}
}

// TestRequestTargetForms: the request-target forms fasthttp would rewrite
// into another request are answered by lb and reach no target: the
// asterisk form (OPTIONS * went out as OPTIONS /%2A) with 400, CONNECT's
// authority form (CONNECT h:443 went out as CONNECT /h:443) with 405.
func TestRequestTargetForms(t *testing.T) {
	ht := newHeadTarget(t)
	h := startLB(t, lbSetup{listener: config.Listener{Protocol: "HTTP", DefaultAction: fwd("web")},
		groups: []config.TargetGroup{group("web", ht.addr)}})
	for _, c := range []struct {
		req    string
		status int
	}{
		{"OPTIONS * HTTP/1.1\r\nHost: a.test\r\n\r\n", 400},
		{"CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\r\n", 405},
	} {
		before := ht.count()
		sts, _ := exchangeRaw(t, h.addr, c.req)
		if len(sts) == 0 || sts[0] != c.status {
			t.Errorf("%q: statuses %v, want %d", c.req, sts, c.status)
		}
		if lines, _ := ht.since(before); len(lines) > 0 && lines[0] != "GET /canary HTTP/1.1" {
			t.Errorf("%q reached the target as %q", c.req, lines)
		}
	}
	// OPTIONS with a path is an ordinary request.
	before := ht.count()
	if sts, _ := exchangeRaw(t, h.addr, "OPTIONS /a HTTP/1.1\r\nHost: a.test\r\n\r\n"); len(sts) == 0 || sts[0] != 200 {
		t.Errorf("OPTIONS /a: statuses %v", sts)
	}
	if lines, _ := ht.since(before); len(lines) == 0 || lines[0] != "OPTIONS /a HTTP/1.1" {
		t.Errorf("OPTIONS /a reached the target as %q", lines)
	}
}

// FuzzHostKeepsRequest: a Host value classify lets through reaches the
// rules and the target as sent: fasthttp's URI keeps the request's path
// and takes the Host value (case aside) as its host.
func FuzzHostKeepsRequest(f *testing.F) {
	for _, s := range []string{"a.test", "a/b", "a@b", "a:1:2", "[::1]:8080", "a%80b", "x;y", "a:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		for _, raw := range []string{
			"GET /p/q?x=1 HTTP/1.1\r\nHost: " + host + "\r\n\r\n",
			"GET http://" + host + "/p/q?x=1 HTTP/1.1\r\nHost: z\r\n\r\n",
		} {
			if strings.HasPrefix(raw, "GET http") && strings.ContainsAny(host, "/?#") {
				continue // the authority ends earlier: another request
			}
			var req fasthttp.Request
			if req.Read(bufio.NewReader(strings.NewReader(raw))) != nil {
				continue
			}
			v := classify(&req.Header, req.Header.RawHeaders(), req.Header.RequestURI())
			if v.badTarget || len(host) == 0 {
				continue
			}
			u := req.URI()
			if string(u.Path()) != "/p/q" || string(u.QueryString()) != "x=1" {
				t.Errorf("%q: fasthttp's URI path %q query %q", raw, u.Path(), u.QueryString())
			}
			if !bytes.EqualFold(u.Host(), []byte(strings.Trim(host, " \t"))) { // OWS is not part of the value
				t.Errorf("%q: fasthttp's URI host %q", raw, u.Host())
			}
		}
	})
}

func TestValidHost(t *testing.T) {
	for s, want := range map[string]bool{
		"a": true, "a.b": true, "a:80": true, "a:": true, "[::1]": true, "[::1]:443": true, "1.2.3.4:5": true,
		"a_b-c~d": true, "": true,
		"a/b": false, ":80": false, "a:1:2": false, "a@b": false, "a%41": false, "[::1": false, "[]": false,
		"[::1]:x": false, "[0]": false, "[1.2.3.4]": false, "[::ffff:1.2.3.4]": true, "[::1]8": false, "a:123456": false, "a b": false, "a\x00": false, "é": false,
	} {
		if got := validHost([]byte(s)); got != want {
			t.Errorf("validHost(%q) = %v, want %v", s, got, want)
		}
	}
}
