package tls

import (
	"crypto/tls"
	"net"
)

// ConnFacts are the TLS fields of an ALB access-log entry. Every field is
// "-" when unknown, as ALB logs it.
type ConnFacts struct {
	Cipher     string // OpenSSL name: ECDHE-RSA-AES128-GCM-SHA256, TLS_AES_128_GCM_SHA256
	Protocol   string // TLSv1.2
	DomainName string // the SNI the client sent
	ChosenCert string // the certificate id; "session-reused" on resumption
}

var noFacts = ConnFacts{Cipher: "-", Protocol: "-", DomainName: "-", ChosenCert: "-"}

// StateFacts maps a connection state to log fields. ChosenCert is "-"
// unless the handshake resumed a session; use Facts with the connection to
// get the certificate id.
func StateFacts(cs *tls.ConnectionState) ConnFacts {
	if cs == nil || !cs.HandshakeComplete {
		return noFacts
	}
	f := ConnFacts{
		Cipher:     CipherName(cs.CipherSuite),
		Protocol:   ProtocolName(cs.Version),
		DomainName: cs.ServerName,
		ChosenCert: "-",
	}
	if f.DomainName == "" {
		f.DomainName = "-"
	}
	if cs.DidResume {
		f.ChosenCert = "session-reused"
	}
	return f
}

// Facts returns the log fields of c: all "-" unless c is a *tls.Conn whose
// handshake completed. The chosen certificate is known when the connection
// came from Store.Listener or Store.Server.
func Facts(c net.Conn) ConnFacts {
	tc, ok := c.(*tls.Conn)
	if !ok {
		return noFacts
	}
	cs := tc.ConnectionState()
	f := StateFacts(&cs)
	if f.ChosenCert != "-" || !cs.HandshakeComplete {
		return f
	}
	if t, ok := tc.NetConn().(*trackedConn); ok {
		if e := t.chosen.Load(); e != nil {
			f.ChosenCert = e.id
		}
	}
	return f
}
