/**
 * Time-skipping server: a step whose retry waits up to an hour (a one-hour initial interval, jittered
 * down by at most half) completes in seconds of wall time, and the server's clock shows the wait.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { jitterBounds } from '../resilience';
import { AttemptLog, flakyJob } from './fixtures/jobs';
import { createHarness } from './helpers/harness';
import { startTimeSkippingServer, unique } from './helpers/servers';
import { jobOutcome } from '../client/outcome';

let env: TestWorkflowEnvironment;
before(async () => {
  env = await startTimeSkippingServer();
});
after(async () => {
  await env?.teardown();
});

test('a step retried after a jittered one-hour backoff completes in seconds of wall time', async () => {
  const attempts = new AttemptLog();
  const h = await createHarness(env, [flakyJob(attempts, { initialInterval: '1h', maxAttempts: 3 })]);
  const id = unique('flaky');
  const wallStart = Date.now();
  const { result, history } = await h.worker.runUntil(async () => {
    const submitted = await h.jobs.submit('test.flaky', { id, failures: 1 });
    const handle = env.client.workflow.getHandle(submitted.jobId);
    const result = await jobOutcome(handle);
    return { result, history: await handle.fetchHistory() };
  });
  const wallMs = Date.now() - wallStart;
  assert.equal(result.status, 'Completed');
  assert.deepEqual(result.results.wobble, { succeededOnAttempt: 2 });
  assert.equal(attempts.byKey.get(`test.flaky:${id}/wobble`), 2);
  const events = history.events ?? [];
  const scheduled = events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'test.flaky:wobble');
  const started = events.find((e) => e.activityTaskStartedEventAttributes);
  const completed = events.find((e) => e.activityTaskCompletedEventAttributes);
  assert.ok(scheduled && started && completed, 'activity events present');
  assert.equal(started.activityTaskStartedEventAttributes?.attempt, 2, 'completed on the second attempt');
  const toMs = (t: typeof scheduled.eventTime) => Number(t?.seconds ?? 0) * 1000 + Math.floor((t?.nanos ?? 0) / 1e6);
  const serverElapsedMs = toMs(completed.eventTime) - toMs(scheduled.eventTime);
  const { minMs, maxMs } = jitterBounds({ attempt: 1, initialIntervalMs: 3_600_000, backoffCoefficient: 2, maximumIntervalMs: 4 * 3_600_000 });
  assert.ok(serverElapsedMs >= minMs && serverElapsedMs <= maxMs + 60_000, `server time advanced by the backoff, ${minMs}..${maxMs} ms (saw ${serverElapsedMs} ms)`);
  assert.ok(wallMs < 60_000, `wall time stayed far below an hour (saw ${wallMs} ms)`);
});
