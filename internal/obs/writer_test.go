package obs

import (
	"bytes"
	"sync"
	"testing"
	"time"
)

// gate is a writer that blocks until released: a stuck disk.
type gate struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	release chan struct{}
	entered chan struct{}
	once    sync.Once
}

func (g *gate) Write(p []byte) (int, error) {
	g.once.Do(func() { close(g.entered) })
	<-g.release
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.buf.Write(p)
}

type count struct {
	mu sync.Mutex
	n  int
}

func (c *count) Inc() { c.mu.Lock(); c.n++; c.mu.Unlock() }

func TestAsyncWriterNeverBlocksAndCountsDrops(t *testing.T) {
	g := &gate{release: make(chan struct{}), entered: make(chan struct{})}
	var c count
	w := NewAsyncWriter(g, 1000, &c)
	line := bytes.Repeat([]byte("x"), 99)
	line = append(line, '\n') // 100 bytes

	// The first line is taken by the goroutine, which then blocks in the disk.
	w.Write(line)
	select {
	case <-g.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("writer goroutine never wrote")
	}
	// Ten more fill the 1000-byte buffer; the next five must be dropped,
	// and no Write may wait for the stuck disk.
	start := time.Now()
	for range 15 {
		w.Write(line)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("writes blocked for %v behind a stuck disk", d)
	}
	if got := w.Drops(); got != 5 {
		t.Errorf("Drops = %d, want 5", got)
	}
	c.mu.Lock()
	if c.n != 5 {
		t.Errorf("drop counter = %d, want 5", c.n)
	}
	c.mu.Unlock()

	close(g.release)
	w.Flush()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if got := g.buf.Len(); got != 11*100 {
		t.Errorf("disk got %d bytes, want %d (1 + 10 lines)", got, 11*100)
	}
	// After Close, writes are dropped, not written.
	w.Write(line)
	if w.Drops() != 6 {
		t.Errorf("write after close not counted as a drop")
	}
}

func TestAsyncWriterOrderUnderConcurrency(t *testing.T) {
	var mu sync.Mutex
	var out bytes.Buffer
	w := NewAsyncWriter(lockedWriter{&mu, &out}, 1<<20, nil)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				w.Write([]byte{byte('a' + g), byte('0' + i%10), '\n'})
			}
		}()
	}
	wg.Wait()
	w.Close()
	mu.Lock()
	defer mu.Unlock()
	lines := bytes.Split(bytes.TrimSuffix(out.Bytes(), []byte("\n")), []byte("\n"))
	if len(lines) != 1600 {
		t.Fatalf("got %d lines, want 1600", len(lines))
	}
	for _, l := range lines {
		if len(l) != 2 {
			t.Fatalf("torn line %q", l)
		}
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
