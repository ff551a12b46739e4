#!/usr/bin/env bash
# promtool, Prometheus's own checker of rules and configuration, from Debian's prometheus package:
# unpacked into .tools/prometheus (nothing installed, no service started). Prints promtool's path.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="${PROMTOOL_HOME:-$REPO/.tools/prometheus}"
if [[ ! -x "$DEST/usr/bin/promtool" ]]; then
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && { apt-get download prometheus >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get download prometheus >/dev/null 2>&1; }; }) \
    || { echo "could not fetch Debian's prometheus package (apt-get download prometheus)" >&2; exit 1; }
  mkdir -p "$DEST"
  dpkg-deb -x "$work"/prometheus_*.deb "$DEST"
fi
echo "$DEST/usr/bin/promtool"
