package obs

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// AppendJSON appends r as one JSON object with the ALB field names, without
// the trailing newline. Absent strings and statuses are null; durations
// are seconds (-1 when not dispatched), times RFC 3339 with microseconds.
func AppendJSON(b []byte, r *Record) []byte {
	b = append(b, `{"type":`...)
	b = jsonString(b, r.Type)
	b = append(b, `,"time":`...)
	b = jsonTime(b, r.Time)
	b = append(b, `,"elb":`...)
	b = jsonString(b, r.ELB)
	b = append(b, `,"listener":`...)
	b = jsonString(b, r.Listener)
	b = append(b, `,"client":`...)
	if r.Client == "" && r.ClientAddr.IsValid() {
		b = append(b, '"')
		b = r.ClientAddr.AppendTo(b)
		b = append(b, '"')
	} else {
		b = jsonString(b, r.Client)
	}
	b = append(b, `,"target":`...)
	b = jsonString(b, r.Target)
	b = append(b, `,"request_processing_time":`...)
	b = appendSeconds(b, r.RequestProcessing)
	b = append(b, `,"target_processing_time":`...)
	b = appendSeconds(b, r.TargetProcessing)
	b = append(b, `,"response_processing_time":`...)
	b = appendSeconds(b, r.ResponseProcessing)
	b = append(b, `,"elb_status_code":`...)
	b = jsonStatus(b, r.ELBStatus)
	b = append(b, `,"target_status_code":`...)
	b = jsonStatus(b, r.TargetStatus)
	b = append(b, `,"received_bytes":`...)
	b = strconv.AppendInt(b, r.ReceivedBytes, 10)
	b = append(b, `,"sent_bytes":`...)
	b = strconv.AppendInt(b, r.SentBytes, 10)
	b = append(b, `,"request":"`...)
	b = appendRequestLine(b, r, jsonEscape)
	b = append(b, `","user_agent":`...)
	b = jsonString(b, r.UserAgent)
	b = append(b, `,"ssl_cipher":`...)
	b = jsonString(b, r.SSLCipher)
	b = append(b, `,"ssl_protocol":`...)
	b = jsonString(b, r.SSLProtocol)
	b = append(b, `,"target_group_arn":`...)
	b = jsonString(b, r.TargetGroup)
	b = append(b, `,"trace_id":`...)
	b = jsonString(b, r.TraceID)
	b = append(b, `,"domain_name":`...)
	b = jsonString(b, r.DomainName)
	b = append(b, `,"chosen_cert_arn":`...)
	b = jsonString(b, r.ChosenCert)
	b = append(b, `,"matched_rule_priority":`...)
	if r.MatchedRulePriority <= RuleNone {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendInt(b, int64(r.MatchedRulePriority), 10)
	}
	b = append(b, `,"request_creation_time":`...)
	b = jsonTime(b, r.RequestCreation)
	b = append(b, `,"actions_executed":`...)
	b = jsonString(b, r.Actions)
	b = append(b, `,"redirect_url":`...)
	b = jsonString(b, r.RedirectURL)
	b = append(b, `,"error_reason":`...)
	b = jsonString(b, r.ErrorReason)
	b = append(b, `,"classification":`...)
	b = jsonString(b, r.Classification)
	b = append(b, `,"classification_reason":`...)
	b = jsonString(b, r.ClassificationWhy)
	b = append(b, `,"conn_trace_id":`...)
	b = jsonString(b, r.ConnTraceID)
	return append(b, '}')
}

func jsonStatus(b []byte, s int) []byte {
	if s <= 0 {
		return append(b, "null"...)
	}
	return strconv.AppendInt(b, int64(s), 10)
}

func jsonTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = appendStamp(b, t)
	return append(b, '"')
}

// jsonString writes s as a JSON string, or null when empty.
func jsonString(b []byte, s string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = jsonEscape(b, s)
	return append(b, '"')
}

// jsonEscape escapes s for the inside of a JSON string; invalid UTF-8
// becomes U+FFFD so the line always parses.
func jsonEscape(b []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20 || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return b
}
