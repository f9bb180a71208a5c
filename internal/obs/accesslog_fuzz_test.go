package obs

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// FuzzAccessLogLine feeds client-controlled strings into every field a
// client can influence: the ALB line must keep exactly 30 fields and one
// line, and the JSON line must parse and give the values back.
func FuzzAccessLogLine(f *testing.F) {
	f.Add("GET", "example.com", "/a b?c=\"d\"", "curl/8", "Root=1-x")
	f.Add("G\x00T", "h\nost", "/\xff\xfe", "ua\r\n\"x\" y", "\\")
	f.Add("", "", "", "", "")
	f.Add("PUT", "[::1]:8080", "/é/ü", "Mozilla/5.0 (X11; Linux x86_64)", "Root=1-5f84c7a4-1234567890abcdef12345678")
	f.Fuzz(func(t *testing.T, method, host, uri, ua, trace string) {
		r := &Record{
			Type: "http", Time: time.Unix(1700000000, 0), ELB: "app/lb/web", Listener: "web",
			Client: "127.0.0.1:1", Target: "127.0.0.1:2", ELBStatus: 200, TargetStatus: 200,
			Method: method, Scheme: "http", Host: host, URI: uri, Proto: "HTTP/1.1",
			UserAgent: ua, TraceID: trace, RedirectURL: uri, ErrorReason: ua,
			RequestCreation: time.Unix(1700000000, 0),
		}
		line := string(AppendALB(nil, r))
		if strings.ContainsAny(line, "\n\r") {
			t.Fatalf("ALB line has a line break: %q", line)
		}
		if n := countFields(line); n != 30 {
			t.Fatalf("ALB line has %d fields, want 30: %q", n, line)
		}
		js := AppendJSON(nil, r)
		var m map[string]any
		if err := json.Unmarshal(js, &m); err != nil {
			t.Fatalf("JSON line does not parse: %v: %q", err, js)
		}
		if strings.ContainsAny(string(js), "\n\r") {
			t.Fatalf("JSON line has a line break: %q", js)
		}
		if ua != "" && strings.ToValidUTF8(ua, "\ufffd") == ua && m["user_agent"] != ua {
			t.Fatalf("user_agent %q came back as %q", ua, m["user_agent"])
		}
	})
}
