#!/usr/bin/env bash
# Makes sure a headless Chromium is available at /usr/bin/chromium for the Web UI, dashboard and report
# tests: Debian's `chromium` package, installed with apt-get when missing (scripts/debian-package.sh).
# Never downloads a browser through playwright.
set -euo pipefail
exec bash "$(dirname "${BASH_SOURCE[0]}")/debian-package.sh" /usr/bin/chromium chromium "the browser tests"
