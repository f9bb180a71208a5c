package testenv

import (
	"crypto/x509"
	"testing"
)

func TestSelfSigned(t *testing.T) {
	c := SelfSigned(t, "db.example.com", "127.0.0.1")
	x, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if x.Subject.CommonName != "db.example.com" || x.VerifyHostname("db.example.com") != nil || x.VerifyHostname("127.0.0.1") != nil {
		t.Fatalf("certificate for %q, DNS %v, IPs %v", x.Subject.CommonName, x.DNSNames, x.IPAddresses)
	}
}
