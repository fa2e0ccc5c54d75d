#!/usr/bin/env bash
# Chromium for the web view's browser tests (tests/server/web/test_browser.py):
# Debian's package, installed with apt when the binary is missing. Idempotent and
# quick when it is present. STATESYNC_TEST_CHROMIUM names another binary, or
# "absent" to run without a browser (those tests then skip, deliberately).
# Usage: scripts/install_chromium.sh [--dry-run]   (--dry-run: say what it would do)
set -euo pipefail

CHROMIUM=${STATESYNC_TEST_CHROMIUM:-/usr/bin/chromium}
DRY=""
[ "${1:-}" = "--dry-run" ] && DRY="echo would run:"

if [ "$CHROMIUM" = "absent" ]; then
  echo "chromium: STATESYNC_TEST_CHROMIUM=absent, the browser tests will skip"
  exit 0
fi
if [ -x "$CHROMIUM" ]; then
  echo "chromium: present at $CHROMIUM"
  exit 0
fi
if [ "$CHROMIUM" != /usr/bin/chromium ]; then
  echo "chromium: STATESYNC_TEST_CHROMIUM=$CHROMIUM is not an executable" >&2
  exit 1
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
install() {
  $DRY env DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends chromium
}
# apt-get update only when the package lists do not know chromium yet (or the install fails).
if apt-cache show chromium >/dev/null 2>&1 && install; then
  :
else
  $DRY $SUDO apt-get update -q
  install
fi
[ -n "$DRY" ] || "$CHROMIUM" --version
