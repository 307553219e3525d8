/**
 * The dead letter of the order job, for both of its forms (`order.fulfill`, workflow code, and
 * `order.sequential`, the list form), on the real dev server with the sandbox providers: a step that
 * cannot proceed parks the job, and each operator action (retry, skip, compensate, abandon) leads to its
 * outcome with the downstream effects it implies, and with the operator's identity and reason in the
 * ledger's trail. The skip and compensate cases let a step spend its 5 attempts on 503s (about 15 s each).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { JobResult, OperatorAction } from '../common/types';
import { jobStateQuery } from '../common/messages';
import { orderFulfillJob, orderSequentialJob, type OrderInput } from '../examples/jobs/order';
import type { Sandbox } from '../examples/sandbox';
import { order } from './fixtures/orders';
import { startHarness, type RunningHarness } from './helpers/harness';
import { effectCount, withSandbox } from './helpers/sandbox';
import { startDevServer, unique } from './helpers/servers';

let env: TestWorkflowEnvironment;
let sandbox: Sandbox;
let h: RunningHarness;

before(async () => {
  env = await startDevServer();
  sandbox = await withSandbox();
  h = await startHarness(env, [orderFulfillJob, orderSequentialJob], { services: sandbox.urls });
});
after(async () => {
  await h?.stop();
  await sandbox?.stop();
  await env?.teardown();
});

/** Polls the job's own state until it is parked (a step spending its retries takes about 15 s). */
async function untilParked(jobId: string): Promise<void> {
  const handle = env.client.workflow.getHandle(jobId);
  const deadline = Date.now() + 60_000;
  while ((await handle.query(jobStateQuery)).status !== 'DeadLettered') {
    if (Date.now() > deadline) throw new Error(`${jobId} did not park in the dead letter`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * Submits the order, waits until it parks at `step` with `errorClass`, lets an operator act, and returns
 * the job's end. The operator's action, identity and reason must be in the ledger's trail.
 */
async function parkThenAct(jobType: string, input: OrderInput, parked: { step: string; errorClass: string }, action: OperatorAction['action']) {
  const { jobId } = await h.jobs.submit(jobType, input);
  await untilParked(jobId);
  const failure = await h.jobs.diagnose(jobId);
  assert.deepEqual([failure?.step, failure?.errorClass], [parked.step, parked.errorClass], 'where and why the job parked');
  // The dead letter's listing (search attributes: dlq list, the dashboard) names the same step, even when
  // a step running beside the failed one was dispatched after it.
  const listed = await listedDeadLettered(jobType, jobId);
  assert.deepEqual([listed?.step, listed?.errorClass], [parked.step, parked.errorClass], 'the listing names the failed step');
  const operator = 'alice@ops';
  const reason = `test: ${action} at ${parked.step}`;
  await h.jobs.act(jobId, { action, operator, reason });
  const result: JobResult = await h.jobs.outcome(jobId);
  const trail = await h.ledger.events({ jobId });
  assert.deepEqual(trail.find((e) => e.kind === `operator.${action}`)?.data, { operator, reason, step: parked.step }, 'the ledger trail records the action');
  return { jobId, result };
}

/** The job's row in the dead letter's listing, once visibility has it (it is eventually consistent). */
async function listedDeadLettered(jobType: string, jobId: string) {
  for (let i = 0; i < 50; i++) {
    const listed = (await h.jobs.deadLettered(jobType)).find((j) => j.jobId === jobId);
    if (listed) return listed;
    await new Promise((r) => setTimeout(r, 200));
  }
  return undefined;
}

/** Calls a provider received with the step's key (every attempt, failed ones included). */
function callsOf(provider: 'payments' | 'inventory' | 'email', stepKey: string): number {
  return sandbox[provider].listCalls().filter((c) => c.idempotencyKey === stepKey).length;
}

for (const job of [orderFulfillJob, orderSequentialJob]) {
  test(`${job.type}: an out-of-stock order, with nothing to compensate, parks; abandon ends it Abandoned with no charge`, async () => {
    const orderId = unique('ord-oos');
    const { result } = await parkThenAct(job.type, order(orderId, 'OUT-1'), { step: 'reserve-inventory', errorClass: 'BusinessRule' }, 'abandon');
    assert.equal(result.status, 'Abandoned');
    assert.equal(result.compensated, undefined);
    assert.equal(effectCount(sandbox, 'inventory', 'reserve', orderId), 0);
    assert.equal(effectCount(sandbox, 'payments', 'charge', orderId), 0);
    assert.equal(effectCount(sandbox, 'inventory', 'release', orderId), 0);
  });

  test(`${job.type}: a reservation refused once parks; retry completes the order with exactly one reservation`, async () => {
    const orderId = unique('ord-retry');
    sandbox.inventory.setFaults({ failNext: { count: 1, status: 409, type: 'stock_locked' } });
    const { jobId, result } = await parkThenAct(job.type, order(orderId), { step: 'reserve-inventory', errorClass: 'BusinessRule' }, 'retry');
    sandbox.inventory.setFaults({});
    assert.equal(result.status, 'Completed');
    assert.equal(callsOf('inventory', `${jobId}/reserve-inventory`), 2, 'the refused call, then the retried one');
    assert.equal(effectCount(sandbox, 'inventory', 'reserve', orderId), 1);
    assert.equal(effectCount(sandbox, 'payments', 'charge', orderId), 1);
    assert.equal(effectCount(sandbox, 'email', 'email', orderId), 1);
  });

  test(`${job.type}: a receipt that runs out of retries on 503s parks; skip completes the order without an email`, async () => {
    const orderId = unique('ord-skip');
    sandbox.email.setFaults({ failNext: { count: 5, status: 503, type: 'service_unavailable' } });
    const { jobId, result } = await parkThenAct(job.type, order(orderId), { step: 'send-receipt', errorClass: 'DependencyUnavailable' }, 'skip');
    sandbox.email.setFaults({});
    assert.equal(result.status, 'Completed');
    assert.deepEqual(result.results['send-receipt'], { skipped: true, by: 'alice@ops' }, 'the result says who skipped the step');
    assert.equal(callsOf('email', `${jobId}/send-receipt`), 5, 'all 5 attempts were spent before the job parked');
    assert.equal(effectCount(sandbox, 'email', 'email', orderId), 0);
    assert.equal(effectCount(sandbox, 'payments', 'charge', orderId), 1);
    assert.equal(effectCount(sandbox, 'payments', 'refund', orderId), 0);
    assert.equal(effectCount(sandbox, 'inventory', 'release', orderId), 0);
  });

  test(`${job.type}: a charge that runs out of retries on 503s parks; compensate releases the reservation once, with no charge`, async () => {
    const orderId = unique('ord-undo');
    sandbox.payments.setFaults({ failNext: { count: 5, status: 503, type: 'service_unavailable' } });
    const { jobId, result } = await parkThenAct(job.type, order(orderId), { step: 'charge-payment', errorClass: 'DependencyUnavailable' }, 'compensate');
    sandbox.payments.setFaults({});
    assert.equal(result.status, 'Compensated');
    assert.deepEqual(result.compensated, ['release-inventory']);
    assert.equal(callsOf('payments', `${jobId}/charge-payment`), 5, 'all 5 attempts were spent before the job parked');
    assert.equal(effectCount(sandbox, 'payments', 'charge', orderId), 0);
    assert.equal(effectCount(sandbox, 'inventory', 'reserve', orderId), 1);
    assert.equal(effectCount(sandbox, 'inventory', 'release', orderId), 1);
    assert.equal(effectCount(sandbox, 'email', 'email', orderId), 0);
  });
}
