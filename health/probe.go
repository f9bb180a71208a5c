package health

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/switchyard/switchyard/internal/runtime"
)

// UserAgent is sent by HTTP and HTTPS checks, as ELB does.
const UserAgent = "ELB-HealthChecker/2.0"

// DialFunc opens a check connection; see Options.Dial.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Result is the outcome of one check.
type Result struct {
	// OK is true when the check passed.
	OK bool
	// Reason is the ELB reason code of a failure: runtime.ReasonTimeout,
	// runtime.ReasonResponseCodeMismatch or runtime.ReasonFailedHealthChecks.
	Reason string
	// Status is the HTTP status received (0 for TCP or when none came).
	Status int
	// Err says what went wrong, nil when OK or on a status mismatch.
	Err error
}

var defaultDialer = &net.Dialer{}

// Probe runs one check of the target at addr (host:port) and returns its
// result. The connection is closed afterwards. HTTPS checks do not verify
// the target's certificate, as ELB. cfg.Matcher must parse (Validate); an
// unparsable matcher fails every HTTP check.
func Probe(ctx context.Context, cfg Config, addr string, opts Options) Result {
	m, err := ParseMatcher(cfg.Matcher)
	if err != nil && cfg.Protocol != TCP {
		return Result{Reason: runtime.ReasonFailedHealthChecks, Err: fmt.Errorf("health: probe %s: %w", addr, err)}
	}
	return probe(ctx, cfg, m, addr, opts)
}

func probe(ctx context.Context, cfg Config, m Matcher, addr string, opts Options) Result {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return Result{Reason: runtime.ReasonFailedHealthChecks, Err: fmt.Errorf("health: probe %s: %w", addr, err)}
	}
	if cfg.Port != 0 {
		port = strconv.Itoa(cfg.Port)
	}
	dst := net.JoinHostPort(host, port)
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	dial := opts.Dial
	if dial == nil {
		dial = defaultDialer.DialContext
	}
	conn, err := dial(ctx, "tcp", dst)
	if err != nil {
		return failure(ctx, dst, "connect", err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(dl); err != nil {
			return failure(ctx, dst, "connect", err)
		}
	}
	switch cfg.Protocol {
	case TCP:
		return Result{OK: true}
	case HTTPS:
		tc := opts.TLSConfig
		if tc == nil {
			// ELB does not validate target certificates.
			tc = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // as ELB
		}
		tlsConn := tls.Client(conn, tc)
		if err := tlsConn.HandshakeContext(ctx); err != nil {
			return failure(ctx, dst, "tls handshake", err)
		}
		conn = tlsConn
	}
	path := cfg.Path
	if path == "" {
		path = "/"
	}
	// A fixed request, CRLF line endings, as ELB sends it.
	req := make([]byte, 0, 128+len(path)+len(dst))
	req = append(req, "GET "...)
	req = append(req, path...)
	req = append(req, " HTTP/1.1\r\nHost: "...)
	req = append(req, dst...)
	req = append(req, "\r\nUser-Agent: "+UserAgent+"\r\nAccept: */*\r\nConnection: close\r\n\r\n"...)
	if _, err := conn.Write(req); err != nil {
		return failure(ctx, dst, "write request", err)
	}
	line, err := bufio.NewReaderSize(conn, 1024).ReadSlice('\n')
	if err != nil {
		return failure(ctx, dst, "read status", err)
	}
	code, ok := parseStatusLine(line)
	if !ok {
		return Result{Reason: runtime.ReasonFailedHealthChecks,
			Err: fmt.Errorf("health: probe %s: malformed status line %q", dst, truncate(line, 64))}
	}
	if !m.Match(code) {
		return Result{Reason: runtime.ReasonResponseCodeMismatch, Status: code}
	}
	return Result{OK: true, Status: code}
}

// parseStatusLine reads the code of "HTTP/1.x NNN reason\r\n".
func parseStatusLine(b []byte) (int, bool) {
	if len(b) < 12 || string(b[:7]) != "HTTP/1." || b[7] < '0' || b[7] > '9' || b[8] != ' ' {
		return 0, false
	}
	c := b[9:12]
	for _, d := range c {
		if d < '0' || d > '9' {
			return 0, false
		}
	}
	if len(b) > 12 && b[12] != ' ' && b[12] != '\r' && b[12] != '\n' {
		return 0, false
	}
	code := int(c[0]-'0')*100 + int(c[1]-'0')*10 + int(c[2]-'0')
	if code < 100 {
		return 0, false
	}
	return code, true
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// failure classifies err: deadlines are Target.Timeout, anything else
// (refused, reset, TLS, closed early) Target.FailedHealthChecks.
func failure(ctx context.Context, dst, op string, err error) Result {
	reason := runtime.ReasonFailedHealthChecks
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) ||
		(errors.As(err, &ne) && ne.Timeout()) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		reason = runtime.ReasonTimeout
	}
	return Result{Reason: reason, Err: fmt.Errorf("health: %s %s: %w", op, dst, err)}
}
