package obs

import (
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// RuleNone is Record.MatchedRulePriority when no rule was evaluated (the
// request failed before routing); it prints "-". 0 is the default rule and
// -1 a rule-evaluation error, as in ALB.
const RuleNone = -2

// Record is one access-log entry, the fields of the ALB log (elb.md §3.7)
// in their order. The data path fills it once per request and calls
// AccessLog.Log before the handler returns; strings only need to stay valid
// until Log returns, so callers may pass views of request buffers.
// Empty strings print "-"; negative durations print "-1" (not dispatched).
type Record struct {
	Type     string    // http, https, h2, ws, wss
	Time     time.Time // when the response was sent
	ELB      string    // app/<lb>/<listener>
	Listener string    // listener name (JSON format only)
	Client   string    // client ip:port (the TCP peer, or the PROXY source)
	// ClientAddr is used when Client is "": formatting it here costs no
	// allocation on the data path.
	ClientAddr netip.AddrPort
	Target     string // target ip:port, "" if not dispatched

	RequestProcessing  time.Duration // < 0: not dispatched
	TargetProcessing   time.Duration // < 0: not dispatched or no response
	ResponseProcessing time.Duration // < 0: not dispatched

	ELBStatus     int
	TargetStatus  int // 0: no response from a target
	ReceivedBytes int64
	SentBytes     int64

	// The request line as received: METHOD scheme://host:port/uri PROTO.
	// Port, when set, is added to a Host without one; otherwise the
	// scheme's default port is.
	Method, Scheme, Host, Port, URI, Proto string

	UserAgent           string
	SSLCipher           string
	SSLProtocol         string
	TargetGroup         string // the group's ARN-style id: targetgroup/<name>
	TraceID             string
	DomainName          string // SNI
	ChosenCert          string
	MatchedRulePriority int       // 0 default rule, -1 error, RuleNone "-"
	RequestCreation     time.Time // when the request arrived
	Actions             string    // comma list: forward, redirect, fixed-response
	RedirectURL         string
	ErrorReason         string
	Classification      string // desync: Acceptable, Ambiguous, Severe
	ClassificationWhy   string
	ConnTraceID         string
}

// Format is an access-log line format.
type Format int

// The access-log formats.
const (
	FormatALB Format = iota
	FormatJSON
)

// ParseFormat maps "alb" (or "") and "json".
func ParseFormat(s string) (Format, error) {
	switch s {
	case "alb", "":
		return FormatALB, nil
	case "json":
		return FormatJSON, nil
	}
	return 0, fmt.Errorf("obs: parse access log format %q: want alb or json", s)
}

// AccessLog writes Records as lines through an AsyncWriter. A nil
// *AccessLog is a valid, disabled log. Safe for concurrent use.
type AccessLog struct {
	format Format
	w      *AsyncWriter
}

var linePool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// OpenAccessLog opens path ("stdout", "stderr" or a file, appended to and
// created 0644) in format. An empty path returns a nil, disabled log.
// drop counts lines lost to a full buffer; it may be nil.
func OpenAccessLog(path, format string, drop Incrementer) (*AccessLog, error) {
	f, err := ParseFormat(format)
	if err != nil {
		return nil, err
	}
	var w io.Writer
	switch path {
	case "":
		return nil, nil
	case "stdout":
		w = struct{ io.Writer }{os.Stdout} // hide Close: never close stdout
	case "stderr":
		w = struct{ io.Writer }{os.Stderr}
	default:
		fh, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return nil, fmt.Errorf("obs: open access log %s: %w", path, err)
		}
		w = fh
	}
	return NewAccessLog(w, f, DefaultBufferSize, drop), nil
}

// NewAccessLog writes to w (closed by Close when it is an io.Closer) with
// a buffer of limit bytes.
func NewAccessLog(w io.Writer, f Format, limit int, drop Incrementer) *AccessLog {
	return &AccessLog{format: f, w: NewAsyncWriter(w, limit, drop)}
}

// Log formats r and queues the line. It does not block on I/O and does not
// allocate in the steady state.
func (a *AccessLog) Log(r *Record) {
	if a == nil {
		return
	}
	bp := linePool.Get().(*[]byte)
	b := (*bp)[:0]
	if a.format == FormatJSON {
		b = AppendJSON(b, r)
	} else {
		b = AppendALB(b, r)
	}
	a.queue(bp, b)
}

// Flush waits until queued lines reached the file. Nil-safe.
func (a *AccessLog) Flush() {
	if a != nil {
		a.w.Flush()
	}
}

// Drops is the number of lines dropped so far. Nil-safe.
func (a *AccessLog) Drops() uint64 {
	if a == nil {
		return 0
	}
	return a.w.Drops()
}

// Close flushes and closes the file. Nil-safe.
func (a *AccessLog) Close() error {
	if a == nil {
		return nil
	}
	return a.w.Close()
}

const timeLayout = "2006-01-02T15:04:05.000000Z"

// AppendALB appends r in the ALB field order (elb.md §3.7), without the
// trailing newline.
func AppendALB(b []byte, r *Record) []byte {
	b = appendBare(b, r.Type)
	b = append(b, ' ')
	b = appendTime(b, r.Time)
	b = append(b, ' ')
	b = appendBare(b, r.ELB)
	b = append(b, ' ')
	b = appendClient(b, r)
	b = append(b, ' ')
	b = appendBare(b, r.Target)
	b = append(b, ' ')
	b = appendSeconds(b, r.RequestProcessing)
	b = append(b, ' ')
	b = appendSeconds(b, r.TargetProcessing)
	b = append(b, ' ')
	b = appendSeconds(b, r.ResponseProcessing)
	b = append(b, ' ')
	b = appendStatus(b, r.ELBStatus)
	b = append(b, ' ')
	b = appendStatus(b, r.TargetStatus)
	b = append(b, ' ')
	b = strconv.AppendInt(b, r.ReceivedBytes, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, r.SentBytes, 10)
	b = append(b, ' ', '"')
	b = appendRequestLine(b, r, escapeQuoted)
	b = append(b, '"', ' ')
	b = appendQuoted(b, r.UserAgent)
	b = append(b, ' ')
	b = appendBare(b, r.SSLCipher)
	b = append(b, ' ')
	b = appendBare(b, r.SSLProtocol)
	b = append(b, ' ')
	b = appendBare(b, r.TargetGroup)
	b = append(b, ' ')
	b = appendQuoted(b, r.TraceID)
	b = append(b, ' ')
	b = appendQuoted(b, r.DomainName)
	b = append(b, ' ')
	b = appendQuoted(b, r.ChosenCert)
	b = append(b, ' ')
	if r.MatchedRulePriority <= RuleNone {
		b = append(b, '-')
	} else {
		b = strconv.AppendInt(b, int64(r.MatchedRulePriority), 10)
	}
	b = append(b, ' ')
	b = appendTime(b, r.RequestCreation)
	b = append(b, ' ')
	b = appendQuoted(b, r.Actions)
	b = append(b, ' ')
	b = appendQuoted(b, r.RedirectURL)
	b = append(b, ' ')
	b = appendQuoted(b, r.ErrorReason)
	b = append(b, ' ')
	b = appendQuoted(b, r.Target)
	b = append(b, ' ', '"')
	b = appendStatus(b, r.TargetStatus)
	b = append(b, '"', ' ')
	b = appendQuoted(b, r.Classification)
	b = append(b, ' ')
	b = appendQuoted(b, r.ClassificationWhy)
	b = append(b, ' ')
	b = appendBare(b, r.ConnTraceID)
	return b
}

func appendClient(b []byte, r *Record) []byte {
	if r.Client == "" && r.ClientAddr.IsValid() {
		return r.ClientAddr.AppendTo(b)
	}
	return appendBare(b, r.Client)
}

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, '-')
	}
	return appendStamp(b, t)
}

// appendStamp writes t as 2006-01-02T15:04:05.000000Z (UTC, µs) by hand:
// time.AppendFormat parses its layout on every call, and the access log
// writes two stamps per request. The calendar date, the costly part,
// changes once a day, so the last one computed is kept (dateCache); the
// clock comes from the Unix seconds by division.
func appendStamp(b []byte, t time.Time) []byte {
	sec := t.Unix()
	if sec < 0 {
		return appendStampSlow(b, t)
	}
	days := uint64(sec / 86400)
	v := dateCache.Load()
	if v == 0 || v>>32 != days {
		year, month, day := t.UTC().Date()
		if year > 9999 {
			return appendStampSlow(b, t)
		}
		v = days<<32 | uint64(year)<<16 | uint64(month)<<8 | uint64(day)
		dateCache.Store(v)
	}
	year, month, day := int(v>>16&0xffff), int(v>>8&0xff), int(v&0xff)
	rem := int(sec % 86400)
	hour, minute, s := rem/3600, rem/60%60, rem%60
	us := t.Nanosecond() / 1000
	return append(b,
		byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10), '-',
		byte('0'+month/10), byte('0'+month%10), '-',
		byte('0'+day/10), byte('0'+day%10), 'T',
		byte('0'+hour/10), byte('0'+hour%10), ':',
		byte('0'+minute/10), byte('0'+minute%10), ':',
		byte('0'+s/10), byte('0'+s%10), '.',
		byte('0'+us/100000), byte('0'+us/10000%10), byte('0'+us/1000%10),
		byte('0'+us/100%10), byte('0'+us/10%10), byte('0'+us%10), 'Z')
}

// dateCache is the UTC date of the day last stamped: days since the
// epoch << 32 | year << 16 | month << 8 | day (0: none yet).
var dateCache atomic.Uint64

// appendStampSlow covers the years before 1970 and after 9999.
func appendStampSlow(b []byte, t time.Time) []byte {
	return t.UTC().AppendFormat(b, timeLayout)
}

// appendSeconds writes d in seconds with millisecond precision, or -1.
func appendSeconds(b []byte, d time.Duration) []byte {
	if d < 0 {
		return append(b, '-', '1')
	}
	// Integer rounding to the millisecond is what AppendFloat's 'f', 3
	// gives except at an exact half (float rounding then depends on the
	// binary value) and for spans where float64 loses the nanoseconds;
	// those go through AppendFloat. Three of these are written per line.
	if rem := d % time.Millisecond; rem == time.Millisecond/2 || d >= 1e6*time.Second {
		return strconv.AppendFloat(b, d.Seconds(), 'f', 3, 64)
	}
	ms := int64((d + time.Millisecond/2) / time.Millisecond)
	b = strconv.AppendInt(b, ms/1000, 10)
	f := ms % 1000
	return append(b, '.', byte('0'+f/100), byte('0'+f/10%10), byte('0'+f%10))
}

func appendStatus(b []byte, s int) []byte {
	if s <= 0 {
		return append(b, '-')
	}
	return strconv.AppendInt(b, int64(s), 10)
}

// appendRequestLine writes METHOD scheme://host:port/uri PROTO; a Host
// without a port gets the scheme's default, as ALB logs it.
func appendRequestLine(b []byte, r *Record, esc func([]byte, string) []byte) []byte {
	if r.Method == "" {
		return append(b, '-', ' ', '-', ' ', '-')
	}
	b = esc(b, r.Method)
	b = append(b, ' ')
	scheme := r.Scheme
	if scheme == "" {
		scheme = "http"
	}
	b = esc(b, scheme)
	b = append(b, ':', '/', '/')
	b = esc(b, r.Host)
	if !hasPort(r.Host) {
		if r.Port != "" {
			b = append(b, ':')
			b = esc(b, r.Port)
		} else if scheme == "https" || scheme == "wss" {
			b = append(b, ":443"...)
		} else {
			b = append(b, ":80"...)
		}
	}
	if !strings.HasPrefix(r.URI, "/") {
		b = append(b, '/')
	}
	b = esc(b, r.URI)
	b = append(b, ' ')
	if r.Proto == "" {
		return append(b, '-')
	}
	return esc(b, r.Proto)
}

// hasPort reports whether host ends in :digits outside IPv6 brackets.
func hasPort(host string) bool {
	i := strings.LastIndexByte(host, ':')
	if i < 0 || i == len(host)-1 {
		return false
	}
	if strings.IndexByte(host, ']') > i {
		return false
	}
	if host[0] != '[' && strings.Count(host, ":") > 1 {
		return false // bare IPv6 address, no port
	}
	for _, c := range host[i+1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// appendBare writes an unquoted field: "-" when empty; bytes that would
// split the line into more fields (space, controls, quotes) are escaped as
// \xHH so a client cannot forge fields.
func appendBare(b []byte, s string) []byte {
	if s == "" {
		return append(b, '-')
	}
	return escapeBare(b, s)
}

// appendQuoted writes a quoted field, "-" when empty.
func appendQuoted(b []byte, s string) []byte {
	b = append(b, '"')
	if s == "" {
		b = append(b, '-')
	} else {
		b = escapeQuoted(b, s)
	}
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// escapeQuoted escapes what ALB escapes inside a quoted field: '"' and
// '\' with a backslash, control and non-ASCII bytes as \xHH. Spaces stay.
func escapeQuoted(b []byte, s string) []byte { return escapeALB(b, s, false) }

// escapeBare is escapeQuoted plus spaces as \x20: a bare field must not
// split into two, or a client could forge fields in the line.
func escapeBare(b []byte, s string) []byte { return escapeALB(b, s, true) }

func escapeALB(b []byte, s string, space bool) []byte {
	// Fast path: most fields need no escape and are copied at once. The
	// scan tests eight bytes at a time (user agents and URIs run to
	// hundreds of bytes), then one table load per byte from the first
	// word that may hold a byte to escape.
	tbl := &escQuoted
	lt := uint64(' ') * ones8 // bytes below this are escaped
	if space {
		tbl = &escBare
		lt = uint64(' '+1) * ones8
	}
	i := 0
	for ; i+8 <= len(s); i += 8 {
		w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		// A byte below lt, with its high bit set, or equal to '"', '\\'
		// or DEL.
		if ((w-lt)&^w|w|zeroByte(w^'"'*ones8)|zeroByte(w^'\\'*ones8)|zeroByte(w^0x7f*ones8))&highs8 != 0 {
			break
		}
	}
	for i < len(s) && !tbl[s[i]] {
		i++
	}
	if i == len(s) {
		return append(b, s...)
	}
	b = append(b, s[:i]...)
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case tbl[c]:
			b = append(b, '\\', 'x', hexDigits[c>>4], hexDigits[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return b
}

const (
	ones8  = 0x0101010101010101
	highs8 = 0x8080808080808080
)

// zeroByte has the high bit of a byte set (and maybe of bytes above it)
// when some byte of w is zero; it is zero when none is.
func zeroByte(w uint64) uint64 { return (w - ones8) &^ w }

// escQuoted and escBare mark the bytes escapeALB escapes: '"', '\',
// control and non-ASCII bytes, and for bare fields the space too.
var escQuoted, escBare = func() (q, bare [256]bool) {
	for c := 0; c < 256; c++ {
		q[c] = c < ' ' || c >= 0x7f || c == '"' || c == '\\'
		bare[c] = q[c] || c == ' '
	}
	return q, bare
}()

// queue ends the formatted line b with a newline, hands it to the writer
// and gives its pooled buffer bp back (unless a huge line grew it).
func (a *AccessLog) queue(bp *[]byte, b []byte) {
	b = append(b, '\n')
	a.w.Write(b)
	if cap(b) <= 64<<10 {
		*bp = b
		linePool.Put(bp)
	}
}
