package tls

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/config"
)

// TestConfigAgrees checks that config validation and this package accept
// the same ssl_policy and alpn_policy names, and that FromConfig and
// FromACMEConfig carry every field.
func TestConfigAgrees(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	cp, kp := writePair(t, dir, "c", ca.src(t, "", "p256", "lb.test").Certificate)
	parse := func(policy, alpn string) error {
		y := fmt.Sprintf(`
listeners:
  - name: secure
    protocol: HTTPS
    address: 127.0.0.1:0
    ssl_policy: %s
    certificates: [{cert: %s, key: %s}]
    default_action: {fixed_response: {status: 200}}
  - name: stream
    protocol: TLS
    address: 127.0.0.1:0
    alpn_policy: %s
    certificates: [{cert: %s, key: %s}]
    default_action: {forward: {target_group: db}}
target_groups:
  - {name: db, protocol: TCP, targets: ["127.0.0.1:5432"]}
`, policy, cp, kp, alpn, cp, kp)
		_, err := config.ParseLB(filepath.Join(dir, "lb.yaml"), []byte(y))
		return err
	}
	if err := parse(DefaultPolicy, "None"); err != nil {
		t.Fatalf("baseline config does not parse: %v", err)
	}
	for _, p := range PolicyNames() {
		if err := parse(p, "None"); err != nil && strings.Contains(err.Error(), "ssl_policy") {
			t.Errorf("config rejects policy %s that tls accepts: %v", p, err)
		}
	}
	for _, a := range ALPNPolicyNames() {
		if err := parse(DefaultPolicy, a); err != nil && strings.Contains(err.Error(), "alpn_policy") {
			t.Errorf("config rejects alpn_policy %s that tls accepts: %v", a, err)
		}
	}
	if err := parse("ELBSecurityPolicy-Nope", "None"); err == nil || !strings.Contains(err.Error(), "ssl_policy") {
		t.Errorf("config accepted an unknown policy: %v", err)
	}

	srcs := FromConfig([]config.Certificate{{Cert: cp, Key: kp}})
	if len(srcs) != 1 || srcs[0].ID != cp || srcs[0].CertFile != cp || srcs[0].KeyFile != kp {
		t.Fatalf("FromConfig %+v", srcs)
	}
	o := FromACMEConfig("secure", &config.ACME{Directory: "https://127.0.0.1:14000/dir", Email: "a@b.test",
		Domains: []string{"a.test"}, CacheDir: dir, CARoots: cp})
	if o.Listener != "secure" || o.Directory == "" || o.Email != "a@b.test" || o.Domains[0] != "a.test" || o.CacheDir != dir || o.CARoots != cp {
		t.Fatalf("FromACMEConfig %+v", o)
	}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
}
