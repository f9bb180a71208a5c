package tls_test

import (
	"context"
	"log/slog"
	"net"
	"time"

	"github.com/switchyard/switchyard/config"
	tlsx "github.com/switchyard/switchyard/tls"
)

// Example shows how cmd/lb wires an HTTPS listener with static and ACME
// certificates (compiled, not run: it needs real files and a CA).
func Example() {
	l := config.Listener{
		Name: "secure", Protocol: "HTTPS", Address: "127.0.0.1:8443",
		SSLPolicy:    "ELBSecurityPolicy-TLS13-1-2-2021-06",
		Certificates: []config.Certificate{{Cert: "certs/a.pem", Key: "certs/a-key.pem"}},
		ACME: &config.ACME{Directory: "https://127.0.0.1:14000/dir", Domains: []string{"app.example.com"},
			CacheDir: "/var/lib/lb/acme/secure", CARoots: "certs/pebble-root.pem"},
	}
	ctx := context.Background()

	opts := tlsx.Options{Listener: l.Name, Policy: l.SSLPolicy, NextProtos: []string{"http/1.1"}, Logger: slog.Default()}
	if l.ACME != nil {
		m, err := tlsx.NewACMEManager(tlsx.FromACMEConfig(l.Name, l.ACME))
		if err != nil {
			return
		}
		go m.Run(ctx) // issues and renews; HTTP listeners call m.HTTP01ResponseBytes(path) first
		opts.ACME = m
	}
	store, err := tlsx.NewStore(tlsx.FromConfig(l.Certificates), opts)
	if err != nil {
		return
	}
	raw, err := net.Listen("tcp", l.Address)
	if err != nil {
		return
	}
	ln := store.Listener(raw) // hand ln to the HTTP server
	defer ln.Close()

	// Per request, for the access log: tlsx.Facts(conn) → Cipher, Protocol, DomainName, ChosenCert.
	// Admin API: store.Certificates(); metrics: store.ExpiryDays(time.Now(), setGauge).
	store.ExpiryDays(time.Now(), func(id string, days float64) {})

	// SIGHUP: same Options, new files; open connections are unaffected.
	_ = store.Reload(tlsx.FromConfig(l.Certificates), opts)
}
