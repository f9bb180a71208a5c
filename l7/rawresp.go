package l7

// The event loop forwards the common target response head as bytes: the
// target's status line and fields go to the client as they came, less the
// hop-by-hop ones, plus what lb adds (stickiness cookies, Connection:
// close). Parsing the head into a fasthttp.ResponseHeader, copying it into
// the answer's and serialising that again was about 6 % of lb's CPU per
// 1 KiB request (session 8's profile); this is one pass over the bytes.
//
// scanRawHead accepts only a strict subset of what fasthttp accepts, and
// with the same framing (a differential fuzz test holds it to that):
// anything else — another version, 1xx/204/304, no or a repeated
// Content-Length, Transfer-Encoding, a hop-by-hop field other than
// Connection (close or keep-alive) and Keep-Alive, a control byte, a
// bare LF, no Date (fasthttp would add one) — takes the parsed path as
// before, which answers or refuses it exactly as it always has. So does
// any answer when app_cookie stickiness must read the target's cookies
// (rawForwardable); Set-Cookie fields otherwise pass as they came, as
// fasthttp keeps every one.

// rawHead is what scanRawHead learned of a response head.
type rawHead struct {
	status int
	cl     int
	close  bool // Connection: close
	// line is the end of the status line (after its CRLF).
	line int
	// drop holds the [start, end) spans of the lines not forwarded
	// (Connection, Keep-Alive), in order.
	drop  [maxRawDrops][2]int
	ndrop int
	// seen marks the fields fasthttp keeps one of (rawServer...): a
	// repeated one takes the parsed path.
	seen uint8
}

const (
	rawServer = 1 << iota
	rawContentType
	rawContentEncoding
)

func (h *rawHead) once(f uint8) bool {
	if h.seen&f != 0 {
		return false
	}
	h.seen |= f
	return true
}

// maxRawDrops bounds the dropped lines; a head with more takes the parsed
// path.
const maxRawDrops = 4

// maxRawContentLength keeps Content-Length parsing far from overflow (the
// loop buffers at most maxBufferedBody anyway).
const maxRawContentLength = 1 << 40

// scanRawHead scans head, a whole response head ending in CRLF CRLF, into
// h; false when the head is not one the raw path forwards.
func scanRawHead(head []byte, h *rawHead) bool {
	*h = rawHead{cl: -1}
	n := len(head)
	if n < 4 || head[n-4] != '\r' || head[n-3] != '\n' || head[n-2] != '\r' || head[n-1] != '\n' {
		return false
	}
	// Status line: HTTP/1.1 SP 3DIGIT SP reason CRLF.
	if n < 15 || string(head[:9]) != "HTTP/1.1 " {
		return false
	}
	d0, d1, d2 := head[9], head[10], head[11]
	if !isDigit(d0) || !isDigit(d1) || !isDigit(d2) || head[12] != ' ' {
		return false
	}
	h.status = int(d0-'0')*100 + int(d1-'0')*10 + int(d2-'0')
	if h.status < 200 || h.status > 599 || h.status == 204 || h.status == 304 {
		return false
	}
	i := 13
	for ; i < n && head[i] != '\r'; i++ {
		if !isFieldByte(head[i]) {
			return false
		}
	}
	if i+1 >= n || head[i+1] != '\n' {
		return false
	}
	h.line = i + 2
	date := false
	for i = h.line; ; {
		if head[i] == '\r' {
			// The blank line: scanned to the end only.
			if i+2 != n || head[i+1] != '\n' {
				return false
			}
			break
		}
		start := i
		for i < n && tokenByte[head[i]] != 0 {
			i++
		}
		if i == start || i >= n || head[i] != ':' {
			return false
		}
		name := head[start:i]
		i++
		for i < n && (head[i] == ' ' || head[i] == '\t') {
			i++
		}
		vs := i
		for i < n && head[i] != '\r' {
			if !isFieldByte(head[i]) {
				return false
			}
			i++
		}
		if i+1 >= n || head[i+1] != '\n' {
			return false
		}
		ve := i
		for ve > vs && (head[ve-1] == ' ' || head[ve-1] == '\t') {
			ve--
		}
		i += 2
		value := head[vs:ve]
		if len(value) == 0 {
			// fasthttp drops some empty fields (Server): not worth telling
			// which.
			return false
		}
		switch len(name) {
		case 4:
			if equalFold(name, "Date") {
				if date {
					return false
				}
				date = true
			}
		case 6:
			if equalFold(name, "Server") && !h.once(rawServer) {
				return false
			}
		case 10:
			switch {
			case equalFold(name, "Connection"):
				if !rawConnection(value, h) || !h.dropLine(start, i) {
					return false
				}
			case equalFold(name, "Keep-Alive"):
				if !h.dropLine(start, i) {
					return false
				}
			}
		case 12:
			if equalFold(name, "Content-Type") && !h.once(rawContentType) {
				return false
			}
		case 16:
			if equalFold(name, "Content-Encoding") && !h.once(rawContentEncoding) {
				return false
			}
		case 14:
			if equalFold(name, "Content-Length") {
				if h.cl >= 0 || !rawContentLength(value, h) {
					return false
				}
			}
		}
		if isHopByHop(name) && !equalFold(name, "Connection") && !equalFold(name, "Keep-Alive") {
			return false
		}
	}
	return date && h.cl >= 0
}

func (h *rawHead) dropLine(start, end int) bool {
	if h.ndrop == maxRawDrops {
		return false
	}
	h.drop[h.ndrop] = [2]int{start, end}
	h.ndrop++
	return true
}

// rawConnection reads a Connection value: only close and keep-alive
// tokens (one naming another field would make that field hop-by-hop).
func rawConnection(v []byte, h *rawHead) bool {
	ok := true
	forEachToken(v, func(t []byte) {
		switch {
		case equalFold(t, "close"):
			h.close = true
		case equalFold(t, "keep-alive"):
		default:
			ok = false
		}
	})
	return ok
}

func rawContentLength(v []byte, h *rawHead) bool {
	if len(v) == 0 || len(v) > 13 {
		return false
	}
	n := 0
	for _, c := range v {
		if !isDigit(c) {
			return false
		}
		n = n*10 + int(c-'0')
	}
	if n > maxRawContentLength {
		return false
	}
	h.cl = n
	return true
}

// appendForwarded appends the head's fields that go to the client (every
// line after the status line but the dropped ones, without the blank
// line).
func (h *rawHead) appendForwarded(dst, head []byte) []byte {
	at := h.line
	for k := range h.ndrop {
		dst = append(dst, head[at:h.drop[k][0]]...)
		at = h.drop[k][1]
	}
	return append(dst, head[at:len(head)-2]...)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// isFieldByte reports a byte allowed in a field value or reason phrase:
// VCHAR, obs-text, SP and HTAB (no other control byte).
func isFieldByte(c byte) bool { return c == '\t' || (c >= ' ' && c != 0x7f) }
