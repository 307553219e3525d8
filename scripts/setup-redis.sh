#!/usr/bin/env bash
# Makes sure Debian's redis-server is available for the BullMQ benchmark (bench/bullmq.ts, scenario b6).
# Idempotent: does nothing but print the version when redis-server is already on the PATH; otherwise installs
# Debian's `redis-server` package with apt-get. The package's own service is not used: the bench starts its
# own redis-server on 127.0.0.1, a free port and a temp directory, and stops it by PID (bench/redis.ts).
# Exits non-zero with a clear message when redis-server cannot be installed.
set -euo pipefail

fail() {
  echo "setup-redis: $*" >&2
  echo "setup-redis: the BullMQ benchmark needs redis-server (Debian package 'redis-server'); install it and retry." >&2
  exit 1
}

if ! command -v redis-server >/dev/null 2>&1; then
  command -v apt-get >/dev/null 2>&1 || fail "redis-server is missing and apt-get is not available"
  SUDO=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || fail "redis-server is missing and installing it needs root (no sudo found)"
    SUDO=(sudo -n)
  fi
  echo "== redis-server: installing the Debian package (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get update -qq >/dev/null || fail "apt-get update failed"
  # policy-rc.d-free containers cannot start the packaged service; the bench never needs it.
  "${SUDO[@]}" apt-get install -y -qq --no-install-recommends redis-server >/dev/null \
    || fail "apt-get install redis-server failed"
  command -v redis-server >/dev/null 2>&1 || fail "the redis-server package is installed but redis-server is not on the PATH"
fi

version=$(redis-server --version 2>/dev/null) || fail "redis-server is present but does not run ('redis-server --version' failed)"
echo "== redis-server: $version ($(command -v redis-server))"
