package cache

import (
	"bytes"
	"slices"
	"strings"
	"time"
)

// Field is one stored response header. Names keep the origin's spelling.
type Field struct {
	Name, Value string
}

// Fields is a header list with case-insensitive first-match lookup; it
// satisfies HeaderPeeker (handy in tests and for stored headers).
type Fields []Field

// Peek returns the first value of name, or nil.
func (fs Fields) Peek(name string) []byte {
	if v, ok := fs.Get(name); ok {
		return []byte(v)
	}
	return nil
}

// Get returns the first value of name.
func (fs Fields) Get(name string) (string, bool) {
	for _, f := range fs {
		if equalFoldString(f.Name, name) {
			return f.Value, true
		}
	}
	return "", false
}

// joined returns every value of name joined with ", " (nil when absent).
func (fs Fields) joined(name string) []byte {
	var out []byte
	for _, f := range fs {
		if equalFoldString(f.Name, name) {
			if out != nil {
				out = append(out, ", "...)
			}
			out = append(out, f.Value...)
		}
	}
	return out
}

// Response returns the freshness view of these fields for status.
func (fs Fields) Response(status int) Response {
	_, setCookie := fs.Get("Set-Cookie")
	return Response{
		Status:       status,
		CacheControl: fs.joined("Cache-Control"),
		Expires:      fs.Peek("Expires"),
		Date:         fs.Peek("Date"),
		Vary:         fs.joined("Vary"),
		SetCookie:    setCookie,
	}
}

// Entry is one cached answer. It is immutable once built: a hit may be served
// from it by many goroutines at once, and a 304 refresh or a compressed
// variant makes a new Entry. Store.Set takes ownership of the Entry.
type Entry struct {
	// Status, Header and Body are what the viewer is sent (the edge adds
	// Age, X-Cache, Via and the like).
	Status int
	Header []Field
	Body   []byte
	// Encoding is the content coding of Body.
	Encoding Encoding
	// file holds a copy of a large Body for sendfile (see BodyFile).
	file *BodyFile

	// etag and lastModified are the origin's validators, used to
	// revalidate; a compressed variant keeps the origin's strong ETag here
	// while its Header carries the weak one.
	etag, lastModified string

	decision  Decision
	refreshed bool
	// initialAge is the origin's Age plus the time the fetch took (RFC 9111
	// §4.2.3 corrected_age_value); storedAt is when the answer arrived;
	// requestTime is when the origin request was sent.
	initialAge  time.Duration
	storedAt    time.Time
	requestTime time.Time

	// Set by Store.Set.
	key  []byte
	seq  uint64
	cost int64
}

// EntryInput is what NewEntry builds an entry from.
type EntryInput struct {
	Status int
	// Header is the origin's response header, already stripped of
	// hop-by-hop fields. Age is not stored (it seeds the entry's age and
	// the edge writes its own). Values must be real strings, not views of reused
	// buffers.
	Header []Field
	// Body is copied.
	Body []byte
	// Decision is the result of Decide for this answer.
	Decision Decision
	// RequestTime is when the origin request was sent, ResponseTime when
	// its answer arrived (zero: use ResponseTime for both, and Store.Set
	// uses its clock when both are zero).
	RequestTime, ResponseTime time.Time
	// KeepSetCookie keeps Set-Cookie in the stored header; by default it
	// is dropped so that a cookie is never replayed to another viewer
	// (CloudFront keeps it only when cookies are forwarded).
	KeepSetCookie bool
}

// NewEntry builds an identity entry from an origin answer. Content-Encoding
// in the header sets Encoding to gzip or br when it names one of them.
func NewEntry(in EntryInput) *Entry {
	e := &Entry{
		Status:      in.Status,
		Body:        bytes.Clone(in.Body),
		decision:    in.Decision,
		storedAt:    in.ResponseTime,
		requestTime: in.RequestTime,
	}
	if e.Body == nil {
		e.Body = []byte{}
	}
	if e.requestTime.IsZero() {
		e.requestTime = e.storedAt
	}
	hdr := make([]Field, 0, len(in.Header))
	for _, f := range in.Header {
		switch {
		case !in.KeepSetCookie && equalFoldString(f.Name, "Set-Cookie"):
			continue
		case equalFoldString(f.Name, "ETag") && e.etag == "":
			e.etag = f.Value
		case equalFoldString(f.Name, "Last-Modified") && e.lastModified == "":
			e.lastModified = f.Value
		case equalFoldString(f.Name, "Age"):
			// The edge writes its own Age; the origin's seeds initialAge.
			if age := parseSeconds([]byte(strings.TrimSpace(f.Value)), true); age > e.initialAge {
				e.initialAge = age
			}
			continue
		case equalFoldString(f.Name, "Content-Encoding"):
			switch strings.ToLower(strings.TrimSpace(f.Value)) {
			case "gzip":
				e.Encoding = Gzip
			case "br":
				e.Encoding = Brotli
			}
		}
		hdr = append(hdr, f)
	}
	e.Header = slices.Clip(hdr)
	if delay := e.storedAt.Sub(e.requestTime); delay > 0 {
		e.initialAge += delay
	}
	return e
}

// Refreshed reports whether the entry was made by Refresh from a 304: the
// request that revalidated it answers with X-Cache RefreshHit.
func (e *Entry) Refreshed() bool { return e.refreshed }

// Decision returns the freshness decision the entry was stored with.
func (e *Entry) Decision() Decision { return e.decision }

// Key returns the full cache key of a stored entry (nil before Store.Set).
// The slice must not be modified.
func (e *Entry) Key() []byte { return e.key }

// StoredAt is when the answer (or its last 304 refresh) arrived.
func (e *Entry) StoredAt() time.Time { return e.storedAt }

// Age is the entry's current age (RFC 9111 §4.2.3): the origin's Age plus the
// fetch delay plus the time since it was stored. The origin's Date is not
// used, so a skewed origin clock cannot make everything stale; CloudFront
// likewise reports the time since the object was stored.
func (e *Entry) Age(now time.Time) time.Duration {
	resident := now.Sub(e.storedAt)
	if resident < 0 {
		resident = 0
	}
	return e.initialAge + resident
}

// AgeSeconds is Age in whole seconds, for the Age header.
func (e *Entry) AgeSeconds(now time.Time) int64 { return int64(e.Age(now) / time.Second) }

// TTL is the freshness lifetime the entry was stored with.
func (e *Entry) TTL() time.Duration { return e.decision.TTL }

// Fresh reports whether the entry may be served without asking the origin.
func (e *Entry) Fresh(now time.Time) bool { return e.Age(now) < e.decision.TTL }

// StaleWhileRevalidate reports whether an expired entry may be served at once
// while the edge revalidates it in the background.
func (e *Entry) StaleWhileRevalidate(now time.Time) bool {
	if e.decision.MustRevalidate || e.decision.StaleWhileRevalidate <= 0 {
		return false
	}
	age := e.Age(now)
	return age >= e.decision.TTL && age < e.decision.TTL+e.decision.StaleWhileRevalidate
}

// StaleIfError reports whether an expired entry may be served when the origin
// fails (connection error, timeout or 5xx). With stale-if-error=N it is
// within N seconds of expiry; with stale-if-error=0 or must-revalidate
// never; without the directive always, as CloudFront did before it honoured
// the directive (the edge then re-asks the origin after the error caching
// minimum TTL).
func (e *Entry) StaleIfError(now time.Time) bool {
	if e.decision.MustRevalidate {
		return false
	}
	if !e.decision.StaleIfErrorSet {
		return true
	}
	return e.Age(now) < e.decision.TTL+e.decision.StaleIfError
}

// Validators returns what to send the origin to revalidate the entry: the
// value for If-None-Match (the origin's ETag) and for If-Modified-Since (its
// Last-Modified). Both are empty when the entry cannot be revalidated and must
// be fetched in full.
func (e *Entry) Validators() (ifNoneMatch, ifModifiedSince string) {
	return e.etag, e.lastModified
}

// notModifiedSkip are fields a 304 must not overwrite in the stored header
// (RFC 9111 §3.2: the body, its length and coding stay the stored ones).
func notModifiedSkip(name string) bool {
	return equalFoldString(name, "Age") || equalFoldString(name, "Content-Length") || equalFoldString(name, "Content-Encoding") ||
		equalFoldString(name, "Transfer-Encoding") || equalFoldString(name, "Content-Range") ||
		equalFoldString(name, "Set-Cookie")
}

// Refresh applies a 304 from the origin (RFC 9111 §4.3.4, CloudFront
// RefreshHit): the stored header is updated with the 304's fields, the TTL is
// decided again from the merged header, and the age restarts. It returns a new
// entry (serve it as RefreshHit) and the decision; store it only when
// decision.Store is true. A compressed variant keeps its weak ETag.
func (e *Entry) Refresh(p *TTLPolicy, notModified []Field, requestTime, responseTime time.Time) (*Entry, Decision) {
	merged := make([]Field, 0, len(e.Header)+len(notModified))
	replaced := func(name string) bool {
		if notModifiedSkip(name) || (e.Encoding != Identity && equalFoldString(name, "ETag")) {
			return false
		}
		for _, f := range notModified {
			if equalFoldString(f.Name, name) {
				return true
			}
		}
		return false
	}
	for _, f := range e.Header {
		if !replaced(f.Name) {
			merged = append(merged, f)
		}
	}
	for _, f := range notModified {
		if notModifiedSkip(f.Name) || (e.Encoding != Identity && equalFoldString(f.Name, "ETag")) {
			continue
		}
		merged = append(merged, f)
	}
	resp := Fields(merged).Response(e.Status)
	d := Decide(p, &resp, responseTime)
	n := &Entry{
		Status:       e.Status,
		Header:       merged,
		Body:         e.Body,
		file:         e.file,
		Encoding:     e.Encoding,
		etag:         e.etag,
		lastModified: e.lastModified,
		decision:     d,
		refreshed:    true,
		storedAt:     responseTime,
		requestTime:  requestTime,
	}
	if v, ok := Fields(notModified).Get("ETag"); ok {
		n.etag = v
	}
	if v, ok := Fields(notModified).Get("Last-Modified"); ok {
		n.lastModified = v
	}
	if age, ok := Fields(notModified).Get("Age"); ok {
		n.initialAge = parseSeconds([]byte(strings.TrimSpace(age)), true)
	}
	if delay := responseTime.Sub(requestTime); delay > 0 {
		n.initialAge += delay
	}
	return n, d
}

// complete reports whether the body has the length the header announces
// (CloudFront does not cache an answer whose Content-Length does not match
// the bytes received).
func (e *Entry) complete() bool {
	cl, ok := Fields(e.Header).Get("Content-Length")
	if !ok {
		return true
	}
	n, ok := parseDigits([]byte(cl))
	return ok && n == int64(len(e.Body))
}

// size is the entry's cost in bytes without its key: header, body and a
// fixed overhead for the structs, so that max_size bounds real memory
// (Store.Set adds the BodyFile's copy).
func (e *Entry) size() int64 {
	const overhead = 256 // Entry, slice headers and the store's bookkeeping
	const perField = 32  // two string headers
	n := int64(overhead + len(e.Body) + len(e.etag) + len(e.lastModified))
	for _, f := range e.Header {
		n += int64(perField + len(f.Name) + len(f.Value))
	}
	return n
}
