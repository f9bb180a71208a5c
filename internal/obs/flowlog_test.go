package obs

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func sampleFlow() *FlowRecord {
	start := time.Date(2026, 11, 26, 9, 0, 0, 123456000, time.UTC)
	return &FlowRecord{
		Type: "tls", Time: start.Add(1500 * time.Millisecond), ELB: "net/lb/db", Listener: "db",
		Client:      netip.MustParseAddrPort("127.0.0.1:40000"),
		Destination: netip.MustParseAddrPort("127.0.0.1:8443"),
		Target:      "127.0.0.2:5432", ConnectTime: 2 * time.Millisecond, TLSHandshake: 3 * time.Millisecond,
		ReceivedBytes: 11, SentBytes: 22, Duration: 1500 * time.Millisecond,
		TargetGroup: "targetgroup/pg", DomainName: "db.example.com", CloseReason: "client_close",
		Created: start,
	}
}

func TestFlowALBLine(t *testing.T) {
	got := string(AppendFlowALB(nil, sampleFlow()))
	want := `tls 2026-11-26T09:00:01.623456Z net/lb/db 127.0.0.1:40000 127.0.0.1:8443 127.0.0.2:5432 0.002 0.003 11 22 1.500 targetgroup/pg "db.example.com" "client_close" "-" 2026-11-26T09:00:00.123456Z`
	if got != want {
		t.Errorf("flow line\n got: %s\nwant: %s", got, want)
	}
	// A TCP flow that never reached a target, with a hostile error text:
	// absent fields are "-" / -1 and the error cannot add fields.
	r := &FlowRecord{Type: "tcp", ELB: "net/lb/raw", Client: netip.MustParseAddrPort("[::1]:9"),
		ConnectTime: -1, TLSHandshake: -1, CloseReason: "no_target", Error: "x\" \"y\nz", Duration: time.Millisecond}
	got = string(AppendFlowALB(nil, r))
	want = `tcp - net/lb/raw [::1]:9 - - -1 -1 0 0 0.001 - "-" "no_target" "x\" \"y\x0az" -`
	if got != want {
		t.Errorf("failed-flow line\n got: %s\nwant: %s", got, want)
	}
	if n := len(strings.Fields(strings.ReplaceAll(got, `\" \"`, ""))); n != 16 {
		t.Errorf("failed-flow line has %d fields, want 16: %s", n, got)
	}
}

func TestFlowJSONLine(t *testing.T) {
	r := sampleFlow()
	r.Error = "bad \xff\n"
	var m map[string]any
	line := AppendFlowJSON(nil, r)
	if err := json.Unmarshal(line, &m); err != nil {
		t.Fatalf("JSON flow line does not parse: %v: %s", err, line)
	}
	for k, want := range map[string]any{
		"type": "tls", "listener": "db", "client": "127.0.0.1:40000", "destination": "127.0.0.1:8443",
		"target": "127.0.0.2:5432", "connect_time": 0.002, "tls_handshake_time": 0.003,
		"received_bytes": 11.0, "sent_bytes": 22.0, "duration": 1.5, "target_group_arn": "targetgroup/pg",
		"domain_name": "db.example.com", "close_reason": "client_close", "error": "bad \ufffd\n",
		"connection_creation_time": "2026-11-26T09:00:00.123456Z", "time": "2026-11-26T09:00:01.623456Z",
	} {
		if m[k] != want {
			t.Errorf("%s = %#v, want %#v", k, m[k], want)
		}
	}
	r = &FlowRecord{Type: "tcp", ConnectTime: -1, TLSHandshake: -1}
	if err := json.Unmarshal(AppendFlowJSON(nil, r), &m); err != nil || m["target"] != nil || m["client"] != nil || m["connect_time"] != -1.0 {
		t.Errorf("empty flow: %v %v", err, m)
	}
}

func TestLogFlowWritesLines(t *testing.T) {
	var buf bytes.Buffer
	al := NewAccessLog(&buf, FormatALB, 1<<20, nil)
	al.LogFlow(sampleFlow())
	al.LogFlow(sampleFlow())
	al.Close()
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "tls ") {
		t.Errorf("two flow lines expected, got %q", buf.String())
	}
	var nilLog *AccessLog
	nilLog.LogFlow(sampleFlow()) // a disabled log ignores flows
}

func TestLogFlowAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under -race")
	}
	r := sampleFlow()
	for _, f := range []Format{FormatALB, FormatJSON} {
		al := NewAccessLog(discard{}, f, 8<<20, nil)
		if n := testing.AllocsPerRun(200, func() { al.LogFlow(r) }); n != 0 {
			t.Errorf("format %d: LogFlow allocates %v times per flow", f, n)
		}
		al.Close()
	}
}
