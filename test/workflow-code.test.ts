/**
 * Jobs written as workflow code, on the dev server: parallel steps that overlap in time and are both
 * compensated after a later permanent failure; a step in a loop whose keys are distinct and stable under
 * replay; child jobs run from code; each job running as the workflow type of its job type; and a step
 * the definition does not declare, refused as a configuration fault.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { jobOutcome } from '../client/outcome';
import { SA } from '../common/searchAttributes';
import { stepKey } from '../ledger';
import { fanoutJobs, pagesJob, parallelJob, undeclaredStepJob } from './fixtures/code-jobs';
import { AttemptLog } from './fixtures/jobs';
import { BUNDLE, startHarness, type RunningHarness } from './helpers/harness';
import { startDevServer, unique } from './helpers/servers';
import { waitForCount } from './helpers/visibility';

const attempts = new AttemptLog();
const parallel = parallelJob(attempts);
const pages = pagesJob(attempts);
const { kid, fanout } = fanoutJobs(attempts);
const undeclared = undeclaredStepJob();

let env: TestWorkflowEnvironment;
let h: RunningHarness;

before(async () => {
  env = await startDevServer();
  h = await startHarness(env, [parallel, pages, kid, fanout, undeclared]);
});
after(async () => {
  await h?.stop();
  await env?.teardown();
});

/** Start and end times of each activity of a closed workflow, by activity type. */
async function activitySpans(jobId: string): Promise<Map<string, { started: number; ended: number }>> {
  const events = (await env.client.workflow.getHandle(jobId).fetchHistory()).events ?? [];
  const typeOf = new Map<number, string>();
  const startedAt = new Map<number, number>();
  const spans = new Map<string, { started: number; ended: number }>();
  const ms = (t: { seconds?: unknown; nanos?: number | null } | null | undefined) => Number(t?.seconds ?? 0) * 1000 + Math.floor((t?.nanos ?? 0) / 1e6);
  for (const e of events) {
    const id = Number(e.eventId);
    if (e.activityTaskScheduledEventAttributes) typeOf.set(id, e.activityTaskScheduledEventAttributes.activityType?.name ?? '');
    if (e.activityTaskStartedEventAttributes) startedAt.set(Number(e.activityTaskStartedEventAttributes.scheduledEventId), ms(e.eventTime));
    if (e.activityTaskCompletedEventAttributes) {
      const scheduled = Number(e.activityTaskCompletedEventAttributes.scheduledEventId);
      spans.set(typeOf.get(scheduled)!, { started: startedAt.get(scheduled)!, ended: ms(e.eventTime) });
    }
  }
  return spans;
}

test('two steps run in parallel (overlapping in history); a later permanent failure compensates both; the search attributes end right', async () => {
  const id = unique('par');
  const { jobId } = await h.jobs.submit(parallel, { id, fail: true });
  const outcome = await h.jobs.outcome(parallel, jobId);
  assert.equal(outcome.status, 'Compensated');
  assert.deepEqual([...(outcome.compensated ?? [])].sort(), ['release-a', 'release-b']);
  assert.equal(outcome.error?.step, 'settle');
  assert.equal(outcome.error?.errorClass, 'BusinessRule');

  const spans = await activitySpans(jobId);
  const a = spans.get('test.parallel:hold-a')!;
  const b = spans.get('test.parallel:hold-b')!;
  assert.ok(a.started < b.ended && b.started < a.ended, `hold-a ${JSON.stringify(a)} and hold-b ${JSON.stringify(b)} overlap`);
  assert.ok(spans.has('test.parallel:release-a') && spans.has('test.parallel:release-b'));
  assert.equal(attempts.byKey.get(stepKey(jobId, 'release-a')), 1);
  assert.equal(attempts.byKey.get(stepKey(jobId, 'release-b')), 1);

  const description = await env.client.workflow.getHandle(jobId).describe();
  assert.equal(description.status.name, 'FAILED', 'a compensated job closes as a failed workflow');
  assert.equal(description.type, 'test.parallel');
  const attrs = description.typedSearchAttributes;
  assert.equal(attrs.get(SA.JobStatus), 'Compensated');
  assert.equal(attrs.get(SA.ErrorClass), 'BusinessRule');
  assert.equal(attrs.get(SA.JobType), 'test.parallel');
  assert.match(attrs.get(SA.JobStep) ?? '', /^release-[ab]$/);
  assert.equal((await h.ledger.getJobById(jobId))?.status, 'Compensated');
  assert.equal(await waitForCount(env.client, `WorkflowType="test.parallel" AND ExecutionStatus="Failed" AND JobStatus="Compensated" AND WorkflowId="${jobId}"`, 1), 1);
});

test('the same parallel job without the failure completes, with its typed result', async () => {
  const { jobId } = await h.jobs.submit(parallel, { id: unique('par-ok'), fail: false });
  const outcome = await h.jobs.outcome(parallel, jobId);
  assert.equal(outcome.status, 'Completed');
  assert.deepEqual(outcome.result, { a: 1, b: 1 });
  assert.equal((await env.client.workflow.getHandle(jobId).describe()).status.name, 'COMPLETED');
});

test('a step in a loop of 5 gets 5 distinct, stable keys (by occurrence and by explicit key); replaying the history gives the same commands', async () => {
  const id = unique('pages');
  const { jobId } = await h.jobs.submit(pages, { id, pages: 5 });
  const outcome = await h.jobs.outcome(pages, jobId);
  assert.equal(outcome.status, 'Completed');
  const expected = [
    'fetch-page',
    'fetch-page#2',
    'fetch-page#3',
    'fetch-page#4',
    'fetch-page#5',
    ...[0, 1, 2, 3, 4].map((p) => `fetch-page@page-${p}`),
  ].map((key) => stepKey(jobId, key));
  assert.deepEqual(outcome.result?.keys, expected);
  assert.equal(new Set(expected).size, 10);
  for (const key of expected) {
    assert.equal((await h.ledger.getStep(key))?.state, 'COMPLETED', key);
    assert.equal(attempts.byKey.get(key), 1, `${key} ran once`);
  }
  // The keys the workflow sent with each activity, read from history, are the ledger's keys.
  const history = await env.client.workflow.getHandle(jobId).fetchHistory();
  const sent = (history.events ?? [])
    .map((e) => e.activityTaskScheduledEventAttributes?.input?.payloads?.[0]?.data)
    .filter((data): data is Uint8Array => data instanceof Uint8Array)
    .map((data) => (JSON.parse(Buffer.from(data).toString('utf8')) as { jobId: string; step: string }))
    .map((args) => stepKey(args.jobId, args.step));
  assert.deepEqual(sent, expected);
  // Replaying the recorded history runs the same code again: the same 10 activities in the same order,
  // else the replay fails with a nondeterminism error.
  await Worker.runReplayHistory({ workflowBundle: { codePath: BUNDLE } }, history, jobId);
});

test('child jobs started from workflow code get ids derived from the parent key, ParentJobId, and their own workflow type', async () => {
  const id = unique('fan');
  const { jobId } = await h.jobs.submit(fanout, { id, failing: [false, false, false] });
  const outcome = await h.jobs.outcome(fanout, jobId);
  assert.equal(outcome.status, 'Completed');
  assert.deepEqual(outcome.result, { children: 3 });
  for (let i = 0; i < 3; i++) {
    const child = await env.client.workflow.getHandle(`test.kid:${id}.part-${i}`).describe();
    assert.equal(child.type, 'test.kid');
    assert.equal(child.status.name, 'COMPLETED');
    assert.equal(child.typedSearchAttributes.get(SA.ParentJobId), jobId);
  }
  assert.equal(await waitForCount(env.client, `ParentJobId="${jobId}" AND WorkflowType="test.kid" AND JobStatus="Completed"`, 3), 3);
});

test('a step that the definition does not declare fails the job as Configuration, naming the step', async () => {
  const { jobId } = await h.jobs.submit(undeclared, { id: unique('undeclared') });
  const outcome = await jobOutcome(env.client.workflow.getHandle(jobId));
  assert.equal(outcome.status, 'Failed');
  assert.equal(outcome.error?.errorClass, 'Configuration');
  assert.match(outcome.error?.message ?? '', /step 'stray' is not among the steps of job type test\.undeclared/);
});
