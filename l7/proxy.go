package l7

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// exchange is the per-request state of the proxy: the view, the record,
// the outgoing request and the target's response. It is pooled; when the
// response body streams after the handler returns, the body stream owns
// it until fasthttp closes the stream.
type exchange struct {
	s   *Server
	r   *Router
	ctx *fasthttp.RequestCtx // valid only while the handler runs

	view    RequestView
	rec     Record
	verdict verdict

	req  fasthttp.Request
	resp fasthttp.Response

	host, xff, trace, loc, port, lhost []byte
	body                               []byte // a small request body, read whole
	hdr                                []byte // a response head written by hand

	tg        *TargetGroup
	b         *backend
	acquired  bool
	streaming bool
	upgrade   bool
	closeTgt  bool
	// raw: the target's head goes to the client as bytes (the event
	// loop's raw path, rawresp.go), with status rawStatus; x.resp is
	// empty then.
	raw       bool
	rawStatus int
	// rawReq: the request goes to the target as bytes (rawreq.go), x.req
	// is not filled; connNames holds the names its Connection fields list
	// (nconn of them, views of the client's header block).
	rawReq    bool
	connNames [maxConnectionNames][]byte
	nconn     int
	tSent     time.Time
	// hasXFF is true when the client sent an X-Forwarded-For field.
	hasXFF   bool
	tHeaders time.Time

	reqBody  bodyReader
	respBody bodyStream
	// up holds the target connection while a large response streams.
	up upstream
	// head is true for HEAD requests (the response has no body).
	head bool

	// lc is the event-loop connection that carries the request, nil on
	// the goroutine path (see loop_linux.go); classified says the loop
	// ran classify already (verdict holds its result). fwd and fwdNow are
	// forward's arguments, kept while the loop waits for the target.
	lc         *lconn
	classified bool
	fwd        *forwardAction
	fwdNow     time.Time
	attempt    int
}

// exchangePool keeps exchanges with the body buffer of their target
// response attached (KeepBodyBuffer): a small body is read into it and
// handed to the client's response by swap, so each request would
// otherwise take a buffer from fasthttp's pool and put one back.
var exchangePool = sync.Pool{New: func() any {
	x := new(exchange)
	x.resp.KeepBodyBuffer = true
	return x
}}

func acquireExchange() *exchange {
	x := exchangePool.Get().(*exchange)
	x.rec.reset()
	return x
}

func releaseExchange(x *exchange) {
	x.req.Reset()
	x.resp.Reset()
	x.s, x.r, x.ctx, x.tg, x.b = nil, nil, nil, nil, nil
	x.view = RequestView{}
	x.verdict = verdict{}
	x.acquired, x.streaming, x.upgrade, x.closeTgt, x.head = false, false, false, false, false
	x.raw, x.rawStatus, x.rawReq = false, 0, false
	clear(x.connNames[:x.nconn])
	x.nconn = 0
	x.lc, x.classified, x.fwd, x.attempt = nil, false, nil, 0
	if x.up != nil {
		x.up.done(false)
		x.up = nil
	}
	x.reqBody = bodyReader{}
	x.respBody = bodyStream{}
	exchangePool.Put(x)
}

// fill sets v from the request ctx holds (the fields routing reads) and
// returns the listener's address.
func (v *RequestView) fill(ctx *fasthttp.RequestCtx) (local netip.AddrPort) {
	h := &ctx.Request.Header
	v.Method = h.Method()
	v.Host, v.HostPort = splitHostPort(ctx.Host())
	v.Path = ctx.Path()
	v.RawQuery = ctx.URI().QueryString()
	v.RawHeaders = h.RawHeaders()
	v.Client = addrPort(ctx.RemoteAddr())
	local = addrPort(ctx.LocalAddr())
	v.ListenerPort = local.Port()
	return local
}

// serve runs the request through desync checks, the rules and the action.
func (x *exchange) serve() {
	ctx, s := x.ctx, x.s
	h := &ctx.Request.Header
	now := time.Now()
	x.rec.Listener = s.name
	x.rec.Type = s.recType(false)
	x.rec.Received = now

	v := &x.view
	local := v.fill(ctx)
	if len(v.Host) == 0 {
		// HTTP/1.0 without Host: ALB sends its own name; ours is the
		// listener's address.
		x.lhost = local.Addr().AppendTo(x.lhost[:0])
		v.Host = x.lhost
	}
	if s.https || ctx.IsTLS() {
		v.TLS = s.tlsFacts(ctx.Conn())
	}

	// The record keeps its own copies: a WebSocket tunnel outlives ctx.
	r := &x.rec
	r.Client = v.Client
	r.ConnID = connID(ctx)
	r.Method = append(r.Method, v.Method...)
	r.Host = append(r.Host, v.Host...)
	if len(v.HostPort) > 0 {
		r.Port = append(r.Port, v.HostPort...)
	} else {
		r.Port = strconv.AppendUint(r.Port, uint64(v.ListenerPort), 10)
	}
	r.URI = append(r.URI, h.RequestURI()...)
	r.Proto = append(r.Proto, h.Protocol()...)
	r.UserAgent = append(r.UserAgent, h.UserAgent()...)
	r.Scheme = "http"
	if v.TLS.On {
		r.Scheme = "https"
		r.TLSCipher, r.TLSProtocol, r.ServerName, r.ChosenCert = v.TLS.Cipher, v.TLS.Version, v.TLS.ServerName, v.TLS.ChosenCert
	}
	r.ReceivedBytes = int64(len(h.RequestURI()) + len(v.Method) + len(r.Proto) + 4 + len(v.RawHeaders) + 2)

	if len(h.RequestURI()) > maxRequestLine {
		ctx.SetConnectionClose()
		x.fail(414, ReasonMalformedRequest)
		return
	}
	// Desync mitigation first: nothing ambiguous is routed or forwarded.
	if !x.classified {
		x.verdict = classify(h, v.RawHeaders, h.RequestURI())
	}
	if x.verdict.longField {
		ctx.SetConnectionClose()
		x.fail(431, ReasonMalformedRequest)
		return
	}
	if x.verdict.badTarget {
		ctx.SetConnectionClose()
		x.fail(400, ReasonMalformedRequest)
		return
	}
	if x.verdict.connNames > maxConnectionNamesPerRequest {
		ctx.SetConnectionClose()
		x.fail(400, ReasonMalformedRequest)
		return
	}
	if c := x.verdict.class; c != classCompliant {
		s.counters.NonCompliant.Add(1)
		r.Classification, r.ClassificationReason = c.String(), x.verdict.reason
		block := false
		switch x.r.desync {
		case desyncDefensive:
			block = c == classSevere
			if c == classAmbiguous {
				ctx.SetConnectionClose()
				x.closeTgt = true
			}
		case desyncStrictest:
			block = true
		}
		if block {
			s.counters.Blocked.Add(1)
			ctx.SetConnectionClose()
			x.fail(400, ReasonDesync)
			return
		}
	}
	if h.IsHTTP11() && len(h.Host()) == 0 {
		ctx.SetConnectionClose()
		x.fail(400, ReasonMalformedRequest)
		return
	}
	if string(v.Method) == "TRACE" {
		x.fail(405, ReasonTrace)
		return
	}
	if string(v.Method) == "CONNECT" {
		// lb opens no tunnels; fasthttp would turn the authority-form
		// target into a path ("CONNECT h:443" forwarded as "CONNECT
		// /h:443"). NGINX answers 405 too.
		x.fail(405, ReasonConnect)
		return
	}
	x.hasXFF = x.verdict.xff
	if x.hasXFF && countXFF(v) > maxXFFAddresses {
		x.fail(463, ReasonTooManyXFF)
		return
	}

	if s.opts.HTTP01 != nil && hasPrefix(v.Path, acmeChallengePrefix) {
		if body, ok := s.opts.HTTP01(v.Path); ok {
			resp := &ctx.Response
			resp.SetStatusCode(200)
			resp.Header.SetContentType("text/plain")
			resp.SetBody(body)
			x.rec.Status = 200
			return
		}
	}
	if s.testHookRoute != nil {
		s.testHookRoute(v)
	}
	rule := x.r.Match(v)
	r.RulePriority = rule.Priority
	a := &rule.action
	r.Actions |= a.kind
	switch a.kind {
	case ActionFixedResponse:
		s.counters.FixedResponses.Add(1)
		resp := &ctx.Response
		resp.SetStatusCode(a.fixed.status)
		resp.Header.SetContentType(a.fixed.contentType)
		resp.SetBodyRaw(a.fixed.body)
		x.rec.Status = a.fixed.status
	case ActionRedirect:
		s.counters.Redirects.Add(1)
		x.loc = a.redir.location(x.loc[:0], v, x.r.https || v.TLS.On)
		ctx.Response.SetStatusCode(a.redir.status)
		ctx.Response.Header.SetBytesV("Location", x.loc)
		r.RedirectURL = append(r.RedirectURL, x.loc...)
		x.rec.Status = a.redir.status
	case ActionForward:
		x.forward(&a.fwd, now)
	}
}

// acmeChallengePrefix is where ACME HTTP-01 challenges are fetched (RFC
// 8555 §8.3); they are answered before any rule so a rule cannot shadow
// them.
const acmeChallengePrefix = "/.well-known/acme-challenge/"

func hasPrefix(b []byte, p string) bool { return len(b) >= len(p) && string(b[:len(p)]) == p }

// fail answers with an error generated by the load balancer.
func (x *exchange) fail(status int, reason string) {
	writeErrorResponse(&x.ctx.Response, status)
	x.rec.Status = status
	x.rec.ErrorReason = reason
	if status >= 500 {
		x.s.counters.ELB5xx.Add(1)
	} else {
		x.s.counters.ELB4xx.Add(1)
	}
}

func (x *exchange) failWith(e *Error) {
	if e.Side == SideDownstream {
		x.ctx.SetConnectionClose()
	}
	x.fail(e.Status, e.Reason)
}

func (x *exchange) forward(f *forwardAction, now time.Time) {
	ctx := x.ctx
	tg, invalid := f.chooseGroup(&x.view, now)
	if invalid {
		x.rec.ErrorReason = ReasonStickyCookie
	}
	if tg == nil {
		x.fail(503, ReasonNoTarget)
		return
	}
	x.tg = tg
	x.rec.TargetGroup = tg.name
	b := tg.pick(&x.view, nil)
	if b == nil {
		x.fail(503, ReasonNoTarget)
		return
	}
	// An upgrade needs an Upgrade field, which is hop-by-hop: without one
	// (classify's pass) the header is not searched for it.
	if x.verdict.hopByHop && isUpgrade(&ctx.Request.Header) {
		x.websocket(b)
		return
	}
	if x.lc != nil && x.rawRequestable(tg) {
		// The event loop writes the head as bytes when it sends it
		// (rawreq.go); fillRequest runs only if the exchange leaves the
		// loop before that.
		x.forwardValues()
		x.rawReq = true
	} else if err := x.buildRequest(tg); err != nil {
		x.failWith(downstreamBodyError(err))
		return
	}
	x.head = ctx.IsHead()
	if x.lc != nil && x.lc.l.send(x, b, f, now) {
		// The event loop carries the exchange on; it calls forwardDone.
		return
	}
	x.forwardSync(f, b, now)
}

// forwardSync runs the exchange with b's target on this goroutine: the
// round trip through the target's pool, a retry on another target when
// the first attempt failed before anything was sent, then forwardDone.
func (x *exchange) forwardSync(f *forwardAction, b *backend, now time.Time) {
	for attempt := 0; ; attempt++ {
		b.t.Acquire()
		x.rec.Target = b.t.Addr
		if x.reqBody.n > 0 || attempt > 0 {
			x.tSent = time.Now()
		} else {
			// Nothing was waited for since arrival but microseconds of
			// routing; the log shows milliseconds: save a clock read.
			x.tSent = x.rec.Received
		}
		err := x.roundTrip(b)
		if err == nil {
			x.b, x.acquired = b, true
			break
		}
		b.t.Release()
		nb, e := x.afterFailure(b, err, attempt)
		if nb == nil {
			x.failWith(e)
			return
		}
		b = nb
	}
	x.forwardDone(f, now)
}

// afterFailure decides what follows a failed attempt on b's target (b's
// Acquire already released): another attempt on nb, or the error e the
// client gets. Only the first attempt is retried, and only when nothing
// of the request was sent or it may be replayed (ALB's retry rules).
func (x *exchange) afterFailure(b *backend, err error, attempt int) (nb *backend, e *Error) {
	if targetDrained(b.t) {
		// The deregistration delay ended while the request waited for
		// its response: 502, never a retry (ALB).
		return nil, &Error{Side: SideUpstream, Status: 502, Reason: ReasonDeregistered, Err: err}
	}
	if ce := x.reqBody.clientErr; ce != nil {
		return nil, downstreamBodyError(ce)
	}
	e = upstreamError(err)
	var de *dialError
	dial := errors.As(err, &de)
	if dial {
		b.t.ReportFailure()
	}
	// Not sent at all: a failed connect, or a pooled connection found
	// stale before the first byte (and no body byte consumed yet).
	unsent := dial || (errors.Is(err, errStaleConn) && (!x.req.IsBodyStream() || x.reqBody.n == 0))
	replayable := unsent || (e.Retryable && isIdempotent(x.view.Method) && !x.req.IsBodyStream())
	if attempt == 0 && replayable && e.Status != 503 {
		nb = x.tg.pick(&x.view, b.t)
		if (nb == nil || nb.t == b.t) && !dial {
			// A stale pooled connection to the only target: a fresh
			// connection to the same target is the retry.
			nb = b
		}
		if nb != nil && (nb.t != b.t || !dial) {
			x.s.counters.Retries.Add(1)
			x.rec.Retried = true
			return nb, nil
		}
	}
	return nil, e
}

// forwardDone answers with the target's response, whose head (and small
// body) x.resp holds, and x.b's target acquired.
func (x *exchange) forwardDone(f *forwardAction, now time.Time) {
	x.reqBody.r = nil
	x.tHeaders = time.Now()
	x.rec.RequestProcessing = x.tSent.Sub(x.rec.Received)
	x.rec.TargetProcessing = x.tHeaders.Sub(x.tSent)
	if x.raw {
		x.respondRaw()
	} else {
		x.respond()
	}
	tg := x.tg
	if f.stickiness > 0 && len(f.groups) > 1 {
		// Set on every response: the window is refreshed, as ALB does.
		setGroupCookie(x, f.scope, tg.name, now, f.stickiness)
	}
	if tg.affinity != nil {
		tg.affinity.remember(x, x.b)
	}
}

func isIdempotent(m []byte) bool {
	switch string(m) {
	case "GET", "HEAD", "OPTIONS", "PUT", "DELETE":
		return true
	}
	return false
}

func isUpgrade(h *fasthttp.RequestHeader) bool {
	up := h.Peek("Upgrade")
	if len(up) == 0 {
		return false
	}
	found := false
	forEachToken(h.Peek("Connection"), func(t []byte) {
		if equalFold(t, "upgrade") {
			found = true
		}
	})
	return found
}

// buildRequest turns the client's request into the one sent to the target:
// hop-by-hop fields stripped, Host as ALB sends it, X-Forwarded-*, trace id.
func (x *exchange) buildRequest(tg *TargetGroup) error {
	x.forwardValues()
	x.fillRequest(tg)
	ctx, s := x.ctx, x.s
	in := &ctx.Request.Header
	req := &x.req
	if cl := in.ContentLength(); cl != 0 && cl != -2 {
		st := ctx.RequestBodyStream()
		switch {
		case st == nil:
			req.SetBodyRaw(ctx.Request.Body())
		case cl > 0 && cl <= maxBufferedBody:
			// Small bodies are read whole first: the request can then be
			// replayed on a fresh connection if its pooled one was stale.
			x.reqBody = bodyReader{r: st, conn: ctx.Conn(), idle: s.idle}
			x.body = growBytes(x.body, cl)
			if _, err := io.ReadFull(&x.reqBody, x.body); err != nil {
				if x.reqBody.clientErr == nil {
					x.reqBody.clientErr = io.ErrUnexpectedEOF
				}
				return x.reqBody.clientErr
			}
			req.SetBodyRaw(x.body)
		default:
			x.reqBody = bodyReader{r: st, conn: ctx.Conn(), idle: s.idle}
			req.SetBodyStream(&x.reqBody, cl)
		}
	}
	return nil
}

// forwardValues computes the values lb sets in the forwarded request,
// whichever way it is written (fillRequest, or appendRawRequest on the
// event loop): Host, X-Forwarded-For in append mode, X-Forwarded-Port and
// the trace id, which the access log records too.
func (x *exchange) forwardValues() {
	x.host = appendForwardHost(x.host[:0], &x.view)
	if x.r.xff == xffAppend {
		if x.hasXFF {
			x.xff = appendXFF(x.xff[:0], &x.view, x.r.xffPort)
		} else {
			// No field to join: the client alone, without a pass over the
			// header block.
			x.xff = appendClient(x.xff[:0], x.view.Client, x.r.xffPort)
		}
	}
	x.port = strconv.AppendUint(x.port[:0], uint64(x.view.ListenerPort), 10)
	var incoming []byte
	if x.verdict.trace {
		incoming = x.ctx.Request.Header.Peek("X-Amzn-Trace-Id")
	}
	if len(x.view.RawHeaders) > maxTraceHeaderBlock {
		// ALB starts a fresh trace when the request headers pass 7 KB.
		incoming = nil
	}
	x.trace = appendTraceID(x.trace[:0], incoming, x.rec.Received)
	x.rec.TraceID = append(x.rec.TraceID, x.trace...)
}

// forwardedProto is the X-Forwarded-Proto value: the listener's protocol.
func (x *exchange) forwardedProto() []byte {
	if x.view.TLS.On || x.r.https {
		return strHTTPS
	}
	return strHTTP
}

// fillRequest sets x.req's header: the client's, less what never crosses
// the proxy, with forwardValues' fields.
func (x *exchange) fillRequest(tg *TargetGroup) {
	ctx := x.ctx
	in := &ctx.Request.Header
	req := &x.req
	in.CopyTo(&req.Header)
	if x.verdict.hopByHop { // found by classify, which bounded the names
		stripRequestHopByHop(&req.Header, x.view.RawHeaders)
		req.Header.Del("Expect") // answered with 100 Continue by the server
	}
	if x.verdict.dropSuspicious {
		dropSuspicious(&req.Header, x.view.RawHeaders)
	}
	if x.closeTgt {
		req.Header.SetConnectionClose()
	} else {
		req.Header.ResetConnectionClose()
	}
	// Request target: the canonical path routing saw, plus the query. It
	// goes out as set: req.URI() is left unparsed (Request.Write would
	// otherwise parse it and build it again on every request).
	req.SetRequestURIBytes(ctx.URI().RequestURI())
	if tg.isTLS {
		u := req.URI()
		u.DisablePathNormalizing = true // as routed, never normalised again
		u.SetScheme("https")
	}
	req.UseHostHeader = true
	req.Header.SetHostBytes(x.host)
	switch x.r.xff {
	case xffAppend:
		if x.hasXFF {
			req.Header.Del("X-Forwarded-For")
		}
		req.Header.SetCanonical(hdrXFF, x.xff)
	case xffRemove:
		if x.hasXFF {
			req.Header.Del("X-Forwarded-For")
		}
	}
	// What the client sent of these goes, every copy (ALB overwrites
	// them): Set alone replaces only the first.
	if x.verdict.xfProto {
		req.Header.DelBytes(hdrXFProto)
	}
	if x.verdict.xfPort {
		req.Header.DelBytes(hdrXFPort)
	}
	req.Header.SetCanonical(hdrXFProto, x.forwardedProto())
	req.Header.SetCanonical(hdrXFPort, x.port)
	if x.verdict.trace {
		req.Header.DelBytes(hdrTraceID)
	}
	req.Header.SetCanonical(hdrTraceID, x.trace)
}

// The fields buildRequest sets, in fasthttp's canonical case, so setting
// them skips normalising the name on every request.
var (
	hdrXFF     = []byte("X-Forwarded-For")
	hdrXFProto = []byte("X-Forwarded-Proto")
	hdrXFPort  = []byte("X-Forwarded-Port")
	hdrTraceID = []byte("X-Amzn-Trace-Id")
	strHTTP    = []byte("http")
	strHTTPS   = []byte("https")
)

// maxBufferedBody is the largest request body read whole before it is
// sent (larger ones stream).
const maxBufferedBody = 64 << 10

func growBytes(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}

// maxTraceHeaderBlock is the header size past which ALB replaces the
// trace header with a fresh Root (elb.md §3.3).
const maxTraceHeaderBlock = 7 << 10

// appendForwardHost builds the Host sent to the target (elb.md §3.2):
// lower-cased; on listener ports 80 and 443 any port is removed, on
// other ports the listener port is added when missing.
func appendForwardHost(dst []byte, v *RequestView) []byte {
	for _, c := range v.Host {
		dst = append(dst, lower(c))
	}
	switch {
	case v.ListenerPort == 80 || v.ListenerPort == 443:
	case len(v.HostPort) > 0:
		dst = append(dst, ':')
		dst = append(dst, v.HostPort...)
	default:
		dst = append(dst, ':')
		dst = strconv.AppendUint(dst, uint64(v.ListenerPort), 10)
	}
	return dst
}

func dropSuspicious(h *fasthttp.RequestHeader, raw []byte) {
	for line := range headerLines(raw) {
		if k := indexByte(line, ':'); k > 0 && suspiciousName(line[:k]) {
			h.DelBytes(line[:k])
		}
	}
}

// targetAnswered records and counts the target's status.
func (x *exchange) targetAnswered(status int) {
	s := x.s
	x.rec.TargetStatus = status
	switch {
	case status >= 500:
		s.counters.Target5xx.Add(1)
	case status >= 400:
		s.counters.Target4xx.Add(1)
	case status >= 300:
		s.counters.Target3xx.Add(1)
	default:
		s.counters.Target2xx.Add(1)
	}
}

// respondRaw is respond for a head the event loop forwards as bytes
// (rawresp.go): the status is recorded and counted, the answer closes when
// the client asked or the target connection will not be reused; the
// fields themselves go out as the target sent them.
func (x *exchange) respondRaw() {
	ctx := x.ctx
	x.targetAnswered(x.rawStatus)
	x.rec.Status = x.rawStatus
	if ctx.Request.Header.ConnectionClose() || x.closeTgt {
		ctx.SetConnectionClose()
	}
}

// respond copies the target's response to the client: status and headers
// (hop-by-hop stripped), and the body as a stream.
func (x *exchange) respond() {
	ctx := x.ctx
	in := &x.resp.Header
	status := in.StatusCode()
	x.targetAnswered(status)
	out := &ctx.Response
	if in.IsHTTP11() {
		in.CopyTo(&out.Header)
		// CopyTo resets out's "no default Content-Type" (the server's
		// setting): a target's answer without one must not gain
		// text/plain on the way (ALB, HAProxy and NGINX add none).
		out.Header.SetNoDefaultContentType(true)
	} else {
		// CopyTo would carry the target's HTTP/1.0 into the answer to an
		// HTTP/1.1 client (no chunked framing): copy the fields instead.
		// in.All() would yield fasthttp's default Content-Type for an
		// answer without one: the target's header must say there is none.
		in.SetNoDefaultContentType(true)
		out.Header.SetStatusCode(status)
		for k, v := range in.All() {
			if equalFold(k, "Content-Length") || equalFold(k, "Transfer-Encoding") || equalFold(k, "Connection") {
				continue
			}
			out.Header.AddBytesKV(k, v)
		}
	}
	if responseHasHopByHop(in) {
		stripResponseHopByHop(&out.Header, in)
	}
	out.Header.ResetConnectionClose()
	if ctx.Request.Header.ConnectionClose() || x.closeTgt {
		ctx.SetConnectionClose()
	}
	x.rec.Status = status
	x.rec.SentBytes = int64(headerSize(&out.Header))
	body := x.resp.BodyStream()
	if body == nil {
		if b := x.resp.Body(); len(b) > 0 {
			// The buffers are exchanged, not copied: x.resp is reset once
			// the handler returns and keeps out's empty buffer for the
			// next answer.
			x.rec.SentBytes += int64(len(b))
			spare := out.SwapBody(nil)
			out.SwapBody(x.resp.SwapBody(spare))
		} else if x.head {
			// Keep the target's Content-Length on a HEAD answer.
			out.Header.SetContentLength(in.ContentLength())
		}
		return
	}
	cl := in.ContentLength()
	if cl < 0 {
		cl = -1
		if !ctx.Request.Header.IsHTTP11() {
			// HTTP/1.0 cannot read chunked: the body goes raw, delimited
			// by closing the connection.
			x.streamUntilClose(body)
			return
		}
	}
	x.streaming = true
	x.respBody = bodyStream{x: x, r: body, conn: ctx.Conn(), idle: x.s.idle}
	out.SetBodyStream(&x.respBody, cl)
}

// streamUntilClose answers an HTTP/1.0 client with a body of unknown
// length: the header, then the body bytes as they come, then close.
func (x *exchange) streamUntilClose(body io.Reader) {
	ctx, s := x.ctx, x.s
	out := &ctx.Response.Header
	out.SetConnectionClose()
	out.Del("Transfer-Encoding")
	out.SetContentLength(-2) // identity: no Content-Length, no chunking
	x.hdr = append(x.hdr[:0], out.Header()...)
	x.streaming = true
	x.respBody = bodyStream{x: x, r: body, idle: s.idle}
	s.hwg.Add(1)
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(c net.Conn) {
		defer s.hwg.Done()
		s.hmu.Lock()
		s.hijacked[c] = struct{}{}
		s.hmu.Unlock()
		defer func() {
			s.hmu.Lock()
			delete(s.hijacked, c)
			s.hmu.Unlock()
		}()
		b := &x.respBody
		b.conn = c
		var err error
		_ = c.SetWriteDeadline(time.Now().Add(b.idle))
		if _, err = c.Write(x.hdr); err == nil {
			_, err = io.Copy(writerOnly{c}, b)
		}
		_ = c.Close()
		if b.readErr != nil {
			err = nil // the target's fault, recorded by the stream
		}
		_ = b.CloseWithError(err)
	})
}

// writerOnly hides ReadFrom so io.Copy goes through bodyStream.Read (and
// its deadlines) rather than around it.
type writerOnly struct{ io.Writer }

func headerSize(h *fasthttp.ResponseHeader) int {
	n := 17 // status line
	for k, v := range h.All() {
		n += len(k) + len(v) + 4
	}
	return n + 2
}

// abandonUpstream releases what a panicking request held.
func (x *exchange) abandonUpstream() {
	if x.streaming && !x.upgrade {
		x.streaming = false
		// The stream must not finish the exchange: the handler does.
		x.respBody.done = true
		x.ctx.Response.ResetBody()
		_ = x.resp.CloseBodyStream()
	}
}

// finish ends the exchange: times, observer, counters, release. It never
// touches ctx (it may run after the handler returned).
func (x *exchange) finish() {
	s := x.s
	var now time.Time
	if x.acquired && !x.streaming {
		// A buffered answer: respond only copied it since tHeaders
		// (microseconds; the log shows milliseconds), so that clock read
		// stands for this one.
		now = x.tHeaders
	} else {
		now = time.Now()
	}
	x.rec.Done = now
	if x.acquired {
		x.rec.ResponseProcessing = now.Sub(x.tHeaders)
		x.b.t.Release()
		x.acquired = false
	}
	x.rec.ReceivedBytes += x.reqBody.n
	if s.obs != nil {
		s.observe(&x.rec)
	}
	s.counters.Requests.Add(1)
	s.counters.ActiveRequests.Add(-1)
	releaseExchange(x)
}

// bodyReader reads the client's request body for the target, pushing the
// client connection's read deadline forward on every read (idle timeout)
// and remembering a client-side error so it is not blamed on the target.
type bodyReader struct {
	r         io.Reader
	conn      net.Conn
	idle      time.Duration
	n         int64
	clientErr error
	dl        idleDeadline
}

func (b *bodyReader) Read(p []byte) (int, error) {
	if b.r == nil {
		return 0, io.EOF
	}
	if b.conn != nil && b.dl.due() {
		_ = b.conn.SetReadDeadline(b.dl.next(b.idle))
	}
	n, err := b.r.Read(p)
	b.n += int64(n)
	if err != nil && err != io.EOF {
		b.clientErr = err
	}
	return n, err
}

// bodyStream streams the target's response body to the client. fasthttp
// reads it after the handler returned and closes it when done; Close ends
// the exchange.
type bodyStream struct {
	x    *exchange
	r    io.Reader
	conn net.Conn
	idle time.Duration
	n    int64
	done bool
	dl   idleDeadline
	// readErr is the target-side error that cut the body, if any; eof is
	// set once the body was read to its end.
	readErr error
	eof     bool
}

// errTargetDrained ends a response body still streaming when its target's
// deregistration delay has run out (ALB cuts such requests too).
var errTargetDrained = errors.New("l7: target deregistration delay elapsed")

func (b *bodyStream) Read(p []byte) (int, error) {
	if b.x.b != nil {
		select {
		case <-b.x.b.t.Drained():
			return 0, errTargetDrained
		default:
		}
	}
	if b.conn != nil && b.dl.due() {
		_ = b.conn.SetWriteDeadline(b.dl.next(b.idle))
	}
	n, err := b.r.Read(p)
	b.n += int64(n)
	if err == io.EOF {
		b.eof = true
	} else if err != nil {
		if b.x.b != nil && targetDrained(b.x.b.t) {
			err = errTargetDrained // the drain watch cut the connection
		}
		b.readErr = err
	}
	return n, err
}

// streamBufPool holds the buffers large response bodies are copied
// through.
var streamBufPool = sync.Pool{New: func() any { return new([streamBufSize]byte) }}

// streamBufSize is the copy unit of a streamed response body: large enough
// that the target's socket is read straight into it and the client's
// socket written straight from it (both bufio layers step aside for reads
// and writes at least their size), so a 256 KiB body takes a handful of
// syscalls each way and no copy in user space besides.
const streamBufSize = 64 << 10

// WriteTo copies the body to w (fasthttp's writer for the client) in
// streamBufSize pieces through Read, so deadlines, the drain check and the
// error bookkeeping stay the same as for a plain copy. Without it fasthttp
// copies through its 16 KiB write buffer: four times the write syscalls
// and one more copy of every byte.
func (b *bodyStream) WriteTo(w io.Writer) (int64, error) {
	buf := streamBufPool.Get().(*[streamBufSize]byte)
	defer streamBufPool.Put(buf)
	var total int64
	for {
		n, rerr := b.Read(buf[:])
		if n > 0 {
			m, werr := w.Write(buf[:n])
			total += int64(m)
			if werr != nil {
				return total, werr
			}
			if m < n {
				return total, io.ErrShortWrite
			}
		}
		if rerr == io.EOF {
			return total, nil
		}
		if rerr != nil {
			return total, rerr
		}
	}
}

// CloseWithError is called by fasthttp with the write error, if any.
// bodyStream deliberately has no Close method: fasthttp would call both.
func (b *bodyStream) CloseWithError(err error) error {
	if b.done {
		return nil
	}
	b.done = true
	x := b.x
	_ = x.resp.CloseBodyStream()
	if x.up != nil {
		// Reuse the connection only when the body was read to its end.
		x.up.done(b.eof && b.readErr == nil && !x.resp.ConnectionClose() && !x.closeTgt)
		x.up = nil
	}
	x.rec.SentBytes += b.n
	if b.readErr != nil {
		// The target cut the body (reset, timeout, drained): the client
		// connection is aborted so it cannot take the body as complete.
		if x.rec.ErrorReason == "" {
			x.rec.ErrorReason = upstreamError(b.readErr).Reason
		}
	} else if err != nil {
		if x.rec.ErrorReason == "" {
			x.rec.ErrorReason = ReasonClientClosed
		}
		if b.n == 0 {
			// Nothing of the body got out: the client left before lb
			// could answer (ALB logs 460).
			x.rec.Status = 460
		}
	}
	x.finish()
	return nil
}

// observe hands r to the observer; a panicking observer is counted and
// logged, never fatal (it may run outside the handler's recover).
func (s *Server) observe(r *Record) {
	defer func() {
		if p := recover(); p != nil {
			s.counters.Panics.Add(1)
			s.log.Error("l7: observer panic", "listener", s.name, "err", fmt.Sprint(p))
		}
	}()
	s.obs.ObserveRequest(r)
}
