package l7

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/internal/runtime"
)

func TestShutdownDrainsInFlightRequest(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	be := newBackend(t, "slow", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			started <- struct{}{}
			<-release
		}
		io.WriteString(w, "done")
	})
	h := startLB(t, lbSetup{listener: config.Listener{Protocol: "HTTP", DefaultAction: fwd("web")},
		groups: []config.TargetGroup{group("web", be.addr())}})

	// A keep-alive connection that is idle when the drain starts, and a
	// slow request in flight.
	if st, _, _ := h.get("/warm"); st != 200 {
		t.Fatal("warm-up failed")
	}
	type result struct {
		st   int
		body string
		err  error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := http.Get(h.url("/slow"))
		if err != nil {
			res <- result{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		res <- result{st: resp.StatusCode, body: string(b)}
	}()
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("slow request never reached the backend")
	}
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if h.sock != nil {
			// The loops accept on a runtime.Socket: closing it is what
			// refuses new connections (cmd/lb closes it, then drains).
			h.sock.Close()
		}
		shut <- h.srv.Shutdown(ctx)
	}()
	// Shutdown waits for the slow request.
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned (%v) with a request in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	r := <-res
	if r.err != nil || r.st != 200 || r.body != "done" {
		t.Fatalf("in-flight request: %d %q %v", r.st, r.body, r.err)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if _, err := (&http.Client{Timeout: 3 * time.Second}).Get(h.url("/after")); err == nil {
		t.Fatal("listener still accepting after Shutdown")
	}
}

func TestDrainingAnswersConnectionClose(t *testing.T) {
	be := newBackend(t, "a", nil)
	h := startLB(t, lbSetup{listener: config.Listener{Protocol: "HTTP", DefaultAction: fwd("web")},
		groups: []config.TargetGroup{group("web", be.addr())}})
	resp, err := h.hc.Get(h.url("/"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Close {
		t.Fatal("Connection: close before draining")
	}
	h.srv.StartDrain()
	resp, err = h.hc.Get(h.url("/"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !resp.Close {
		t.Fatal("no Connection: close while draining")
	}
}

func TestSetRouterSwapsAtomically(t *testing.T) {
	a := newBackend(t, "a", nil)
	h := startLB(t, lbSetup{listener: config.Listener{Protocol: "HTTP", DefaultAction: fwd("web")},
		groups: []config.TargetGroup{group("web", a.addr())}})
	if _, _, body := h.get("/"); body != "a" {
		t.Fatalf("before swap: %q", body)
	}
	r2, err := NewRouter(config.Listener{Name: "web", Protocol: "HTTP", DefaultAction: fixed("v2")}, nil, RouterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h.srv.SetRouter(r2)
	if _, _, body := h.get("/"); body != "v2" {
		t.Fatalf("after swap: %q", body)
	}
	if a.count() != 1 {
		t.Fatalf("backend got %d", a.count())
	}
}

func TestClientKeepAliveLimit(t *testing.T) {
	be := newBackend(t, "a", nil)
	for _, c := range []struct {
		limit     time.Duration
		wantClose bool
	}{{0, false}, {time.Nanosecond, true}} {
		h := startLB(t, lbSetup{listener: config.Listener{Protocol: "HTTP", DefaultAction: fwd("web")},
			groups: []config.TargetGroup{group("web", be.addr())}, server: ServerOptions{ClientKeepAlive: c.limit}})
		resp, err := h.hc.Get(h.url("/"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Close != c.wantClose {
			t.Fatalf("client_keep_alive %v: Connection: close = %v", c.limit, resp.Close)
		}
	}
}

// Shutdown before Serve has got going (a test or a reload that ends a
// server at once) still ends Serve: fasthttp's own Serve, called after
// its Shutdown, would accept forever.
func TestShutdownBeforeServeEndsServe(t *testing.T) {
	for _, direct := range []bool{false, true} {
		be := newBackend(t, "a", nil)
		h := startLB(t, lbSetup{listener: config.Listener{Protocol: "HTTP", DefaultAction: fwd("web")},
			groups: []config.TargetGroup{group("web", be.addr())}})
		srv, err := NewServer(h.srv.Router(), ServerOptions{Listener: config.Listener{Name: "x", Protocol: "HTTP"}, EventLoop: true})
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var served net.Listener = ln
		if direct {
			sock := runtime.NewSocket("x", ln, &connCount{})
			t.Cleanup(sock.Close)
			served = sock.Direct()
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = srv.Shutdown(ctx)
		cancel()
		done := make(chan error, 1)
		go func() { done <- srv.Serve(served) }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("direct=%v: Serve after Shutdown: %v", direct, err)
			}
		case <-time.After(3 * time.Second):
			t.Fatalf("direct=%v: Serve still running 3 s after Shutdown", direct)
		}
		ln.Close()
	}
}
