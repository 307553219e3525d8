/**
 * The chaos suite at smoke size, through the same code as `npm run chaos`: C1 (workers SIGKILLed, one of
 * them between an applied charge and its ledger completion), C4 (concurrent duplicate submissions
 * with a worker killed), C5 (hostile inputs through the SDK, the CLI and raw starts) and C8 (three worker
 * hosts on a PostgreSQL ledger, two of them killed). Each runs on its
 * own dev server, worker processes and sandbox providers, and every invariant it reports must hold.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { runCleanups } from './chaos/processes';
import { getScenario } from './chaos/registry';
import { runScenario } from './chaos/run';
import type { ScenarioResult } from './chaos/scenario';

after(runCleanups);

async function smoke(id: string): Promise<ScenarioResult> {
  const progress: string[] = [];
  const result = await runScenario(getScenario(id), { size: 'smoke', log: (line) => progress.push(line), timeLimitMs: 170_000 });
  const failed = result.invariants.filter((i) => !i.ok);
  assert.deepEqual(
    failed.map((i) => `${i.name}: ${i.detail}`),
    [],
    `${id} invariants failed (seed ${result.seed}):\n${progress.join('\n')}`,
  );
  assert.ok(result.ok);
  return result;
}

test('C1 smoke: 30 orders, 2 worker SIGKILLs (one between an applied charge and its ledger completion): every invariant holds', async () => {
  const result = await smoke('C1');
  assert.deepEqual(
    result.invariants.map((i) => i.name),
    ['jobs-settle', 'jobstatus-agrees-with-workflow', 'effects-exactly-once', 'ledger-agrees', 'reconcile-clean', 'all-completed', 'workers-killed', 'aimed-kills-recovered', 'every-submission-acknowledged'],
  );
  assert.equal(result.observed.kills, 2);
  assert.equal(result.observed.aimedKills, 1);
  assert.deepEqual(result.observed.effects, { charge: 30, reserve: 30, email: 30, ship: 30 });
});

test('C4 smoke: 10 keys × 10 concurrent submissions over 2 clients, a worker SIGKILLed: one execution and one effect per kind per key', async () => {
  const result = await smoke('C4');
  assert.deepEqual(
    result.invariants.map((i) => i.name),
    ['jobs-settle', 'jobstatus-agrees-with-workflow', 'effects-exactly-once', 'ledger-agrees', 'reconcile-clean', 'all-completed', 'one-execution-per-key', 'one-start-per-key', 'duplicates-answered-without-error', 'effects-per-kind'],
  );
  assert.equal(result.observed.started, 10);
  assert.equal(result.observed.deduplicated, 90);
  assert.deepEqual(result.observed.statuses, { Completed: 10 });
});

test('C5 smoke: 150 hostile inputs through the SDK, 8 through the CLI, 22 raw starts: refused before start, or failed at once as Validation', async () => {
  const result = await smoke('C5');
  assert.deepEqual(
    result.invariants.map((i) => i.name),
    ['jobs-settle', 'jobstatus-agrees-with-workflow', 'effects-exactly-once', 'ledger-agrees', 'reconcile-clean', 'sdk-refuses-with-typed-errors', 'cli-exits-2-with-a-message', 'nothing-started-by-refused-submissions', 'raw-starts-fail-at-once-as-validation', 'no-effects-no-retries', 'prototype-intact'],
  );
  assert.equal(result.observed.sdkRefused, 150);
  assert.equal(result.observed.cliExit2, 8);
  assert.ok((result.observed.rawStarts as number) >= 20);
  assert.equal(result.observed.rawValidation, result.observed.rawStarts);
  assert.deepEqual(result.observed.statuses, { Failed: result.observed.rawStarts });
  assert.deepEqual(result.observed.effects, {});
});

test('C8 smoke: 40 orders on 3 worker hosts sharing only Temporal and a PostgreSQL ledger, 2 workers SIGKILLed, a second process deduplicated by the ledger', async () => {
  const result = await smoke('C8');
  assert.deepEqual(
    result.invariants.map((i) => i.name),
    ['jobs-settle', 'jobstatus-agrees-with-workflow', 'effects-exactly-once', 'ledger-agrees', 'reconcile-clean', 'all-completed', 'workers-killed', 'hosts-share-no-file', 'dedupe-across-processes', 'every-submission-acknowledged'],
  );
  assert.equal(result.observed.kills, 2);
  assert.equal(result.observed.dedupedByOther, 5);
  assert.deepEqual(result.observed.effects, { charge: 40, reserve: 40, email: 40, ship: 40 });
});
