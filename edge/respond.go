package edge

import (
	"crypto/tls"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/switchyard/switchyard/cache"
)

// writeEntry sends a cached (or just fetched) entry to the viewer,
// answering the viewer's conditionals (304) and Range (206/416) from it;
// now is the clock reading its Age is computed at.
func (r *request) writeEntry(e *cache.Entry, res cache.Result, now time.Time) {
	r.writeEntryStatus(e, 0)
	r.result = res.String()
	if res == cache.ResultHit || res == cache.ResultRefreshHit {
		r.age, r.hasAge = e.AgeSeconds(now), true
	}
	if r.status >= 400 {
		r.result = "Error"
	}
	r.e.m.cacheResult(res, r.status)
}

// writeEntryStatus writes e; a non-zero status replaces the entry's
// (custom error responses).
func (r *request) writeEntryStatus(e *cache.Entry, status int) {
	rs := &r.ctx.Response
	h := r.v.hdr
	var vary []byte
	// Stored names are already canonical (responseFields): skip fasthttp's
	// normalisation of each one.
	rs.Header.DisableNormalizing()
	for i := range e.Header {
		f := &e.Header[i]
		switch {
		case strings.EqualFold(f.Name, "Content-Length"):
			continue
		case strings.EqualFold(f.Name, "Vary"):
			if len(vary) > 0 {
				vary = append(vary, ", "...)
			}
			vary = append(vary, f.Value...)
			continue
		}
		rs.Header.Add(f.Name, f.Value)
	}
	rs.Header.EnableNormalizing()
	if len(vary) > 0 {
		if v := r.beh.key.AppendVary(r.scratch[:0], vary); len(v) > 0 {
			rs.Header.SetBytesV("Vary", v)
		}
	}
	code := e.Status
	if status != 0 {
		code = status
		rs.SetStatusCode(code)
		setCachedBody(rs, e.Body, e.File(), 0, r.ctx.Conn(), !r.v.head)
		r.status = code
		return
	}
	if code >= 200 && code < 300 && (r.v.get || r.v.head) {
		if e.NotModified(h.Peek("If-None-Match"), h.Peek("If-Modified-Since")) {
			rs.SetStatusCode(304)
			rs.SkipBody = true
			r.status = 304
			return
		}
		if rg := h.Peek("Range"); len(rg) > 0 && code == 200 {
			rr := e.Range(rg, h.Peek("If-Range"))
			size := int64(len(e.Body))
			switch rr.Status {
			case 206:
				rs.Header.SetBytesV("Content-Range", cache.AppendContentRange(r.scratch[:0], rr, size))
				rs.SetStatusCode(206)
				setCachedBody(rs, e.Body[rr.Start:rr.End+1], e.File(), rr.Start, r.ctx.Conn(), !r.v.head)
				r.status = 206
				return
			case 416:
				rs.Header.SetBytesV("Content-Range", cache.AppendContentRange(r.scratch[:0], rr, size))
				rs.SetStatusCode(416)
				rs.SetBodyRaw(nil)
				r.status = 416
				return
			}
		}
		if code == 200 {
			rs.Header.SetCanonical(hdrAcceptRanges, valBytes)
		}
	}
	rs.SetStatusCode(code)
	setCachedBody(rs, e.Body, e.File(), 0, r.ctx.Conn(), !r.v.head)
	r.status = code
}

// streamBodyOver is the body size above which a cached body is handed to
// fasthttp as a stream instead of a raw body: the viewer write buffer
// (l7.ApplyServerLimits, 16 KiB). A raw body that does not fit the buffer
// goes out in one writev with the header; measured on loopback with the
// kernel's BBR, 256 KiB answers written that way stalled ~40 ms now and
// then (p99 39.3 ms at 1.9 k req/s, NGINX 2.1 ms), written as the buffer
// (header and the body's first bytes) then the rest, 1.5 ms, at the same
// CPU per request (docs/edge.md, "At partial load").
const streamBodyOver = 16 << 10

// setCachedBody sets b (a cached entry's body or a range of it, immutable)
// as the response body without copying it. f, when not nil, holds the
// entry's body with b starting at offset off; when the body will be sent
// (send: not HEAD) to a plain TCP viewer connection c, it goes from f by
// sendfile (prepareSendfile).
func setCachedBody(rs *fasthttp.Response, b []byte, f *cache.BodyFile, off int64, c net.Conn, send bool) {
	if len(b) <= streamBodyOver {
		rs.SetBodyRaw(b)
		return
	}
	cb := cachedBodies.Get().(*cachedBody)
	cb.b, cb.file, cb.off = b, f, off
	if f != nil && send {
		cb.prepareSendfile(c)
	}
	rs.SetBodyStream(cb, len(b))
}

// cachedBody streams a cached body to fasthttp. Its WriteTo hands the whole
// remainder to fasthttp's buffered writer in one Write, which fills the
// buffer behind the header, flushes it, and writes the rest straight to the
// connection: two writes, no copy beyond the buffer's (TestCachedBodyWriteShape).
// With a body file and a plain TCP connection the first write is the same
// and most of the rest goes by sendfile (prepareSendfile, sendLeadIn). More writes — the rest
// in pieces of whole TCP segments — made the rare stalls rarer at partial load
// but cost ~40 % more CPU per hit at saturation (docs/edge.md, "At partial
// load"). fasthttp closes it after the response is written (or dropped),
// which returns it to the pool.
type cachedBody struct {
	b    []byte
	file *cache.BodyFile
	off  int64 // b's offset in file
	send sendState
}

var cachedBodies = sync.Pool{New: func() any {
	c := new(cachedBody)
	c.send.init()
	return c
}}

func (c *cachedBody) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.b)
	c.b = c.b[n:]
	c.off += int64(n)
	return n, nil
}

// SupportsBodyWriteTo tells fasthttp that WriteTo may replace Read.
func (c *cachedBody) SupportsBodyWriteTo() bool { return true }

func (c *cachedBody) WriteTo(w io.Writer) (int64, error) {
	if c.file != nil {
		if n, ok, err := c.sendfile(w); ok {
			return n, err
		}
	}
	n, err := w.Write(c.b)
	c.b = c.b[n:]
	return int64(n), err
}

func (c *cachedBody) Close() error {
	c.send.reset()
	c.b, c.file = nil, nil
	cachedBodies.Put(c)
	return nil
}

// viewerTCPConn unwraps c down to its *net.TCPConn; nil when a layer on
// the way is TLS (its bytes must be encrypted, not sent from a file) or
// does not unwrap.
func viewerTCPConn(c net.Conn) *net.TCPConn {
	for range 8 {
		switch t := c.(type) {
		case *net.TCPConn:
			return t
		case interface{ ConnectionState() tls.ConnectionState }:
			return nil
		case interface{ NetConn() net.Conn }:
			c = t.NetConn()
		default:
			return nil
		}
	}
	return nil
}

// responseBodyLen is the length of the response body without reading a
// body stream (fasthttp's Body() would drain it into memory: a streamed
// origin answer of any size, or a cached body).
func responseBodyLen(rs *fasthttp.Response) int {
	if rs.IsBodyStream() {
		return max(rs.Header.ContentLength(), 0)
	}
	return len(rs.Body())
}

// respondPhase adds the headers every answer carries.
func (r *request) respondPhase() {
	rs := &r.ctx.Response
	if r.status == 0 {
		r.status = rs.StatusCode()
	}
	res := r.result
	if r.status >= 400 && res != "Redirect" {
		res = "Error"
	}
	// SetCanonical: the names are written canonical here, which spares
	// fasthttp normalising them on every answer.
	rs.Header.SetCanonical(hdrXCache, xcache(res))
	rs.Header.SetCanonical(hdrVia, r.e.viaB)
	rs.Header.SetCanonical(hdrRequestID, r.id[:])
	if r.hasAge && !r.errPage {
		rs.Header.SetCanonical(hdrAge, strconv.AppendInt(r.scratch[:0], r.age, 10))
	}
	if r.generated && !r.errPage {
		rs.Header.Set("Server", "Switchyard")
	}
	if r.e.draining.Load() {
		r.ctx.SetConnectionClose()
	}
}

var (
	hdrXCache       = []byte("X-Cache")
	hdrVia          = []byte("Via")
	hdrRequestID    = []byte("X-Edge-Request-Id")
	hdrAge          = []byte("Age")
	hdrAcceptRanges = []byte("Accept-Ranges")
	valBytes        = []byte("bytes")

	xHit        = []byte("Hit from edge")
	xRefreshHit = []byte("RefreshHit from edge")
	xMiss       = []byte("Miss from edge")
	xRedirect   = []byte("Redirect from edge")
	xError      = []byte("Error from edge")
)

func xcache(res string) []byte {
	switch res {
	case "Hit":
		return xHit
	case "RefreshHit":
		return xRefreshHit
	case "Miss":
		return xMiss
	case "Redirect":
		return xRedirect
	}
	return xError
}

// methodNotAllowed is CloudFront's reason line for a refused method.
const methodNotAllowed = "This distribution is not configured to allow the HTTP request method that was used for this request. The distribution supports only cachable requests."

// redirectPage is CloudFront's 167-byte body of the HTTP→HTTPS 301.
var redirectPage = []byte("<html>\r\n<head><title>301 Moved Permanently</title></head>\r\n<body>\r\n<center><h1>301 Moved Permanently</h1></center>\r\n<hr><center>CloudFront</center>\r\n</body>\r\n</html>\r\n")

// errorPage answers with the edge's HTML error page (cloudfront.md §6.15),
// generic for 403, 502, 503 and 504: the status, a one-line reason and the
// request id.
func (r *request) errorPage(status int, reason, detail string) {
	rs := &r.ctx.Response
	rs.Reset()
	rs.SetStatusCode(status)
	rs.Header.SetContentType("text/html")
	b := appendErrorPage(rs.Body()[:0], status, reason, r.id[:])
	rs.SetBody(b)
	r.status, r.result, r.detail, r.generated = status, "Error", detail, true
}

func appendErrorPage(dst []byte, status int, reason string, id []byte) []byte {
	dst = append(dst, `<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN" "http://www.w3.org/TR/html4/loose.dtd">
<HTML><HEAD><META HTTP-EQUIV="Content-Type" CONTENT="text/html; charset=iso-8859-1">
<TITLE>ERROR: The request could not be satisfied</TITLE>
</HEAD><BODY>
<H1>`...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	dst = append(dst, " ERROR</H1>\n<H2>The request could not be satisfied.</H2>\n<HR noshade size=\"1px\">\n"...)
	dst = fasthttp.AppendHTMLEscape(dst, reason)
	dst = append(dst, "\nWe can't connect to the server for this app or website at this time. There might be too much traffic or a configuration error. Try again later, or contact the app or website owner.\n<BR clear=\"all\">\nIf you provide content to customers through the edge, you can find steps to troubleshoot and help prevent this error by reviewing the edge documentation.\n<BR clear=\"all\">\n<HR noshade size=\"1px\">\n<PRE>\nGenerated by edge (Switchyard)\nRequest ID: "...)
	dst = append(dst, id...)
	return append(dst, "\n</PRE>\n<ADDRESS>\n</ADDRESS>\n</BODY></HTML>"...)
}
