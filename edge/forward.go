package edge

import (
	"bytes"
	"slices"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/switchyard/switchyard/cache"
	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/geo"
	"github.com/switchyard/switchyard/l7"
)

// forwardPolicy is what a behaviour sends its origin besides the path:
// everything in the cache key, plus what the origin request policy adds
// (cloudfront.md §6.4). Nothing else from the viewer reaches the origin.
type forwardPolicy struct {
	headers    []string // lower-case viewer header names forwarded as received
	allHeaders bool     // origin request policy "all": every viewer header but the never-forwarded ones
	viewer     []string // CloudFront-* headers the edge generates, canonical spelling
	host       bool     // the viewer's Host goes to the origin instead of the origin's

	cookies     cache.Mode
	cookieNames []string
	query       cache.Mode
	queryNames  []string
}

// neverForwarded are viewer headers that never reach an origin whatever the
// policies say, besides the hop-by-hop fields l7.HopByHop names (which
// originHeaders drops first, as lb does): those the edge sets itself, and
// the unkeyed routing headers used in cache poisoning (hardening.md §4.3).
var neverForwarded = []string{
	"expect", "host", "cookie", "accept-encoding", "content-length",
	"x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-forwarded-port", "x-forwarded-server", "forwarded",
	"x-original-url", "x-rewrite-url", "x-http-method-override", "x-http-method", "x-method-override", "x-real-ip",
	"via", "x-edge-request-id", "if-none-match", "if-modified-since", "if-match", "if-unmodified-since",
	"if-range", "range", "request-range",
}

func newForwardPolicy(kp *cache.KeyPolicy, orp config.OriginRequest) forwardPolicy {
	f := forwardPolicy{allHeaders: orp.Headers.Mode == "all"}
	add := func(n string) {
		l := strings.ToLower(n)
		if strings.HasPrefix(l, "cloudfront-") {
			for _, v := range geo.ViewerHeaders {
				if strings.EqualFold(v, n) && !slices.Contains(f.viewer, v) {
					f.viewer = append(f.viewer, v)
				}
			}
			return
		}
		if l == "host" {
			f.host = true
			return
		}
		if !slices.Contains(f.headers, l) {
			f.headers = append(f.headers, l)
		}
	}
	for _, n := range kp.Headers {
		add(n)
	}
	if orp.Headers.Mode == "list" {
		for _, n := range orp.Headers.Names {
			add(n)
		}
	}
	f.cookies, f.cookieNames = union(kp.Cookies, kp.CookieNames, orp.Cookies)
	f.query, f.queryNames = union(kp.Query, kp.QueryNames, orp.QueryStrings)
	return f
}

func union(m cache.Mode, names []string, l config.NameList) (cache.Mode, []string) {
	switch {
	case m == cache.All || l.Mode == "all":
		return cache.All, nil
	case l.Mode == "list":
		out := slices.Clone(names)
		for _, n := range l.Names {
			if !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
		return cache.List, out
	}
	return m, names
}

// forwarded reports whether viewer header name (any case) goes to the
// origin under f. Authorization only does when it is in the key: an
// "all" origin request policy does not carry it (CloudFront §4).
func (f *forwardPolicy) forwarded(name []byte) bool {
	for _, n := range neverForwarded {
		if strings.EqualFold(n, string(name)) {
			return false
		}
	}
	if geo.IsViewerHeader(name) {
		return false
	}
	for _, n := range f.headers {
		if strings.EqualFold(n, string(name)) {
			return true
		}
	}
	return f.allHeaders && !strings.EqualFold("authorization", string(name))
}

// appendFilteredQuery appends the query the origin gets: every parameter
// for All, the named ones in request order for List (raw, joined by '&').
func appendFilteredQuery(dst []byte, mode cache.Mode, names []string, q []byte) []byte {
	return appendFiltered(dst, mode, names, q, '&', "&", false)
}

// appendFilteredCookie appends the Cookie value the origin gets, in the
// same way ("; "-joined, each pair trimmed).
func appendFilteredCookie(dst []byte, mode cache.Mode, names []string, c []byte) []byte {
	return appendFiltered(dst, mode, names, c, ';', "; ", true)
}

// appendFiltered appends v for All, nothing for None, and for List the
// sep-separated name[=value] pairs of v whose name is in names, in their
// order, joined by join.
func appendFiltered(dst []byte, mode cache.Mode, names []string, v []byte, sep byte, join string, trim bool) []byte {
	switch mode {
	case cache.None:
		return dst
	case cache.All:
		return append(dst, v...)
	}
	first := true
	for len(v) > 0 {
		p := v
		if i := indexByte(v, sep); i >= 0 {
			p, v = v[:i], v[i+1:]
		} else {
			v = nil
		}
		if trim {
			p = bytes.TrimSpace(p)
		}
		n := p
		if i := indexByte(p, '='); i >= 0 {
			n = p[:i]
		}
		if len(p) == 0 || !slices.Contains(names, string(n)) {
			continue
		}
		if !first {
			dst = append(dst, join...)
		}
		dst = append(dst, p...)
		first = false
	}
	return dst
}

// appendQuotedPath percent-encodes a canonical (decoded) path for the
// origin request line: unreserved bytes and the sub-delimiters allowed in
// a path segment stay, everything else (including '?', '#', '%', spaces
// and control bytes) is encoded, so the origin sees one unambiguous form.
func appendQuotedPath(dst, path []byte) []byte {
	const hex = "0123456789ABCDEF"
	for _, c := range path {
		if ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') ||
			strings.IndexByte("/-._~!$&'()*+,;=:@", c) >= 0 {
			dst = append(dst, c)
			continue
		}
		dst = append(dst, '%', hex[c>>4], hex[c&15])
	}
	return dst
}

// viewerHeaderValue appends the value of a CloudFront-* header for r.
func (r *request) appendViewerHeader(dst []byte, name string) ([]byte, bool) {
	switch name {
	case "CloudFront-Viewer-Country":
		r.lookupCountry()
		if !r.countryKnown {
			return dst, false
		}
		return append(dst, r.country[:]...), true
	case "CloudFront-Viewer-Address":
		return appendAddrPort(dst, r), true
	case "CloudFront-Forwarded-Proto":
		if r.l.tls {
			return append(dst, "https"...), true
		}
		return append(dst, "http"...), true
	case "CloudFront-Viewer-Http-Version":
		if r.v.http11 {
			return append(dst, "1.1"...), true
		}
		return append(dst, "1.0"...), true
	case "CloudFront-Viewer-TLS":
		if !r.l.tls || r.l.tlsFacts == nil {
			return dst, false
		}
		v, c, h := r.l.tlsFacts(r.ctx.Conn())
		if v == "" {
			return dst, false
		}
		return geo.AppendViewerTLS(dst, v, c, h), true
	}
	d := geo.ClassifyUA(r.v.hdr.UserAgent())
	return d.Header(dst, []byte(name))
}

// originHeaders collects the viewer headers the policy forwards, and the
// headers the edge adds (X-Forwarded-For, Via, request id, Accept-Encoding,
// CloudFront-*), as name/value string pairs copied out of the request.
func (r *request) originHeaders(enc cache.Encoding, cacheable bool) []string {
	h := r.v.hdr
	b := r.beh
	out := make([]string, 0, 16)
	for k, v := range h.All() {
		if !l7.HopByHop(k, r.conn) && b.fwd.forwarded(k) {
			if !cacheable && (strings.EqualFold(string(k), "content-type") || strings.EqualFold(string(k), "content-encoding")) {
				continue
			}
			out = append(out, string(k), string(v))
		}
	}
	if !cacheable {
		if ct := h.ContentType(); len(ct) > 0 {
			out = append(out, "Content-Type", string(ct))
		}
		if ce := h.ContentEncoding(); len(ce) > 0 {
			out = append(out, "Content-Encoding", string(ce))
		}
		if ae := h.Peek("Accept-Encoding"); len(ae) > 0 {
			out = append(out, "Accept-Encoding", string(ae))
		}
	} else if tok := enc.Token(); tok != "" {
		out = append(out, "Accept-Encoding", tok)
	}
	if c := appendFilteredCookie(nil, b.fwd.cookies, b.fwd.cookieNames, r.cookie); len(c) > 0 {
		out = append(out, "Cookie", string(c))
	}
	if !slices.Contains(b.fwd.headers, "user-agent") && !b.fwd.allHeaders {
		out = append(out, "User-Agent", "Switchyard edge")
	}
	// X-Forwarded-For: the received list plus the viewer address, unless
	// the viewer address was itself taken from that list.
	xff := r.scratch[:0]
	if v := h.Peek("X-Forwarded-For"); len(v) > 0 {
		xff = append(xff, v...)
	}
	if !r.viewerFromXFF {
		if len(xff) > 0 {
			xff = append(xff, ',')
		}
		xff = r.viewer.AppendTo(xff)
	}
	out = append(out, "X-Forwarded-For", string(xff))
	via := r.scratch[:0]
	if v := h.Peek("Via"); len(v) > 0 {
		via = append(append(via, v...), ", "...)
	}
	via = append(via, r.e.via...)
	out = append(out, "Via", string(via), "X-Edge-Request-Id", string(r.id[:]))
	for _, n := range b.fwd.viewer {
		if v, ok := r.appendViewerHeader(r.scratch[:0], n); ok {
			out = append(out, n, string(v))
		}
	}
	return out
}

func appendAddrPort(dst []byte, r *request) []byte {
	ap := r.peer
	if r.viewer != ap.Addr() {
		ap = netipAddrPort(r.viewer, 0)
	}
	return geo.AppendViewerAddress(dst, ap)
}

var _ = fasthttp.StatusOK
