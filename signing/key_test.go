package signing

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKeyLoading(t *testing.T) {
	for _, f := range []string{"rsa_pkcs1.pem", "rsa_pkcs8.pem", "ec_sec1.pem", "ec_pkcs8.pem"} {
		k, err := ParsePrivateKeyPEM(readFile(t, f))
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		switch k.(type) {
		case *rsa.PrivateKey, *ecdsa.PrivateKey:
		default:
			t.Errorf("%s: %T", f, k)
		}
	}
	// openssl ecparam -genkey without -noout writes EC PARAMETERS first.
	withParams := append([]byte("-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"), readFile(t, "ec_sec1.pem")...)
	if _, err := ParsePrivateKeyPEM(withParams); err != nil {
		t.Errorf("EC PARAMETERS first: %v", err)
	}
	for name, pemText := range map[string]string{
		"empty":     "",
		"public":    string(readFile(t, "rsa_pub.pem")),
		"encrypted": "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
		"garbage":   "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n",
	} {
		if _, err := ParsePrivateKeyPEM([]byte(pemText)); err == nil || !strings.HasPrefix(err.Error(), "signing: private key: ") {
			t.Errorf("%s: err %v", name, err)
		}
	}

	pub := string(readFile(t, "rsa_pub.pem"))
	if pk, err := LoadPublicKey("K1", pub); err != nil || pk.ID != "K1" {
		t.Errorf("inline PEM: %v", err)
	}
	if _, err := LoadPublicKey("K1", filepath.Join("testdata", "ec_pub.pem")); err != nil {
		t.Errorf("PEM path: %v", err)
	}
	if _, err := LoadPublicKey("K1", filepath.Join(t.TempDir(), "missing.pem")); err == nil || !os.IsNotExist(unwrapAll(err)) {
		t.Errorf("missing file: %v", err)
	}
	if _, err := ParsePublicKeyPEM("K1", readFile(t, "rsa_pkcs1.pem")); err == nil || !strings.Contains(err.Error(), `want "PUBLIC KEY"`) {
		t.Errorf("private key as public: %v", err)
	}
	for _, h := range []string{"", "SHA1", "SHA256"} {
		if _, err := ParseHash(h); err != nil {
			t.Errorf("ParseHash(%q): %v", h, err)
		}
	}
	if _, err := ParseHash("sha256"); err == nil {
		t.Error("ParseHash is case-sensitive")
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}
