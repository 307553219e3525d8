/**
 * Regression tests for the workflow defects of issue 9, on the real dev server: a failing child job
 * leaves its parent in a true state (9.1), malformed raw starts fail at once as `Validation` (9.2), and a
 * ledger fault during prepare parks the job instead of burning its key (9.3).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import Database from 'better-sqlite3';
import { z } from 'zod';
import { ApplicationFailure } from '@temporalio/activity';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { JOB_WORKFLOW_TYPE, isTerminal } from '../common/constants';
import { SA } from '../common/searchAttributes';
import { defineJob, type JobDefinition } from '../jobs/define';
import { reportGenerateJob, reportSectionJob } from '../examples/jobs/report';
import { JobClient } from '../client/jobs';
import { JobRegistry } from '../jobs/registry';
import { openLedger } from '../ledger';
import { AttemptLog } from './fixtures/jobs';
import { startHarness, type RunningHarness } from './helpers/harness';
import { resolveExecutable, startDevServer, tempDir, unique } from './helpers/servers';
import { jobOutcome } from '../client/outcome';

const PUBLIC = { pii: false } as const;
const attempts = new AttemptLog();

/** `test.kid`: books, then checks; a check that fails compensates the booking, so the child ends Compensated. */
const kidJob = defineJob({
  type: 'test.kid',
  version: 1,
  input: z.strictObject({ id: z.string().max(200).meta(PUBLIC), fail: z.boolean().meta(PUBLIC), waitMs: z.number().int().min(0).max(10_000).meta(PUBLIC) }),
  key: (input) => input.id,
  steps: [
    {
      name: 'book',
      reversible: true,
      run: async ({ stepKey }) => ({ booked: attempts.note(stepKey) }),
      compensate: { name: 'unbook', run: async ({ stepKey }) => ({ unbooked: attempts.note(stepKey) }) },
    },
    {
      name: 'check',
      run: async ({ input }) => {
        await new Promise((r) => setTimeout(r, input.waitMs));
        if (input.fail) throw ApplicationFailure.nonRetryable('the check refused this child', 'BusinessRule');
        return { checked: true };
      },
    },
  ],
});

/** Two parents of `test.kid` children: one with nothing to undo, one whose `hold` step is undone by `release`. */
function parentJob(type: string, reversible: boolean, waitMs = 0) {
  return defineJob({
    type,
    version: 1,
    input: z.strictObject({ id: z.string().max(64).meta(PUBLIC), failing: z.array(z.boolean()).max(5).meta(PUBLIC) }),
    key: (input) => input.id,
    steps: [
      reversible
        ? {
            name: 'hold',
            reversible: true,
            run: async ({ stepKey }) => ({ held: attempts.note(stepKey) }),
            compensate: { name: 'release', run: async ({ stepKey }) => ({ released: attempts.note(stepKey) }) },
          }
        : { name: 'plan', run: async () => ({ planned: true }) },
    ],
    children: { jobType: 'test.kid', inputs: (input) => input.failing.map((fail, i) => ({ id: `${input.id}-kid-${i}`, fail, waitMs })) },
  });
}

/** `test.simple`: one step that always succeeds. */
const simpleJob = defineJob({
  type: 'test.simple',
  version: 1,
  input: z.strictObject({ id: z.string().max(64).meta(PUBLIC) }),
  key: (input) => input.id,
  steps: [{ name: 'work', run: async ({ stepKey }) => ({ worked: attempts.note(stepKey) }) }],
});

/** `test.unwired`: its step calls a downstream service that the harness's worker is not given. */
const unwiredJob = defineJob({
  type: 'test.unwired',
  version: 1,
  input: z.strictObject({ id: z.string().max(64).meta(PUBLIC) }),
  key: (input) => input.id,
  steps: [
    {
      name: 'call',
      dependency: 'ledgerless',
      startToCloseTimeout: '10s',
      run: async (ctx) => {
        attempts.note(ctx.stepKey);
        return { url: ctx.service('ledgerless') };
      },
    },
  ],
});

let env: TestWorkflowEnvironment;
let h: RunningHarness;
let ledgerPath: string;

before(async () => {
  env = await startDevServer();
  ledgerPath = join(tempDir(), 'ledger.db');
  h = await startHarness(
    env,
    [kidJob, parentJob('test.parent', false), parentJob('test.parent-saga', true), parentJob('test.parent-slow', false, 4_000), simpleJob, unwiredJob, reportGenerateJob, reportSectionJob],
    { ledgerPath, ledgerOptions: { busyTimeoutMs: 200 } },
  );
});
after(async () => {
  await h?.stop();
  await env?.teardown();
});

/** Statuses of a job still moving; `(none)` is a raw start whose first workflow task has not run yet. */
const OPEN_STATUSES: readonly string[] = ['(none)', 'Submitted', 'Running', 'Retrying', 'Compensating'];

/** Waits until the job stops moving (closed, or parked), then returns its JobStatus and workflow status. */
async function settle(handle: WorkflowHandle, timeoutMs = 60_000): Promise<{ status: string; workflowStatus: string }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const description = await handle.describe();
    const status = description.typedSearchAttributes.get(SA.JobStatus) ?? '(none)';
    if (description.status.name !== 'RUNNING' || !OPEN_STATUSES.includes(status)) return { status, workflowStatus: description.status.name };
    if (Date.now() > deadline) throw new Error(`job ${handle.workflowId} still ${status} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** JobStatus agrees with the workflow: terminal exactly when closed, DeadLettered only while running. */
function assertTruthful(s: { status: string; workflowStatus: string }): void {
  if (s.workflowStatus === 'RUNNING') assert.equal(s.status, 'DeadLettered', `an open job must be parked, not ${s.status}`);
  else assert.ok(isTerminal(s.status), `a closed (${s.workflowStatus}) job has JobStatus ${s.status}`);
}

test('defect 9.1: a child that fails parks a parent with nothing to undo at step children; abandon then closes it Abandoned', async () => {
  const id = unique('parent');
  const { jobId } = await h.jobs.submit('test.parent', { id, failing: [false, true] });
  const handle = env.client.workflow.getHandle(jobId);
  const parked = await settle(handle);
  assert.deepEqual(parked, { status: 'DeadLettered', workflowStatus: 'RUNNING' });
  const description = await handle.describe();
  assert.equal(description.typedSearchAttributes.get(SA.JobStep), 'children');
  assert.equal(description.typedSearchAttributes.get(SA.ErrorClass), 'BusinessRule');
  const failure = await h.jobs.diagnose(jobId);
  assert.equal(failure?.step, 'children');
  assert.match(failure?.message ?? '', new RegExp(`test\\.kid:${id}\\.part-1 ended Compensated: the check refused this child`));

  await h.jobs.act(jobId, { action: 'abandon', operator: 'alice@ops', reason: 'child cannot succeed' });
  const closed = await settle(handle);
  assert.equal(closed.status, 'Abandoned');
  assertTruthful(closed);
});

test('defect 9.1: a child that fails after the parent did reversible work compensates the parent', async () => {
  const id = unique('saga-parent');
  const { jobId } = await h.jobs.submit('test.parent-saga', { id, failing: [true] });
  const handle = env.client.workflow.getHandle(jobId);
  const result = await jobOutcome(handle);
  assert.equal(result.status, 'Compensated');
  assert.deepEqual(result.compensated, ['release']);
  assert.equal(attempts.byKey.get(`${jobId}/release`), 1, 'the parent step was undone once');
  assertTruthful(await settle(handle));
});

test('defect 9.1: a terminated child parks its parent once every child ended; an operator retry reruns that child and completes the parent', async () => {
  const id = unique('slow-parent');
  const { jobId } = await h.jobs.submit('test.parent-slow', { id, failing: [false, false] });
  const handle = env.client.workflow.getHandle(jobId);
  const doomed = env.client.workflow.getHandle(`test.kid:${id}.part-1`);
  for (let tries = 0; ; tries++) {
    try {
      await doomed.terminate('chaos: child terminated by the test');
      break;
    } catch (err) {
      if (tries > 100) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  assert.deepEqual(await settle(handle), { status: 'DeadLettered', workflowStatus: 'RUNNING' });
  const sibling = await env.client.workflow.getHandle(`test.kid:${id}.part-0`).describe();
  assert.equal(sibling.status.name, 'COMPLETED', 'the parent parked only after its other child ended');
  assert.equal((await h.jobs.diagnose(jobId))?.step, 'children');

  await h.jobs.act(jobId, { action: 'retry', operator: 'alice@ops', reason: 'rerun the terminated child' });
  const result = await jobOutcome(handle);
  assert.equal(result.status, 'Completed');
  const rerun = await doomed.describe();
  assert.equal(rerun.status.name, 'COMPLETED', 'the terminated child ran again under the same id');
  const record = await h.ledger.getJobById(doomed.workflowId);
  assert.deepEqual([record?.runId, record?.status], [rerun.runId, 'Completed'], 'the ledger names the rerun, not the terminated run');
  const reruns = await h.ledger.events({ jobId: doomed.workflowId });
  assert.equal(reruns.filter((e) => e.kind === 'job.rerun').length, 1);
  assert.equal(attempts.byKey.get(`test.kid:${id}.part-0/book`), 1, 'the completed child was not started again');
});

test('defect 9.1: a report started by hand with a 125-character key never stays Running', async () => {
  const key = `r${'x'.repeat(124)}`;
  const jobId = `report.generate:${key}`;
  const handle = await env.client.workflow.start(JOB_WORKFLOW_TYPE, {
    workflowId: jobId,
    taskQueue: h.taskQueue,
    args: [{ jobType: 'report.generate', input: { reportId: 'r-long', sections: ['a', 'b'] }, idempotencyKey: key, submittedBy: 'raw-start' }],
  });
  const settled = await settle(handle);
  assert.notEqual(settled.status, 'Running');
  assertTruthful(settled);
});

/** Malformed arguments a raw `temporal workflow start` can pass, and a reason each must name. */
const MALFORMED: { name: string; args: unknown[]; reason: RegExp }[] = [
  { name: 'a bare string', args: ['just a string'], reason: /must be an object/ },
  { name: 'no argument', args: [], reason: /must be an object/ },
  { name: 'an empty object', args: [{}], reason: /jobType: .*submittedBy: must be a string/s },
  { name: 'a numeric submittedBy', args: [{ jobType: 'test.simple', input: { id: 'x' }, submittedBy: 42 }], reason: /submittedBy: must be a string, got number/ },
  { name: 'a numeric idempotency key', args: [{ jobType: 'test.simple', input: { id: 'x' }, submittedBy: 'me', idempotencyKey: 7 }], reason: /idempotencyKey/ },
  { name: 'an unknown field', args: [{ jobType: 'test.simple', input: { id: 'x' }, submittedBy: 'me', priority: 'high' }], reason: /priority: unknown field/ },
  { name: 'a forged parentJobId', args: [{ jobType: 'test.simple', input: { id: 'x' }, submittedBy: 'me', parentJobId: 'test.parent:p-1' }], reason: /only the parent job itself/ },
  { name: 'a control character in submittedBy', args: [{ jobType: 'test.simple', input: { id: 'x' }, submittedBy: 'me\u0007' }], reason: /control characters/ },
];

for (const { name, args, reason } of MALFORMED) {
  test(`defect 9.2: a raw start with ${name} fails at once as Validation, with the reason in history`, async () => {
    const workflowId = unique('raw');
    const handle = await env.client.workflow.start(JOB_WORKFLOW_TYPE, { workflowId, taskQueue: h.taskQueue, args: args as [] });
    const error = await jobOutcome(handle).then(
      () => assert.fail('the job must fail'),
      (err: unknown) => err,
    );
    assert.ok(error instanceof WorkflowFailedError);
    assert.ok(error.cause instanceof ApplicationFailure || (error.cause as { type?: string } | undefined)?.type !== undefined);
    assert.equal((error.cause as ApplicationFailure).type, 'Validation');
    assert.equal((error.cause as ApplicationFailure).nonRetryable, true);
    assert.match(error.cause?.message ?? '', reason);
    const history = await handle.fetchHistory();
    const taskFailures = (history.events ?? []).filter((e) => e.workflowTaskFailedEventAttributes);
    assert.equal(taskFailures.length, 0, 'no workflow task failed (nothing retries forever)');
    const description = await handle.describe();
    assert.equal(description.typedSearchAttributes.get(SA.JobStatus), 'Failed');
    assert.equal(description.typedSearchAttributes.get(SA.ErrorClass), 'Validation');
  });
}

test('defect 9.2: `temporal workflow start --input \'"just a string"\'` fails at once as Validation', async () => {
  const cli = resolveExecutable('cli');
  assert.equal(cli.type, 'existing-path');
  const workflowId = unique('raw-cli');
  await promisify(execFile)(cli.path, [
    'workflow', 'start', '--address', env.address, '--namespace', env.namespace ?? 'default',
    '--type', JOB_WORKFLOW_TYPE, '--task-queue', h.taskQueue, '--workflow-id', workflowId, '--input', '"just a string"',
  ]);
  const handle = env.client.workflow.getHandle(workflowId);
  const settled = await settle(handle, 15_000);
  assert.deepEqual(settled, { status: 'Failed', workflowStatus: 'FAILED' });
});

test('defect 9.3: a locked ledger during prepare parks the job (not Failed); after the lock is gone an operator retry completes it', async () => {
  const id = unique('locked');
  const jobId = `test.simple:${id}`;
  const holder = new Database(ledgerPath);
  holder.exec('BEGIN IMMEDIATE');
  let released = false;
  try {
    // Started by hand, so the client's own ledger write does not meet the lock first.
    const handle = await env.client.workflow.start(JOB_WORKFLOW_TYPE, {
      workflowId: jobId,
      taskQueue: h.taskQueue,
      args: [{ jobType: 'test.simple', input: { id }, idempotencyKey: id, submittedBy: 'raw-start' }],
    });
    const parked = await settle(handle, 90_000);
    assert.deepEqual(parked, { status: 'DeadLettered', workflowStatus: 'RUNNING' });
    const failure = await h.jobs.diagnose(jobId);
    assert.equal(failure?.phase, 'prepare');
    assert.notEqual(failure?.errorClass, 'Validation', 'an infrastructure fault is never a validation failure');
    assert.match(failure?.message ?? '', /locked|busy/i);
    await assert.rejects(h.jobs.act(jobId, { action: 'skip', operator: 'alice@ops', reason: 'try to skip' }), /does not apply/);

    holder.exec('ROLLBACK');
    released = true;
    await h.jobs.act(jobId, { action: 'retry', operator: 'alice@ops', reason: 'ledger lock released' });
    const result = await jobOutcome(handle);
    assert.equal(result.status, 'Completed');
    assert.equal(attempts.byKey.get(`${jobId}/work`), 1);
    const again = await h.jobs.submit('test.simple', { id });
    assert.deepEqual([again.jobId, again.deduplicated], [jobId, true], 'the key still belongs to the completed job');
    assert.equal((await h.ledger.getJobById(jobId))?.status, 'Completed');
  } finally {
    if (!released) holder.exec('ROLLBACK');
    holder.close();
  }
});

test('C6 finding: a submission that Temporal deduplicates onto a closed job the ledger lacks records that job\'s end, not Running', async () => {
  const id = unique('closed');
  const { jobId } = await h.jobs.submit('test.simple', { id });
  await jobOutcome(env.client.workflow.getHandle(jobId));
  const emptyLedger = openLedger(join(tempDir(), 'other-ledger.db'));
  try {
    const other = new JobClient({ client: env.client, registry: new JobRegistry([simpleJob]), ledger: emptyLedger, taskQueue: h.taskQueue, logger: h.logger, submittedBy: 'second-host' });
    const again = await other.submit('test.simple', { id });
    assert.deepEqual([again.jobId, again.deduplicated], [jobId, true]);
    assert.equal((await emptyLedger.getJobById(jobId))?.status, 'Completed');
  } finally {
    await emptyLedger.close();
  }
});

test('a step whose downstream service is not configured fails once as Configuration, naming the variable, and parks', async () => {
  const id = unique('unwired');
  const { jobId } = await h.jobs.submit('test.unwired', { id });
  const handle = env.client.workflow.getHandle(jobId);
  assert.deepEqual(await settle(handle), { status: 'DeadLettered', workflowStatus: 'RUNNING' });
  const failure = await h.jobs.diagnose(jobId);
  assert.equal(failure?.errorClass, 'Configuration');
  assert.match(failure?.message ?? '', /JOBLEDGER_SERVICE_LEDGERLESS_URL/);
  assert.equal(failure?.rootCause.dependency, 'ledgerless');
  assert.equal(attempts.byKey.get(`${jobId}/call`), 1, 'a missing setting is not retried');
  await h.jobs.act(jobId, { action: 'abandon', operator: 'alice@ops', reason: 'no such service here' });
  await jobOutcome(handle);
});
