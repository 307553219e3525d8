/**
 * The step ledger in front of real downstream calls, one activity at a time (MockActivityEnvironment
 * runs the real activity functions; the providers and the ledger are real): parallel claims, lease
 * takeover, replay of completed steps and idempotent compensations. Run once on a SQLite ledger and once
 * on a PostgreSQL one.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ApplicationFailure } from '@temporalio/activity';
import { MockActivityEnvironment } from '@temporalio/testing';
import { hashOf } from '../core/canonical';
import { PinoSdkLogger } from '../core/logging';
import { createActivities, type ActivityFn } from '../activities';
import type { StepArgs } from '../common/types';
import { orderFulfillJob } from '../examples/jobs/order';
import { JobRegistry } from '../jobs/registry';
import { openLedger, type Ledger } from '../ledger';
import type { Sandbox } from '../examples/sandbox';
import { order } from './fixtures/orders';
import { effectCount, withSandbox } from './helpers/sandbox';
import { ledgerBackends } from './helpers/ledger-backends';
import { testLogger, unique } from './helpers/servers';

let sandbox: Sandbox;
let ledger: Ledger;
let clock = Date.now();

const BACKENDS = ledgerBackends();
before(async () => {
  sandbox = await withSandbox();
});
after(async () => {
  await sandbox?.stop();
});

function activitiesFor(workerIdentity: string): Record<string, ActivityFn> {
  return createActivities({
    registry: new JobRegistry([orderFulfillJob]),
    ledger,
    logger: testLogger(),
    services: sandbox.urls,
    workerIdentity,
  });
}

function stepArgs(orderId: string, step: string, results: Record<string, unknown> = {}): StepArgs {
  return { jobId: `order.fulfill:${orderId}`, jobType: 'order.fulfill', step, idempotencyKey: orderId, input: order(orderId), results };
}

function runActivity(worker: string, attempt: number, type: string, args: StepArgs): Promise<unknown> {
  const env = new MockActivityEnvironment({ attempt, startToCloseTimeoutMs: 10_000 }, { logger: new PinoSdkLogger(testLogger()) });
  const fn = activitiesFor(worker)[`order.fulfill:${type}`] as (a: StepArgs) => Promise<unknown>;
  return env.run(fn, args);
}

for (const backend of BACKENDS) {
  describe(backend.name, () => {
    before(async () => {
      ledger = openLedger(await backend.newTarget(), { now: () => clock });
    });
    after(async () => {
      await ledger?.close();
    });

    test('of two parallel attempts at one step, one executes and the other gets a retryable StepInProgress', async () => {
      const orderId = unique('par');
      sandbox.payments.setFaults({ latencyMs: 300 });
      try {
        const outcomes = await Promise.allSettled([
          runActivity('worker-1', 1, 'charge-payment', stepArgs(orderId, 'charge-payment')),
          runActivity('worker-2', 1, 'charge-payment', stepArgs(orderId, 'charge-payment')),
        ]);
        const rejected = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
        assert.equal(outcomes.filter((o) => o.status === 'fulfilled').length, 1);
        assert.equal(rejected.length, 1);
        assert.ok(rejected[0]!.reason instanceof ApplicationFailure);
        assert.equal(rejected[0]!.reason.type, 'StepInProgress');
        assert.equal(rejected[0]!.reason.nonRetryable, false);
      } finally {
        sandbox.payments.setFaults({});
      }
      assert.equal(effectCount(sandbox, 'payments', 'charge', orderId), 1);
    });

    test('a completed step returns its recorded result and does not call the provider again', async () => {
      const orderId = unique('replay');
      const first = await runActivity('worker-1', 1, 'charge-payment', stepArgs(orderId, 'charge-payment'));
      const callsBefore = sandbox.payments.listCalls().length;
      const second = await runActivity('worker-2', 2, 'charge-payment', stepArgs(orderId, 'charge-payment'));
      assert.deepEqual(second, first);
      assert.equal(sandbox.payments.listCalls().length, callsBefore);
      assert.equal(effectCount(sandbox, 'payments', 'charge', orderId), 1);
    });

    test('after a lease expires, the next attempt takes the step over and runs', async () => {
      const orderId = unique('lease');
      const key = `order.fulfill:${orderId}/charge-payment`;
      const args = stepArgs(orderId, 'charge-payment');
      // A crashed attempt's claim, with a 10 s lease.
      await ledger.claimStep({ key, jobId: args.jobId, step: 'charge-payment', owner: { identity: 'dead-worker', attempt: 1 }, leaseMs: 10_000, requestHash: hashOf(args.input) }).catch(() => undefined);
      const held = await ledger.getStep(key);
      assert.equal(held?.owner, 'dead-worker');
      await assert.rejects(runActivity('worker-2', 2, 'charge-payment', args), (err: unknown) => err instanceof ApplicationFailure && err.type === 'StepInProgress');
      clock += 11_000;
      try {
        await runActivity('worker-2', 3, 'charge-payment', args);
      } finally {
        clock = Date.now() + 11_000;
      }
      const done = await ledger.getStep(key);
      assert.deepEqual([done?.state, done?.owner], ['COMPLETED', 'worker-2']);
      assert.equal(effectCount(sandbox, 'payments', 'charge', orderId), 1);
    });

    test('running a compensation twice has a single effect', async () => {
      const orderId = unique('comp2');
      const charge = await runActivity('worker-1', 1, 'charge-payment', stepArgs(orderId, 'charge-payment'));
      const refundArgs = stepArgs(orderId, 'refund-payment', { 'charge-payment': charge });
      const first = await runActivity('worker-1', 1, 'refund-payment', refundArgs);
      const second = await runActivity('worker-2', 1, 'refund-payment', refundArgs);
      assert.deepEqual(second, first);
      assert.equal(effectCount(sandbox, 'payments', 'refund', orderId), 1);
    });
  });
}
