package main

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// bigConfig has n rules on one listener and n targets in one group: the
// reload size of SPEC §6 ("1 000 rules and 1 000 targets compile in under
// 100 ms").
func bigConfig(n int, body string) string {
	var sb strings.Builder
	sb.WriteString(`admin: {address: ""}
access_log: {path: ""}
listeners:
  - name: web
    protocol: HTTP
    address: "127.0.0.1:0"
    rules:
`)
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&sb, `      - priority: %d
        conditions: {host: ["h%d.example.com", "*.w%d.example.org"], path: ["/api/%d/*"], header: {X-Env: ["canary-%d"]}}
        action:
          fixed_response: {status: 200, content_type: text/plain, body: %q}
`, i, i, i, i, i, body)
	}
	sb.WriteString(`    default_action: {forward: {target_group: web}}
target_groups:
  - name: web
    protocol: HTTP
    health_check: {enabled: false}
    targets:
`)
	for i := range n {
		fmt.Fprintf(&sb, "      - \"127.0.%d.%d:%d\"\n", i/250, i%250+1, 10000+i)
	}
	return sb.String()
}

// BenchmarkReload1000 measures a whole reload of 1 000 rules and 1 000
// targets: parse, check, compile, sync the targets and swap the routers.
//
//	go test -run '^$' -bench Reload1000 -benchtime 20x ./cmd/lb
func BenchmarkReload1000(b *testing.B) {
	a := newApp(slog.New(slog.DiscardHandler), io.Discard, io.Discard, "bench", nil)
	cfgs := [2][]byte{[]byte(bigConfig(1000, "a")), []byte(bigConfig(1000, "b"))}
	first, err := parseLB("big.yaml", cfgs[0])
	if err != nil {
		b.Fatal(err)
	}
	if err := a.start(first); err != nil {
		b.Fatal(err)
	}
	defer a.drain(time.Second)
	b.ResetTimer()
	for i := range b.N {
		cfg, err := parseLB("big.yaml", cfgs[(i+1)%2])
		if err != nil {
			b.Fatal(err)
		}
		a.mu.Lock()
		err = a.applyLocked(cfg)
		a.mu.Unlock()
		if err != nil {
			b.Fatal(err)
		}
	}
}

// TestReload1000Compiles checks the big config compiles and swaps; the
// time is reported, not asserted (CI times nothing).
func TestReload1000Compiles(t *testing.T) {
	a := newApp(slog.New(slog.DiscardHandler), io.Discard, io.Discard, "test", nil)
	cfg, err := parseLB("big.yaml", []byte(bigConfig(1000, "a")))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.start(cfg); err != nil {
		t.Fatal(err)
	}
	defer a.drain(time.Second)
	cfg2, err := parseLB("big.yaml", []byte(bigConfig(1000, "b")))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	a.mu.Lock()
	err = a.applyLocked(cfg2)
	a.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("reload of 1000 rules and 1000 targets applied in %v (parse excluded)", time.Since(start))
	if got := len(a.reg.Lookup("web").Targets()); got != 1000 {
		t.Errorf("%d targets registered, want 1000", got)
	}
}
