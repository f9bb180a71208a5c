package l7

import (
	"bufio"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/switchyard/switchyard/config"
)

// A listener with one rule per condition kind, each answering its own
// fixed response, and a default that forwards: each request below must
// land on exactly the rule named.
func rulesListener(be string) (config.Listener, []config.TargetGroup) {
	lc := config.Listener{
		Protocol: "HTTP",
		Rules: []config.Rule{
			{Priority: 5, Conditions: config.Conditions{Host: []string{"*.example.org", "api.example.com"}, Path: []string{"/both/*"}}, Action: fixed("host-and-path")},
			{Priority: 10, Conditions: config.Conditions{Host: []string{"*.example.org", "api.ex?mple.com"}}, Action: fixed("host")},
			{Priority: 20, Conditions: config.Conditions{Path: []string{"/img/*", "/exact"}}, Action: fixed("path")},
			{Priority: 30, Conditions: config.Conditions{Method: []string{"DELETE", "PATCH"}}, Action: fixed("method")},
			{Priority: 40, Conditions: config.Conditions{Header: map[string][]string{"X-Env": {"canary", "beta-*"}}}, Action: fixed("header")},
			{Priority: 50, Conditions: config.Conditions{Query: []config.QueryMatch{{Key: "version", Value: "2"}, {Value: "any*key"}}}, Action: fixed("query")},
			{Priority: 60, Conditions: config.Conditions{SourceIP: []string{"10.0.0.0/8", "192.0.2.0/24"}}, Action: fixed("source-10")},
			{Priority: 70, Conditions: config.Conditions{SourceIP: []string{"127.0.0.0/8"}, Path: []string{"/src"}}, Action: fixed("source-127")},
		},
		DefaultAction: fwd("web"),
	}
	return lc, []config.TargetGroup{group("web", be)}
}

func TestRuleConditionsScenario(t *testing.T) {
	be := newBackend(t, "default", nil)
	lc, groups := rulesListener(be.addr())
	h := startLB(t, lbSetup{listener: lc, groups: groups})

	cases := []struct {
		name, method, path, host string
		hdr                      []string
		want                     string
		prio                     int
	}{
		{"host wildcard, case-insensitive, port ignored", "GET", "/", "WWW.Example.ORG:8080", nil, "host", 10},
		{"host ? wildcard", "GET", "/", "api.example.com", nil, "host", 10},
		{"host AND path beats lower rule", "GET", "/both/x", "a.example.org", nil, "host-and-path", 5},
		{"*.example.org does not match example.org", "GET", "/", "example.org", nil, "default", 0},
		{"path wildcard crosses /", "GET", "/img/a/b.jpg", "x.test", nil, "path", 20},
		{"path is case-sensitive", "GET", "/IMG/a", "x.test", nil, "default", 0},
		{"path excludes query", "GET", "/exact?img=/img/x", "x.test", nil, "path", 20},
		{"method OR", "PATCH", "/", "x.test", nil, "method", 30},
		{"method is case-sensitive", "delete", "/", "x.test", nil, "default", 0},
		{"header name and value case-insensitive", "GET", "/", "x.test", []string{"x-env", "CANARY"}, "header", 40},
		{"header value wildcard", "GET", "/", "x.test", []string{"X-Env", "beta-7"}, "header", 40},
		{"repeated header: any occurrence", "GET", "/", "x.test", []string{"X-Env", "prod", "X-Env", "canary"}, "header", 40},
		{"header mismatch", "GET", "/", "x.test", []string{"X-Env", "prod"}, "default", 0},
		{"query key/value", "GET", "/q?a=1&version=2", "x.test", nil, "query", 50},
		{"query value under any key, decoded", "GET", "/q?z=any%20key", "x.test", nil, "query", 50},
		{"query mismatch", "GET", "/q?version=3", "x.test", nil, "default", 0},
		{"source_ip is the TCP peer", "GET", "/src", "x.test", nil, "source-127", 70},
		{"source_ip ignores X-Forwarded-For", "GET", "/nosrc", "x.test", []string{"X-Forwarded-For", "10.1.2.3"}, "default", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := be.count()
			req, _ := http.NewRequest(c.method, h.url(c.path), nil)
			req.Host = c.host
			for i := 0; i+1 < len(c.hdr); i += 2 {
				req.Header.Add(c.hdr[i], c.hdr[i+1])
			}
			st, _, body := h.do(req)
			if st != 200 || body != c.want {
				t.Fatalf("got %d %q, want 200 %q", st, body, c.want)
			}
			forwarded := be.count() - before
			if (c.want == "default") != (forwarded == 1) {
				t.Fatalf("backend received %d requests; want forwarding only for the default action", forwarded)
			}
			if rec := h.obs.last(t); rec.RulePriority != c.prio {
				t.Fatalf("record priority %d, want %d", rec.RulePriority, c.prio)
			}
		})
	}
}

func TestRouterMatchUnit(t *testing.T) {
	lc, _ := rulesListener("127.0.0.1:1")
	lc.DefaultAction = fixed("default")
	r, err := NewRouter(lc, nil, RouterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v := &RequestView{Method: []byte("GET"), Host: []byte("x.test"), Path: []byte("/"),
		Client: netip.MustParseAddrPort("10.9.8.7:1234")}
	if got := r.Match(v).Priority; got != 60 {
		t.Fatalf("source 10.9.8.7 matched %d, want 60", got)
	}
	v.Client = netip.MustParseAddrPort("[::ffff:192.0.2.5]:1")
	if got := r.Match(v).Priority; got != 60 {
		t.Fatalf("v4-mapped source matched %d, want 60", got)
	}
	v.Client = netip.MustParseAddrPort("[2001:db8::1]:1")
	if got := r.Match(v).Priority; got != 0 {
		t.Fatalf("v6 source matched %d, want default", got)
	}
}

func TestNewRouterRejectsBadConfig(t *testing.T) {
	five := 5
	big := 1000
	bad := []struct {
		name string
		lc   config.Listener
	}{
		{"priority 0", config.Listener{Rules: []config.Rule{{Priority: 0, Conditions: config.Conditions{Path: []string{"/"}}, Action: fixed("x")}}, DefaultAction: fixed("d")}},
		{"priority 50001", config.Listener{Rules: []config.Rule{{Priority: 50001, Conditions: config.Conditions{Path: []string{"/"}}, Action: fixed("x")}}, DefaultAction: fixed("d")}},
		{"duplicate priority", config.Listener{Rules: []config.Rule{
			{Priority: 1, Conditions: config.Conditions{Path: []string{"/a"}}, Action: fixed("x")},
			{Priority: 1, Conditions: config.Conditions{Path: []string{"/b"}}, Action: fixed("x")}}, DefaultAction: fixed("d")}},
		{"no conditions", config.Listener{Rules: []config.Rule{{Priority: 1, Action: fixed("x")}}, DefaultAction: fixed("d")}},
		{"bad cidr", config.Listener{Rules: []config.Rule{{Priority: 1, Conditions: config.Conditions{SourceIP: []string{"10.0.0.0/33"}}, Action: fixed("x")}}, DefaultAction: fixed("d")}},
		{"bad host char", config.Listener{Rules: []config.Rule{{Priority: 1, Conditions: config.Conditions{Host: []string{"a_b.com"}}, Action: fixed("x")}}, DefaultAction: fixed("d")}},
		{"lowercase method", config.Listener{Rules: []config.Rule{{Priority: 1, Conditions: config.Conditions{Method: []string{"get"}}, Action: fixed("x")}}, DefaultAction: fixed("d")}},
		{"unknown group", config.Listener{DefaultAction: fwd("nope")}},
		{"weight out of range", config.Listener{DefaultAction: config.Action{Forward: &config.Forward{TargetGroups: []config.WeightedGroup{{Name: "a", Weight: &big}}}}}},
		{"six groups", config.Listener{DefaultAction: config.Action{Forward: &config.Forward{TargetGroups: []config.WeightedGroup{
			{Name: "a", Weight: &five}, {Name: "a", Weight: &five}, {Name: "a", Weight: &five}, {Name: "a", Weight: &five}, {Name: "a", Weight: &five}, {Name: "a", Weight: &five}}}}}},
		{"fixed body too long", config.Listener{DefaultAction: config.Action{FixedResponse: &config.FixedResponse{Status: 200, Body: string(make([]byte, 1025))}}}},
		{"fixed 3xx", config.Listener{DefaultAction: config.Action{FixedResponse: &config.FixedResponse{Status: 302}}}},
		{"redirect loop", config.Listener{DefaultAction: config.Action{Redirect: &config.Redirect{Status: 301}}}},
		{"redirect 307", config.Listener{DefaultAction: config.Action{Redirect: &config.Redirect{Protocol: "HTTPS", Status: 307}}}},
		{"two actions", config.Listener{DefaultAction: config.Action{FixedResponse: &config.FixedResponse{Status: 200}, Redirect: &config.Redirect{Protocol: "HTTPS", Status: 301}}}},
		{"bad xff mode", config.Listener{XFF: "keep", DefaultAction: fixed("d")}},
		{"bad desync mode", config.Listener{DesyncMitigation: "lax", DefaultAction: fixed("d")}},
	}
	groups := map[string]*TargetGroup{"a": {name: "a"}}
	for _, c := range bad {
		if _, err := NewRouter(c.lc, groups, RouterOptions{}); err == nil {
			t.Errorf("%s: NewRouter accepted it", c.name)
		}
	}
}

func TestPatternMatch(t *testing.T) {
	cases := []struct {
		pat, s string
		fold   bool
		want   bool
	}{
		{"*.example.com", "a.b.example.com", true, true},
		{"*.example.com", "example.com", true, false},
		{"a?c", "abc", false, true},
		{"a?c", "ac", false, false},
		{"/a*b*c", "/axxbyyc", false, true},
		{"/a*b*c", "/axxbyy", false, false},
		{"*", "", false, true},
		{"ABC", "abc", true, true},
		{"ABC", "abc", false, false},
	}
	for _, c := range cases {
		p, _, err := compilePattern(c.pat, c.fold, false)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.match([]byte(c.s)); got != c.want {
			t.Errorf("%q ~ %q = %v, want %v", c.pat, c.s, got, c.want)
		}
	}
	p, _, _ := compilePattern(`a\*b`, true, true)
	if !p.match([]byte("a*b")) || p.match([]byte("axb")) {
		t.Error(`escaped \* must be literal`)
	}
}

func TestRuleMatchAllocatesNothing(t *testing.T) {
	lc, _ := rulesListener("127.0.0.1:1")
	lc.DefaultAction = fixed("default")
	r, err := NewRouter(lc, nil, RouterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v := &RequestView{
		Method:     []byte("GET"),
		Host:       []byte("www.other.test"),
		Path:       []byte("/some/long/path/that/matches/nothing"),
		RawQuery:   []byte("a=1&b=2&z=any%20thing"),
		RawHeaders: []byte("Host: www.other.test\r\nX-Env: prod\r\nUser-Agent: test\r\nAccept: */*\r\n"),
		Client:     netip.MustParseAddrPort("127.0.0.1:5555"),
	}
	allocs := testing.AllocsPerRun(1000, func() {
		if r.Match(v).Priority != 0 {
			t.Fatal("unexpected match")
		}
	})
	if allocs != 0 {
		t.Fatalf("Router.Match allocates %.1f times per request", allocs)
	}
}

func BenchmarkRuleMatch(b *testing.B) {
	lc, _ := rulesListener("127.0.0.1:1")
	lc.DefaultAction = fixed("default")
	r, _ := NewRouter(lc, nil, RouterOptions{})
	v := &RequestView{
		Method: []byte("GET"), Host: []byte("www.other.test"), Path: []byte("/some/path"),
		RawQuery: []byte("a=1&b=2"), RawHeaders: []byte("Host: www.other.test\r\nX-Env: prod\r\nAccept: */*\r\n"),
		Client: netip.MustParseAddrPort("127.0.0.1:5555"),
	}
	b.ReportAllocs()
	for b.Loop() {
		r.Match(v)
	}
}

// The whole front half of a request — view, desync classification, XFF
// count, rule match, a fixed response and the record — allocates nothing.
func TestServeFixedResponseAllocatesNothing(t *testing.T) {
	if raceOn {
		t.Skip("allocation counts of sync.Pool paths are random under -race; run without -race")
	}
	lc, _ := rulesListener("127.0.0.1:1")
	lc.Name = "web"
	lc.DefaultAction = fixed("default")
	r, err := NewRouter(lc, nil, RouterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewServer(r, ServerOptions{Listener: lc, Observer: nopObserver{}})
	if err != nil {
		t.Fatal(err)
	}
	var req fasthttp.Request
	raw := "GET /img/a.png?x=1 HTTP/1.1\r\nHost: www.example.test\r\nUser-Agent: t\r\nX-Forwarded-For: 203.0.113.1\r\nX-Env: prod\r\n\r\n"
	if err := req.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
		t.Fatal(err)
	}
	var ctx fasthttp.RequestCtx
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5555}, nil)
	run := func() {
		ctx.Response.Reset()
		s.handle(&ctx)
		if ctx.Response.StatusCode() != 200 || string(ctx.Response.Body()) != "path" {
			t.Fatalf("got %d %q", ctx.Response.StatusCode(), ctx.Response.Body())
		}
	}
	run()
	if allocs := testing.AllocsPerRun(500, run); allocs != 0 {
		t.Fatalf("serving a fixed response allocates %.1f per request", allocs)
	}
}
