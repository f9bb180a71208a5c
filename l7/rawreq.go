package l7

import "bytes"

// The event loop sends a bodiless, compliant request's head to the target
// as bytes: the request line with the routed path, lb's Host, the client's
// field lines as they came less those lb replaces or never forwards, then
// lb's X-Forwarded-* and trace id. The parsed path copies the client's
// header into x.req (CopyTo), sets four fields (each a scan of the copy)
// and serialises it again (Request.Write); this is one pass over the
// bytes classify has already vetted.
//
// The two agree on what a target reads (a differential fuzz test holds
// them to it), with two differences a target may see and none it may act
// on differently: the fields keep the client's order and name case
// (fasthttp moves User-Agent, Content-Type and cookies and canonicalises
// names), and a repeated User-Agent or Content-Type passes as sent
// (fasthttp keeps the last).

// rawRequestable reports whether x's request may go to tg's target as
// bytes: plain HTTP, HTTP/1.1, compliant (classify), without a body.
func (x *exchange) rawRequestable(tg *TargetGroup) bool {
	h := &x.ctx.Request.Header
	if tg.isTLS || x.verdict.class != classCompliant || x.verdict.dropSuspicious || !h.IsHTTP11() {
		return false
	}
	if cl := h.ContentLength(); cl != 0 && cl != -2 {
		return false
	}
	return !x.verdict.hopByHop || x.collectConnectionNames()
}

// maxConnectionNames bounds the names Connection fields may list for the
// raw path (keep-alive, close and a few more are what clients send); more
// take the parsed path.
const maxConnectionNames = 8

// collectConnectionNames gathers the names the request's Connection fields
// list into x.connNames, once, so that each field line is then checked
// against a handful of names instead of rescanning the block (which a
// 64 KiB block of short lines would make quadratic); false when there are
// more than maxConnectionNames.
func (x *exchange) collectConnectionNames() bool {
	x.nconn = 0
	ok := true
	forEachConnectionName(x.view.RawHeaders, func(t []byte) {
		if x.nconn == maxConnectionNames {
			ok = false
			return
		}
		x.connNames[x.nconn] = t
		x.nconn++
	})
	return ok
}

// appendRawRequest appends x's request head as sent to the target
// (forwardValues computed lb's fields) to dst.
func (x *exchange) appendRawRequest(dst []byte) []byte {
	h := &x.ctx.Request.Header
	method := h.Method()
	dst = append(dst, method...)
	dst = append(dst, ' ')
	dst = append(dst, x.ctx.URI().RequestURI()...)
	dst = append(dst, " HTTP/1.1\r\nHost: "...)
	dst = append(dst, x.host...)
	dst = append(dst, '\r', '\n')

	raw := x.view.RawHeaders
	if n := len(raw); n >= 4 && string(raw[n-4:]) == "\r\n\r\n" {
		raw = raw[:n-2] // the block's closing empty line; lb's fields follow
	}
	hasCL := false
	run := 0 // start of the lines kept but not yet appended
	for i := 0; i < len(raw); {
		end := len(raw)
		line := raw[i:]
		if j := indexCRLF(line); j >= 0 {
			line, end = line[:j], i+j+2
		}
		if k := indexByte(line, ':'); k > 0 {
			name := line[:k]
			if x.rawDrops(name) {
				dst = append(dst, raw[run:i]...)
				run = end
			} else if len(name) == len("Content-Length") && equalFold(name, "Content-Length") {
				hasCL = true
			}
		}
		i = end
	}
	dst = append(dst, raw[run:]...)
	if n := len(dst); n < 2 || dst[n-2] != '\r' || dst[n-1] != '\n' {
		dst = append(dst, '\r', '\n')
	}

	if x.r.xff == xffAppend {
		dst = appendField(dst, "X-Forwarded-For: ", x.xff)
	}
	dst = appendField(dst, "X-Forwarded-Proto: ", x.forwardedProto())
	dst = appendField(dst, "X-Forwarded-Port: ", x.port)
	dst = appendField(dst, "X-Amzn-Trace-Id: ", x.trace)
	if !hasCL && !h.IsGet() && !h.IsHead() {
		// As Request.Write frames a bodiless POST, DELETE…: the target
		// must not wait for a body.
		dst = append(dst, "Content-Length: 0\r\n"...)
	}
	if x.closeTgt {
		dst = append(dst, "Connection: close\r\n"...)
	}
	return append(dst, '\r', '\n')
}

func appendField(dst []byte, name string, v []byte) []byte {
	dst = append(dst, name...)
	dst = append(dst, v...)
	return append(dst, '\r', '\n')
}

// rawDrops reports whether the client's field name stays behind: Host and
// the fields lb sets (every copy), X-Forwarded-For unless preserved, and
// with a hop-by-hop field in the block (classify's verdict), those and
// Expect and every name a Connection field lists (collected by
// rawRequestable).
func (x *exchange) rawDrops(name []byte) bool {
	switch len(name) {
	case len("Host"):
		if equalFold(name, "Host") {
			return true
		}
	case len("X-Forwarded-For"): // and X-Amzn-Trace-Id
		if x.verdict.xff && x.r.xff != xffPreserve && equalFold(name, "X-Forwarded-For") {
			return true
		}
		if x.verdict.trace && equalFold(name, "X-Amzn-Trace-Id") {
			return true
		}
	case len("X-Forwarded-Port"):
		if x.verdict.xfPort && equalFold(name, "X-Forwarded-Port") {
			return true
		}
	case len("X-Forwarded-Proto"):
		if x.verdict.xfProto && equalFold(name, "X-Forwarded-Proto") {
			return true
		}
	}
	if !x.verdict.hopByHop {
		return false
	}
	if isHopByHop(name) || equalFold(name, "Expect") {
		return true
	}
	for _, n := range x.connNames[:x.nconn] {
		if bytes.EqualFold(n, name) {
			return true
		}
	}
	return false
}
