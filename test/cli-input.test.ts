/**
 * `jobledger submit` input and metadata on the real dev server (issue 9): the input from a file
 * (`--input @FILE`) or stdin (`--input -`), and exit 2 with nothing started for an unreadable file, an
 * input over `MAX_INPUT_BYTES`, an oversized `--submitted-by` or a key whose child keys would be too long.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { MAX_INPUT_BYTES } from '../common/constants';
import { openLedger } from '../ledger';
import { cli } from './helpers/run';
import { freePort, startDevServer, tempDir, unique } from './helpers/servers';

let env: TestWorkflowEnvironment;
let cliEnv: NodeJS.ProcessEnv;
let ledgerPath: string;
const dir = tempDir();

before(async () => {
  env = await startDevServer();
  ledgerPath = join(dir, 'ledger.db');
  cliEnv = {
    TEMPORAL_ADDRESS: env.address,
    JOBLEDGER_TASK_QUEUE: unique('cli-input-tq'),
    JOBLEDGER_LEDGER_PATH: ledgerPath,
    JOBLEDGER_SUBMITTED_BY: 'cli-tester',
    LOG_LEVEL: 'warn',
  };
});
after(async () => {
  await env?.teardown();
});

/** The JSON error object the CLI printed last on stderr (with `--json`). */
function errorOf(stderr: string): { error: string; message: string; issues?: { path: (string | number)[] }[] } {
  return JSON.parse(stderr.trim().split('\n').at(-1)!);
}

/** Temporal has no workflow with this id and the CLI's ledger no job. */
async function assertNothingStarted(jobId: string): Promise<void> {
  await assert.rejects(env.client.workflow.getHandle(jobId).describe(), WorkflowNotFoundError, `${jobId} is in Temporal`);
  const ledger = openLedger(ledgerPath);
  try {
    assert.equal(await ledger.getJobById(jobId), undefined, `${jobId} is in the ledger`);
  } finally {
    await ledger.close();
  }
}

test('defect 9.9: --input @FILE submits the JSON in the file', async () => {
  const recipientId = unique('file');
  const file = join(dir, 'greeting.json');
  writeFileSync(file, `\uFEFF${JSON.stringify({ recipientId, language: 'de' }, null, 2)}\n`);
  const r = await cli(['submit', 'greeting.send', '--input', `@${file}`, '--json'], cliEnv);
  assert.equal(r.code, 0, r.stderr);
  // The key carries the file's language, so the file (BOM, indentation and all) was read and parsed.
  const jobId = `greeting.send:greet-${recipientId}-de`;
  assert.equal(JSON.parse(r.stdout).jobId, jobId);
  assert.equal((await env.client.workflow.getHandle(jobId).describe()).status.name, 'RUNNING');
});

test('defect 9.9: --input - reads the JSON from stdin', async () => {
  const recipientId = unique('stdin');
  const r = await cli(['submit', 'greeting.send', '--input', '-', '--json'], cliEnv, JSON.stringify({ recipientId }));
  assert.equal(r.code, 0, r.stderr);
  const jobId = `greeting.send:greet-${recipientId}-en`;
  assert.equal(JSON.parse(r.stdout).jobId, jobId);
  assert.equal((await env.client.workflow.getHandle(jobId).describe()).status.name, 'RUNNING');
});

test('defect 9.9: an unreadable --input file exits 2 with a UsageError naming the path, and starts nothing', async () => {
  const missing = join(dir, 'no-such-order.json');
  const key = unique('missing-file');
  const r = await cli(['submit', 'greeting.send', '--input', `@${missing}`, '--key', key, '--json'], cliEnv);
  assert.equal(r.code, 2, r.stdout + r.stderr);
  assert.equal(r.stdout, '');
  const error = errorOf(r.stderr);
  assert.equal(error.error, 'UsageError');
  assert.ok(error.message.includes(missing), error.message);
  await assertNothingStarted(`greeting.send:${key}`);
});

test('defect 9.9: an --input file over MAX_INPUT_BYTES exits 2 with InputTooLargeError, and starts nothing', async () => {
  const file = join(dir, 'too-large.json');
  writeFileSync(file, JSON.stringify({ recipientId: 'x'.repeat(MAX_INPUT_BYTES) }));
  const key = unique('too-large');
  const r = await cli(['submit', 'greeting.send', '--input', `@${file}`, '--key', key, '--json'], cliEnv);
  assert.equal(r.code, 2, r.stdout + r.stderr);
  const error = errorOf(r.stderr);
  assert.equal(error.error, 'InputTooLargeError');
  assert.match(error.message, new RegExp(`the limit is ${MAX_INPUT_BYTES}`));
  await assertNothingStarted(`greeting.send:${key}`);
});

test('defect 9.5: a 64 KiB --submitted-by exits 2 with the zod issues, and starts nothing', async () => {
  const key = unique('big-submitter');
  const r = await cli(
    ['submit', 'greeting.send', '--input', JSON.stringify({ recipientId: 'x' }), '--key', key, '--submitted-by', 's'.repeat(64 * 1024), '--json'],
    cliEnv,
  );
  assert.equal(r.code, 2, r.stdout + r.stderr);
  const error = errorOf(r.stderr);
  assert.equal(error.error, 'InvalidSubmitOptionsError');
  assert.deepEqual(error.issues?.map((i) => i.path.join('.')), ['submittedBy']);
  await assertNothingStarted(`greeting.send:${key}`);
});

test('defect 9.4: report.generate with a 125-character --key exits 2 with InvalidChildKeyError, and starts nothing', async () => {
  const key = 'r'.repeat(125);
  const r = await cli(['submit', 'report.generate', '--input', JSON.stringify({ reportId: unique('rep'), sections: ['a'] }), '--key', key, '--json'], cliEnv);
  assert.equal(r.code, 2, r.stdout + r.stderr);
  assert.equal(errorOf(r.stderr).error, 'InvalidChildKeyError');
  await assertNothingStarted(`report.generate:${key}`);
});

test('bad input exits 2 with its validation error even when Temporal is unreachable, before any connection', async () => {
  const nobody = `127.0.0.1:${await freePort()}`;
  const env = { TEMPORAL_ADDRESS: nobody, JOBLEDGER_LEDGER_PATH: join(tempDir(), 'ledger.db'), LOG_LEVEL: 'warn' };
  const badOption = await cli(['submit', 'greeting.send', '--input', '{"name":"Ada","email":"ada@example.com"}', '--submitted-by', 'ops\u202e', '--json'], env);
  assert.equal(badOption.code, 2, badOption.stderr);
  assert.equal(JSON.parse(badOption.stderr).error, 'InvalidSubmitOptionsError');
  const badInput = await cli(['submit', 'report.generate', '--input', '-', '--submitted-by', 'me', '--json'], env, '{"x":1}');
  assert.equal(badInput.code, 2, badInput.stderr);
  assert.equal(JSON.parse(badInput.stderr).error, 'JobValidationError');
  assert.doesNotMatch(badInput.stderr + badOption.stderr, /connect/i);
});
