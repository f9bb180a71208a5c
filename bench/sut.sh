#!/usr/bin/env bash
# sut.sh KIND PORT BACKENDS SCRATCH — start lb or edge for one scenario of the
# shared peer harness (../shared/bench/run.sh), with a config written here.
# KIND: lb-http | lb-tcp | edge-hit. BACKENDS: comma list of host:port.
# The config switches on what a user would run with: rules evaluated before
# the default action, X-Forwarded-*, trace ids, an access log and metrics.
# With SUT_CONFIG_ONLY=1 it only writes the config and prints its path (the
# other bench scripts use it so every lb-http measurement runs one config).
set -euo pipefail
kind=$1 port=$2 backends=$3 scratch=$4
if [ -n "${SUT_CONFIG_ONLY:-}" ]; then BIN=; else
  BIN=${SWITCHYARD_BIN:?SWITCHYARD_BIN names the folder holding lb and edge}
fi
# start BINARY: run it on the config just written, or print the config's path.
start() {
  if [ -n "${SUT_CONFIG_ONLY:-}" ]; then echo "$cfg"; exit 0; fi
  exec "$BIN/$1" -config "$cfg" -log-level warn
}
targets=$(printf '%s' "$backends" | awk -F, '{for (i=1;i<=NF;i++) printf "%s\"%s\"", (i>1?", ":""), $i}')
cfg="$scratch/$kind.yaml"
case "$kind" in
lb-http)
  cat > "$cfg" <<YAML
admin: {address: "127.0.0.1:0"}
access_log: {path: "$scratch/lb-http-access.log", format: alb}
listeners:
  - name: web
    protocol: HTTP
    address: 127.0.0.1:$port
    rules:
      - priority: 10
        conditions: {host: ["api.example.com"], path: ["/api/*"]}
        action: {fixed_response: {status: 404, content_type: text/plain, body: "no api here"}}
      - priority: 20
        conditions: {header: {X-Canary: ["yes"]}}
        action: {fixed_response: {status: 503, content_type: text/plain, body: "canary off"}}
      - priority: 30
        conditions: {path: ["/small", "/large", "/headers"], method: [GET, HEAD]}
        action: {forward: {target_group: origins}}
    default_action: {forward: {target_group: origins}}
target_groups:
  - name: origins
    protocol: HTTP
    targets: [$targets]
    health_check: {path: /small, interval: 10s}
YAML
  start lb ;;
lb-tcp)
  cat > "$cfg" <<YAML
admin: {address: "127.0.0.1:0"}
access_log: {path: "$scratch/lb-tcp-access.log"}
listeners:
  - name: stream
    protocol: TCP
    address: 127.0.0.1:$port
    default_action: {forward: {target_group: origins}}
target_groups:
  - name: origins
    protocol: TCP
    targets: [$targets]
    algorithm: flow_hash
    health_check: {protocol: TCP, interval: 30s}
YAML
  start lb ;;
edge-hit)
  origin=${backends%%,*}
  cat > "$cfg" <<YAML
admin: {address: "127.0.0.1:0"}
access_log: {path: "$scratch/edge-access.log", format: cloudfront}
listeners:
  - {protocol: HTTP, address: "127.0.0.1:$port"}
cache: {max_size: 512MiB, max_object_size: 16MiB}
distributions:
  - name: bench
    origins:
      - {id: origin, url: "http://$origin"}
    default_cache_behavior:
      target_origin: origin
      cache_key: {query_strings: none, headers: none, cookies: none}
YAML
  start edge ;;
*) echo "sut.sh: unknown kind $kind" >&2; exit 2 ;;
esac
