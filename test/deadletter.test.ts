/**
 * The dead letter on the real dev server: jobs that cannot proceed park in `DeadLettered`, are found by
 * visibility queries and `dlq list`, and each operator action leads to its terminal status with the
 * operator's identity and reason in history and in the ledger trail. Invalid actions are rejected.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { OperatorActionRejectedError } from '../client/jobs';
import { jobStateQuery } from '../common/messages';
import { AttemptLog, sagaJob } from './fixtures/jobs';
import { startHarness, type RunningHarness } from './helpers/harness';
import { cli } from './helpers/run';
import { startDevServer, unique } from './helpers/servers';
import { waitForCount } from './helpers/visibility';
import { jobOutcome } from '../client/outcome';

let env: TestWorkflowEnvironment;
let h: RunningHarness;
const attempts = new AttemptLog();
const SECRET = 'pii-secret-4111111111111111';

before(async () => {
  env = await startDevServer();
  h = await startHarness(env, [sagaJob(attempts)]);
});
after(async () => {
  await h?.stop();
  await env?.teardown();
});

async function parked(failures = 1, undoFailures = 0): Promise<string> {
  const { jobId } = await h.jobs.submit('test.saga', { id: unique('dl'), failures, undoFailures, secret: SECRET });
  assert.equal(await waitForCount(env.client, `WorkflowId="${jobId}" AND JobStatus="DeadLettered"`, 1), 1, 'job parked');
  return jobId;
}

/** The operator actions accepted by the job's Updates, decoded from its history. */
async function updatesInHistory(jobId: string): Promise<unknown[]> {
  const history = await env.client.workflow.getHandle(jobId).fetchHistory();
  return (history.events ?? [])
    .map((e) => e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.args?.payloads?.[0])
    .filter((p) => p !== undefined && p !== null)
    .map((p) => defaultPayloadConverter.fromPayload(p as Payload));
}

for (const [action, expected, compensated] of [
  ['retry', 'Completed', undefined],
  ['skip', 'Completed', undefined],
  ['compensate', 'Compensated', ['unbook']],
  ['abandon', 'Abandoned', undefined],
] as const) {
  test(`operator ${action} on a dead-lettered job ends ${expected}, with identity and reason on record`, async () => {
    const jobId = await parked();
    const reason = `reason for ${action}`;
    await h.jobs.act(jobId, { action, operator: 'alice@ops', reason });
    const result = await jobOutcome(env.client.workflow.getHandle(jobId));
    assert.equal(result.status, expected);
    assert.deepEqual(result.compensated, compensated);
    if (action === 'skip') assert.deepEqual(result.results.confirm, { skipped: true, by: 'alice@ops' });
    assert.deepEqual(await updatesInHistory(jobId), [{ action, operator: 'alice@ops', reason }]);
    const trail = await h.ledger.events({ jobId });
    const recorded = trail.find((e) => e.kind === `operator.${action}`);
    assert.deepEqual(recorded?.data, { operator: 'alice@ops', reason, step: 'confirm' });
    assert.equal(await waitForCount(env.client, `WorkflowId="${jobId}" AND JobStatus="${expected}"`, 1), 1);
    if (action === 'retry') {
      assert.equal(await waitForCount(env.client, `WorkflowId="${jobId}" AND JobStep="confirm" AND JobAttempt=2`, 1), 1, 'the retried step is on its second dispatch');
    }
  });
}

test('a compensation that fails for good parks the job again; the validator refuses compensate there, retry finishes it', async () => {
  const jobId = await parked(1, 1);
  await h.jobs.act(jobId, { action: 'compensate', operator: 'bob', reason: 'undo the booking' });
  assert.equal(await waitForCount(env.client, `WorkflowId="${jobId}" AND JobStatus="DeadLettered" AND JobStep="unbook"`, 1), 1);
  assert.equal((await h.jobs.diagnose(jobId))?.phase, 'compensation');
  await assert.rejects(h.jobs.act(jobId, { action: 'compensate', operator: 'bob', reason: 'again' }), /'compensate' does not apply to a job parked at compensation 'unbook'/);
  await h.jobs.act(jobId, { action: 'retry', operator: 'bob', reason: 'undo service is back' });
  const result = await jobOutcome(env.client.workflow.getHandle(jobId));
  assert.equal(result.status, 'Compensated');
});

test('dlq list and JobStatus="DeadLettered" return exactly the parked jobs', async () => {
  const { jobId: done } = await h.jobs.submit('test.saga', { id: unique('done'), failures: 0, secret: SECRET });
  await jobOutcome(env.client.workflow.getHandle(done));
  const jobId = await parked();
  const listed = await h.jobs.deadLettered('test.saga');
  assert.ok(!listed.some((j) => j.jobId === done), 'a job that completed is not listed');
  assert.ok(listed.some((j) => j.jobId === jobId && j.step === 'confirm' && j.errorClass === 'Internal'));
  const ids: string[] = [];
  for await (const e of env.client.workflow.list({ query: 'JobStatus="DeadLettered"' })) ids.push(e.workflowId);
  assert.ok(ids.includes(jobId), 'the parked job is found by JobStatus');
  assert.ok(!ids.includes(done), 'the completed job is not');
  // Checked against sources other than the JobStatus attribute the query used: the execution is still
  // open, and the workflow's own state (the state query) says it is parked.
  const handle = env.client.workflow.getHandle(jobId);
  assert.equal((await handle.describe()).status.name, 'RUNNING');
  assert.equal((await handle.query(jobStateQuery)).status, 'DeadLettered');
  await h.jobs.act(jobId, { action: 'abandon', operator: 'carol', reason: 'cleanup' });
});

test('invalid actions are rejected: missing reason, unknown action, a job that is not parked, a closed job', async () => {
  await assert.rejects(h.jobs.act('test.saga:any', { action: 'retry', operator: 'alice', reason: '' }), OperatorActionRejectedError);
  await assert.rejects(h.jobs.act('test.saga:any', { action: 'reboot' as 'retry', operator: 'alice', reason: 'why not' }), OperatorActionRejectedError);
  const jobId = await parked();
  await h.jobs.act(jobId, { action: 'abandon', operator: 'alice', reason: 'first action wins' });
  await jobOutcome(env.client.workflow.getHandle(jobId));
  await assert.rejects(h.jobs.act(jobId, { action: 'retry', operator: 'alice', reason: 'too late' }), /closed/);
  const { jobId: done } = await h.jobs.submit('test.saga', { id: unique('ok'), failures: 0, secret: SECRET });
  await jobOutcome(env.client.workflow.getHandle(done));
  await assert.rejects(h.jobs.act(done, { action: 'retry', operator: 'alice', reason: 'nothing to retry' }), OperatorActionRejectedError);
});

test('diagnose (CLI) shows the failure context with no PII value from the input', async () => {
  const jobId = await parked();
  const r = await cli(['diagnose', jobId, '--json'], {
    TEMPORAL_ADDRESS: env.address,
    JOBLEDGER_LEDGER_PATH: join(h.dir, 'cli-ledger.db'),
    LOG_LEVEL: 'warn',
  });
  assert.equal(r.code, 0, r.stderr);
  assert.ok(!r.stdout.includes(SECRET), 'no PII in diagnose output');
  const { failure } = JSON.parse(r.stdout);
  assert.equal(failure.step, 'confirm');
  assert.equal(failure.errorClass, 'Internal');
  assert.equal(failure.attempt, 1);
  assert.equal(failure.input.secret, '***');
  assert.match(failure.runbook, /^RUNBOOK\.md#internal$/);
  assert.ok(failure.hint.length > 10);
  assert.ok(failure.events.some((e: { status: string }) => e.status === 'Running'));
  await h.jobs.act(jobId, { action: 'abandon', operator: 'erin', reason: 'diagnosed' });
});

test('cancel and terminate through the CLI record the operator and reason; cancel ends the job Abandoned', async () => {
  const cliEnv = { TEMPORAL_ADDRESS: env.address, JOBLEDGER_LEDGER_PATH: join(h.dir, 'ledger.db'), LOG_LEVEL: 'warn' };
  const cancelled = await parked();
  const missing = await cli(['cancel', cancelled, '--operator', 'frank', '--json'], cliEnv);
  assert.equal(missing.code, 2, 'a reason is required');
  const r = await cli(['cancel', cancelled, '--operator', 'frank', '--reason', 'customer withdrew', '--json'], cliEnv);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(await waitForCount(env.client, `WorkflowId="${cancelled}" AND JobStatus="Abandoned" AND ExecutionStatus="Canceled"`, 1), 1);
  assert.deepEqual((await h.ledger.events({ jobId: cancelled })).find((e) => e.kind === 'operator.cancel')?.data, { operator: 'frank', reason: 'customer withdrew' });

  const terminated = await parked();
  const t = await cli(['terminate', terminated, '--operator', 'grace', '--reason', 'runaway job', '--json'], cliEnv);
  assert.equal(t.code, 0, t.stderr);
  const description = await env.client.workflow.getHandle(terminated).describe();
  assert.equal(description.status.name, 'TERMINATED');
  const history = await env.client.workflow.getHandle(terminated).fetchHistory();
  const reason = history.events?.find((e) => e.workflowExecutionTerminatedEventAttributes)?.workflowExecutionTerminatedEventAttributes?.reason;
  assert.equal(reason, 'runaway job (operator: grace)');
  assert.equal((await h.ledger.getJobById(terminated))?.status, 'Abandoned');
});
