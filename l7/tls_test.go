package l7

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/switchyard/switchyard/config"
)

// An HTTPS listener (TLS terminated by the caller's listener wrapper, as
// cmd/lb does) reports the TLS facts, sends X-Forwarded-Proto: https, and
// redirects never leave https.
func TestHTTPSListenerFacts(t *testing.T) {
	be := newBackend(t, "a", nil)
	certSrv := httptest.NewUnstartedServer(nil) // only for its test certificate
	certSrv.StartTLS()
	cert := certSrv.TLS.Certificates[0]
	certSrv.Close()

	lc := config.Listener{Name: "secure", Protocol: "HTTPS", DefaultAction: fwd("web"), Rules: []config.Rule{
		{Priority: 1, Conditions: config.Conditions{Path: []string{"/r"}}, Action: config.Action{Redirect: &config.Redirect{Protocol: "HTTP", Host: "other.test", Status: 302}}}}}
	reg := startLBWithListener(t, lc, []config.TargetGroup{group("web", be.addr())}, func(ln net.Listener) net.Listener {
		return tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	})
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true, ServerName: "app.example.com"}}, //nolint:gosec // test
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	defer hc.CloseIdleConnections()
	resp, err := hc.Get("https://" + reg.addr + "/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := be.received()[0].Header.Get("X-Forwarded-Proto"); got != "https" {
		t.Fatalf("X-Forwarded-Proto %q", got)
	}
	rec := reg.obs.last(t)
	if rec.Type != "https" || rec.Scheme != "https" || rec.TLSProtocol != "TLSv1.3" || rec.TLSCipher == "" || rec.ServerName != "app.example.com" {
		t.Fatalf("record TLS facts: type %q scheme %q proto %q cipher %q sni %q", rec.Type, rec.Scheme, rec.TLSProtocol, rec.TLSCipher, rec.ServerName)
	}
	resp, err = hc.Get("https://" + reg.addr + "/r")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); len(loc) < 8 || loc[:8] != "https://" {
		t.Fatalf("HTTPS listener redirected to %q", loc)
	}
}
