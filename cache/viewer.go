package cache

import (
	"bytes"
	"strconv"
)

// RangeResult says how to answer a viewer's Range request from a full cached
// object.
type RangeResult struct {
	// Status is 200 (send the whole object: no Range, an invalid or
	// multi-range header, a failed If-Range, or a non-200 entry), 206 (send
	// Body[Start:End+1] with Content-Range) or 416 (send Content-Range
	// "bytes */size" and no body).
	Status int
	// Start and End are the inclusive byte positions for 206.
	Start, End int64
}

// Range evaluates the viewer's Range and If-Range headers against e (RFC 9110
// §14, CloudFront §6.9). Only a single "bytes=" range is answered with 206;
// several ranges are answered with the whole object (200), as CloudFront does
// for invalid multi-range specifications, which also keeps a viewer from
// multiplying the response size with overlapping ranges. A syntactically
// invalid header is ignored (200). A range that starts past the end is 416.
// It allocates nothing.
func (e *Entry) Range(rangeHdr, ifRange []byte) RangeResult {
	full := RangeResult{Status: 200}
	if e.Status != 200 || len(rangeHdr) == 0 {
		return full
	}
	if len(ifRange) > 0 && !e.ifRangeMatches(ifRange) {
		return full
	}
	spec, ok := bytes.CutPrefix(bytes.TrimSpace(rangeHdr), []byte("bytes="))
	if !ok {
		if len(rangeHdr) >= 6 && asciiEqualFold(rangeHdr[:6], "bytes=") {
			spec = rangeHdr[6:]
		} else {
			return full
		}
	}
	if bytes.IndexByte(spec, ',') >= 0 {
		return full
	}
	spec = bytes.TrimSpace(spec)
	size := int64(len(e.Body))
	first, last, hasDash := bytes.Cut(spec, []byte{'-'})
	if !hasDash {
		return full
	}
	if len(first) == 0 { // suffix: last N bytes
		n, ok := parseDigits(last)
		if !ok {
			return full
		}
		if n == 0 || size == 0 {
			return RangeResult{Status: 416}
		}
		n = min(n, size)
		return RangeResult{Status: 206, Start: size - n, End: size - 1}
	}
	start, ok := parseDigits(first)
	if !ok {
		return full
	}
	end := size - 1
	if len(last) > 0 {
		if end2, ok := parseDigits(last); !ok || end2 < start {
			return full
		} else if end2 < end {
			end = end2
		}
	}
	if start >= size {
		return RangeResult{Status: 416}
	}
	return RangeResult{Status: 206, Start: start, End: end}
}

// AppendContentRange appends the Content-Range value for r over an object of
// size bytes ("bytes 0-99/1000", or "bytes */1000" for 416).
func AppendContentRange(dst []byte, r RangeResult, size int64) []byte {
	dst = append(dst, "bytes "...)
	if r.Status == 416 {
		dst = append(dst, '*')
	} else {
		dst = strconv.AppendInt(dst, r.Start, 10)
		dst = append(dst, '-')
		dst = strconv.AppendInt(dst, r.End, 10)
	}
	dst = append(dst, '/')
	return strconv.AppendInt(dst, size, 10)
}

func parseDigits(b []byte) (int64, bool) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// ifRangeMatches: an entity tag must match strongly (a weak tag never
// matches), a date must equal Last-Modified exactly.
func (e *Entry) ifRangeMatches(ifRange []byte) bool {
	ifRange = bytes.TrimSpace(ifRange)
	etag, _ := Fields(e.Header).Get("ETag")
	if len(ifRange) > 0 && (ifRange[0] == '"' || bytes.HasPrefix(ifRange, []byte("W/"))) {
		return len(etag) > 0 && etag[0] == '"' && string(ifRange) == etag
	}
	lm, ok := Fields(e.Header).Get("Last-Modified")
	if !ok {
		return false
	}
	t1, ok1 := ParseHTTPDate(ifRange)
	t2, ok2 := ParseHTTPDate([]byte(lm))
	return ok1 && ok2 && t1.Equal(t2)
}

// NotModified evaluates a viewer's conditional GET or HEAD against e (RFC
// 9110 §13.2.2): If-None-Match, when present, decides alone, by weak
// comparison against the served ETag ("*" matches any entry); otherwise
// If-Modified-Since is compared with Last-Modified. True means answer 304
// with the entry's header and no body. Only 2xx entries are ever 304.
func (e *Entry) NotModified(ifNoneMatch, ifModifiedSince []byte) bool {
	if e.Status < 200 || e.Status > 299 {
		return false
	}
	if len(ifNoneMatch) > 0 {
		etag, ok := Fields(e.Header).Get("ETag")
		inm := ifNoneMatch
		for len(inm) > 0 {
			var tag []byte
			tag, inm = cut(inm, ',')
			tag = bytes.TrimSpace(tag)
			if string(tag) == "*" {
				return true
			}
			if ok && weakEqual(tag, etag) {
				return true
			}
		}
		return false
	}
	if len(ifModifiedSince) == 0 {
		return false
	}
	lm, ok := Fields(e.Header).Get("Last-Modified")
	if !ok {
		return false
	}
	ims, ok1 := ParseHTTPDate(ifModifiedSince)
	mod, ok2 := ParseHTTPDate([]byte(lm))
	return ok1 && ok2 && !mod.After(ims)
}

func weakEqual(a []byte, b string) bool {
	a = bytes.TrimPrefix(a, []byte("W/"))
	if len(b) >= 2 && b[:2] == "W/" {
		b = b[2:]
	}
	return len(a) > 0 && string(a) == b
}
