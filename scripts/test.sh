#!/usr/bin/env bash
# The project's test command (`npm test`, also what .ci/run runs): installs what is missing, type-checks,
# bundles the workflows once, then runs every test file with node's test runner through tsx.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
echo "== browser for the Web UI check"
bash scripts/setup-browser.sh
echo "== type check"
npx tsc --noEmit -p tsconfig.json
echo "== workflow bundle"
npx tsx test/helpers/bundle-workflows.ts
echo "== tests"
# JOBLEDGER_TEST_RECORD=FILE also records each test case as a JSON line (scripts/tests-doc.ts turns the
# file into docs/TESTS.md).
reporters=(--test-reporter=spec --test-reporter-destination=stdout)
if [ -n "${JOBLEDGER_TEST_RECORD:-}" ]; then
  reporters+=(--test-reporter=./scripts/json-reporter.mjs "--test-reporter-destination=$JOBLEDGER_TEST_RECORD")
fi
# Tests configure what they start; settings exported by `eval "$(./temporal-dev.sh env)"` (encryption
# keys, addresses, tracing) must not leak into them. Only the executable locations stay.
for name in $(compgen -e | grep -E '^(JOBLEDGER_|TEMPORAL_(ADDRESS|NAMESPACE|UI_URL)$)' | grep -vE '^JOBLEDGER_(CACHE|ALLOW_SDK_DOWNLOAD)$'); do
  unset "$name"
done
# The browser was installed by setup.sh: the Web UI check must run, never skip.
export JOBLEDGER_REQUIRE_BROWSER=1
mapfile -t files < <(find test -name '*.test.ts' | sort)
exec node --import tsx --test --test-concurrency=1 --test-timeout=180000 "${reporters[@]}" "${files[@]}"
