#!/usr/bin/env bash
# Makes sure Debian's redis-server is available for the BullMQ benchmark (bench/bullmq.ts, scenario b6),
# installed with apt-get when missing (scripts/debian-package.sh). The package's own service is not used:
# the bench starts its own redis-server on 127.0.0.1, a free port and a temp directory, and stops it by
# PID (bench/redis.ts).
set -euo pipefail
exec bash "$(dirname "${BASH_SOURCE[0]}")/debian-package.sh" redis-server redis-server "the BullMQ benchmark"
