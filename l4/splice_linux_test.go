package l4

import (
	"bytes"
	"io"
	"sync"
	"testing"
	"time"
)

// Without pipes (descriptor limit) bulk transfers go through the buffer,
// byte-exact.
func TestSpliceWithoutPipe(t *testing.T) {
	saved := pipes
	pipes = &sync.Pool{New: func() any { return nil }}
	defer func() { pipes = saved }()
	be := startBackend(t, false, echo)
	env := startProxy(t, Config{}, nil, be.addr)
	payload := randomBytes(1 << 20)
	c := dial(t, env.addr)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(payload)
		if err == nil {
			err = c.CloseWrite()
		}
		errc <- err
	}()
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	back, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back, payload) {
		t.Fatalf("got %d bytes back, not the %d sent", len(back), len(payload))
	}
	env.record(t)
}
