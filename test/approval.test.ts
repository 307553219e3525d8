/**
 * `job.approval`: on the time-skipping server an approval nobody decides times out after an hour of
 * server time and the job follows its policy (compensate, or abandon); on the dev server
 * `jobledger approve` lets an `order.fulfill` above the approval threshold complete and `jobledger reject`
 * compensates it. The operator's identity and reason are in the workflow history (the Update's input) and
 * in the ledger trail.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { jobOutcome } from '../client/outcome';
import { SA } from '../common/searchAttributes';
import { APPROVAL_THRESHOLD, orderFulfillJob } from '../examples/jobs/order';
import type { Sandbox } from '../examples/sandbox';
import { stepKey } from '../ledger';
import { approvalJob } from './fixtures/code-jobs';
import { AttemptLog } from './fixtures/jobs';
import { order } from './fixtures/orders';
import { createHarness, startHarness, type RunningHarness } from './helpers/harness';
import { cli } from './helpers/run';
import { effectCount, withSandbox } from './helpers/sandbox';
import { startDevServer, startTimeSkippingServer, unique } from './helpers/servers';
import { waitForCount } from './helpers/visibility';

describe('time-skipping server', () => {
  let env: TestWorkflowEnvironment;
  before(async () => {
    env = await startTimeSkippingServer();
  });
  after(async () => {
    await env?.teardown();
  });

  for (const policy of ['compensate', 'abandon'] as const) {
    test(`an approval nobody decides times out after an hour of server time and the job follows its policy (${policy})`, async () => {
      const attempts = new AttemptLog();
      const job = approvalJob(attempts);
      const h = await createHarness(env, [job]);
      const id = unique(`approve-timeout-${policy}`);
      const wallStart = Date.now();
      const { outcome, history, events } = await h.worker.runUntil(async () => {
        const { jobId } = await h.jobs.submit(job, { id, onTimeout: policy });
        const handle = env.client.workflow.getHandle(jobId);
        const outcome = await jobOutcome(handle);
        return { outcome, history: await handle.fetchHistory(), events: await h.ledger.events({ jobId }) };
      });
      await h.ledger.close();
      const jobId = `test.approval:${id}`;
      assert.equal(outcome.status, policy === 'compensate' ? 'Compensated' : 'Abandoned');
      assert.equal(outcome.error?.errorClass, 'Timeout');
      assert.equal(outcome.error?.step, 'sign-off');
      assert.equal(attempts.byKey.get(stepKey(jobId, 'unbook')), policy === 'compensate' ? 1 : undefined);
      assert.equal(attempts.byKey.get(stepKey(jobId, 'confirm')), undefined, 'nothing runs past an approval that timed out');
      const timer = (history.events ?? []).find((e) => e.timerStartedEventAttributes);
      assert.equal(Number(timer?.timerStartedEventAttributes?.startToFireTimeout?.seconds), 3600, 'the approval waited on a one-hour timer');
      assert.deepEqual(
        events.filter((e) => e.kind.startsWith('approval.')).map((e) => e.kind),
        ['approval.requested', 'approval.timed_out'],
      );
      assert.ok(Date.now() - wallStart < 60_000, 'an hour of server time took seconds of wall time');
    });
  }
});

describe('dev server, decided through the CLI', () => {
  let env: TestWorkflowEnvironment;
  let sandbox: Sandbox;
  let h: RunningHarness;
  before(async () => {
    env = await startDevServer();
    sandbox = await withSandbox();
    h = await startHarness(env, [orderFulfillJob], { services: sandbox.urls });
  });
  after(async () => {
    await h?.stop();
    await sandbox?.stop();
    await env?.teardown();
  });

  /** Submits an order above the threshold and waits until it waits for its approval. */
  async function awaitingApproval(prefix: string): Promise<{ jobId: string; orderId: string }> {
    const orderId = unique(prefix);
    const { jobId } = await h.jobs.submit(orderFulfillJob, { ...order(orderId), amount: APPROVAL_THRESHOLD + 50_000 });
    assert.equal(await waitForCount(env.client, `WorkflowId="${jobId}" AND JobStatus="AwaitingApproval" AND JobStep="manager-approval"`, 1), 1);
    return { jobId, orderId };
  }

  /** The operator Update's input as the history records it. */
  async function updateInputs(jobId: string): Promise<string[]> {
    const { events = [] } = await env.client.workflow.getHandle(jobId).fetchHistory();
    return (events ?? [])
      .map((e) => e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.args?.payloads?.[0]?.data)
      .filter((data): data is Uint8Array => data instanceof Uint8Array)
      .map((data) => Buffer.from(data).toString('utf8'));
  }

  test('jobledger approve lets the order go on: charged once, Completed, approver in the result, history and ledger', async () => {
    const { jobId, orderId } = await awaitingApproval('ord-approve');
    assert.equal(effectCount(sandbox, 'payments', 'charge', orderId), 0, 'nothing is charged before the approval');
    const r = await cli(['approve', jobId, '--operator', 'mgr-ann', '--reason', 'within the quarterly budget'], { TEMPORAL_ADDRESS: env.address });
    assert.equal(r.code, 0, r.stderr);
    const outcome = await h.jobs.outcome(orderFulfillJob, jobId);
    assert.equal(outcome.status, 'Completed');
    assert.equal(outcome.result?.approvedBy, 'mgr-ann');
    assert.equal(effectCount(sandbox, 'payments', 'charge', orderId), 1);
    const [input] = await updateInputs(jobId);
    assert.deepEqual(JSON.parse(input!), { action: 'approve', operator: 'mgr-ann', reason: 'within the quarterly budget' });
    const approved = (await h.ledger.events({ jobId })).find((e) => e.kind === 'approval.approved');
    assert.deepEqual(approved?.data, { name: 'manager-approval', operator: 'mgr-ann', reason: 'within the quarterly budget' });
  });

  test('jobledger reject compensates the order: the reservation released, nothing charged, rejecter in history and ledger', async () => {
    const { jobId, orderId } = await awaitingApproval('ord-reject');
    const r = await cli(['reject', jobId, '--operator', 'mgr-bo', '--reason', 'customer over credit limit'], { TEMPORAL_ADDRESS: env.address });
    assert.equal(r.code, 0, r.stderr);
    const outcome = await h.jobs.outcome(orderFulfillJob, jobId);
    assert.equal(outcome.status, 'Compensated');
    assert.deepEqual(outcome.compensated, ['release-inventory']);
    assert.equal(outcome.error?.errorClass, 'BusinessRule');
    assert.match(outcome.error?.message ?? '', /rejected by mgr-bo: customer over credit limit/);
    assert.equal(effectCount(sandbox, 'payments', 'charge', orderId), 0);
    assert.equal(effectCount(sandbox, 'inventory', 'release', orderId), 1);
    const description = await env.client.workflow.getHandle(jobId).describe();
    assert.equal(description.status.name, 'FAILED');
    assert.equal(description.typedSearchAttributes.get(SA.JobStatus), 'Compensated');
    const [input] = await updateInputs(jobId);
    assert.deepEqual(JSON.parse(input!), { action: 'reject', operator: 'mgr-bo', reason: 'customer over credit limit' });
    const rejected = (await h.ledger.events({ jobId })).find((e) => e.kind === 'approval.rejected');
    assert.deepEqual(rejected?.data, { name: 'manager-approval', operator: 'mgr-bo', reason: 'customer over credit limit' });
  });

  test('approve is refused (exit 1, nothing changes) for a job that is not waiting for an approval', async () => {
    const orderId = unique('ord-small');
    const { jobId } = await h.jobs.submit(orderFulfillJob, order(orderId));
    assert.equal((await h.jobs.outcome(orderFulfillJob, jobId)).status, 'Completed');
    const r = await cli(['approve', jobId, '--operator', 'mgr-ann', '--reason', 'late approval'], { TEMPORAL_ADDRESS: env.address });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /closed|AwaitingApproval/);
  });
});
