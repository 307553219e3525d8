/**
 * `order.fulfill` on the real dev server with the sandbox providers: exactly one downstream effect per
 * step, duplicates that run once, the saga's reverse-order compensation, and the job-level dedupe window.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { JobResult } from '../common/types';
import type { JobDefinition } from '../jobs/define';
import { orderFulfillJob, type OrderInput } from '../examples/jobs/order';
import { order } from './fixtures/orders';
import type { Sandbox } from '../examples/sandbox';
import { startHarness, type RunningHarness } from './helpers/harness';
import { effectCount, withSandbox } from './helpers/sandbox';
import { startDevServer, unique } from './helpers/servers';
import { waitForCount } from './helpers/visibility';
import { jobOutcome } from '../client/outcome';

let env: TestWorkflowEnvironment;
let sandbox: Sandbox;
let h: RunningHarness;
let clock = Date.now();

before(async () => {
  env = await startDevServer();
  sandbox = await withSandbox();
  h = await startHarness(env, [orderFulfillJob as JobDefinition], { services: sandbox.urls, now: () => clock });
});
after(async () => {
  await h?.stop();
  await sandbox?.stop();
  await env?.teardown();
});

async function fulfil(input: OrderInput): Promise<JobResult> {
  const { jobId } = await h.jobs.submit('order.fulfill', input);
  return jobOutcome(env.client.workflow.getHandle(jobId));
}

test('a fulfilled order applies exactly one effect per provider and one accounting entry', async () => {
  const orderId = unique('ord');
  const result = await fulfil(order(orderId));
  assert.equal(result.status, 'Completed');
  assert.equal(effectCount(sandbox, 'inventory', 'reserve', orderId), 1);
  assert.equal(effectCount(sandbox, 'payments', 'charge', orderId), 1);
  assert.equal(effectCount(sandbox, 'email', 'email', orderId), 1);
  const step = await h.ledger.getStep(`order.fulfill:${orderId}/record-accounting`);
  assert.equal(step?.state, 'COMPLETED');
  const job = await h.ledger.getJobById(`order.fulfill:${orderId}`);
  assert.equal(job?.status, 'Completed');
});

test('a sequential duplicate runs once', async () => {
  const orderId = unique('ord-dup');
  await fulfil(order(orderId));
  const again = await h.jobs.submit('order.fulfill', order(orderId));
  assert.equal(again.deduplicated, true);
  assert.equal(effectCount(sandbox, 'payments', 'charge', orderId), 1);
  assert.equal(await waitForCount(env.client, `WorkflowId="order.fulfill:${orderId}"`, 1), 1);
});

test('an out-of-stock order, with nothing to compensate, parks in the dead letter until abandoned', async () => {
  const orderId = unique('ord-oos');
  const { jobId } = await h.jobs.submit('order.fulfill', order(orderId, 'OUT-1'));
  await waitForCount(env.client, `WorkflowId="${jobId}" AND JobStatus="DeadLettered"`, 1);
  assert.equal((await h.jobs.diagnose(jobId))?.errorClass, 'BusinessRule');
  await h.jobs.act(jobId, { action: 'abandon', operator: 'ops-test', reason: 'customer cancelled' });
  const result = await jobOutcome(env.client.workflow.getHandle(jobId));
  assert.equal(result.status, 'Abandoned');
  assert.equal(effectCount(sandbox, 'payments', 'charge', orderId), 0);
});

test('a receipt that fails for good compensates refund then release, in reverse order', async () => {
  const orderId = unique('ord-comp');
  sandbox.email.setFaults({ failNext: { count: 1, status: 400, type: 'invalid_recipient' } });
  const result = await fulfil(order(orderId));
  sandbox.email.setFaults({});
  assert.equal(result.status, 'Compensated');
  assert.deepEqual(result.compensated, ['refund-payment', 'release-inventory']);
  assert.equal(result.error?.step, 'send-receipt');
  assert.equal(result.error?.errorClass, 'Validation');
  const history = await env.client.workflow.getHandle(`order.fulfill:${orderId}`).fetchHistory();
  const scheduled = (history.events ?? [])
    .map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name)
    .filter((name): name is string => Boolean(name));
  assert.deepEqual(scheduled, [
    'order.fulfill:reserve-inventory',
    'order.fulfill:charge-payment',
    'order.fulfill:send-receipt',
    'order.fulfill:refund-payment',
    'order.fulfill:release-inventory',
  ]);
  assert.equal(effectCount(sandbox, 'payments', 'refund', orderId), 1);
  assert.equal(effectCount(sandbox, 'inventory', 'release', orderId), 1);
});

test('after the dedupe window expires, resubmitting starts a new job', async () => {
  const orderId = unique('ord-window');
  const first = await fulfil(order(orderId));
  assert.equal(first.status, 'Completed');
  assert.equal((await h.jobs.submit('order.fulfill', order(orderId))).deduplicated, true);
  clock += 31 * 24 * 3600 * 1000; // past the 30-day default window
  try {
    const again = await h.jobs.submit('order.fulfill', order(orderId));
    assert.equal(again.deduplicated, false);
    await jobOutcome(env.client.workflow.getHandle(again.jobId));
    assert.equal(await waitForCount(env.client, `WorkflowId="${again.jobId}"`, 2), 2);
  } finally {
    clock = Date.now();
  }
});
