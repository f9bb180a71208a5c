package tls

import (
	"context"
	"crypto/tls"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestPolicyTable(t *testing.T) {
	names := PolicyNames()
	if names[0] != DefaultPolicy {
		t.Errorf("first policy %s, want the default", names[0])
	}
	for _, n := range []string{
		"ELBSecurityPolicy-TLS13-1-2-2021-06", "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
		"ELBSecurityPolicy-TLS13-1-3-2021-06", "ELBSecurityPolicy-FS-1-2-Res-2020-10", "ELBSecurityPolicy-2016-08",
	} {
		if !slices.Contains(names, n) {
			t.Errorf("policy %s missing", n)
		}
	}
	known := map[string]bool{"ECDHE-ECDSA-AES256-SHA384": true, "ECDHE-RSA-AES256-SHA384": true, "AES256-SHA256": true}
	for _, n := range names {
		p, ok := Policy(n)
		if !ok || p.Name != n || p.MinVersion == 0 || p.MaxVersion < p.MinVersion {
			t.Errorf("policy %s: %+v %v", n, p, ok)
		}
		if len(p.CipherSuites)+len(p.Unsupported) != len(p.Ciphers) {
			t.Errorf("policy %s: %d suites + %d unsupported != %d listed", n, len(p.CipherSuites), len(p.Unsupported), len(p.Ciphers))
		}
		for _, u := range p.Unsupported {
			if !known[u] {
				t.Errorf("policy %s: %s unexpectedly unsupported", n, u)
			}
		}
	}
	p, _ := Policy("")
	if p.Name != DefaultPolicy || p.MinVersion != tls.VersionTLS12 || p.MaxVersion != tls.VersionTLS13 {
		t.Fatalf("default policy %+v", p)
	}
	if !slices.Equal(p.Unsupported, []string{"ECDHE-ECDSA-AES256-SHA384", "ECDHE-RSA-AES256-SHA384"}) {
		t.Errorf("default policy unsupported %v", p.Unsupported)
	}
	for _, id := range p.CipherSuites {
		n := CipherName(id)
		if !strings.HasPrefix(n, "ECDHE-") || strings.HasSuffix(n, "-SHA") || strings.Contains(n, "CHACHA") {
			t.Errorf("default policy offers %s", n)
		}
	}
	if _, ok := Policy("ELBSecurityPolicy-Nope"); ok {
		t.Error("unknown policy accepted")
	}
}

func policyStore(t *testing.T, policy string) string {
	t.Helper()
	ca := newTestCA(t)
	s, err := NewStore([]CertSource{
		ca.src(t, "rsa", "rsa2048", "lb.test"),
		ca.src(t, "ecdsa", "p256", "lb.test"),
	}, Options{Policy: policy, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	return serveTLS(t, s)
}

// TestPolicyGoClients drives each policy with Go clients restricted to one
// version or suite; the server's logged cipher and protocol must agree.
func TestPolicyGoClients(t *testing.T) {
	type tc struct {
		name       string
		client     *tls.Config
		ok         bool
		wantVers   string
		wantCipher string
		wantCurve  tls.CurveID
	}
	suite := func(max uint16, ids ...uint16) *tls.Config {
		return &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: max, CipherSuites: ids}
	}
	v := func(min, max uint16) *tls.Config { return &tls.Config{MinVersion: min, MaxVersion: max} }
	cases := map[string][]tc{
		DefaultPolicy: {
			{"TLS 1.0 refused", v(tls.VersionTLS10, tls.VersionTLS10), false, "", "", 0},
			{"TLS 1.1 refused", v(tls.VersionTLS11, tls.VersionTLS11), false, "", "", 0},
			{"static RSA refused", suite(tls.VersionTLS12, tls.TLS_RSA_WITH_AES_128_GCM_SHA256), false, "", "", 0},
			{"CBC-SHA1 refused", suite(tls.VersionTLS12, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA), false, "", "", 0},
			{"ChaCha20 on TLS 1.2 refused", suite(tls.VersionTLS12, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256), false, "", "", 0},
			{"ECDHE CBC-SHA256 accepted", suite(tls.VersionTLS12, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256), true, "TLSv1.2", "ECDHE-RSA-AES128-SHA256", 0},
			{"TLS 1.2 GCM accepted", suite(tls.VersionTLS12, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256), true, "TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256", 0},
			{"TLS 1.3 accepted, classic group", v(tls.VersionTLS13, tls.VersionTLS13), true, "TLSv1.3", "", tls.X25519},
		},
		"ELBSecurityPolicy-TLS13-1-2-Res-2021-06": {
			{"CBC-SHA256 refused", suite(tls.VersionTLS12, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256), false, "", "", 0},
			{"GCM accepted", suite(tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384), true, "TLSv1.2", "ECDHE-ECDSA-AES256-GCM-SHA384", 0},
		},
		"ELBSecurityPolicy-TLS13-1-3-2021-06": {
			{"TLS 1.2 refused", v(tls.VersionTLS12, tls.VersionTLS12), false, "", "", 0},
			{"TLS 1.3 accepted", v(tls.VersionTLS12, tls.VersionTLS13), true, "TLSv1.3", "", 0},
		},
		"ELBSecurityPolicy-FS-1-2-Res-2020-10": {
			{"TLS 1.3 client gets 1.2", v(tls.VersionTLS12, tls.VersionTLS13), true, "TLSv1.2", "", 0},
			{"CBC-SHA1 refused", suite(tls.VersionTLS12, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA), false, "", "", 0},
		},
		"ELBSecurityPolicy-2016-08": {
			{"TLS 1.0 accepted", suite(tls.VersionTLS10, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA), true, "TLSv1", "ECDHE-RSA-AES128-SHA", 0},
			{"static RSA accepted", suite(tls.VersionTLS12, tls.TLS_RSA_WITH_AES_128_GCM_SHA256), true, "TLSv1.2", "AES128-GCM-SHA256", 0},
			{"TLS 1.3 refused", v(tls.VersionTLS13, tls.VersionTLS13), false, "", "", 0},
			{"3DES refused", suite(tls.VersionTLS12, tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA), false, "", "", 0},
		},
		"ELBSecurityPolicy-TLS-1-0-2015-04": {
			{"3DES accepted", suite(tls.VersionTLS12, tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA), true, "TLSv1.2", "DES-CBC3-SHA", 0},
		},
		"ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09": {
			{"post-quantum group", v(tls.VersionTLS13, tls.VersionTLS13), true, "TLSv1.3", "", tls.X25519MLKEM768},
		},
	}
	for policy, list := range cases {
		t.Run(policy, func(t *testing.T) {
			addr := policyStore(t, policy)
			for _, c := range list {
				cfg := c.client.Clone()
				cfg.ServerName = "lb.test"
				h, err := handshake(addr, cfg)
				if !c.ok {
					if err == nil {
						h.conn.Close()
						t.Errorf("%s: handshake succeeded (%s %s), want refusal", c.name, h.server[1], h.server[0])
					}
					continue
				}
				if err != nil {
					t.Errorf("%s: %v", c.name, err)
					continue
				}
				h.conn.Close()
				if ProtocolName(h.state.Version) != c.wantVers || h.server[1] != c.wantVers {
					t.Errorf("%s: client %s, server %s, want %s", c.name, ProtocolName(h.state.Version), h.server[1], c.wantVers)
				}
				if c.wantCipher != "" && (CipherName(h.state.CipherSuite) != c.wantCipher || h.server[0] != c.wantCipher) {
					t.Errorf("%s: client %s, server %s, want %s", c.name, CipherName(h.state.CipherSuite), h.server[0], c.wantCipher)
				}
				if c.wantCurve != 0 && h.state.CurveID != c.wantCurve {
					t.Errorf("%s: key exchange %v, want %v", c.name, h.state.CurveID, c.wantCurve)
				}
			}
		})
	}
}

// TestPolicyOpenSSL is hardening.md TLS-01..04 with Debian's openssl.
func TestPolicyOpenSSL(t *testing.T) {
	bin := needTool(t, "openssl")
	run := func(t *testing.T, addr string, args ...string) (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		a := []string{"s_client", "-connect", addr, "-brief"}
		if !slices.Contains(args, "-noservername") {
			a = append(a, "-servername", "lb.test")
		}
		a = append(a, args...)
		cmd := exec.CommandContext(ctx, bin, a...)
		out, err := cmd.CombinedOutput()
		return err == nil && strings.Contains(string(out), "CONNECTION ESTABLISHED"), string(out)
	}
	type tc struct {
		args []string
		ok   bool
		want string // substring of the output
	}
	cases := map[string][]tc{
		DefaultPolicy: {
			{[]string{"-tls1", "-cipher", "DEFAULT:@SECLEVEL=0"}, false, "alert protocol version"},
			{[]string{"-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"}, false, "alert protocol version"},
			{[]string{"-tls1_2"}, true, "Protocol version: TLSv1.2"},
			{[]string{"-tls1_3"}, true, "Protocol version: TLSv1.3"},
			{[]string{"-tls1_2", "-cipher", "AES128-SHA"}, false, "handshake failure"},
			{[]string{"-tls1_2", "-cipher", "ECDHE-RSA-AES128-SHA"}, false, "handshake failure"},
			{[]string{"-tls1_2", "-cipher", "DES-CBC3-SHA:@SECLEVEL=0"}, false, ""},
			{[]string{"-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"}, true, "Ciphersuite: ECDHE-RSA-AES128-GCM-SHA256"},
			{[]string{"-tls1_3", "-ciphersuites", "TLS_AES_128_CCM_8_SHA256"}, false, ""},
			{[]string{"-alpn", "foo"}, true, "Protocol version: TLSv1.3"},
			{[]string{"-noservername"}, true, "Protocol version: TLSv1.3"},
		},
		"ELBSecurityPolicy-2016-08": {
			{[]string{"-tls1", "-cipher", "ECDHE-RSA-AES128-SHA:@SECLEVEL=0"}, true, "Protocol version: TLSv1\n"},
			{[]string{"-tls1_3"}, false, ""},
		},
	}
	for policy, list := range cases {
		t.Run(policy, func(t *testing.T) {
			addr := policyStore(t, policy)
			for _, c := range list {
				ok, out := run(t, addr, c.args...)
				if ok != c.ok || !strings.Contains(out, c.want) {
					t.Errorf("openssl s_client %v: established=%v, want %v with %q; output:\n%s", c.args, ok, c.ok, c.want, out)
				}
			}
		})
	}
}
