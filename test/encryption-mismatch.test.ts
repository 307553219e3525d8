/**
 * Issue 14's encryption trap, against a real dev server and real worker and CLI processes: the CLI encrypts
 * (JOBLEDGER_CODEC_KEYS set), the worker does not. The worker logs one error naming the setting (not one per
 * workflow task retry); `jobledger status`, `diagnose` and `doctor` report the job as blocked by a decoding
 * failure, with the fix; once the worker has the same keys, the job continues and completes.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { generateKey } from '../codec/keys';
import { JOBS_MODULE } from '../examples/jobs';
import { DECODING_FAILURE_MESSAGE } from '../workers/decoding';
import { cli, type RunResult } from './helpers/run';
import { startDevServer, tempDir, unique } from './helpers/servers';
import { startWorkerProcess, stopStarted, workerStarted, type Proc } from './helpers/process';

const KEYS = JSON.stringify({ current: 'k1', keys: { k1: generateKey() } });
const taskQueue = unique('mismatch-tq');
const dir = tempDir();
let env: TestWorkflowEnvironment;

// The worker without keys must not inherit any from the shell that runs the test.
delete process.env.JOBLEDGER_CODEC_KEYS;

function settings(extra: NodeJS.ProcessEnv = {}, queue = taskQueue): NodeJS.ProcessEnv {
  return {
    TEMPORAL_ADDRESS: env.address,
    JOBLEDGER_TASK_QUEUE: queue,
    JOBLEDGER_LEDGER_PATH: join(dir, 'ledger.db'),
    JOBLEDGER_BREAKER_PATH: join(dir, 'breakers.db'),
    JOBLEDGER_METRICS_PORT: '0',
    JOBLEDGER_JOBS_MODULE: JOBS_MODULE,
    ...extra,
  };
}
/** The CLI as the newcomer ran it after `eval "$(./temporal-dev.sh env --encrypted)"`: encrypting. */
const encryptingCli = (args: string[]) => cli(args, settings({ JOBLEDGER_CODEC_KEYS: KEYS, JOBLEDGER_SUBMITTED_BY: 'newcomer', LOG_LEVEL: 'warn' }));

function show(label: string, r: RunResult): void {
  process.stdout.write(`# ${label} (exit ${r.code}):\n${r.stdout.replace(/^/gm, '#   ')}\n`);
}

function decodingLines(worker: Proc): Record<string, any>[] {
  return worker.lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, any>).filter((l) => l.msg === DECODING_FAILURE_MESSAGE);
}

before(async () => {
  env = await startDevServer();
});

after(async () => {
  await stopStarted();
  await env?.teardown();
});

test('encryption on in the client, off in the worker: one worker error naming JOBLEDGER_CODEC_KEYS; status, diagnose and doctor report the job blocked with the fix; the same keys on the worker unblock it', async () => {
  const plainWorker = startWorkerProcess(false, settings());
  await workerStarted(plainWorker);

  const submitted = await encryptingCli(['submit', 'greeting.send', '--input', '{"recipientId":"ada","language":"en"}', '--json']);
  assert.equal(submitted.code, 0, submitted.stderr);
  const { jobId } = JSON.parse(submitted.stdout) as { jobId: string };

  // Blocked once the workflow task has failed more than once.
  let status: RunResult | undefined;
  const deadline = Date.now() + 60_000;
  for (;;) {
    status = await encryptingCli(['status', jobId]);
    if (status.stdout.includes('BLOCKED') || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  show('status', status);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, new RegExp(`^${jobId.replace(/[.:]/g, '\\$&')}\\tgreeting\\.send\\tSubmitted\\tBLOCKED \\(workflow RUNNING, no step runs\\)$`, 'm'));
  assert.match(status.stdout, /^ {2}blocked: {4}a payload the worker cannot decode \(MissingCodecKeysError; \d+ workflow task attempts since /m);
  assert.match(status.stdout, /^ {2}message: {4}cannot decode a payload encrypted with key 'k1': JOBLEDGER_CODEC_KEYS is not set in this process/m);
  assert.match(status.stdout, /^ {2}setting: {4}JOBLEDGER_CODEC_KEYS$/m);
  assert.match(status.stdout, /^ {2}fix: {8}the job was submitted with JOBLEDGER_CODEC_KEYS \(encrypted\) but the worker has none: restart the workers with the same JOBLEDGER_CODEC_KEYS/m);

  const json = await encryptingCli(['status', jobId, '--json']);
  const view = JSON.parse(json.stdout) as { status: string; workflowStatus: string; blocked?: { cause: string; errorClass: string; setting?: string; attempts: number } };
  assert.equal(view.workflowStatus, 'RUNNING');
  assert.equal(view.blocked?.cause, 'decoding');
  assert.equal(view.blocked?.errorClass, 'MissingCodecKeysError');
  assert.equal(view.blocked?.setting, 'JOBLEDGER_CODEC_KEYS');
  assert.ok(view.blocked.attempts >= 2, `attempts ${view.blocked.attempts}`);

  // diagnose answers at once (the job's worker cannot answer its query) with the same cause and fix.
  const startedAt = Date.now();
  const diagnose = await encryptingCli(['diagnose', jobId]);
  const took = Date.now() - startedAt;
  show('diagnose', diagnose);
  assert.equal(diagnose.code, 0, diagnose.stderr);
  assert.ok(took < 15_000, `diagnose took ${took} ms`);
  assert.match(diagnose.stdout, new RegExp(`^${jobId.replace(/[.:]/g, '\\$&')}: blocked, no step runs until this is fixed$`, 'm'));
  assert.match(diagnose.stdout, /^ {2}setting: {4}JOBLEDGER_CODEC_KEYS$/m);
  assert.match(diagnose.stdout, /^ {2}runbook: {4}RUNBOOK\.md#encryption$/m);

  const doctor = await encryptingCli(['doctor']);
  show('doctor', doctor);
  assert.equal(doctor.code, 1);
  const blockedLine = doctor.stdout.split('\n').find((l) => l.startsWith('FAIL blocked jobs: '));
  assert.ok(blockedLine, doctor.stdout);
  assert.match(blockedLine, /1 of 1 running job\(s\) blocked, 1 by a payload the worker cannot decode/);
  assert.ok(blockedLine.includes(`${jobId} (MissingCodecKeysError)`), blockedLine);
  assert.match(blockedLine, /JOBLEDGER_CODEC_KEYS: the job was submitted with JOBLEDGER_CODEC_KEYS/);

  // The worker said it once, naming the setting, however many times the task failed; the SDK's own per-retry lines are gone.
  let attempts = view.blocked.attempts;
  for (const until = Date.now() + 60_000; attempts < 3 && Date.now() < until; ) {
    await new Promise((r) => setTimeout(r, 500));
    const again = JSON.parse((await encryptingCli(['status', jobId, '--json'])).stdout) as typeof view;
    attempts = again.blocked?.attempts ?? attempts;
  }
  assert.ok(attempts >= 3, `only ${attempts} workflow task attempts`);
  const reports = decodingLines(plainWorker);
  process.stdout.write(`# worker's decoding lines after ${attempts} failed attempts:\n${reports.map((l) => `#   ${JSON.stringify(l)}`).join('\n')}\n`);
  assert.equal(reports.length, 1, plainWorker.lines.join('\n'));
  assert.equal(reports[0]!.level, 50);
  assert.equal(reports[0]!.setting, 'JOBLEDGER_CODEC_KEYS');
  assert.equal(reports[0]!.error_class, 'MissingCodecKeysError');
  assert.ok(!plainWorker.lines.some((l) => l.includes('Failed to process Workflow Activation')), plainWorker.lines.join('\n'));

  // The fix the output gives: the worker with the client's keys. The job continues where it stopped and completes.
  plainWorker.child.kill('SIGTERM');
  await plainWorker.exited;
  const keyedWorker = startWorkerProcess(false, settings({ JOBLEDGER_CODEC_KEYS: KEYS }));
  await workerStarted(keyedWorker);
  let after: RunResult | undefined;
  const done = Date.now() + 60_000;
  for (;;) {
    after = await encryptingCli(['status', jobId, '--json']);
    if (after.stdout.includes('"Completed"') || Date.now() > done) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  const final = JSON.parse(after.stdout) as { status: string; blocked?: unknown };
  assert.equal(final.status, 'Completed', after.stdout);
  assert.equal(final.blocked, undefined);
});

test('encryption off in the client, on in the worker: status reports UnencryptedPayloadError blocked, with both ways out', async () => {
  const queue = unique('mismatch-reverse-tq');
  const keyedWorker = startWorkerProcess(false, settings({ JOBLEDGER_CODEC_KEYS: KEYS }, queue));
  await workerStarted(keyedWorker);
  const plainCli = (args: string[]) => cli(args, settings({ JOBLEDGER_SUBMITTED_BY: 'newcomer', LOG_LEVEL: 'warn' }, queue));
  const submitted = await plainCli(['submit', 'greeting.send', '--input', '{"recipientId":"bob","language":"en"}', '--json']);
  assert.equal(submitted.code, 0, submitted.stderr);
  const { jobId } = JSON.parse(submitted.stdout) as { jobId: string };
  let status: RunResult | undefined;
  for (const until = Date.now() + 60_000; ; ) {
    status = await plainCli(['status', jobId]);
    if (status.stdout.includes('BLOCKED') || Date.now() > until) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  show('status, client without keys, worker with them', status);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, /^ {2}blocked: {4}a payload the worker cannot decode \(UnencryptedPayloadError; \d+ workflow task attempts/m);
  assert.match(status.stdout, /^ {2}setting: {4}JOBLEDGER_CODEC_KEYS$/m);
  assert.match(status.stdout, /give the client the same JOBLEDGER_CODEC_KEYS, then terminate and resubmit the job; or, while migrating, set JOBLEDGER_CODEC_ALLOW_PLAINTEXT=true on the workers/);
  assert.equal(decodingLines(keyedWorker).map((l) => l.error_class).join(), 'UnencryptedPayloadError');
});
