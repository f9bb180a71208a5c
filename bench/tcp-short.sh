#!/usr/bin/env bash
# tcp-short.sh — many short TCP connections: lb (TCP listener, flow_hash)
# against HAProxy `mode tcp`, in one run, one connection per request.
#
#   usage: bench/tcp-short.sh            (from the repository root or anywhere)
#
# Load: wrk with `Connection: close`; the origin (the shared bench backend,
# fasthttp) closes after each response and wrk opens a new connection for the
# next request, so every request is one TCP connection through the proxy (the
# script checks that the origin saw about as many connections as wrk counted
# requests). Pinned like the shared harness: the proxy alone on CPU $PROXY_CPU
# (GOMAXPROCS=1 / HAProxy nbthread 1), wrk and the origin on CPU $LOAD_CPU.
#
# Reported per system and round: connections/s, proxy CPU seconds (utime+stime
# from /proc/PID/stat), connections per proxy CPU-second, p50/p99 (ms),
# errors; then medians over ROUNDS alternating rounds and lb/HAProxy ratios.
#
# Knobs: ROUNDS=3 DURATION=5 WARMUP=1 CONNS=32 WRK_THREADS=1 PATH_=/small
#        PROXY_CPU=1 LOAD_CPU=0 LB_BIN= (prebuilt lb; default: go build ./cmd/lb)
#        SYSTEMS="haproxy lb"
#        CLOSE=1 (CLOSE=0: keep-alive, no `Connection: close`; then the
#        columns count requests, not connections — a check that keep-alive
#        did not regress, e.g. CLOSE=0 PATH_=/large)
#        LB2_BIN= (a second prebuilt lb, system "lb2" on PORT_BASE+3, for
#        A/B runs: SYSTEMS="haproxy lb lb2")
#        PAIR=1: exactly two SYSTEMS, loaded at the same time (each with its
#        own wrk -c$((CONNS/2)), both proxies on CPU $PROXY_CPU), so that
#        drift on a shared machine hits both alike (lb-ab.sh's PAIR=1)
# Ports: PORT_BASE (default 18186) origin, +1 HAProxy, +2 lb, +3 lb2; keep
# them within 18181–18199. The script refuses ports already in use.
# Loopback only; every wrk run bounded by -d and `timeout`; processes started
# here are stopped by PID on exit.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SHARED=${SHARED:-/work/shared/bench}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
CONNS=${CONNS:-32}
WRK_THREADS=${WRK_THREADS:-1}
PATH_=${PATH_:-/small}
PROXY_CPU=${PROXY_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}
SYSTEMS=${SYSTEMS:-"haproxy lb"}
CLOSE=${CLOSE:-1}
HDR=(-H 'Connection: close')
[ "$CLOSE" = 0 ] && HDR=()
PORT_BASE=${PORT_BASE:-18186}
P_ORIGIN=$PORT_BASE P_HAPROXY=$(( PORT_BASE + 1 )) P_LB=$(( PORT_BASE + 2 )) P_LB2=$(( PORT_BASE + 3 ))

for tool in wrk haproxy taskset go awk ss; do
  command -v "$tool" >/dev/null || { echo "tcp-short.sh: $tool not found" >&2; exit 1; }
done

SCRATCH=$(mktemp -d /tmp/tcp-short.XXXXXX)
PIDS=()
stop_pid() {
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local i
  for (( i=${#PIDS[@]}-1; i>=0; i-- )); do stop_pid "${PIDS[$i]}"; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_bg() { # start_bg LOG CMD... ; sets LAST_PID
  local log=$1; shift
  "$@" >"$log" 2>&1 &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
}
ticks() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $12+$13}'; }
wait_port() { # wait_port PORT: up to 10 s for a listener
  local i
  for i in $(seq 100); do
    ss -Hltn "sport = :$1" 2>/dev/null | grep -q . && return 0
    sleep 0.1
  done
  return 1
}
# passive_opens: TCP accepts on this host (/proc/net/snmp). Each request
# through a proxy is two accepts (proxy and origin), so opens/2/requests ≈ 1
# proves one connection per request (other users of the host add a little).
passive_opens() { awk '/^Tcp:/ { if (h) { print $6; exit } h=1 }' /proc/net/snmp; }

HZ=$(getconf CLK_TCK)
LG=(taskset -c "$LOAD_CPU")
PX=(taskset -c "$PROXY_CPU")

echo "building origin and lb in $SCRATCH" >&2
( cd "$SHARED/backend" && go build -trimpath -o "$SCRATCH/backend" . )
if [ -n "${LB_BIN:-}" ]; then cp "$LB_BIN" "$SCRATCH/lb"; else ( cd "$ROOT" && go build -trimpath -o "$SCRATCH/lb" ./cmd/lb ); fi
case " $SYSTEMS " in
  *" lb2 "*) [ -n "${LB2_BIN:-}" ] || { echo "tcp-short.sh: system lb2 needs LB2_BIN" >&2; exit 2; }
             cp "$LB2_BIN" "$SCRATCH/lb2" ;;
esac

for p in "$P_ORIGIN" "$P_HAPROXY" "$P_LB" "$P_LB2"; do
  if ss -Hltn "sport = :$p" | grep -q .; then echo "tcp-short.sh: port $p in use; set PORT_BASE" >&2; exit 1; fi
done
start_bg "$SCRATCH/origin.log" "${LG[@]}" "$SCRATCH/backend" -port "$P_ORIGIN" -n 1
wait_port "$P_ORIGIN" || { echo "origin did not start" >&2; exit 1; }

sed -e "s/@THREADS@/1/" -e "s/@PORT@/$P_HAPROXY/" \
    -e "s/@HAPROXY_SERVERS@/    server o1 127.0.0.1:$P_ORIGIN/" \
    "$SHARED/conf/haproxy-tcp.cfg" > "$SCRATCH/haproxy.cfg"
lb_yaml() { # lb_yaml PORT
  cat <<YAML
admin: {address: "127.0.0.1:0"}
listeners:
  - name: stream
    protocol: TCP
    address: 127.0.0.1:$1
    default_action: {forward: {target_group: origins}}
target_groups:
  - name: origins
    protocol: TCP
    targets: ["127.0.0.1:$P_ORIGIN"]
    algorithm: flow_hash
    health_check: {protocol: TCP, interval: 30s}
YAML
}
lb_yaml "$P_LB" > "$SCRATCH/lb.yaml"
lb_yaml "$P_LB2" > "$SCRATCH/lb2.yaml"

start_bg "$SCRATCH/haproxy.log" "${PX[@]}" haproxy -db -f "$SCRATCH/haproxy.cfg"
HAPROXY_PID=$LAST_PID
start_bg "$SCRATCH/lb.log" "${PX[@]}" env GOMAXPROCS=1 "$SCRATCH/lb" -config "$SCRATCH/lb.yaml" -log-level warn
LB_PID=$LAST_PID
LB2_PID=
if [ -e "$SCRATCH/lb2" ]; then
  start_bg "$SCRATCH/lb2.log" "${PX[@]}" env GOMAXPROCS=1 "$SCRATCH/lb2" -config "$SCRATCH/lb2.yaml" -log-level warn
  LB2_PID=$LAST_PID
fi
wait_port "$P_HAPROXY" || { echo "haproxy did not start" >&2; cat "$SCRATCH/haproxy.log" >&2; exit 1; }
wait_port "$P_LB" || { echo "lb did not start" >&2; cat "$SCRATCH/lb.log" >&2; exit 1; }
if [ -n "$LB2_PID" ]; then
  wait_port "$P_LB2" || { echo "lb2 did not start" >&2; cat "$SCRATCH/lb2.log" >&2; exit 1; }
fi

cat > "$SCRATCH/report.lua" <<'LUA'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK %d %d %d %d %d %d %d %.3f %.3f\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
LUA

runwrk() { # runwrk PORT SECONDS
  timeout $(( $2 + 15 )) "${LG[@]}" wrk -t "$WRK_THREADS" -c "$CONNS" -d "${2}s" --latency \
    "${HDR[@]}" -s "$SCRATCH/report.lua" "http://127.0.0.1:$1$PATH_" 2>&1 | awk '/^WRK /'
}

RES="$SCRATCH/results.txt"
: > "$RES"
printf '%-8s %5s %10s %8s %12s %8s %8s %6s %9s\n' system round conn/s cpu_s conn/cpu_s p50_ms p99_ms errors origin/req
sysport() { # sysport SYS: sets port and pid
  case $1 in
    haproxy) port=$P_HAPROXY pid=$HAPROXY_PID ;;
    lb) port=$P_LB pid=$LB_PID ;;
    lb2) port=$P_LB2 pid=$LB2_PID ;;
    *) echo "unknown system $1" >&2; exit 2 ;;
  esac
}
# line_out SYS ROUND WRKLINE TICKS OPENS: one result line. PassiveOpens
# counts accepts by the proxy and by the origin: two per request.
line_out() {
  local req dur ec er ew es et p50 p99
  read -r _ req dur ec er ew es et p50 p99 <<<"$3"
  awk -v s="$1" -v r="$2" -v req="$req" -v dur="$dur" -v dt="$4" -v hz="$HZ" \
      -v err=$(( ec + er + ew + es + et )) -v p50="$p50" -v p99="$p99" -v opens="$5" 'BEGIN {
    cps = req / (dur / 1e6); cpu = dt / hz; per = (cpu > 0) ? req / cpu : 0
    printf "%-8s %5d %10.0f %8.2f %12.0f %8.2f %8.2f %6d %9.2f\n", s, r, cps, cpu, per, p50, p99, err, opens / 2 / (req > 0 ? req : 1)
  }' | tee -a "$RES"
}
if [ -n "${PAIR:-}" ]; then
  set -- $SYSTEMS
  [ $# -eq 2 ] || { echo "tcp-short.sh: PAIR=1 takes exactly two SYSTEMS" >&2; exit 2; }
  CONNS=$(( CONNS / 2 ))
  sysport "$1"; port1=$port pid1=$pid
  sysport "$2"; port2=$port pid2=$pid
  for r in $(seq "$ROUNDS"); do
    runwrk "$port1" "$WARMUP" >/dev/null & w=$!
    runwrk "$port2" "$WARMUP" >/dev/null; wait "$w"
    sleep 1
    kill -0 "$pid1" 2>/dev/null && kill -0 "$pid2" 2>/dev/null || { echo "a system exited" >&2; exit 1; }
    a0=$(ticks "$pid1"); b0=$(ticks "$pid2"); o0=$(passive_opens)
    runwrk "$port1" "$DURATION" > "$SCRATCH/w1" & w=$!
    runwrk "$port2" "$DURATION" > "$SCRATCH/w2"; wait "$w"
    a1=$(ticks "$pid1"); b1=$(ticks "$pid2"); o1=$(passive_opens)
    l1=$(cat "$SCRATCH/w1"); l2=$(cat "$SCRATCH/w2")
    [ -n "$l1" ] && [ -n "$l2" ] || { echo "wrk gave no result" >&2; exit 1; }
    # PassiveOpens covers both systems here: origin/req is over the pair.
    r1=$(awk '{print $2}' <<<"$l1"); r2=$(awk '{print $2}' <<<"$l2")
    line_out "$1" "$r" "$l1" $(( a1 - a0 )) $(( (o1 - o0) * r1 / (r1 + r2 > 0 ? r1 + r2 : 1) ))
    line_out "$2" "$r" "$l2" $(( b1 - b0 )) $(( (o1 - o0) * r2 / (r1 + r2 > 0 ? r1 + r2 : 1) ))
  done
else
  for r in $(seq "$ROUNDS"); do
    order=$SYSTEMS
    [ $(( r % 2 )) -eq 0 ] && order=$(printf '%s\n' $SYSTEMS | tac | tr '\n' ' ')
    for sys in $order; do
      sysport "$sys"
      runwrk "$port" "$WARMUP" >/dev/null
      sleep 1
      kill -0 "$pid" 2>/dev/null || { echo "$sys exited" >&2; exit 1; }
      t0=$(ticks "$pid"); o0=$(passive_opens)
      line=$(runwrk "$port" "$DURATION")
      t1=$(ticks "$pid"); o1=$(passive_opens)
      [ -n "$line" ] || { echo "wrk gave no result for $sys" >&2; exit 1; }
      line_out "$sys" "$r" "$line" $(( t1 - t0 )) $(( o1 - o0 ))
    done
  done
fi

echo
echo "medians over $ROUNDS rounds (conn/cpu_s = connections per proxy CPU-second):"
printf '%-8s %10s %12s %8s %8s %8s %s\n' system conn/s conn/cpu_s p50_ms p99_ms errors "ratio_to_haproxy(conn/cpu_s)"
med() { sort -n | awk '{a[NR]=$1} END { if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2 }'; }
ref=""
for sys in $SYSTEMS; do
  cps=$(awk -v s="$sys" '$1==s {print $3}' "$RES" | med)
  per=$(awk -v s="$sys" '$1==s {print $5}' "$RES" | med)
  p50=$(awk -v s="$sys" '$1==s {print $6}' "$RES" | med)
  p99=$(awk -v s="$sys" '$1==s {print $7}' "$RES" | med)
  err=$(awk -v s="$sys" '$1==s {e+=$8} END {print e+0}' "$RES")
  [ "$sys" = haproxy ] && ref=$per
  ratio=$(awk -v a="$per" -v b="${ref:-0}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
  printf '%-8s %10.0f %12.0f %8.2f %8.2f %8d %s\n' "$sys" "$cps" "$per" "$p50" "$p99" "$err" "$ratio"
done
if [ -n "${PAIR:-}" ]; then
  # Per round, the second system's conn/cpu_s over the first's (same window).
  awk -v a="$1" -v b="$2" '$1==a {x[$2]=$5} $1==b {y[$2]=$5} END { for (r in x) if (x[r] > 0 && (r in y)) print y[r] / x[r] }' "$RES" |
    sort -n | awk -v a="$1" -v b="$2" '{v[NR]=$1} END { if (NR) printf "%s/%s per round (same window): median %.3f, min %.3f, max %.3f, %d rounds\n", b, a, (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2), v[1], v[NR], NR }'
fi
