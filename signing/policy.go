package signing

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"time"
	"unicode/utf8"
)

// Limits on a custom policy, checked before any JSON decoding so a hostile
// Policy parameter costs bounded time and memory. A valid policy nests five
// deep ({"Statement":[{"Condition":{"DateLessThan":{…}}}]}) and is at most as
// long as a URL CloudFront accepts (8,192 bytes).
const (
	MaxPolicySize  = 8192
	MaxPolicyDepth = 8
)

// Policy is one CloudFront policy statement: the resource pattern and the
// conditions a request must meet. CloudFront allows exactly one statement.
//
// The zero Starts means no DateGreaterThan; an invalid (zero) SourceIP means
// no IpAddress condition; an empty Resource means the key "Resource" is
// absent, which matches every URL (CloudFront's rule for an omitted Resource).
type Policy struct {
	Resource string
	Expires  time.Time    // DateLessThan, required; the request must come strictly before it
	Starts   time.Time    // DateGreaterThan, optional; the request must come strictly after it
	SourceIP netip.Prefix // IpAddress AWS:SourceIp, optional; CIDR the viewer address must be in
}

// CannedPolicy returns the canned policy for resource and expires: the only
// condition is DateLessThan.
func CannedPolicy(resource string, expires time.Time) *Policy {
	return &Policy{Resource: resource, Expires: expires}
}

// IsCanned reports whether p can be sent as a canned policy (Expires
// parameter instead of Policy): a resource and no condition but the expiry.
func (p *Policy) IsCanned() bool {
	return p.Resource != "" && p.Starts.IsZero() && !p.SourceIP.IsValid()
}

// AppendJSON appends the policy as compact JSON in the field order of the AWS
// SDK for Go v2 signer (Resource; Condition: IpAddress, DateGreaterThan,
// DateLessThan), with its string escaping, so that a policy signed here is
// byte-identical to the SDK's. A canned policy encodes exactly as CloudFront
// rebuilds it.
func (p *Policy) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"Statement":[{`...)
	if p.Resource != "" {
		dst = append(dst, `"Resource":`...)
		dst = appendJSONString(dst, p.Resource)
		dst = append(dst, ',')
	}
	dst = append(dst, `"Condition":{`...)
	if p.SourceIP.IsValid() {
		dst = append(dst, `"IpAddress":{"AWS:SourceIp":`...)
		dst = appendJSONString(dst, p.SourceIP.String())
		dst = append(dst, "},"...)
	}
	if !p.Starts.IsZero() {
		dst = append(dst, `"DateGreaterThan":{"AWS:EpochTime":`...)
		dst = strconv.AppendInt(dst, p.Starts.Unix(), 10)
		dst = append(dst, "},"...)
	}
	dst = append(dst, `"DateLessThan":{"AWS:EpochTime":`...)
	dst = strconv.AppendInt(dst, p.Expires.Unix(), 10)
	dst = append(dst, "}}}]}"...)
	return dst
}

// MarshalJSON returns AppendJSON(nil).
func (p *Policy) MarshalJSON() ([]byte, error) { return p.AppendJSON(nil), nil }

// appendCannedJSON appends the canned policy CloudFront rebuilds from a
// signed URL: resource as received and the Expires parameter verbatim.
func appendCannedJSON[S string | []byte](dst []byte, resource S, expires string) []byte {
	dst = append(dst, `{"Statement":[{"Resource":`...)
	dst = appendJSONString(dst, resource)
	dst = append(dst, `,"Condition":{"DateLessThan":{"AWS:EpochTime":`...)
	dst = append(dst, expires...)
	return append(dst, "}}}]}"...)
}

const hexDigits = "0123456789abcdef"

// appendJSONString escapes s exactly as encoding/json does with
// SetEscapeHTML(false), which is what the AWS SDK signs: '"', '\\' and
// control characters are escaped, '<', '>' and '&' are not, invalid UTF-8
// becomes \ufffd and U+2028/U+2029 are escaped.
func appendJSONString[S string | []byte](dst []byte, s S) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		n := min(len(s)-i, utf8.UTFMax)
		c, size := utf8.DecodeRuneInString(string(s[i : i+n]))
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// errPolicy is the cause of every ParsePolicy failure; the text after it says
// what was wrong.
var errPolicy = errors.New("signing: parse policy")

func policyErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errPolicy}, args...)...)
}

// ParsePolicy parses a custom policy strictly: exactly one statement (as an
// array of one or as a bare object), the exact case-sensitive names
// CloudFront documents and no others, no duplicate keys, DateLessThan
// required, epochs as non-negative JSON integers, AWS:SourceIp as one CIDR
// (IPv4, or IPv6 as an extension), valid UTF-8, at most MaxPolicySize bytes
// and MaxPolicyDepth levels of nesting (both checked before decoding).
func ParsePolicy(b []byte) (*Policy, error) {
	if len(b) > MaxPolicySize {
		return nil, policyErr("%d bytes exceeds the %d-byte cap", len(b), MaxPolicySize)
	}
	if !utf8.Valid(b) {
		return nil, policyErr("not valid UTF-8")
	}
	if err := checkDepth(b); err != nil {
		return nil, err
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	p := &Policy{}
	var seenStatement bool
	if err := parseObject(d, func(key string) error {
		if key != "Statement" {
			return policyErr("unknown key %q", key)
		}
		if seenStatement {
			return policyErr("duplicate key %q", key)
		}
		seenStatement = true
		return parseStatements(d, p)
	}); err != nil {
		return nil, err
	}
	if !seenStatement {
		return nil, policyErr("no Statement")
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, policyErr("data after the policy object")
	}
	return p, nil
}

// checkDepth rejects nesting deeper than MaxPolicyDepth by scanning bytes,
// outside strings, before the decoder sees them.
func checkDepth(b []byte) error {
	depth := 0
	inString, escaped := false, false
	for _, c := range b {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
			if depth > MaxPolicyDepth {
				return policyErr("nested deeper than %d", MaxPolicyDepth)
			}
		case '}', ']':
			depth--
		}
	}
	return nil
}

// parseObject reads one JSON object and calls field for each key with the
// decoder positioned at the key's value; field must consume the value.
func parseObject(d *json.Decoder, field func(key string) error) error {
	t, err := d.Token()
	if err != nil {
		return policyErr("%v", err)
	}
	if t != json.Delim('{') {
		return policyErr("want an object, got %v", t)
	}
	for d.More() {
		t, err := d.Token()
		if err != nil {
			return policyErr("%v", err)
		}
		key, ok := t.(string)
		if !ok {
			return policyErr("want a key, got %v", t)
		}
		if err := field(key); err != nil {
			return err
		}
	}
	if _, err := d.Token(); err != nil { // the closing '}'
		return policyErr("%v", err)
	}
	return nil
}

func parseStatements(d *json.Decoder, p *Policy) error {
	// The value is either [ {statement} ] or a bare {statement}; peek by
	// buffering: json.Decoder has no peek, so decide on the first token.
	t, err := d.Token()
	if err != nil {
		return policyErr("%v", err)
	}
	switch t {
	case json.Delim('['):
		n := 0
		for d.More() {
			n++
			if n > 1 {
				return policyErr("more than one statement")
			}
			if err := parseStatement(d, p, nil); err != nil {
				return err
			}
		}
		if _, err := d.Token(); err != nil {
			return policyErr("%v", err)
		}
		if n == 0 {
			return policyErr("no statement")
		}
		return nil
	case json.Delim('{'):
		return parseStatement(d, p, t)
	}
	return policyErr("Statement is %v, want an array or an object", t)
}

// parseStatement reads one statement object; first is its opening token when
// the caller already consumed it.
func parseStatement(d *json.Decoder, p *Policy, first json.Token) error {
	var seenResource, seenCondition bool
	field := func(key string) error {
		switch key {
		case "Resource":
			if seenResource {
				return policyErr("duplicate key %q", key)
			}
			seenResource = true
			s, err := stringToken(d, key)
			if err != nil {
				return err
			}
			if s == "" {
				return policyErr("empty Resource")
			}
			p.Resource = s
			return nil
		case "Condition":
			if seenCondition {
				return policyErr("duplicate key %q", key)
			}
			seenCondition = true
			return parseCondition(d, p)
		}
		return policyErr("unknown key %q in Statement", key)
	}
	var err error
	if first == nil {
		err = parseObject(d, field)
	} else {
		err = parseObjectRest(d, field)
	}
	if err != nil {
		return err
	}
	if !seenCondition {
		return policyErr("no Condition")
	}
	return nil
}

// parseObjectRest is parseObject after the opening '{' was consumed.
func parseObjectRest(d *json.Decoder, field func(key string) error) error {
	for d.More() {
		t, err := d.Token()
		if err != nil {
			return policyErr("%v", err)
		}
		key, ok := t.(string)
		if !ok {
			return policyErr("want a key, got %v", t)
		}
		if err := field(key); err != nil {
			return err
		}
	}
	if _, err := d.Token(); err != nil {
		return policyErr("%v", err)
	}
	return nil
}

func parseCondition(d *json.Decoder, p *Policy) error {
	var seenLess, seenGreater, seenIP bool
	err := parseObject(d, func(key string) error {
		switch key {
		case "DateLessThan", "DateGreaterThan":
			seen := &seenLess
			if key == "DateGreaterThan" {
				seen = &seenGreater
			}
			if *seen {
				return policyErr("duplicate key %q", key)
			}
			*seen = true
			var epoch int64
			var got bool
			if err := parseObject(d, func(k string) error {
				if k != "AWS:EpochTime" {
					return policyErr("unknown key %q in %s", k, key)
				}
				if got {
					return policyErr("duplicate key %q", k)
				}
				got = true
				var err error
				epoch, err = epochToken(d)
				return err
			}); err != nil {
				return err
			}
			if !got {
				return policyErr("%s without AWS:EpochTime", key)
			}
			if key == "DateLessThan" {
				p.Expires = time.Unix(epoch, 0).UTC()
			} else {
				p.Starts = time.Unix(epoch, 0).UTC()
			}
			return nil
		case "IpAddress":
			if seenIP {
				return policyErr("duplicate key %q", key)
			}
			seenIP = true
			var got bool
			if err := parseObject(d, func(k string) error {
				if k != "AWS:SourceIp" {
					return policyErr("unknown key %q in IpAddress", k)
				}
				if got {
					return policyErr("duplicate key %q", k)
				}
				got = true
				s, err := stringToken(d, k)
				if err != nil {
					return err
				}
				pfx, err := netip.ParsePrefix(s)
				if err != nil {
					return policyErr("AWS:SourceIp %q is not a CIDR", s)
				}
				p.SourceIP = pfx
				return nil
			}); err != nil {
				return err
			}
			if !got {
				return policyErr("IpAddress without AWS:SourceIp")
			}
			return nil
		}
		return policyErr("unknown key %q in Condition", key)
	})
	if err != nil {
		return err
	}
	if !seenLess {
		return policyErr("no DateLessThan")
	}
	return nil
}

func stringToken(d *json.Decoder, key string) (string, error) {
	t, err := d.Token()
	if err != nil {
		return "", policyErr("%v", err)
	}
	s, ok := t.(string)
	if !ok {
		return "", policyErr("%s is %v, want a string", key, t)
	}
	return s, nil
}

// maxEpoch keeps epochs inside what time.Unix and every caller handle
// (year 9999).
const maxEpoch = 253402300799

func epochToken(d *json.Decoder) (int64, error) {
	t, err := d.Token()
	if err != nil {
		return 0, policyErr("%v", err)
	}
	n, ok := t.(json.Number)
	if !ok {
		return 0, policyErr("AWS:EpochTime is %v, want a number", t)
	}
	v, ok := parseEpoch(string(n))
	if !ok {
		return 0, policyErr("AWS:EpochTime %s is not an integer epoch", n)
	}
	return v, nil
}

// parseEpoch parses a non-negative decimal epoch of at most 12 digits
// without sign, fraction or exponent.
func parseEpoch(s string) (int64, bool) {
	if len(s) == 0 || len(s) > 12 {
		return 0, false
	}
	var v int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	if v > maxEpoch {
		return 0, false
	}
	return v, true
}
