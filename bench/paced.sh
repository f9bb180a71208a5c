#!/usr/bin/env bash
# paced.sh — edge beside NGINX proxy_cache at the same offered load.
#
#   bench/paced.sh [EDGE_BINARY...]     (default: build ./cmd/edge into a temp dir)
#
# Starts one origin (the shared harness's backend, two ports), NGINX with
# the shared harness's proxy_cache config (one worker) and one edge per
# binary given (configured by bench/sut.sh edge-hit, access log on), all at
# once; the caches are primed, then every round loads each system in turn
# with the same paced wrk (conf/paced.lua: every connection waits DELAY ms
# after each answer), so the offered load is the same for all of them.
# Several short rounds, the order of the systems rotating each round, each
# round under the shared benchmark lock; medians at the end.
#
# Knobs (environment):
#   PATHS="small"          small (1 KiB) and/or large (256 KiB)
#   PACES="64:4 64:2 48:1" CONNS:DELAY_MS pairs; offered load ≈ CONNS*1000/(DELAY+latency)
#                          req/s (≈16k, 32k, 48k); DELAY 0 = closed loop (saturation)
#   ROUNDS=3 DURATION=5 WARMUP=1 WRK_THREADS=2
#   NBACK=2                origin ports (1 or 2; hits never reach them after priming)
#   PORT0=18190            ports PORT0.. origin (NBACK), then NGINX, then one per edge
#   PROXY_CPU=1 LOAD_CPU=0 the systems under test on PROXY_CPU (GOMAXPROCS=1 /
#                          one NGINX worker); wrk and the origin on LOAD_CPU
#   LOCK=/tmp/switchyard-bench.lock   held for each round (a few systems × paces × DURATION)
#   OUT=file.tsv           raw rows (default a temp file; printed at the end)
#
# Loopback only; every wrk run is bounded by -d and timeout; every process
# started here is stopped by PID on exit.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SHARED=${SHARED:-$(cd "$ROOT/../shared" && pwd)}
PATHS=${PATHS:-small}
PACES=${PACES:-"64:4 64:2 48:1"}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
WRK_THREADS=${WRK_THREADS:-2}
PORT0=${PORT0:-18190}
NBACK=${NBACK:-2}
PROXY_CPU=${PROXY_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}
LOCK=${LOCK:-/tmp/switchyard-bench.lock}
export PATH="$PATH:/usr/local/go/bin:/usr/sbin"
CLK_TCK=$(getconf CLK_TCK)
WORK=$(mktemp -d /tmp/edge-paced.XXXXXX)
OUT=${OUT:-$WORK/rows.tsv}
: > "$OUT"

PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ticks PID: utime+stime of PID and its children (NGINX master + worker).
ticks() {
  local t=0 p v
  for p in $1 $(pgrep -P "$1" || true); do
    v=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12+$13}') || v=0
    t=$(( t + ${v:-0} ))
  done
  echo "$t"
}
wait_http() {
  local i
  for i in $(seq 100); do
    [ "$(curl -s -o /dev/null -m 1 -w '%{http_code}' "$1" || true)" = 200 ] && return 0
    sleep 0.1
  done
  echo "paced: $1 did not answer" >&2; return 1
}

# ---- binaries
(cd "$SHARED/bench/backend" && go build -trimpath -o "$WORK/backend" .)
EDGES=("$@")
if [ ${#EDGES[@]} -eq 0 ]; then
  (cd "$ROOT" && go build -trimpath -o "$WORK/edge" ./cmd/edge)
  EDGES=("$WORK/edge")
fi

# ---- origin
case "$NBACK" in 1|2) ;; *) echo "paced: NBACK must be 1 or 2" >&2; exit 2 ;; esac
taskset -c "$LOAD_CPU" "$WORK/backend" -port "$PORT0" -n "$NBACK" >"$WORK/backend.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$PORT0/small"
servers="" backends=""
for (( i=0; i<NBACK; i++ )); do
  servers+="        server 127.0.0.1:$((PORT0+i));"$'\n'
  backends="${backends:+$backends,}127.0.0.1:$((PORT0+i))"
done

# ---- NGINX proxy_cache (the shared harness's config, one worker)
NAMES=(nginx) SPIDS=() SPORTS=()
np=$((PORT0+NBACK))
mkdir -p "$WORK/nginx-tmp"
awk -v ns="$servers" -v port="$np" -v sc="$WORK" '
  /^@NGINX_SERVERS@$/ { printf "%s", ns; next }
  { gsub(/@PORT@/, port); gsub(/@THREADS@/, "1"); gsub(/@SCRATCH@/, sc); print }' \
  "$SHARED/bench/conf/nginx-cache.conf" > "$WORK/nginx-cache.conf"
taskset -c "$PROXY_CPU" nginx -p "$WORK" -e "$WORK/nginx.stderr.log" -c "$WORK/nginx-cache.conf" >"$WORK/nginx.log" 2>&1 &
PIDS+=($!) SPIDS+=($!) SPORTS+=("$np")

# ---- edges (bench/sut.sh edge-hit: the harness's config, access log on)
i=0
for bin in "${EDGES[@]}"; do
  d="$WORK/edge$i"; mkdir -p "$d/bin"; ln -s "$(readlink -f "$bin")" "$d/bin/edge"
  p=$((np+1+i))
  SWITCHYARD_BIN="$d/bin" GOMAXPROCS=1 taskset -c "$PROXY_CPU" "$HERE/sut.sh" edge-hit "$p" "$backends" "$d" >"$d/edge.log" 2>&1 &
  PIDS+=($!) SPIDS+=($!) SPORTS+=("$p")
  NAMES+=("$(basename "$bin")")
  i=$((i+1))
done

for k in "${!NAMES[@]}"; do
  for path in $PATHS; do
    wait_http "http://127.0.0.1:${SPORTS[$k]}/$path"
    curl -s -o /dev/null "http://127.0.0.1:${SPORTS[$k]}/$path"
    x=$(curl -s -D - -o /dev/null "http://127.0.0.1:${SPORTS[$k]}/$path" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-cache"{print $2}')
    case "${x,,}" in hit*) ;; *) echo "paced: ${NAMES[$k]} /$path not a hit ($x)" >&2; exit 1 ;; esac
  done
done

# one SYSTEM PATH CONNS DELAY ROUND: a warm-up, then one measured wrk run.
one() {
  local k=$1 path=$2 conns=$3 delay=$4 round=$5 url script s0 s1 t0 t1 w
  url="http://127.0.0.1:${SPORTS[$k]}/$path"
  script="$SHARED/bench/conf/report.lua"
  [ "$delay" -gt 0 ] && script="$SHARED/bench/conf/paced.lua"
  export WRK_DELAY_MS=$delay WRK_REPORT_LUA="$SHARED/bench/conf/report.lua"
  timeout $((WARMUP+20)) taskset -c "$LOAD_CPU" wrk -t"$WRK_THREADS" -c"$conns" -d"${WARMUP}s" -s "$script" "$url" >/dev/null 2>&1 || true
  s0=$(ticks "${SPIDS[$k]}"); t0=$(date +%s%N)
  w=$(timeout $((DURATION+20)) taskset -c "$LOAD_CPU" wrk -t"$WRK_THREADS" -c"$conns" -d"${DURATION}s" --latency -s "$script" "$url" 2>&1 | sed -n 's/^WRKJSON //p')
  t1=$(date +%s%N); s1=$(ticks "${SPIDS[$k]}")
  [ -n "$w" ] || { echo "paced: wrk failed for ${NAMES[$k]}" >&2; return 0; }
  jq -r --arg sys "${NAMES[$k]}" --arg path "$path" --arg pace "$conns:$delay" --argjson round "$round" \
    --argjson cpu "$(( s1 - s0 ))" --argjson hz "$CLK_TCK" --argjson wall "$(( t1 - t0 ))" '
    (.duration_us/1e6) as $d | ($cpu/$hz) as $c |
    [$path, $pace, $sys, $round, (.requests/$d|floor), (.lat_p50_us/1000), (.lat_p99_us/1000), (.lat_p999_us/1000),
     (100*$c/($wall/1e9)|floor), (if $c>0 then (.requests/$c|floor) else 0 end),
     (.err_connect+.err_read+.err_write+.err_timeout+.err_status)] | @tsv' <<<"$w" | tee -a "$OUT"
}

echo "# path pace system round req/s p50_ms p99_ms p999_ms cpu% req/cpu-s errors" >&2
n=${#NAMES[@]}
for round in $(seq 1 "$ROUNDS"); do
  exec 9>"$LOCK"
  flock 9 # the shared benchmark lock, held for this round only
  for path in $PATHS; do
    for pace in $PACES; do
      for j in $(seq 0 $((n-1))); do
        k=$(( (j + round - 1) % n ))
        one "$k" "$path" "${pace%%:*}" "${pace##*:}" "$round"
      done
    done
  done
  flock -u 9
  exec 9>&-
done

echo
echo "Medians over $ROUNDS rounds (wrk -t$WRK_THREADS, ${DURATION}s each; pace = connections:delay ms):"
echo
echo "| path | pace | system | req/s | p50 ms | p99 ms | p99.9 ms | CPU % | req per CPU-s | ratio req/CPU-s to nginx | p99 − nginx ms |"
echo "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
awk -F'\t' '
  function med(key, col,   n, a, i, j, t) {
    n = split(vals[key, col], a, " ")
    for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1]+0 > a[j]+0; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
    return (n % 2) ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
  }
  { key = $1 SUBSEP $2 SUBSEP $3
    if (!(key in seen)) { seen[key] = 1; order[++m] = key }
    for (c = 5; c <= 10; c++) vals[key, c] = vals[key, c] (vals[key, c] == "" ? "" : " ") $c }
  END {
    for (i = 1; i <= m; i++) {
      split(order[i], f, SUBSEP); nk = f[1] SUBSEP f[2] SUBSEP "nginx"
      r = (nk in seen) ? sprintf("%.2f", med(order[i], 10) / med(nk, 10)) : "-"
      d = (nk in seen) ? sprintf("%+.2f", med(order[i], 7) - med(nk, 7)) : "-"
      printf "| %s | %s | %s | %d | %.2f | %.2f | %.2f | %d | %d | %s | %s |\n", f[1], f[2], f[3],
        med(order[i], 5), med(order[i], 6), med(order[i], 7), med(order[i], 8), med(order[i], 9), med(order[i], 10), r, d
    }
  }' "$OUT"
echo
echo "raw rows: $OUT"
