#!/usr/bin/env bash
# lb-ab.sh — quick A/B of lb builds (and the HTTP peers) on the 1 KiB or
# 256 KiB path, requests per proxy CPU-second, alternating the systems
# round by round so drift on a shared machine hits each one equally.
#
#   usage: bench/lb-ab.sh SYSTEM...
#   SYSTEM: a path to an lb binary (run with the lb-http config of
#           bench/sut.sh: 3 rules before the forward, X-Forwarded-*, trace
#           id, ALB access log, metrics, health checks), or the words
#           haproxy / nginx (the shared harness's peer configs).
#   env: ROUNDS=3 DURATION=8 WARMUP=2 CONNS=64 PATH_=small
#        PORT=18181 BPORT=18196 (2 backends: BPORT, BPORT+1)
#        RATE= (req/s): pace every connection to CONNS*1000/RATE ms between
#        requests (the shared harness's paced.lua) to compare CPU and p99 at
#        about equal load instead of at saturation
#        HDRS=browser: wrk sends a desktop browser's request header block
#        (13 fields, ~0.6 KiB, as l7's BenchmarkHeaderScans) instead of the
#        Host line alone, so header handling costs what it costs in traffic
#        PEER_LOG=1: the peers write an access log line per request too
#        (HAProxy: option httplog to stdout, a file here — its container
#        default, one write per line; NGINX: the combined format to a file
#        with buffer=64k flush=1s, batched as lb's log is), to see how much
#        of a ratio is lb's log. NOLOG=1: lb without its access log. Neither
#        is the issue's measurement (peers as the shared harness runs them,
#        lb with everything on); they size the logging's share.
#        CLOSE=1: a new client connection per request (see below)
#        PAIR=1: exactly two systems, run at the same time instead of one
#        after the other: both on CPU 1, each loaded by its own wrk -t1
#        -c(CONNS/2) on CPU 0 (the second on PORT+1), so whatever else the
#        machine does in a round hits both alike. Round to round the
#        ratio then moves by about ±1 % for two lb builds, ±3 % for lb
#        against HAProxy, instead of ±10 % (session 5, a shared machine);
#        CPU 0 may limit the load, so compare ratios, not absolute
#        numbers, with solo runs. Give the two binaries different file
#        names (results are keyed by name).
#
# The proxy runs alone on CPU 1 (GOMAXPROCS=1 / one thread; with PAIR=1
# the two proxies share it), wrk and the fasthttp origins on CPU 0.
# Proxy CPU is utime+stime from /proc/PID/stat
# over the measured window. Every load run is bounded (wrk -d, timeout).
# Wrap the whole script in `flock /tmp/switchyard-bench.lock`.
# Output: one line per system and round, then medians per system and the
# median of each round's req/CPU-s ratio to the first system.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROUNDS=${ROUNDS:-3} DURATION=${DURATION:-8} WARMUP=${WARMUP:-2} CONNS=${CONNS:-64}
PATH_=${PATH_:-small} PORT=${PORT:-18181} BPORT=${BPORT:-18196}
SHARED=${SHARED:-/work/shared/bench}
WRK_LUA=$SHARED/conf/report.lua
if [ -n "${RATE:-}" ]; then
  d=$((CONNS * 1000 / RATE)); [ "$d" -ge 1 ] || d=1
  export WRK_DELAY_MS=$d WRK_REPORT_LUA=$SHARED/conf/report.lua
  WRK_LUA=$SHARED/conf/paced.lua
fi
WRK_H=()
if [ "${HDRS:-}" = browser ]; then
  WRK_H=(-H "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
    -H "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
    -H "Accept-Language: en-US,en;q=0.5" -H "Accept-Encoding: gzip, deflate, br, zstd"
    -H "Referer: https://www.example.com/articles/2026/11/some-long-article-title"
    -H "Cookie: session=0123456789abcdef0123456789abcdef; prefs=dark; _ga=GA1.2.123456789.1700000000"
    -H "Upgrade-Insecure-Requests: 1" -H "Sec-Fetch-Dest: document" -H "Sec-Fetch-Mode: navigate"
    -H "Sec-Fetch-Site: same-origin" -H "Sec-Fetch-User: ?1" -H "Priority: u=0, i")
fi
# CLOSE=1: every request on a new client connection (wrk sends
# Connection: close and reconnects), the proxies' per-connection cost.
[ -z "${CLOSE:-}" ] || WRK_H+=(-H "Connection: close")
[ $# -ge 1 ] || { echo "usage: lb-ab.sh SYSTEM..." >&2; exit 2; }
export PATH="$PATH:/usr/local/go/bin:/usr/sbin"
. "$HERE/need.sh"
need wrk jq curl taskset
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
SCRATCH=$(mktemp -d /tmp/lb-ab.XXXXXX)
CLK=$(getconf CLK_TCK)
PIDS=()
cleanup() { local p; for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
trap 'exit 130' INT TERM

(cd "$SHARED/backend" && go build -trimpath -o "$SCRATCH/backend" .)
taskset -c 0 "$SCRATCH/backend" -port "$BPORT" -n 2 >"$SCRATCH/backend.log" 2>&1 &
PIDS+=($!)
B1=127.0.0.1:$BPORT B2=127.0.0.1:$((BPORT + 1))

wait_up() {
  local i
  for i in $(seq 100); do
    [ "$(curl -s -o /dev/null -m 1 -w '%{http_code}' "http://127.0.0.1:$1/small" || true)" = 200 ] && return 0
    sleep 0.1
  done
  return 1
}
wait_up "$BPORT" || { echo "backend did not start" >&2; exit 1; }

declare -A EP0
epolls() { ls -l "/proc/$1/fd" 2>/dev/null | grep -c eventpoll || true; }

start_sys() { # start_sys SYSTEM [PORT DIR]; sets SUT
  local sys=$1 port=${2:-$PORT} dir=${3:-$SCRATCH}
  mkdir -p "$dir"
  case "$sys" in
  haproxy)
    sed -e "s/@THREADS@/1/; s/@PORT@/$port/" -e "/^@HAPROXY_SERVERS@$/c\\    server s1 $B1\n    server s2 $B2" \
      "$SHARED/conf/haproxy-http.cfg" >"$dir/haproxy.cfg"
    if [ -n "${PEER_LOG:-}" ]; then
      sed -i -e 's/^global$/global\n    log stdout format raw local0/' \
        -e 's/^defaults$/defaults\n    log global\n    option httplog/' "$dir/haproxy.cfg"
    fi
    taskset -c 1 haproxy -db -f "$dir/haproxy.cfg" >"$dir/haproxy.log" 2>&1 &
    ;;
  nginx)
    mkdir -p "$dir/nginx-tmp"
    sed -e "s/@THREADS@/1/; s/@PORT@/$port/; s|@SCRATCH@|$dir|g" \
      -e "/^@NGINX_SERVERS@$/c\\        server $B1;\n        server $B2;" \
      "$SHARED/conf/nginx-proxy.conf" >"$dir/nginx.conf"
    if [ -n "${PEER_LOG:-}" ]; then
      sed -i "s|access_log off;|access_log $dir/nginx-access.log combined buffer=64k flush=1s;|" "$dir/nginx.conf"
    fi
    taskset -c 1 nginx -p "$dir" -e "$dir/nginx.stderr.log" -c "$dir/nginx.conf" >"$dir/nginx.log" 2>&1 &
    ;;
  *)
    cfg=$(SUT_CONFIG_ONLY=1 "$HERE/sut.sh" lb-http "$port" "$B1,$B2" "$dir")
    [ -z "${NOLOG:-}" ] || sed -i '/^access_log:/d' "$cfg"
    GOMAXPROCS=1 taskset -c 1 "$sys" -config "$cfg" -log-level warn >"$dir/lb.log" 2>&1 &
    ;;
  esac
  SUT=$!
  PIDS+=("$SUT")
  wait_up "$port" || { echo "$sys did not come up" >&2; cat "$dir"/*.log >&2; exit 1; }
  EP0[$SUT]=$(epolls "$SUT")
}

ticks() { # utime+stime of PID and its children (nginx workers)
  local t=0 p v
  for p in $1 $(pgrep -P "$1" || true); do
    v=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12+$13}') || v=0
    t=$((t + ${v:-0}))
  done
  echo "$t"
}

# report SYSTEM ROUND PID TICKS WRK_OUTPUT: one result line, and a warning
# when lb parked connections during a keep-alive run.
report() {
  local sys=$1 r=$2 pid=$3 ticks=$4 out=$5 rss w line ep
  rss=$(awk '/^VmRSS:/{print $2}' "/proc/$pid/status")
  w=$(sed -n 's/^WRKJSON //p' <<<"$out")
  line=$(jq -r --arg sys "$(basename "$sys")" --argjson r "$r" --argjson ticks "$ticks" --argjson hz "$CLK" --argjson rss "$rss" '
    (.duration_us/1e6) as $d | ($ticks/$hz) as $cpu |
    "\($sys) \($r) \(.requests/$d|floor) \(if $cpu>0 then (.requests/$cpu|floor) else 0 end) \(.lat_p50_us/1000) \(.lat_p99_us/1000) \((100*$cpu/$d)|floor) \(.err_connect+.err_read+.err_write+.err_timeout+.err_status) \($rss/1024|floor)"' <<<"$w")
  echo "$line" | tee -a "$RES"
  # lb makes one more epoll set (l7's parker) only when an idle
  # keep-alive connection parks: a keep-alive benchmark should never. Its
  # sets at start (the runtime's, one per event loop) are the baseline.
  if [ "$sys" != haproxy ] && [ "$sys" != nginx ]; then
    ep=$(epolls "$pid")
    [ "$ep" -le "${EP0[$pid]:-1}" ] || echo "# $(basename "$sys") round $r: idle client connections parked during the run ($ep epoll sets, ${EP0[$pid]:-1} at start)"
  fi
}

stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

RES=$SCRATCH/results.txt
: >"$RES"
if [ -n "${PAIR:-}" ]; then
  [ $# -eq 2 ] || { echo "lb-ab.sh: PAIR=1 takes exactly two systems" >&2; exit 2; }
  [ "$(basename "$1")" != "$(basename "$2")" ] || { echo "lb-ab.sh: PAIR=1 needs two different file names" >&2; exit 2; }
  half=$((CONNS / 2))
  for r in $(seq "$ROUNDS"); do
    start_sys "$1" "$PORT" "$SCRATCH/p1"; S1=$SUT
    start_sys "$2" $((PORT + 1)) "$SCRATCH/p2"; S2=$SUT
    u1=http://127.0.0.1:$PORT/$PATH_ u2=http://127.0.0.1:$((PORT + 1))/$PATH_
    timeout $((WARMUP + 20)) taskset -c 0 wrk -t1 -c"$half" -d"${WARMUP}s" "${WRK_H[@]}" -s "$WRK_LUA" "$u1" >/dev/null 2>&1 &
    W=$!
    timeout $((WARMUP + 20)) taskset -c 0 wrk -t1 -c"$half" -d"${WARMUP}s" "${WRK_H[@]}" -s "$WRK_LUA" "$u2" >/dev/null 2>&1 || true
    wait "$W" || true
    a0=$(ticks "$S1") b0=$(ticks "$S2")
    timeout $((DURATION + 20)) taskset -c 0 wrk -t1 -c"$half" -d"${DURATION}s" --latency \
      "${WRK_H[@]}" -s "$WRK_LUA" "$u1" >"$SCRATCH/wrk1.out" 2>&1 &
    W=$!
    timeout $((DURATION + 20)) taskset -c 0 wrk -t1 -c"$half" -d"${DURATION}s" --latency \
      "${WRK_H[@]}" -s "$WRK_LUA" "$u2" >"$SCRATCH/wrk2.out" 2>&1 || true
    wait "$W" || true
    a1=$(ticks "$S1") b1=$(ticks "$S2")
    report "$1" "$r" "$S1" $((a1 - a0)) "$(cat "$SCRATCH/wrk1.out")"
    report "$2" "$r" "$S2" $((b1 - b0)) "$(cat "$SCRATCH/wrk2.out")"
    stop "$S1"
    stop "$S2"
    sleep 0.3
  done
else
  for r in $(seq "$ROUNDS"); do
    for sys in "$@"; do
      start_sys "$sys"
      url=http://127.0.0.1:$PORT/$PATH_
      timeout $((WARMUP + 20)) taskset -c 0 wrk -t2 -c"$CONNS" -d"${WARMUP}s" "${WRK_H[@]}" -s "$WRK_LUA" "$url" >/dev/null 2>&1 || true
      t0=$(ticks "$SUT")
      out=$(timeout $((DURATION + 20)) taskset -c 0 wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency \
        "${WRK_H[@]}" -s "$WRK_LUA" "$url" 2>&1 || true)
      t1=$(ticks "$SUT")
      report "$sys" "$r" "$SUT" $((t1 - t0)) "$out"
      stop "$SUT"
      sleep 0.3
    done
  done
fi
echo "# system rounds: median req/s, median req/CPU-s, median p50 ms, median p99 ms, median CPU %, errors, RSS MiB (path $PATH_, -c$CONNS, ${DURATION}s${RATE:+, paced to $RATE req/s}${HDRS:+, headers $HDRS}${PAIR:+, the two at the same time, -c$((CONNS / 2)) each})"
awk '{k=$1; n[k]++; rps[k,n[k]]=$3; cps[k,n[k]]=$4; p50[k,n[k]]=$5; p99[k,n[k]]=$6; cpu[k,n[k]]=$7; err[k]+=$8; rss[k]=$9; if (!(k in seen)) {seen[k]=1; order[++m]=k}}
  function med(a, k, c,   i, j, t, v) { for (i=1;i<=c;i++) v[i]=a[k,i]; for (i=1;i<=c;i++) for (j=i+1;j<=c;j++) if (v[j]<v[i]) {t=v[i]; v[i]=v[j]; v[j]=t}; return (c%2) ? v[(c+1)/2] : (v[c/2]+v[c/2+1])/2 }
  END { f=order[1]
    for (i=1;i<=m;i++) { k=order[i]; c=n[k]; if (n[f]<c) c=n[f]
      lo=0; hi=0
      for (r=1;r<=c;r++) { ratio[k,r]=(cps[f,r]>0) ? cps[k,r]/cps[f,r] : 0; inv[k,r]=(cps[k,r]>0) ? cps[f,r]/cps[k,r] : 0
        if (r==1 || inv[k,r]<lo) lo=inv[k,r]; if (r==1 || inv[k,r]>hi) hi=inv[k,r] }
      printf "%s n=%d rps=%d cpus=%d p50=%.2f p99=%.2f cpu%%=%d err=%d rss=%d cpus/%s per round: median %.3f", k, n[k], med(rps,k,n[k]), med(cps,k,n[k]), med(p50,k,n[k]), med(p99,k,n[k]), med(cpu,k,n[k]), err[k], rss[k], f, med(ratio,k,c)
      if (i>1) printf " (%s/%s: median %.3f [%.3f-%.3f])", f, k, med(inv,k,c), lo, hi
      printf "\n" } }' "$RES"
