// Package tls terminates TLS for lb and edge listeners the way ALB and NLB
// do: a per-listener certificate Store with ALB's SNI selection rules, the
// ALB security policies mapped onto crypto/tls, NLB ALPN policies, ACME
// certificates (x/crypto/acme) with renewal, hot swap on reload, and the
// TLS facts the access log and admin API show.
//
// It does not accept connections or speak HTTP: l7 and l4 own their
// listeners and call in here for the *crypto/tls.Config, for the HTTP-01
// challenge answers, and for per-connection log fields. It does no mTLS and
// no DNS-01 (so no wildcard ACME names).
//
// Use (importers alias the package, it shares crypto/tls's name):
//
//	store, err := tlsx.NewStore(tlsx.FromConfig(l.Certificates), tlsx.Options{
//		Listener: l.Name, Policy: l.SSLPolicy, NextProtos: []string{"http/1.1"}})
//	ln = store.Listener(ln)             // or tls.NewListener(ln, store.TLSConfig())
//	f := tlsx.Facts(conn)               // f.Cipher, f.Protocol, f.DomainName, f.ChosenCert
//	err = store.Reload(tlsx.FromConfig(newCerts), opts) // SIGHUP: new handshakes only
//
// Selection is compiled once per snapshot (exact-name and wildcard-suffix
// maps, each list ranked ECDSA > RSA, larger key, later expiry) and takes no
// lock and allocates nothing per handshake.
package tls
