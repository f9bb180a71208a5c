package edge

import (
	"regexp"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/l7"
)

// patternRegexp is the reference meaning of a path pattern.
func patternRegexp(p string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString(`^`)
	for _, c := range p {
		switch c {
		case '*':
			b.WriteString(`(?s:.*)`)
		case '?':
			b.WriteString(`(?s:.)`)
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString(`$`)
	return regexp.MustCompile(b.String())
}

// matchPattern compiles p with the shared matcher and matches s; a
// pattern the compiler refuses matches nothing.
func matchPattern(p string, s []byte) bool {
	c, err := l7.CompilePathPattern(p)
	if err != nil {
		return false
	}
	return c.Match(s)
}

func TestMatchPattern(t *testing.T) {
	for _, tc := range []struct {
		p, s string
		want bool
	}{
		{"/images/*.jpg", "/images/a/b.jpg", true}, {"/images/*.jpg", "/images/a.JPG", false},
		{"*.doc?", "/a.docx", true}, {"*.doc?", "/a.doc", false}, {"*.doc*", "/a.doc", true},
		{"/a", "/a", true}, {"/a", "/ab", false}, {"*", "", true}, {"/**/x", "/x", false}, {"/**/x", "//x", true},
	} {
		if got := matchPattern(tc.p, []byte(tc.s)); got != tc.want {
			t.Errorf("match(%q, %q) = %v, want %v", tc.p, tc.s, got, tc.want)
		}
	}
}

// FuzzMatchPattern checks the shared matcher (l7.CompilePathPattern, what
// the behaviours use) against a regexp built from the pattern, on the
// untrusted side (the path) and the config side. Patterns the compiler
// refuses (empty, control characters) are skipped: config validation
// refuses them first.
func FuzzMatchPattern(f *testing.F) {
	for _, s := range [][2]string{{"/img/*.jpg", "/img/a/b.jpg"}, {"*.doc?", "/x.docx"}, {"/a*b*c", "/aXbYc"}, {"?", "/"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, p, s string) {
		if len(p) > 64 || len(s) > 256 || !isASCII(p) || !isASCII(s) {
			return
		}
		c, err := l7.CompilePathPattern(p)
		if err != nil {
			return
		}
		if got, want := c.Match([]byte(s)), patternRegexp(p).MatchString(s); got != want {
			t.Fatalf("match(%q, %q) = %v, regexp says %v", p, s, got, want)
		}
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// FuzzRequestURI: splitting and quoting raw request targets never panics,
// and a quoted path never carries '?', '#', spaces or control bytes.
func FuzzRequestURI(f *testing.F) {
	for _, s := range []string{"/a?b=1", "http://h/x?y", "/public/..%2fprivate", "//x", "*", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, _ := splitRequestURI([]byte(s))
		_ = disguised(p)
		q := appendQuotedPath(nil, p)
		for _, c := range q {
			if c == '?' || c == '#' || c <= ' ' || c >= 0x7f {
				t.Fatalf("quoted path %q has %q", q, c)
			}
		}
	})
}
