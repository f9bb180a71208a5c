package health

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard/switchyard/config"
)

// The health-check protocols.
const (
	HTTP  = "HTTP"
	HTTPS = "HTTPS"
	TCP   = "TCP"
)

// Config is one target group's active health check. The zero value is not
// useful: start from Defaults or FromConfig.
type Config struct {
	// Protocol is HTTP, HTTPS or TCP.
	Protocol string
	// Port is the port probed; 0 means the target's own (traffic) port.
	Port int
	// Path is the HTTP(S) request path; default "/".
	Path string
	// Interval is the time between the starts of two checks of one target.
	Interval time.Duration
	// Timeout bounds one check: connect, TLS handshake, request and status line.
	Timeout time.Duration
	// HealthyThreshold is the number of consecutive passes an unhealthy
	// target needs to become healthy again (a new target needs one).
	HealthyThreshold int
	// UnhealthyThreshold is the number of consecutive failures (active or
	// passive) that turn a target unhealthy.
	UnhealthyThreshold int
	// Matcher is the HTTP status codes counted as a pass: "200", "200,202",
	// "200-299" or a comma-separated mix.
	Matcher string
	// Disabled turns checks off: targets show unavailable and take traffic.
	Disabled bool
}

// Defaults returns the ELB defaults for a target group of the given
// protocol: ALB defaults (HTTP or HTTPS check like the group, 30 s / 5 s,
// 5 / 2, matcher 200) for HTTP and HTTPS groups, NLB defaults (TCP check,
// 30 s / 10 s, 5 / 2, matcher 200-399 if switched to HTTP) for TCP and TLS
// groups.
func Defaults(groupProtocol string) Config {
	switch strings.ToUpper(groupProtocol) {
	case "TCP", "TLS", "UDP", "TCP_UDP":
		return Config{Protocol: TCP, Path: "/", Interval: 30 * time.Second, Timeout: 10 * time.Second,
			HealthyThreshold: 5, UnhealthyThreshold: 2, Matcher: "200-399"}
	case "HTTPS":
		return Config{Protocol: HTTPS, Path: "/", Interval: 30 * time.Second, Timeout: 5 * time.Second,
			HealthyThreshold: 5, UnhealthyThreshold: 2, Matcher: "200"}
	default:
		return Config{Protocol: HTTP, Path: "/", Interval: 30 * time.Second, Timeout: 5 * time.Second,
			HealthyThreshold: 5, UnhealthyThreshold: 2, Matcher: "200"}
	}
}

func isNLB(groupProtocol string) bool {
	switch strings.ToUpper(groupProtocol) {
	case "TCP", "TLS", "UDP", "TCP_UDP":
		return true
	}
	return false
}

// FromConfig fills a Config from the health_check block of a target group
// of the given protocol: unset keys take Defaults(groupProtocol), and an
// NLB group's HTTP check gets NLB's own timeouts (6 s HTTP, 10 s HTTPS).
// It returns the first invalid key as "health: health_check.<key>: ...".
func FromConfig(groupProtocol string, hc config.HealthCheck) (Config, error) {
	c := Defaults(groupProtocol)
	if hc.Protocol != "" {
		c.Protocol = strings.ToUpper(hc.Protocol)
		if isNLB(groupProtocol) {
			switch c.Protocol {
			case HTTP:
				c.Timeout = 6 * time.Second
			case HTTPS, TCP:
				c.Timeout = 10 * time.Second
			}
		}
	}
	switch p := strings.ToLower(strings.TrimSpace(hc.Port)); p {
	case "", "traffic-port":
	default:
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return c, fmt.Errorf("health: health_check.port: %q: want traffic-port or 1-65535", hc.Port)
		}
		c.Port = n
	}
	if hc.Path != "" {
		c.Path = hc.Path
	}
	if hc.Interval != 0 {
		c.Interval = hc.Interval.D()
	}
	if hc.Timeout != 0 {
		c.Timeout = hc.Timeout.D()
	} else if hc.Interval != 0 {
		// The default timeout shrinks to fit a short interval, as the
		// config package's defaults do: a short interval alone is valid.
		if isNLB(groupProtocol) {
			c.Timeout = min(c.Timeout, c.Interval)
		} else {
			c.Timeout = min(c.Timeout, c.Interval-time.Second)
		}
	}
	if hc.HealthyThreshold != 0 {
		c.HealthyThreshold = hc.HealthyThreshold
	}
	if hc.UnhealthyThreshold != 0 {
		c.UnhealthyThreshold = hc.UnhealthyThreshold
	}
	if hc.Matcher != "" {
		c.Matcher = hc.Matcher
	}
	if hc.Enabled != nil && !*hc.Enabled {
		c.Disabled = true
	}
	return c, c.Validate(groupProtocol)
}

// Validate checks c against the ELB ranges: interval 5–300 s, timeout
// 2–120 s and shorter than the interval (ALB) or not longer (NLB), thresholds 2–10, a path of 1–1024
// characters starting with "/", matcher codes 200–499 (ALB) or 200–599
// (NLB groups). NewChecker does not call it, so tests may use shorter
// intervals.
func (c Config) Validate(groupProtocol string) error {
	switch c.Protocol {
	case HTTP, HTTPS, TCP:
	default:
		return fmt.Errorf("health: health_check.protocol: %q: want HTTP, HTTPS or TCP", c.Protocol)
	}
	if !isNLB(groupProtocol) && c.Protocol == TCP {
		return fmt.Errorf("health: health_check.protocol: TCP checks need a TCP or TLS target group")
	}
	if c.Disabled {
		return nil
	}
	if c.Interval < 5*time.Second || c.Interval > 300*time.Second {
		return fmt.Errorf("health: health_check.interval: %v: want 5s to 300s", c.Interval)
	}
	if c.Timeout < 2*time.Second || c.Timeout > 120*time.Second {
		return fmt.Errorf("health: health_check.timeout: %v: want 2s to 120s", c.Timeout)
	}
	// ALB wants the timeout below the interval; NLB accepts it equal
	// (its classic TCP check was 10 s every 10 s).
	if isNLB(groupProtocol) && c.Timeout > c.Interval {
		return fmt.Errorf("health: health_check.timeout: %v: must not exceed the interval %v", c.Timeout, c.Interval)
	}
	if !isNLB(groupProtocol) && c.Timeout >= c.Interval {
		return fmt.Errorf("health: health_check.timeout: %v: must be shorter than the interval %v", c.Timeout, c.Interval)
	}
	if c.HealthyThreshold < 2 || c.HealthyThreshold > 10 {
		return fmt.Errorf("health: health_check.healthy_threshold: %d: want 2 to 10", c.HealthyThreshold)
	}
	if c.UnhealthyThreshold < 2 || c.UnhealthyThreshold > 10 {
		return fmt.Errorf("health: health_check.unhealthy_threshold: %d: want 2 to 10", c.UnhealthyThreshold)
	}
	if c.Protocol == TCP {
		return nil
	}
	if len(c.Path) == 0 || len(c.Path) > 1024 || c.Path[0] != '/' {
		return fmt.Errorf("health: health_check.path: %q: want 1 to 1024 characters starting with /", c.Path)
	}
	for i := 0; i < len(c.Path); i++ {
		if b := c.Path[i]; b <= ' ' || b == 0x7f {
			return fmt.Errorf("health: health_check.path: %q: control character or space", c.Path)
		}
	}
	m, err := ParseMatcher(c.Matcher)
	if err != nil {
		return fmt.Errorf("health: health_check.matcher: %w", err)
	}
	hi := 499
	if isNLB(groupProtocol) {
		hi = 599
	}
	for _, r := range m.ranges {
		if r[0] < 200 || r[1] > hi {
			return fmt.Errorf("health: health_check.matcher: %q: codes must be 200-%d", c.Matcher, hi)
		}
	}
	return nil
}

// Matcher is a parsed set of HTTP status codes. The zero value matches
// nothing.
type Matcher struct {
	ranges [][2]int
}

// ParseMatcher parses "200", "200,202", "200-299" or a comma-separated mix
// of codes and ranges of three-digit codes.
func ParseMatcher(s string) (Matcher, error) {
	var m Matcher
	if strings.TrimSpace(s) == "" {
		return m, fmt.Errorf("empty matcher: want codes such as 200, 200,202 or 200-299")
	}
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := parseCode(lo)
		if err != nil {
			return Matcher{}, fmt.Errorf("%q: %w", s, err)
		}
		b := a
		if isRange {
			if b, err = parseCode(hi); err != nil {
				return Matcher{}, fmt.Errorf("%q: %w", s, err)
			}
			if b < a {
				return Matcher{}, fmt.Errorf("%q: range %d-%d is backwards", s, a, b)
			}
		}
		m.ranges = append(m.ranges, [2]int{a, b})
	}
	return m, nil
}

func parseCode(s string) (int, error) {
	s = strings.TrimSpace(s)
	if len(s) != 3 {
		return 0, fmt.Errorf("code %q: want three digits", s)
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 100 {
		return 0, fmt.Errorf("code %q: want three digits", s)
	}
	return n, nil
}

// Match reports whether code passes.
func (m Matcher) Match(code int) bool {
	for _, r := range m.ranges {
		if code >= r[0] && code <= r[1] {
			return true
		}
	}
	return false
}
