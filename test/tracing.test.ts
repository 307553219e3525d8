/**
 * Tracing with an in-memory exporter on the dev server: a job whose step failed once and was retried
 * is one trace, from the client's submit through the workflow to both activity attempts.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { tracingFor, tracingWith, type Tracing } from '../core/tracing';
import { AttemptLog, flakyJob } from './fixtures/jobs';
import { startHarness, type RunningHarness } from './helpers/harness';
import { startDevServer, testLogger, unique } from './helpers/servers';
import { createLogger } from '../core/logging';
import { jobOutcome } from '../client/outcome';

const exporter = new InMemorySpanExporter();
let tracing: Tracing;
let env: TestWorkflowEnvironment;
let h: RunningHarness;

const logLines: Record<string, unknown>[] = [];
const sourceOf = (l: Record<string, unknown>) => (l.sdkComponent === 'workflow' ? 'workflow' : l.step && l.attempt_number ? 'activity' : 'client');

before(async () => {
  // Capture every log line of this process (client, workflow through the SDK logger, activities).
  const logger = createLogger({ level: 'info', name: 'tracing-test' }, { write: (line: string) => void logLines.push(JSON.parse(line)) });
  testLogger({ logger });
  tracing = tracingWith(exporter, 'jobledger-test');
  env = await startDevServer();
  h = await startHarness(env, [flakyJob(new AttemptLog(), { initialInterval: '200ms', maxAttempts: 3 })], { tracing, logger });
});
after(async () => {
  await h?.stop();
  await tracing?.shutdown();
  await env?.teardown();
});

test('a job that retried once is one trace: submit, start, workflow run and both activity attempts', async () => {
  const { jobId } = await h.jobs.submit('test.flaky', { id: unique('traced'), failures: 1 });
  const result = await jobOutcome(h.client.workflow.getHandle(jobId));
  assert.deepEqual(result.results.wobble, { succeededOnAttempt: 2 });
  const spans: ReadableSpan[] = exporter.getFinishedSpans();
  const root = spans.find((s) => s.name === 'jobledger.submit');
  assert.ok(root, `spans: ${spans.map((s) => s.name).join(', ')}`);
  const traceId = root.spanContext().traceId;
  const inTrace = spans.filter((s) => s.spanContext().traceId === traceId);
  const names = inTrace.map((s) => s.name);
  assert.ok(names.includes('StartWorkflow:test.flaky'), names.join(', '));
  assert.ok(names.includes('RunWorkflow:test.flaky'), names.join(', '));
  assert.ok(names.includes('StartActivity:test.flaky:wobble'), names.join(', '));
  assert.equal(names.filter((n) => n === 'RunActivity:test.flaky:wobble').length, 2, 'both attempts in the same trace');
  const byId = new Map(inTrace.map((s) => [s.spanContext().spanId, s]));
  const start = inTrace.find((s) => s.name === 'StartWorkflow:test.flaky')!;
  assert.equal(start.parentSpanId, root.spanContext().spanId, 'the workflow start is a child of the submit');
  for (const attempt of inTrace.filter((s) => s.name === 'RunActivity:test.flaky:wobble')) {
    assert.equal(byId.get(attempt.parentSpanId!)?.name, 'StartActivity:test.flaky:wobble', 'each attempt hangs off the activity start');
  }
  const lines = logLines.filter((l) => l.job_id === jobId);
  for (const source of ['client', 'workflow', 'activity'] as const) {
    const line = lines.find((l) => sourceOf(l) === source);
    assert.equal(line?.trace_id, traceId, `${source} log lines carry the job's trace id`);
  }
});

test('the exporter is chosen by configuration: none gives no tracing, console and otlp give the plugin', async () => {
  assert.equal(tracingFor('none', 'x'), undefined);
  for (const kind of ['console', 'otlp'] as const) {
    const configured = tracingFor(kind, 'x', 'http://127.0.0.1:4318/v1/traces');
    assert.ok(configured?.plugin, kind);
    await configured?.shutdown();
  }
});
