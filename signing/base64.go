package signing

import (
	"encoding/base64"
	"errors"
	"slices"
)

// CloudFront's base64 is standard base64 (RFC 4648 §4 alphabet, with
// padding) with three characters swapped so the result is safe in a query
// string and a cookie: '+' → '-', '=' → '_', '/' → '~'. It is not base64url:
// padding is kept and '/' becomes '~', not '_'.

var errBase64 = errors.New("signing: decode: not cloudfront base64")

// EncodedLen returns the length of the CloudFront base64 encoding of n bytes.
func EncodedLen(n int) int { return base64.StdEncoding.EncodedLen(n) }

// AppendEncode appends the CloudFront base64 encoding of src to dst.
func AppendEncode(dst, src []byte) []byte {
	start := len(dst)
	dst = base64.StdEncoding.AppendEncode(dst, src)
	for i := start; i < len(dst); i++ {
		switch dst[i] {
		case '+':
			dst[i] = '-'
		case '=':
			dst[i] = '_'
		case '/':
			dst[i] = '~'
		}
	}
	return dst
}

// Encode returns the CloudFront base64 encoding of src.
func Encode(src []byte) string {
	return string(AppendEncode(make([]byte, 0, EncodedLen(len(src))), src))
}

// AppendDecode appends the bytes that the CloudFront base64 string s encodes
// to dst. Strict: the standard alphabet's '+', '/' and '=' are rejected, as
// are missing padding, whitespace and anything else outside the alphabet.
// It does not allocate when dst has room.
func AppendDecode(dst []byte, s string) ([]byte, error) {
	if len(s)%4 != 0 {
		return dst, errBase64
	}
	var stack [1024]byte
	var std []byte
	if len(s) <= len(stack) {
		std = stack[:len(s)]
	} else {
		std = make([]byte, len(s))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-':
			c = '+'
		case c == '~':
			c = '/'
		case c == '_':
			c = '='
		default:
			return dst, errBase64
		}
		std[i] = c
	}
	n := base64.StdEncoding.DecodedLen(len(std))
	dst = slices.Grow(dst, n)
	m, err := strictStd.Decode(dst[len(dst):len(dst)+n], std)
	if err != nil {
		return dst, errBase64
	}
	return dst[:len(dst)+m], nil
}

// strictStd rejects non-zero trailing bits, so that exactly one string
// encodes a given signature and a one-character change is never ignored.
var strictStd = base64.StdEncoding.Strict()

// Decode returns the bytes that the CloudFront base64 string s encodes; see
// AppendDecode for what is rejected.
func Decode(s string) ([]byte, error) {
	return AppendDecode(make([]byte, 0, len(s)/4*3), s)
}
