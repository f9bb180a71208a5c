package edge

import (
	"context"
	"encoding/base64"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"time"
	"unsafe"

	"github.com/valyala/fasthttp"

	"github.com/switchyard/switchyard/cache"
	"github.com/switchyard/switchyard/geo"
	"github.com/switchyard/switchyard/l7"
	"github.com/switchyard/switchyard/signing"
)

// request is the one per-request context of the pipeline: the small view
// of the viewer request every phase reads (filled once), and what the
// phases decided. Pooled; valid only while the handler runs.
type request struct {
	e    *Edge
	ctx  *fasthttp.RequestCtx
	l    *listener
	snap *Snapshot
	dist *Distribution
	beh  *Behavior

	v view

	start         time.Time
	peer          netip.AddrPort
	viewer        netip.Addr
	viewerFromXFF bool
	country       geo.Country
	countryKnown  bool
	countryDone   bool
	id            [56]byte

	query     []byte // the query after signing parameters are removed
	cookie    []byte // the Cookie header after signing cookies are removed
	cookieBuf []byte
	queryBuf  []byte

	status    int
	result    string // x-edge-result-type: Hit, RefreshHit, Miss, Error, Redirect
	detail    string // x-edge-detailed-result-type
	generated bool   // answered by the edge itself (error page, redirect)
	errPage   bool   // a custom error response was applied
	age       int64
	hasAge    bool

	keyBuf  []byte
	scratch []byte
	// conn is the names every Connection field of the viewer request
	// lists, joined (methodPhase fills it; originHeaders strips them).
	conn    []byte
	connBuf []byte
}

// view is the small picture of the viewer request the phases read
// (STYLE.md §4), filled once per request by the front end (fill, for
// fasthttp). The byte slices point into the server's buffers and are valid
// only while the handler runs. Header lookups still go to the fasthttp
// request header: an HTTP/2 front end will need a header type of its own
// behind hdr.
type view struct {
	method, host, path, requestURI, query []byte
	hdr                                   *fasthttp.RequestHeader
	http11, get, head                     bool
	bodyLen                               int // Content-Length; -1 chunked; 0 or -2 none
}

func (v *view) fill(ctx *fasthttp.RequestCtx) {
	h := &ctx.Request.Header
	*v = view{method: ctx.Method(), host: ctx.Host(), path: ctx.Path(), requestURI: h.RequestURI(),
		query: ctx.URI().QueryString(), hdr: h, http11: h.IsHTTP11(), get: ctx.IsGet(), head: ctx.IsHead(),
		bodyLen: h.ContentLength()}
	if n := len(ctx.Request.Body()); n > 0 && v.bodyLen <= 0 {
		v.bodyLen = n // a chunked body already read
	}
}

func (e *Edge) serve(ctx *fasthttp.RequestCtx, l *listener) {
	r := e.reqs.Get().(*request)
	e.serveWith(ctx, l, r)
	e.reqs.Put(r)
}

// serveWith runs the pipeline with r as the per-request context, keeping
// r's buffers.
func (e *Edge) serveWith(ctx *fasthttp.RequestCtx, l *listener, r *request) {
	*r = request{e: e, ctx: ctx, l: l, snap: e.snap.Load(), start: ctx.Time(),
		keyBuf: r.keyBuf[:0], scratch: r.scratch[:0], cookieBuf: r.cookieBuf[:0], queryBuf: r.queryBuf[:0],
		connBuf: r.connBuf[:0]}
	if r.start.IsZero() {
		r.start = time.Now() // a context not from a fasthttp server
	}
	r.run()
	r.ctx = nil
}

// now is the request's clock for freshness and Age: the time it started
// (fasthttp's request time, already read) with the real clock, the edge's
// clock otherwise (tests).
func (r *request) now() time.Time {
	if r.e.realClock {
		return r.start
	}
	return r.e.now()
}

// run is the edge pipeline: the fixed phase order of STYLE.md §4 and
// cloudfront.md §0, in this one place. Config turns phases on (a
// behaviour without trusted key groups skips the signature phase, a
// distribution without geo restriction the lookup); it never reorders
// them. Each phase either lets the request through or answers it.
func (r *request) run() {
	r.viewerPhase()
	switch {
	case !r.distributionPhase(): // Host → distribution, path → cache behaviour
	case !r.protocolPhase(): // viewer protocol policy
	case !r.methodPhase(): // allowed methods, GET with a body
	case !r.geoPhase(): // geo restriction
	case !r.signaturePhase(): // trusted key groups: signed URL or cookies
	default:
		r.cachePhase() // cache lookup → miss: coalesce → origin (failover) → store
	}
	r.customErrorPhase() // custom error responses
	r.respondPhase()     // X-Cache, Via, Age, request id
	r.logPhase()         // metrics and access log
}

// viewerPhase fills the viewer view: the TCP peer (already the PROXY
// header's source when the listener trusts its sender), the viewer address
// (the right-most untrusted X-Forwarded-For entry when the peer is a
// trusted proxy), and the request id.
func (r *request) viewerPhase() {
	r.v.fill(r.ctx)
	if a, ok := r.ctx.RemoteAddr().(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(a.IP)
		r.peer = netip.AddrPortFrom(ip.Unmap(), uint16(a.Port))
	}
	r.viewer = r.peer.Addr()
	if len(r.l.trusted) > 0 {
		if xff := r.v.hdr.Peek("X-Forwarded-For"); len(xff) > 0 {
			v := geo.ClientFromXFF(r.viewer, xff, r.l.trusted)
			if v.IsValid() && v != r.viewer {
				r.viewer, r.viewerFromXFF = v, true
			}
		}
	}
	var raw [40]byte
	for i := 0; i < 40; i += 8 {
		u := rand.Uint64()
		for j := range 8 {
			raw[i+j] = byte(u >> (8 * j))
		}
	}
	base64.URLEncoding.Encode(r.id[:], raw[:])
}

func (r *request) distributionPhase() bool {
	if !l7.ValidRequestTarget(r.v.hdr) {
		// Not a host: the distribution, the path and the cache key would
		// come from fasthttp's misreading of it. The asterisk form
		// (OPTIONS *) would reach the origin as OPTIONS /*.
		r.errorPage(400, "Bad request.", "InvalidRequest")
		return false
	}
	if r.snap == nil {
		r.errorPage(503, "The edge has no configuration yet.", "Error")
		return false
	}
	r.dist = r.snap.distribution(r.v.host)
	if r.dist == nil {
		r.errorPage(403, "Bad request.", "InvalidRequest")
		return false
	}
	r.beh = r.dist.behavior(r.v.path)
	return true
}

func (r *request) protocolPhase() bool {
	if r.l.tls || r.beh.vpp == vppAllowAll {
		return true
	}
	if r.beh.vpp == vppHTTPSOnly {
		r.errorPage(403, "Bad request.", "InvalidRequest")
		return false
	}
	m := r.v.method
	status := 301
	if string(m) != "GET" && string(m) != "HEAD" {
		if !r.v.http11 {
			r.errorPage(403, "Bad request.", "InvalidRequest")
			return false
		}
		status = 307
	}
	loc := append(r.scratch[:0], "https://"...)
	loc = append(loc, r.v.host...)
	loc = append(loc, r.v.requestURI...)
	r.ctx.Response.Header.SetBytesV("Location", loc)
	r.ctx.Response.Header.SetContentType("text/html")
	r.ctx.SetStatusCode(status)
	r.ctx.Response.SetBodyRaw(redirectPage)
	r.status, r.result, r.detail, r.generated = status, "Redirect", "Redirect", true
	return false
}

func (r *request) methodPhase() bool {
	if methodBit(r.v.method)&r.beh.allowed == 0 {
		r.errorPage(403, methodNotAllowed, "InvalidRequestMethod")
		return false
	}
	if r.v.get && (r.v.bodyLen > 0 || r.v.bodyLen == -1) {
		r.errorPage(403, "Bad request.", "InvalidRequest")
		return false
	}
	// Every field forwarded to the origin is checked against the names the
	// Connection fields list (l7.HopByHop): thousands of names over
	// thousands of short fields would make one request cost tens of
	// milliseconds.
	r.conn = r.connectionNames()
	if l7.ConnectionNames(r.conn) > l7.MaxConnectionNames {
		r.errorPage(400, "Bad request.", "InvalidRequest")
		return false
	}
	return true
}

// connectionNames joins the values of every Connection field of the
// viewer request (fasthttp's Peek returns the first; RFC 9110 §7.6.1
// means all of them). One field, the common case, is returned as it is.
func (r *request) connectionNames() []byte {
	all := r.v.hdr.PeekAll("Connection")
	switch len(all) {
	case 0:
		return nil
	case 1:
		return all[0]
	}
	b := r.connBuf[:0]
	for _, v := range all {
		b = append(append(b, v...), ',')
	}
	r.connBuf = b
	return b
}

func (r *request) lookupCountry() {
	if !r.countryDone {
		r.countryDone = true
		r.country, r.countryKnown = r.e.geo.Lookup(r.viewer)
	}
}

func (r *request) geoPhase() bool {
	res := r.dist.restriction
	if !res.Active() {
		return true
	}
	r.lookupCountry()
	if res.Allow(r.country, r.countryKnown) {
		return true
	}
	r.e.m.geoRefused(r.country)
	r.errorPage(403, geo.BlockedReason, "ClientGeoBlocked")
	return false
}

func (r *request) signaturePhase() bool {
	r.query = r.v.query
	if c := r.v.hdr.Peek("Cookie"); len(c) > 0 {
		r.cookieBuf = append(r.cookieBuf[:0], c...)
		r.cookie = r.cookieBuf
	}
	if r.beh.trusted == nil {
		return true
	}
	rawPath, rawQuery := splitRequestURI(r.v.requestURI)
	if disguised(rawPath) {
		// The resource is checked against the path the request is routed,
		// keyed and forwarded by, so that "/public/..%2fprivate/x" cannot
		// borrow a "/public/*" signature (hardening.md §4.4, §4.5).
		rawPath = appendQuotedPath(r.scratch[:0], r.v.path)
	}
	scheme := "http"
	if r.l.tls {
		scheme = "https"
	}
	res, err := r.beh.trusted.Verify(&signing.Request{Scheme: scheme, Host: b2s(r.v.host),
		RawPath: b2s(rawPath), RawQuery: b2s(rawQuery), Cookies: b2s(r.cookie), ClientIP: r.viewer})
	if err != nil {
		var se *signing.Error
		if !errors.As(err, &se) {
			r.errorPage(403, "Request blocked.", "Error")
			return false
		}
		r.e.m.signatureFailed(se.Code)
		r.ctx.Response.Reset()
		r.ctx.SetStatusCode(403)
		r.ctx.Response.Header.SetContentType("text/xml")
		r.ctx.Response.SetBodyRaw(se.Body())
		r.status, r.result, r.detail, r.generated = 403, "Error", "Error", true
		return false
	}
	// Signing parameters and cookies never reach the origin or the key,
	// so every holder of a valid URL shares one cached object.
	r.queryBuf = append(r.queryBuf[:0], res.StrippedQuery...)
	r.query = r.queryBuf
	if len(r.cookie) > 0 {
		r.cookie = append(r.cookieBuf[:0], signing.StripCookies(b2s(r.cookie))...)
	}
	return true
}

// disguised reports whether a raw path may normalise to another path:
// dot segments, repeated or encoded slashes, encoded dots, backslashes.
func disguised(p []byte) bool {
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '\\':
			return true
		case '%':
			if i+2 < len(p) {
				switch string(p[i+1 : i+3]) {
				case "2f", "2F", "2e", "2E", "5c", "5C", "25":
					return true
				}
			}
		case '/':
			if i+1 < len(p) && p[i+1] == '/' {
				return true
			}
			if rest := p[i+1:]; len(rest) > 0 && rest[0] == '.' &&
				(len(rest) == 1 || rest[1] == '/' || (rest[1] == '.' && (len(rest) == 2 || rest[2] == '/'))) {
				return true
			}
		}
	}
	return false
}

// splitRequestURI splits a raw request-target into path and query,
// dropping the scheme and authority of an absolute-form target.
func splitRequestURI(u []byte) (path, query []byte) {
	if len(u) > 0 && u[0] != '/' {
		if i := indexOf(u, "://"); i >= 0 {
			u = u[i+3:]
			if j := indexByte(u, '/'); j >= 0 {
				u = u[j:]
			} else {
				u = nil
			}
		}
	}
	if i := indexByte(u, '?'); i >= 0 {
		return u[:i], u[i+1:]
	}
	return u, nil
}

func indexOf(b []byte, s string) int {
	for i := 0; i+len(s) <= len(b); i++ {
		if string(b[i:i+len(s)]) == s {
			return i
		}
	}
	return -1
}

// cachePhase answers from the cache or the origin.
func (r *request) cachePhase() {
	b := r.beh
	method := b2s(r.v.method)
	if !cache.CacheableMethod(method, b.cacheOp) {
		r.passThrough(r.spec(cache.Identity, false))
		return
	}
	ae := r.v.hdr.Peek("Accept-Encoding")
	if !r.v.http11 {
		ae = nil // CloudFront never compresses for HTTP/1.0 viewers
	}
	key, enc := b.key.AppendKey(r.keyBuf[:0], r.dist.Name, &cache.Request{Method: method, Path: r.v.path,
		Query: r.query, Cookie: r.cookie, AcceptEncoding: ae, Header: r.v.hdr})
	r.keyBuf = key
	if e, st := r.e.store.GetAt(key, r.now()); st == cache.Fresh {
		r.writeEntry(e, cache.ResultHit, r.now())
		return
	}
	spec := r.spec(enc, true)
	e, res, err := b.flow.Serve(context.Background(), key, enc, spec.fetch)
	switch {
	case errors.Is(err, cache.ErrNotBuffered):
		r.passThrough(spec)
		return
	case err != nil:
		r.originFailed(err)
	default:
		// After an origin exchange (a revalidation, a stale object standing
		// in for a failed origin) Age is as of now, not the request's start.
		r.writeEntry(e, res, r.e.now())
	}
	if resp, _ := spec.take(); resp != nil {
		resp.CloseBodyStream() //nolint:errcheck // not needed after all
		fasthttp.ReleaseResponse(resp)
	}
}

// spec copies what the origin request needs out of the viewer request.
func (r *request) spec(enc cache.Encoding, cacheable bool) *originSpec {
	b := r.beh
	uri := appendQuotedPath(r.scratch[:0], r.v.path)
	if len(r.query) > 0 {
		n := len(uri)
		uri = append(uri, '?')
		uri = appendFilteredQuery(uri, b.fwd.query, b.fwd.queryNames, r.query)
		if len(uri) == n+1 {
			uri = uri[:n]
		}
	}
	uriStr := string(uri)
	s := &originSpec{target: b.target, method: string(r.v.method), uri: uriStr,
		headers: r.originHeaders(enc, cacheable), maxObj: r.e.store.MaxObjectSize(), m: r.e.m, now: r.e.now}
	switch s.method {
	case "GET", "HEAD", "OPTIONS":
		s.failover = true
	}
	if cacheable && s.method == "HEAD" {
		// A HEAD miss fetches the object (as Varnish does), so the answer
		// can be stored and serve the GETs that share its key.
		s.method = "GET"
	}
	if b.fwd.host {
		s.host = string(r.v.host)
	}
	if !cacheable {
		s.body = append([]byte(nil), r.ctx.Request.Body()...)
	}
	return s
}

// originFailed answers a request whose origin could not be reached and
// for which nothing cached may stand in.
func (r *request) originFailed(err error) {
	status, detail := 502, "OriginError"
	var le *l7.Error
	if errors.As(err, &le) {
		status, detail = le.Status, cloudFrontDetail(le.Reason)
	}
	r.e.log.Warn("origin request", "target", r.beh.target.id, "client_ip", r.viewer.String(), "status", status, "err", err)
	reason := "The edge could not get an answer from the origin."
	if status == 504 {
		reason = "The origin did not answer in time."
	}
	r.errorPage(status, reason, detail)
}

// passThrough streams an uncached answer: methods that are not cached,
// and objects over max_object_size.
func (r *request) passThrough(s *originSpec) {
	resp, prefix := s.take()
	if resp == nil {
		var err error
		resp, _, err = s.do(context.Background(), cache.Validators{})
		if err != nil {
			r.originFailed(err)
			return
		}
	}
	rs := &r.ctx.Response
	rs.SetStatusCode(resp.StatusCode())
	for _, f := range responseFields(&resp.Header) {
		if f.Name == "Content-Length" {
			continue
		}
		if !r.beh.flow.KeepSetCookie && f.Name == "Set-Cookie" {
			continue
		}
		rs.Header.Add(f.Name, f.Value)
	}
	r.status, r.result = resp.StatusCode(), "Miss"
	if r.status >= 400 {
		r.result = "Error"
	}
	if r.v.head {
		cl := resp.Header.ContentLength()
		resp.CloseBodyStream() //nolint:errcheck // a HEAD answer has no body
		fasthttp.ReleaseResponse(resp)
		if cl >= 0 {
			rs.Header.SetContentLength(cl)
		}
		return
	}
	if st := resp.BodyStream(); st != nil {
		rs.SetBodyStream(&streamedBody{resp: resp, prefix: prefix}, resp.Header.ContentLength())
		return
	}
	rs.SetBody(resp.Body())
	fasthttp.ReleaseResponse(resp)
}

// streamedBody hands an origin body to the viewer and releases the origin
// response when fasthttp closes it.
type streamedBody struct {
	resp   *fasthttp.Response
	prefix []byte // bytes already read from the stream
}

func (s *streamedBody) Read(p []byte) (int, error) {
	if len(s.prefix) > 0 {
		n := copy(p, s.prefix)
		s.prefix = s.prefix[n:]
		return n, nil
	}
	return s.resp.BodyStream().Read(p)
}

func (s *streamedBody) Close() error {
	err := s.resp.CloseBodyStream()
	fasthttp.ReleaseResponse(s.resp)
	return err
}

// customErrorPhase applies the distribution's custom error responses:
// the page from the origin (through the behaviour matching its path, so it
// is cached like any object) and the response code.
func (r *request) customErrorPhase() {
	if r.dist == nil || r.status < 400 {
		return
	}
	ce := r.dist.errors[r.status]
	if ce == nil {
		return
	}
	code := ce.responseCode
	if code == 0 {
		code = r.status
	}
	if ce.pagePath == "" {
		r.ctx.SetStatusCode(code)
		r.status = code
		return
	}
	pb := r.dist.behavior([]byte(ce.pagePath))
	saved := r.beh
	r.beh = pb
	key, enc := pb.key.AppendKey(r.keyBuf[:0], r.dist.Name, &cache.Request{Method: "GET", Path: []byte(ce.pagePath),
		Header: r.v.hdr})
	r.keyBuf = key
	s := r.spec(enc, true)
	s.method = "GET"
	s.uri = string(appendQuotedPath(nil, []byte(ce.pagePath)))
	s.body = nil
	e, _, err := pb.flow.Serve(context.Background(), key, enc, s.fetch)
	r.beh = saved
	if err != nil {
		return // keep the original answer
	}
	result, detail := r.result, r.detail
	r.ctx.Response.Reset()
	r.writeEntryStatus(e, code)
	r.result, r.detail, r.errPage = result, detail, true
	r.status = r.ctx.Response.StatusCode()
}

func b2s(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

func netipAddrPort(a netip.Addr, port uint16) netip.AddrPort { return netip.AddrPortFrom(a, port) }
