package signing

import "strings"

// Query parameters of a signed URL. Application parameters must not use
// these names: any one of them makes CloudFront treat the request as a
// signed URL and ignore signed cookies.
const (
	ParamExpires       = "Expires"
	ParamPolicy        = "Policy"
	ParamSignature     = "Signature"
	ParamKeyPairID     = "Key-Pair-Id"
	ParamHashAlgorithm = "Hash-Algorithm"
)

// Cookies of signed cookies (names are case-sensitive).
const (
	CookieExpires       = "CloudFront-Expires"
	CookiePolicy        = "CloudFront-Policy"
	CookieSignature     = "CloudFront-Signature"
	CookieKeyPairID     = "CloudFront-Key-Pair-Id"
	CookieHashAlgorithm = "CloudFront-Hash-Algorithm"
)

// QueryParams returns the signing query parameter names, which the edge
// removes from the origin request and the cache key. A new slice each call.
func QueryParams() []string {
	return []string{ParamExpires, ParamPolicy, ParamSignature, ParamKeyPairID, ParamHashAlgorithm}
}

// CookieNames returns the signed-cookie names, which the edge removes from
// the origin request and the cache key. A new slice each call.
func CookieNames() []string {
	return []string{CookieExpires, CookiePolicy, CookieSignature, CookieKeyPairID, CookieHashAlgorithm}
}

// param indexes, shared by query and cookie extraction.
const (
	pExpires = iota
	pPolicy
	pSignature
	pKeyPairID
	pHashAlgorithm
	nParams
)

// queryParamIndex returns the index of a signing query parameter name, or -1.
// Names are compared raw (not percent-decoded), as CloudFront does.
func queryParamIndex(name string) int {
	switch name {
	case ParamExpires:
		return pExpires
	case ParamPolicy:
		return pPolicy
	case ParamSignature:
		return pSignature
	case ParamKeyPairID:
		return pKeyPairID
	case ParamHashAlgorithm:
		return pHashAlgorithm
	}
	return -1
}

func cookieIndex(name string) int {
	if !strings.HasPrefix(name, "CloudFront-") {
		return -1
	}
	return queryParamIndex(name[len("CloudFront-"):])
}

// IsQueryParam reports whether name is a signing query parameter.
func IsQueryParam(name string) bool { return queryParamIndex(name) >= 0 }

// IsCookie reports whether name is a signed-cookie name.
func IsCookie(name string) bool { return cookieIndex(name) >= 0 }

// StripQuery returns rawQuery without the signing parameters, the others in
// their original order and bytes. It returns a substring (no allocation)
// when the signing parameters are a suffix or prefix, which is how every
// signer places them.
func StripQuery(rawQuery string) string {
	var vals [nParams]string
	var seen [nParams]bool
	s, _ := scanQuery(rawQuery, &vals, &seen)
	return s
}

// scanQuery records the first value of each signing parameter, reports
// whether one was repeated, and returns the query without them.
func scanQuery(rawQuery string, vals *[nParams]string, seen *[nParams]bool) (stripped string, dup bool) {
	if rawQuery == "" {
		return "", false
	}
	// Common case: keep = rawQuery[keepStart:keepEnd] is one contiguous run
	// of application parameters; fall back to building a string otherwise.
	keepStart, keepEnd := -1, -1
	var b []byte
	found := false
	for pos := 0; pos <= len(rawQuery); {
		end := strings.IndexByte(rawQuery[pos:], '&')
		if end < 0 {
			end = len(rawQuery)
		} else {
			end += pos
		}
		pair := rawQuery[pos:end]
		name, value, _ := strings.Cut(pair, "=")
		if i := queryParamIndex(name); i >= 0 {
			found = true
			if seen[i] {
				dup = true
			} else {
				seen[i], vals[i] = true, value
			}
		} else {
			switch {
			case b != nil:
				b = append(b, '&')
				b = append(b, pair...)
			case keepStart < 0:
				keepStart, keepEnd = pos, end
			case keepEnd == pos-1:
				keepEnd = end
			default:
				b = append(b, rawQuery[keepStart:keepEnd]...)
				b = append(b, '&')
				b = append(b, pair...)
			}
		}
		pos = end + 1
	}
	switch {
	case !found:
		return rawQuery, false
	case b != nil:
		return string(b), dup
	case keepStart < 0:
		return "", dup
	}
	return rawQuery[keepStart:keepEnd], dup
}

// StripCookies returns a Cookie header value without the signed cookies,
// the others in order, joined by "; ". It returns header itself when there
// is none to remove.
func StripCookies(header string) string {
	if !strings.Contains(header, "CloudFront-") {
		return header
	}
	var b strings.Builder
	for rest := header; rest != ""; {
		var pair string
		pair, rest, _ = strings.Cut(rest, ";")
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		name, _, _ := strings.Cut(pair, "=")
		if IsCookie(strings.TrimSpace(name)) {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		b.WriteString(pair)
	}
	return b.String()
}

// scanCookies records the first value of each signed cookie in a Cookie
// header ("a=1; b=2"), unquoted, and reports whether there was one.
func scanCookies(header string, vals *[nParams]string, seen *[nParams]bool) bool {
	found := false
	for rest := header; rest != ""; {
		var pair string
		pair, rest, _ = strings.Cut(rest, ";")
		name, value, _ := strings.Cut(pair, "=")
		i := cookieIndex(strings.TrimSpace(name))
		if i < 0 || seen[i] {
			continue // RFC 6265 order: the first is the most specific path
		}
		value = strings.TrimSpace(value)
		if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
			value = value[1 : len(value)-1]
		}
		seen[i], vals[i], found = true, value, true
	}
	return found
}
