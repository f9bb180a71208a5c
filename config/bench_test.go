package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// bigLB is a config of n rules and n targets, the reload size SPEC §6 names.
func bigLB(n int) []byte {
	var b strings.Builder
	b.WriteString("listeners:\n  - name: web\n    address: 127.0.0.1:0\n    rules:\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "      - {priority: %d, conditions: {host: [\"h%d.example.com\"], path: [\"/p%d/*\"]}, action: {forward: {target_group: web}}}\n", i, i, i)
	}
	b.WriteString("    default_action: {forward: {target_group: web}}\ntarget_groups:\n  - name: web\n    targets:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "      - 127.0.%d.%d:%d\n", i/250, i%250+1, 8000+i%1000)
	}
	return []byte(b.String())
}

func TestParseLarge(t *testing.T) {
	c, err := ParseLB("big.yaml", bigLB(1000))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Listeners[0].Rules) != 1000 || len(c.TargetGroups[0].Targets) != 1000 {
		t.Fatalf("got %d rules, %d targets", len(c.Listeners[0].Rules), len(c.TargetGroups[0].Targets))
	}
}

func BenchmarkParseLB1000(b *testing.B) {
	data := bigLB(1000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseLB("big.yaml", data); err != nil {
			b.Fatal(err)
		}
	}
}

// TestHostileSizes: huge or alias-bombed files finish quickly with a
// bounded error list.
func TestHostileSizes(t *testing.T) {
	var b strings.Builder
	b.WriteString("listeners: [{name: web, address: \"127.0.0.1:0\", default_action: {forward: {target_group: web}}}]\ntarget_groups:\n  - name: web\n    targets:\n")
	for i := 0; i < 50000; i++ {
		b.WriteString("      - [x]\n      - 127.0.0.1:1\n")
	}
	start := time.Now()
	_, err := ParseLB("big.yaml", []byte(b.String()))
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("want Errors, got %v", err)
	}
	if len(es) != maxErrors+1 || !strings.Contains(es[len(es)-1].Msg, "too many errors") {
		t.Errorf("got %d errors, last %q; want %d and a too-many line", len(es), es[len(es)-1].Msg, maxErrors+1)
	}
	// An alias bomb: 20 lines that expand to millions of values.
	q := "x-q: &q [" + strings.Repeat("{key: a, value: b},", 9) + "{key: a, value: b}]\n"
	r := "x-r: &r {priority: 1, conditions: {query: *q}, action: {fixed_response: {status: 200}}}\n"
	rs := "x-rs: &rs [" + strings.Repeat("*r, ", 99) + "*r]\n"
	l := "x-l: &l {name: web, address: \"127.0.0.1:0\", rules: *rs, default_action: {fixed_response: {status: 200}}}\n"
	bomb := q + r + rs + l + "listeners: [" + strings.Repeat("*l, ", 999) + "*l]\n"
	_, err = ParseLB("bomb.yaml", []byte(bomb))
	if err == nil || !strings.Contains(err.Error(), "config too large") {
		t.Errorf("alias bomb: want a too-large error, got %.300v", err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("hostile inputs took %v", d)
	}
}
