#!/usr/bin/env bash
# bench/run.sh — Switchyard's lb and edge beside HAProxy, NGINX and Varnish,
# in the same run of the shared peer harness (../shared/bench/run.sh): same
# origin backends, same wrk load, proxy pinned to one core (GOMAXPROCS=1 for
# us, one worker for the peers), requests per proxy CPU-second and p50/p99.
#
#   bench/run.sh [RESULTS.jsonl]     RUNS=3 by default; knobs of the shared
#                                    harness (DURATION, CONNS, PATHS, ...) pass through
#
# Installs the peers from Debian packages when run as root and missing.
# Loopback only; every load run is bounded by the harness (wrk -d + timeout).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SHARED=${SHARED:-$(cd "$ROOT/../shared" && pwd)}
OUT=${1:-$HERE/out/results-$(date -u +%Y%m%dT%H%M%SZ).jsonl}
RUNS=${RUNS:-3}
mkdir -p "$(dirname "$OUT")" "$HERE/out/bin"

. "$HERE/need.sh"
need haproxy nginx varnishd wrk caddy jq curl

(cd "$ROOT" && go build -trimpath -o "$HERE/out/bin/" ./cmd/lb ./cmd/edge)
export SWITCHYARD_BIN="$HERE/out/bin"
export GOMAXPROCS=${GOMAXPROCS:-1}
export LB_HTTP_CMD="$HERE/sut.sh lb-http @PORT@ @BACKENDS@ @SCRATCH@"
export LB_TCP_CMD="$HERE/sut.sh lb-tcp @PORT@ @BACKENDS@ @SCRATCH@"
export EDGE_CMD="$HERE/sut.sh edge-hit @PORT@ @BACKENDS@ @SCRATCH@"
export SCENARIOS=${SCENARIOS:-"haproxy-http nginx-proxy haproxy-tcp varnish-hit nginx-cache-hit"}

for i in $(seq 1 "$RUNS"); do
  echo "== run $i of $RUNS" >&2
  "$SHARED/bench/run.sh" "$OUT"
done
echo
echo "Results: $OUT"
REF=haproxy-http "$SHARED/bench/summarize.sh" "$OUT"
echo
REF=nginx-proxy "$SHARED/bench/summarize.sh" "$OUT" | sed -n '/^Ratios/,$p'
echo
REF=nginx-cache-hit "$SHARED/bench/summarize.sh" "$OUT" | sed -n '/^Ratios/,$p'
echo
REF=haproxy-tcp "$SHARED/bench/summarize.sh" "$OUT" | sed -n '/^Ratios/,$p'
