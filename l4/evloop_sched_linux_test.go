package l4

import (
	"bytes"
	"io"
	"net"
	goruntime "runtime"
	"slices"
	"sync"
	"testing"
	"time"
)

// With one P (lb runs with GOMAXPROCS=1 when pinned to a CPU) the event
// loop shares it with every other goroutine of the process: the HTTP
// listeners, flows on the goroutine path, timers. While the loop is idle
// and while it carries a steady stream of short connections, a goroutine
// served echo (standing for an HTTP listener) keeps answering and a bulk
// flow handed to the goroutine path (splice) finishes. The round trips'
// latency is logged (go test -v -run TestEventLoopSharesTheP): it is the
// number to compare when the loop's way of sleeping changes (a loop that
// slept in epoll_pwait itself, leaving the P to sysmon's hand-off, had
// p99 ~2 ms and max 30-40 ms here with the loop busy, the netpoller park
// ~0.7 ms and ~10 ms).
func TestEventLoopSharesTheP(t *testing.T) {
	defer goruntime.GOMAXPROCS(goruntime.GOMAXPROCS(1))
	be := startBackend(t, false, echo)
	env := startDirectProxy(t, Config{}, "tcp", "127.0.0.1:0", be.addr)
	done := make(chan struct{})
	var wg sync.WaitGroup
	defer func() { close(done); wg.Wait() }()
	wg.Go(func() { // records: the loop must never wait for the test
		for {
			select {
			case <-env.records:
			case <-done:
				return
			}
		}
	})
	c := dial(t, env.addr)
	roundTrip(t, c, "first") // the loop exists and holds the listener
	_ = c.Close()

	probe := startBackend(t, false, echo)
	pc := dial(t, probe.addr)
	defer pc.Close()
	measure := func(phase string) {
		t.Helper()
		var lat []time.Duration
		msg := []byte("probe")
		b := make([]byte, len(msg))
		end := time.Now().Add(500 * time.Millisecond)
		for i := 0; i < 20000 && time.Now().Before(end); i++ {
			start := time.Now()
			if _, err := pc.Write(msg); err != nil {
				t.Fatalf("%s: probe write: %v", phase, err)
			}
			if _, err := io.ReadFull(pc, b); err != nil {
				t.Fatalf("%s: probe read: %v", phase, err)
			}
			lat = append(lat, time.Since(start))
			if i%8 == 7 {
				time.Sleep(200 * time.Microsecond) // and timers fire
			}
		}
		slices.Sort(lat)
		p := func(q float64) time.Duration { return lat[int(q*float64(len(lat)-1))] }
		t.Logf("%s: %d probe round trips, p50 %v p99 %v max %v", phase, len(lat), p(0.5), p(0.99), lat[len(lat)-1])
		if len(lat) < 50 || lat[len(lat)-1] > time.Second {
			t.Errorf("%s: %d probe round trips, slowest %v: the goroutines starve", phase, len(lat), lat[len(lat)-1])
		}
	}
	measure("loop idle")

	// Short connections through the loop, continuously.
	var flows sync.WaitGroup
	stopFlows := make(chan struct{})
	for range 4 {
		flows.Go(func() {
			for i := 0; i < 100000; i++ {
				select {
				case <-stopFlows:
					return
				default:
				}
				c, err := net.DialTimeout("tcp", env.addr, 5*time.Second)
				if err != nil {
					continue
				}
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				_, _ = c.Write([]byte("ping"))
				_, _ = io.ReadFull(c, make([]byte, 4))
				_ = c.Close()
			}
		})
	}
	bulkDone := make(chan error, 1)
	go func() { // a bulk flow: handed to the goroutine path, spliced
		c, err := net.DialTimeout("tcp", env.addr, 5*time.Second)
		if err != nil {
			bulkDone <- err
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(20 * time.Second))
		payload := randomBytes(4 << 20)
		go func() { _, _ = c.Write(payload); _ = c.(*net.TCPConn).CloseWrite() }()
		back, err := io.ReadAll(c)
		if err == nil && !bytes.Equal(back, payload) {
			err = io.ErrUnexpectedEOF
		}
		bulkDone <- err
	}()
	measure("loop busy")
	close(stopFlows)
	flows.Wait()
	select {
	case err := <-bulkDone:
		if err != nil {
			t.Errorf("bulk flow beside the loop: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Error("bulk flow beside the loop did not finish in 20 s")
	}
}
