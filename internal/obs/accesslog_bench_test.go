package obs

import (
	"net/netip"
	"testing"
	"time"
)

// BenchmarkAccessLog measures formatting and queueing one ALB line from
// concurrent requests (the writer goroutine writes to a discarding sink).
//
//	go test -run '^$' -bench AccessLog -benchtime 200000x ./internal/obs
func BenchmarkAccessLog(b *testing.B) {
	al := NewAccessLog(discard{}, FormatALB, DefaultBufferSize, nil)
	defer al.Close()
	r := sampleRecords()[0]
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			al.Log(r)
		}
	})
}

// BenchmarkAppendALBBrowser formats one ALB line of a browser's request
// (a real user agent and a long URI), single-threaded: the line's
// formatting alone, which runs on the proxy's request path.
//
//	go test -run '^$' -bench AppendALBBrowser ./internal/obs
func BenchmarkAppendALBBrowser(b *testing.B) {
	r := &Record{
		Type: "http", Time: time.Unix(1764170000, 123456000), ELB: "app/lb/web", Listener: "web",
		ClientAddr: netip.MustParseAddrPort("203.0.113.7:52114"), Target: "10.0.1.12:8080",
		ELBStatus: 200, TargetStatus: 200, ReceivedBytes: 612, SentBytes: 1317,
		Method: "GET", Scheme: "http", Host: "www.example.com", URI: "/articles/2026/11/some-long-article-title?utm_source=news&utm_medium=email",
		Proto: "HTTP/1.1", UserAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
		TargetGroup: "targetgroup/origins", TraceID: "Root=1-6746a0d0-0123456789abcdef01234567",
		MatchedRulePriority: 30, RequestCreation: time.Unix(1764170000, 120000000), Actions: "forward",
	}
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendALB(buf[:0], r)
	}
}
