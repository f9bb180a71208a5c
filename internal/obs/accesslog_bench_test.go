package obs

import "testing"

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
