package tls

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"math/big"
	"os"
	"strings"
	"time"

	"github.com/switchyard/switchyard/config"
)

// CertSource is one certificate given to a Store: a PEM file pair, PEM
// bytes, or an already parsed certificate (checked in that order).
type CertSource struct {
	// ID names the certificate in the access log (chosen_cert) and the admin
	// API; it defaults to CertFile, else "cert-<index>".
	ID          string
	CertFile    string
	KeyFile     string
	CertPEM     []byte
	KeyPEM      []byte
	Certificate *tls.Certificate
}

// FromConfig turns a listener's certificates list into sources (file pairs,
// read by NewStore and Reload).
func FromConfig(certs []config.Certificate) []CertSource {
	out := make([]CertSource, len(certs))
	for i, c := range certs {
		out[i] = CertSource{ID: c.Cert, CertFile: c.Cert, KeyFile: c.Key}
	}
	return out
}

// Key algorithms, in ALB preference order (lower is preferred).
const (
	algECDSA   = 0
	algRSA     = 1
	algEd25519 = 2
)

// entry is one parsed certificate with the facts selection ranks by.
type entry struct {
	id       string
	source   string // "file" or "acme"
	cert     *tls.Certificate
	leaf     *x509.Certificate
	alg      int
	curve    tls.CurveID // ECDSA only
	bits     int
	notAfter time.Time
	names    []string // lower-case DNS names, wildcards as "*.suffix"
}

// load reads and parses one source.
func (src *CertSource) load(i int) (*entry, error) {
	id := src.ID
	if id == "" {
		id = src.CertFile
	}
	if id == "" {
		id = fmt.Sprintf("cert-%d", i)
	}
	var cert tls.Certificate
	switch {
	case src.CertFile != "":
		certPEM, err := os.ReadFile(src.CertFile)
		if err != nil {
			return nil, fmt.Errorf("load certificate %s: %w", id, err)
		}
		keyPEM, err := os.ReadFile(src.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("load certificate %s: %w", id, err)
		}
		if cert, err = tls.X509KeyPair(certPEM, keyPEM); err != nil {
			return nil, fmt.Errorf("load certificate %s: %w", id, err)
		}
	case len(src.CertPEM) > 0:
		var err error
		if cert, err = tls.X509KeyPair(src.CertPEM, src.KeyPEM); err != nil {
			return nil, fmt.Errorf("load certificate %s: %w", id, err)
		}
	case src.Certificate != nil:
		cert = *src.Certificate
	default:
		return nil, fmt.Errorf("load certificate %s: no file, PEM or certificate given", id)
	}
	return newEntry(id, "file", &cert)
}

// newEntry parses the leaf of cert and records its ranking facts.
func newEntry(id, source string, cert *tls.Certificate) (*entry, error) {
	if len(cert.Certificate) == 0 {
		return nil, fmt.Errorf("certificate %s: empty chain", id)
	}
	leaf := cert.Leaf
	if leaf == nil {
		var err error
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("certificate %s: %w", id, err)
		}
		cert.Leaf = leaf
	}
	e := &entry{id: id, source: source, cert: cert, leaf: leaf, notAfter: leaf.NotAfter}
	switch pub := leaf.PublicKey.(type) {
	case *ecdsa.PublicKey:
		e.alg, e.bits = algECDSA, pub.Curve.Params().BitSize
		switch pub.Curve {
		case elliptic.P256():
			e.curve = tls.CurveP256
		case elliptic.P384():
			e.curve = tls.CurveP384
		case elliptic.P521():
			e.curve = tls.CurveP521
		default:
			return nil, fmt.Errorf("certificate %s: unsupported ECDSA curve %s", id, pub.Curve.Params().Name)
		}
	case *rsa.PublicKey:
		e.alg, e.bits = algRSA, pub.N.BitLen()
	case ed25519.PublicKey:
		e.alg, e.bits = algEd25519, 256
	default:
		return nil, fmt.Errorf("certificate %s: unsupported key type %T", id, pub)
	}
	names := leaf.DNSNames
	if len(names) == 0 && leaf.Subject.CommonName != "" {
		// Legacy certificates without SANs: ALB still matches the CN.
		names = []string{leaf.Subject.CommonName}
	}
	for _, n := range names {
		n = strings.TrimSuffix(strings.ToLower(n), ".")
		if n != "" {
			e.names = append(e.names, n)
		}
	}
	return e, nil
}

// better reports whether a ranks before b: ECDSA over RSA, then the larger
// key, then the later expiry (elb.md §4.1).
func better(a, b *entry) bool {
	if a.alg != b.alg {
		return a.alg < b.alg
	}
	if a.bits != b.bits {
		return a.bits > b.bits
	}
	return a.notAfter.After(b.notAfter)
}

// CertInfo is what the admin API shows of a certificate: never the key.
type CertInfo struct {
	ID       string    `json:"id"`
	Source   string    `json:"source"` // file | acme
	Default  bool      `json:"default"`
	Names    []string  `json:"names"`
	KeyType  string    `json:"key_type"` // ECDSA-P256, RSA-2048, Ed25519
	Serial   string    `json:"serial"`   // upper-case hex
	Issuer   string    `json:"issuer"`
	NotAfter time.Time `json:"not_after"`
}

func (e *entry) info(isDefault bool) CertInfo {
	return CertInfo{
		ID:       e.id,
		Source:   e.source,
		Default:  isDefault,
		Names:    append([]string(nil), e.names...),
		KeyType:  keyType(e),
		Serial:   serialHex(e.leaf.SerialNumber),
		Issuer:   e.leaf.Issuer.CommonName,
		NotAfter: e.notAfter.UTC(),
	}
}

func keyType(e *entry) string {
	switch e.alg {
	case algECDSA:
		return fmt.Sprintf("ECDSA-P%d", e.bits)
	case algRSA:
		return fmt.Sprintf("RSA-%d", e.bits)
	}
	return "Ed25519"
}

func serialHex(n *big.Int) string {
	if n == nil {
		return ""
	}
	return strings.ToUpper(n.Text(16))
}
