package runtime_test

import (
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/runtime"
)

type counter struct{ open, closed atomic.Int64 }

func (c *counter) ConnOpened() { c.open.Add(1) }
func (c *counter) ConnClosed() { c.closed.Add(1) }

// TestSocketHandoff: a server replaced on the same Socket stops getting
// connections, the next one gets them, and no connect is refused between;
// closing the Socket refuses new connections.
func TestSocketHandoff(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var c1, c2 counter
	s := runtime.NewSocket("web", ln, &c1)
	defer s.Close()
	if s.Key() != "web" || s.Addr() != ln.Addr().String() {
		t.Fatalf("key %q addr %q", s.Key(), s.Addr())
	}

	serveOne := func(h *runtime.Handoff, reply string) <-chan error {
		errc := make(chan error, 1)
		go func() {
			c, err := h.Accept()
			if err != nil {
				errc <- err
				return
			}
			_, err = io.WriteString(c, reply)
			c.Close()
			errc <- err
		}()
		return errc
	}
	read := func() string {
		t.Helper()
		c, err := net.DialTimeout("tcp", s.Addr(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		b, err := io.ReadAll(c)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	h1 := s.Handoff()
	errc := serveOne(h1, "one")
	if got := read(); got != "one" {
		t.Fatalf("first server sent %q", got)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	h1.Close()
	if _, err := h1.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v", err)
	}
	if h1.Addr().String() != s.Addr() {
		t.Fatalf("handoff addr %v", h1.Addr())
	}

	s.SetCounter(&c2)
	errc = serveOne(s.Handoff(), "two")
	if got := read(); got != "two" {
		t.Fatalf("second server sent %q", got)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if c1.open.Load() != 1 || c1.closed.Load() != 1 || c2.open.Load() != 1 || c2.closed.Load() != 1 {
		t.Fatalf("counts: first %d/%d second %d/%d, want 1/1 each", c1.open.Load(), c1.closed.Load(), c2.open.Load(), c2.closed.Load())
	}

	h3 := s.Handoff()
	s.Close()
	if _, err := h3.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Socket.Close: %v", err)
	}
	if c, err := net.DialTimeout("tcp", s.Addr(), 5*time.Second); err == nil {
		c.Close()
		t.Fatal("connect succeeded after Close")
	}
}
