#!/usr/bin/env bash
# Makes sure a program from one of Debian's packages is installed:
#   scripts/debian-package.sh <program> <package> <what needs it>
# Idempotent: prints the program's version when <program> (a path or a name on the PATH) already runs;
# otherwise installs <package> with apt-get (as root, or through `sudo -n`). Exits non-zero with a clear
# message when it cannot be installed. scripts/setup-browser.sh and scripts/setup-redis.sh use it.
set -euo pipefail

program=$1 package=$2 purpose=$3
name=$(basename "$program")

fail() {
  echo "$name: $*" >&2
  echo "$name: $purpose needs $program (Debian package '$package'); install it and retry." >&2
  exit 1
}

if ! command -v "$program" >/dev/null 2>&1; then
  command -v apt-get >/dev/null 2>&1 || fail "$program is missing and apt-get is not available"
  SUDO=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || fail "$program is missing and installing it needs root (no sudo found)"
    SUDO=(sudo -n)
  fi
  echo "== $name: installing the Debian package $package (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get update -qq >/dev/null || fail "apt-get update failed"
  "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "$package" >/dev/null || fail "apt-get install $package failed"
  command -v "$program" >/dev/null 2>&1 || fail "the $package package is installed but $program is missing"
fi

version=$("$program" --version 2>/dev/null) || fail "$program is present but does not run ('$program --version' failed)"
echo "== $name: $version ($(command -v "$program"))"
