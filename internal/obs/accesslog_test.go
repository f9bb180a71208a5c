package obs

import (
	"bytes"
	"encoding/json"
	"flag"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -update to create): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s mismatch\n got: %s\nwant: %s", name, got, want)
	}
}

func sampleRecords() []*Record {
	arrive := time.Date(2018, 7, 2, 22, 22, 48, 364000000, time.UTC)
	forwarded := &Record{
		Type: "http", Time: time.Date(2018, 7, 2, 22, 23, 0, 186641000, time.UTC),
		ELB: "app/lb/web", Listener: "web", Client: "192.168.131.39:2817", Target: "10.0.0.1:80",
		RequestProcessing: 0, TargetProcessing: time.Millisecond, ResponseProcessing: 0,
		ELBStatus: 200, TargetStatus: 200, ReceivedBytes: 34, SentBytes: 366,
		Method: "GET", Scheme: "http", Host: "www.example.com", URI: "/", Proto: "HTTP/1.1",
		UserAgent: "curl/7.46.0", TargetGroup: "targetgroup/my-targets",
		TraceID: "Root=1-58337262-36d228ad5d99923122bbe354", MatchedRulePriority: 0,
		RequestCreation: arrive, Actions: "forward",
	}
	// A hostile client: quotes, backslashes, spaces, controls and non-ASCII
	// in every field it controls must not forge or split fields.
	hostile := &Record{
		Type: "http", Time: arrive.Add(time.Second), ELB: "app/lb/web", Listener: "web",
		Client: "127.0.0.1:5000", RequestProcessing: -1, TargetProcessing: -1, ResponseProcessing: -1,
		ELBStatus: 400, Method: "GET", Scheme: "http", Host: "evil\" host:8080", URI: "/a\"b\\c\x01é",
		Proto: "HTTP/1.1", UserAgent: "x\" 200 \"y\nz", MatchedRulePriority: RuleNone,
		RequestCreation: arrive, ErrorReason: "bad request",
	}
	redirect := &Record{
		Type: "https", Time: arrive.Add(2 * time.Second), ELB: "app/lb/secure", Listener: "secure",
		ClientAddr: netip.MustParseAddrPort("[::1]:4431"), Port: "8443", RequestProcessing: 0, TargetProcessing: -1, ResponseProcessing: -1,
		ELBStatus: 301, ReceivedBytes: 120, SentBytes: 200, Method: "GET", Scheme: "https",
		Host: "[::1]", URI: "/old/x?q=1", Proto: "HTTP/1.1", SSLCipher: "TLS_AES_128_GCM_SHA256",
		SSLProtocol: "TLSv1.3", DomainName: "app.example.com", ChosenCert: "cert/a.pem",
		MatchedRulePriority: 20, RequestCreation: arrive, Actions: "redirect",
		RedirectURL: "https://[::1]:443/old/x?q=1",
	}
	return []*Record{forwarded, hostile, redirect}
}

func TestAccessLogALBGolden(t *testing.T) {
	var out []byte
	for _, r := range sampleRecords() {
		out = AppendALB(out, r)
		out = append(out, '\n')
	}
	golden(t, "access_alb.golden", out)

	// The first line is the ALB documentation example, field for field
	// (our elb and target group ids differ in form).
	first := strings.SplitN(string(out), "\n", 2)[0]
	want := `http 2018-07-02T22:23:00.186641Z app/lb/web 192.168.131.39:2817 10.0.0.1:80 0.000 0.001 0.000 200 200 34 366 "GET http://www.example.com:80/ HTTP/1.1" "curl/7.46.0" - - targetgroup/my-targets "Root=1-58337262-36d228ad5d99923122bbe354" "-" "-" 0 2018-07-02T22:22:48.364000Z "forward" "-" "-" "10.0.0.1:80" "200" "-" "-" -`
	if first != want {
		t.Errorf("ALB line\n got: %s\nwant: %s", first, want)
	}
	// Every line has the same number of fields once quoted fields are
	// taken as one: a hostile value cannot add or split one.
	for i, line := range strings.Split(strings.TrimSuffix(string(out), "\n"), "\n") {
		if n := countFields(line); n != 30 {
			t.Errorf("line %d has %d fields, want 30: %s", i, n, line)
		}
	}
}

// countFields splits like a log reader would: spaces outside quotes,
// backslash escapes inside them.
func countFields(line string) int {
	n, inQ, field := 0, false, false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case inQ && c == '\\':
			i++
		case c == '"':
			inQ = !inQ
			field = true
		case c == ' ' && !inQ:
			if field {
				n++
			}
			field = false
		default:
			field = true
		}
	}
	if field {
		n++
	}
	return n
}

func TestAccessLogJSONGolden(t *testing.T) {
	var out []byte
	for _, r := range sampleRecords() {
		out = AppendJSON(out, r)
		out = append(out, '\n')
	}
	golden(t, "access_json.golden", out)
	for i, line := range strings.Split(strings.TrimSuffix(string(out), "\n"), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %d is not JSON: %v\n%s", i, err, line)
		}
		if i == 1 {
			if m["user_agent"] != "x\" 200 \"y\nz" || m["target"] != nil || m["matched_rule_priority"] != nil {
				t.Errorf("hostile record decoded as %v", m)
			}
			if m["target_processing_time"] != -1.0 {
				t.Errorf("target_processing_time = %v, want -1", m["target_processing_time"])
			}
		}
	}
}

func TestOpenAccessLogFileAndFormats(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	al, err := OpenAccessLog(path, "json", nil)
	if err != nil {
		t.Fatal(err)
	}
	r := sampleRecords()[0]
	al.Log(r)
	al.Log(r)
	if err := al.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(string(b), "\n"); lines != 2 {
		t.Fatalf("got %d lines, want 2: %s", lines, b)
	}
	if !strings.HasPrefix(string(b), `{"type":"http"`) {
		t.Errorf("not JSON lines: %s", b)
	}
	if al, err := OpenAccessLog("", "alb", nil); err != nil || al != nil {
		t.Errorf("empty path: got %v, %v; want nil, nil", al, err)
	}
	var off *AccessLog
	off.Log(r) // a disabled log ignores records
	if _, err := OpenAccessLog(path, "clf", nil); err == nil {
		t.Error("unknown format accepted")
	}
	if _, err := OpenAccessLog(filepath.Join(dir, "no", "such", "dir"), "alb", nil); err == nil {
		t.Error("unwritable path accepted")
	}
}

func TestAccessLogAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race (sync.Pool drops items)")
	}
	al := NewAccessLog(discard{}, FormatALB, 8<<20, nil)
	defer al.Close()
	r := sampleRecords()[0]
	if n := testing.AllocsPerRun(200, func() { al.Log(r) }); n != 0 {
		t.Errorf("ALB Log allocates %v times per record", n)
	}
	aj := NewAccessLog(discard{}, FormatJSON, 8<<20, nil)
	defer aj.Close()
	if n := testing.AllocsPerRun(200, func() { aj.Log(r) }); n != 0 {
		t.Errorf("JSON Log allocates %v times per record", n)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func TestHasPort(t *testing.T) {
	for host, want := range map[string]bool{
		"a.example": false, "a.example:80": true, "[::1]": false, "[::1]:8080": true,
		"::1": false, "a:": false, "a:b": false, "1.2.3.4:5": true,
	} {
		if got := hasPort(host); got != want {
			t.Errorf("hasPort(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestAppendStampMatchesFormat(t *testing.T) {
	for _, tm := range []time.Time{
		time.Date(2018, 7, 2, 22, 23, 0, 186641000, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 1000, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(2026, 11, 26, 9, 5, 7, 0, time.FixedZone("x", 5*3600+1800)),
		time.Date(12000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Unix(1700000000, 123456789),
	} {
		if got, want := string(appendStamp(nil, tm)), tm.UTC().Format(timeLayout); got != want {
			t.Errorf("appendStamp(%v) = %s, want %s", tm, got, want)
		}
	}
}

// TestAppendSecondsMatchesFloatFormat: the integer path of appendSeconds
// prints what strconv's float formatting printed before, around every
// rounding edge.
func TestAppendSecondsMatchesFloatFormat(t *testing.T) {
	check := func(d time.Duration) {
		t.Helper()
		got := string(appendSeconds(nil, d))
		want := strconv.AppendFloat(nil, d.Seconds(), 'f', 3, 64)
		if got != string(want) {
			t.Fatalf("appendSeconds(%d) = %s, want %s", int64(d), got, want)
		}
	}
	for _, base := range []time.Duration{0, time.Millisecond, 999 * time.Millisecond, time.Second, 59 * time.Second, time.Hour, 1e6*time.Second - time.Millisecond} {
		for off := -3 * time.Microsecond; off <= 3*time.Microsecond; off++ {
			for _, half := range []time.Duration{0, time.Millisecond / 2, time.Millisecond/2 - 1, time.Millisecond/2 + 1, time.Millisecond - 1} {
				if d := base + half + off; d >= 0 {
					check(d)
				}
			}
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 100000 {
		check(time.Duration(r.Int64N(int64(1e7 * time.Second))))
	}
}

// TestAppendStampAcrossSeconds: the cached date never leaks into a stamp
// of another day (a year's last second, the next, an hour back, 1966).
func TestAppendStampAcrossSeconds(t *testing.T) {
	base := time.Date(2026, 12, 31, 23, 59, 58, 0, time.UTC)
	for _, d := range []time.Duration{0, 999999 * time.Microsecond, time.Second, 0, 2*time.Second + 123456*time.Microsecond, -time.Hour, -60 * 366 * 24 * time.Hour} {
		ts := base.Add(d).In(time.FixedZone("x", 3600))
		if got, want := string(appendStamp(nil, ts)), ts.UTC().Format("2006-01-02T15:04:05.000000Z"); got != want {
			t.Fatalf("appendStamp(%v) = %s, want %s", ts, got, want)
		}
	}
}

// TestEscapeALBEveryByte: every byte value, alone and between clean bytes,
// in quoted and bare fields, is escaped as ALB does: '"' and '\' with a
// backslash, control and non-ASCII bytes (and in bare fields the space) as
// \xHH, the rest as is.
func TestEscapeALBEveryByte(t *testing.T) {
	ref := func(s string, space bool) string {
		var b []byte
		for i := 0; i < len(s); i++ {
			c := s[i]
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < ' ' || c >= 0x7f || (space && c == ' '):
				b = append(b, '\\', 'x', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				b = append(b, c)
			}
		}
		return string(b)
	}
	for c := 0; c < 256; c++ {
		cases := []string{string([]byte{byte(c)}), "ab" + string([]byte{byte(c)}) + "cd" + string([]byte{byte(c)})}
		// Every position of fields long enough for the eight-byte scan.
		for _, n := range []int{8, 9, 16, 17, 24} {
			for pos := range n {
				b := []byte(strings.Repeat("Mozilla/", 3)[:n])
				b[pos] = byte(c)
				cases = append(cases, string(b))
			}
		}
		for _, s := range cases {
			for _, space := range []bool{false, true} {
				if got, want := string(escapeALB(nil, s, space)), ref(s, space); got != want {
					t.Fatalf("escapeALB(%q, space=%v) = %q, want %q", s, space, got, want)
				}
			}
		}
	}
}
