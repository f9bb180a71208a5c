package config

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Duration is a time.Duration written as a Go duration string ("30s", "5m")
// in YAML. A bare integer is refused: "300" is ambiguous between seconds and
// nanoseconds, and AWS users think in seconds while Go thinks in nanoseconds.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats d as a Go duration.
func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("want a duration such as 30s")
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("invalid duration %q: want a Go duration such as 30s or 5m", n.Value)
	}
	if v < 0 {
		return fmt.Errorf("invalid duration %q: must not be negative", n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes d as a Go duration string.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// MarshalText lets JSON renderings (the admin API) show "30s" rather than nanoseconds.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// Size is a byte count written as an integer or with a KiB/MiB/GiB (or
// KB/MB/GB, taken as powers of 1000) suffix.
type Size int64

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000},
	{"B", 1},
}

// ParseSize parses "64MiB", "1GiB", "1024" and the like.
func ParseSize(s string) (Size, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(t, u.suffix) {
			mult = u.mult
			t = strings.TrimSpace(strings.TrimSuffix(t, u.suffix))
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("invalid size %q: want a byte count such as 1024, 64MiB or 1GiB", s)
	}
	if n > (1<<62)/mult {
		return 0, fmt.Errorf("invalid size %q: too large", s)
	}
	return Size(n * mult), nil
}

// UnmarshalYAML parses a size.
func (s *Size) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("want a size such as 64MiB")
	}
	v, err := ParseSize(n.Value)
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// String formats s in the largest binary unit that divides it.
func (s Size) String() string {
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if int64(s) >= u.mult && int64(s)%u.mult == 0 {
			return strconv.FormatInt(int64(s)/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(int64(s), 10)
}

// MarshalYAML writes s with a unit.
func (s Size) MarshalYAML() (any, error) { return s.String(), nil }

// MarshalText writes s with a unit.
func (s Size) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Admin is the admin listener: health probes, metrics, status page, API.
type Admin struct {
	// Address is host:port; ":0" picks a free port; "" turns the admin API off.
	Address string `yaml:"address" json:"address"`
	// Token, when set, is required as "Authorization: Bearer <token>".
	Token Secret `yaml:"token" json:"token"`
}

// Secret is a string that never prints: logs, the admin API and errors see "[redacted]".
type Secret string

// String redacts.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// MarshalText redacts, so JSON renderings of the config (the admin API's
// /api/v1/config) never leak it.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// LogValue redacts in log/slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// Reveal returns the secret itself, for the one place that must send it
// (the Authorization check, the origin request).
func (s Secret) Reveal() string { return string(s) }

// AccessLog says where and how access-log lines are written.
type AccessLog struct {
	// Path is stdout, stderr, a file path, or "" (off).
	Path string `yaml:"path" json:"path"`
	// Format is alb or json for lb; cloudfront or json for edge.
	Format string `yaml:"format" json:"format"`
}

// ProxyProtocolIn is a listener's acceptance of PROXY v1/v2 headers from a
// load balancer in front.
type ProxyProtocolIn struct {
	// Trusted lists the CIDRs that must send a header; other peers are refused.
	Trusted []string `yaml:"trusted" json:"trusted"`
	// HeaderTimeout bounds the wait for the header: default 5s, 1s..10s.
	HeaderTimeout Duration `yaml:"header_timeout" json:"header_timeout"`
}

// Certificate names a PEM certificate chain and its private key.
type Certificate struct {
	Cert string `yaml:"cert" json:"cert"`
	Key  string `yaml:"key" json:"key"`
}

// ACME asks an ACME CA for the listener's certificates.
type ACME struct {
	Directory string   `yaml:"directory" json:"directory"`
	Email     string   `yaml:"email" json:"email"`
	Domains   []string `yaml:"domains" json:"domains"`
	CacheDir  string   `yaml:"cache_dir" json:"cache_dir"`
	// CARoots is a PEM file of extra roots trusted for the CA's API (Pebble's own cert).
	CARoots string `yaml:"ca_roots" json:"ca_roots"`
}
