/**
 * The worker's ledger health check (`watchLedger`): it stops the worker after the given number of failed
 * checks in a row, and a passing check in between starts the count again, so a PostgreSQL restart shorter
 * than the allowance does not stop every worker, while a replaced SQLite file stops it at the first check.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FAILED_CHECKS_TO_STOP, watchLedger } from '../workers/worker';

/** A ledger whose health checks answer from `script` in turn (true: healthy), then stay healthy. */
function scripted(script: boolean[]) {
  let checks = 0;
  return {
    get checks() {
      return checks;
    },
    checkHealth: async () => {
      const healthy = script[checks++] ?? true;
      if (!healthy) throw new Error(`check ${checks} failed`);
    },
  };
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a blip shorter than the allowance does not stop the worker; the count starts again after a passing check', async () => {
  const ledger = scripted([false, false, true, false, false, true, true, true]);
  let stoppedBy: Error | undefined;
  const stop = watchLedger(ledger, (err) => (stoppedBy = err), 10, 3);
  await wait(150);
  stop();
  assert.ok(ledger.checks >= 8, `checked ${ledger.checks} times`);
  assert.equal(stoppedBy, undefined);
});

test('the allowance of failed checks in a row stops the worker once, with the last error', async () => {
  const ledger = scripted([true, false, false, false, false, false]);
  const failures: Error[] = [];
  const stop = watchLedger(ledger, (err) => failures.push(err), 10, 3);
  await wait(150);
  stop();
  assert.equal(failures.length, 1);
  assert.equal(failures[0]?.message, 'check 4 failed', 'stopped at the third failure in a row');
  assert.equal(ledger.checks, 4, 'no check after stopping');
});

test('a SQLite ledger stops at its first failed check; PostgreSQL gets 30 s of checks', () => {
  assert.equal(FAILED_CHECKS_TO_STOP.sqlite, 1);
  assert.equal(FAILED_CHECKS_TO_STOP.postgres * 5_000, 30_000);
});
