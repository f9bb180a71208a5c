package l7

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// FuzzClassify: whatever fasthttp lets through, classification never
// panics, and the view's header walk agrees with it.
func FuzzClassify(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nTransfer_Encoding: chunked\r\nX: caf\xe9\r\n\r\n",
		"GET /a%00b HTTP/1.0\r\nHost: x\r\n\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var h fasthttpHeader
		if h.parse(s) != nil {
			return
		}
		classify(&h.RequestHeader, h.RawHeaders(), h.RequestURI())
		v := &RequestView{RawHeaders: h.RawHeaders()}
		countXFF(v)
		appendXFF(nil, v, true)
		cookieValue(v, CookieTargetGroup)
	})
}

// FuzzPattern checks the wildcard matcher against a regexp built from the
// same pattern.
func FuzzPattern(f *testing.F) {
	f.Add("*.example.com", "a.example.com")
	f.Add("/a*b?c", "/axxbyc")
	f.Add("**?*", "")
	f.Fuzz(func(t *testing.T, pat, s string) {
		p, _, err := compilePattern(pat, false, false)
		if err != nil {
			return
		}
		var re strings.Builder
		re.WriteString(`(?s)\A`)
		for _, c := range []byte(pat) {
			switch c {
			case '*':
				re.WriteString(`.*`)
			case '?':
				re.WriteString(`.`)
			default:
				re.WriteString(regexp.QuoteMeta(string(rune(c))))
			}
		}
		re.WriteString(`\z`)
		// Compare bytewise: map every byte to a rune so '.' means one byte.
		toRunes := func(b string) string {
			var sb strings.Builder
			for i := 0; i < len(b); i++ {
				sb.WriteRune(rune(b[i]))
			}
			return sb.String()
		}
		r, err := regexp.Compile(re.String())
		if err != nil {
			return
		}
		if got, want := p.match([]byte(s)), r.MatchString(toRunes(s)); got != want {
			t.Fatalf("pattern %q on %q: %v, regexp says %v", pat, s, got, want)
		}
	})
}

// FuzzOpenCookie: no forged cookie opens, nothing panics.
func FuzzOpenCookie(f *testing.F) {
	now := time.Now()
	f.Add(sealCookie("scope", "web", now.Add(time.Hour)))
	f.Add("AAAA")
	f.Fuzz(func(t *testing.T, c string) {
		if v := openCookie("other-scope", []byte(c), now); v != "" {
			t.Fatalf("cookie %q opened for a scope it was not sealed for: %q", c, v)
		}
	})
}
