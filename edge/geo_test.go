package edge

import (
	"bufio"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"

	"github.com/switchyard/switchyard/geo"
	"github.com/switchyard/switchyard/l4"
)

// Loopback is the US; the documentation ranges are North Korea and France;
// 10/8 has no country.
var testNets = map[string]string{"127.0.0.0/8": "US", "192.0.2.0/24": "KP", "198.51.100.0/24": "FR"}

func geoYAML(origin, restriction string) string {
	return siteYAML(origin, `      origin_request:
        headers: [CloudFront-Viewer-Country, CloudFront-Viewer-Address, CloudFront-Is-Mobile-Viewer, CloudFront-Forwarded-Proto]
`) + "    geo_restriction: " + restriction + "\n"
}

func TestGeoRestriction(t *testing.T) {
	o := newOrigin(t, reply(200, "ok", "Cache-Control", "no-store"))
	cases := []struct {
		name, restriction string
		trusted           []string
		xff               string
		want              int
	}{
		{"blacklist, viewer allowed", "{type: blacklist, locations: [KP]}", nil, "", 200},
		{"blacklist, viewer refused via trusted XFF", "{type: blacklist, locations: [KP]}", []string{"127.0.0.0/8"}, "192.0.2.7", 403},
		{"spoofed XFF from an untrusted peer ignored", "{type: blacklist, locations: [KP]}", nil, "192.0.2.7", 200},
		{"spoofed XFF behind a trusted proxy: right-most untrusted wins", "{type: blacklist, locations: [KP]}", []string{"127.0.0.0/8"}, "192.0.2.7, 198.51.100.1", 200},
		{"whitelist, viewer refused", "{type: whitelist, locations: [FR]}", nil, "", 403},
		{"whitelist, viewer allowed", "{type: whitelist, locations: [FR]}", []string{"127.0.0.0/8"}, "198.51.100.1", 200},
		{"unknown country allowed by default", "{type: whitelist, locations: [FR]}", []string{"127.0.0.0/8"}, "10.1.2.3", 200},
		{"unknown country denied", "{type: whitelist, locations: [FR], unknown: deny}", []string{"127.0.0.0/8"}, "10.1.2.3", 403},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			te := startEdge(t, geoYAML(o.URL, tc.restriction), edgeOpt{trusted: tc.trusted, geoNets: testNets})
			before := o.Hits()
			var hdr []string
			if tc.xff != "" {
				hdr = []string{"X-Forwarded-For", tc.xff}
			}
			a := te.get(t, "/g", hdr...)
			if a.Status != tc.want {
				t.Fatalf("status %d, want %d (%q)", a.Status, tc.want, a.Body)
			}
			if tc.want == 403 {
				if !strings.Contains(a.Body, geo.BlockedReason) || a.Header.Get("X-Cache") != "Error from edge" || o.Hits() != before {
					t.Fatalf("refusal: %q X-Cache %q, origin hits %d → %d", a.Body, a.Header.Get("X-Cache"), before, o.Hits())
				}
			}
		})
	}
}

// TestViewerHeaders: viewer copies of CloudFront-* headers are removed and
// the edge's own are added when the origin request policy names them; the
// origin's X-Forwarded-For ends with the viewer address.
func TestViewerHeaders(t *testing.T) {
	o := newOrigin(t, reply(200, "ok", "Cache-Control", "no-store"))
	te := startEdge(t, geoYAML(o.URL, "{type: none}"), edgeOpt{trusted: []string{"127.0.0.0/8"}, geoNets: testNets})
	te.get(t, "/v", "CloudFront-Viewer-Country", "XX", "CloudFront-Is-Mobile-Viewer", "true",
		"CloudFront-Viewer-Asn", "1", "X-Forwarded-For", "198.51.100.20",
		"User-Agent", "Mozilla/5.0 (X11; Linux x86_64)")
	h := o.last().Header
	if h.Get("CloudFront-Viewer-Country") != "FR" || h.Get("CloudFront-Is-Mobile-Viewer") != "false" ||
		h.Get("CloudFront-Viewer-Asn") != "" || h.Get("CloudFront-Forwarded-Proto") != "http" ||
		!strings.HasPrefix(h.Get("CloudFront-Viewer-Address"), "198.51.100.20:") {
		t.Fatalf("origin saw %v", h)
	}
	if h.Get("X-Forwarded-For") != "198.51.100.20" {
		t.Fatalf("origin X-Forwarded-For %q", h.Get("X-Forwarded-For"))
	}
}

// TestProxyV2CarriesViewer: an lb in front sends PROXY v2; the address in
// it is the viewer for geo and X-Forwarded-For.
func TestProxyV2CarriesViewer(t *testing.T) {
	o := newOrigin(t, reply(200, "ok", "Cache-Control", "no-store"))
	te := startEdge(t, geoYAML(o.URL, "{type: blacklist, locations: [KP]}"), edgeOpt{geoNets: testNets,
		listener: func(ln net.Listener) net.Listener {
			return l4.NewProxyProtocolListener(ln, []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, time.Second)
		}})
	send := func(src string) *http.Response {
		t.Helper()
		c, err := net.DialTimeout("tcp", te.addr, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		h := proxyproto.HeaderProxyFromAddrs(2, &net.TCPAddr{IP: net.ParseIP(src), Port: 40000}, c.RemoteAddr())
		if _, err := h.WriteTo(c); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write([]byte("GET /p HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 198.51.100.9\r\nConnection: close\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if r := send("192.0.2.44"); r.StatusCode != 403 {
		t.Fatalf("KP viewer behind lb: %d, want 403", r.StatusCode)
	}
	if o.Hits() != 0 {
		t.Fatal("refused viewer reached the origin")
	}
	if got := counterValue(te.e.m.GeoRefused.WithLabelValues("KP")); got != 1 {
		t.Fatalf("geo refusals counted %v, want 1", got)
	}
	if r := send("198.51.100.4"); r.StatusCode != 200 {
		t.Fatalf("FR viewer behind lb: %d, want 200", r.StatusCode)
	}
	h := o.last().Header
	if h.Get("X-Forwarded-For") != "198.51.100.9,198.51.100.4" || h.Get("CloudFront-Viewer-Country") != "FR" ||
		h.Get("CloudFront-Viewer-Address") != "198.51.100.4:40000" {
		t.Fatalf("origin saw %v", h)
	}
}

// TestLBChainCarriesViewer: a viewer on 127.0.0.2 ("KP") connects to an
// lb TCP listener (l4, PROXY v2 to its targets) in front of the edge; the
// edge trusts the lb's PROXY header and refuses the viewer, while a
// viewer on 127.0.0.1 ("US") passes.
func TestLBChainCarriesViewer(t *testing.T) {
	o := newOrigin(t, reply(200, "ok", "Cache-Control", "no-store"))
	te := startEdge(t, geoYAML(o.URL, "{type: blacklist, locations: [KP]}"), edgeOpt{
		geoNets: map[string]string{"127.0.0.1/32": "US", "127.0.0.2/32": "KP"},
		listener: func(ln net.Listener) net.Listener {
			return l4.NewProxyProtocolListener(ln, []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, time.Second)
		}})
	lb, lbAddr, err := l4.NewStandalone("127.0.0.1:0", []string{te.addr}, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lb.Close() })
	get := func(src string) int {
		t.Helper()
		c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
			DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}).DialContext}}
		resp, err := c.Get("http://" + lbAddr.String() + "/chain")
		if err != nil {
			t.Fatalf("via lb from %s: %v", src, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get("127.0.0.2"); code != 403 {
		t.Fatalf("KP viewer through lb: %d, want 403", code)
	}
	if o.Hits() != 0 {
		t.Fatal("refused viewer reached the origin")
	}
	if code := get("127.0.0.1"); code != 200 {
		t.Fatalf("US viewer through lb: %d, want 200", code)
	}
	if h := o.last().Header; h.Get("CloudFront-Viewer-Country") != "US" || !strings.HasPrefix(h.Get("CloudFront-Viewer-Address"), "127.0.0.1:") {
		t.Fatalf("origin saw %v", h)
	}
}
