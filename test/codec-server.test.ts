/**
 * Tests of the codec server over real HTTP on 127.0.0.1: bearer tokens, the viewer and auditor
 * views of decoded payloads, encode/decode round trips in the remote codec JSON format, CORS for the
 * Web UI, bad requests, and the runnable entry `codec/main.ts` started as its own process.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import pino from 'pino';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { z } from 'zod';
import { EncryptionCodec, isEncrypted } from '../codec/codec';
import { CodecConfigError, generateKey, parseKeyring } from '../codec/keys';
import { codecServerOptionsFromEnv, jobPayloadPiiPaths } from '../codec/main';
import { piiPathsOf } from '../codec/masking';
import { startCodecServer, type CodecServer, type CodecServerOptions } from '../codec/server';
import { jobs as PII_JOBS, PII_PATHS } from './fixtures/pii-jobs';

const REPO_ROOT = resolve(__dirname, '..');
const VIEWER = 'viewer-token-0123456789abcdef';
const AUDITOR = 'auditor-token-0123456789abcdef';
const KEYS = { current: 'k1', keys: { k1: generateKey() } };
const keyring = parseKeyring(KEYS);
const codec = new EncryptionCodec(keyring);

const Schema = z.object({
  orderId: z.string(),
  customer: z.object({ id: z.string(), email: z.email().meta({ pii: true }) }),
  items: z.array(z.object({ sku: z.string() })),
});
const ORDER = { orderId: 'o-1', customer: { id: 'c-7', email: 'ann.lee@example.com' }, items: [{ sku: 'sku-1' }] };

interface JsonPayload {
  metadata: Record<string, string>;
  data: string;
}

function toJson(payload: Payload): JsonPayload {
  const metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(payload.metadata ?? {})) metadata[key] = Buffer.from(value).toString('base64');
  return { metadata, data: Buffer.from(payload.data ?? new Uint8Array()).toString('base64') };
}

function fromJson(payload: JsonPayload): Payload {
  const metadata: Record<string, Uint8Array> = {};
  for (const [key, value] of Object.entries(payload.metadata)) metadata[key] = Buffer.from(value, 'base64');
  return { metadata, data: Buffer.from(payload.data, 'base64') };
}

async function start(t: TestContext, options: Partial<CodecServerOptions> = {}): Promise<CodecServer> {
  const server = await startCodecServer({
    keyring,
    tokens: { [VIEWER]: 'viewer', [AUDITOR]: 'auditor' },
    piiPaths: piiPathsOf(Schema),
    ...options,
  });
  t.after(() => server.stop());
  return server;
}

async function post(server: CodecServer, path: string, body: unknown, token?: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** Encrypts values the way a worker would and sends them to /decode with the token. */
async function decodeVia(server: CodecServer, token: string, payloads: Payload[]): Promise<Payload[]> {
  const encoded = await codec.encode(payloads);
  const res = await post(server, '/decode', { payloads: encoded.map(toJson) }, token);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /application\/json/);
  const body = (await res.json()) as { payloads: JsonPayload[] };
  return body.payloads.map(fromJson);
}

test('codec server: a request without a token gets 401 with a JSON error', async (t) => {
  const server = await start(t);
  const encoded = await codec.encode([defaultPayloadConverter.toPayload(ORDER)]);
  for (const path of ['/decode', '/encode']) {
    const res = await post(server, path, { payloads: encoded.map(toJson) });
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('www-authenticate'), 'Bearer');
    const body = (await res.json()) as { error: string };
    assert.equal(body.error, 'unauthorized');
    assert.ok(!JSON.stringify(body).includes('ann.lee'));
  }
});

test('codec server: an unknown or malformed token gets 401', async (t) => {
  const server = await start(t);
  const body = { payloads: [toJson(defaultPayloadConverter.toPayload(ORDER))] };
  for (const authorization of [`Bearer ${VIEWER}x`, `Bearer ${VIEWER.slice(0, -1)}`, 'Bearer ', `Basic ${AUDITOR}`, AUDITOR]) {
    const res = await post(server, '/decode', body, undefined, { Authorization: authorization });
    assert.equal(res.status, 401, authorization);
    assert.equal(((await res.json()) as { error: string }).error, 'unauthorized');
  }
});

test('codec server: a viewer gets the PII field as "***" and the other fields intact', async (t) => {
  const server = await start(t);
  const [decoded] = await decodeVia(server, VIEWER, [defaultPayloadConverter.toPayload(ORDER)]);
  assert.equal(Buffer.from(decoded!.metadata!.encoding!).toString(), 'json/plain');
  assert.deepEqual(defaultPayloadConverter.fromPayload(decoded!), {
    orderId: 'o-1',
    customer: { id: 'c-7', email: '***' },
    items: [{ sku: 'sku-1' }],
  });
});

test('codec server: a viewer gets non-JSON payloads still encrypted', async (t) => {
  const server = await start(t);
  const binary = defaultPayloadConverter.toPayload(new Uint8Array([1, 2, 3]));
  const encoded = await codec.encode([binary]);
  const res = await post(server, '/decode', { payloads: encoded.map(toJson) }, VIEWER);
  const body = (await res.json()) as { payloads: JsonPayload[] };
  assert.deepEqual(body.payloads[0], toJson(encoded[0]!));
  assert.ok(isEncrypted(fromJson(body.payloads[0]!)));
});

test('codec server: an auditor gets the full value, and binary payloads decrypted', async (t) => {
  const server = await start(t);
  const decoded = await decodeVia(server, AUDITOR, [
    defaultPayloadConverter.toPayload(ORDER),
    defaultPayloadConverter.toPayload(new Uint8Array([1, 2, 3])),
  ]);
  assert.deepEqual(defaultPayloadConverter.fromPayload(decoded[0]!), ORDER);
  assert.deepEqual(defaultPayloadConverter.fromPayload(decoded[1]!), new Uint8Array([1, 2, 3]));
});

test('codec server: encode then decode over HTTP round trips, and the encoded form is ciphertext', async (t) => {
  const server = await start(t);
  const original = [defaultPayloadConverter.toPayload(ORDER), defaultPayloadConverter.toPayload('hello')];
  for (const prefix of ['', '/default']) {
    const encodedRes = await post(server, `${prefix}/encode`, { payloads: original.map(toJson) }, AUDITOR, { 'X-Namespace': 'default' });
    assert.equal(encodedRes.status, 200);
    const encoded = ((await encodedRes.json()) as { payloads: JsonPayload[] }).payloads;
    assert.equal(encoded.length, 2);
    for (const payload of encoded) {
      assert.ok(isEncrypted(fromJson(payload)));
      assert.ok(!Buffer.from(payload.data, 'base64').toString('latin1').includes('ann.lee'));
    }
    // The server's ciphertext is what a worker with the same keys decrypts.
    assert.deepEqual(defaultPayloadConverter.fromPayload((await codec.decode([fromJson(encoded[0]!)]))[0]!), ORDER);

    const decodedRes = await post(server, `${prefix}/decode`, { payloads: encoded }, AUDITOR);
    const decoded = ((await decodedRes.json()) as { payloads: JsonPayload[] }).payloads;
    assert.deepEqual(decoded, original.map(toJson));
  }
});

test('codec server: CORS preflight from the Web UI origin gets the allow headers; an unknown origin gets none', async (t) => {
  const server = await start(t);
  for (const origin of ['http://127.0.0.1:8233', 'http://localhost:8233']) {
    const res = await fetch(`${server.url}/decode`, {
      method: 'OPTIONS',
      headers: {
        Origin: origin,
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'authorization, content-type, x-namespace',
      },
    });
    assert.equal(res.status, 204);
    assert.equal(res.headers.get('access-control-allow-origin'), origin);
    assert.equal(res.headers.get('access-control-allow-credentials'), 'true');
    assert.equal(res.headers.get('access-control-allow-headers'), 'Authorization, Content-Type, X-Namespace');
    assert.match(res.headers.get('access-control-allow-methods') ?? '', /POST/);
  }
  // The actual request from the Web UI carries the allow-origin header too.
  const [encoded] = await codec.encode([defaultPayloadConverter.toPayload(ORDER)]);
  const actual = await post(server, '/decode', { payloads: [toJson(encoded!)] }, AUDITOR, { Origin: 'http://localhost:8233' });
  assert.equal(actual.headers.get('access-control-allow-origin'), 'http://localhost:8233');

  const evil = await fetch(`${server.url}/decode`, {
    method: 'OPTIONS',
    headers: { Origin: 'http://evil.example', 'Access-Control-Request-Method': 'POST' },
  });
  assert.equal(evil.headers.get('access-control-allow-origin'), null);
  assert.equal(evil.headers.get('access-control-allow-credentials'), null);
  const evilPost = await post(server, '/decode', { payloads: [] }, AUDITOR, { Origin: 'http://evil.example' });
  assert.equal(evilPost.headers.get('access-control-allow-origin'), null);

  // Configured origins replace the defaults.
  const custom = await start(t, { corsOrigins: ['http://127.0.0.1:9999'] });
  const ui = await fetch(`${custom.url}/decode`, { method: 'OPTIONS', headers: { Origin: 'http://127.0.0.1:8233' } });
  assert.equal(ui.headers.get('access-control-allow-origin'), null);
  const mine = await fetch(`${custom.url}/decode`, { method: 'OPTIONS', headers: { Origin: 'http://127.0.0.1:9999' } });
  assert.equal(mine.headers.get('access-control-allow-origin'), 'http://127.0.0.1:9999');
});

test('codec server: bad JSON or a body of the wrong shape gets 400; unknown paths 404; GET 405', async (t) => {
  const server = await start(t);
  for (const body of ['{"payloads": [', 'not json', '{"payloads": "x"}', '{"payloads": [{"data": "***"}]}', '[]']) {
    const res = await post(server, '/decode', body, AUDITOR);
    assert.equal(res.status, 400, body);
    assert.equal(((await res.json()) as { error: string }).error, 'bad_request');
  }
  assert.equal((await post(server, '/nope', { payloads: [] }, AUDITOR)).status, 404);
  assert.equal((await fetch(`${server.url}/decode`, { headers: { Authorization: `Bearer ${AUDITOR}` } })).status, 405);
  const tooBig = await startCodecServer({ keyring, tokens: { [AUDITOR]: 'auditor' }, maxBodyBytes: 64 });
  t.after(() => tooBig.stop());
  assert.equal((await post(tooBig, '/decode', { payloads: [toJson(defaultPayloadConverter.toPayload(ORDER))] }, AUDITOR)).status, 413);
});

test('defect 9.8: a tampered or undecryptable ciphertext gets 422 naming each payload index and reason, never a 200 with the ciphertext', async (t) => {
  const server = await start(t);
  const [foreign] = await new EncryptionCodec(parseKeyring({ current: 'k9', keys: { k9: generateKey() } })).encode([defaultPayloadConverter.toPayload('x')]);
  const [altered] = await codec.encode([defaultPayloadConverter.toPayload(ORDER)]);
  const data = Buffer.from(altered!.data!);
  data[20]! ^= 0xff;
  const [good] = await codec.encode([defaultPayloadConverter.toPayload(ORDER)]);
  const sent = [toJson(good!), toJson(foreign!), toJson({ ...altered!, data })];
  for (const token of [AUDITOR, VIEWER, undefined]) {
    const anonymous = token === undefined ? await start(t, { anonymousRole: 'viewer' }) : server;
    const res = await post(anonymous, '/decode', { payloads: sent }, token);
    assert.equal(res.status, 422, token);
    assert.match(res.headers.get('content-type') ?? '', /application\/json/);
    const body = (await res.json()) as { error: string; message: string; failures: Array<{ index: number; error: string; reason: string }>; payloads?: unknown };
    assert.equal(body.error, 'undecryptable_payload');
    assert.match(body.message, /index 1, 2/);
    assert.equal(body.payloads, undefined, 'no payloads, so no ciphertext passed off as decoded');
    assert.deepEqual(
      body.failures.map(({ index, error }) => ({ index, error })),
      [
        { index: 1, error: 'UnknownKeyIdError' },
        { index: 2, error: 'PayloadDecryptionError' },
      ],
    );
    assert.match(body.failures[0]!.reason, /key 'k9'/);
    assert.match(body.failures[1]!.reason, /authentication failed/);
    assert.ok(!JSON.stringify(body).includes('ann.lee'));
  }
  // The intact payload alone still decodes.
  const ok = await post(server, '/decode', { payloads: [toJson(good!)] }, AUDITOR);
  assert.equal(ok.status, 200);
});

test('codec server: binds 127.0.0.1 on a free port by default, rejects weak token configuration', async (t) => {
  const server = await start(t);
  assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.ok(server.port > 0);
  await assert.rejects(startCodecServer({ keyring, tokens: {} }), CodecConfigError);
  await assert.rejects(startCodecServer({ keyring, tokens: { short: 'auditor' } }), (err: unknown) => {
    assert.ok(err instanceof CodecConfigError);
    assert.ok(!err.message.includes('short'), 'the error does not repeat the token');
    return true;
  });
  await assert.rejects(startCodecServer({ keyring, tokens: { [AUDITOR]: 'admin' as 'auditor' } }), CodecConfigError);
});

test('codec server: the request log holds neither tokens nor payload contents', async (t) => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  const server = await start(t, { logger: pino({ level: 'trace' }, sink) });
  await decodeVia(server, AUDITOR, [defaultPayloadConverter.toPayload(ORDER)]);
  await decodeVia(server, VIEWER, [defaultPayloadConverter.toPayload(ORDER)]);
  await post(server, '/decode', { payloads: [] }, 'wrong-token-0123456789abcdef');
  const log = lines.join('');
  assert.match(log, /codec request/);
  for (const secret of [VIEWER, AUDITOR, 'wrong-token', 'ann.lee', 'sku-1', KEYS.keys.k1]) assert.ok(!log.includes(secret), secret);
});

test('codec main: viewers are masked on the given jobs\' PII under "input" by default', () => {
  assert.deepEqual(jobPayloadPiiPaths(PII_JOBS), PII_PATHS, 'every job\'s PII, a path shared by two jobs once');
  const options = codecServerOptionsFromEnv({
    JOBLEDGER_CODEC_KEYS: JSON.stringify(KEYS),
    JOBLEDGER_CODEC_TOKENS: JSON.stringify({ [VIEWER]: 'viewer' }),
    TEMPORAL_UI_URL: 'http://127.0.0.1:18233/namespaces',
  }, PII_JOBS);
  assert.deepEqual(options.piiPaths, PII_PATHS);
  assert.deepEqual(options.corsOrigins, ['http://127.0.0.1:18233', 'http://127.0.0.1:8233', 'http://localhost:8233']);
  assert.throws(() => codecServerOptionsFromEnv({ JOBLEDGER_CODEC_KEYS: JSON.stringify(KEYS) }), CodecConfigError);
  assert.throws(
    () => codecServerOptionsFromEnv({ JOBLEDGER_CODEC_KEYS: JSON.stringify(KEYS), JOBLEDGER_CODEC_TOKENS: JSON.stringify({ [VIEWER]: 'viewer' }), JOBLEDGER_CODEC_PII_PATHS: '["x"]' }),
    CodecConfigError,
  );
});

test('codec main: prints its URL as one JSON line, serves decodes, and stops on SIGTERM', async (t) => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'codec/main.ts', '--port', '0'], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      JOBLEDGER_JOBS_MODULE: 'test/fixtures/pii-jobs.ts',
      JOBLEDGER_CODEC_KEYS: JSON.stringify(KEYS),
      JOBLEDGER_CODEC_TOKENS: JSON.stringify({ [VIEWER]: 'viewer', [AUDITOR]: 'auditor' }),
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += String(chunk)));
  const lines = createInterface({ input: child.stdout });
  const [first] = (await once(lines, 'line')) as [string];
  const { url, port } = JSON.parse(first) as { url: string; port: number };
  assert.equal(url, `http://127.0.0.1:${port}`);

  const server = { url, port, stop: async () => {} };
  const job = { jobType: 'test.pii-order', input: ORDER, submittedBy: 'test' };
  const [viewed] = await decodeVia(server, VIEWER, [defaultPayloadConverter.toPayload(job)]);
  assert.deepEqual(defaultPayloadConverter.fromPayload(viewed!), { ...job, input: { ...ORDER, customer: { id: 'c-7', email: '***' } } });

  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const [code] = (await exited) as [number | null];
  assert.equal(code, 0, stderr);
});

test('codec main: missing configuration exits with code 2 and a CodecConfigError message', async () => {
  const env = { ...process.env };
  delete env.JOBLEDGER_CODEC_KEYS;
  delete env.JOBLEDGER_CODEC_TOKENS;
  const child = spawn(process.execPath, ['--import', 'tsx', 'codec/main.ts'], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += String(chunk)));
  const [code] = (await once(child, 'exit')) as [number | null];
  assert.equal(code, 2);
  assert.match(stderr, /CodecConfigError: .*JOBLEDGER_CODEC_KEYS/);
});

test('defect 9.8: anonymous access is off by default (401 on /decode and /encode), and on only through JOBLEDGER_CODEC_ANONYMOUS_ROLE=viewer', async (t) => {
  const encoded = await codec.encode([defaultPayloadConverter.toPayload(ORDER)]);
  const env = { JOBLEDGER_CODEC_KEYS: JSON.stringify(KEYS), JOBLEDGER_CODEC_TOKENS: JSON.stringify({ [VIEWER]: 'viewer', [AUDITOR]: 'auditor' }) };
  const configured = codecServerOptionsFromEnv(env);
  assert.equal(configured.anonymousRole, undefined);
  const closed = await startCodecServer(configured);
  t.after(() => closed.stop());
  for (const path of ['/decode', '/encode']) {
    const res = await post(closed, path, { payloads: encoded.map(toJson) });
    assert.equal(res.status, 401, path);
    assert.equal(res.headers.get('www-authenticate'), 'Bearer');
    assert.equal(((await res.json()) as { error: string }).error, 'unauthorized');
  }

  // Only `viewer` may be anonymous: `auditor` (or anything else) is a configuration error naming the setting.
  for (const value of ['auditor', 'yes', '']) {
    assert.throws(() => codecServerOptionsFromEnv({ ...env, JOBLEDGER_CODEC_ANONYMOUS_ROLE: value }), (err: unknown) => {
      assert.ok(err instanceof CodecConfigError, value);
      assert.deepEqual(err.issues.map((issue) => issue.path.join('.')), ['JOBLEDGER_CODEC_ANONYMOUS_ROLE'], value);
      return true;
    });
  }
  await assert.rejects(startCodecServer({ ...configured, anonymousRole: 'auditor' as 'viewer' }), CodecConfigError);

  // Turned on, a request without a token gets masked payloads; a wrong token is still 401.
  const open = await startCodecServer(
    codecServerOptionsFromEnv({ ...env, JOBLEDGER_CODEC_ANONYMOUS_ROLE: 'viewer', JOBLEDGER_CODEC_PII_PATHS: '[["customer","email"]]' }),
  );
  t.after(() => open.stop());
  const res = await post(open, '/decode', { payloads: encoded.map(toJson) });
  assert.equal(res.status, 200);
  const body = (await res.json()) as { payloads: JsonPayload[] };
  assert.deepEqual(defaultPayloadConverter.fromPayload(fromJson(body.payloads[0]!)), { ...ORDER, customer: { id: 'c-7', email: '***' } });
  assert.equal((await post(open, '/decode', { payloads: encoded.map(toJson) }, 'not-a-valid-token-at-all')).status, 401);
});

test('defect 9.8: /encode needs an auditor token: 401 without one (even with anonymousRole viewer), 403 for a viewer, 200 for an auditor', async (t) => {
  const server = await start(t, { anonymousRole: 'viewer' });
  const body = { payloads: [toJson(defaultPayloadConverter.toPayload(ORDER))] };
  for (const path of ['/encode', '/default/encode']) {
    const anonymous = await post(server, path, body);
    assert.equal(anonymous.status, 401, path);
    assert.equal(((await anonymous.json()) as { error: string }).error, 'unauthorized');

    const viewer = await post(server, path, body, VIEWER);
    assert.equal(viewer.status, 403, path);
    const refused = (await viewer.json()) as { error: string; message: string; payloads?: unknown };
    assert.equal(refused.error, 'forbidden');
    assert.match(refused.message, /auditor/);
    assert.equal(refused.payloads, undefined);

    const auditor = await post(server, path, body, AUDITOR);
    assert.equal(auditor.status, 200, path);
    const [encoded] = ((await auditor.json()) as { payloads: JsonPayload[] }).payloads;
    assert.ok(isEncrypted(fromJson(encoded!)));
  }
});
