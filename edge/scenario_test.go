package edge

import (
	"strings"
	"testing"
	"time"
)

func TestHitMissAgeVia(t *testing.T) {
	o := newOrigin(t, reply(200, "hello", "Cache-Control", "max-age=60", "Content-Type", "text/plain"))
	te := startEdge(t, siteYAML(o.URL, ""), edgeOpt{})
	a := te.get(t, "/a")
	wantStatus(t, a, 200, "Miss from edge")
	if a.Body != "hello" || !strings.HasSuffix(a.Header.Get("Via"), ".edge (Switchyard)") || len(a.Header.Get("X-Edge-Request-Id")) != 56 {
		t.Fatalf("miss answer: %+v", a)
	}
	te.wait()
	te.clk.Advance(10 * time.Second)
	a = te.get(t, "/a")
	wantStatus(t, a, 200, "Hit from edge")
	if a.Body != "hello" || a.Header.Get("Age") != "10" {
		t.Fatalf("hit answer: body %q Age %q", a.Body, a.Header.Get("Age"))
	}
	if o.Hits() != 1 {
		t.Fatalf("origin saw %d requests, want 1", o.Hits())
	}
	// Past max-age: the origin is asked again.
	te.clk.Advance(60 * time.Second)
	a = te.get(t, "/a")
	wantStatus(t, a, 200, "Miss from edge")
	if o.Hits() != 2 {
		t.Fatalf("origin saw %d requests, want 2", o.Hits())
	}
	l := o.last()
	if l.Header.Get("X-Forwarded-For") != "127.0.0.1" || !strings.HasSuffix(l.Header.Get("Via"), "(Switchyard)") || l.Host != o.Addr {
		t.Fatalf("origin request: %+v", l)
	}
}
