/**
 * Metrics: the worker Runtime's Prometheus endpoint (127.0.0.1) serves the SDK's metrics and jobledger's
 * own (jobs started and closed by type and status, duration histogram, dead letters, step attempts by
 * error class, circuit state). The test scrapes the endpoint and parses the text format.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { CircuitBreaker } from '../resilience';
import { openBreaker } from '../workers/worker';
import { AttemptLog, sagaJob } from './fixtures/jobs';
import { startHarness, type RunningHarness } from './helpers/harness';
import { freePort, startDevServer, tempDir, testLogger, unique } from './helpers/servers';
import { join } from 'node:path';
import { jobOutcome } from '../client/outcome';

let port: number;
let env: TestWorkflowEnvironment;
let h: RunningHarness;

before(async () => {
  port = await freePort();
  testLogger({ metricsPort: port });
  env = await startDevServer();
  h = await startHarness(env, [sagaJob(new AttemptLog())]);
});
after(async () => {
  await h?.stop();
  await env?.teardown();
});

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses Prometheus text exposition format into samples. */
function parse(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    assert.ok(m, `parsable line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]!] = pair[2]!;
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}

async function scrape(): Promise<Sample[]> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  assert.equal(res.status, 200);
  return parse(await res.text());
}

function sum(samples: Sample[], name: string, labels: Record<string, string>): number {
  return samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((total, s) => total + s.value, 0);
}

async function until(check: (samples: Sample[]) => boolean): Promise<Sample[]> {
  let samples: Sample[] = [];
  for (let i = 0; i < 50; i++) {
    samples = await scrape();
    if (check(samples)) return samples;
    await new Promise((r) => setTimeout(r, 200));
  }
  return samples;
}

test('the endpoint serves SDK metrics and jobledger submission, job, duration, step and dead-letter metrics', async () => {
  const { jobId } = await h.jobs.submit('test.saga', { id: unique('m'), failures: 1, secret: 's' });
  for (let i = 0; i < 100 && (await h.jobs.status(jobId)).status !== 'DeadLettered'; i++) await new Promise((r) => setTimeout(r, 100));
  await h.jobs.act(jobId, { action: 'retry', operator: 'metrics-test', reason: 'recovering' });
  await jobOutcome(h.client.workflow.getHandle(jobId));
  await h.jobs.submit('test.saga', { id: jobId.slice('test.saga:'.length), failures: 1, secret: 's' });
  const samples = await until((s) => sum(s, 'jobledger_jobs_closed', { job_type: 'test.saga', status: 'Completed' }) >= 1);
  assert.ok(sum(samples, 'jobledger_jobs_submitted', { job_type: 'test.saga', outcome: 'deduplicated' }) >= 1);
  assert.ok(samples.some((s) => s.name.startsWith('temporal_')), 'SDK metrics are served');
  assert.ok(sum(samples, 'jobledger_jobs_started', { job_type: 'test.saga' }) >= 1);
  assert.ok(sum(samples, 'jobledger_jobs_submitted', { job_type: 'test.saga', outcome: 'started' }) >= 1);
  assert.ok(sum(samples, 'jobledger_jobs_closed', { job_type: 'test.saga', status: 'Completed' }) >= 1);
  assert.ok(sum(samples, 'jobledger_job_duration_ms_count', { job_type: 'test.saga', status: 'Completed' }) >= 1);
  assert.ok(sum(samples, 'jobledger_jobs_dead_lettered', { job_type: 'test.saga', error_class: 'Internal' }) >= 1);
  assert.ok(sum(samples, 'jobledger_step_attempts', { job_type: 'test.saga', step: 'confirm', outcome: 'failure', error_class: 'Internal' }) >= 1);
  assert.ok(sum(samples, 'jobledger_step_attempts', { job_type: 'test.saga', step: 'confirm', outcome: 'success' }) >= 1);
  // The operator's retry runs only the failed step: `book` succeeded once.
  assert.equal(sum(samples, 'jobledger_step_attempts', { job_type: 'test.saga', step: 'book', outcome: 'success' }), 1);
});

test('circuit breaker transitions are exposed as the circuit state gauge', async () => {
  const { breaker, close } = await openBreaker(join(tempDir(), 'breakers.db'), testLogger(), { failureThreshold: 2, coolDownMs: 60_000 });
  try {
    assert.ok(breaker instanceof CircuitBreaker);
    breaker.onFailure('metrics-dep');
    breaker.onFailure('metrics-dep');
    const samples = await until((s) => sum(s, 'jobledger_circuit_state', { dependency: 'metrics-dep' }) === 2);
    assert.equal(sum(samples, 'jobledger_circuit_state', { dependency: 'metrics-dep' }), 2, 'open = 2');
  } finally {
    close();
  }
});
