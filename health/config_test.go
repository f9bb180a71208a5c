package health_test

import (
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/health"
)

func TestDefaults(t *testing.T) {
	alb := health.Defaults("HTTP")
	if alb.Protocol != "HTTP" || alb.Path != "/" || alb.Interval != 30*time.Second || alb.Timeout != 5*time.Second ||
		alb.HealthyThreshold != 5 || alb.UnhealthyThreshold != 2 || alb.Matcher != "200" || alb.Port != 0 {
		t.Errorf("ALB defaults %+v", alb)
	}
	if p := health.Defaults("HTTPS").Protocol; p != "HTTPS" {
		t.Errorf("HTTPS group checks with %s", p)
	}
	nlb := health.Defaults("TCP")
	if nlb.Protocol != "TCP" || nlb.Interval != 30*time.Second || nlb.Timeout != 10*time.Second ||
		nlb.HealthyThreshold != 5 || nlb.UnhealthyThreshold != 2 || nlb.Matcher != "200-399" {
		t.Errorf("NLB defaults %+v", nlb)
	}
	if p := health.Defaults("TLS").Protocol; p != "TCP" {
		t.Errorf("TLS group checks with %s", p)
	}
	for _, g := range []string{"HTTP", "HTTPS", "TCP", "TLS"} {
		if err := health.Defaults(g).Validate(g); err != nil {
			t.Errorf("defaults of %s invalid: %v", g, err)
		}
	}
}

func TestFromConfig(t *testing.T) {
	off := false
	cases := []struct {
		group string
		hc    config.HealthCheck
		check func(health.Config) bool
		err   string
	}{
		{"HTTP", config.HealthCheck{}, func(c health.Config) bool { return c == health.Defaults("HTTP") }, ""},
		{"HTTP", config.HealthCheck{Port: "traffic-port", Path: "/hc", Interval: config.Duration(10 * time.Second),
			Timeout: config.Duration(3 * time.Second), HealthyThreshold: 3, UnhealthyThreshold: 4, Matcher: "200-299"},
			func(c health.Config) bool {
				return c.Port == 0 && c.Path == "/hc" && c.Interval == 10*time.Second && c.Timeout == 3*time.Second &&
					c.HealthyThreshold == 3 && c.UnhealthyThreshold == 4 && c.Matcher == "200-299"
			}, ""},
		{"HTTP", config.HealthCheck{Port: "8081"}, func(c health.Config) bool { return c.Port == 8081 }, ""},
		// SPEC §2.1's TCP group: {protocol: TCP, interval: 10s} with NLB's 10 s timeout.
		{"TCP", config.HealthCheck{Protocol: "TCP", Interval: config.Duration(10 * time.Second)}, func(c health.Config) bool {
			return c.Interval == 10*time.Second && c.Timeout == 10*time.Second
		}, ""},
		{"TCP", config.HealthCheck{Interval: config.Duration(5 * time.Second)}, func(c health.Config) bool { return c.Timeout == 5*time.Second }, ""},
		{"HTTP", config.HealthCheck{Interval: config.Duration(5 * time.Second)}, func(c health.Config) bool { return c.Timeout == 4*time.Second }, ""},
		{"TCP", config.HealthCheck{Interval: config.Duration(10 * time.Second), Timeout: config.Duration(11 * time.Second)}, nil, "must not exceed the interval"},
		{"TCP", config.HealthCheck{Protocol: "http"}, func(c health.Config) bool {
			return c.Protocol == "HTTP" && c.Timeout == 6*time.Second && c.Matcher == "200-399"
		}, ""},
		{"TCP", config.HealthCheck{Protocol: "HTTPS"}, func(c health.Config) bool { return c.Timeout == 10*time.Second }, ""},
		{"HTTP", config.HealthCheck{Enabled: &off, Interval: config.Duration(time.Second)}, func(c health.Config) bool { return c.Disabled }, ""},
		{"HTTP", config.HealthCheck{Port: "0"}, nil, "health_check.port"},
		{"HTTP", config.HealthCheck{Port: "http"}, nil, "health_check.port"},
		{"HTTP", config.HealthCheck{Protocol: "TCP"}, nil, "TCP checks need"},
		{"HTTP", config.HealthCheck{Protocol: "UDP"}, nil, "health_check.protocol"},
		{"HTTP", config.HealthCheck{Interval: config.Duration(4 * time.Second)}, nil, "health_check.interval"},
		{"HTTP", config.HealthCheck{Interval: config.Duration(301 * time.Second)}, nil, "health_check.interval"},
		{"HTTP", config.HealthCheck{Timeout: config.Duration(time.Second)}, nil, "health_check.timeout"},
		{"HTTP", config.HealthCheck{Interval: config.Duration(10 * time.Second), Timeout: config.Duration(10 * time.Second)}, nil, "shorter than the interval"},
		{"HTTP", config.HealthCheck{HealthyThreshold: 1}, nil, "healthy_threshold"},
		{"HTTP", config.HealthCheck{UnhealthyThreshold: 11}, nil, "unhealthy_threshold"},
		{"HTTP", config.HealthCheck{Path: "health"}, nil, "health_check.path"},
		{"HTTP", config.HealthCheck{Path: "/a b"}, nil, "health_check.path"},
		{"HTTP", config.HealthCheck{Path: "/" + strings.Repeat("a", 1024)}, nil, "health_check.path"},
		{"HTTP", config.HealthCheck{Matcher: "500-599"}, nil, "codes must be 200-499"},
		{"TCP", config.HealthCheck{Protocol: "HTTP", Matcher: "500-599"}, func(c health.Config) bool { return true }, ""},
		{"HTTP", config.HealthCheck{Matcher: "2xx"}, nil, "health_check.matcher"},
	}
	for i, c := range cases {
		got, err := health.FromConfig(c.group, c.hc)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) || !strings.HasPrefix(err.Error(), "health: ") {
				t.Errorf("case %d: err %v, want one containing %q", i, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("case %d: %v", i, err)
			continue
		}
		if !c.check(got) {
			t.Errorf("case %d: got %+v", i, got)
		}
	}
}

func TestMatcher(t *testing.T) {
	cases := []struct {
		spec string
		in   []int
		out  []int
	}{
		{"200", []int{200}, []int{199, 201, 302}},
		{"200,202", []int{200, 202}, []int{201, 204}},
		{"200-299", []int{200, 250, 299}, []int{199, 300}},
		{" 200-204 , 302 ", []int{200, 204, 302}, []int{205, 301}},
	}
	for _, c := range cases {
		m, err := health.ParseMatcher(c.spec)
		if err != nil {
			t.Fatalf("%q: %v", c.spec, err)
		}
		for _, code := range c.in {
			if !m.Match(code) {
				t.Errorf("%q does not match %d", c.spec, code)
			}
		}
		for _, code := range c.out {
			if m.Match(code) {
				t.Errorf("%q matches %d", c.spec, code)
			}
		}
	}
	for _, bad := range []string{"", "20", "2000", "abc", "299-200", "200-", "200,,202", "-1"} {
		if _, err := health.ParseMatcher(bad); err == nil {
			t.Errorf("ParseMatcher(%q) accepted", bad)
		}
	}
	var zero health.Matcher
	if zero.Match(200) {
		t.Error("zero Matcher matches")
	}
}
