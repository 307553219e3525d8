/**
 * Graceful shutdown of worker processes on a dev server. On SIGTERM a worker stops polling and lets its
 * running activity finish within its grace time (JOBLEDGER_SHUTDOWN_GRACE_MS). An activity still running
 * when the grace time ends is cancelled and its step lease released, so another worker's retry claims the
 * step at once, long before the lease (the attempt's 2-minute start-to-close timeout) would have ended.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { JobClient } from '../client/jobs';
import { jobOutcome } from '../client/outcome';
import { JobRegistry } from '../jobs/registry';
import { openLedger, stepKey, type Ledger } from '../ledger';
import { slowJob } from './fixtures/slow-jobs';
import { alive, line, started, startProcess, until, type Proc } from './helpers/process';
import { ROOT, startDevServer, tempDir, testLogger, unique } from './helpers/servers';

let env: TestWorkflowEnvironment;
let ledger: Ledger;
let jobs: JobClient;
const dir = tempDir();
const taskQueue = unique('drain-tq');
const ledgerPath = join(dir, 'ledger.db');

before(async () => {
  env = await startDevServer();
  ledger = openLedger(ledgerPath);
  jobs = new JobClient({ client: env.client, registry: new JobRegistry([slowJob]), ledger, taskQueue, logger: testLogger(), submittedBy: 'drain-test' });
});
after(async () => {
  for (const pid of started) if (alive(pid)) process.kill(pid, 'SIGKILL');
  await ledger?.close();
  await env?.teardown();
});

/** A worker process running `test.slow`, with the given shutdown grace time. */
async function startWorker(identity: string, graceMs: number): Promise<Proc> {
  const proc = startProcess(process.execPath, ['--import', 'tsx', 'workers/main.ts'], {
    TEMPORAL_ADDRESS: env.address,
    JOBLEDGER_TASK_QUEUE: taskQueue,
    JOBLEDGER_LEDGER_PATH: ledgerPath,
    JOBLEDGER_BREAKER_PATH: join(dir, 'breakers.db'),
    JOBLEDGER_METRICS_PORT: '0',
    JOBLEDGER_JOBS_MODULE: join(ROOT, 'test/fixtures/slow-jobs.ts'),
    JOBLEDGER_WORKER_IDENTITY: identity,
    JOBLEDGER_SHUTDOWN_GRACE_MS: String(graceMs),
    LOG_LEVEL: 'info',
  });
  await until(`${identity} started`, () => line(proc, 'worker started'));
  return proc;
}

/** The trail's lines for one step key: `[attempt, pid, event]`. */
function trailOf(trail: string, key: string): [number, number, string][] {
  let text = '';
  try {
    text = readFileSync(trail, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${key} `))
    .map((l) => l.split(' '))
    .map(([, attempt, pid, event]) => [Number(attempt), Number(pid), event!]);
}

test('SIGTERM lets a running step finish within the grace time: the job completes on its first attempt and the worker exits 0', async () => {
  const worker = await startWorker('drain-a', 20_000);
  const trail = join(dir, 'trail-drain.txt');
  const { jobId } = await jobs.submit(slowJob, { id: unique('drain'), ms: 3_000, trail });
  const key = stepKey(jobId, 'wait');
  await until('the step started', () => (trailOf(trail, key).length > 0 ? true : undefined));
  worker.child.kill('SIGTERM');
  const code = await worker.exited;
  assert.equal(code, 0, 'the worker exited cleanly');
  assert.deepEqual(trailOf(trail, key), [
    [1, worker.child.pid!, 'started'],
    [1, worker.child.pid!, 'finished'],
  ]);
  assert.equal(line(worker, 'worker stopped')?.outcome, 'stopped');
  // The step's result reached the ledger before the worker stopped; a later worker finishes the workflow.
  assert.equal((await ledger.getStep(key))?.state, 'COMPLETED');
  const next = await startWorker('drain-b', 20_000);
  const outcome = await jobOutcome(env.client.workflow.getHandle(jobId));
  assert.equal(outcome.status, 'Completed');
  assert.deepEqual(trailOf(trail, key).length, 2, 'the step did not run again');
  next.child.kill('SIGTERM');
  await next.exited;
});

test('a step still running when the grace time ends is cancelled, its lease released, and the retry on another worker starts at once', async () => {
  const worker = await startWorker('drain-c', 1_000);
  const trail = join(dir, 'trail-deadline.txt');
  const { jobId } = await jobs.submit(slowJob, { id: unique('deadline'), ms: 60_000, retryMs: 500, trail });
  const key = stepKey(jobId, 'wait');
  await until('the step started', () => (trailOf(trail, key).length > 0 ? true : undefined));
  const leased = await ledger.getStep(key);
  assert.equal(leased?.state, 'IN_PROGRESS');
  assert.ok((leased?.leaseExpiresAt ?? 0) > Date.now() + 60_000, 'the lease would hold the step for the attempt timeout');
  const signalled = Date.now();
  worker.child.kill('SIGTERM');
  const code = await worker.exited;
  const stoppedAfterMs = Date.now() - signalled;
  assert.equal(code, 0);
  assert.ok(stoppedAfterMs < 15_000, `the worker stopped soon after its 1 s grace time (${stoppedAfterMs} ms)`);
  assert.deepEqual(trailOf(trail, key).map(([, , event]) => event), ['started', 'cancelled']);
  const released = await ledger.getStep(key);
  assert.equal(released?.state, 'FAILED', 'the cancelled attempt recorded its end');
  assert.equal(released?.leaseExpiresAt, null, 'and released its lease');
  assert.ok(line(worker, 'step cancelled; its lease is released'), 'the worker logged the release');

  const retried = Date.now();
  const next = await startWorker('drain-d', 20_000);
  await until('the retry started', () => (trailOf(trail, key).some(([attempt]) => attempt === 2) ? true : undefined), 30_000);
  const retryAfterMs = Date.now() - retried;
  assert.ok(retryAfterMs < 20_000, `the retry claimed the step at once, not after the 2-minute lease (${retryAfterMs} ms)`);
  const outcome = await jobOutcome(env.client.workflow.getHandle(jobId));
  assert.equal(outcome.status, 'Completed');
  assert.deepEqual(outcome.results.wait, { attempt: 2 });
  assert.equal((await ledger.getStep(key))?.owner, 'drain-d');
  next.child.kill('SIGTERM');
  await next.exited;
});
