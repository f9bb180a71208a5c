package l7

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/config"
)

// wsEcho is a target that answers an Upgrade with 101 and then echoes
// every byte back, recording the upgrade request it saw.
func wsEcho(t *testing.T, seenReq chan<- *http.Request) string {
	return rawTarget(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		seenReq <- req
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 1024)
		for {
			n, err := br.Read(buf)
			if n > 0 {
				c.Write(buf[:n])
			}
			if err != nil {
				return
			}
		}
	})
}

func TestWebSocketEchoThroughProxy(t *testing.T) {
	seenReq := make(chan *http.Request, 4)
	a := wsEcho(t, seenReq)
	b := wsEcho(t, seenReq)
	h := startLB(t, lbSetup{listener: config.Listener{Protocol: "HTTP", DefaultAction: fwd("ws")},
		groups: []config.TargetGroup{group("ws", a, b)}})

	c, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET /chat HTTP/1.1\r\nHost: ws.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 {
		t.Fatalf("status %d, want 101", resp.StatusCode)
	}
	var up *http.Request
	select {
	case up = <-seenReq:
	case <-time.After(3 * time.Second):
		t.Fatal("target saw no upgrade request")
	}
	if up.Header.Get("Upgrade") != "websocket" || !strings.EqualFold(up.Header.Get("Connection"), "Upgrade") ||
		up.Header.Get("Sec-WebSocket-Key") != "dGhlIHNhbXBsZSBub25jZQ==" || up.Header.Get("X-Forwarded-For") != "127.0.0.1" {
		t.Fatalf("target got upgrade headers %v", up.Header)
	}
	// Frames (any bytes) echo back, on the same pinned target, while the
	// tunnel is counted in flight.
	for i := 0; i < 5; i++ {
		msg := strings.Repeat(string(rune('a'+i)), 100+i)
		io.WriteString(c, msg)
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(br, got); err != nil || string(got) != msg {
			t.Fatalf("echo %d: %q %v", i, got, err)
		}
	}
	if n := h.srv.Counters().Upgrades.Load(); n != 1 {
		t.Fatalf("upgrades %d", n)
	}
	inflight := int64(0)
	for _, tg := range h.reg.Lookup("ws").Targets() {
		inflight += tg.InFlight()
	}
	if inflight != 1 {
		t.Fatalf("in-flight during the tunnel %d, want 1", inflight)
	}
	c.Close()
	rec := waitRecord(t, h.obs, func(r Record) bool { return r.Type == "ws" })
	if rec.Status != 101 || rec.SentBytes < 500 || rec.ReceivedBytes < 500 {
		t.Fatalf("ws record %+v", rec)
	}
	for _, tg := range h.reg.Lookup("ws").Targets() {
		if tg.InFlight() != 0 {
			t.Fatalf("target %s still in flight after close", tg.Addr)
		}
	}
}

func waitRecord(t *testing.T, r *recorder, ok func(Record) bool) Record {
	t.Helper()
	for i := 0; i < 400; i++ {
		for _, rec := range r.all() {
			if ok(rec) {
				return rec
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("record not observed")
	return Record{}
}

func TestWebSocketEndsWhenTargetDrained(t *testing.T) {
	seenReq := make(chan *http.Request, 1)
	a := wsEcho(t, seenReq)
	h := startLB(t, lbSetup{listener: config.Listener{Protocol: "HTTP", DefaultAction: fwd("ws")},
		groups: []config.TargetGroup{group("ws", a)}})
	c, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: ws.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	br := bufio.NewReader(c)
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade: %v", err)
	}
	io.WriteString(c, "ping")
	buf := make([]byte, 4)
	if _, err := io.ReadFull(br, buf); err != nil {
		t.Fatal(err)
	}
	// Deregister with no delay: the tunnel is closed at once.
	h.reg.Lookup("ws").Deregister([]string{a}, 0)
	if _, err := io.ReadAll(br); err != nil && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("tunnel did not end cleanly: %v", err)
	}
	waitRecord(t, h.obs, func(r Record) bool { return r.Type == "ws" })
}

func TestUpgradeRefusedByTargetIsPassedThrough(t *testing.T) {
	addr := rawTarget(t, func(c net.Conn) {
		readRequestHead(c)
		io.WriteString(c, "HTTP/1.1 426 Upgrade Required\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnope")
	})
	h := startLB(t, lbSetup{listener: config.Listener{Protocol: "HTTP", DefaultAction: fwd("ws")},
		groups: []config.TargetGroup{group("ws", addr)}})
	out := h.raw("GET / HTTP/1.1\r\nHost: ws.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	if rawStatus(t, out) != 426 || !strings.HasSuffix(out, "nope") {
		t.Fatalf("client got %q", out)
	}
	rec := waitRecord(t, h.obs, func(r Record) bool { return r.Type == "ws" })
	if rec.Status != 426 || rec.TargetStatus != 426 {
		t.Fatalf("record status %d/%d", rec.Status, rec.TargetStatus)
	}
}

func TestShutdownClosesTunnelsAtDeadline(t *testing.T) {
	seenReq := make(chan *http.Request, 1)
	a := wsEcho(t, seenReq)
	h := startLB(t, lbSetup{listener: config.Listener{Protocol: "HTTP", DefaultAction: fwd("ws")},
		groups: []config.TargetGroup{group("ws", a)}})
	c, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: ws.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	br := bufio.NewReader(c)
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_ = h.srv.Shutdown(ctx)
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Shutdown took %v with a tunnel open", d)
	}
	if _, err := io.ReadAll(br); err != nil && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("tunnel not closed by Shutdown: %v", err)
	}
}
