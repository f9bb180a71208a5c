package obs

import (
	"net/netip"
	"strconv"
	"time"
)

// FlowRecord is one access-log entry for a TCP or TLS flow (an NLB-style
// connection log). The l4 data path fills it once per flow, after the flow
// ended; strings only need to stay valid until AccessLog.LogFlow returns.
// Empty strings print "-"; negative durations print "-1".
type FlowRecord struct {
	Type        string    // tcp or tls
	Time        time.Time // when the flow ended
	ELB         string    // net/lb/<listener>
	Listener    string    // listener name (JSON format only)
	Client      netip.AddrPort
	Destination netip.AddrPort // the address the client connected to
	Target      string         // target ip:port, "" if none was connected
	// ConnectTime is the time to connect to the target (retry included);
	// < 0 when no connect was tried.
	ConnectTime time.Duration
	// TLSHandshake is the client handshake's duration; < 0 on TCP.
	TLSHandshake time.Duration
	// ReceivedBytes came from the client, SentBytes went to it.
	ReceivedBytes, SentBytes int64
	Duration                 time.Duration // the flow's whole life
	TargetGroup              string        // targetgroup/<name>
	DomainName               string        // SNI (TLS listeners)
	CloseReason              string        // client_close, target_close, idle_timeout, …
	Error                    string        // the error behind a failed flow
	Created                  time.Time     // when the flow was accepted
}

// LogFlow formats r in the log's format and queues the line. Like Log it
// does not block on I/O and does not allocate in the steady state.
func (a *AccessLog) LogFlow(r *FlowRecord) {
	if a == nil {
		return
	}
	bp := linePool.Get().(*[]byte)
	b := (*bp)[:0]
	if a.format == FormatJSON {
		b = AppendFlowJSON(b, r)
	} else {
		b = AppendFlowALB(b, r)
	}
	a.queue(bp, b)
}

// AppendFlowALB appends r space separated, in the order documented in
// docs/operations.md ("TCP and TLS flows"), without the trailing newline:
//
//	type time elb client:port destination:port target:port connect_time
//	tls_handshake_time received_bytes sent_bytes duration target_group_arn
//	"domain_name" "close_reason" "error" connection_creation_time
//
// The first four fields sit where an ALB line has them, so tools that
// split on type, time, elb and client read both kinds of line.
func AppendFlowALB(b []byte, r *FlowRecord) []byte {
	b = appendBare(b, r.Type)
	b = append(b, ' ')
	b = appendTime(b, r.Time)
	b = append(b, ' ')
	b = appendBare(b, r.ELB)
	b = append(b, ' ')
	b = appendAddrPort(b, r.Client)
	b = append(b, ' ')
	b = appendAddrPort(b, r.Destination)
	b = append(b, ' ')
	b = appendBare(b, r.Target)
	b = append(b, ' ')
	b = appendSeconds(b, r.ConnectTime)
	b = append(b, ' ')
	b = appendSeconds(b, r.TLSHandshake)
	b = append(b, ' ')
	b = strconv.AppendInt(b, r.ReceivedBytes, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, r.SentBytes, 10)
	b = append(b, ' ')
	b = appendSeconds(b, r.Duration)
	b = append(b, ' ')
	b = appendBare(b, r.TargetGroup)
	b = append(b, ' ')
	b = appendQuoted(b, r.DomainName)
	b = append(b, ' ')
	b = appendQuoted(b, r.CloseReason)
	b = append(b, ' ')
	b = appendQuoted(b, r.Error)
	b = append(b, ' ')
	b = appendTime(b, r.Created)
	return b
}

// AppendFlowJSON appends r as one JSON object (the field names of
// AppendFlowALB plus listener), without the trailing newline. Absent
// strings are null; durations are seconds, -1 when absent.
func AppendFlowJSON(b []byte, r *FlowRecord) []byte {
	b = append(b, `{"type":`...)
	b = jsonString(b, r.Type)
	b = append(b, `,"time":`...)
	b = jsonTime(b, r.Time)
	b = append(b, `,"elb":`...)
	b = jsonString(b, r.ELB)
	b = append(b, `,"listener":`...)
	b = jsonString(b, r.Listener)
	b = append(b, `,"client":`...)
	b = jsonAddrPort(b, r.Client)
	b = append(b, `,"destination":`...)
	b = jsonAddrPort(b, r.Destination)
	b = append(b, `,"target":`...)
	b = jsonString(b, r.Target)
	b = append(b, `,"connect_time":`...)
	b = appendSeconds(b, r.ConnectTime)
	b = append(b, `,"tls_handshake_time":`...)
	b = appendSeconds(b, r.TLSHandshake)
	b = append(b, `,"received_bytes":`...)
	b = strconv.AppendInt(b, r.ReceivedBytes, 10)
	b = append(b, `,"sent_bytes":`...)
	b = strconv.AppendInt(b, r.SentBytes, 10)
	b = append(b, `,"duration":`...)
	b = appendSeconds(b, r.Duration)
	b = append(b, `,"target_group_arn":`...)
	b = jsonString(b, r.TargetGroup)
	b = append(b, `,"domain_name":`...)
	b = jsonString(b, r.DomainName)
	b = append(b, `,"close_reason":`...)
	b = jsonString(b, r.CloseReason)
	b = append(b, `,"error":`...)
	b = jsonString(b, r.Error)
	b = append(b, `,"connection_creation_time":`...)
	b = jsonTime(b, r.Created)
	return append(b, '}')
}

func appendAddrPort(b []byte, ap netip.AddrPort) []byte {
	if !ap.IsValid() {
		return append(b, '-')
	}
	return ap.AppendTo(b)
}

func jsonAddrPort(b []byte, ap netip.AddrPort) []byte {
	if !ap.IsValid() {
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = ap.AppendTo(b)
	return append(b, '"')
}
