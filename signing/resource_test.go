package signing

import "testing"

func TestMatchResource(t *testing.T) {
	for _, tc := range []struct {
		pattern, resource string
		want              bool
	}{
		{"*", "https://anything/at/all?x=1", true},
		{"https://h.test/a", "https://h.test/a", true},
		{"https://h.test/a", "https://h.test/a?x=1", false},
		{"https://h.test/a", "https://h.test/ab", false},
		{"https://h.test/a", "http://h.test/a", false},
		// SDK-style unescaped '?': exact equality only.
		{"https://h.test/a?b=1", "https://h.test/a?b=1", true},
		{"https://h.test/a?b=1", "https://h.test/a?b=2", false},
		{"https://h.test/a?b=1", "https://h.test/aXb=1", true}, // '?' wildcard within the path section
		// trailing '*' in the path implies any query
		{"https://h.test/videos/*", "https://h.test/videos/a/b.mp4", true},
		{"https://h.test/videos/*", "https://h.test/videos/a.mp4?x=1&y", true},
		{"https://h.test/videos/*", "https://h.test/videos", false},
		{"https://h.test/videos/*", "https://h.test/other/videos/a", false},
		// '*' stays inside its section: the domain wildcard cannot eat a path
		{"https://*.h.test/a", "https://x.h.test/a", true},
		{"https://*.h.test/a", "https://x.y.h.test/a", true},
		{"https://*h.test/a", "https://evil.test/x/h.test/a", false},
		{"https://h.test*/a", "https://h.test.evil.example/a", true},
		{"https://h.test/a*", "https://h.test/a/../../etc", true},
		{"https://h.test/*.jpg", "https://h.test/x.jpg?y=.jpg", false},
		{"https://h.test/*.jpg", "https://h.test/x/y.jpg", true},
		// explicit query section with \?
		{`https://h.test/a\?x=*`, "https://h.test/a?x=1", true},
		{`https://h.test/a\?x=*`, "https://h.test/a?y=1", false},
		{`https://h.test/a\?x=*`, "https://h.test/a", false},
		{`https://h.test/a\?x=?`, "https://h.test/a?x=12", false},
		{`https://h.test/a\?*`, "https://h.test/a", true},
		// protocol section
		{"*://h.test/a", "http://h.test/a", true},
		{"*://h.test/a", "https://h.test/a", true},
		{"http*://h.test/a", "https://h.test/a", true},
		{"ftp://h.test/a", "ftp://h.test/a", true}, // exact fallback only
		{"ftp://h.test/*", "ftp://h.test/a", false},
		// trailing '*' in the domain implies */*\?*
		{"https://h.test*", "https://h.test/any?q", true},
		{"https://h.test*", "https://h.test:8443/any", true},
		// a pattern starting with '*' has protocol '*'
		{"*h.test/a", "https://www.h.test/a", true},
		{"*h.test/a", "https://www.h.test/b", false},
		{"*h.test", "https://h.test/", true},
		{"*h.test", "https://h.test/x", false},
		// case-sensitive, except the host name
		{"https://h.test/A", "https://h.test/a", false},
		{"https://H.Test/*", "https://h.test/a", true},
		{"HTTPS://h.test/*", "https://h.test/a", false},
		// malformed patterns match only exactly
		{"h.test/*", "https://h.test/a", false},
		{"https:///a", "https:///a", true},
		{"https:///*", "https:///a", false},
	} {
		if got := MatchResource(tc.pattern, tc.resource); got != tc.want {
			t.Errorf("MatchResource(%q, %q) = %v, want %v", tc.pattern, tc.resource, got, tc.want)
		}
	}
}

func TestGlob(t *testing.T) {
	for _, tc := range []struct {
		p, s string
		want bool
	}{
		{"", "", true}, {"*", "", true}, {"?", "", false}, {"a*b*c", "aXXbYYc", true},
		{"a*b*c", "aXXbYY", false}, {"*a", "*ba", true}, {"**", "x", true}, {"a?c", "abc", true},
		{"*x*x*x*x*y", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", false},
	} {
		if got := glob(tc.p, tc.s); got != tc.want {
			t.Errorf("glob(%q, %q) = %v", tc.p, tc.s, got)
		}
	}
}
