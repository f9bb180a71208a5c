package tls

import (
	"crypto/tls"
	"testing"
)

// TestALPNPolicies checks NLB's ALPN policies: the policy's order decides,
// and a client offering none of the policy's protocols gets no ALPN rather
// than a failed handshake.
func TestALPNPolicies(t *testing.T) {
	ca := newTestCA(t)
	cert := ca.src(t, "c", "p256", "lb.test")
	cases := []struct {
		policy string
		client []string
		want   string
	}{
		{"", []string{"h2", "http/1.1"}, ""},
		{ALPNNone, []string{"h2"}, ""},
		{ALPNHTTP1Only, []string{"h2", "http/1.1"}, "http/1.1"},
		{ALPNHTTP1Only, []string{"h2"}, ""},
		{ALPNHTTP2Only, []string{"http/1.1", "h2"}, "h2"},
		{ALPNHTTP2Only, []string{"http/1.1"}, ""},
		{ALPNHTTP2Optional, []string{"h2", "http/1.1"}, "http/1.1"},
		{ALPNHTTP2Optional, []string{"h2"}, "h2"},
		{ALPNHTTP2Preferred, []string{"http/1.1", "h2"}, "h2"},
		{ALPNHTTP2Preferred, []string{"http/1.0"}, "http/1.0"},
		{ALPNHTTP2Preferred, []string{"foo"}, ""},
		{ALPNHTTP2Preferred, nil, ""},
	}
	stores := map[string]string{}
	for _, c := range cases {
		addr, ok := stores[c.policy]
		if !ok {
			s, err := NewStore([]CertSource{cert}, Options{ALPNPolicy: c.policy, Logger: quietLogger()})
			if err != nil {
				t.Fatal(err)
			}
			addr = serveTLS(t, s)
			stores[c.policy] = addr
		}
		h, err := handshake(addr, &tls.Config{ServerName: "lb.test", NextProtos: c.client})
		if err != nil {
			t.Errorf("%s with %v: %v", c.policy, c.client, err)
			continue
		}
		h.conn.Close()
		if h.state.NegotiatedProtocol != c.want {
			t.Errorf("%s with %v: negotiated %q, want %q", c.policy, c.client, h.state.NegotiatedProtocol, c.want)
		}
	}
	if _, err := NewStore([]CertSource{cert}, Options{ALPNPolicy: "HTTP3Only"}); err == nil {
		t.Error("unknown ALPN policy accepted")
	}
	// NextProtos, as an HTTPS listener sets it, overrides the ALPN policy.
	s, err := NewStore([]CertSource{cert}, Options{ALPNPolicy: ALPNHTTP2Only, NextProtos: []string{"http/1.1"}, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	h, err := handshake(serveTLS(t, s), &tls.Config{ServerName: "lb.test", NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	h.conn.Close()
	if h.state.NegotiatedProtocol != "http/1.1" {
		t.Errorf("HTTPS listener negotiated %q", h.state.NegotiatedProtocol)
	}
}
