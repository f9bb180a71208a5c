package cache

import (
	"bytes"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
)

func TestNegotiate(t *testing.T) {
	tests := []struct {
		ae       string
		gzip, br bool
		want     Encoding
	}{
		{"", true, true, Identity},
		{"gzip", true, true, Gzip},
		{"br", true, true, Brotli},
		{"gzip, br", true, true, Brotli},
		{"br, gzip", true, true, Brotli},
		{"GZIP, BR", true, true, Brotli},
		{"gzip, deflate, br, zstd", true, true, Brotli},
		{"gzip, br", true, false, Gzip},
		{"gzip, br", false, true, Brotli},
		{"gzip", false, true, Identity},
		{"deflate, zstd, identity", true, true, Identity},
		{"br;q=0, gzip", true, true, Gzip},
		{"gzip;q=0, br;q=0", true, true, Identity},
		{"gzip;q=1.0, br;q=0.5", true, true, Gzip},
		{"gzip;q=0.5, br;q=0.5", true, true, Brotli},
		{"gzip;q=0.001", true, true, Gzip},
		{"gzip;q=0.000", true, true, Identity},
		{"gzip;q=abc, br;q=2", true, true, Identity},
		{"gzip ; q=0.8 , br ; q=0.9", true, true, Brotli},
		{"x-gzip", true, true, Gzip},
		{"*", true, true, Identity},
	}
	for _, tc := range tests {
		if got := Negotiate([]byte(tc.ae), tc.gzip, tc.br); got != tc.want {
			t.Errorf("Negotiate(%q, gzip=%v, br=%v) = %v, want %v", tc.ae, tc.gzip, tc.br, got, tc.want)
		}
	}
}

func TestCompressible(t *testing.T) {
	tests := []struct {
		status int
		ct, ce string
		n      int64
		want   bool
	}{
		{200, "text/html; charset=utf-8", "", 5000, true},
		{200, "Application/JSON", "", 1000, true},
		{200, "image/svg+xml", "", 10_000_000, true},
		{404, "text/plain", "", 2000, true},
		{403, "text/css", "", 2000, true},
		{200, "text/html", "", 999, false},
		{200, "text/html", "", 10_000_001, false},
		{200, "text/html", "", -1, false},
		{200, "image/png", "", 5000, false},
		{200, "text/html", "gzip", 5000, false},
		{200, "text/html", "identity", 5000, false},
		{206, "text/html", "", 5000, false},
		{500, "text/html", "", 5000, false},
		{200, "", "", 5000, false},
		{200, strings.Repeat("a", 100), "", 5000, false},
	}
	for _, tc := range tests {
		if got := Compressible(tc.status, []byte(tc.ct), []byte(tc.ce), tc.n); got != tc.want {
			t.Errorf("Compressible(%d, %q, %q, %d) = %v", tc.status, tc.ct, tc.ce, tc.n, got)
		}
	}
}

func TestCompressVariants(t *testing.T) {
	body := []byte(strings.Repeat("switchyard edge cache ", 200))
	for _, tc := range []struct {
		etag, wantETag string
		vary, wantVary string
	}{
		{`"v1"`, `W/"v1"`, "", "Accept-Encoding"},
		{`W/"v1"`, `W/"v1"`, "Origin", "Origin, Accept-Encoding"},
		{`v1`, "", "accept-encoding", "accept-encoding"},
	} {
		hdr := []Field{{"Content-Type", "text/plain"}, {"Content-Length", "4400"}, {"ETag", tc.etag}}
		if tc.vary != "" {
			hdr = append(hdr, Field{"Vary", tc.vary})
		}
		e := NewEntry(EntryInput{Status: 200, Header: hdr, Body: body})
		for _, enc := range []Encoding{Gzip, Brotli} {
			c, err := Compress(e, enc)
			if err != nil {
				t.Fatal(err)
			}
			h := Fields(c.Header)
			if ce, _ := h.Get("Content-Encoding"); ce != enc.Token() || c.Encoding != enc {
				t.Errorf("%v: Content-Encoding %q", enc, ce)
			}
			if cl, _ := h.Get("Content-Length"); cl != strconv.Itoa(len(c.Body)) {
				t.Errorf("%v: Content-Length %q for %d bytes", enc, cl, len(c.Body))
			}
			if et, ok := h.Get("ETag"); et != tc.wantETag || ok != (tc.wantETag != "") {
				t.Errorf("%v: ETag %q, want %q", enc, et, tc.wantETag)
			}
			if v, _ := h.Get("Vary"); v != tc.wantVary {
				t.Errorf("%v: Vary %q, want %q", enc, v, tc.wantVary)
			}
			if inm, _ := c.Validators(); inm != tc.etag {
				t.Errorf("%v: origin validator %q lost", enc, inm)
			}
			if got := decode(t, enc, c.Body); !bytes.Equal(got, body) {
				t.Errorf("%v: round trip differs", enc)
			}
			if len(c.Body) >= len(body)/4 {
				t.Errorf("%v: %d → %d bytes", enc, len(body), len(c.Body))
			}
			if _, err := Compress(c, Gzip); err == nil {
				t.Error("compressing a compressed entry")
			}
		}
		if string(e.Body) != string(body) || len(e.Header) != len(hdr) {
			t.Error("Compress changed the identity entry")
		}
	}
}

func decode(t *testing.T, enc Encoding, b []byte) []byte {
	t.Helper()
	var r io.Reader
	switch enc {
	case Gzip:
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	case Brotli:
		r = brotli.NewReader(bytes.NewReader(b))
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestNegotiateAllocatesNothing(t *testing.T) {
	ae := []byte("gzip;q=0.8, deflate, br;q=0.9")
	if a := testing.AllocsPerRun(100, func() { Negotiate(ae, true, true) }); a != 0 {
		t.Errorf("allocs = %v", a)
	}
	ct := []byte("text/html; charset=utf-8")
	if a := testing.AllocsPerRun(100, func() { CompressibleType(ct) }); a != 0 {
		t.Errorf("CompressibleType allocs = %v", a)
	}
}

func FuzzNegotiate(f *testing.F) {
	for _, s := range []string{"gzip, br", "br;q=0", "gzip;q=0.5, br;q=0.4", ";;,,q=", "GZIP;Q=1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ae string) {
		if Negotiate([]byte(ae), false, false) != Identity {
			t.Fatal("coding chosen with compression off")
		}
		if got := Negotiate([]byte(ae), true, false); got == Brotli {
			t.Fatal("brotli chosen while disabled")
		}
		if got := Negotiate([]byte(ae), false, true); got == Gzip {
			t.Fatal("gzip chosen while disabled")
		}
	})
}
