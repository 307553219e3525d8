#!/usr/bin/env bash
# `npm run demo`: install what is missing, start the embedded dev server, then run a worker, the sandbox
# providers and the demo jobs, and print where to look in the Web UI.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
./temporal-dev.sh up
eval "$(./temporal-dev.sh env)"
exec npx tsx examples/demo.ts
