#!/usr/bin/env bash
# test-deps.sh — install the real programs the interop tests talk to
# (NGINX, HAProxy, Pebble, OpenSSL), from Debian packages. Idempotent and
# quick when everything is already there. Tests that need a program and do
# not find it skip loudly, or fail under CI=true.
set -euo pipefail

need=()
command -v nginx   >/dev/null 2>&1 || need+=(nginx)
[ -e /usr/lib/nginx/modules/ngx_stream_module.so ] || [ -e /usr/share/nginx/modules/ngx_stream_module.so ] || need+=(libnginx-mod-stream)
command -v haproxy >/dev/null 2>&1 || need+=(haproxy)
command -v pebble  >/dev/null 2>&1 || [ -x /usr/bin/pebble ] || need+=(pebble)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v curl    >/dev/null 2>&1 || need+=(curl)

if [ ${#need[@]} -eq 0 ]; then
  echo "test-deps: nginx, haproxy, pebble, openssl present"
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "test-deps: WARNING: missing ${need[*]} and cannot apt-get install (not root or no apt); interop tests will skip (and fail under CI=true)" >&2
  exit 0
fi
echo "test-deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
echo "test-deps: installed ${need[*]}"
