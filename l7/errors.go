package l7

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"syscall"

	"github.com/valyala/fasthttp"
)

// Side says which leg of the proxy an error came from.
type Side uint8

// The sides of an Error.
const (
	// SideDownstream is the client: malformed request, client went away.
	SideDownstream Side = iota + 1
	// SideUpstream is the target: refused, reset, timed out, malformed response.
	SideUpstream
	// SideInternal is the load balancer itself: no target, a recovered panic.
	SideInternal
)

// String names the side as logs show it.
func (s Side) String() string {
	switch s {
	case SideDownstream:
		return "downstream"
	case SideUpstream:
		return "upstream"
	case SideInternal:
		return "internal"
	}
	return "unknown"
}

// Error is the one error type of the proxy path. Status is what the client
// is answered (ALB's codes, elb.md §3.6); Retryable says the request never
// reached the target, so another target may be tried; Reason is a short
// code for the access log's error_reason field.
type Error struct {
	Side      Side
	Status    int
	Retryable bool
	Reason    string
	Err       error
}

// Error renders "l7: <side> <status> <reason>: <cause>".
func (e *Error) Error() string {
	s := "l7: " + e.Side.String() + " " + strconv.Itoa(e.Status) + " " + e.Reason
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// ErrNoHealthyTarget is returned by TargetGroup.Pick when the group has no
// routable target. Because ALB fails open (an all-unhealthy group still
// routes to every registered target), that means no registered target, and
// the client gets 503.
var ErrNoHealthyTarget = errors.New("l7: no registered target")

// The reasons of errors built here (access log error_reason).
const (
	ReasonNoTarget          = "NoRegisteredTarget"
	ReasonConnectRefused    = "TargetConnectionError"
	ReasonConnectTimeout    = "TargetConnectTimeout"
	ReasonResponseTimeout   = "TargetResponseTimeout"
	ReasonReset             = "TargetConnectionReset"
	ReasonMalformedResponse = "TargetMalformedResponse"
	ReasonResponseTooLarge  = "TargetResponseHeaderTooLarge"
	ReasonTooManyXFF        = "TooManyForwardedFor"
	ReasonTrace             = "TraceNotAllowed"
	ReasonConnect           = "ConnectNotAllowed"
	ReasonMalformedRequest  = "MalformedRequest"
	ReasonDesync            = "DesyncMitigation"
	ReasonUnsupportedTE     = "UnsupportedTransferEncoding"
	ReasonClientClosed      = "ClientClosed"
	ReasonClientTimeout     = "ClientTimeout"
	ReasonPanic             = "InternalPanic"
	ReasonStickyCookie      = "AWSALBTGCookieInvalid"
	ReasonDeregistered      = "TargetDeregistered"
)

// dialError marks an error of the connect step: the request was not sent.
type dialError struct{ err error }

func (e *dialError) Error() string { return "connect: " + e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// upstreamError maps an error from a target exchange to an Error. sent
// says whether any request byte may have reached the target.
func upstreamError(err error) *Error {
	var pe *Error
	if errors.As(err, &pe) {
		return pe
	}
	var de *dialError
	if errors.As(err, &de) {
		if isTimeout(err) {
			return &Error{Side: SideUpstream, Status: 504, Retryable: true, Reason: ReasonConnectTimeout, Err: err}
		}
		return &Error{Side: SideUpstream, Status: 502, Retryable: true, Reason: ReasonConnectRefused, Err: err}
	}
	switch {
	case errors.Is(err, errStaleConn):
		return &Error{Side: SideUpstream, Status: 502, Retryable: true, Reason: ReasonReset, Err: err}
	case errors.Is(err, errTargetDrained):
		return &Error{Side: SideUpstream, Status: 502, Reason: ReasonDeregistered, Err: err}
	case errors.Is(err, fasthttp.ErrConnectionClosed):
		// Closed before the first response byte. Retryable only for a
		// request that may be replayed; the caller decides.
		return &Error{Side: SideUpstream, Status: 502, Retryable: true, Reason: ReasonReset, Err: err}
	case errors.Is(err, fasthttp.ErrNoFreeConns):
		return &Error{Side: SideUpstream, Status: 503, Retryable: true, Reason: "TargetPoolExhausted", Err: err}
	case isTimeout(err):
		return &Error{Side: SideUpstream, Status: 504, Reason: ReasonResponseTimeout, Err: err}
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return &Error{Side: SideUpstream, Status: 502, Reason: ReasonReset, Err: err}
	case errors.As(err, new(*fasthttp.ErrSmallBuffer)):
		return &Error{Side: SideUpstream, Status: 502, Reason: ReasonResponseTooLarge, Err: err}
	}
	var ne *net.OpError
	if errors.As(err, &ne) {
		return &Error{Side: SideUpstream, Status: 502, Reason: ReasonReset, Err: err}
	}
	// Everything else fasthttp returns while reading a response is a
	// response it could not parse.
	return &Error{Side: SideUpstream, Status: 502, Reason: ReasonMalformedResponse, Err: err}
}

func isTimeout(err error) bool {
	if errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, fasthttp.ErrDialTimeout) ||
		errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// statusText covers the ALB codes net/http and fasthttp do not name.
func statusText(code int) string {
	switch code {
	case 460:
		return "Client Closed Request"
	case 463:
		return "Too Many Forwarded Addresses"
	case 464:
		return "Incompatible Protocol"
	}
	return fasthttp.StatusMessage(code)
}

// writeErrorResponse answers the client with e's status and a small HTML
// body in the shape ALB uses.
func writeErrorResponse(resp *fasthttp.Response, status int) {
	closeConn := resp.ConnectionClose()
	resp.Reset()
	if closeConn {
		resp.SetConnectionClose()
	}
	resp.SetStatusCode(status)
	resp.Header.SetContentType("text/html")
	txt := statusText(status)
	b := resp.Body()[:0]
	code := strconv.Itoa(status)
	b = append(b, "<html>\r\n<head><title>"...)
	b = append(b, code...)
	b = append(b, ' ')
	b = append(b, txt...)
	b = append(b, "</title></head>\r\n<body>\r\n<center><h1>"...)
	b = append(b, code...)
	b = append(b, ' ')
	b = append(b, txt...)
	b = append(b, "</h1></center>\r\n</body>\r\n</html>\r\n"...)
	resp.SetBodyRaw(b)
}

// downstreamBodyError maps an error reading the client's request body: the
// client went away (460), stayed silent past the idle timeout (408), or
// sent a body that cannot be framed, such as a broken chunk (400).
func downstreamBodyError(err error) *Error {
	switch {
	case isTimeout(err):
		return &Error{Side: SideDownstream, Status: 408, Reason: ReasonClientTimeout, Err: err}
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed):
		return &Error{Side: SideDownstream, Status: 460, Reason: ReasonClientClosed, Err: err}
	}
	return &Error{Side: SideDownstream, Status: 400, Reason: ReasonMalformedRequest, Err: err}
}
