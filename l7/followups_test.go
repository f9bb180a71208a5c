package l7

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/internal/runtime"
)

// ACME HTTP-01 challenges are answered before any rule, even a rule that
// matches the path; unknown tokens go through the rules as usual.
func TestHTTP01AnsweredBeforeRules(t *testing.T) {
	be := newBackend(t, "a", nil)
	var (
		mu    sync.Mutex
		asked [][]byte
	)
	lc := config.Listener{Protocol: "HTTP", DefaultAction: fwd("web"), Rules: []config.Rule{
		{Priority: 1, Conditions: config.Conditions{Path: []string{"/.well-known/*"}}, Action: fixed("rule")}}}
	h := startLB(t, lbSetup{listener: lc, groups: []config.TargetGroup{group("web", be.addr())},
		server: ServerOptions{HTTP01: func(p []byte) ([]byte, bool) {
			mu.Lock()
			asked = append(asked, append([]byte(nil), p...))
			mu.Unlock()
			if string(p) == "/.well-known/acme-challenge/tok1" {
				return []byte("tok1.thumbprint"), true
			}
			return nil, false
		}}})
	st, hdr, body := h.get("/.well-known/acme-challenge/tok1")
	if st != 200 || body != "tok1.thumbprint" || hdr.Get("Content-Type") != "text/plain" {
		t.Fatalf("challenge: %d %q %q", st, hdr.Get("Content-Type"), body)
	}
	if rec := h.obs.last(t); rec.Status != 200 || rec.Actions != 0 || rec.RulePriority != -1 {
		t.Fatalf("challenge record: status %d actions %v priority %d", rec.Status, rec.Actions, rec.RulePriority)
	}
	if st, _, body := h.get("/.well-known/acme-challenge/unknown"); st != 200 || body != "rule" {
		t.Fatalf("unknown token: %d %q, want the rule's answer", st, body)
	}
	if st, _, body := h.get("/other"); st != 200 || body != "a" {
		t.Fatalf("other path: %d %q", st, body)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(asked) != 2 {
		t.Fatalf("HTTP01 asked %d times (%q), want 2 (challenge paths only)", len(asked), asked)
	}
	if n := be.count(); n != 1 {
		t.Fatalf("backend got %d requests, want 1 (only /other)", n)
	}
}

// A TLSFacts func passing tlsx.Facts through ("-" for unknown) is read
// with "" for unknown, and the chosen certificate reaches the record.
func TestTLSFactsNormalisedAndChosenCert(t *testing.T) {
	be := newBackend(t, "a", nil)
	certSrv := httptest.NewUnstartedServer(nil)
	certSrv.StartTLS()
	cert := certSrv.TLS.Certificates[0]
	certSrv.Close()
	lc := config.Listener{Name: "secure", Protocol: "HTTPS", DefaultAction: fwd("web")}
	h := startLB(t, lbSetup{listener: lc, groups: []config.TargetGroup{group("web", be.addr())},
		wrap: func(ln net.Listener) net.Listener {
			return tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		},
		server: ServerOptions{TLSFacts: func(c net.Conn) TLSFacts {
			if _, ok := c.(*tls.Conn); !ok {
				return TLSFacts{Version: "-", Cipher: "-", ServerName: "-", ChosenCert: "-"}
			}
			return TLSFacts{Version: "TLSv1.3", Cipher: "TLS_AES_128_GCM_SHA256", ServerName: "-", ChosenCert: "arn:cert/one"}
		}}})
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // test
	defer hc.CloseIdleConnections()
	resp, err := hc.Get("https://" + h.addr + "/x")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	rec := h.obs.last(t)
	if rec.Scheme != "https" || rec.ChosenCert != "arn:cert/one" || rec.ServerName != "" || rec.TLSProtocol != "TLSv1.3" {
		t.Fatalf("record: scheme %q cert %q sni %q proto %q", rec.Scheme, rec.ChosenCert, rec.ServerName, rec.TLSProtocol)
	}
	if got := be.received()[0].Header.Get("X-Forwarded-Proto"); got != "https" {
		t.Fatalf("X-Forwarded-Proto %q", got)
	}
	f := TLSFacts{Version: "-", Cipher: "-", ServerName: "-", ChosenCert: "-"}.normalized()
	if f != (TLSFacts{}) {
		t.Fatalf("normalized %+v", f)
	}
}

// A request still waiting for its response headers when the target's
// deregistration delay ends gets 502 at once (not the target's late answer,
// not a retry elsewhere); one that finishes within the delay gets its answer.
func TestDeregistrationDelayEndCutsWaitingRequest(t *testing.T) {
	arrived := make(chan struct{}, 4)
	release := make(chan struct{})
	slow := func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-release:
		case <-time.After(8 * time.Second):
		}
		_, _ = io.WriteString(w, "late")
	}
	a := newBackend(t, "a", slow)
	b := newBackend(t, "b", nil)
	h := startLB(t, lbSetup{listener: config.Listener{Protocol: "HTTP", DefaultAction: fwd("web")},
		groups:    []config.TargetGroup{group("web", a.addr())},
		transport: TransportOptions{ResponseTimeout: 20 * time.Second}})
	defer close(release)

	type result struct {
		status int
		body   string
		err    error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := h.hc.Get(h.url("/wait"))
		if err != nil {
			got <- result{err: err}
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- result{status: resp.StatusCode, body: string(body)}
	}()
	select {
	case <-arrived:
	case <-time.After(5 * time.Second):
		t.Fatal("request never reached the target")
	}
	// Another target joins, then a leaves with no delay left: the waiting
	// request must not be replayed on b.
	g := h.reg.Lookup("web")
	g.Register([]runtime.TargetSpec{{Addr: b.addr()}})
	start := time.Now()
	g.Deregister([]string{a.addr()}, 0)
	var r result
	select {
	case r = <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("no answer 5 s after the deregistration delay ended")
	}
	if r.err != nil || r.status != 502 || bytes.Contains([]byte(r.body), []byte("late")) {
		t.Fatalf("client got %d %q %v, want 502", r.status, r.body, r.err)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Fatalf("502 took %v", el)
	}
	rec := waitRecord(t, h.obs, func(r Record) bool { return r.Status == 502 })
	if rec.ErrorReason != ReasonDeregistered || rec.Retried || rec.Target != a.addr() {
		t.Fatalf("record: reason %q retried %v target %q", rec.ErrorReason, rec.Retried, rec.Target)
	}
	if a.count() != 1 || b.count() != 0 {
		t.Fatalf("targets got a=%d b=%d, want 1 and 0", a.count(), b.count())
	}
	// The group still serves through b.
	if st, _, body := h.get("/after"); st != 200 || body != "b" {
		t.Fatalf("after: %d %q", st, body)
	}
}

// A request on a draining target whose answer comes before the delay ends
// is answered normally.
func TestDrainingTargetFinishesWithinDelay(t *testing.T) {
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	a := newBackend(t, "a", func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-release:
		case <-time.After(8 * time.Second):
		}
		_, _ = io.WriteString(w, "done")
	})
	h := startLB(t, lbSetup{listener: config.Listener{Protocol: "HTTP", DefaultAction: fwd("web")},
		groups: []config.TargetGroup{group("web", a.addr())}})
	got := make(chan string, 1)
	go func() {
		resp, err := h.hc.Get(h.url("/"))
		if err != nil {
			got <- err.Error()
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- http.StatusText(resp.StatusCode) + " " + string(body)
	}()
	select {
	case <-arrived:
	case <-time.After(5 * time.Second):
		t.Fatal("request never reached the target")
	}
	h.reg.Lookup("web").Deregister([]string{a.addr()}, time.Minute)
	close(release)
	select {
	case s := <-got:
		if s != "OK done" {
			t.Fatalf("client got %q", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no answer")
	}
}
