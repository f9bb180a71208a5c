package l7

import (
	"encoding/hex"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"
)

// hopByHop are the RFC 9110 §7.6.1 connection-specific fields (plus the
// legacy ones every proxy strips). They never cross the proxy, either way.
var hopByHop = [...]string{
	"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate",
	"Proxy-Authorization", "TE", "Trailer", "Transfer-Encoding", "Upgrade",
}

// maxXFFAddresses is ALB's limit; more gets 463.
const maxXFFAddresses = 30

// isHopByHop reports whether name is one of hopByHop (any case).
// It runs on every field name of every response (and of requests that
// carry one), so the name's length picks the candidates to compare
// instead of a pass over the whole list; TestIsHopByHopMatchesList keeps
// the cases and hopByHop in step.
func isHopByHop(name []byte) bool {
	switch len(name) {
	case 2:
		return equalFold(name, "TE")
	case 7:
		return equalFold(name, "Upgrade") || equalFold(name, "Trailer")
	case 10:
		return equalFold(name, "Connection") || equalFold(name, "Keep-Alive")
	case 16:
		return equalFold(name, "Proxy-Connection")
	case 17:
		return equalFold(name, "Transfer-Encoding")
	case 18:
		return equalFold(name, "Proxy-Authenticate")
	case 19:
		return equalFold(name, "Proxy-Authorization")
	}
	return false
}

// rawHasHopByHop reports whether a raw header block ("Name: value\r\n"
// lines) holds a hop-by-hop field or Expect. Most requests hold none, and
// one pass over the names is much cheaper than a Del per name.
func rawHasHopByHop(raw []byte) bool {
	for line := range headerLines(raw) {
		if k := indexByte(line, ':'); k > 0 && (isHopByHop(line[:k]) || equalFold(line[:k], "Expect")) {
			return true
		}
	}
	return false
}

// responseHasHopByHop is rawHasHopByHop for a parsed response header.
func responseHasHopByHop(h *fasthttp.ResponseHeader) bool {
	for k := range h.All() {
		if isHopByHop(k) {
			return true
		}
	}
	return false
}

// stripRequestHopByHop removes the hop-by-hop fields of h, and every field
// a Connection field of raw (the client's header block, h's source) names,
// without allocating. fasthttp keeps Connection: close as a flag rather
// than a field; the caller decides the target connection's fate
// separately.
func stripRequestHopByHop(h *fasthttp.RequestHeader, raw []byte) {
	forEachConnectionName(raw, func(name []byte) {
		h.DelBytes(name)
	})
	for _, n := range hopByHop {
		if n == "Transfer-Encoding" {
			// fasthttp re-frames the body itself from ContentLength; deleting
			// the field here would lose the chunked flag.
			continue
		}
		h.Del(n)
	}
}

// forEachConnectionName calls fn for each name every Connection field of
// a raw header block lists (fasthttp's Peek reads the first field only;
// RFC 9110 §7.6.1 means all of them).
func forEachConnectionName(raw []byte, fn func([]byte)) {
	for line := range headerLines(raw) {
		if k := indexByte(line, ':'); k == len("Connection") && equalFold(line[:k], "Connection") {
			forEachToken(line[k+1:], fn)
		}
	}
}

// stripResponseHopByHop removes from h the hop-by-hop fields and every
// field a Connection field of in (the target's answer, h's source) names —
// all Connection fields, not only the first that Peek returns. The count
// of names is bounded by the target's header block (64 KiB).
func stripResponseHopByHop(h *fasthttp.ResponseHeader, in *fasthttp.ResponseHeader) {
	for k, v := range in.All() {
		if equalFold(k, "Connection") {
			forEachToken(v, func(name []byte) {
				h.DelBytes(name)
			})
		}
	}
	for _, n := range hopByHop {
		if n == "Transfer-Encoding" {
			continue
		}
		h.Del(n)
	}
}

// forEachToken calls fn for each comma-separated token of v, trimmed.
func forEachToken(v []byte, fn func([]byte)) {
	for len(v) > 0 {
		tok := v
		if i := indexByte(v, ','); i >= 0 {
			tok, v = v[:i], v[i+1:]
		} else {
			v = nil
		}
		if tok = trimOWS(tok); len(tok) > 0 {
			fn(tok)
		}
	}
}

// countXFF counts the addresses in every X-Forwarded-For field of v.
func countXFF(v *RequestView) int {
	n := 0
	v.Header("X-Forwarded-For", func(val []byte) bool {
		forEachToken(val, func([]byte) { n++ })
		return false
	})
	return n
}

// appendXFF appends the X-Forwarded-For value for append mode to dst: the
// incoming fields joined, then the client (with its port when asked, IPv6
// bracketed then).
func appendXFF(dst []byte, v *RequestView, withPort bool) []byte {
	v.Header("X-Forwarded-For", func(val []byte) bool {
		if len(val) == 0 {
			return false
		}
		if len(dst) > 0 {
			dst = append(dst, ", "...)
		}
		dst = append(dst, val...)
		return false
	})
	if len(dst) > 0 {
		dst = append(dst, ", "...)
	}
	return appendClient(dst, v.Client, withPort)
}

func appendClient(dst []byte, c netip.AddrPort, withPort bool) []byte {
	a := c.Addr().Unmap()
	if withPort {
		if a.Is6() {
			dst = append(dst, '[')
			dst = a.AppendTo(dst)
			dst = append(dst, ']')
		} else {
			dst = a.AppendTo(dst)
		}
		dst = append(dst, ':')
		return strconv.AppendUint(dst, uint64(c.Port()), 10)
	}
	return a.AppendTo(dst)
}

// appendTraceID appends the X-Amzn-Trace-Id value to send (elb.md §3.3):
// a fresh Root when there is none; with a Root, a Self field is inserted
// (or an existing Self replaced) and everything else kept.
func appendTraceID(dst, incoming []byte, now time.Time) []byte {
	if len(incoming) == 0 || len(incoming) > 1024 {
		dst = append(dst, "Root="...)
		return appendTraceValue(dst, now)
	}
	hasRoot := false
	for f := range splitFields(incoming) {
		if len(f) > 5 && equalFold(f[:5], "root=") {
			hasRoot = true
		}
	}
	if !hasRoot {
		dst = append(dst, "Root="...)
		return appendTraceValue(dst, now)
	}
	dst = append(dst, "Self="...)
	dst = appendTraceValue(dst, now)
	for f := range splitFields(incoming) {
		if len(f) >= 5 && equalFold(f[:5], "self=") {
			continue
		}
		dst = append(dst, ';')
		dst = append(dst, f...)
	}
	return dst
}

// splitFields yields the non-empty ';'-separated fields of v, trimmed.
func splitFields(v []byte) func(func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for len(v) > 0 {
			f := v
			if i := indexByte(v, ';'); i >= 0 {
				f, v = v[:i], v[i+1:]
			} else {
				v = nil
			}
			if f = trimOWS(f); len(f) > 0 && !yield(f) {
				return
			}
		}
	}
}

// appendTraceValue appends "1-<8 hex epoch seconds>-<24 hex random>".
func appendTraceValue(dst []byte, now time.Time) []byte {
	var b [16]byte
	sec := uint32(now.Unix())
	b[0], b[1], b[2], b[3] = byte(sec>>24), byte(sec>>16), byte(sec>>8), byte(sec)
	r1, r2 := rand.Uint64(), rand.Uint32()
	for i := range 8 {
		b[4+i] = byte(r1 >> (8 * i))
	}
	for i := range 4 {
		b[12+i] = byte(r2 >> (8 * i))
	}
	var h [32]byte
	hex.Encode(h[:], b[:])
	dst = append(dst, "1-"...)
	dst = append(dst, h[:8]...)
	dst = append(dst, '-')
	return append(dst, h[8:32]...)
}
