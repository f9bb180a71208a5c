package signing

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
)

func TestBase64(t *testing.T) {
	for n := range 300 {
		src := bytes.Repeat([]byte{0xfb, 0xff, 0xbf}, n/3+1)[:n]
		enc := Encode(src)
		want := strings.NewReplacer("+", "-", "=", "_", "/", "~").Replace(base64.StdEncoding.EncodeToString(src))
		if enc != want {
			t.Fatalf("Encode(%d bytes) = %s, want %s", n, enc, want)
		}
		dec, err := Decode(enc)
		if err != nil || !bytes.Equal(dec, src) {
			t.Fatalf("Decode(%s) = %x, %v", enc, dec, err)
		}
	}
	// A 256-byte RSA signature encodes to 344 characters ending "__".
	if e := Encode(make([]byte, 256)); len(e) != 344 || !strings.HasSuffix(e, "__") {
		t.Errorf("256 bytes → %d chars %q", len(e), e[len(e)-2:])
	}
	for _, bad := range []string{
		"a+==", "ab/c", "ab==", "abc=", // standard alphabet
		"abc", "YWJj_", // length
		"YQ", "YQ_", // missing padding
		"YR__",                               // non-zero trailing bits (strict)
		"YQ__YQ__",                           // padding in the middle
		"YW\x00j", "YW j", "YW\nj", "YW%2Bj", // NUL, space, newline, percent-encoding
		"____",
	} {
		if b, err := Decode(bad); err == nil {
			t.Errorf("Decode(%q) = %x, want error", bad, b)
		}
	}
	if b, err := Decode(""); err != nil || len(b) != 0 {
		t.Errorf("Decode(\"\") = %x, %v", b, err)
	}
	long := Encode(bytes.Repeat([]byte("x"), 3000)) // beyond the stack buffer
	if b, err := Decode(long); err != nil || len(b) != 3000 {
		t.Errorf("long: %d, %v", len(b), err)
	}
}
