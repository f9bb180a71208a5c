package geo

import "bytes"

// Device is what CloudFront's CloudFront-Is-*-Viewer headers say about a
// User-Agent. Several may be true (an iPad is tablet and iOS).
type Device struct {
	Desktop, Mobile, Tablet, SmartTV, IOS, Android bool
}

// ClassifyUA classifies a User-Agent the way CloudFront's device headers
// do, by well-known tokens. An empty or unknown agent is a desktop, as
// CloudFront treats it. It allocates nothing.
func ClassifyUA(ua []byte) Device {
	var d Device
	has := func(tok string) bool { return containsFold(ua, tok) }
	d.IOS = has("iphone") || has("ipad") || has("ipod")
	d.Android = has("android")
	d.SmartTV = has("smart-tv") || has("smarttv") || has("googletv") || has("appletv") ||
		has("hbbtv") || has("roku") || has("crkey") || has("tizen") || has("web0s") || has("bravia") || has("aftb") || has("aftt")
	switch {
	case d.SmartTV:
	case has("ipad") || has("tablet") || has("kindle") || has("silk/") || has("playbook") ||
		(d.Android && !has("mobile")):
		d.Tablet = true
	case has("mobi") || has("iphone") || has("ipod") || has("windows phone") || has("blackberry") || has("opera mini"):
		d.Mobile = true
	default:
		d.Desktop = true
	}
	return d
}

// containsFold reports whether s contains the lower-case ASCII token tok,
// ignoring ASCII case in s.
func containsFold(s []byte, tok string) bool {
	n := len(tok)
	for i := 0; i+n <= len(s); i++ {
		j := 0
		for ; j < n; j++ {
			c := s[i+j]
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != tok[j] {
				break
			}
		}
		if j == n {
			return true
		}
	}
	return false
}

// appendBool is the header value form of a device flag.
func appendBool(dst []byte, b bool) []byte {
	if b {
		return append(dst, "true"...)
	}
	return append(dst, "false"...)
}

// Header returns the value for one CloudFront-Is-*-Viewer header name
// (case-insensitive), and whether name is one of them.
func (d Device) Header(dst []byte, name []byte) ([]byte, bool) {
	switch {
	case bytes.EqualFold(name, []byte("CloudFront-Is-Desktop-Viewer")):
		return appendBool(dst, d.Desktop), true
	case bytes.EqualFold(name, []byte("CloudFront-Is-Mobile-Viewer")):
		return appendBool(dst, d.Mobile), true
	case bytes.EqualFold(name, []byte("CloudFront-Is-Tablet-Viewer")):
		return appendBool(dst, d.Tablet), true
	case bytes.EqualFold(name, []byte("CloudFront-Is-SmartTV-Viewer")):
		return appendBool(dst, d.SmartTV), true
	case bytes.EqualFold(name, []byte("CloudFront-Is-IOS-Viewer")):
		return appendBool(dst, d.IOS), true
	case bytes.EqualFold(name, []byte("CloudFront-Is-Android-Viewer")):
		return appendBool(dst, d.Android), true
	}
	return dst, false
}
