package l7

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/switchyard/config"
)

// rssBytes reads this process's resident set size.
func rssBytes(t *testing.T) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	t.Skip("no VmRSS")
	return 0
}

// peakSampler records the peak RSS and heap while a transfer runs.
type peakSampler struct {
	stop     chan struct{}
	done     chan struct{}
	peakRSS  atomic.Int64
	peakHeap atomic.Uint64
}

func samplePeaks(t *testing.T) *peakSampler {
	p := &peakSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		var ms runtime.MemStats
		for i := 0; i < 20*120; i++ { // at most two minutes
			if r := rssBytes(t); r > p.peakRSS.Load() {
				p.peakRSS.Store(r)
			}
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > p.peakHeap.Load() {
				p.peakHeap.Store(ms.HeapInuse)
			}
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return p
}

func (p *peakSampler) finish() (int64, uint64) {
	close(p.stop)
	<-p.done
	return p.peakRSS.Load(), p.peakHeap.Load()
}

// zeros is an endless reader of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestStreamingOneGiBEachWay(t *testing.T) {
	size := int64(1 << 30)
	if testing.Short() {
		size = 64 << 20
	}
	const limit = 64 << 20
	var uploaded atomic.Int64
	// Not newBackend: its recording would buffer the body.
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/up":
			n, _ := io.Copy(io.Discard, r.Body)
			uploaded.Store(n)
			fmt.Fprintf(w, "%d", n)
		case "/down":
			w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
			io.Copy(w, io.LimitReader(zeros{}, size))
		}
	}))
	t.Cleanup(be.Close)
	h := startLB(t, lbSetup{listener: config.Listener{Protocol: "HTTP", DefaultAction: fwd("web")},
		groups: []config.TargetGroup{group("web", be.Listener.Addr().String())}})
	h.hc.Timeout = 2 * time.Minute

	runtime.GC()
	base := rssBytes(t)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	baseHeap := ms.HeapInuse

	t.Run("upload", func(t *testing.T) {
		p := samplePeaks(t)
		req, _ := http.NewRequest("PUT", h.url("/up"), io.LimitReader(zeros{}, size))
		req.ContentLength = size
		st, _, body := h.do(req)
		peak, heap := p.finish()
		if st != 200 || body != strconv.FormatInt(size, 10) || uploaded.Load() != size {
			t.Fatalf("upload: %d %q, backend received %d of %d", st, body, uploaded.Load(), size)
		}
		t.Logf("upload %d MiB: RSS growth %d MiB, heap growth %d MiB", size>>20, (peak-base)>>20, int64(heap-baseHeap)>>20)
		if peak-base > limit || int64(heap)-int64(baseHeap) > limit {
			t.Fatalf("upload buffered: RSS +%d MiB, heap +%d MiB", (peak-base)>>20, int64(heap-baseHeap)>>20)
		}
	})
	t.Run("download", func(t *testing.T) {
		p := samplePeaks(t)
		resp, err := h.hc.Get(h.url("/down"))
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		peak, heap := p.finish()
		if err != nil || n != size || resp.StatusCode != 200 {
			t.Fatalf("download: %d bytes of %d, status %d, %v", n, size, resp.StatusCode, err)
		}
		t.Logf("download %d MiB: RSS growth %d MiB, heap growth %d MiB", size>>20, (peak-base)>>20, int64(heap-baseHeap)>>20)
		if peak-base > limit || int64(heap)-int64(baseHeap) > limit {
			t.Fatalf("download buffered: RSS +%d MiB, heap +%d MiB", (peak-base)>>20, int64(heap-baseHeap)>>20)
		}
	})
	rec := waitRecord(t, h.obs, func(r Record) bool { return string(r.URI) == "/down" })
	if rec.SentBytes < size || rec.ResponseProcessing <= 0 {
		t.Fatalf("download record: sent %d, response processing %v", rec.SentBytes, rec.ResponseProcessing)
	}
}
