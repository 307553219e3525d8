/**
 * Retries, measured from the server's own schedule of each attempt (`currentAttemptScheduledTime`):
 * backoff grows with jitter inside its bounds, 20 jobs failing together retry at spread-out times,
 * permanent classes are attempted once, the expiry stops retries, and Retry-After is honoured.
 *
 * These run on the dev server with second-scale intervals rather than on the time-skipping server:
 * the Java test server stamps a retry's scheduled time when the retry is decided, not when it fires, so
 * it cannot show the gaps between attempts.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { jitterBounds } from '../resilience';
import { AttemptClock, backoffJob } from './fixtures/jobs';
import { createHarness, type Harness } from './helpers/harness';
import { startDevServer, unique } from './helpers/servers';
import { jobOutcome } from '../client/outcome';

const SECOND = 1_000;
let env: TestWorkflowEnvironment;
before(async () => {
  env = await startDevServer();
});
after(async () => {
  await env?.teardown();
});

async function harness(clock: AttemptClock, retry: Parameters<typeof backoffJob>[1]): Promise<Harness> {
  return createHarness(env, [backoffJob(clock, retry)]);
}

/** Runs jobs to their end: completed, or parked and then abandoned by the parking timeout. */
async function runJobs(h: Harness, inputs: object[]): Promise<{ jobId: string; status: string }[]> {
  return h.worker.runUntil(async () => {
    const submitted = await Promise.all(inputs.map((input) => h.jobs.submit('test.backoff', input)));
    return Promise.all(submitted.map(async ({ jobId }) => ({ jobId, status: (await jobOutcome(env.client.workflow.getHandle(jobId))).status })));
  });
}

test('retry intervals grow and stay within the jitter bounds', async () => {
  const clock = new AttemptClock();
  const h = await harness(clock, { maxAttempts: 4, initialInterval: '1s', maximumInterval: '8s' });
  const [job] = await runJobs(h, [{ id: unique('grow'), failures: 3, failure: 'transient' }]);
  assert.equal(job!.status, 'Completed');
  const gaps = clock.gaps(`${job!.jobId}/call`);
  assert.equal(gaps.length, 3);
  gaps.forEach((gap, i) => {
    const { minMs, maxMs } = jitterBounds({ attempt: i + 1, initialIntervalMs: SECOND, backoffCoefficient: 2, maximumIntervalMs: 8 * SECOND });
    // The dev server fires retry timers up to about a second late under load; never early.
    assert.ok(gap >= minMs && gap <= maxMs + SECOND, `gap ${i + 1} = ${gap} ms within [${minMs}, ${maxMs}]; all gaps: ${gaps.join(", ")}`);
  });
  assert.ok(gaps[2]! > gaps[0]!, 'later retries wait longer');
  await h.ledger.close();
});

test('20 jobs failing together retry at spread-out times', async () => {
  const clock = new AttemptClock();
  const h = await harness(clock, { maxAttempts: 3, initialInterval: '4s', maximumInterval: '10s' });
  const jobs = await runJobs(h, Array.from({ length: 20 }, (_, i) => ({ id: unique(`herd-${i}`), failures: 1, failure: 'transient' })));
  const firstGaps = jobs.map((j) => clock.gaps(`${j.jobId}/call`)[0]!);
  assert.ok(jobs.every((j) => j.status === 'Completed'));
  const spread = Math.max(...firstGaps) - Math.min(...firstGaps);
  assert.ok(new Set(firstGaps.map((g) => Math.round(g / 50))).size >= 12, `distinct retry times: ${firstGaps.join(', ')}`);
  assert.ok(spread >= 0.2 * 2 * SECOND, `spread ${spread} ms over a 2-second jitter window`);
  await h.ledger.close();
});

test('a permanent class is attempted once, then the job parks', async () => {
  const clock = new AttemptClock();
  const h = await harness(clock, { maxAttempts: 5, initialInterval: '200ms', maximumInterval: '1s' });
  const [job] = await runJobs(h, [{ id: unique('perm'), failures: 10, failure: 'permanent' }]);
  assert.equal(job!.status, 'Abandoned', 'parked, then abandoned by the parking timeout');
  assert.equal(clock.byKey.get(`${job!.jobId}/call`)?.length, 1);
  await h.ledger.close();
});

test('the expiry (schedule-to-close) stops retries before maxAttempts', async () => {
  const clock = new AttemptClock();
  const h = await harness(clock, { maxAttempts: 50, initialInterval: '1s', maximumInterval: '1s', expiry: '3s' });
  const [job] = await runJobs(h, [{ id: unique('expiry'), failures: 50, failure: 'transient' }]);
  assert.equal(job!.status, 'Abandoned');
  const times = clock.byKey.get(`${job!.jobId}/call`)!;
  assert.ok(times.length >= 2 && times.length <= 7, `${times.length} attempts within a 3-second expiry`);
  assert.ok(times.at(-1)! - times[0]! <= 3 * SECOND);
  await h.ledger.close();
});

test('Retry-After is honoured when longer than the backoff', async () => {
  const clock = new AttemptClock();
  const h = await harness(clock, { maxAttempts: 3, initialInterval: '200ms', maximumInterval: '1s' });
  const [job] = await runJobs(h, [{ id: unique('retry-after'), failures: 1, failure: 'rate-limited', retryAfterSec: 3 }]);
  assert.equal(job!.status, 'Completed');
  const [gap] = clock.gaps(`${job!.jobId}/call`);
  assert.ok(gap! >= 3 * SECOND, `waited ${gap} ms for a 3-second Retry-After (backoff alone: at most 200 ms)`);
  await h.ledger.close();
});
