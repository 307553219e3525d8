/**
 * Against the real dev server (createLocal, custom search attributes registered): submissions, duplicate
 * and invalid submissions, conflicts, raw starts, and finding jobs through search-attribute queries. The
 * tests of the client's ledger dedupe (duplicates, conflicts, concurrent submissions, resubmission
 * policies, what a submission records) run once with a SQLite ledger and once with a PostgreSQL one; the
 * tests that only involve Temporal run with SQLite.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { WorkflowFailedError, WorkflowNotFoundError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { IdempotencyConflictError } from '../client/jobs';
import { JOB_WORKFLOW_TYPE } from '../common/constants';
import { greetingJob } from '../examples/jobs/greeting';
import { JobValidationError } from '../jobs/submission';
import { AttemptLog, flakyJob } from './fixtures/jobs';
import { startHarness, type RunningHarness } from './helpers/harness';
import { ledgerBackends } from './helpers/ledger-backends';
import { startDevServer, unique } from './helpers/servers';
import { countJobs, waitForCount } from './helpers/visibility';
import { jobOutcome } from '../client/outcome';

let env: TestWorkflowEnvironment;
let h: RunningHarness;
const attempts = new AttemptLog();

const BACKENDS = ledgerBackends();
before(async () => {
  env = await startDevServer();
});
after(async () => {
  await env?.teardown();
});

/** The tests that involve Temporal only: run once, with the SQLite ledger. */
function temporalOnlyTests(): void {
  test('a submitted job is found through a search-attribute query in client.workflow.list', async () => {
    const recipientId = unique('find');
    const { jobId } = await h.jobs.submit('greeting.send', { recipientId });
    await jobOutcome(env.client.workflow.getHandle(jobId));
    const query = `JobType="greeting.send" AND IdempotencyKey="greet-${recipientId}-en" AND JobStatus="Completed" AND SubmittedBy="test-suite"`;
    await waitForCount(env.client, query, 1);
    const ids: string[] = [];
    for await (const execution of env.client.workflow.list({ query })) ids.push(execution.workflowId);
    assert.deepEqual(ids, [jobId]);
  });


  test('invalid input is rejected with the zod issue list and starts nothing', async () => {
    const key = unique('invalid');
    await assert.rejects(h.jobs.submit('greeting.send', { recipientId: 42, language: 'xx' }, { key }), (err: unknown) => {
      assert.ok(err instanceof JobValidationError);
      assert.deepEqual(err.issues.map((i) => i.path.join('.')).sort(), ['language', 'recipientId']);
      return true;
    });
    await assert.rejects(env.client.workflow.getHandle(`greeting.send:${key}`).describe(), WorkflowNotFoundError);
    assert.equal(await countJobs(env.client, `IdempotencyKey="${key}"`), 0);
  });


  test('a raw start of the documented workflow type still validates its input', async () => {
    const workflowId = `greeting.send:${unique('raw')}`;
    const handle = await env.client.workflow.start(JOB_WORKFLOW_TYPE, {
      workflowId,
      taskQueue: h.taskQueue,
      args: [{ jobType: 'greeting.send', input: { recipientId: 7 }, submittedBy: 'raw-tester' }],
    });
    await assert.rejects(jobOutcome(handle), (err: unknown) => {
      assert.ok(err instanceof WorkflowFailedError);
      const cause = err.cause as { cause?: Error; message?: string } | undefined;
      assert.match(String(cause?.cause?.message ?? cause?.message), /invalid input for greeting.send/);
      return true;
    });
  });


  test('search-attribute upserts ride along with other commands and add no workflow task of their own', async () => {
    const { jobId } = await h.jobs.submit('greeting.send', { recipientId: unique('upserts') });
    await jobOutcome(env.client.workflow.getHandle(jobId));
    const events = (await env.client.workflow.getHandle(jobId).fetchHistory()).events ?? [];
    const commandEvents = new Set(['activityTaskScheduledEventAttributes', 'markerRecordedEventAttributes', 'upsertWorkflowSearchAttributesEventAttributes', 'workflowExecutionCompletedEventAttributes', 'workflowExecutionFailedEventAttributes', 'timerStartedEventAttributes', 'startChildWorkflowExecutionInitiatedEventAttributes']);
    const kindOf = (e: (typeof events)[number]) => Object.keys(e).find((k) => k.endsWith('EventAttributes') && (e as Record<string, unknown>)[k]) ?? '';
    let batches = 0;
    for (let i = 0; i < events.length; i++) {
      if (kindOf(events[i]!) !== 'workflowTaskCompletedEventAttributes') continue;
      const batch: string[] = [];
      for (let j = i + 1; j < events.length && commandEvents.has(kindOf(events[j]!)); j++) batch.push(kindOf(events[j]!));
      if (batch.includes('upsertWorkflowSearchAttributesEventAttributes')) {
        batches++;
        assert.ok(batch.some((k) => k !== 'upsertWorkflowSearchAttributesEventAttributes'), `a task that only upserts: ${batch.join(', ')}`);
      }
    }
    assert.ok(batches >= 2, `upserts seen in ${batches} workflow tasks`);
  });
}

/** The tests of the client's ledger dedupe and of what the ledger records: run for each backend. */
function ledgerTests(): void {
  test('a sequential duplicate returns the same job id with deduplicated: true and starts nothing', async () => {
    const recipientId = unique('dup');
    const first = await h.jobs.submit('greeting.send', { recipientId });
    await jobOutcome(env.client.workflow.getHandle(first.jobId));
    const second = await h.jobs.submit('greeting.send', { language: 'en', recipientId });
    assert.equal(first.deduplicated, false);
    assert.equal(second.deduplicated, true);
    assert.equal(second.jobId, first.jobId);
    assert.equal(await waitForCount(env.client, `WorkflowId="${first.jobId}"`, 1), 1);
  });


  test('the same key with a different input is an IdempotencyConflictError carrying both hashes', async () => {
    const key = unique('conflict');
    const first = await h.jobs.submit('greeting.send', { recipientId: 'a' }, { key });
    await assert.rejects(h.jobs.submit('greeting.send', { recipientId: 'b' }, { key }), (err: unknown) => {
      assert.ok(err instanceof IdempotencyConflictError);
      assert.equal(err.jobId, first.jobId);
      assert.match(err.existingInputHash, /^[0-9a-f]{64}$/);
      assert.match(err.submittedInputHash, /^[0-9a-f]{64}$/);
      assert.notEqual(err.existingInputHash, err.submittedInputHash);
      assert.ok(!err.message.includes('"b"'), 'the message carries no payload');
      return true;
    });
  });


  test('50 concurrent identical submissions start exactly one execution', async () => {
    const recipientId = unique('burst');
    const results = await Promise.all(Array.from({ length: 50 }, () => h.jobs.submit('greeting.send', { recipientId })));
    assert.equal(new Set(results.map((r) => r.jobId)).size, 1);
    assert.equal(results.filter((r) => !r.deduplicated).length, 1);
    const jobId = results[0]!.jobId;
    await jobOutcome(env.client.workflow.getHandle(jobId));
    assert.equal(await waitForCount(env.client, `WorkflowId="${jobId}"`, 1), 1);
  });


  test('a raw start with a valid input and matching id runs the job', async () => {
    const recipientId = unique('rawok');
    const workflowId = `greeting.send:greet-${recipientId}-fr`;
    const result = await env.client.workflow.execute(JOB_WORKFLOW_TYPE, {
      workflowId,
      taskQueue: h.taskQueue,
      args: [{ jobType: 'greeting.send', input: { recipientId, language: 'fr' }, submittedBy: 'raw-tester' }],
    });
    assert.equal(result.status, 'Completed');
    const again = await h.jobs.submit('greeting.send', { recipientId, language: 'fr' });
    assert.deepEqual([again.jobId, again.deduplicated], [workflowId, true]);
  });


  /** Runs a job into the dead letter and has an operator abandon it: the way a job ends `Abandoned`. */
  async function abandoned(type: string, id: string): Promise<string> {
    const { jobId } = await h.jobs.submit(type, { id, failures: 1 });
    assert.equal(await waitForCount(env.client, `WorkflowId="${jobId}" AND JobStatus="DeadLettered"`, 1), 1, 'parked');
    await h.jobs.act(jobId, { action: 'abandon', operator: 'tester', reason: 'give up on it' });
    assert.equal((await jobOutcome(env.client.workflow.getHandle(jobId))).status, 'Abandoned');
    return jobId;
  }


  test('resubmitting the key of an abandoned job returns that job under the default reject policy', async () => {
    const id = unique('rejected');
    const jobId = await abandoned('test.reject', id);
    const again = await h.jobs.submit('test.reject', { id, failures: 1 });
    assert.deepEqual([again.jobId, again.deduplicated], [jobId, true]);
    assert.equal(attempts.byKey.get(`${jobId}/wobble`), 1, 'no second run');
  });


  test('with allow-retry, resubmitting the key of an abandoned job starts a new run under the same id', async () => {
    const id = unique('retryable');
    const jobId = await abandoned('test.retryable', id);
    const again = await h.jobs.submit('test.retryable', { id, failures: 1 });
    assert.deepEqual([again.jobId, again.deduplicated], [jobId, false]);
    const result = await jobOutcome(env.client.workflow.getHandle(again.jobId));
    assert.equal(result.status, 'Completed');
    assert.equal(await waitForCount(env.client, `WorkflowId="${jobId}"`, 2), 2);
    assert.equal((await h.ledger.getJobById(jobId))?.status, 'Completed');
  });


  test('a submission records who, what, the masked input and the policy in force, in the memo and the ledger', async () => {
    const recipientId = unique('memo');
    const { jobId } = await h.jobs.submit('greeting.send', { recipientId }, { submittedBy: 'auditor-check' });
    const description = await env.client.workflow.getHandle(jobId).describe();
    const memo = description.memo as Record<string, any>;
    assert.equal(memo.submittedBy, 'auditor-check');
    assert.equal(memo.definitionVersion, 1);
    assert.match(memo.inputHash, /^[0-9a-f]{64}$/);
    assert.equal(memo.policy.taskQueue, h.taskQueue);
    assert.equal(memo.policy.dedupeWindowMs, 30 * 24 * 3600 * 1000);
    assert.deepEqual(memo.policy.steps.map((s: { name: string }) => s.name), ['compose', 'deliver']);
    assert.equal(memo.policy.steps[0].retry.maxAttempts, 5);
    assert.deepEqual(memo.sanitizedInput, { recipientId, language: 'en' }, 'greeting.send has no PII field to mask');
    assert.deepEqual(memo.policy.piiFields, []);
    assert.ok(description.startTime instanceof Date, 'server time of the submission');
    const submitted = (await h.ledger.events({ jobId })).find((e) => e.kind === 'job.submitted');
    assert.deepEqual((submitted?.data as Record<string, unknown>).policy, memo.policy);
    assert.equal((submitted?.data as Record<string, unknown>).submittedBy, 'auditor-check');
  });
}

for (const backend of BACKENDS) {
  describe(backend.name, () => {
    before(async () => {
      h = await startHarness(
        env,
        [
          greetingJob,
          flakyJob(attempts, { initialInterval: '1s', maxAttempts: 1 }, { type: 'test.reject' }),
          flakyJob(attempts, { initialInterval: '1s', maxAttempts: 1 }, { type: 'test.retryable', onFailedResubmit: 'allow-retry' }),
        ],
        { ledgerPath: await backend.newTarget() },
      );
    });
    after(async () => {
      await h?.stop();
    });
    if (backend.name === 'sqlite') temporalOnlyTests();
    ledgerTests();
  });
}
