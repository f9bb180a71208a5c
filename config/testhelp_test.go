package config

import (
	"errors"
	"strings"
	"testing"
)

// lbYAML builds a small valid lb config; listener and group hold extra
// lines (flow YAML) for the one listener "web" and the one group "web",
// top holds extra top-level entries (more target groups, say).
func lbYAML(listener, group, top string) string {
	return `listeners:
  - name: web
    address: 127.0.0.1:0
` + indent(listener, "    ") + `    default_action: {forward: {target_group: web}}
target_groups:
  - name: web
    targets: ["127.0.0.1:9001"]
` + indent(group, "    ") + top
}

func indent(s, pre string) string {
	if s == "" {
		return ""
	}
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString(pre + l + "\n")
	}
	return b.String()
}

// checkErr asserts that err holds an error at path whose message contains
// msg (want == "" asserts success). want is "path: message fragment".
func checkErr(t *testing.T, src string, err error, want string) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("want ok, got:\n%v\n--- config:\n%s", err, src)
		}
		return
	}
	if err == nil {
		t.Fatalf("want error %q, got ok\n--- config:\n%s", want, src)
	}
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("want config.Errors, got %T: %v", err, err)
	}
	for _, e := range es {
		if strings.Contains(e.Path+": "+e.Msg, want) {
			if e.Line < 1 || e.Col < 1 {
				t.Errorf("error %q has no position", e.Error())
			}
			return
		}
	}
	t.Fatalf("want error containing %q, got:\n%v\n--- config:\n%s", want, err, src)
}
