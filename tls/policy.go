package tls

import (
	"crypto/tls"
	"slices"
)

// DefaultPolicy is the security policy of a listener whose ssl_policy is
// empty: the ALB console default since 2023 (the AWS API still defaults to
// ELBSecurityPolicy-2016-08; we pick the safer one, see docs/tls.md).
const DefaultPolicy = "ELBSecurityPolicy-TLS13-1-2-2021-06"

// PolicySpec is an ALB/NLB security policy translated to crypto/tls terms.
// TLS 1.3 suites are not listed: Go always offers all three, as every AWS
// TLS 1.3 policy does.
type PolicySpec struct {
	Name       string
	MinVersion uint16
	MaxVersion uint16
	// CipherSuites are the TLS 1.0–1.2 suites Go offers for this policy, in
	// the policy's order. Go picks its own preference order among them.
	CipherSuites []uint16
	// Ciphers are the OpenSSL names of every TLS 1.0–1.2 suite AWS lists.
	Ciphers []string
	// Unsupported are the OpenSSL names AWS lists that crypto/tls cannot
	// offer (CBC-SHA384 and AES256-SHA256).
	Unsupported []string
	// CurvePreferences are the key-exchange groups, most preferred first.
	CurvePreferences []tls.CurveID
}

// The suite groups AWS policies are made of, by OpenSSL name.
var (
	ecdheGCM = []string{
		"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
		"ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
	}
	ecdheGCMSHA2 = []string{
		"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
		"ECDHE-ECDSA-AES128-SHA256", "ECDHE-RSA-AES128-SHA256",
		"ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
		"ECDHE-ECDSA-AES256-SHA384", "ECDHE-RSA-AES256-SHA384",
	}
	ecdheSHA1 = []string{
		"ECDHE-ECDSA-AES128-SHA", "ECDHE-RSA-AES128-SHA",
		"ECDHE-RSA-AES256-SHA", "ECDHE-ECDSA-AES256-SHA",
	}
	rsaSHA2 = []string{"AES128-GCM-SHA256", "AES128-SHA256", "AES256-GCM-SHA384", "AES256-SHA256"}
	rsaSHA1 = []string{"AES128-SHA", "AES256-SHA"}
	// legacy2016 is ELBSecurityPolicy-2016-08 in AWS's order.
	legacy2016 = []string{
		"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
		"ECDHE-ECDSA-AES128-SHA256", "ECDHE-RSA-AES128-SHA256",
		"ECDHE-ECDSA-AES128-SHA", "ECDHE-RSA-AES128-SHA",
		"ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
		"ECDHE-ECDSA-AES256-SHA384", "ECDHE-RSA-AES256-SHA384",
		"ECDHE-RSA-AES256-SHA", "ECDHE-ECDSA-AES256-SHA",
		"AES128-GCM-SHA256", "AES128-SHA256", "AES128-SHA",
		"AES256-GCM-SHA384", "AES256-SHA256", "AES256-SHA",
	}
	classicCurves = []tls.CurveID{tls.X25519, tls.CurveP256, tls.CurveP384, tls.CurveP521}
	pqCurves      = []tls.CurveID{tls.X25519MLKEM768, tls.SecP256r1MLKEM768, tls.SecP384r1MLKEM1024,
		tls.X25519, tls.CurveP256, tls.CurveP384}
)

func cat(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

type policyDef struct {
	name     string
	min, max uint16
	ciphers  []string
	curves   []tls.CurveID
}

// policyDefs is the one table of policies; order is the order PolicyNames
// returns (newest and recommended first).
var policyDefs = []policyDef{
	{"ELBSecurityPolicy-TLS13-1-2-2021-06", tls.VersionTLS12, tls.VersionTLS13, ecdheGCMSHA2, classicCurves},
	{"ELBSecurityPolicy-TLS13-1-2-Res-2021-06", tls.VersionTLS12, tls.VersionTLS13, ecdheGCM, classicCurves},
	{"ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09", tls.VersionTLS12, tls.VersionTLS13, ecdheGCM, pqCurves},
	{"ELBSecurityPolicy-TLS13-1-2-Ext1-2021-06", tls.VersionTLS12, tls.VersionTLS13, cat(ecdheGCMSHA2, rsaSHA2), classicCurves},
	{"ELBSecurityPolicy-TLS13-1-2-Ext2-2021-06", tls.VersionTLS12, tls.VersionTLS13, cat(ecdheGCMSHA2, rsaSHA2, ecdheSHA1, rsaSHA1), classicCurves},
	{"ELBSecurityPolicy-TLS13-1-1-2021-06", tls.VersionTLS11, tls.VersionTLS13, cat(ecdheGCMSHA2, rsaSHA2, ecdheSHA1, rsaSHA1), classicCurves},
	{"ELBSecurityPolicy-TLS13-1-0-2021-06", tls.VersionTLS10, tls.VersionTLS13, cat(ecdheGCMSHA2, rsaSHA2, ecdheSHA1, rsaSHA1), classicCurves},
	{"ELBSecurityPolicy-TLS13-1-3-2021-06", tls.VersionTLS13, tls.VersionTLS13, nil, classicCurves},
	{"ELBSecurityPolicy-FS-1-2-Res-2020-10", tls.VersionTLS12, tls.VersionTLS12, ecdheGCM, classicCurves},
	{"ELBSecurityPolicy-FS-1-2-Res-2019-08", tls.VersionTLS12, tls.VersionTLS12, ecdheGCMSHA2, classicCurves},
	{"ELBSecurityPolicy-FS-1-2-2019-08", tls.VersionTLS12, tls.VersionTLS12, cat(ecdheGCMSHA2, ecdheSHA1), classicCurves},
	{"ELBSecurityPolicy-FS-1-1-2019-08", tls.VersionTLS11, tls.VersionTLS12, cat(ecdheGCMSHA2, ecdheSHA1), classicCurves},
	{"ELBSecurityPolicy-FS-2018-06", tls.VersionTLS10, tls.VersionTLS12, cat(ecdheGCMSHA2, ecdheSHA1), classicCurves},
	{"ELBSecurityPolicy-TLS-1-2-Ext-2018-06", tls.VersionTLS12, tls.VersionTLS12, legacy2016, classicCurves},
	{"ELBSecurityPolicy-TLS-1-2-2017-01", tls.VersionTLS12, tls.VersionTLS12, cat(ecdheGCMSHA2, rsaSHA2), classicCurves},
	{"ELBSecurityPolicy-TLS-1-1-2017-01", tls.VersionTLS11, tls.VersionTLS12, legacy2016, classicCurves},
	{"ELBSecurityPolicy-2016-08", tls.VersionTLS10, tls.VersionTLS12, legacy2016, classicCurves},
	{"ELBSecurityPolicy-TLS-1-0-2015-04", tls.VersionTLS10, tls.VersionTLS12, cat(legacy2016, []string{"DES-CBC3-SHA"}), classicCurves},
	{"ELBSecurityPolicy-2015-05", tls.VersionTLS10, tls.VersionTLS12, legacy2016, classicCurves},
}

// PolicyNames lists every accepted ssl_policy name, recommended first.
func PolicyNames() []string {
	out := make([]string, len(policyDefs))
	for i, d := range policyDefs {
		out[i] = d.name
	}
	return out
}

// Policy returns the named security policy; "" means DefaultPolicy. The
// result is a fresh copy the caller may keep or modify.
func Policy(name string) (PolicySpec, bool) {
	if name == "" {
		name = DefaultPolicy
	}
	for _, d := range policyDefs {
		if d.name != name {
			continue
		}
		p := PolicySpec{
			Name:             d.name,
			MinVersion:       d.min,
			MaxVersion:       d.max,
			Ciphers:          slices.Clone(d.ciphers),
			CurvePreferences: slices.Clone(d.curves),
		}
		for _, c := range d.ciphers {
			if id, ok := suiteByOpenSSL[c]; ok {
				p.CipherSuites = append(p.CipherSuites, id)
			} else {
				p.Unsupported = append(p.Unsupported, c)
			}
		}
		return p, true
	}
	return PolicySpec{}, false
}

// apply sets the policy's versions, suites and groups on cfg.
func (p *PolicySpec) apply(cfg *tls.Config) {
	cfg.MinVersion = p.MinVersion
	cfg.MaxVersion = p.MaxVersion
	// An empty list would mean "Go's defaults" to crypto/tls, which for a
	// TLS 1.3-only policy are never used anyway; keep a non-nil slice so
	// RSA key exchange is never enabled by accident.
	cfg.CipherSuites = slices.Clone(p.CipherSuites)
	if cfg.CipherSuites == nil {
		cfg.CipherSuites = []uint16{}
	}
	cfg.CurvePreferences = slices.Clone(p.CurvePreferences)
}

// openSSLNames maps every suite crypto/tls knows to its OpenSSL name, the
// form ALB writes in the ssl_cipher access-log field.
var openSSLNames = map[uint16]string{
	tls.TLS_RSA_WITH_RC4_128_SHA:                      "RC4-SHA",
	tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA:                 "DES-CBC3-SHA",
	tls.TLS_RSA_WITH_AES_128_CBC_SHA:                  "AES128-SHA",
	tls.TLS_RSA_WITH_AES_256_CBC_SHA:                  "AES256-SHA",
	tls.TLS_RSA_WITH_AES_128_CBC_SHA256:               "AES128-SHA256",
	tls.TLS_RSA_WITH_AES_128_GCM_SHA256:               "AES128-GCM-SHA256",
	tls.TLS_RSA_WITH_AES_256_GCM_SHA384:               "AES256-GCM-SHA384",
	tls.TLS_ECDHE_ECDSA_WITH_RC4_128_SHA:              "ECDHE-ECDSA-RC4-SHA",
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA:          "ECDHE-ECDSA-AES128-SHA",
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA:          "ECDHE-ECDSA-AES256-SHA",
	tls.TLS_ECDHE_RSA_WITH_RC4_128_SHA:                "ECDHE-RSA-RC4-SHA",
	tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA:           "ECDHE-RSA-DES-CBC3-SHA",
	tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA:            "ECDHE-RSA-AES128-SHA",
	tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA:            "ECDHE-RSA-AES256-SHA",
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256:       "ECDHE-ECDSA-AES128-SHA256",
	tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256:         "ECDHE-RSA-AES128-SHA256",
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256:         "ECDHE-RSA-AES128-GCM-SHA256",
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256:       "ECDHE-ECDSA-AES128-GCM-SHA256",
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384:         "ECDHE-RSA-AES256-GCM-SHA384",
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384:       "ECDHE-ECDSA-AES256-GCM-SHA384",
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256:   "ECDHE-RSA-CHACHA20-POLY1305",
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: "ECDHE-ECDSA-CHACHA20-POLY1305",
	tls.TLS_AES_128_GCM_SHA256:                        "TLS_AES_128_GCM_SHA256",
	tls.TLS_AES_256_GCM_SHA384:                        "TLS_AES_256_GCM_SHA384",
	tls.TLS_CHACHA20_POLY1305_SHA256:                  "TLS_CHACHA20_POLY1305_SHA256",
}

var suiteByOpenSSL = func() map[string]uint16 {
	m := make(map[string]uint16, len(openSSLNames))
	for id, n := range openSSLNames {
		m[n] = id
	}
	return m
}()

// CipherName returns the OpenSSL name of a cipher suite ("-" for 0, the
// IANA name from crypto/tls for anything not in the table).
func CipherName(id uint16) string {
	if id == 0 {
		return "-"
	}
	if n, ok := openSSLNames[id]; ok {
		return n
	}
	return tls.CipherSuiteName(id)
}

// ProtocolName returns the OpenSSL spelling of a TLS version, as ALB logs it
// ("TLSv1.2"); "-" for 0.
func ProtocolName(v uint16) string {
	switch v {
	case tls.VersionTLS10:
		return "TLSv1"
	case tls.VersionTLS11:
		return "TLSv1.1"
	case tls.VersionTLS12:
		return "TLSv1.2"
	case tls.VersionTLS13:
		return "TLSv1.3"
	case 0:
		return "-"
	}
	return tls.VersionName(v)
}

// suiteKind says which certificate key a TLS 1.0–1.2 suite needs.
type suiteKind uint8

const (
	suiteOther suiteKind = iota
	suiteECDSA           // ECDHE_ECDSA: signs with an ECDSA (or Ed25519) key
	suiteRSA             // ECDHE_RSA or static RSA: needs an RSA key
)

func kindOf(id uint16) suiteKind {
	switch id {
	case tls.TLS_ECDHE_ECDSA_WITH_RC4_128_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256:
		return suiteECDSA
	case tls.TLS_RSA_WITH_RC4_128_SHA, tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA, tls.TLS_RSA_WITH_AES_128_CBC_SHA,
		tls.TLS_RSA_WITH_AES_256_CBC_SHA, tls.TLS_RSA_WITH_AES_128_CBC_SHA256, tls.TLS_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_RSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_RC4_128_SHA,
		tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
		tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256,
		tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256:
		return suiteRSA
	}
	return suiteOther
}
