package main

import (
	"net"
	"testing"
)

// BenchmarkAccept is the cost of accepting (and closing) one loopback
// connection on a TCP listener socket (keep-alive off) and on an HTTP one
// (Go's default keep-alive).
//
//	go test -run '^$' -bench Accept -benchtime 2000x ./cmd/lb
func BenchmarkAccept(b *testing.B) {
	for _, proto := range []string{"TCP", "HTTP"} {
		b.Run(proto, func(b *testing.B) {
			ln, err := listen(configListener(proto))
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			done := make(chan struct{})
			go func() {
				defer close(done)
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					c.Close()
				}
			}()
			addr := ln.Addr().String()
			b.ReportAllocs()
			for range b.N {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					b.Fatal(err)
				}
				c.Close()
			}
			ln.Close()
			<-done
		})
	}
}
