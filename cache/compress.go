package cache

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
)

// Encoding is the content coding of a cached variant and its key bucket.
type Encoding uint8

const (
	// Identity is the uncompressed representation.
	Identity Encoding = iota
	// Gzip is Content-Encoding: gzip.
	Gzip
	// Brotli is Content-Encoding: br.
	Brotli
)

// Token returns the Content-Encoding / Accept-Encoding token ("" for Identity).
func (e Encoding) Token() string {
	switch e {
	case Gzip:
		return "gzip"
	case Brotli:
		return "br"
	}
	return ""
}

// String returns the token, or "identity".
func (e Encoding) String() string {
	if e == Identity {
		return "identity"
	}
	return e.Token()
}

// Compression bounds from CloudFront §6.8: objects outside 1,000..10,000,000
// bytes are served as the origin sent them.
const (
	MinCompressSize = 1000
	MaxCompressSize = 10_000_000
)

// Negotiate picks the coding for an Accept-Encoding value among the enabled
// ones. Only the gzip and br tokens count (CloudFront drops deflate, zstd and
// the rest); a q-value of 0 refuses a coding; between two accepted codings the
// higher q wins and brotli wins a tie. It allocates nothing.
func Negotiate(acceptEncoding []byte, gzipOn, brOn bool) Encoding {
	qGzip, qBr := -1, -1
	ae := acceptEncoding
	for len(ae) > 0 {
		var item []byte
		item, ae = cut(ae, ',')
		coding, params, _ := bytes.Cut(item, []byte{';'})
		coding = bytes.TrimSpace(coding)
		q := parseQ(params)
		switch {
		case asciiEqualFold(coding, "gzip") || asciiEqualFold(coding, "x-gzip"):
			if qGzip < 0 {
				qGzip = q
			}
		case asciiEqualFold(coding, "br"):
			if qBr < 0 {
				qBr = q
			}
		}
	}
	if !gzipOn {
		qGzip = -1
	}
	if !brOn {
		qBr = -1
	}
	switch {
	case qBr > 0 && qBr >= qGzip:
		return Brotli
	case qGzip > 0:
		return Gzip
	}
	return Identity
}

// parseQ returns the q parameter in thousandths: 1000 when absent, 0 when
// zero or malformed (a weight we cannot read never enables a coding).
func parseQ(params []byte) int {
	for len(params) > 0 {
		var p []byte
		p, params = cut(params, ';')
		p = bytes.TrimSpace(p)
		if len(p) < 2 || (p[0] != 'q' && p[0] != 'Q') || p[1] != '=' {
			continue
		}
		v := p[2:]
		if len(v) == 0 {
			return 0
		}
		if v[0] == '1' {
			return 1000
		}
		if v[0] != '0' {
			return 0
		}
		q, scale := 0, 100
		if len(v) > 1 {
			if v[1] != '.' {
				return 0
			}
			for _, c := range v[2:] {
				if c < '0' || c > '9' || scale == 0 {
					return 0
				}
				q += int(c-'0') * scale
				scale /= 10
			}
		}
		return q
	}
	return 1000
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// compressibleTypes is CloudFront's list of content types it compresses.
var compressibleTypes = map[string]struct{}{}

func init() {
	for _, t := range []string{
		"application/dash+xml", "application/eot", "application/font", "application/font-sfnt",
		"application/javascript", "application/json", "application/opentype", "application/otf",
		"application/pkcs7-mime", "application/protobuf", "application/rss+xml", "application/truetype",
		"application/ttf", "application/vnd.apple.mpegurl", "application/vnd.mapbox-vector-tile",
		"application/vnd.ms-fontobject", "application/xhtml+xml", "application/xml",
		"application/x-font-opentype", "application/x-font-truetype", "application/x-font-ttf",
		"application/x-httpd-cgi", "application/x-javascript", "application/x-mpegurl",
		"application/x-opentype", "application/x-otf", "application/x-perl", "application/x-ttf",
		"font/eot", "font/opentype", "font/otf", "font/ttf", "image/svg+xml",
		"text/css", "text/csv", "text/html", "text/javascript", "text/js", "text/plain",
		"text/richtext", "text/tab-separated-values", "text/xml", "text/x-component",
		"text/x-java-source", "text/x-script", "vnd.apple.mpegurl",
	} {
		compressibleTypes[t] = struct{}{}
	}
}

// CompressibleType reports whether CloudFront compresses this Content-Type
// (parameters such as charset are ignored, case-insensitive).
func CompressibleType(contentType []byte) bool {
	mt, _, _ := bytes.Cut(contentType, []byte{';'})
	mt = bytes.TrimSpace(mt)
	var buf [64]byte
	if len(mt) > len(buf) {
		return false
	}
	for i, c := range mt {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	_, ok := compressibleTypes[string(buf[:len(mt)])]
	return ok
}

// Compressible applies CloudFront's rules (§6.8) to an origin response: status
// 200, 403 or 404; no Content-Encoding at all (any value passes through);
// a known length of 1,000..10,000,000 bytes; a listed Content-Type.
func Compressible(status int, contentType, contentEncoding []byte, contentLength int64) bool {
	if status != 200 && status != 403 && status != 404 {
		return false
	}
	if len(contentEncoding) > 0 {
		return false
	}
	if contentLength < MinCompressSize || contentLength > MaxCompressSize {
		return false
	}
	return CompressibleType(contentType)
}

// BrotliLevel is the brotli quality used by Compress: objects are compressed
// once per miss and then served many times, and 5 is where brotli beats gzip's
// default ratio at a similar cost.
const BrotliLevel = 5

var (
	gzipPool = sync.Pool{New: func() any {
		w, _ := gzip.NewWriterLevel(io.Discard, gzip.DefaultCompression)
		return w
	}}
	brotliPool = sync.Pool{New: func() any { return brotli.NewWriterLevel(io.Discard, BrotliLevel) }}
)

// Encode compresses body with enc and appends the result to dst.
func Encode(dst, body []byte, enc Encoding) ([]byte, error) {
	buf := bytes.NewBuffer(dst)
	switch enc {
	case Gzip:
		w := gzipPool.Get().(*gzip.Writer)
		defer gzipPool.Put(w)
		w.Reset(buf)
		if _, err := w.Write(body); err != nil {
			return nil, fmt.Errorf("cache: encode gzip: %w", err)
		}
		if err := w.Close(); err != nil {
			return nil, fmt.Errorf("cache: encode gzip: %w", err)
		}
	case Brotli:
		w := brotliPool.Get().(*brotli.Writer)
		defer brotliPool.Put(w)
		w.Reset(buf)
		if _, err := w.Write(body); err != nil {
			return nil, fmt.Errorf("cache: encode br: %w", err)
		}
		if err := w.Close(); err != nil {
			return nil, fmt.Errorf("cache: encode br: %w", err)
		}
	default:
		return nil, errors.New("cache: encode: identity is not a compression")
	}
	return buf.Bytes(), nil
}

// Compress returns the enc variant of an identity entry, as CloudFront
// serves it: body encoded, Content-Encoding set, Content-Length updated,
// Vary gains Accept-Encoding, a strong ETag becomes weak and a malformed one
// is dropped. The origin's validators are kept for revalidation. The result
// is a new, unstored entry; e is not changed. The caller checks Compressible
// first.
func Compress(e *Entry, enc Encoding) (*Entry, error) {
	if e.Encoding != Identity {
		return nil, fmt.Errorf("cache: compress %s: entry is already %s", enc, e.Encoding)
	}
	body, err := Encode(make([]byte, 0, len(e.Body)/3+64), e.Body, enc)
	if err != nil {
		return nil, err
	}
	c := *e
	c.key = nil
	c.Body = slices.Clip(body)
	c.file = nil // Store.Set files the encoded body
	c.Encoding = enc
	hdr := make([]Field, 0, len(e.Header)+2)
	varyDone := false
	for _, f := range e.Header {
		switch {
		case equalFoldString(f.Name, "Content-Length"), equalFoldString(f.Name, "Content-Encoding"):
			continue
		case equalFoldString(f.Name, "ETag"):
			v, ok := WeakETag(f.Value)
			if !ok {
				continue
			}
			f.Value = v
		case equalFoldString(f.Name, "Vary"):
			if !varyHas(f.Value, "accept-encoding") {
				f.Value += ", Accept-Encoding"
			}
			varyDone = true
		}
		hdr = append(hdr, f)
	}
	if !varyDone {
		hdr = append(hdr, Field{"Vary", "Accept-Encoding"})
	}
	hdr = append(hdr, Field{"Content-Encoding", enc.Token()}, Field{"Content-Length", strconv.Itoa(len(c.Body))})
	c.Header = hdr
	return &c, nil
}

// WeakETag returns the ETag a compressed variant carries: strong `"x"`
// becomes `W/"x"`, a weak one is unchanged, and a malformed one (not starting
// with `"` or `W/"`) is dropped (ok false), as CloudFront does.
func WeakETag(etag string) (string, bool) {
	switch {
	case len(etag) >= 2 && etag[0] == '"' && etag[len(etag)-1] == '"':
		return "W/" + etag, true
	case len(etag) >= 4 && etag[:3] == `W/"` && etag[len(etag)-1] == '"':
		return etag, true
	}
	return "", false
}

func varyHas(vary, name string) bool {
	v := []byte(vary)
	for len(v) > 0 {
		var item []byte
		item, v = cut(v, ',')
		if asciiEqualFold(bytes.TrimSpace(item), name) {
			return true
		}
	}
	return false
}

func equalFoldString(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range len(a) {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
