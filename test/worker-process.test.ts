/**
 * The worker and the CLI as processes against a real dev server: the worker's stdout is JSON lines only
 * (the SDK core's lines included) and failure lines keep their error; SIGTERM to `npm run worker` stops the
 * worker itself, cleanly; a worker whose ledger file is replaced stops with exit 1; `status` and `list` work
 * while another process holds the ledger's write lock; a corrupt ledger makes the CLI fail naming its path.
 */
import assert from 'node:assert/strict';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import Database from 'better-sqlite3';
import { JobClient } from '../client/jobs';
import { JOBS_MODULE, jobs as EXAMPLE_JOBS } from '../examples/jobs';
import { JobRegistry } from '../jobs/registry';
import { openLedger } from '../ledger';
import { order } from './fixtures/orders';
import { cli } from './helpers/run';
import { alive, line, parsed, started, startProcess, until, type Proc } from './helpers/process';
import { startDevServer, tempDir, testLogger, unique } from './helpers/servers';
import { waitForCount } from './helpers/visibility';
import { jobOutcome } from '../client/outcome';

let env: TestWorkflowEnvironment;


function workerEnv(name: string): NodeJS.ProcessEnv {
  const dir = tempDir();
  return {
    TEMPORAL_ADDRESS: env.address,
    JOBLEDGER_TASK_QUEUE: unique(name),
    JOBLEDGER_LEDGER_PATH: join(dir, 'ledger.db'),
    JOBLEDGER_BREAKER_PATH: join(dir, 'breakers.db'),
    JOBLEDGER_METRICS_PORT: '0',
    JOBLEDGER_JOBS_MODULE: JOBS_MODULE,
    LOG_LEVEL: 'info',
  };
}

/** Starts `node --import tsx workers/main.ts` and waits for its "worker started" line. */
async function startWorker(wenv: NodeJS.ProcessEnv): Promise<Proc> {
  const proc = startProcess(process.execPath, ['--import', 'tsx', 'workers/main.ts'], wenv);
  await until('worker started', () => line(proc, 'worker started'));
  return proc;
}

before(async () => {
  env = await startDevServer();
});
after(async () => {
  for (const pid of started) if (alive(pid)) process.kill(pid, 'SIGKILL');
  await env?.teardown();
});

test('defect 9.7: every stdout line of the worker is JSON, forwarded SDK core lines and failure lines with their error included', async () => {
  const wenv = workerEnv('json-tq');
  const worker = await startWorker(wenv);
  const ledger = openLedger(wenv.JOBLEDGER_LEDGER_PATH!);
  try {
    const jobs = new JobClient({
      client: env.client,
      registry: new JobRegistry(EXAMPLE_JOBS),
      ledger,
      taskQueue: wenv.JOBLEDGER_TASK_QUEUE!,
      logger: testLogger(),
      submittedBy: 'worker-process-test',
    });
    const greeting = await jobs.submit('greeting.send', { recipientId: unique('json') });
    await jobOutcome(env.client.workflow.getHandle(greeting.jobId));
    // No downstream service is configured, so the order's first step fails: an "Activity failed" line.
    const failing = await jobs.submit('order.fulfill', order(unique('ord-json')));
    const failed = await until('an Activity failed line', () => line(worker, 'Activity failed'));
    await env.client.workflow.getHandle(failing.jobId).terminate('test done');
    assert.equal(failed.error.type, 'ApplicationFailure');
    assert.match(failed.error.message, /not configured/);
    assert.equal(failed.error.cause.type, 'ServiceNotConfiguredError');
    assert.match(failed.error.cause.message, /downstream service '(\w+)' is not configured on this worker: set JOBLEDGER_SERVICE_\w+_URL/);
  } finally {
    await ledger.close();
    worker.child.kill('SIGTERM');
  }
  assert.equal(await worker.exited, 0);
  assert.ok(worker.lines.length > 0);
  for (const text of worker.lines) assert.doesNotThrow(() => JSON.parse(text), `not JSON: ${text}`);
  const entries = parsed(worker.lines);
  assert.ok(entries.some((e) => e.sdkComponent === 'core'), 'no SDK core line was forwarded to the logger');
  assert.ok(entries.some((e) => e.msg === 'worker stopped'));
});

test('defect 9.7: SIGTERM to the npm run worker process stops the worker process itself, which logs a clean stop', async () => {
  const npm = startProcess('npm', ['run', '-s', 'worker'], workerEnv('sigterm-tq'));
  const { pid } = await until('worker started', () => line(npm, 'worker started'));
  assert.equal(typeof pid, 'number');
  started.add(pid);
  const parentPid = Number(readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')[1]);

  npm.child.kill('SIGTERM');
  await npm.ended;
  await until('the worker process to end', () => (alive(pid) ? undefined : true), 20_000);
  await npm.exited; // every line read
  const stopped = parsed(npm.lines).find((e) => e.msg === 'worker stopped');
  assert.equal(stopped?.outcome, 'stopped');
  assert.equal(stopped?.pid, pid);
  // npm execs the worker: no shell or tsx process in between.
  assert.equal(parentPid, npm.child.pid);
});

test('defect 9.7: when npm run worker is killed with SIGKILL, the worker notices its parent is gone and stops cleanly', async () => {
  const npm = startProcess('npm', ['run', '-s', 'worker'], workerEnv('sigkill-tq'));
  const { pid } = await until('worker started', () => line(npm, 'worker started'));
  started.add(pid);
  npm.child.kill('SIGKILL'); // npm cannot forward anything
  await npm.ended;
  await until('the worker process to end', () => (alive(pid) ? undefined : true), 20_000);
  await npm.exited; // every line read
  const entries = parsed(npm.lines);
  assert.ok(entries.some((e) => e.msg === 'parent process exited; stopping the worker'));
  assert.equal(entries.find((e) => e.msg === 'worker stopped')?.outcome, 'stopped');
});

test('defect 9.6: a worker whose ledger file is replaced fails its health check, logs one error naming the path and exits 1', async () => {
  const wenv = workerEnv('health-tq');
  const path = wenv.JOBLEDGER_LEDGER_PATH!;
  const worker = await startWorker(wenv);
  const replacement = `${path}.new`;
  await openLedger(replacement).close();
  renameSync(replacement, path); // a valid ledger, but not the file the worker opened

  const code = await Promise.race([worker.exited, new Promise((r) => setTimeout(() => r('still running'), 30_000))]);
  assert.equal(code, 1);
  const entries = parsed(worker.lines);
  const errors = entries.filter((e) => e.msg === 'ledger failed its health check; stopping the worker');
  assert.equal(errors.length, 1);
  assert.equal(errors[0]!.level, 50);
  assert.equal(errors[0]!.ledger_path, path);
  assert.equal(errors[0]!.err.type, 'LedgerUnavailableError');
  assert.ok(errors[0]!.err.message.includes(path), errors[0]!.err.message);
  assert.equal(entries.find((e) => e.msg === 'worker stopped')?.outcome, 'unhealthy');
});

test('defect 9.6: jobledger status and list work while another process holds the ledger write lock', async () => {
  const path = join(tempDir(), 'ledger.db');
  const taskQueue = unique('locked-tq'); // no worker polls it: the job stays Submitted
  const ledger = openLedger(path);
  const jobs = new JobClient({ client: env.client, registry: new JobRegistry(EXAMPLE_JOBS), ledger, taskQueue, logger: testLogger(), submittedBy: 'lock-test' });
  const { jobId } = await jobs.submit('greeting.send', { recipientId: unique('locked') });
  await ledger.close();
  assert.equal(await waitForCount(env.client, `WorkflowId="${jobId}"`, 1), 1);

  const holder = new Database(path);
  holder.prepare('BEGIN IMMEDIATE').run();
  try {
    const cliEnv = { TEMPORAL_ADDRESS: env.address, JOBLEDGER_LEDGER_PATH: path, JOBLEDGER_TASK_QUEUE: taskQueue, LOG_LEVEL: 'warn' };
    const status = await cli(['status', jobId, '--json'], cliEnv);
    assert.equal(status.code, 0, status.stderr);
    assert.equal(JSON.parse(status.stdout).jobId, jobId);
    const list = await cli(['list', '--type', 'greeting.send', '--query', `WorkflowId="${jobId}"`, '--json'], cliEnv);
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual((JSON.parse(list.stdout) as { jobId: string }[]).map((j) => j.jobId), [jobId]);
  } finally {
    holder.prepare('ROLLBACK').run();
    holder.close();
    await env.client.workflow.getHandle(jobId).terminate('test done');
  }
});

test('defect 9.6: the CLI exits non-zero with LedgerUnavailableError naming the path when the ledger is not a SQLite file', async () => {
  const path = join(tempDir(), 'ledger.db');
  writeFileSync(path, 'not a database\n'.repeat(100));
  const r = await cli(['submit', 'greeting.send', '--input', JSON.stringify({ recipientId: unique('corrupt') }), '--submitted-by', 'corrupt-test', '--json'], {
    TEMPORAL_ADDRESS: env.address,
    JOBLEDGER_LEDGER_PATH: path,
    JOBLEDGER_TASK_QUEUE: unique('corrupt-tq'),
    LOG_LEVEL: 'warn',
  });
  assert.notEqual(r.code, 0);
  const body = JSON.parse(r.stderr.trim().split('\n').at(-1)!) as { error: string; message: string };
  assert.equal(body.error, 'LedgerUnavailableError');
  assert.ok(body.message.includes(path), body.message);
  assert.match(body.message, /not a database/);
});
