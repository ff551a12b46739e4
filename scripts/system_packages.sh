#!/usr/bin/env bash
# The Debian packages the project uses beyond Python: the fonts PDF reports embed (every script a record
# may hold), and headless Chromium for the console's browser tests. Installs only what is missing.
set -euo pipefail

need=()
[ -f /usr/share/fonts/truetype/noto/NotoSans-Regular.ttf ] || need+=(fonts-noto-core)
[ -f /usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf ] || need+=(fonts-droid-fallback)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
if [ "${1:-}" = "--browser" ]; then
  command -v chromium >/dev/null || need+=(chromium)
fi
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO=sudo; else
    echo "missing Debian packages: ${need[*]}; install them as root: apt-get install -y ${need[*]}" >&2
    exit 1
  fi
fi
echo "installing Debian packages: ${need[*]}"
${SUDO:-} apt-get update -q >/dev/null
DEBIAN_FRONTEND=noninteractive ${SUDO:-} apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
