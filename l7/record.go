package l7

import (
	"net/netip"
	"sync/atomic"
	"time"
)

// Actions is the set of actions a request executed (access log
// actions_executed).
type Actions uint8

// The actions.
const (
	ActionForward Actions = 1 << iota
	ActionRedirect
	ActionFixedResponse
)

// String renders the set as ALB does: "forward", "redirect",
// "fixed-response", comma-joined; "-" when empty.
func (a Actions) String() string {
	switch a {
	case 0:
		return "-"
	case ActionForward:
		return "forward"
	case ActionRedirect:
		return "redirect"
	case ActionFixedResponse:
		return "fixed-response"
	}
	s := ""
	for _, x := range []struct {
		a Actions
		n string
	}{{ActionForward, "forward"}, {ActionRedirect, "redirect"}, {ActionFixedResponse, "fixed-response"}} {
		if a&x.a != 0 {
			if s != "" {
				s += ","
			}
			s += x.n
		}
	}
	return s
}

// Record is everything the ALB access log (elb.md §3.7) and the metrics need
// about one request. The server fills one per request and hands it to
// Observer.ObserveRequest; the record and every byte slice in it are valid
// only during that call (they point into reused buffers): copy what you keep.
type Record struct {
	// Listener is the listener's name.
	Listener string
	// Type is http, https, ws or wss.
	Type string
	// Received is when the request arrived (request_creation_time).
	Received time.Time
	// Done is when the response was completely sent (the log's time field).
	Done time.Time
	// Client is the client address and port.
	Client netip.AddrPort
	// Target is the target's "ip:port", "" when not dispatched.
	Target string
	// TargetGroup is the target group's name, "" when not forwarded.
	TargetGroup string
	// RequestProcessing is from arrival to the request sent to the target;
	// TargetProcessing from then to the response headers; ResponseProcessing
	// from then to the last byte sent. Each is -1 when not dispatched.
	RequestProcessing, TargetProcessing, ResponseProcessing time.Duration
	// Status is what the client got; TargetStatus what the target answered
	// (0 when none).
	Status, TargetStatus int
	// ReceivedBytes and SentBytes count the request and response including
	// headers (as close as fasthttp lets us see).
	ReceivedBytes, SentBytes int64
	// Method, Scheme, Host, Port, URI and Proto make the request line as
	// received: "METHOD scheme://host:port/uri PROTO".
	Method, Host, Port, URI, Proto []byte
	Scheme                         string
	// UserAgent is the User-Agent header.
	UserAgent []byte
	// TLSCipher and TLSProtocol are "" on HTTP.
	TLSCipher, TLSProtocol string
	// ServerName is the SNI, "" if none.
	ServerName string
	// ChosenCert is the certificate the TLS handshake chose, "" if unknown
	// or on HTTP (access log chosen_cert_arn).
	ChosenCert string
	// TraceID is the X-Amzn-Trace-Id sent to the target.
	TraceID []byte
	// RulePriority is the matched rule's priority, 0 for the default rule,
	// -1 when no rule was evaluated (an error before routing).
	RulePriority int
	// Actions lists the actions executed.
	Actions Actions
	// RedirectURL is the Location sent by a redirect action.
	RedirectURL []byte
	// ErrorReason is the reason of an error answered by the load balancer.
	ErrorReason string
	// Classification and ClassificationReason are the desync class
	// (Acceptable, Ambiguous, Severe; "" when compliant) and reason code.
	Classification, ClassificationReason string
	// Retried is true when the request was retried on another target.
	Retried bool
	// ConnID identifies the client connection (access log conn_trace_id):
	// unique per server, shared by the requests of one keep-alive
	// connection.
	ConnID uint64
}

func (r *Record) reset() {
	*r = Record{
		RequestProcessing:  -1,
		TargetProcessing:   -1,
		ResponseProcessing: -1,
		RulePriority:       -1,
		Method:             r.Method[:0],
		Host:               r.Host[:0],
		Port:               r.Port[:0],
		URI:                r.URI[:0],
		Proto:              r.Proto[:0],
		UserAgent:          r.UserAgent[:0],
		TraceID:            r.TraceID[:0],
		RedirectURL:        r.RedirectURL[:0],
	}
}

// Observer receives one Record per request. It is called from the request's
// goroutine (for streamed responses, when the body is done) and must not
// block; it must be safe for concurrent use.
type Observer interface {
	ObserveRequest(r *Record)
}

// Counters are the server's running totals, read by cmd/lb's metrics. All
// fields are safe for concurrent use.
type Counters struct {
	// Requests counts requests answered (any status).
	Requests atomic.Uint64
	// ActiveRequests is the number of requests in progress, including
	// streamed bodies and WebSocket tunnels.
	ActiveRequests atomic.Int64
	// Panics counts recovered handler panics (answered 500).
	Panics atomic.Uint64
	// Retries counts requests retried on another target.
	Retries atomic.Uint64
	// NonCompliant counts requests classified other than compliant
	// (DesyncMitigationMode_NonCompliant_Request_Count).
	NonCompliant atomic.Uint64
	// Blocked counts requests refused by desync mitigation.
	Blocked atomic.Uint64
	// Upgrades counts WebSocket tunnels opened.
	Upgrades atomic.Uint64
	// ELB4xx and ELB5xx count errors generated by the load balancer.
	ELB4xx, ELB5xx atomic.Uint64
	// Target2xx..Target5xx count responses from targets by class.
	Target2xx, Target3xx, Target4xx, Target5xx atomic.Uint64
	// Redirects and FixedResponses count those actions.
	Redirects, FixedResponses atomic.Uint64
}
