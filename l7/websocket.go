package l7

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"time"
)

// websocket forwards an Upgrade request to b and, once the connection is
// hijacked, copies bytes both ways until either side closes or stays idle
// past the idle timeout. The tunnel stays on b (counted in-flight) for its
// whole life; rules no longer apply after the upgrade (elb.md §3.8).
func (x *exchange) websocket(b *backend) {
	ctx, s := x.ctx, x.s
	tg := x.tg
	x.rec.Type = s.recType(true)
	x.rec.Target = b.t.Addr
	if err := x.buildRequest(tg); err != nil {
		x.failWith(downstreamBodyError(err))
		return
	}
	// Upgrade and Connection are hop-by-hop but are the point here.
	x.req.Header.Set("Connection", "Upgrade")
	x.req.Header.SetBytesV("Upgrade", ctx.Request.Header.Peek("Upgrade"))
	x.req.Header.SetContentLength(0)
	x.req.Header.Del("Content-Length")

	x.tSent = time.Now()
	conn, err := tg.tr.dialer.Dial("tcp", b.t.Addr)
	if err != nil {
		b.t.ReportFailure()
		x.failWith(upstreamError(&dialError{err: err}))
		return
	}
	if tg.isTLS {
		tc := tls.Client(conn, tg.tr.opts.TLSConfig)
		_ = tc.SetDeadline(time.Now().Add(tg.tr.opts.ConnectTimeout))
		if err := tc.Handshake(); err != nil {
			_ = conn.Close()
			x.failWith(upstreamError(err))
			return
		}
		_ = tc.SetDeadline(time.Time{})
		conn = tc
	}
	// The request head is written now, while ctx is valid.
	_ = conn.SetWriteDeadline(time.Now().Add(tg.tr.opts.WriteTimeout))
	bw := bufio.NewWriterSize(conn, 4096)
	if err := x.req.Header.Write(bw); err == nil {
		err = bw.Flush()
	}
	if err != nil {
		_ = conn.Close()
		x.failWith(upstreamError(err))
		return
	}
	x.tHeaders = time.Now()
	x.rec.RequestProcessing = x.tSent.Sub(x.rec.Received)
	x.rec.TargetProcessing = 0
	x.upgrade = true
	x.streaming = true
	s.counters.Upgrades.Add(1)
	s.hwg.Add(1)
	idle := s.idle
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(client net.Conn) {
		defer s.hwg.Done()
		// Counted from here: fasthttp may drop the hijack (client gone
		// before the switch), and then nothing would release it.
		b.t.Acquire()
		x.b, x.acquired = b, true
		s.hmu.Lock()
		s.hijacked[client] = struct{}{}
		s.hijacked[conn] = struct{}{}
		s.hmu.Unlock()
		// A tunnel to a target whose deregistration delay ends is closed
		// then; until that, it lives on (reloads never cut it).
		stopWatch := make(chan struct{})
		go func() {
			select {
			case <-b.t.Drained():
				_ = client.Close()
				_ = conn.Close()
			case <-stopWatch:
			}
		}()
		// The target's answer decides what is logged: 101 opens the
		// tunnel; anything else is passed through as it is and logged.
		tr := &peekConn{Conn: conn, br: bufio.NewReaderSize(conn, 512)}
		_ = conn.SetReadDeadline(time.Now().Add(idle))
		if st := peekStatus(tr.br); st != 0 {
			x.rec.Status, x.rec.TargetStatus = st, st
		} else {
			x.rec.Status, x.rec.TargetStatus = 502, 0
			x.rec.ErrorReason = ReasonMalformedResponse
		}
		x.rec.TargetProcessing = time.Since(x.tSent)
		up, down := tunnel(client, tr, idle)
		close(stopWatch)
		s.hmu.Lock()
		delete(s.hijacked, client)
		delete(s.hijacked, conn)
		s.hmu.Unlock()
		x.rec.ReceivedBytes += up
		x.rec.SentBytes += down
		x.finish()
	})
}

// tunnel copies client→target and target→client until both directions
// end, half-closing as each finishes, and closes both connections. It
// returns the bytes copied each way.
func tunnel(client, target net.Conn, idle time.Duration) (up, down int64) {
	done := make(chan int64, 1)
	go func() {
		n := copyIdle(target, client, idle)
		closeWrite(target)
		done <- n
	}()
	down = copyIdle(client, target, idle)
	closeWrite(client)
	// When the target is done the client has nothing more to say to it
	// that anyone will read: end the other direction too.
	_ = client.SetReadDeadline(time.Now().Add(time.Second))
	up = <-done
	_ = client.Close()
	_ = target.Close()
	return up, down
}

func copyIdle(dst, src net.Conn, idle time.Duration) int64 {
	buf := make([]byte, 32<<10)
	var n int64
	for {
		_ = src.SetReadDeadline(time.Now().Add(idle))
		m, err := src.Read(buf)
		if m > 0 {
			_ = dst.SetWriteDeadline(time.Now().Add(idle))
			if _, werr := dst.Write(buf[:m]); werr != nil {
				return n
			}
			n += int64(m)
		}
		if err != nil {
			if err != io.EOF {
				_ = dst.SetReadDeadline(time.Now())
			}
			return n
		}
	}
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
		return
	}
	_ = c.Close()
}

// peekConn reads through a buffered reader (bytes already peeked are not
// lost) and otherwise is the target connection.
type peekConn struct {
	net.Conn
	br *bufio.Reader
}

func (c *peekConn) Read(p []byte) (int, error) { return c.br.Read(p) }

func (c *peekConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}

// peekStatus returns the status code of the response the target started
// to send ("HTTP/1.1 101 ..."), or 0 if it is not one.
func peekStatus(br *bufio.Reader) int {
	b, err := br.Peek(12)
	if err != nil || string(b[:5]) != "HTTP/" || b[8] != ' ' {
		return 0
	}
	st := 0
	for _, c := range b[9:12] {
		if c < '0' || c > '9' {
			return 0
		}
		st = st*10 + int(c-'0')
	}
	return st
}
