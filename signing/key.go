package signing

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
)

// MaxKeysPerGroup is CloudFront's quota of public keys in one key group.
const MaxKeysPerGroup = 5

// Hash is the digest signed over the policy: SHA1 (CloudFront's default) or
// SHA256 (Hash-Algorithm=SHA256).
type Hash uint8

const (
	SHA1 Hash = iota
	SHA256
)

// String returns the Hash-Algorithm parameter value ("SHA1" or "SHA256").
func (h Hash) String() string {
	if h == SHA256 {
		return "SHA256"
	}
	return "SHA1"
}

// ParseHash maps a Hash-Algorithm value to a Hash: "" and "SHA1" are SHA1,
// "SHA256" is SHA256; anything else is an error. Case-sensitive, as every
// CloudFront parameter is.
func ParseHash(s string) (Hash, error) {
	switch s {
	case "", "SHA1":
		return SHA1, nil
	case "SHA256":
		return SHA256, nil
	}
	return 0, fmt.Errorf("signing: parse hash %q: %w", s, ErrBadHashAlgorithm)
}

// PublicKey is a CloudFront public key: its ID (the Key-Pair-Id value) and
// an *rsa.PublicKey (2048 to 4096 bits) or an *ecdsa.PublicKey on P-256.
type PublicKey struct {
	ID  string
	Key crypto.PublicKey
}

// NewPublicKey checks that id is a usable key pair id and key a key type
// CloudFront verifies with.
func NewPublicKey(id string, key crypto.PublicKey) (PublicKey, error) {
	if err := checkKeyID(id); err != nil {
		return PublicKey{}, err
	}
	if err := checkKeyType(key); err != nil {
		return PublicKey{}, fmt.Errorf("signing: public key %s: %w", id, err)
	}
	return PublicKey{ID: id, Key: key}, nil
}

// ParsePublicKeyPEM parses a PEM "PUBLIC KEY" block (SubjectPublicKeyInfo,
// what `openssl rsa -pubout` writes and CloudFront's PublicKey API takes).
func ParsePublicKeyPEM(id string, pemBytes []byte) (PublicKey, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return PublicKey{}, fmt.Errorf("signing: public key %s: no PEM block", id)
	}
	if block.Type != "PUBLIC KEY" {
		return PublicKey{}, fmt.Errorf("signing: public key %s: PEM block is %q, want \"PUBLIC KEY\" (SubjectPublicKeyInfo)", id, block.Type)
	}
	key, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return PublicKey{}, fmt.Errorf("signing: public key %s: %w", id, err)
	}
	return NewPublicKey(id, key)
}

// LoadPublicKey is ParsePublicKeyPEM for a config value that is either the
// PEM text itself (it starts with "-----BEGIN") or the path of a PEM file.
func LoadPublicKey(id, pemOrPath string) (PublicKey, error) {
	if strings.HasPrefix(strings.TrimSpace(pemOrPath), "-----BEGIN") {
		return ParsePublicKeyPEM(id, []byte(pemOrPath))
	}
	b, err := os.ReadFile(pemOrPath)
	if err != nil {
		return PublicKey{}, fmt.Errorf("signing: public key %s: %w", id, err)
	}
	return ParsePublicKeyPEM(id, b)
}

// ParsePrivateKeyPEM parses an RSA or ECDSA P-256 private key in PEM: PKCS#1
// ("RSA PRIVATE KEY"), PKCS#8 ("PRIVATE KEY") or SEC 1 ("EC PRIVATE KEY").
// Encrypted keys are refused with a message saying so.
func ParsePrivateKeyPEM(pemBytes []byte) (crypto.Signer, error) {
	var block *pem.Block
	rest := pemBytes
	for {
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("signing: private key: no PEM private key block")
		}
		if block.Type != "EC PARAMETERS" { // openssl ecparam -genkey writes this first
			break
		}
	}
	if block.Headers["Proc-Type"] != "" || block.Type == "ENCRYPTED PRIVATE KEY" {
		return nil, errors.New("signing: private key: the key is encrypted; decrypt it first (openssl pkey -in KEY -out PLAIN)")
	}
	var key any
	var err error
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("signing: private key: PEM block is %q, want RSA PRIVATE KEY, PRIVATE KEY or EC PRIVATE KEY", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("signing: private key: %w", err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("signing: private key: %T cannot sign", key)
	}
	if err := checkKeyType(signer.Public()); err != nil {
		return nil, fmt.Errorf("signing: private key: %w", err)
	}
	return signer, nil
}

func checkKeyType(key crypto.PublicKey) error {
	switch k := key.(type) {
	case *rsa.PublicKey:
		if k == nil || k.N == nil {
			return errors.New("empty RSA key")
		}
		// Counted in bytes, as the signature length is: a 2047-bit modulus
		// (Go's old test key, used by the AWS SDK's vectors) signs 256 bytes.
		if n := k.Size(); n < 256 || n > 512 {
			return fmt.Errorf("RSA key has %d bits, CloudFront needs 2048", k.N.BitLen())
		}
		return nil
	case *ecdsa.PublicKey:
		if k == nil {
			return errors.New("empty ECDSA key")
		}
		if k.Curve != elliptic.P256() {
			return fmt.Errorf("ECDSA key is on %s, CloudFront needs P-256", k.Curve.Params().Name)
		}
		return nil
	}
	return fmt.Errorf("%T is not an RSA or ECDSA P-256 key", key)
}

// checkKeyID accepts what can travel unescaped in a query string and a
// cookie: letters, digits, '-' and '_', 1 to 128 of them.
func checkKeyID(id string) error {
	if id == "" || len(id) > 128 {
		return fmt.Errorf("signing: key pair id %q: want 1 to 128 characters", id)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("signing: key pair id %q: only letters, digits, '-' and '_' are allowed", id)
		}
	}
	return nil
}

// KeyGroup is a named set of up to MaxKeysPerGroup public keys; a cache
// behaviour trusts key groups by name.
type KeyGroup struct {
	Name string
	Keys []PublicKey
}
