package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard/switchyard/signing"
)

// maxCloudFrontEpoch is the latest Expires CloudFront documents (2^31-1).
const maxCloudFrontEpoch = 2147483647

// signClock is the clock `edge sign` reads "+1h" and "is in the past"
// against; tests replace it.
var signClock = time.Now

const signUsage = `usage: edge sign url     -key-pair-id ID -private-key PEM -url URL -expires TIME
                         [-starts TIME] [-ip CIDR] [-policy FILE] [-hash sha256] [-json]
       edge sign cookies (same flags) [-domain D] [-path P]

TIME is RFC 3339 (2026-01-02T15:04:05Z), a Unix epoch (1767290400) or a
duration from now (+1h, +30m). A canned policy is used when only -expires
is given; -starts, -ip, a '*' in -url or -policy make a custom policy.
`

// runSign is `edge sign url|cookies`: it prints a CloudFront signed URL, or
// the Set-Cookie lines of signed cookies, byte-identical to the AWS SDK's
// for the same RSA key and policy. Exit 0 on success, 2 on bad flags or
// values, 1 when the key cannot be read or used.
func runSign(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "url" && args[0] != "cookies") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
			fmt.Fprint(stdout, signUsage)
			return 0
		}
		fmt.Fprint(stderr, signUsage)
		return 2
	}
	mode := args[0]
	name := "edge sign " + mode
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, signUsage)
		fs.PrintDefaults()
	}
	keyID := fs.String("key-pair-id", "", "ID of the public key in the trusted key group (the Key-Pair-Id value)")
	keyFile := fs.String("private-key", "", "PEM file with the RSA or ECDSA P-256 private key (PKCS#1, PKCS#8 or EC)")
	rawURL := fs.String("url", "", "URL viewers will request, exactly as sent (percent-encoded); may hold '*' wildcards")
	expiresS := fs.String("expires", "", "end of validity (TIME)")
	startsS := fs.String("starts", "", "start of validity (TIME); makes a custom policy")
	ipS := fs.String("ip", "", "viewer address or CIDR allowed (e.g. 192.0.2.0/24); makes a custom policy")
	policyFile := fs.String("policy", "", "custom policy JSON file; replaces -expires, -starts and -ip")
	hashS := fs.String("hash", "sha1", "signature digest: sha1 (default, all distributions) or sha256")
	asJSON := fs.Bool("json", false, "print a JSON object instead of the URL or Set-Cookie lines")
	domain := fs.String("domain", "", "cookies: Domain attribute (default none: the exact host)")
	path := fs.String("path", "/", "cookies: Path attribute")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(stderr, name+": "+format+"\n", a...)
		return code
	}
	if fs.NArg() > 0 {
		return fail(2, "unexpected argument %q", fs.Arg(0))
	}
	if *keyID == "" {
		return fail(2, "-key-pair-id is required")
	}
	if *keyFile == "" {
		return fail(2, "-private-key is required")
	}
	if *rawURL == "" && (mode == "url" || *policyFile == "") {
		return fail(2, "-url is required")
	}
	var hash signing.Hash
	switch strings.ToLower(*hashS) {
	case "sha1":
		hash = signing.SHA1
	case "sha256":
		hash = signing.SHA256
	default:
		return fail(2, "-hash %q: want sha1 or sha256", *hashS)
	}
	now := signClock()

	var policy *signing.Policy
	if *policyFile != "" {
		if *expiresS != "" || *startsS != "" || *ipS != "" {
			return fail(2, "-policy cannot be combined with -expires, -starts or -ip")
		}
		b, err := os.ReadFile(*policyFile)
		if err != nil {
			return fail(2, "-policy: %v", err)
		}
		if policy, err = signing.ParsePolicy(b); err != nil {
			return fail(2, "-policy %s: %v", *policyFile, err)
		}
	} else {
		if *expiresS == "" {
			return fail(2, "-expires is required")
		}
		policy = &signing.Policy{Resource: *rawURL}
		var err error
		if policy.Expires, err = parseSignTime(*expiresS, now); err != nil {
			return fail(2, "-expires %q: %v", *expiresS, err)
		}
		if *startsS != "" {
			if policy.Starts, err = parseSignTime(*startsS, now); err != nil {
				return fail(2, "-starts %q: %v", *startsS, err)
			}
			if !policy.Starts.Before(policy.Expires) {
				return fail(2, "-starts %s is not before -expires %s", policy.Starts.Format(time.RFC3339), policy.Expires.Format(time.RFC3339))
			}
		}
		if *ipS != "" {
			if policy.SourceIP, err = parseSignCIDR(*ipS); err != nil {
				return fail(2, "-ip %q: %v", *ipS, err)
			}
		}
	}
	if !policy.Expires.After(now) {
		return fail(2, "the expiry %s is in the past", policy.Expires.UTC().Format(time.RFC3339))
	}
	// CloudFront documents epochs as 32-bit: a later expiry would make a URL
	// that only edge accepts.
	if policy.Expires.Unix() > maxCloudFrontEpoch {
		return fail(2, "the expiry %s is after %s, the latest CloudFront accepts", policy.Expires.UTC().Format(time.RFC3339), time.Unix(maxCloudFrontEpoch, 0).UTC().Format(time.RFC3339))
	}
	if *rawURL != "" {
		if err := checkSignURL(*rawURL); err != nil {
			return fail(2, "-url: %v", err)
		}
		if policy.Resource != "" && !strings.Contains(*rawURL, "*") && !signing.MatchResource(policy.Resource, *rawURL) {
			return fail(2, "-url %s does not match the policy's Resource %q: edge would deny it", *rawURL, policy.Resource)
		}
	}
	canned := *policyFile == "" && policy.IsCanned() && !strings.Contains(*rawURL, "*")

	pemBytes, err := os.ReadFile(*keyFile)
	if err != nil {
		return fail(1, "-private-key: %v", err)
	}
	key, err := signing.ParsePrivateKeyPEM(pemBytes)
	if err != nil {
		return fail(1, "-private-key %s: %v", *keyFile, err)
	}

	if mode == "url" {
		s, err := signing.NewURLSigner(*keyID, key, signing.WithHash(hash))
		if err != nil {
			return fail(2, "%v", err)
		}
		var signed string
		if canned {
			signed, err = s.Sign(*rawURL, policy.Expires)
		} else {
			signed, err = s.SignWithPolicy(*rawURL, policy)
		}
		if err != nil {
			return fail(2, "%v", err)
		}
		if *asJSON {
			fmt.Fprintf(stdout, "{\"url\":%s}\n", strconv.Quote(signed))
		} else {
			fmt.Fprintln(stdout, signed)
		}
		return 0
	}

	s, err := signing.NewCookieSigner(*keyID, key, signing.WithHash(hash))
	if err != nil {
		return fail(2, "%v", err)
	}
	var cookies []signing.Cookie
	if canned {
		cookies, err = s.Sign(*rawURL, policy.Expires)
	} else {
		cookies, err = s.SignWithPolicy(policy)
	}
	if err != nil {
		return fail(2, "%v", err)
	}
	if err := checkCookieAttr("-domain", *domain); err != nil {
		return fail(2, "%v", err)
	}
	if err := checkCookieAttr("-path", *path); err != nil {
		return fail(2, "%v", err)
	}
	if *asJSON {
		var b strings.Builder
		b.WriteByte('{')
		for i, c := range cookies {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Quote(c.Name))
			b.WriteByte(':')
			b.WriteString(strconv.Quote(c.Value))
		}
		b.WriteString("}\n")
		io.WriteString(stdout, b.String())
		return 0
	}
	attrs := signing.CookieAttributes{
		Domain:   *domain,
		Path:     *path,
		Secure:   !strings.HasPrefix(*rawURL, "http://"),
		HTTPOnly: true,
	}
	for _, c := range cookies {
		fmt.Fprintf(stdout, "Set-Cookie: %s\n", c.SetCookie(attrs))
	}
	return 0
}

// parseSignTime reads an RFC 3339 time, a Unix epoch in seconds, or
// "+DURATION" from now.
func parseSignTime(s string, now time.Time) (time.Time, error) {
	if strings.HasPrefix(s, "+") {
		d, err := time.ParseDuration(s[1:])
		if err != nil {
			return time.Time{}, fmt.Errorf("want +DURATION such as +1h: %w", err)
		}
		if d <= 0 {
			return time.Time{}, errors.New("the duration must be positive")
		}
		return now.Add(d).Truncate(time.Second), nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n <= 0 || n > 253402300799 {
			return time.Time{}, errors.New("epoch out of range")
		}
		return time.Unix(n, 0), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, errors.New("want RFC 3339 (2026-01-02T15:04:05Z), a Unix epoch or +DURATION")
	}
	return t, nil
}

// parseSignCIDR accepts a CIDR or a single address (as /32 or /128).
func parseSignCIDR(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, errors.New("want an address or a CIDR such as 192.0.2.0/24")
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// checkSignURL gives the common mistakes a clear message before the signer
// sees them.
func checkSignURL(u string) error {
	for i, r := range u {
		if r > 0x7e || r < 0x21 {
			return fmt.Errorf("%q has %q at byte %d: CloudFront URLs are ASCII; percent-encode the path and query and punycode the host", u, r, i)
		}
	}
	if !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "*://") && !strings.HasPrefix(u, "http*://") {
		return fmt.Errorf("%q: want an absolute http:// or https:// URL", u)
	}
	return nil
}

func checkCookieAttr(flagName, v string) error {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x21 || c > 0x7e || c == ';' || c == ',' {
			return fmt.Errorf("%s %q: no spaces, ';' or ',' allowed", flagName, v)
		}
	}
	return nil
}
