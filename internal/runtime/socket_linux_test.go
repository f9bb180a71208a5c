package runtime_test

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/runtime"
)

// A Direct lends the listening descriptor: no accept goroutine runs for
// it (connections wait for the holder in the kernel's queue), Dup gives a
// descriptor the holder accepts on, Counter follows SetCounter, Accept
// returns what a Handoff's accept goroutine took, and the Socket's Close
// refuses connections at once even while a duplicate is open.
func TestSocketDirect(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var c1, c2 counter
	s := runtime.NewSocket("stream", ln, &c1)
	defer s.Close()
	d := s.Direct()
	fd, err := d.Dup()
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	if d.Counter() != &c1 {
		t.Fatal("Counter is not the Socket's counter")
	}
	s.SetCounter(&c2)
	if d.Counter() != &c2 {
		t.Fatal("Counter does not follow SetCounter")
	}

	c, err := net.DialTimeout("tcp", s.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var afd int
	for range 5000 {
		// The descriptor is non-blocking, as the Socket's own.
		if afd, _, err = syscall.Accept4(fd, syscall.SOCK_CLOEXEC); err != syscall.EAGAIN {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err != nil {
		t.Fatalf("accept on the duplicate: %v", err)
	}
	syscall.Close(afd)
	if c1.open.Load()+c2.open.Load() != 0 {
		t.Error("the Socket counted a connection its Direct holder accepted")
	}

	// A Handoff starts the accept goroutine; once the Handoff is gone its
	// connections reach the Direct's Accept.
	s.Handoff().Close()
	got := make(chan error, 1)
	go func() {
		c, err := d.Accept()
		if err == nil {
			c.Close()
		}
		got <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	var accepted bool
	for !accepted && time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", s.Addr(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		select {
		case err := <-got:
			if err != nil {
				t.Fatalf("Direct.Accept: %v", err)
			}
			accepted = true
		case <-time.After(20 * time.Millisecond):
			// This one went to the duplicate's queue: take it off.
			if afd, _, err := syscall.Accept4(fd, syscall.SOCK_CLOEXEC); err == nil {
				syscall.Close(afd)
			}
		}
	}
	if !accepted {
		t.Fatal("Direct.Accept got no connection from the accept goroutine")
	}

	s.Close()
	if c, err := net.DialTimeout("tcp", s.Addr(), 5*time.Second); err == nil {
		c.Close()
		t.Fatal("connect succeeded after Close with a duplicate open")
	}
	if _, _, err := syscall.Accept4(fd, syscall.SOCK_CLOEXEC); err != syscall.EINVAL {
		t.Errorf("accept on the duplicate after Close: %v, want EINVAL", err)
	}
	if _, err := d.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Direct.Accept after Close: %v", err)
	}
	if _, err := d.Dup(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Dup after Close: %v", err)
	}
}
