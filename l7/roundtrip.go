package l7

import (
	"bufio"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/switchyard/switchyard/internal/runtime"
)

// The exchange with a target is done here rather than by HostClient.Do:
// small responses are read whole and the connection goes back to the pool
// at once, large ones stream with the connection held by the exchange, and
// neither path allocates (Do's streaming wraps every response in fresh
// closures). HostClient still owns the pool, the dialer and the limits.
//
// fasthttp's pooled-connection type is unexported; the generic helpers
// below carry it by inference from HostClient's method expressions.

// upstream is a pooled target connection held while a response streams.
type upstream interface {
	// done returns the connection to its pool (reuse) or closes it.
	done(reuse bool)
}

type pooledConn[C any] struct {
	hc      *fasthttp.HostClient
	cc      C
	br      *bufio.Reader
	release func(*fasthttp.HostClient, C)
	close   func(*fasthttp.HostClient, C)
	pool    *sync.Pool
	ic      *idleConn
}

func (p *pooledConn[C]) done(reuse bool) {
	if p.ic != nil {
		p.ic.cur.Store(nil)
	}
	p.hc.ReleaseReader(p.br)
	if reuse {
		p.release(p.hc, p.cc)
	} else {
		p.close(p.hc, p.cc)
	}
	var zero C
	p.hc, p.cc, p.br, p.ic = nil, zero, nil, nil
	p.pool.Put(p)
}

var pooledConnPool sync.Pool

// maxInterimResponses bounds the 1xx responses skipped before the final one.
const maxInterimResponses = 8

var (
	errTooManyInterim   = errors.New("l7: too many interim responses")
	errUnexpectedSwitch = errors.New("l7: 101 Switching Protocols to a request that asked for no upgrade")
)

// roundTrip sends x.req over a pooled connection of hc and reads the
// response head into x.resp; a body of at most maxBufferedBody bytes with
// a Content-Length is read too, a larger one is left streaming (x.up holds
// the connection until the body stream is closed).
func (x *exchange) roundTrip(b *backend) error {
	up, err := roundTripWith(b.hc, b.t, &x.req, &x.resp, x.head,
		(*fasthttp.HostClient).AcquireConn, (*fasthttp.HostClient).ReleaseConn, (*fasthttp.HostClient).CloseConn)
	x.up = up
	return err
}

// While the exchange runs, the connection is marked as carrying a request
// for t, so drainWatch can cut it when t's deregistration delay ends.
func roundTripWith[C interface{ Conn() net.Conn }](hc *fasthttp.HostClient, t *runtime.Target, req *fasthttp.Request, resp *fasthttp.Response, head bool,
	acquire func(*fasthttp.HostClient, time.Duration, bool) (C, error),
	release, closeConn func(*fasthttp.HostClient, C),
) (upstream, error) {
	resp.Reset()
	cc, err := acquire(hc, 0, req.ConnectionClose())
	if err != nil {
		return nil, err
	}
	conn := cc.Conn()
	ic := asIdleConn(conn)
	if ic != nil {
		ic.cur.Store(t)
	}
	// Checked after marking: a drain that fired before the mark did not
	// see this connection.
	if targetDrained(t) {
		if ic != nil {
			ic.cur.Store(nil)
		}
		closeConn(hc, cc)
		return nil, errTargetDrained
	}
	bw := hc.AcquireWriter(conn)
	err = req.Write(bw)
	if err == nil {
		err = bw.Flush()
	}
	hc.ReleaseWriter(bw)
	if err != nil {
		if ic != nil {
			ic.cur.Store(nil)
		}
		closeConn(hc, cc)
		return nil, err
	}
	br := hc.AcquireReader(conn)
	fail := func(err error) (upstream, error) {
		if ic != nil {
			ic.cur.Store(nil)
		}
		hc.ReleaseReader(br)
		closeConn(hc, cc)
		if err == io.EOF {
			err = fasthttp.ErrConnectionClosed
		}
		return nil, err
	}
	stream, err := readResponse(br, resp, head)
	if err != nil {
		return fail(err)
	}
	reuse := !req.ConnectionClose() && !resp.ConnectionClose()
	if stream {
		p, _ := pooledConnPool.Get().(*pooledConn[C])
		if p == nil {
			p = &pooledConn[C]{}
		}
		*p = pooledConn[C]{hc: hc, cc: cc, br: br, release: release, close: closeConn, pool: &pooledConnPool, ic: ic}
		return p, nil
	}
	if ic != nil {
		ic.cur.Store(nil)
	}
	hc.ReleaseReader(br)
	if reuse {
		release(hc, cc)
	} else {
		closeConn(hc, cc)
	}
	return nil, nil
}

// readResponse reads a response head from br into resp, skipping interim
// (1xx) responses, then a body of at most maxBufferedBody bytes with a
// Content-Length. A larger body, or one without a length, is left to
// stream from br (stream is true).
func readResponse(br *bufio.Reader, resp *fasthttp.Response, head bool) (stream bool, err error) {
	if err := resp.Header.Read(br); err != nil {
		return false, err
	}
	for n := 0; resp.StatusCode() >= 100 && resp.StatusCode() < 200; n++ {
		if resp.StatusCode() == fasthttp.StatusSwitchingProtocols {
			return false, errUnexpectedSwitch
		}
		if n >= maxInterimResponses {
			return false, errTooManyInterim
		}
		if err := resp.Header.Read(br); err != nil {
			return false, err
		}
	}
	st := resp.StatusCode()
	cl := resp.Header.ContentLength()
	switch {
	case head || st == fasthttp.StatusNoContent || st == fasthttp.StatusNotModified:
		resp.SkipBody = true
	case cl >= 0 && cl <= maxBufferedBody:
		if err := resp.ReadBody(br, 0); err != nil {
			return false, err
		}
	default:
		resp.StreamBody = true
		if err := resp.ReadBody(br, 0); err != nil {
			return false, err
		}
		return true, nil
	}
	return false, nil
}
