package l7

import (
	"testing"

	"github.com/switchyard/switchyard/config"
)

// TestSmugglingCorpus sends request-desync disguises (hardening §4.1 by
// kind) and checks the invariants: every answer is a proper status (never
// 460 or a 5xx other than 501/505), the target never sees a request the
// client did not send as such, and a connection kept open answers the
// canary with its own response.
func TestSmugglingCorpus(t *testing.T) {
	be := newBackend(t, "a", nil)
	h := startLB(t, lbSetup{listener: config.Listener{Protocol: "HTTP", DefaultAction: fwd("web")},
		groups: []config.TargetGroup{group("web", be.addr())}})
	cases := []string{
		"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\tchunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: \"chunked\"\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"POST /a HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\nContent-Length: 3\r\n\r\nabc",
		"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 21000000000000000000\r\n\r\nabc",
		"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc",
		"GET http://a.test/a HTTP/1.1\r\nHost: b.test\r\n\r\n",
		"get /a HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /a\r\n\r\n",
		"GET /a HTTP/1.2\r\nHost: x\r\n\r\n",
		"GET /a HTTP/2.0\r\nHost: x\r\n\r\n",
		"GET /a HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\n\r\n",
		"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n",
		"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n",
		"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n",
		"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff3\r\nabc\r\n0\r\n\r\n",
		"GET /a HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
		"GET /a HTTP/1.1\r\nHost: x y\r\n\r\n",
		"GET /a HTTP/1.1\r\nHost: x\r\nX A: b\r\n\r\n",
		"GET /a HTTP/1.1\r\nHost: x\r\n: b\r\n\r\n",
		"GET /a HTTP/1.1\r\nHost: x\nX: y\n\n",
		"GET /%2e%2e/admin HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /a/../admin HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /a%2Fb HTTP/1.1\r\nHost: x\r\n\r\n",
	}
	for _, c := range cases {
		before := be.count()
		sts, closed := exchangeRaw(t, h.addr, c)
		got := be.received()[before:]
		if len(sts) == 0 {
			if !closed {
				t.Errorf("%q: no answer and connection open", c)
			}
			continue
		}
		if st := sts[0]; st == 460 || (st >= 500 && st != 501 && st != 505) {
			t.Errorf("%q: status %d", c, st)
		}
		for _, r := range got {
			switch r.URI {
			case "/a", "/admin", "/a/b", "/canary":
			default:
				t.Errorf("%q: target saw %s %q", c, r.Method, r.URI)
			}
		}
		if !closed && (len(sts) != 2 || sts[1] != 200) {
			t.Errorf("%q: canary got %v", c, sts)
		}
	}
}
