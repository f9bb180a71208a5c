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

// countingWriter counts Write calls and keeps what they wrote.
type countingWriter struct {
	mu     sync.Mutex
	calls  int
	out    bytes.Buffer
	wrote  chan struct{}
	notify sync.Once
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	c.notify.Do(func() { close(c.wrote) })
	return c.out.Write(p)
}

// TestAsyncWriterGathersLines: lines queued close together reach the file
// in one write (a write costs per call, not only per byte), and a line is
// written without anyone calling Flush, soon after it was queued.
func TestAsyncWriterGathersLines(t *testing.T) {
	c := &countingWriter{wrote: make(chan struct{})}
	w := NewAsyncWriter(c, 0, nil)
	defer w.Close()
	start := time.Now()
	for i := range 300 {
		w.Write([]byte{'a' + byte(i%26), '\n'})
	}
	queued := time.Since(start)
	select {
	case <-c.wrote:
	case <-time.After(5 * time.Second):
		t.Fatal("no write 5 s after the lines were queued")
	}
	waited := time.Since(start)
	w.Flush()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.out.Len() != 600 {
		t.Fatalf("wrote %d bytes, want 600", c.out.Len())
	}
	// The lines are queued within microseconds; only a machine too slow
	// to queue 300 lines within half of GatherDelay may split them.
	if c.calls != 1 && queued < GatherDelay/2 {
		t.Errorf("300 lines queued at once took %d writes, want 1", c.calls)
	}
	t.Logf("queued in %v; first write %v after the first line (GatherDelay %v)", queued, waited, GatherDelay)
}
