/**
 * A ledger fault never leaves an activity unclassified: when the ledger goes away while a step runs, the
 * step fails as `DependencyUnavailable` (dependency `ledger`) even though recording its failure in the
 * ledger fails too, and the finish and trail activities classify a ledger fault the same way. Found by
 * chaos scenario C6, where such failures reached Temporal typed `LedgerUnavailableError`, outside the
 * taxonomy (a job parked on one would show that as its ErrorClass). Real activity functions, providers
 * and SQLite file (MockActivityEnvironment runs the activities).
 */
import assert from 'node:assert/strict';
import { unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ApplicationFailure } from '@temporalio/activity';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities, type ActivityFn } from '../activities';
import { FINISH_ACTIVITY, RECORD_ACTIVITY } from '../common/constants';
import type { StepArgs } from '../common/types';
import { orderFulfillJob } from '../examples/jobs/order';
import { JobRegistry } from '../jobs/registry';
import { openLedger, type Ledger } from '../ledger';
import { PinoSdkLogger } from '../core/logging';
import type { Sandbox } from '../examples/sandbox';
import { order } from './fixtures/orders';
import { withSandbox } from './helpers/sandbox';
import { tempDir, testLogger, unique } from './helpers/servers';

let sandbox: Sandbox;
before(async () => {
  sandbox = await withSandbox();
});
after(async () => {
  await sandbox?.stop();
});

function activitiesOn(ledger: Ledger): Record<string, ActivityFn> {
  return createActivities({ registry: new JobRegistry([orderFulfillJob]), ledger, logger: testLogger(), services: sandbox.urls, workerIdentity: 'w-1' });
}

const run = (fn: ActivityFn, args: unknown) =>
  new MockActivityEnvironment({ attempt: 1, startToCloseTimeoutMs: 10_000 }, { logger: new PinoSdkLogger(testLogger()) }).run(fn as (a: unknown) => Promise<unknown>, args);

function assertLedgerClassified(err: unknown): true {
  assert.ok(err instanceof ApplicationFailure, `an ApplicationFailure, not ${(err as Error)?.name}`);
  assert.equal(err.type, 'DependencyUnavailable');
  assert.equal(err.nonRetryable, false);
  assert.match(err.message, /ledger .* is unavailable: the file was deleted/);
  return true;
}

test('a step whose ledger is deleted while its provider call runs fails as DependencyUnavailable, though its failure cannot be recorded', async () => {
  const path = join(tempDir(), 'ledger.db');
  const ledger = openLedger(path);
  const orderId = unique('gone');
  const args: StepArgs = { jobId: `order.fulfill:${orderId}`, jobType: 'order.fulfill', step: 'charge-payment', idempotencyKey: orderId, input: order(orderId), results: {} };
  sandbox.payments.setFaults({ latencyMs: 500 });
  try {
    const step = run(activitiesOn(ledger)['order.fulfill:charge-payment']!, args);
    await new Promise((r) => setTimeout(r, 200)); // claimed, the charge in flight
    unlinkSync(path);
    await assert.rejects(step, assertLedgerClassified);
  } finally {
    sandbox.payments.setFaults({});
    await ledger.close();
  }
});

test('finish and trail activities classify a deleted ledger as DependencyUnavailable', async () => {
  const path = join(tempDir(), 'ledger.db');
  const ledger = openLedger(path);
  const activities = activitiesOn(ledger);
  unlinkSync(path);
  try {
    await assert.rejects(run(activities[FINISH_ACTIVITY]!, { jobId: 'order.fulfill:x', status: 'Completed', outcome: {} }), assertLedgerClassified);
    await assert.rejects(run(activities[RECORD_ACTIVITY]!, { jobId: 'order.fulfill:x', kind: 'probe', data: {} }), assertLedgerClassified);
  } finally {
    await ledger.close();
  }
});
