package l7

// Thin exported wrappers over l7's proxy machinery for the edge binary
// (issue #6: edge shares l7's header hygiene, wildcard matcher and error
// mapping instead of keeping copies). Each one calls the code lb's data
// path runs; none adds behaviour of its own.

import (
	"errors"
	"fmt"
	"time"

	"github.com/valyala/fasthttp"
)

// HopByHop reports whether a header field named name (any case) must not
// cross a proxy, either way: one of the RFC 9110 §7.6.1 connection-specific
// fields l7 strips (Connection, Keep-Alive, Proxy-Connection,
// Proxy-Authenticate, Proxy-Authorization, TE, Trailer, Transfer-Encoding,
// Upgrade), or a name listed in connection, the value of the message's
// Connection field(s) (comma-separated; nil when there is none). It is the
// test stripRequestHopByHop and stripResponseHopByHop apply, usable by a
// proxy that copies fields one by one rather than deleting them in place,
// and it allocates nothing.
func HopByHop(name, connection []byte) bool {
	if isHopByHop(name) {
		return true
	}
	named := false
	forEachToken(connection, func(tok []byte) {
		if !named && len(tok) == len(name) && equalFold(name, string(tok)) {
			named = true
		}
	})
	return named
}

// MaxConnectionNames is how many names a request's Connection fields may
// list: each named field is stripped with a pass over the fields, so lb
// answers a request listing more with 400 (and so does edge).
const MaxConnectionNames = maxConnectionNamesPerRequest

// ConnectionNames counts the names a Connection field value lists.
func ConnectionNames(connection []byte) int {
	n := 0
	forEachToken(connection, func([]byte) { n++ })
	return n
}

// UpstreamError maps an error of an exchange with an upstream server (a
// target, an origin) to the one error type of the proxy path, with the
// status the client gets and the reason for the access log: a connect
// refused 502 (ReasonConnectRefused), a connect timeout 504
// (ReasonConnectTimeout), a response timeout 504 (ReasonResponseTimeout), a
// reset or early close 502 (ReasonReset), an unparsable response 502
// (ReasonMalformedResponse), a header block over the read buffer 502
// (ReasonResponseTooLarge), a full connection pool 503. An *Error in err's
// chain is returned as it is. Connect failures are recognised when the
// dialer marked them with DialError.
func UpstreamError(err error) *Error {
	if err == nil {
		return nil
	}
	return upstreamError(err)
}

// DialError marks err as a failure of the connect step, so UpstreamError
// reports it as a connect error (the request was certainly not sent: it
// is Retryable). Wrap the errors of a fasthttp.HostClient's Dial with it.
func DialError(err error) error {
	if err == nil {
		return nil
	}
	return &dialError{err: err}
}

// MaxPathPatternLen is the longest path pattern CompilePathPattern
// accepts, CloudFront's limit on a cache behaviour's path pattern.
const MaxPathPatternLen = 255

// PathPattern is a compiled path wildcard: '*' matches any run of bytes,
// '/' included, '?' exactly one byte, everything else itself,
// case-sensitively, with no escapes. It is the matcher of lb's path
// conditions. Safe for concurrent use.
type PathPattern struct {
	p pattern
}

// CompilePathPattern compiles s (1 to MaxPathPatternLen bytes, no control
// characters).
func CompilePathPattern(s string) (PathPattern, error) {
	if s == "" {
		return PathPattern{}, errors.New("l7: compile path pattern: empty pattern")
	}
	if len(s) > MaxPathPatternLen {
		return PathPattern{}, fmt.Errorf("l7: compile path pattern %q: longer than %d characters", s, MaxPathPatternLen)
	}
	// compilePattern caps one condition value at ALB's 128 bytes; a longer
	// CloudFront pattern is compiled in pieces and the operations joined.
	// Without escapes every byte compiles to one operation on its own, so
	// the pieces' operations are exactly the whole pattern's (a run of '*'
	// split across pieces keeps two '*', which match the same).
	var out pattern
	wild := 0
	for rest := s; len(rest) > 0; {
		piece := rest[:min(len(rest), maxPatternLen)]
		rest = rest[len(piece):]
		p, w, err := compilePattern(piece, false, false)
		if err != nil {
			return PathPattern{}, fmt.Errorf("l7: compile path pattern %q: %w", s, err)
		}
		wild += w
		out.ops = append(out.ops, p.ops...)
	}
	out.src = s
	if wild == 0 {
		out.literal, out.lit = true, s
	}
	return PathPattern{p: out}, nil
}

// Match reports whether path matches p. It allocates nothing.
func (p *PathPattern) Match(path []byte) bool { return p.p.match(path) }

// String returns the pattern as written.
func (p *PathPattern) String() string { return p.p.src }

// Client returns t's keep-alive pool for addr (host:port) over plain TCP
// or TLS, creating it on first use: the pool lb forwards over, for a
// caller that sends with HostClient.Do (the edge's origins). Such a pool
// has no whole-exchange deadlines: t's ResponseTimeout bounds each read
// (how long the server may stay silent, however long the body takes),
// WriteTimeout each write, ConnectTimeout the dial (whose errors are marked
// for UpstreamError); a pooled plain connection found closed is reported
// before the request is written. Do makes one attempt
// (MaxIdemponentCallAttempts 1): retry when UpstreamError says Retryable.
// The pool lives until Forget(addr) or the process ends.
func (t *Transport) Client(addr string, tls bool) *fasthttp.HostClient {
	return t.client(addr, tls)
}

// ServerLimits are the per-listener inputs of ApplyServerLimits. Zero
// fields take the defaults named.
type ServerLimits struct {
	// IdleTimeout closes idle keep-alive connections and bounds each
	// response write (default 60s, ALB's and CloudFront's).
	IdleTimeout time.Duration
	// ReadTimeout bounds reading a request's header block, against
	// slowloris (default 60s; never more than IdleTimeout).
	ReadTimeout time.Duration
	// MaxHeaderBytes is the read buffer, which caps the request line plus
	// header block (default 64 KiB, ALB's); more is a parse error.
	MaxHeaderBytes int
	// MaxRequestBodySize caps a request body fasthttp buffers (default
	// 1 GiB, for lb, which streams bodies and only buffers a prefix).
	MaxRequestBodySize int
	// Concurrency caps requests served at once (default
	// fasthttp.DefaultConcurrency); beyond it clients get 503 at once.
	Concurrency int
}

// ApplyServerLimits sets on s the explicit limits and defaults of a
// viewer-facing server, the ones lb's listeners (NewServer) use and the
// edge's: the timeouts and buffer sizes of l, a 16 KiB write buffer, no
// default Server header or Content-Type (a proxy passes the upstream's
// or writes its own), a Date header, no eager multipart parsing (a
// proxy never reads forms; parsing them is a cost a client could impose),
// and connections closed on shutdown. Handler, ErrorHandler, Logger and
// the body-streaming and hijacking switches stay the caller's.
func ApplyServerLimits(s *fasthttp.Server, l ServerLimits) {
	idle := l.IdleTimeout
	if idle <= 0 {
		idle = 60 * time.Second
	}
	rt := l.ReadTimeout
	if rt <= 0 {
		rt = 60 * time.Second
	}
	rt = min(rt, idle)
	hdr := l.MaxHeaderBytes
	if hdr <= 0 {
		hdr = 64 << 10
	}
	body := l.MaxRequestBodySize
	if body <= 0 {
		body = 1 << 30
	}
	conc := l.Concurrency
	if conc <= 0 {
		conc = fasthttp.DefaultConcurrency
	}
	s.Name = ""
	s.Concurrency = conc
	s.ReadBufferSize = hdr
	s.WriteBufferSize = 16 << 10
	s.ReadTimeout = rt
	s.WriteTimeout = idle
	s.IdleTimeout = idle
	s.MaxRequestBodySize = body
	s.DisablePreParseMultipartForm = true
	s.NoDefaultServerHeader = true
	s.NoDefaultContentType = true
	s.NoDefaultDate = false
	s.CloseOnShutdown = true
}

// ValidRequestTarget reports whether fasthttp reads the request as sent:
// its Host field and, for an absolute-form target, the authority are
// hosts with an optional numeric port (RFC 3986 §3.2.2, without
// percent-encoding), and the target is not the asterisk form. lb answers
// 400 to a request failing it (classify makes the same test), and edge
// does the same: fasthttp's URI parse reads "Host: a/b" as a host and
// loses the request's path, routes "u@h" on "h", decodes %XX into the
// host, and turns "*" into a path.
func ValidRequestTarget(h *fasthttp.RequestHeader) bool {
	return !badRequestTarget(h.RequestURI()) && validHost(h.Peek("Host"))
}
