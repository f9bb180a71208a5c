package tls

import "fmt"

// ALPN policy names of NLB TLS listeners (elb.md §4.3).
const (
	ALPNNone           = "None"
	ALPNHTTP1Only      = "HTTP1Only"
	ALPNHTTP2Only      = "HTTP2Only"
	ALPNHTTP2Optional  = "HTTP2Optional"
	ALPNHTTP2Preferred = "HTTP2Preferred"
)

// ALPNPolicyNames lists the accepted alpn_policy values.
func ALPNPolicyNames() []string {
	return []string{ALPNNone, ALPNHTTP1Only, ALPNHTTP2Only, ALPNHTTP2Optional, ALPNHTTP2Preferred}
}

// NextProtos returns the server preference list of an NLB ALPN policy; ""
// means None, which returns nil (no ALPN). crypto/tls picks by the server's
// order, which is what NLB does; a Store built with the list also turns
// ALPN off (instead of failing the handshake) when the client offers none
// of the policy's protocols.
func NextProtos(policy string) ([]string, error) {
	switch policy {
	case "", ALPNNone:
		return nil, nil
	case ALPNHTTP1Only:
		return []string{"http/1.1", "http/1.0"}, nil
	case ALPNHTTP2Only:
		return []string{"h2"}, nil
	case ALPNHTTP2Optional:
		return []string{"http/1.1", "http/1.0", "h2"}, nil
	case ALPNHTTP2Preferred:
		return []string{"h2", "http/1.1", "http/1.0"}, nil
	}
	return nil, fmt.Errorf("tls: alpn policy %q: unknown (want one of %v)", policy, ALPNPolicyNames())
}
