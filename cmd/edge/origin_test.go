package main

import (
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

var slowStarted atomic.Int64

// startTestOrigin serves cacheable answers on 127.0.0.1:0; /slow answers
// after 300 ms.
func startTestOrigin(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			slowStarted.Add(1)
			time.Sleep(300 * time.Millisecond)
		}
		w.Header().Set("Cache-Control", "max-age=1")
		w.Write([]byte("origin " + r.URL.Path))
	}), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln) //nolint:errcheck // ends at Close
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}
