# need.sh — sourced by the bench scripts: `need TOOL...` installs the
# Debian packages of the missing tools when run as root (apt-get), and
# otherwise stops with the command to run. A benchmark never runs with a
# tool missing: a missing load generator would print empty results.
need() {
  local missing=() p pkgs
  for p in "$@"; do command -v "$p" >/dev/null || missing+=("$p"); done
  [ ${#missing[@]} -gt 0 ] || return 0
  pkgs=$(printf '%s\n' "${missing[@]}" | sed 's/^varnishd$/varnish/' | tr '\n' ' ')
  if [ "$(id -u)" = 0 ]; then
    echo "bench: installing $pkgs" >&2
    apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y $pkgs >/dev/null
  else
    echo "bench: missing $pkgs (apt-get install -y $pkgs)" >&2; exit 1
  fi
}
