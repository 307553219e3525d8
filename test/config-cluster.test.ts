/**
 * The cluster configuration (core/cluster.ts): each bad value is a ConfigError whose issue names the variable;
 * JOBLEDGER_CONFIG_FILE's settings are used and the environment wins over them; one set of connection options
 * carries TLS (CA, client pair, server name) and the API key; the worker and the CLI exit 2 on bad configuration.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { z } from 'zod';
import { ConfigError, concurrencyFrom, connectionOptionsFrom } from '../core/cluster';
import { loadConfig } from '../core/config';
import { cli } from './helpers/run';
import { ROOT, tempDir } from './helpers/servers';

const dir = tempDir();
const ca = join(dir, 'ca.pem');
const cert = join(dir, 'client.pem');
const key = join(dir, 'client.key');
for (const [path, text] of [[ca, 'CA'], [cert, 'CERT'], [key, 'KEY']] as const) writeFileSync(path, `-----BEGIN ${text}-----\n`);

function refused(env: NodeJS.ProcessEnv, expected: Record<string, RegExp>): void {
  assert.throws(
    () => loadConfig(env),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.ok(err instanceof z.ZodError);
      assert.equal(err.name, 'ConfigError');
      assert.deepEqual(err.issues.map((i) => i.path.join('.')).sort(), Object.keys(expected).sort());
      for (const issue of err.issues) assert.match(issue.message, expected[issue.path.join('.')]!);
      for (const variable of Object.keys(expected)) assert.match(err.message, new RegExp(variable));
      return true;
    },
  );
}

test('each bad value names its variable', () => {
  refused({ TEMPORAL_TLS_CA: '/nope/ca.pem' }, { TEMPORAL_TLS_CA: /^\/nope\/ca\.pem: no such file$/ });
  refused({ TEMPORAL_TLS_CA: dir }, { TEMPORAL_TLS_CA: /not a regular file/ });
  refused({ TEMPORAL_TLS_CERT: cert }, { TEMPORAL_TLS_KEY: /required with TEMPORAL_TLS_CERT/ });
  refused({ TEMPORAL_TLS_KEY: key }, { TEMPORAL_TLS_CERT: /required with TEMPORAL_TLS_KEY/ });
  refused({ JOBLEDGER_MAX_CONCURRENT_ACTIVITIES: 'many' }, { JOBLEDGER_MAX_CONCURRENT_ACTIVITIES: /whole number/ });
  refused({ JOBLEDGER_MAX_CONCURRENT_WORKFLOW_TASKS: '1' }, { JOBLEDGER_MAX_CONCURRENT_WORKFLOW_TASKS: /at least 2/ });
  refused({ JOBLEDGER_CODEC_URL: 'codec.internal:8081' }, { JOBLEDGER_CODEC_URL: /http or https URL/ });
  refused({ JOBLEDGER_METRICS_HOST: 'localhost' }, { JOBLEDGER_METRICS_HOST: /IP address/ });
  refused({ TEMPORAL_TLS: 'maybe' }, { TEMPORAL_TLS: /./ });
  refused({ JOBLEDGER_CONFIG_FILE: join(dir, 'missing.json') }, { JOBLEDGER_CONFIG_FILE: /no such file/ });
  const notJson = join(dir, 'bad.json');
  writeFileSync(notJson, '{ nope');
  refused({ JOBLEDGER_CONFIG_FILE: notJson }, { JOBLEDGER_CONFIG_FILE: /not JSON/ });
});

test('JOBLEDGER_CONFIG_FILE: its settings apply, the environment wins, its bad values name their variables', () => {
  const file = join(dir, 'cluster.json');
  writeFileSync(file, JSON.stringify({ TEMPORAL_ADDRESS: 'temporal.internal:7233', TEMPORAL_NAMESPACE: 'jobs', JOBLEDGER_MAX_CONCURRENT_ACTIVITIES: 8 }));
  const config = loadConfig({ JOBLEDGER_CONFIG_FILE: file, TEMPORAL_NAMESPACE: 'from-env' });
  assert.equal(config.TEMPORAL_ADDRESS, 'temporal.internal:7233');
  assert.equal(config.TEMPORAL_NAMESPACE, 'from-env');
  assert.deepEqual(concurrencyFrom(config), { maxConcurrentActivityTaskExecutions: 8 });
  writeFileSync(file, JSON.stringify({ TEMPORAL_TLS_CA: '/nope/ca.pem' }));
  refused({ JOBLEDGER_CONFIG_FILE: file }, { TEMPORAL_TLS_CA: /no such file/ });
});

test('connection options: plain by default; TLS with CA, client pair and server name; an API key implies TLS', () => {
  assert.deepEqual(connectionOptionsFrom(loadConfig({})), { address: '127.0.0.1:7233' });
  const mtls = connectionOptionsFrom(loadConfig({ TEMPORAL_ADDRESS: 'h:7233', TEMPORAL_TLS_CA: ca, TEMPORAL_TLS_CERT: cert, TEMPORAL_TLS_KEY: key, TEMPORAL_TLS_SERVER_NAME: 'temporal.internal' }));
  assert.deepEqual(mtls, {
    address: 'h:7233',
    tls: { serverRootCACertificate: Buffer.from('-----BEGIN CA-----\n'), clientCertPair: { crt: Buffer.from('-----BEGIN CERT-----\n'), key: Buffer.from('-----BEGIN KEY-----\n') }, serverNameOverride: 'temporal.internal' },
  });
  assert.deepEqual(connectionOptionsFrom(loadConfig({ TEMPORAL_API_KEY: 'k' })), { address: '127.0.0.1:7233', apiKey: 'k', tls: true });
  assert.deepEqual(connectionOptionsFrom(loadConfig({ TEMPORAL_API_KEY: 'k', TEMPORAL_TLS: 'false' })), { address: '127.0.0.1:7233', apiKey: 'k' });
  assert.deepEqual(connectionOptionsFrom(loadConfig({ TEMPORAL_TLS: 'true' })), { address: '127.0.0.1:7233', tls: true });
});

test('the worker and the CLI exit 2 on bad configuration, naming the variable', async () => {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith('JOBLEDGER_') && !name.startsWith('TEMPORAL_')) env[name] = value;
  const worker = spawnSync(process.execPath, ['--import', 'tsx', 'workers/main.ts'], {
    cwd: ROOT,
    env: { ...env, TEMPORAL_TLS_CA: '/nope/ca.pem', JOBLEDGER_LEDGER_PATH: join(dir, 'ledger.db') },
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(worker.status, 2, worker.stderr);
  assert.match(worker.stderr, /TEMPORAL_TLS_CA: \/nope\/ca\.pem: no such file/);
  const status = await cli(['status', 'some-job'], { TEMPORAL_TLS_CA: '/nope/ca.pem', JOBLEDGER_MAX_CONCURRENT_ACTIVITIES: 'x' });
  assert.equal(status.code, 2, status.stderr);
  assert.match(status.stderr, /TEMPORAL_TLS_CA: \/nope\/ca\.pem: no such file/);
  assert.match(status.stderr, /JOBLEDGER_MAX_CONCURRENT_ACTIVITIES: must be a whole number/);
});
