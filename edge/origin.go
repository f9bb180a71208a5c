package edge

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/switchyard/switchyard/cache"
	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/l7"
)

// origin is one compiled origin: a shared keep-alive pool plus the
// per-snapshot settings (Host, path prefix, custom headers).
type origin struct {
	id       string
	client   *fasthttp.HostClient
	timeouts originTimeouts // with addr, names the pool
	addr     string
	host     string
	prefix   string
	headers  []string // name, value pairs, canonical names
}

// originTimeouts are an origin's connect, response and keep-alive
// timeouts; origins sharing them share an l7.Transport.
type originTimeouts struct{ connect, response, keepalive time.Duration }

// pools holds the origins' keep-alive pools: lb's target pools
// (l7.Transport), one Transport per set of timeouts and one pool per
// address and scheme in it. They outlive snapshots, so a reload keeps
// warm connections to origins that stay. Safe for concurrent use.
type pools struct {
	mu         sync.Mutex
	transports map[originTimeouts]*l7.Transport
	addrs      map[originTimeouts]map[string]bool // addresses given out per Transport
}

func newPools() *pools {
	return &pools{transports: map[originTimeouts]*l7.Transport{}, addrs: map[originTimeouts]map[string]bool{}}
}

func (p *pools) origin(oc config.Origin) (*origin, error) {
	u, err := parseOriginURL(oc.URL)
	if err != nil {
		return nil, fmt.Errorf("origin %s: url %q: %w", oc.ID, oc.URL, err)
	}
	tlsOn := u.Scheme == "https"
	addr := u.Host
	if u.Port() == "" {
		if tlsOn {
			addr += ":443"
		} else {
			addr += ":80"
		}
	}
	to := originTimeouts{oc.ConnectTimeout.D(), oc.ResponseTimeout.D(), oc.KeepaliveTimeout.D()}
	if to.connect <= 0 {
		to.connect = config.DefaultConnectTimeout
	}
	if to.response <= 0 {
		to.response = config.DefaultResponseTimeout
	}
	if to.keepalive <= 0 {
		to.keepalive = config.DefaultKeepaliveTimeout
	}
	p.mu.Lock()
	tr := p.transports[to]
	if tr == nil {
		// The rest (1024 connections per origin, 1 s wait for a free one,
		// 32 KiB response header block, 16 KiB write buffer, origin
		// certificates not verified, as ALB does not verify targets') is
		// l7's defaults, which are also what the edge's own pools had.
		tr = l7.NewTransport(l7.TransportOptions{ConnectTimeout: to.connect, ResponseTimeout: to.response,
			WriteTimeout: to.response, MaxIdleConnDuration: to.keepalive})
		p.transports[to] = tr
		p.addrs[to] = map[string]bool{}
	}
	p.addrs[to][addr] = true
	p.mu.Unlock()
	o := &origin{id: oc.ID, client: tr.Client(addr, tlsOn), timeouts: to, addr: addr, host: u.Host,
		prefix: strings.TrimSuffix(u.EscapedPath(), "/")}
	for name, v := range oc.CustomHeaders {
		o.headers = append(o.headers, name, v.Reveal())
	}
	return o, nil
}

// retain drops the pools no origin of s uses (after a reload changed or
// removed origins) and closes their idle connections; requests still in
// flight on an old snapshot keep working, their connections close when
// they finish.
func (p *pools) retain(s *Snapshot) {
	keep := map[originTimeouts]map[string]bool{}
	for _, d := range s.dists {
		for _, b := range d.behaviors {
			for _, o := range b.target.members {
				if keep[o.timeouts] == nil {
					keep[o.timeouts] = map[string]bool{}
				}
				keep[o.timeouts][o.addr] = true
			}
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for to, tr := range p.transports {
		if keep[to] == nil {
			delete(p.transports, to)
			delete(p.addrs, to)
			tr.CloseIdleConnections()
			continue
		}
		for addr := range p.addrs[to] {
			if !keep[to][addr] {
				delete(p.addrs[to], addr)
				tr.Forget(addr)
			}
		}
	}
}

// closeIdle closes the idle connections of every pool.
func (p *pools) closeIdle() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, tr := range p.transports {
		tr.CloseIdleConnections()
	}
}

// originSpec is a copy of everything an origin request needs, taken from
// the viewer request before the cache flow runs: a collapsed fetch may
// outlive the viewer that started it, so it must not point into the
// server's buffers.
type originSpec struct {
	target   *target
	method   string
	uri      string // canonical path and forwarded query, without the origin prefix
	host     string // viewer Host when the policy forwards it, else ""
	headers  []string
	body     []byte
	failover bool // GET, HEAD, OPTIONS
	maxObj   int64
	m        *Metrics
	now      func() time.Time

	// An answer too big to buffer is kept here for the viewer to stream,
	// so that it costs one origin request, not two.
	mu     sync.Mutex
	stash  *fasthttp.Response
	prefix []byte // body bytes already read from stash
	taken  bool
}

// keep stashes an unbuffered answer for take; after take it is closed.
func (s *originSpec) keep(resp *fasthttp.Response, prefix []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.taken {
		return false
	}
	if s.stash != nil {
		s.stash.CloseBodyStream() //nolint:errcheck // replaced by a later fetch
		fasthttp.ReleaseResponse(s.stash)
	}
	s.stash, s.prefix = resp, prefix
	return true
}

// take returns the stashed answer, if any; later stashes are refused.
func (s *originSpec) take() (*fasthttp.Response, []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.taken = true
	r, p := s.stash, s.prefix
	s.stash, s.prefix = nil, nil
	return r, p
}

// do sends the request to the target's members in order, failing over on
// connection errors and the configured status codes. The response is
// streamed (resp.BodyStream); the caller releases it.
func (s *originSpec) do(ctx context.Context, v cache.Validators) (*fasthttp.Response, *origin, error) {
	var lastErr error
	for i, o := range s.target.members {
		last := i == len(s.target.members)-1 || !s.failover
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		req := fasthttp.AcquireRequest()
		s.build(req, o, v)
		resp := fasthttp.AcquireResponse()
		if s.method == "HEAD" {
			resp.SkipBody = true
		}
		start := time.Now()
		err := s.send(o, req, resp)
		fasthttp.ReleaseRequest(req)
		if s.m != nil {
			s.m.OriginLatency.Observe(time.Since(start).Seconds())
		}
		if err != nil {
			fasthttp.ReleaseResponse(resp)
			lastErr = originError(o.id, err)
			if s.m != nil {
				s.m.OriginErrors.Inc()
			}
			if last {
				return nil, o, lastErr
			}
			continue
		}
		if !last && s.target.failover[resp.StatusCode()] {
			resp.CloseBodyStream() //nolint:errcheck // discarding the failed answer
			fasthttp.ReleaseResponse(resp)
			continue
		}
		return resp, o, nil
	}
	return nil, nil, lastErr
}

// send makes one exchange with o over its pool. A GET, HEAD or OPTIONS
// whose pooled connection turned out closed before any response byte
// (l7's Retryable reset: the origin dropped an idle keep-alive connection)
// is sent once more, on a fresh connection; nothing else is replayed here
// (a response timeout is 504 or a failover, never a second try).
func (s *originSpec) send(o *origin, req *fasthttp.Request, resp *fasthttp.Response) error {
	err := o.client.Do(req, resp)
	if err == nil || !s.failover {
		return err
	}
	if le := l7.UpstreamError(err); !le.Retryable || le.Reason != l7.ReasonReset {
		return err
	}
	skip := resp.SkipBody
	resp.Reset()
	resp.SkipBody = skip
	return o.client.Do(req, resp)
}

// build writes the origin request: method, prefix + canonical path + the
// forwarded query, Host, the forwarded viewer headers, the validators of a
// revalidation, and the origin's custom headers last so they overwrite a
// viewer header of the same name.
func (s *originSpec) build(req *fasthttp.Request, o *origin, v cache.Validators) {
	req.Header.DisableNormalizing()
	req.Header.SetMethod(s.method)
	req.SetRequestURI(o.prefix + s.uri)
	if o.client.IsTLS {
		req.URI().SetScheme("https")
	}
	req.UseHostHeader = true
	if s.host != "" {
		req.Header.SetHost(s.host)
	} else {
		req.Header.SetHost(o.host)
	}
	for i := 0; i+1 < len(s.headers); i += 2 {
		req.Header.Add(s.headers[i], s.headers[i+1])
	}
	if v.IfNoneMatch != "" {
		req.Header.Set("If-None-Match", v.IfNoneMatch)
	}
	if v.IfModifiedSince != "" {
		req.Header.Set("If-Modified-Since", v.IfModifiedSince)
	}
	for i := 0; i+1 < len(o.headers); i += 2 {
		req.Header.Del(o.headers[i])
		req.Header.Add(o.headers[i], o.headers[i+1])
	}
	if len(s.body) > 0 {
		req.SetBodyRaw(s.body)
	}
}

// fetch is the cache.OriginFunc of a cacheable request: the answer is
// buffered (up to the store's object size; bigger ones are refused with
// cache.ErrNotBuffered and streamed by the caller), hop-by-hop fields are
// dropped and the rest copied into real strings.
func (s *originSpec) fetch(ctx context.Context, v cache.Validators) (*cache.OriginAnswer, error) {
	reqTime := s.now()
	resp, o, err := s.do(ctx, v)
	if err != nil {
		return nil, err
	}
	if cl := resp.Header.ContentLength(); cl > 0 && int64(cl) > s.maxObj {
		if !s.keep(resp, nil) {
			resp.CloseBodyStream() //nolint:errcheck // nobody will read it
			fasthttp.ReleaseResponse(resp)
		}
		return nil, cache.ErrNotBuffered
	}
	var body []byte
	if st := resp.BodyStream(); st != nil && s.method != "HEAD" {
		body, err = io.ReadAll(io.LimitReader(st, s.maxObj+1))
		if err != nil {
			resp.CloseBodyStream() //nolint:errcheck // broken
			fasthttp.ReleaseResponse(resp)
			return nil, originError(o.id, err)
		}
		if int64(len(body)) > s.maxObj {
			if !s.keep(resp, body) {
				resp.CloseBodyStream() //nolint:errcheck // nobody will read it
				fasthttp.ReleaseResponse(resp)
			}
			return nil, cache.ErrNotBuffered
		}
		resp.CloseBodyStream() //nolint:errcheck // fully read
	} else if s.method != "HEAD" {
		body = append([]byte(nil), resp.Body()...)
	}
	a := &cache.OriginAnswer{
		Status: resp.StatusCode(), Header: responseFields(&resp.Header), Body: body,
		RequestTime: reqTime, ResponseTime: s.now(),
	}
	fasthttp.ReleaseResponse(resp)
	return a, nil
}

func indexByte(b []byte, c byte) int {
	for i := range b {
		if b[i] == c {
			return i
		}
	}
	return -1
}

// responseFields copies an origin response header into cache fields,
// without hop-by-hop fields (l7's set, and the names in Connection), Date
// and Age. Content-Length stays: the store
// checks it against the body.
func responseFields(h *fasthttp.ResponseHeader) []cache.Field {
	// fasthttp reports text/plain for an answer without Content-Type; the
	// origin's answer is passed on and cached as sent (CloudFront and
	// NGINX add none either).
	h.SetNoDefaultContentType(true)
	// Names are as the origin spelled them (the pools do not normalise),
	// so Connection is looked up case-insensitively.
	var conn []byte
	for k, v := range h.All() {
		if strings.EqualFold(string(k), "Connection") {
			conn = append(append(conn, v...), ',')
		}
	}
	out := make([]cache.Field, 0, 12)
	if ct := h.ContentType(); len(ct) > 0 {
		out = append(out, cache.Field{Name: "Content-Type", Value: string(ct)})
	}
	if cl := h.ContentLength(); cl >= 0 {
		out = append(out, cache.Field{Name: "Content-Length", Value: fmt.Sprint(cl)})
	}
	for k, v := range h.All() {
		switch {
		case l7.HopByHop(k, conn), strings.EqualFold(string(k), "Date"), strings.EqualFold(string(k), "Content-Type"),
			strings.EqualFold(string(k), "Content-Length"):
			continue
		}
		out = append(out, cache.Field{Name: string(fasthttp.AppendNormalizedHeaderKeyBytes(nil, k)), Value: string(v)})
	}
	return out
}

// originError maps an error of the exchange with origin id through lb's
// mapping (l7.UpstreamError: a timeout is 504, a refused connect, a reset,
// a truncated or malformed answer 502, a full pool 503) and names the
// origin in the cause. The reason is l7's; CloudFront's name for it is
// cloudFrontDetail's.
func originError(id string, err error) error {
	le := *l7.UpstreamError(err)
	le.Err = fmt.Errorf("edge: origin %s: %w", id, le.Err)
	return &le
}

// cloudFrontDetail names an l7 reason the way CloudFront's
// x-edge-detailed-result-type does (cloudfront.md §6.16).
func cloudFrontDetail(reason string) string {
	switch reason {
	case l7.ReasonConnectRefused, l7.ReasonConnectTimeout:
		return "OriginConnectError"
	case l7.ReasonResponseTimeout, l7.ReasonReset:
		return "OriginCommError"
	case l7.ReasonMalformedResponse:
		return "OriginInvalidResponseError"
	case l7.ReasonResponseTooLarge:
		return "OriginHeaderTooBigError"
	}
	return "OriginError"
}
