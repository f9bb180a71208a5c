package cache

import (
	"testing"
)

func TestRange(t *testing.T) {
	e := &Entry{Status: 200, Body: []byte("0123456789"), Header: []Field{{"ETag", `"s"`}, {"Last-Modified", "Sun, 06 Nov 1994 08:49:37 GMT"}}}
	tests := []struct {
		rng, ifRange string
		want         RangeResult
		cr           string
	}{
		{"", "", RangeResult{Status: 200}, ""},
		{"bytes=0-3", "", RangeResult{206, 0, 3}, "bytes 0-3/10"},
		{"bytes=5-", "", RangeResult{206, 5, 9}, "bytes 5-9/10"},
		{"bytes=-3", "", RangeResult{206, 7, 9}, "bytes 7-9/10"},
		{"bytes=-30", "", RangeResult{206, 0, 9}, "bytes 0-9/10"},
		{"bytes=8-100", "", RangeResult{206, 8, 9}, "bytes 8-9/10"},
		{"Bytes=1-1", "", RangeResult{206, 1, 1}, "bytes 1-1/10"},
		{"bytes=10-", "", RangeResult{Status: 416}, "bytes */10"},
		{"bytes=-0", "", RangeResult{Status: 416}, "bytes */10"},
		{"bytes=0-1,4-5", "", RangeResult{Status: 200}, ""},
		{"bytes=5-1,0-0", "", RangeResult{Status: 200}, ""},
		{"bytes=0-0,0-0,0-0", "", RangeResult{Status: 200}, ""},
		{"bytes=4-2", "", RangeResult{Status: 200}, ""},
		{"bytes=x-2", "", RangeResult{Status: 200}, ""},
		{"bytes=1", "", RangeResult{Status: 200}, ""},
		{"items=0-1", "", RangeResult{Status: 200}, ""},
		{"bytes=99999999999999999999-", "", RangeResult{Status: 200}, ""},
		{"bytes=0-1", `"s"`, RangeResult{206, 0, 1}, "bytes 0-1/10"},
		{"bytes=0-1", `"other"`, RangeResult{Status: 200}, ""},
		{"bytes=0-1", `W/"s"`, RangeResult{Status: 200}, ""},
		{"bytes=0-1", "Sun, 06 Nov 1994 08:49:37 GMT", RangeResult{206, 0, 1}, "bytes 0-1/10"},
		{"bytes=0-1", "Mon, 07 Nov 1994 08:49:37 GMT", RangeResult{Status: 200}, ""},
	}
	for _, tc := range tests {
		got := e.Range([]byte(tc.rng), []byte(tc.ifRange))
		if got != tc.want {
			t.Errorf("Range(%q, %q) = %+v, want %+v", tc.rng, tc.ifRange, got, tc.want)
			continue
		}
		if tc.cr != "" {
			if cr := string(AppendContentRange(nil, got, int64(len(e.Body)))); cr != tc.cr {
				t.Errorf("Content-Range = %q, want %q", cr, tc.cr)
			}
		}
	}
	if got := (&Entry{Status: 404, Body: []byte("nope")}).Range([]byte("bytes=0-1"), nil); got.Status != 200 {
		t.Error("ranges apply to 200 entries only")
	}
	if got := (&Entry{Status: 200, Body: []byte{}}).Range([]byte("bytes=0-"), nil); got.Status != 416 {
		t.Error("any range of an empty body is unsatisfiable")
	}
	allocs := testing.AllocsPerRun(100, func() { e.Range([]byte("bytes=2-5"), nil) })
	if allocs != 0 {
		t.Errorf("Range allocs = %v", allocs)
	}
}

func TestNotModified(t *testing.T) {
	lm := "Sun, 06 Nov 1994 08:49:37 GMT"
	e := &Entry{Status: 200, Header: []Field{{"ETag", `"abc"`}, {"Last-Modified", lm}}}
	weak := &Entry{Status: 200, Header: []Field{{"ETag", `W/"abc"`}}}
	tests := []struct {
		e        *Entry
		inm, ims string
		want     bool
	}{
		{e, `"abc"`, "", true},
		{e, `"x", "abc"`, "", true},
		{e, `W/"abc"`, "", true},
		{weak, `"abc"`, "", true},
		{e, "*", "", true},
		{e, `"x"`, "", false},
		{e, `"x"`, lm, false}, // If-None-Match decides alone
		{e, "", lm, true},
		{e, "", "Mon, 07 Nov 1994 08:49:37 GMT", true},
		{e, "", "Sat, 05 Nov 1994 08:49:37 GMT", false},
		{e, "", "garbage", false},
		{weak, "", lm, false}, // no Last-Modified
		{e, "", "", false},
		{&Entry{Status: 404, Header: e.Header}, `"abc"`, "", false},
	}
	for i, tc := range tests {
		if got := tc.e.NotModified([]byte(tc.inm), []byte(tc.ims)); got != tc.want {
			t.Errorf("%d: NotModified(%q, %q) = %v", i, tc.inm, tc.ims, got)
		}
	}
}

func FuzzRange(f *testing.F) {
	for _, s := range []string{"bytes=0-1", "bytes=-5", "bytes=5-", "bytes=1-0", "bytes=0-1,2-3", "bytes= 3 - 4 ", "bytes=-"} {
		f.Add(s, "", 10)
	}
	f.Fuzz(func(t *testing.T, rng, ifRange string, size int) {
		size = min(max(size, 0), 1<<12)
		e := &Entry{Status: 200, Body: make([]byte, size), Header: []Field{{"ETag", `"e"`}}}
		r := e.Range([]byte(rng), []byte(ifRange))
		switch r.Status {
		case 200, 416:
		case 206:
			if r.Start < 0 || r.End < r.Start || r.End >= int64(size) {
				t.Fatalf("Range(%q) over %d bytes = %+v", rng, size, r)
			}
		default:
			t.Fatalf("status %d", r.Status)
		}
	})
}
