/**
 * The order job's guarantees on the real dev server with the sandbox providers, for both of its forms:
 * `order.fulfill` (workflow code: parallel reserve and fraud check, charge, accounting, parallel receipt
 * and warehouse notice) and `order.sequential` (the list form: reserve, charge, receipt). Each form applies
 * exactly one downstream effect per step, runs a duplicate once, unwinds the saga in reverse order, and
 * starts a new job once the dedupe window has passed. The code form writes one accounting entry, and its
 * fraud check refuses a flagged customer and releases the reservation made beside it, also when both
 * results reach the workflow in the same workflow task.
 * The dead letter's operator actions are in order-deadletter.test.ts, the crash test in crash.test.ts.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import Database from 'better-sqlite3';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { jobStateQuery } from '../common/messages';
import type { JobDefinition } from '../jobs/define';
import { FLAGGED_CUSTOMER_PREFIX, orderFulfillJob, orderSequentialJob } from '../examples/jobs/order';
import type { Sandbox } from '../examples/sandbox';
import { order } from './fixtures/orders';
import { startHarness, type RunningHarness } from './helpers/harness';
import { effectCount, withSandbox } from './helpers/sandbox';
import { startDevServer, unique } from './helpers/servers';
import { waitForCount } from './helpers/visibility';

let env: TestWorkflowEnvironment;
let sandbox: Sandbox;
let h: RunningHarness;
let clock = Date.now();

before(async () => {
  env = await startDevServer();
  sandbox = await withSandbox();
  h = await startHarness(env, [orderFulfillJob, orderSequentialJob], { services: sandbox.urls, now: () => clock });
});
after(async () => {
  await h?.stop();
  await sandbox?.stop();
  await env?.teardown();
});

/** Submits an order of the given form and waits for its end, whatever the outcome. */
async function run(job: JobDefinition, input: ReturnType<typeof order>) {
  const { jobId } = await h.jobs.submit(job.type, input);
  return { jobId, result: await h.jobs.outcome(jobId) };
}

type HistoryEvent = { event: 'scheduled' | 'completed' | 'failed' | 'workflow-task'; step?: string };

/** A job's history in order: which step's activity was scheduled, completed or failed, and where workflow tasks started. */
async function historyEvents(jobId: string): Promise<HistoryEvent[]> {
  const history = await env.client.workflow.getHandle(jobId).fetchHistory();
  const names = new Map<string, string>();
  const events: HistoryEvent[] = [];
  for (const e of history.events ?? []) {
    const scheduled = e.activityTaskScheduledEventAttributes?.activityType?.name;
    if (scheduled) {
      const step = scheduled.slice(scheduled.indexOf(':') + 1);
      names.set(String(e.eventId), step);
      events.push({ event: 'scheduled', step });
    }
    const completed = e.activityTaskCompletedEventAttributes;
    if (completed) events.push({ event: 'completed', step: names.get(String(completed.scheduledEventId)) });
    const failed = e.activityTaskFailedEventAttributes;
    if (failed) events.push({ event: 'failed', step: names.get(String(failed.scheduledEventId)) });
    if (e.workflowTaskStartedEventAttributes) events.push({ event: 'workflow-task' });
  }
  return events;
}

function scheduledSteps(events: HistoryEvent[]): (string | undefined)[] {
  return events.filter((e) => e.event === 'scheduled').map((e) => e.step);
}

/**
 * The two forms: the activities each schedules, in history order, for an order whose receipt fails for
 * good, and the warehouse shipments (`ship` effects) of an order.
 */
const FORMS = [
  {
    job: orderFulfillJob,
    // send-receipt and notify-warehouse run at the same time; the saga starts once both have ended, and
    // withdraws the warehouse notice first (newest first).
    sagaSteps: ['reserve-inventory', 'check-fraud', 'charge-payment', 'record-accounting', 'send-receipt', 'notify-warehouse', 'cancel-shipment', 'refund-payment', 'release-inventory'],
    compensated: ['cancel-shipment', 'refund-payment', 'release-inventory'],
    shipments: 1,
  },
  {
    job: orderSequentialJob,
    sagaSteps: ['reserve-inventory', 'charge-payment', 'send-receipt', 'refund-payment', 'release-inventory'],
    compensated: ['refund-payment', 'release-inventory'],
    shipments: 0,
  },
] as const;

for (const { job, sagaSteps, compensated, shipments } of FORMS) {
  test(`${job.type}: a fulfilled order applies exactly one effect per provider`, async () => {
    const orderId = unique('ord');
    const { jobId, result } = await run(job, order(orderId));
    assert.equal(result.status, 'Completed');
    assert.equal(effectCount(sandbox, 'inventory', 'reserve', orderId), 1);
    assert.equal(effectCount(sandbox, 'payments', 'charge', orderId), 1);
    assert.equal(effectCount(sandbox, 'email', 'email', orderId), 1);
    assert.equal(effectCount(sandbox, 'inventory', 'ship', orderId), shipments);
    assert.equal(effectCount(sandbox, 'inventory', 'release', orderId), 0);
    assert.equal(effectCount(sandbox, 'payments', 'refund', orderId), 0);
    assert.equal((await h.ledger.getJobById(jobId))?.status, 'Completed');
  });

  test(`${job.type}: a sequential duplicate runs once`, async () => {
    const orderId = unique('ord-dup');
    const { jobId } = await run(job, order(orderId));
    const again = await h.jobs.submit(job.type, order(orderId));
    assert.deepEqual([again.deduplicated, again.jobId], [true, jobId]);
    assert.equal(effectCount(sandbox, 'payments', 'charge', orderId), 1);
    assert.equal(await waitForCount(env.client, `WorkflowId="${jobId}"`, 1), 1);
  });

  test(`${job.type}: a receipt that fails for good compensates newest first (${compensated.join(', ')})`, async () => {
    const orderId = unique('ord-comp');
    sandbox.email.setFaults({ failNext: { count: 1, status: 400, type: 'invalid_recipient' } });
    const { jobId, result } = await run(job, order(orderId));
    sandbox.email.setFaults({});
    assert.equal(result.status, 'Compensated');
    assert.deepEqual(result.compensated, compensated);
    assert.equal(result.error?.step, 'send-receipt');
    assert.equal(result.error?.errorClass, 'Validation');
    const events = await historyEvents(jobId);
    assert.deepEqual(scheduledSteps(events), sagaSteps);
    assert.equal(effectCount(sandbox, 'payments', 'refund', orderId), 1);
    assert.equal(effectCount(sandbox, 'inventory', 'release', orderId), 1);
    assert.equal(effectCount(sandbox, 'inventory', 'ship', orderId), shipments);
    assert.equal(effectCount(sandbox, 'inventory', 'unship', orderId), shipments, 'a compensated order does not ship');
    if (shipments > 0) {
      const warehouseDone = events.findIndex((e) => e.event === 'completed' && e.step === 'notify-warehouse');
      const refundScheduled = events.findIndex((e) => e.event === 'scheduled' && e.step === 'cancel-shipment');
      assert.ok(warehouseDone >= 0 && warehouseDone < refundScheduled, 'the saga waited for the warehouse notice running beside the receipt');
    }
  });

  test(`${job.type}: after the dedupe window expires, resubmitting starts a new job`, async () => {
    const orderId = unique('ord-window');
    const { jobId, result } = await run(job, order(orderId));
    assert.equal(result.status, 'Completed');
    assert.equal((await h.jobs.submit(job.type, order(orderId))).deduplicated, true);
    clock += 31 * 24 * 3600 * 1000; // past the 30-day default window
    try {
      const again = await h.jobs.submit(job.type, order(orderId));
      assert.deepEqual([again.deduplicated, again.jobId], [false, jobId]);
      assert.equal((await h.jobs.outcome(again.jobId)).status, 'Completed');
      assert.equal(await waitForCount(env.client, `WorkflowId="${jobId}"`, 2), 2);
    } finally {
      clock = Date.now();
    }
  });
}

test('order.fulfill: the accounting entry is written once, with the ledger completion of record-accounting', async () => {
  const orderId = unique('ord-acct');
  const { jobId, result } = await run(orderFulfillJob, order(orderId));
  assert.equal(result.status, 'Completed');
  const step = await h.ledger.getStep(`${jobId}/record-accounting`);
  assert.equal(step?.state, 'COMPLETED');
  const db = new Database(join(h.dir, 'ledger.db'), { readonly: true });
  try {
    const entries = db.prepare('SELECT entry_key, amount, currency FROM accounting_entries WHERE order_id = ?').all(orderId);
    assert.deepEqual(entries, [{ entry_key: `${jobId}/record-accounting`, amount: 4200, currency: 'EUR' }]);
  } finally {
    db.close();
  }
});

/** An order from a customer the fraud check refuses. */
function flagged(orderId: string) {
  const input = order(orderId);
  return { ...input, customer: { ...input.customer, id: `${FLAGGED_CUSTOMER_PREFIX}cus-1` } };
}

/** Runs a refused order to its end; fails at once if it parks in the dead letter instead of compensating. */
async function runRefused(orderId: string) {
  const { jobId } = await h.jobs.submit(orderFulfillJob, flagged(orderId));
  const handle = env.client.workflow.getHandle(jobId);
  while ((await handle.describe()).status.name === 'RUNNING') {
    const state = await handle.query(jobStateQuery);
    assert.notEqual(state.status, 'DeadLettered', `${jobId} parked at ${state.failure?.step} (${state.failure?.errorClass}) instead of compensating`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { jobId, result: await h.jobs.outcome(jobId) };
}

test('order.fulfill: a customer refused by the fraud check releases the reservation made beside it and ends Compensated', async () => {
  const orderId = unique('ord-fraud');
  const { jobId, result } = await runRefused(orderId);
  assert.equal(result.status, 'Compensated');
  assert.deepEqual(result.compensated, ['release-inventory']);
  assert.deepEqual([result.error?.step, result.error?.errorClass], ['check-fraud', 'BusinessRule']);
  // The refusal waited for the reservation running beside it, so the saga knew to release it.
  const events = await historyEvents(jobId);
  assert.deepEqual(scheduledSteps(events), ['reserve-inventory', 'check-fraud', 'release-inventory']);
  assert.equal(effectCount(sandbox, 'inventory', 'reserve', orderId), 1);
  assert.equal(effectCount(sandbox, 'inventory', 'release', orderId), 1);
  assert.equal(effectCount(sandbox, 'payments', 'charge', orderId), 0);
});

test('order.fulfill: a fraud refusal that reaches the workflow in the same task as the reservation still releases it', async () => {
  // Both activities are quick, so their results often reach the workflow together. Orders are run until
  // one did (at most 20); each must be compensated.
  let together = false;
  for (let i = 0; i < 20 && !together; i++) {
    const orderId = unique('ord-fraud-race');
    const { jobId, result } = await runRefused(orderId);
    assert.equal(result.status, 'Compensated', `${jobId} ended ${result.status}`);
    assert.deepEqual(result.compensated, ['release-inventory']);
    assert.equal(effectCount(sandbox, 'inventory', 'release', orderId), 1);
    const events = await historyEvents(jobId);
    const reserved = events.findIndex((e) => e.event === 'completed' && e.step === 'reserve-inventory');
    const refused = events.findIndex((e) => e.event === 'failed' && e.step === 'check-fraud');
    const between = events.slice(Math.min(reserved, refused), Math.max(reserved, refused));
    together = !between.some((e) => e.event === 'workflow-task');
  }
  assert.ok(together, 'in 20 orders, the reservation and the refusal never reached the workflow in the same task');
});
