package l7

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"strings"

	"github.com/valyala/fasthttp"
)

// Desync classes (elb.md §3.4), worst last.
type desyncClass uint8

const (
	classCompliant desyncClass = iota
	classAcceptable
	classAmbiguous
	classSevere
)

func (c desyncClass) String() string {
	switch c {
	case classAcceptable:
		return "Acceptable"
	case classAmbiguous:
		return "Ambiguous"
	case classSevere:
		return "Severe"
	}
	return ""
}

// verdict is the outcome of classifying one request.
type verdict struct {
	class  desyncClass
	reason string
	// dropSuspicious says the request carries header names that normalise
	// to Transfer-Encoding or Content-Length; they are removed before
	// forwarding so no target can read a second framing from them.
	dropSuspicious bool
	// longField is set when one header line exceeds maxHeaderLine.
	longField bool
	// xff and hopByHop record, from the same pass over the header block,
	// whether the request carries X-Forwarded-For, and a hop-by-hop field
	// or Expect (see rawHasHopByHop): the forward path needs both, and a
	// pass of its own for each costs as much as classify's whole loop.
	xff, hopByHop bool
	// trace records an X-Amzn-Trace-Id field, xfProto and xfPort an
	// X-Forwarded-Proto and -Port, for the same reason: lb replaces them,
	// and every copy the client sent must go (fasthttp's Set replaces the
	// first only; a second would reach the target).
	trace, xfProto, xfPort bool
	// connNames counts the names Connection fields list: each is removed
	// from the forwarded request (a pass over its fields per name), so a
	// request listing more than maxConnectionNamesPerRequest is refused.
	connNames int
	// badTarget is set when fasthttp would misread what the request
	// asks for (badRequestTarget, validHost): lb answers 400.
	badTarget bool
}

// maxConnectionNamesPerRequest bounds the names a request's Connection
// fields may list (clients send one or two: keep-alive, close, upgrade,
// TE). Without a bound, thousands of names over thousands of short fields
// made one 54 KiB request cost ~25 ms of CPU to strip; with it, well under
// a millisecond. More gets 400, and nothing is forwarded.
const maxConnectionNamesPerRequest = 64

// ALB's per-line limits (elb.md §3.5): the request line and each header
// line may hold 16 KiB; the whole block 64 KiB (the server's read buffer).
const (
	maxRequestLine = 16 << 10
	maxHeaderLine  = 16 << 10
)

func (v *verdict) raise(c desyncClass, reason string) {
	if c > v.class {
		v.class, v.reason = c, reason
	}
}

// classify applies the http_desync_guardian classification to what
// fasthttp let through (it already refuses CL.CL, unknown TE, CR/LF/NUL in
// fields, whitespace before the colon). It reads the raw header block and
// never allocates.
func classify(h *fasthttp.RequestHeader, raw []byte, uri []byte) verdict {
	var v verdict
	for _, c := range uri {
		switch {
		case c == 0 || c == '\r' || c == '\n':
			v.raise(classSevere, "BadUri")
		case c < 0x20 || c == 0x7f:
			v.raise(classAmbiguous, "AmbiguousUri")
		case c == ' ':
			v.raise(classAcceptable, "SpaceInUri")
		}
	}
	v.badTarget = badRequestTarget(uri)
	if !h.IsHTTP11() && string(h.Protocol()) != "HTTP/1.0" {
		v.raise(classAcceptable, "NonCompliantVersion")
	}
	method := h.Method()
	for _, c := range method {
		if !isTokenChar(c) {
			v.raise(classSevere, "BadMethod")
			break
		}
	}
	nCL, nTE, nChunked := 0, 0, 0
	var firstCL []byte
	b := raw
	for len(b) > 0 {
		line := b
		if i := indexCRLF(b); i >= 0 {
			line, b = b[:i], b[i+2:]
		} else {
			b = nil
		}
		if len(line) == 0 {
			continue
		}
		if len(line) > maxHeaderLine {
			v.longField = true
		}
		if line[0] == ' ' || line[0] == '\t' {
			v.raise(classAmbiguous, "MultilineHeader")
			continue
		}
		k := indexByte(line, ':')
		if k <= 0 {
			v.raise(classAmbiguous, "EmptyHeader")
			continue
		}
		name, val := line[:k], trimOWS(line[k+1:])
		if !allTokenChars(name) {
			// "X A: b": fasthttp lets it through, targets disagree on it.
			v.raise(classSevere, "BadHeader")
		}
		switch {
		case equalFold(name, "Content-Length"):
			nCL++
			if nCL == 1 {
				firstCL = val
			} else if string(val) == string(firstCL) {
				v.raise(classAmbiguous, "DuplicateContentLength")
			} else {
				v.raise(classSevere, "MultipleContentLength")
			}
			if !allDigits(val) {
				v.raise(classSevere, "BadContentLength")
			}
		case equalFold(name, "Transfer-Encoding"):
			v.hopByHop = true
			nTE++
			forEachToken(val, func(t []byte) {
				if equalFold(t, "chunked") {
					nChunked++
				}
			})
		case equalFold(name, "Host"):
			if !validHost(val) {
				v.badTarget = true
			}
		case equalFold(name, "X-Forwarded-For"):
			v.xff = true
		case equalFold(name, "X-Amzn-Trace-Id"):
			v.trace = true
		case equalFold(name, "X-Forwarded-Proto"):
			v.xfProto = true
		case equalFold(name, "X-Forwarded-Port"):
			v.xfPort = true
		case equalFold(name, "Connection"):
			v.hopByHop = true
			forEachToken(val, func([]byte) { v.connNames++ })
		case isHopByHop(name) || equalFold(name, "Expect"):
			v.hopByHop = true
		default:
			if suspiciousName(name) {
				v.raise(classAmbiguous, "SuspiciousHeader")
				v.dropSuspicious = true
			}
		}
		// raise keeps the worst class, so which byte came first does not
		// matter.
		bad := valueBits(val)
		if bad&valueSevere != 0 {
			v.raise(classSevere, "BadHeader")
		}
		if bad&valueNonCompliant != 0 {
			v.raise(classAcceptable, "NonCompliantHeader")
		}
	}
	if nChunked > 1 {
		v.raise(classSevere, "MultipleTransferEncodingChunked")
	}
	if nTE > 0 && nCL > 0 {
		v.raise(classAmbiguous, "BothTeClPresent")
	}
	if h.IsGet() || h.IsHead() {
		switch {
		case nTE > 0:
			v.raise(classAmbiguous, "UndefinedTransferEncodingSemantics")
		case nCL > 0 && string(firstCL) != "0":
			v.raise(classAmbiguous, "UndefinedContentLengthSemantics")
		case nCL > 0:
			v.raise(classAcceptable, "GetHeadZeroContentLength")
		}
	}
	if nTE > 0 && !h.IsHTTP11() {
		v.raise(classAmbiguous, "UndefinedTransferEncodingSemantics")
	}
	return v
}

// validHost reports whether b, a Host value or an absolute-form target's
// authority, is a host as RFC 3986 §3.2.2 spells one — an IP literal in
// brackets, or letters, digits and the unreserved and sub-delims marks —
// with an optional port of up to five digits. Anything else gets 400
// (NGINX and HAProxy refuse such hosts too): fasthttp's URI parse reads
// "a/b", "a b" or "a:1:2" as a host and drops the request's path (lb
// would forward GET / for GET /a), takes "u@h" as userinfo and routes on
// "h", and decodes "%80" in an absolute-form authority into the Host it
// forwards. '%' is therefore refused too, though RFC 3986 allows it. An
// empty value passes: a missing Host is judged with the HTTP version.
func validHost(b []byte) bool {
	if len(b) == 0 {
		return true
	}
	var port []byte
	if b[0] == '[' {
		end := indexByte(b, ']')
		if end < 2 {
			return false
		}
		for _, c := range b[1:end] {
			if hostByte[c]&hostIPv6 == 0 {
				return false
			}
		}
		// Bracketed hosts are rare: the string conversion's allocation is
		// not on the common path.
		if ip, err := netip.ParseAddr(string(b[1:end])); err != nil || !ip.Is6() {
			return false
		}
		switch rest := b[end+1:]; {
		case len(rest) == 0:
			return true
		case rest[0] != ':':
			return false
		default:
			port = rest[1:]
		}
	} else {
		host := b
		if i := indexByte(b, ':'); i >= 0 {
			host, port = b[:i], b[i+1:]
		}
		if len(host) == 0 {
			return false
		}
		for _, c := range host {
			if hostByte[c]&hostName == 0 {
				return false
			}
		}
	}
	if len(port) > 5 {
		return false
	}
	for _, c := range port {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Bits of hostByte: what a byte may be part of in validHost.
const (
	hostName = 1 << iota // reg-name or IPv4: unreserved and sub-delims
	hostIPv6             // inside [ ]: hex digits, ':' and '.'
)

var hostByte = func() (t [256]uint8) {
	for c := range 256 {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
			t[c] = hostName
		case strings.IndexByte("-._~!$&'()*+,;=", byte(c)) >= 0:
			t[c] = hostName
		}
		if c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == ':' || c == '.' {
			t[c] |= hostIPv6
		}
	}
	return t
}()

// badRequestTarget reports a request target fasthttp would turn into
// another request: the asterisk form ("OPTIONS *" went out as
// "OPTIONS /%2A") and an absolute form whose authority is not a host.
func badRequestTarget(uri []byte) bool {
	if len(uri) == 1 && uri[0] == '*' {
		return true
	}
	auth, ok := absoluteAuthority(uri)
	return ok && !validHost(auth)
}

// absoluteAuthority returns the authority of an absolute-form request
// target ("http://host:port/path" gives "host:port"), and false for the
// origin form ("/path") and "*".
func absoluteAuthority(uri []byte) ([]byte, bool) {
	if len(uri) == 0 || uri[0] == '/' || uri[0] == '*' {
		return nil, false
	}
	i := bytes.Index(uri, []byte("://"))
	if i <= 0 {
		return nil, false
	}
	a := uri[i+3:]
	for j, c := range a {
		if c == '/' || c == '?' || c == '#' {
			return a[:j], true
		}
	}
	return a, true
}

func allDigits(b []byte) bool {
	if len(b) == 0 || len(b) > 18 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Bits of valueByte: what a header value byte makes the request.
const (
	valueSevere       = 1 << iota // NUL, CR, LF: BadHeader
	valueNonCompliant             // other controls but tab, DEL, non-ASCII
)

// valueByte and tokenByte classify bytes by table: classify runs over
// every byte of every request's header block (0.5-2 KiB from browsers),
// where a lookup per byte is cheaper than a chain of comparisons.
var valueByte, tokenByte = func() (val, tok [256]uint8) {
	for i := range 256 {
		c := byte(i)
		switch {
		case c == 0 || c == '\r' || c == '\n':
			val[i] = valueSevere
		case (c < 0x20 && c != '\t') || c >= 0x7f:
			val[i] = valueNonCompliant
		}
		if isTokenChar(c) {
			tok[i] = 1
		}
	}
	return val, tok
}()

// valueBits ORs the valueByte bits of b's bytes. Eight bytes at a time
// are first tested all at once for a control byte, DEL or a non-ASCII
// byte; only a word holding one is looked up byte by byte.
func valueBits(b []byte) uint8 {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	var bad uint8
	for len(b) >= 8 {
		w := binary.LittleEndian.Uint64(b)
		// A byte below 0x20, or equal to 0x7f, or with its high bit set.
		x := w ^ (0x7f * ones)
		if ((w-0x20*ones)&^w|(x-ones)&^x|w)&highs != 0 {
			for _, c := range b[:8] {
				bad |= valueByte[c]
			}
		}
		b = b[8:]
	}
	for _, c := range b {
		bad |= valueByte[c]
	}
	return bad
}

// allTokenChars reports whether every byte of b is an RFC 9110 tchar.
func allTokenChars(b []byte) bool {
	for _, c := range b {
		if tokenByte[c] == 0 {
			return false
		}
	}
	return true
}

func isTokenChar(c byte) bool {
	if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

// suspiciousName reports a header name that is not Transfer-Encoding or
// Content-Length but becomes one once case, punctuation, spaces and
// non-ASCII bytes are dropped ("Transfer_Encoding", "Content-Length\x01"…).
func suspiciousName(name []byte) bool {
	if len(name) < len("contentlength") {
		return false // too few bytes for either name's letters
	}
	var buf [24]byte
	n := 0
	for _, c := range name {
		c = lower(c)
		if c >= 'a' && c <= 'z' {
			if n == 0 && c != 't' && c != 'c' {
				return false // most names: the first letter settles it
			}
			if n == len(buf) {
				return false
			}
			buf[n] = c
			n++
		}
	}
	s := string(buf[:n]) // no allocation: used only for comparison
	return s == "transferencoding" || s == "contentlength"
}
