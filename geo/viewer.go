package geo

import (
	"bytes"
	"net/netip"
	"strconv"
	"unsafe"
)

// ClientFromXFF returns the viewer address for a request whose TCP peer is
// peer and whose X-Forwarded-For header is xff. Only a trusted peer's
// X-Forwarded-For is believed: the list is walked right to left, skipping
// trusted proxies, and the first untrusted address is the viewer. A
// malformed entry stops the walk (everything left of it may be forged), and
// the last address accepted so far is returned. It allocates nothing.
func ClientFromXFF(peer netip.Addr, xff []byte, trusted []netip.Prefix) netip.Addr {
	client := peer.Unmap()
	if len(xff) == 0 || !contains(trusted, client) {
		return client
	}
	rest := xff
	for len(rest) > 0 {
		i := bytes.LastIndexByte(rest, ',')
		item := bytes.TrimSpace(rest[i+1:])
		if i < 0 {
			rest = nil
		} else {
			rest = rest[:i]
		}
		if len(item) == 0 {
			continue
		}
		a, ok := parseXFFItem(item)
		if !ok {
			return client
		}
		client = a
		if !contains(trusted, a) {
			return a
		}
	}
	return client
}

// parseXFFItem parses "ip", "ip:port", "[ipv6]" or "[ipv6]:port".
func parseXFFItem(b []byte) (netip.Addr, bool) {
	if b[0] == '[' {
		end := bytes.IndexByte(b, ']')
		if end < 0 {
			return netip.Addr{}, false
		}
		b = b[1:end]
	} else if bytes.Count(b, []byte{':'}) == 1 {
		b = b[:bytes.IndexByte(b, ':')]
	}
	if len(b) == 0 || len(b) > 45 || bytes.IndexByte(b, '%') >= 0 {
		return netip.Addr{}, false // zones never appear in forwarded addresses
	}
	// The string aliases b only for the duration of the parse: a parsed
	// Addr without a zone keeps no reference to it, and errors are dropped.
	a, err := netip.ParseAddr(unsafe.String(&b[0], len(b)))
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

func contains(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// AppendViewerAddress appends the CloudFront-Viewer-Address value for a
// viewer: "ip:port", the IPv6 address in brackets so the port stays
// unambiguous (CloudFront documents only the IPv4 form).
func AppendViewerAddress(dst []byte, ap netip.AddrPort) []byte {
	a := ap.Addr().Unmap()
	if a.Is6() {
		dst = append(dst, '[')
		dst = a.AppendTo(dst)
		dst = append(dst, ']')
	} else {
		dst = a.AppendTo(dst)
	}
	dst = append(dst, ':')
	return strconv.AppendUint(dst, uint64(ap.Port()), 10)
}

// AppendViewerTLS appends the CloudFront-Viewer-TLS value,
// "TLSv1.3:TLS_AES_128_GCM_SHA256:fullHandshake"; handshake is
// fullHandshake, sessionResumed or connectionReused.
func AppendViewerTLS(dst []byte, version, cipher, handshake string) []byte {
	dst = append(dst, version...)
	dst = append(dst, ':')
	dst = append(dst, cipher...)
	dst = append(dst, ':')
	return append(dst, handshake...)
}

// ViewerHeaders lists the request headers CloudFront adds itself. A viewer
// may never set them: the edge deletes every viewer copy before it adds its
// own, so an origin can trust what it sees.
var ViewerHeaders = []string{
	"CloudFront-Viewer-Country",
	"CloudFront-Viewer-Country-Name",
	"CloudFront-Viewer-Country-Region",
	"CloudFront-Viewer-Country-Region-Name",
	"CloudFront-Viewer-City",
	"CloudFront-Viewer-Postal-Code",
	"CloudFront-Viewer-Time-Zone",
	"CloudFront-Viewer-Latitude",
	"CloudFront-Viewer-Longitude",
	"CloudFront-Viewer-Metro-Code",
	"CloudFront-Viewer-Address",
	"CloudFront-Viewer-ASN",
	"CloudFront-Viewer-TLS",
	"CloudFront-Viewer-Http-Version",
	"CloudFront-Viewer-Header-Order",
	"CloudFront-Viewer-Header-Count",
	"CloudFront-Viewer-JA3-Fingerprint",
	"CloudFront-Viewer-JA4-Fingerprint",
	"CloudFront-Forwarded-Proto",
	"CloudFront-Is-Android-Viewer",
	"CloudFront-Is-Desktop-Viewer",
	"CloudFront-Is-IOS-Viewer",
	"CloudFront-Is-Mobile-Viewer",
	"CloudFront-Is-SmartTV-Viewer",
	"CloudFront-Is-Tablet-Viewer",
}

// IsViewerHeader reports whether name (any case) starts with
// "CloudFront-": the whole family is reserved to the edge.
func IsViewerHeader(name []byte) bool {
	const p = "cloudfront-"
	if len(name) < len(p) {
		return false
	}
	for i := range len(p) {
		c := name[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != p[i] {
			return false
		}
	}
	return true
}
