/**
 * `jobledger doctor` against real servers: it passes against a dev server with a worker polling (and a codec
 * server answering /decode with the configured token); it fails naming the problem against a wrong address
 * (within seconds), a server without the project's search attributes (`--fix` registers them and the next
 * doctor passes), a wrong codec token and a bad TLS file path (exit 2, a configuration error).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { generateKey, parseKeyring } from '../codec/keys';
import { startCodecServer, type CodecServer } from '../codec/server';
import { JOBS_MODULE } from '../examples/jobs';
import { cli, type RunResult } from './helpers/run';
import { freePort, resolveExecutable, startDevServer, tempDir, unique } from './helpers/servers';
import { startWorkerProcess, stopStarted, workerStarted } from './helpers/process';

const TOKEN = 'doctor-auditor-token-0123456789';
let env: TestWorkflowEnvironment;
/** A dev server started without the project's search attributes. */
let bare: TestWorkflowEnvironment;
let codec: CodecServer;
const taskQueue = unique('doctor-tq');
const bareQueue = unique('doctor-bare-tq');
const dir = tempDir();

function doctorEnv(address: string, queue: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { TEMPORAL_ADDRESS: address, JOBLEDGER_TASK_QUEUE: queue, JOBLEDGER_LEDGER_PATH: join(dir, 'doctor-ledger.db'), LOG_LEVEL: 'warn', ...extra };
}

function workerEnv(address: string, queue: string): NodeJS.ProcessEnv {
  return {
    TEMPORAL_ADDRESS: address,
    JOBLEDGER_TASK_QUEUE: queue,
    JOBLEDGER_LEDGER_PATH: join(dir, `${queue}.db`),
    JOBLEDGER_BREAKER_PATH: join(dir, `${queue}-breakers.db`),
    JOBLEDGER_METRICS_PORT: '0',
    JOBLEDGER_JOBS_MODULE: JOBS_MODULE,
  };
}

/** The doctor's lines as `status check` → detail, after printing them for the test log. */
function lines(r: RunResult, label: string): Map<string, string> {
  process.stdout.write(`# doctor ${label} (exit ${r.code}):\n${r.stdout.replace(/^/gm, '#   ')}\n`);
  const found = new Map<string, string>();
  for (const text of r.stdout.trim().split('\n')) {
    const match = /^(pass|FAIL|skip) ([^:]+): (.*)$/.exec(text);
    assert.ok(match, `not a doctor line: ${text}`);
    found.set(`${match[1]} ${match[2]}`, match[3]!);
  }
  return found;
}

before(async () => {
  [env, bare] = await Promise.all([
    startDevServer(),
    TestWorkflowEnvironment.createLocal({ server: { executable: resolveExecutable('cli'), ip: '127.0.0.1', log: { format: 'json', level: 'error' } } }),
  ]);
  codec = await startCodecServer({ keyring: parseKeyring({ current: 'k1', keys: { k1: generateKey() } }), tokens: { [TOKEN]: 'auditor' } });
  const workers = [startWorkerProcess(false, workerEnv(env.address, taskQueue)), startWorkerProcess(false, workerEnv(bare.address, bareQueue))];
  await Promise.all(workers.map((w) => workerStarted(w)));
});

after(async () => {
  await stopStarted();
  await codec?.stop();
  await Promise.all([env?.teardown(), bare?.teardown()]);
});

test('doctor passes against the dev server with a worker polling and the codec server answering with the token', async () => {
  const r = await cli(['doctor'], doctorEnv(env.address, taskQueue, { JOBLEDGER_CODEC_URL: codec.url, JOBLEDGER_CODEC_TOKEN: TOKEN }));
  const found = lines(r, 'pass');
  assert.equal(r.code, 0, r.stdout + r.stderr);
  for (const check of ['config', 'tls', 'connect', 'namespace', 'search attribute JobStatus', 'search attribute JobAttempt', 'codec', 'ledger', 'worker', 'blocked jobs']) {
    assert.ok(found.has(`pass ${check}`), `no pass line for ${check}:\n${r.stdout}`);
  }
  assert.match(found.get('pass worker')!, new RegExp(`polling task queue ${taskQueue}`));
  assert.equal([...found.keys()].filter((k) => k.startsWith('pass search attribute ')).length, 9);

  const json = await cli(['doctor', '--json'], doctorEnv(env.address, taskQueue));
  assert.equal(json.code, 0, json.stderr);
  const body = JSON.parse(json.stdout) as { ok: boolean; checks: { check: string; status: string }[] };
  assert.equal(body.ok, true);
  assert.deepEqual(body.checks.find((c) => c.check === 'codec')?.status, 'skip');
});

test('doctor against a wrong address fails within seconds: connect ... refused', async () => {
  const port = await freePort();
  const started = Date.now();
  const r = await cli(['doctor'], doctorEnv(`127.0.0.1:${port}`, taskQueue));
  const elapsed = Date.now() - started;
  const found = lines(r, 'wrong address');
  assert.equal(r.code, 1);
  assert.equal(found.get('FAIL connect'), `127.0.0.1:${port} refused`);
  assert.equal(found.get('skip namespace'), 'not checked: no connection');
  assert.ok(elapsed < 15_000, `took ${elapsed} ms`);
});

test('doctor names each missing search attribute; --fix registers them and the next doctor passes', async () => {
  const before = await cli(['doctor'], doctorEnv(bare.address, bareQueue));
  const missing = lines(before, 'missing search attributes');
  assert.equal(before.code, 1);
  assert.equal(missing.get('FAIL search attribute JobStatus'), 'search attribute JobStatus (Keyword) missing — run doctor --fix');
  assert.equal(missing.get('FAIL search attribute JobAttempt'), 'search attribute JobAttempt (Int) missing — run doctor --fix');
  assert.equal([...missing.keys()].filter((k) => k.startsWith('FAIL search attribute ')).length, 9);
  assert.ok(missing.has('pass worker'));

  const fix = await cli(['doctor', '--fix'], doctorEnv(bare.address, bareQueue));
  const fixed = lines(fix, '--fix');
  assert.equal(fix.code, 0, fix.stdout);
  assert.equal(fixed.get('pass search attribute JobStatus'), 'JobStatus (Keyword) registered by --fix');

  const after = await cli(['doctor'], doctorEnv(bare.address, bareQueue));
  const passed = lines(after, 'after --fix');
  assert.equal(after.code, 0, after.stdout);
  assert.equal(passed.get('pass search attribute JobAttempt'), 'JobAttempt (Int)');
});

test('doctor fails naming the codec problem: a wrong token, a codec server that is not there', async () => {
  const wrong = await cli(['doctor'], doctorEnv(env.address, taskQueue, { JOBLEDGER_CODEC_URL: codec.url, JOBLEDGER_CODEC_TOKEN: 'not-the-token-0123456789' }));
  assert.equal(wrong.code, 1);
  assert.equal(lines(wrong, 'wrong codec token').get('FAIL codec'), `${codec.url}/decode refused JOBLEDGER_CODEC_TOKEN (HTTP 401)`);
  const port = await freePort();
  const gone = await cli(['doctor'], doctorEnv(env.address, taskQueue, { JOBLEDGER_CODEC_URL: `http://127.0.0.1:${port}` }));
  assert.equal(gone.code, 1);
  assert.equal(lines(gone, 'codec not there').get('FAIL codec'), `http://127.0.0.1:${port}/decode refused`);
});

test('doctor with a bad TLS file path fails naming the variable and the file, exit 2; TLS against a plain server fails connect', async () => {
  const r = await cli(['doctor'], doctorEnv(env.address, taskQueue, { TEMPORAL_TLS_CA: '/nope/ca.pem' }));
  const found = lines(r, 'bad TLS file');
  assert.equal(r.code, 2);
  assert.equal(found.get('FAIL tls'), 'TEMPORAL_TLS_CA: /nope/ca.pem: no such file');

  const plain = await cli(['doctor'], doctorEnv(env.address, taskQueue, { TEMPORAL_TLS: 'true' }));
  const tls = lines(plain, 'TLS against a plain server');
  assert.equal(plain.code, 1);
  assert.match(tls.get('FAIL connect') ?? '', new RegExp(`^${env.address.replace(/\./g, '\\.')} `));
});
