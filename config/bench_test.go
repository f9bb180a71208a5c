package config

import (
	"fmt"
	"strings"
	"testing"
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
