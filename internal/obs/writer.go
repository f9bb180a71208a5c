package obs

import (
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Incrementer is the part of a Prometheus counter the writers need; nil is allowed.
type Incrementer interface{ Inc() }

// DefaultBufferSize bounds what an AsyncWriter holds before it drops lines:
// about a quarter second of lines at 50 000 requests a second, so a disk
// that stalls for less than that loses nothing. It is a bound, not an
// allocation: the buffers start at 64 KiB and grow with the load.
const DefaultBufferSize = 4 << 20

// AsyncWriter hands whole lines to a background goroutine that writes them
// to the underlying writer. Write never blocks on the disk: when the
// bounded buffer is full (a slow or stuck disk) the line is dropped and
// counted instead, because a request must never wait for its log line.
// Safe for concurrent use.
type AsyncWriter struct {
	w     io.Writer
	max   int
	drop  Incrementer
	drops atomic.Uint64
	errs  atomic.Uint64

	mu     sync.Mutex
	buf    []byte // lines waiting to be written
	spare  []byte // the buffer being written, or idle
	closed bool

	kick    chan struct{}
	flushes chan chan struct{}
	stop    chan struct{}
	done    chan struct{}
}

// NewAsyncWriter starts the writing goroutine. limit ≤ 0 means
// DefaultBufferSize; drop, when not nil, counts every dropped line.
func NewAsyncWriter(w io.Writer, limit int, drop Incrementer) *AsyncWriter {
	if limit <= 0 {
		limit = DefaultBufferSize
	}
	initial := min(limit, 64<<10)
	a := &AsyncWriter{
		w: w, max: limit, drop: drop,
		buf:     make([]byte, 0, initial),
		spare:   make([]byte, 0, initial),
		kick:    make(chan struct{}, 1),
		flushes: make(chan chan struct{}),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	go a.loop()
	return a
}

// Write queues p (one or more whole lines). It never blocks on I/O and
// always reports success: a dropped line is visible in Drops and in the
// drop counter, not to the request that produced it.
func (a *AsyncWriter) Write(p []byte) (int, error) {
	a.mu.Lock()
	if a.closed || len(a.buf)+len(p) > a.max {
		a.mu.Unlock()
		a.drops.Add(1)
		if a.drop != nil {
			a.drop.Inc()
		}
		return len(p), nil
	}
	before := len(a.buf)
	a.buf = append(a.buf, p...)
	pressed := len(a.buf) > a.max/2
	full := before < WriteChunk && len(a.buf) >= WriteChunk
	a.mu.Unlock()
	// Wake the writer only when the buffer turns non-empty (it then gathers
	// lines for up to GatherDelay) or holds a WriteChunk (it writes at
	// once): under load lines batch up without a channel operation each.
	if before == 0 || full {
		select {
		case a.kick <- struct{}{}:
		default:
		}
	}
	if pressed {
		// Half full: let the writer run before we fill the rest. With
		// GOMAXPROCS=1 a busy request path could otherwise starve it into
		// dropping lines it had time to write.
		runtime.Gosched()
	}
	return len(p), nil
}

// Drops is the number of lines dropped because the buffer was full or the
// writer closed.
func (a *AsyncWriter) Drops() uint64 { return a.drops.Load() }

// WriteErrors is the number of failed writes to the underlying writer.
func (a *AsyncWriter) WriteErrors() uint64 { return a.errs.Load() }

// Flush waits until every line queued before the call has been handed to
// the underlying writer.
func (a *AsyncWriter) Flush() {
	ch := make(chan struct{})
	select {
	case a.flushes <- ch:
		<-ch
	case <-a.done:
	}
}

// Close flushes what is queued, stops the goroutine and closes the
// underlying writer when it is an io.Closer other than stdout/stderr
// (the caller decides by passing a writer that is or is not a Closer).
func (a *AsyncWriter) Close() error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		<-a.done
		return nil
	}
	a.closed = true
	a.mu.Unlock()
	close(a.stop)
	<-a.done
	if c, ok := a.w.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// GatherDelay is how long the writer lets lines gather after the first
// one before writing (WriteChunk gathered is written at once). A file
// write costs per call as well as per byte — the page-cache pages, the
// inode update — so few large writes are cheaper than many small ones:
// with 50 ms instead of 5 ms, lb served 2 % more requests per CPU-second
// (bench/RESULTS.md, session 10). Lines still reach the file well within
// NGINX's usual flush=1s; Flush and Close do not wait for it.
const GatherDelay = 50 * time.Millisecond

// WriteChunk is what the writer writes at once without waiting for
// GatherDelay. Solo at ~48k requests a second the writer goroutine took
// 2.2–2.7 % of lb's CPU with 5 ms batches (~75 KiB), 1.3–1.7 % at 64 KiB,
// 1.1–1.2 % at 256 KiB and 0.7 % at 1 MiB (perf, two runs each); 256 KiB
// keeps most of the gain while one write still blocks its thread for only
// ~0.1 ms.
const WriteChunk = 256 << 10

func (a *AsyncWriter) loop() {
	defer close(a.done)
	gather := time.NewTimer(time.Hour)
	gather.Stop()
	for {
		select {
		case <-a.kick:
		case ch := <-a.flushes:
			a.writeOut()
			close(ch)
			continue
		case <-a.stop:
			a.writeOut()
			return
		}
		gather.Reset(GatherDelay)
		select {
		case <-gather.C:
		case <-a.kick: // a WriteChunk waits: write now
			gather.Stop()
		case ch := <-a.flushes:
			gather.Stop()
			a.writeOut()
			close(ch)
			continue
		case <-a.stop:
			gather.Stop()
			a.writeOut()
			return
		}
		a.writeOut()
	}
}

// writeOut swaps the buffers under the lock and writes outside it, so
// writers only ever wait for a memcpy; it loops until the buffer is empty.
func (a *AsyncWriter) writeOut() {
	for {
		a.mu.Lock()
		out := a.buf
		if len(out) == 0 {
			a.mu.Unlock()
			return
		}
		a.buf = a.spare[:0]
		a.spare = nil
		a.mu.Unlock()
		if _, err := a.w.Write(out); err != nil {
			a.errs.Add(1)
		}
		if cap(out) > 4*DefaultBufferSize {
			out = make([]byte, 0, 64<<10) // give back a buffer grown by a burst
		}
		a.mu.Lock()
		a.spare = out[:0]
		a.mu.Unlock()
	}
}
