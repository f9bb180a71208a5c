package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Shared checks: addresses, CIDRs, ranges, names and files.

func oneOf(v string, allowed ...string) bool {
	for _, a := range allowed {
		if v == a {
			return true
		}
	}
	return false
}

func list(allowed ...string) string { return strings.Join(allowed, ", ") }

// enum reports path when its value is not one of allowed.
func (d *decoder) enum(path, v string, allowed ...string) {
	if !oneOf(v, allowed...) {
		d.errf(path, "invalid value %q: want one of %s", v, list(allowed...))
	}
}

// durRange checks lo <= v <= hi.
func (d *decoder) durRange(path string, v Duration, lo, hi time.Duration) {
	if v.D() < lo || v.D() > hi {
		d.errf(path, "%s out of range %s..%s", fmtDur(v.D()), fmtDur(lo), fmtDur(hi))
	}
}

func (d *decoder) intRange(path string, v, lo, hi int) {
	if v < lo || v > hi {
		d.errf(path, "%d out of range %d..%d", v, lo, hi)
	}
}

// fmtDur prints whole hours and minutes without the trailing zero units
// Go's String adds ("24h", not "24h0m0s").
func fmtDur(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// hostPort checks "host:port" with a port in 0..65535 (0 asks the kernel
// for a free port). The host may be empty (all interfaces), an IP literal
// or a DNS name.
func checkHostPort(s string, allowZero bool) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("invalid address %q: want host:port", s)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 || (p == 0 && !allowZero) {
		if allowZero {
			return fmt.Errorf("invalid port in %q: want 0..65535", s)
		}
		return fmt.Errorf("invalid port in %q: want 1..65535", s)
	}
	if host == "" {
		return nil
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return nil
	}
	if strings.Contains(host, ":") || !validDNSName(host, false) {
		return fmt.Errorf("invalid host in %q: want an IP address or a DNS name", s)
	}
	return nil
}

// validDNSName checks RFC 1123 labels; wildcard allows a leading "*.".
func validDNSName(s string, wildcard bool) bool {
	if wildcard {
		s = strings.TrimPrefix(s, "*.")
	}
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(s, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// checkCIDR refuses bare addresses: a CIDR says how much is trusted.
func checkCIDR(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		if _, aerr := netip.ParseAddr(s); aerr == nil {
			return p, fmt.Errorf("invalid CIDR %q: write the prefix length (%s/32 or /128)", s, s)
		}
		return p, fmt.Errorf("invalid CIDR %q", s)
	}
	return p, nil
}

func (d *decoder) cidrs(path string, vals []string) {
	for i, v := range vals {
		if _, err := checkCIDR(v); err != nil {
			d.errf(fmt.Sprintf("%s[%d]", path, i), "%v", err)
		}
	}
}

// tokenChar is an RFC 9110 token character (header, cookie and method names).
func tokenChar(c byte) bool {
	if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !tokenChar(s[i]) {
			return false
		}
	}
	return true
}

// onlyChars reports the first byte of s outside allowed (letters and
// digits always allowed), or -1.
func badChar(s, allowed string) int {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(allowed, c) >= 0 {
			continue
		}
		return i
	}
	return -1
}

func describeChar(s string, i int) string {
	c := s[i]
	if c < 0x20 || c >= 0x7f {
		return fmt.Sprintf("byte 0x%02x", c)
	}
	return fmt.Sprintf("character %q", string(c))
}

// resolve makes a relative file path absolute, relative to the config
// file's directory. Absolute, so the loaded config (and its hash) is the
// same whichever working directory and spelling of the config path were
// used: `lb validate -config lb.yaml` in /etc/lb and `lb -config
// /etc/lb/lb.yaml` from / agree.
func resolve(dir, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	joined := filepath.Join(dir, p)
	if abs, err := filepath.Abs(joined); err == nil {
		return abs
	}
	return joined
}

// readable checks that p (already resolved) names a readable regular
// file. It stats before opening so a FIFO or device never blocks validate.
func (d *decoder) readable(path, p string) {
	if p == "" {
		d.errf(path, "file name required")
		return
	}
	written := p // errors name the file as the config writes it
	if n, ok := d.nodes[path]; ok && n.Kind == yaml.ScalarNode && n.Value != "" {
		written = n.Value
	}
	cause := func(err error) error {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return pe.Err
		}
		return err
	}
	st, err := os.Stat(p)
	if err != nil {
		d.errf(path, "cannot read %s: %v", written, cause(err))
		return
	}
	if st.IsDir() {
		d.errf(path, "cannot read %s: is a directory", written)
		return
	}
	if !st.Mode().IsRegular() {
		d.errf(path, "cannot read %s: not a regular file", written)
		return
	}
	f, err := os.Open(p)
	if err != nil {
		d.errf(path, "cannot read %s: %v", written, cause(err))
		return
	}
	f.Close()
}

func (d *decoder) certificates(path string, certs []Certificate) {
	for i, c := range certs {
		p := fmt.Sprintf("%s[%d]", path, i)
		d.readable(p+".cert", c.Cert)
		d.readable(p+".key", c.Key)
	}
}

func (d *decoder) proxyProtocol(path string, p *ProxyProtocolIn) {
	if p == nil {
		return
	}
	if len(p.Trusted) == 0 {
		d.errf(path+".trusted", "at least one CIDR is required (only these peers may send a PROXY header)")
	}
	d.cidrs(path+".trusted", p.Trusted)
	d.durRange(path+".header_timeout", p.HeaderTimeout, time.Second, 10*time.Second)
}

// sslPolicies are the ALB security policies package tls implements
// (reference elb.md §4.2).
var sslPolicies = []string{
	"ELBSecurityPolicy-TLS13-1-2-2021-06",
	"ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
	"ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09",
	"ELBSecurityPolicy-TLS13-1-2-Ext1-2021-06",
	"ELBSecurityPolicy-TLS13-1-2-Ext2-2021-06",
	"ELBSecurityPolicy-TLS13-1-1-2021-06",
	"ELBSecurityPolicy-TLS13-1-0-2021-06",
	"ELBSecurityPolicy-TLS13-1-3-2021-06",
	"ELBSecurityPolicy-FS-1-2-Res-2020-10",
	"ELBSecurityPolicy-FS-1-2-Res-2019-08",
	"ELBSecurityPolicy-FS-1-2-2019-08",
	"ELBSecurityPolicy-FS-1-1-2019-08",
	"ELBSecurityPolicy-FS-2018-06",
	"ELBSecurityPolicy-TLS-1-2-Ext-2018-06",
	"ELBSecurityPolicy-TLS-1-2-2017-01",
	"ELBSecurityPolicy-TLS-1-1-2017-01",
	"ELBSecurityPolicy-2016-08",
	"ELBSecurityPolicy-TLS-1-0-2015-04",
	"ELBSecurityPolicy-2015-05",
}

func (d *decoder) sslPolicy(path, v string) {
	if !oneOf(v, sslPolicies...) {
		d.errf(path, "unknown security policy %q: want an ALB policy such as %s (see docs/config.md)", v, DefaultSSLPolicy)
	}
}

// uniqueAddrs reports listener addresses used twice; port 0 is exempt
// because each asks the kernel for a fresh port.
type seenSet map[string]string

func (s seenSet) dup(key, path string) (string, bool) {
	if first, ok := s[key]; ok {
		return first, true
	}
	s[key] = path
	return "", false
}

func canonAddr(s string) string {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return s
	}
	if a, err := netip.ParseAddr(host); err == nil {
		host = a.Unmap().String()
	}
	return net.JoinHostPort(strings.ToLower(host), port)
}

func isPortZero(s string) bool {
	_, port, err := net.SplitHostPort(s)
	return err == nil && port == "0"
}

func (d *decoder) listenAddr(path, addr string, seen seenSet) {
	if addr == "" {
		d.errf(path, "address required (host:port)")
		return
	}
	if err := checkHostPort(addr, true); err != nil {
		d.errf(path, "%v", err)
		return
	}
	if isPortZero(addr) {
		return
	}
	if first, dup := seen.dup(canonAddr(addr), path); dup {
		d.errf(path, "address %s already used by %s", addr, first)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
