package signing

import (
	"errors"
	"strings"
)

// Code is one of CloudFront's error codes for a request that fails signed URL
// or signed cookie checks. Every code is answered with HTTP 403.
type Code uint8

// The codes CloudFront returns, in the order a request meets them.
const (
	// MissingKey: no Key-Pair-Id query parameter and no CloudFront-Key-Pair-Id
	// cookie; also the answer to a completely unsigned request.
	MissingKey Code = iota + 1
	// InvalidKey: the key id is unknown or not in a key group the cache
	// behaviour trusts.
	InvalidKey
	// MalformedSignature: the signature does not decode, or Hash-Algorithm is
	// not one CloudFront knows.
	MalformedSignature
	// MalformedPolicy: the policy does not decode or is not a valid policy.
	MalformedPolicy
	// AccessDenied: the signature does not match, or a condition (expiry,
	// start, IP address, resource) is not met.
	AccessDenied
)

// String returns the code as CloudFront spells it in the XML body.
func (c Code) String() string {
	switch c {
	case MissingKey:
		return "MissingKey"
	case InvalidKey:
		return "InvalidKey"
	case MalformedSignature:
		return "MalformedSignature"
	case MalformedPolicy:
		return "MalformedPolicy"
	case AccessDenied:
		return "AccessDenied"
	}
	return "AccessDenied"
}

// Message returns CloudFront's message for the code, as seen in captures of
// real CloudFront responses.
func (c Code) Message() string {
	switch c {
	case MissingKey:
		return "Missing Key-Pair-Id query parameter or cookie value"
	case InvalidKey:
		return "Unknown Key"
	case MalformedSignature:
		return "Could not unencode Signature"
	case MalformedPolicy:
		return "Malformed Policy"
	}
	return "Access denied"
}

// Sentinel causes, wrapped by *Error so that callers and logs can tell an
// expired URL from a bad signature while the viewer sees only the code.
var (
	ErrMissingKey        = errors.New("no key pair id")
	ErrUnknownKey        = errors.New("key pair id not trusted by this cache behavior")
	ErrBadBase64         = errors.New("signature is not cloudfront base64")
	ErrBadHashAlgorithm  = errors.New("unknown hash algorithm")
	ErrBadPolicy         = errors.New("policy is malformed")
	ErrBadExpires        = errors.New("expires is not an epoch")
	ErrDuplicateParam    = errors.New("signing parameter given twice")
	ErrMixedPolicy       = errors.New("both policy and expires given")
	ErrMissingSignature  = errors.New("no signature")
	ErrSignatureMismatch = errors.New("signature does not match")
	ErrExpired           = errors.New("expired")
	ErrNotYetValid       = errors.New("not yet valid")
	ErrIPMismatch        = errors.New("viewer address not allowed by policy")
	ErrResourceMismatch  = errors.New("resource not allowed by policy")
)

// Error is the failure returned by Verify: the Code and message the viewer
// gets, and the cause for logs. The values returned by Verify are shared and
// must not be modified.
type Error struct {
	Code Code
	Err  error // one of the Err* sentinels, or a wrapped parse error
	body []byte
}

func (e *Error) Error() string {
	return "signing: verify: " + strings.ToLower(e.Code.Message()) + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// Body returns CloudFront's XML body for the error (Content-Type text/xml,
// status 403). The slice is shared; do not modify it.
func (e *Error) Body() []byte {
	if e.body == nil {
		return XMLError(e.Code.String(), e.Code.Message())
	}
	return e.body
}

// XMLError returns CloudFront's single-line XML error body:
//
//	<?xml version="1.0" encoding="UTF-8"?><Error><Code>CODE</Code><Message>MESSAGE</Message></Error>
//
// code and message are XML-escaped.
func XMLError(code, message string) []byte {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>`)
	xmlEscape(&b, code)
	b.WriteString(`</Code><Message>`)
	xmlEscape(&b, message)
	b.WriteString(`</Message></Error>`)
	return []byte(b.String())
}

func xmlEscape(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '&':
			b.WriteString("&amp;")
		case '"':
			b.WriteString("&quot;")
		case '\'':
			b.WriteString("&apos;")
		default:
			b.WriteByte(c)
		}
	}
}

// newError builds one of the shared, pre-rendered errors Verify returns, so a
// flood of bad requests costs no allocation per request.
func newError(code Code, cause error) *Error {
	return &Error{Code: code, Err: cause, body: XMLError(code.String(), code.Message())}
}

var (
	errMissingKey        = newError(MissingKey, ErrMissingKey)
	errUnknownKey        = newError(InvalidKey, ErrUnknownKey)
	errBadBase64         = newError(MalformedSignature, ErrBadBase64)
	errBadHashAlgorithm  = newError(MalformedSignature, ErrBadHashAlgorithm)
	errMissingSignature  = newError(MalformedSignature, ErrMissingSignature)
	errBadPolicy         = newError(MalformedPolicy, ErrBadPolicy)
	errMixedPolicy       = newError(MalformedPolicy, ErrMixedPolicy)
	errBadExpires        = newError(AccessDenied, ErrBadExpires)
	errDuplicateParam    = newError(AccessDenied, ErrDuplicateParam)
	errSignatureMismatch = newError(AccessDenied, ErrSignatureMismatch)
	errExpired           = newError(AccessDenied, ErrExpired)
	errNotYetValid       = newError(AccessDenied, ErrNotYetValid)
	errIPMismatch        = newError(AccessDenied, ErrIPMismatch)
	errResourceMismatch  = newError(AccessDenied, ErrResourceMismatch)
)
