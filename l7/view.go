package l7

import (
	"bytes"
	"net/netip"
)

// TLSFacts are the facts about the client's TLS session that rules, logs and
// forwarded headers need. The zero value means plain HTTP.
type TLSFacts struct {
	// On is true when the client connection is TLS.
	On bool
	// Version is the OpenSSL-style protocol name ("TLSv1.3"), "" on HTTP.
	Version string
	// Cipher is the OpenSSL-style cipher name, "" on HTTP.
	Cipher string
	// ServerName is the SNI the client sent, "" if none.
	ServerName string
	// ChosenCert identifies the certificate the handshake chose (the
	// access log's chosen_cert_arn), "" when unknown.
	ChosenCert string
}

// normalized returns f with "-" (the tls package's "unknown") turned into
// "", the l7 spelling, so a TLSFacts func can pass tlsx.Facts through as is.
func (f TLSFacts) normalized() TLSFacts {
	dash := func(s string) string {
		if s == "-" {
			return ""
		}
		return s
	}
	f.Version, f.Cipher, f.ServerName, f.ChosenCert = dash(f.Version), dash(f.Cipher), dash(f.ServerName), dash(f.ChosenCert)
	return f
}

// RequestView is the small, front-end independent picture of a request that
// rules and actions read. It is filled once per request by the front end
// (the fasthttp server here, an HTTP/2 front end later) and never
// allocates: every slice points into the front end's own buffers and is
// valid only while the request is being handled.
type RequestView struct {
	// Method is the request method as sent ("GET").
	Method []byte
	// Host is the host name the request is for, without a port, as sent
	// (matching folds case).
	Host []byte
	// HostPort is the port from the Host header or absolute-form URI, or
	// nil when none was given.
	HostPort []byte
	// Path is the canonical (normalised, percent-decoded) path, starting
	// with "/". Routing and the forwarded request use this same form.
	Path []byte
	// RawQuery is the query string without "?", as sent.
	RawQuery []byte
	// RawHeaders is the request header block in wire form ("Name: value\r\n"
	// lines, no request line). Header conditions scan it, so repeated
	// headers are all seen, in order.
	RawHeaders []byte
	// Client is the TCP peer (after PROXY protocol, if any). Never taken
	// from X-Forwarded-For.
	Client netip.AddrPort
	// ListenerPort is the local port the client connected to.
	ListenerPort uint16
	// TLS holds the client TLS facts.
	TLS TLSFacts
}

// Header calls fn for each value of the header named name (case-insensitive),
// in order, until fn returns true; it reports whether fn did. name is a
// field name: a token, never holding ':'.
func (v *RequestView) Header(name string, fn func(value []byte) bool) bool {
	b := v.RawHeaders
	for len(b) > 0 {
		line := b
		if i := indexCRLF(b); i >= 0 {
			line, b = b[:i], b[i+2:]
		} else {
			b = nil
		}
		// The field is name's when its first ':' follows name: compared
		// at that offset, without searching each line for its colon.
		c := len(name)
		if len(line) <= c || line[c] != ':' || !equalFold(line[:c], name) {
			continue
		}
		if fn(trimOWS(line[c+1:])) {
			return true
		}
	}
	return false
}

// indexCRLF and indexByte run several times over every request's header
// block (rules, X-Forwarded-For, hop-by-hop and desync checks): the
// bytes package's vector scans, not byte loops, since browsers send
// blocks of 0.5-2 KiB.
func indexCRLF(b []byte) int {
	// The first CRLF is the first LF with a CR before it; LF is searched
	// alone because a one-byte search is the cheapest vector scan.
	off := 0
	for {
		i := bytes.IndexByte(b[off:], '\n')
		if i < 0 {
			return -1
		}
		i += off
		if i > 0 && b[i-1] == '\r' {
			return i - 1
		}
		off = i + 1
	}
}

func indexByte(b []byte, c byte) int { return bytes.IndexByte(b, c) }

// headerLines yields the lines of a raw header block ("Name: value" lines
// separated by CRLF), the last one whether or not a CRLF ends it. The
// per-request scans (Header, classify) keep their own loops.
func headerLines(raw []byte) func(func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for len(raw) > 0 {
			line := raw
			if i := indexCRLF(raw); i >= 0 {
				line, raw = raw[:i], raw[i+2:]
			} else {
				raw = nil
			}
			if !yield(line) {
				return
			}
		}
	}
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// equalFold compares an ASCII byte slice and a string case-insensitively.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		if lower(b[i]) != lower(s[i]) {
			return false
		}
	}
	return true
}

// splitHostPort splits "host:port", "[v6]:port", "[v6]" or "host" without
// allocating. The brackets of an IPv6 literal are kept in host.
func splitHostPort(hp []byte) (host, port []byte) {
	if len(hp) == 0 {
		return hp, nil
	}
	if hp[0] == '[' {
		end := indexByte(hp, ']')
		if end < 0 {
			return hp, nil
		}
		host = hp[:end+1]
		if end+1 < len(hp) && hp[end+1] == ':' {
			return host, hp[end+2:]
		}
		return host, nil
	}
	for i := len(hp) - 1; i >= 0; i-- {
		if hp[i] == ':' {
			return hp[:i], hp[i+1:]
		}
	}
	return hp, nil
}
