#!/usr/bin/env bash
# A local PostgreSQL ledger for this project (a throwaway cluster under the system temp directory):
#
#   scripts/postgres.sh start   start one in the background; prints `export JOBLEDGER_LEDGER_URL=...`
#   scripts/postgres.sh url     print that line again
#   scripts/postgres.sh stop    stop it (by its recorded PID) and remove its data
#
#   eval "$(scripts/postgres.sh start)" && npm run worker
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec node --import tsx scripts/postgres.ts "$@"
