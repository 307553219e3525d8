/**
 * Determinism: histories recorded from real runs (test/histories, written by examples/record-histories.ts)
 * replay against the current workflow code (the tests' bundle: jobledger's workflows and the example
 * `order.fulfill` workflow code) without a non-determinism error. `v1-*` are runs of the generic
 * `jobWorkflow`; `v2-*` of `order.fulfill` as workflow code and of list-form jobs under their own type. A workflow change that
 * breaks old runs fails here until it is guarded with `patched()` or a new workflow type.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { BUNDLE } from './helpers/harness';
import { ROOT, testLogger } from './helpers/servers';

const DIR = join(ROOT, 'test/histories');
const files = readdirSync(DIR).filter((f) => f.endsWith('.json')).sort();

test('recorded histories are present', () => {
  assert.ok(files.filter((f) => f.startsWith('v1-')).length >= 3, `found ${files.length} histories`);
  assert.ok(files.some((f) => f.startsWith('v2-order-fulfill-')), 'a history of order.fulfill as workflow code');
});

for (const file of files) {
  test(`replays ${file} deterministically`, async () => {
    testLogger();
    const history = historyFromJSON(JSON.parse(readFileSync(join(DIR, file), 'utf8')));
    assert.ok((history.events?.length ?? 0) > 5);
    await Worker.runReplayHistory({ workflowBundle: { codePath: BUNDLE } }, history, file);
  });
}

test('a history that no longer matches the code is reported as non-deterministic', async () => {
  testLogger();
  const json = JSON.parse(readFileSync(join(DIR, files[0]!), 'utf8'));
  // Rename the first scheduled activity: the code would schedule another, which replay must notice.
  const scheduled = json.events.find((e: { activityTaskScheduledEventAttributes?: unknown }) => e.activityTaskScheduledEventAttributes);
  scheduled.activityTaskScheduledEventAttributes.activityType.name = 'order.fulfill:something-else';
  await assert.rejects(Worker.runReplayHistory({ workflowBundle: { codePath: BUNDLE } }, historyFromJSON(json), 'tampered'), /[Nn]ondeterminism|DeterminismViolation/);
});
