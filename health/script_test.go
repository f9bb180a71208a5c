package health_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"syscall"
	"time"
)

// step is one scripted answer of a fake backend.
type step struct {
	status int           // HTTP status to answer (TCP checks ignore it)
	delay  time.Duration // wait before answering
	refuse bool          // the connect is refused
	hang   bool          // the connect never completes
}

var (
	ok      = step{status: 200}
	e500    = step{status: 500}
	refused = step{refuse: true}
)

// backends answers checks over net.Pipe, so that everything stays inside a
// synctest bubble: per address a list of steps used in order, the last one
// repeating. It records the request heads it received.
type backends struct {
	mu    sync.Mutex
	steps map[string][]step
	dials map[string]int
	heads map[string][]string
}

func newBackends() *backends {
	return &backends{steps: map[string][]step{}, dials: map[string]int{}, heads: map[string][]string{}}
}

func (b *backends) script(addr string, s ...step) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.steps[addr] = s
}

func (b *backends) dialCount(addr string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.dials[addr]
}

func (b *backends) lastHead(addr string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	h := b.heads[addr]
	if len(h) == 0 {
		return ""
	}
	return h[len(h)-1]
}

func (b *backends) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	b.mu.Lock()
	b.dials[addr]++
	ss := b.steps[addr]
	st := step{refuse: true}
	if len(ss) > 0 {
		st = ss[0]
		if len(ss) > 1 {
			b.steps[addr] = ss[1:]
		}
	}
	b.mu.Unlock()
	switch {
	case st.refuse:
		return nil, &net.OpError{Op: "dial", Net: network, Err: syscall.ECONNREFUSED}
	case st.hang:
		<-ctx.Done()
		return nil, &net.OpError{Op: "dial", Net: network, Err: ctx.Err()}
	}
	cli, srv := net.Pipe()
	go b.serve(addr, srv, st)
	return cli, nil
}

func (b *backends) serve(addr string, c net.Conn, st step) {
	defer c.Close()
	br := bufio.NewReader(c)
	var head strings.Builder
	for range 64 {
		line, err := br.ReadString('\n')
		head.WriteString(line)
		if err != nil || line == "\r\n" {
			break
		}
	}
	b.mu.Lock()
	b.heads[addr] = append(b.heads[addr], head.String())
	b.mu.Unlock()
	if head.Len() == 0 {
		return // a TCP check: connect and close
	}
	time.Sleep(st.delay)
	fmt.Fprintf(c, "HTTP/1.1 %d Scripted\r\nContent-Length: 0\r\n\r\n", st.status)
}
