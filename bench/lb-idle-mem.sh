#!/usr/bin/env bash
# lb-idle-mem.sh — SPEC §6 memory check: RSS of lb holding N idle
# keep-alive client connections (target: 10 000 under 128 MiB).
#
#   usage: bench/lb-idle-mem.sh LB_BINARY
#   env:   N=10000 PORT=18182 BPORT=18198 SETTLE=3
#
# Starts one fasthttp origin and lb with the lb-http config of
# bench/sut.sh (every feature on) on loopback, reads lb's VmRSS, then opens
# N client connections, sends one GET /small on each (so each is a served
# keep-alive connection, waiting for its next request, like a browser's),
# reads every answer whole, leaves them all open and idle, waits SETTLE
# seconds and reads VmRSS again. Prints both and the increase per
# connection. Bounded: every step has a deadline, and all processes
# started here are stopped by PID on exit.
# Wrap it in `flock /tmp/switchyard-bench.lock`: opening 10 000
# connections is a burst of load.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
LB=${1:?usage: lb-idle-mem.sh LB_BINARY}
N=${N:-10000} PORT=${PORT:-18182} BPORT=${BPORT:-18198} SETTLE=${SETTLE:-3}
SHARED=${SHARED:-/work/shared/bench}
export PATH="$PATH:/usr/local/go/bin"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[ "$(ulimit -n)" -gt $((N + 100)) ] || { echo "lb-idle-mem.sh: open-file limit $(ulimit -n) too low for N=$N" >&2; exit 2; }
SCRATCH=$(mktemp -d /tmp/lb-idle-mem.XXXXXX)
PIDS=()
cleanup() { local p; for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$SCRATCH/client"
cat >"$SCRATCH/client/main.go" <<'GO'
// Command client opens -n keep-alive connections to -addr, sends one GET on
// each, reads each answer whole, prints "ready" and holds the connections
// open until stdin closes or -hold passes.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18182", "lb listener (loopback)")
	n := flag.Int("n", 10000, "connections")
	hold := flag.Duration("hold", 60*time.Second, "longest time the connections are held")
	flag.Parse()
	conns := make([]net.Conn, 0, *n)
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	var failed int
	for i := 0; i < *n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := net.DialTimeout("tcp", *addr, 5*time.Second)
			if err == nil {
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				_, err = io.WriteString(c, "GET /small HTTP/1.1\r\nHost: bench.example\r\nUser-Agent: lb-idle-mem\r\n\r\n")
			}
			if err == nil {
				var resp *http.Response
				resp, err = http.ReadResponse(bufio.NewReader(c), nil)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != 200 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				_ = c.SetDeadline(time.Time{})
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed++
				if c != nil {
					c.Close()
				}
				return
			}
			conns = append(conns, c)
		}()
	}
	wg.Wait()
	fmt.Printf("ready %d open %d failed\n", len(conns), failed)
	done := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); close(done) }()
	select {
	case <-done:
	case <-time.After(*hold):
	}
	for _, c := range conns {
		c.Close()
	}
}
GO
(cd "$SCRATCH/client" && cat >go.mod <<'MOD'
module lbidlemem
go 1.22
MOD
go build -o "$SCRATCH/client-bin" .)
(cd "$SHARED/backend" && go build -trimpath -o "$SCRATCH/backend" .)

"$SCRATCH/backend" -port "$BPORT" -n 1 >"$SCRATCH/backend.log" 2>&1 &
PIDS+=($!)
cfg=$(SUT_CONFIG_ONLY=1 "$HERE/sut.sh" lb-http "$PORT" "127.0.0.1:$BPORT" "$SCRATCH")
"$LB" -config "$cfg" -log-level warn >"$SCRATCH/lb.log" 2>&1 &
LBPID=$!
PIDS+=("$LBPID")
for i in $(seq 100); do
  [ "$(curl -s -o /dev/null -m 1 -w '%{http_code}' "http://127.0.0.1:$PORT/small" || true)" = 200 ] && break
  sleep 0.1
done
rss() { awk '/^VmRSS:/{print $2}' "/proc/$LBPID/status"; }
sleep 1
r0=$(rss)
coproc CLIENT { timeout 120 "$SCRATCH/client-bin" -addr "127.0.0.1:$PORT" -n "$N" -hold 100s; }
PIDS+=("$CLIENT_PID")
read -r -t 90 line <&"${CLIENT[0]}" || { echo "client did not finish opening connections" >&2; exit 1; }
echo "client: $line"
sleep "$SETTLE"
r1=$(rss)
nconn=$(ls /proc/$LBPID/fd | wc -l)
# A second epoll set is l7's parker: the idle connections wait there
# without a goroutine (Linux, plain HTTP).
neps=$(ls -l /proc/$LBPID/fd | grep -c eventpoll || true)
nthr=$(awk '/^Threads:/{print $2}' "/proc/$LBPID/status")
exec {CLIENT[1]}>&-
printf 'lb %s: VmRSS before %d KiB, with %d idle connections %d KiB (%.1f MiB), +%.1f KiB per connection, %d fds, %d epoll sets (2: parked), %d threads\n' \
  "$(basename "$LB")" "$r0" "$N" "$r1" "$(echo "$r1/1024" | bc -l)" "$(echo "($r1-$r0)/$N" | bc -l)" "$nconn" "$neps" "$nthr"
