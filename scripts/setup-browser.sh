#!/usr/bin/env bash
# Makes sure a headless Chromium is available at /usr/bin/chromium for the Web UI test
# (test/webui.test.ts). Idempotent: does nothing but print the version when it is already installed;
# otherwise installs Debian's `chromium` package with apt-get. Never downloads a browser through
# playwright. Exits non-zero with a clear message when Chromium cannot be installed.
set -euo pipefail

CHROMIUM=/usr/bin/chromium

fail() {
  echo "setup-browser: $*" >&2
  echo "setup-browser: the Web UI test needs $CHROMIUM (Debian package 'chromium'); install it and retry." >&2
  exit 1
}

if [ ! -x "$CHROMIUM" ]; then
  command -v apt-get >/dev/null 2>&1 || fail "$CHROMIUM is missing and apt-get is not available"
  SUDO=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || fail "$CHROMIUM is missing and installing it needs root (no sudo found)"
    SUDO=(sudo -n)
  fi
  echo "== chromium: installing the Debian package (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get update -qq >/dev/null || fail "apt-get update failed"
  "${SUDO[@]}" apt-get install -y -qq --no-install-recommends chromium >/dev/null \
    || fail "apt-get install chromium failed"
  [ -x "$CHROMIUM" ] || fail "the chromium package is installed but $CHROMIUM is missing"
fi

version=$("$CHROMIUM" --version 2>/dev/null) || fail "$CHROMIUM is present but does not run ('$CHROMIUM --version' failed)"
echo "== chromium: $version ($CHROMIUM)"
