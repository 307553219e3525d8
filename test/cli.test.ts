/**
 * The `jobledger` CLI against the real dev server: JSON output, deduplication, and the exit codes of bad
 * input (2, nothing started) and conflicts (3).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { cli } from './helpers/run';
import { startDevServer, tempDir, unique } from './helpers/servers';
import { countJobs } from './helpers/visibility';

let env: TestWorkflowEnvironment;
let cliEnv: NodeJS.ProcessEnv;

before(async () => {
  env = await startDevServer();
  cliEnv = {
    TEMPORAL_ADDRESS: env.address,
    JOBLEDGER_TASK_QUEUE: unique('cli-tq'),
    JOBLEDGER_LEDGER_PATH: join(tempDir(), 'ledger.db'),
    JOBLEDGER_SUBMITTED_BY: 'cli-tester',
    LOG_LEVEL: 'warn',
  };
});
after(async () => {
  await env?.teardown();
});

test('types --json prints every registered type with its version', async () => {
  const r = await cli(['types', '--json'], cliEnv);
  assert.equal(r.code, 0, r.stderr);
  const types = JSON.parse(r.stdout) as { type: string; version: number }[];
  assert.ok(types.some((t) => t.type === 'greeting.send' && t.version === 1));
});

test('submit prints the job and a repeated submit returns the same jobId with deduplicated: true', async () => {
  const input = JSON.stringify({ recipientId: unique('cli') });
  const first = await cli(['submit', 'greeting.send', '--input', input, '--json'], cliEnv);
  assert.equal(first.code, 0, first.stderr);
  const a = JSON.parse(first.stdout);
  assert.equal(a.jobType, 'greeting.send');
  assert.equal(a.deduplicated, false);
  const second = await cli(['submit', 'greeting.send', '--input', input, '--json'], cliEnv);
  const b = JSON.parse(second.stdout);
  assert.deepEqual([b.jobId, b.deduplicated], [a.jobId, true]);
  const status = await cli(['status', a.jobId, '--json'], cliEnv);
  assert.equal(status.code, 0, status.stderr);
  assert.deepEqual(
    (({ jobId, jobType }) => ({ jobId, jobType }))(JSON.parse(status.stdout)),
    { jobId: a.jobId, jobType: 'greeting.send' },
  );
  assert.equal(await countJobs(env.client, `WorkflowId="${a.jobId}"`), 1);
});

for (const [name, input, key] of [
  ['malformed JSON', '{"recipientId":', 'bad-json'],
  ['a missing field', '{}', 'missing-field'],
  ['the wrong type', '{"recipientId":5}', 'wrong-type'],
  ['an oversized key', '{"recipientId":"x"}', 'k'.repeat(200)],
] as const) {
  test(`bad input (${name}) exits 2 with a clear error and starts nothing`, async () => {
    const r = await cli(['submit', 'greeting.send', '--input', input, '--key', key, '--json'], cliEnv);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.equal(r.stdout, '');
    const error = JSON.parse(r.stderr.trim().split('\n').at(-1)!);
    assert.match(error.error, /UsageError|JobValidationError|InvalidSubmitOptionsError/);
    if (error.error !== 'UsageError') assert.ok(error.issues.length > 0);
    assert.equal(await countJobs(env.client, `IdempotencyKey="${key}"`), 0);
  });
}

test('the same key with different input exits 3 with the job id and both hashes', async () => {
  const key = unique('cli-conflict');
  const ok = await cli(['submit', 'greeting.send', '--input', '{"recipientId":"one"}', '--key', key, '--json'], cliEnv);
  assert.equal(ok.code, 0, ok.stderr);
  const r = await cli(['submit', 'greeting.send', '--input', '{"recipientId":"two"}', '--key', key, '--json'], cliEnv);
  assert.equal(r.code, 3);
  const error = JSON.parse(r.stderr.trim().split('\n').at(-1)!);
  assert.equal(error.error, 'IdempotencyConflictError');
  assert.equal(error.jobId, `greeting.send:${key}`);
  assert.notEqual(error.existingInputHash, error.submittedInputHash);
});

test('status of an unknown job exits 4', async () => {
  const r = await cli(['status', 'greeting.send:nope-nothing-here', '--json'], cliEnv);
  assert.equal(r.code, 4);
});
