package edge

import (
	"errors"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// CloudFrontFields are the fields of CloudFront's standard access log,
// in CloudFront's order; LogFormatCloudFront writes them tab-separated
// (with "-" for empty), LogFormatJSON as one object per line.
var CloudFrontFields = []string{
	"date", "time", "x-edge-location", "sc-bytes", "c-ip", "cs-method", "cs(Host)", "cs-uri-stem", "sc-status",
	"cs(Referer)", "cs(User-Agent)", "cs-uri-query", "cs(Cookie)", "x-edge-result-type", "x-edge-request-id",
	"x-host-header", "cs-protocol", "cs-bytes", "time-taken", "x-forwarded-for", "ssl-protocol", "ssl-cipher",
	"x-edge-response-result-type", "cs-protocol-version", "fle-status", "fle-encrypted-fields", "c-port",
	"time-to-first-byte", "x-edge-detailed-result-type", "sc-content-type", "sc-content-len", "sc-range-start",
	"sc-range-end",
}

// AccessLog writes one line per request, in CloudFront's standard log
// format or as JSON, to w (an obs.AsyncWriter, so a slow disk drops lines
// instead of blocking requests). Safe for concurrent use.
type AccessLog struct {
	w    io.Writer
	json bool
	bufs sync.Pool
	day  atomic.Pointer[logStamp] // the date and time strings of the current second
}

type logStamp struct {
	sec        int64
	date, time []byte
}

// stamp returns the date and time fields (UTC) for now, formatted once a
// second.
func (a *AccessLog) stamp(now time.Time) *logStamp {
	sec := now.Unix()
	if st := a.day.Load(); st != nil && st.sec == sec {
		return st
	}
	now = now.UTC()
	st := &logStamp{sec: sec, date: now.AppendFormat(nil, "2006-01-02"), time: now.AppendFormat(nil, "15:04:05")}
	a.day.Store(st)
	return st
}

// NewAccessLog returns an access log in format "cloudfront" or "json".
func NewAccessLog(w io.Writer, format string) (*AccessLog, error) {
	a := &AccessLog{w: w}
	switch format {
	case "", "cloudfront":
	case "json":
		a.json = true
	default:
		return nil, errors.New("edge: access log format " + strconv.Quote(format) + ": want cloudfront or json")
	}
	a.bufs.New = func() any { b := make([]byte, 0, 1024); return &b }
	return a, nil
}

// Header is the "#Version" and "#Fields" preamble of a CloudFront log file.
func (a *AccessLog) Header() []byte {
	b := []byte("#Version: 1.0\n#Fields:")
	for _, f := range CloudFrontFields {
		b = append(b, ' ')
		b = append(b, f...)
	}
	return append(b, '\n')
}

func (a *AccessLog) log(r *request) {
	bp := a.bufs.Get().(*[]byte)
	b := (*bp)[:0]
	ctx := r.ctx
	h := &ctx.Request.Header
	// One clock read per line: the request's start is fasthttp's request
	// time (request.start), so time-taken needs only the end.
	now := time.Now()
	var vals [33][]byte
	var tmp [8][48]byte
	st := a.stamp(now)
	vals[0], vals[1] = st.date, st.time
	vals[2] = []byte(r.l.name)
	bodyLen := responseBodyLen(&ctx.Response)
	vals[3] = strconv.AppendInt(tmp[0][:0], int64(bodyLen+ctx.Response.Header.Len()*24), 10)
	vals[4] = r.viewer.AppendTo(tmp[1][:0])
	vals[5] = ctx.Method()
	if r.dist != nil {
		vals[6] = []byte(r.dist.Name)
	}
	vals[7], vals[11] = splitRequestURI(h.RequestURI())
	vals[8] = strconv.AppendInt(tmp[2][:0], int64(r.status), 10)
	vals[9] = h.Referer()
	vals[10] = h.UserAgent()
	// cs(Cookie) stays "-": CloudFront logs cookies only when cookie logging is on, and they often carry credentials.
	vals[13] = []byte(r.result)
	vals[14] = r.id[:]
	vals[15] = ctx.Host()
	if r.l.tls {
		vals[16] = []byte("https")
	} else {
		vals[16] = []byte("http")
	}
	vals[17] = strconv.AppendInt(tmp[3][:0], int64(len(h.RawHeaders())+len(ctx.Request.Body())), 10)
	vals[18] = appendSeconds(tmp[4][:0], now.Sub(r.start))
	vals[19] = h.Peek("X-Forwarded-For")
	if r.l.tls && r.l.tlsFacts != nil {
		v, c, _ := r.l.tlsFacts(ctx.Conn())
		vals[20], vals[21] = []byte(v), []byte(c)
	}
	vals[22] = []byte(r.result)
	vals[23] = h.Protocol()
	vals[26] = strconv.AppendUint(tmp[5][:0], uint64(r.peer.Port()), 10)
	vals[27] = vals[18]
	if r.detail != "" {
		vals[28] = []byte(r.detail)
	} else {
		vals[28] = []byte(r.result)
	}
	vals[29] = ctx.Response.Header.ContentType()
	vals[30] = strconv.AppendInt(tmp[6][:0], int64(bodyLen), 10)
	if a.json {
		b = append(b, '{')
		for i, v := range vals {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendQuote(b, CloudFrontFields[i])
			b = append(b, ':')
			if len(v) == 0 {
				b = append(b, "null"...)
				continue
			}
			b = strconv.AppendQuote(b, string(v))
		}
		b = append(b, '}', '\n')
	} else {
		for i, v := range vals {
			if i > 0 {
				b = append(b, '\t')
			}
			if len(v) > 0 && safeLogFields&(1<<i) != 0 {
				b = append(b, v...)
				continue
			}
			b = appendLogValue(b, v)
		}
		b = append(b, '\n')
	}
	_, _ = a.w.Write(b)
	*bp = b
	a.bufs.Put(bp)
}

// safeLogFields marks the fields the edge writes itself (dates, numbers,
// the request id, result types): they never hold a byte
// CloudFront escapes, so they are copied without the scan.
const safeLogFields uint64 = 1<<0 | 1<<1 | 1<<3 | 1<<8 | 1<<13 | 1<<14 | 1<<16 | 1<<17 | 1<<18 |
	1<<22 | 1<<26 | 1<<27 | 1<<28 | 1<<30

// appendSeconds writes d as seconds with three decimals (CloudFront's
// time-taken), rounded to the millisecond, without strconv's float path.
func appendSeconds(dst []byte, d time.Duration) []byte {
	ms := (d + time.Millisecond/2) / time.Millisecond
	if ms < 0 {
		ms = 0
	}
	dst = strconv.AppendInt(dst, int64(ms/1000), 10)
	f := ms % 1000
	return append(dst, '.', byte('0'+f/100), byte('0'+f/10%10), byte('0'+f%10))
}

// logEscaped marks the bytes CloudFront percent-encodes in a log field:
// everything outside printable ASCII, space, '"' and '\'.
var logEscaped = func() (t [256]bool) {
	for c := range t {
		t[c] = c <= ' ' || c >= 0x7f || c == '"' || c == '\\'
	}
	return t
}()

// appendLogValue writes v as CloudFront does: "-" when empty, bytes
// outside printable ASCII, spaces and tabs percent-encoded. Runs of bytes
// that need no escaping are copied whole: a log line is a few hundred
// bytes, and a byte-by-byte append was a third of its cost.
func appendLogValue(dst, v []byte) []byte {
	if len(v) == 0 {
		return append(dst, '-')
	}
	const hex = "0123456789ABCDEF"
	for {
		i := 0
		for i < len(v) && !logEscaped[v[i]] {
			i++
		}
		dst = append(dst, v[:i]...)
		if i == len(v) {
			return dst
		}
		c := v[i]
		dst = append(dst, '%', hex[c>>4], hex[c&15])
		v = v[i+1:]
	}
}

// logPhase counts the request and writes its access-log line.
func (r *request) logPhase() {
	r.e.m.Requests.Inc()
	if r.e.alog != nil {
		r.e.alog.log(r)
	}
}
