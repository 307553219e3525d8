/**
 * Payload encryption end to end on the dev server: with codec keys configured, the job's input, results
 * and failure messages are ciphertext in Temporal's history (as `temporal workflow show` prints it),
 * the worker still runs the job, and the codec server decodes by role: masked for a viewer, full for an
 * auditor, 401 without a token.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { dataConverterOptions } from '../codec/codec';
import { parseKeyring } from '../codec/keys';
import { startCodecServer } from '../codec/server';
import type { JobDefinition } from '../jobs/define';
import { AttemptLog, sagaJob } from './fixtures/jobs';
import { startHarness, type RunningHarness } from './helpers/harness';
import { run } from './helpers/run';
import { resolveExecutable, startDevServer, unique } from './helpers/servers';
import { waitForCount } from './helpers/visibility';

const SECRET = 'card-4242424242424242';
const keyring = parseKeyring({ current: 'k1', keys: { k1: randomBytes(32).toString('base64') } });
const tokens = { 'viewer-token-0123456789': 'viewer', 'auditor-token-0123456789': 'auditor' } as const;
let env: TestWorkflowEnvironment;
let h: RunningHarness;
let codec: { url: string; stop(): Promise<void> };

before(async () => {
  env = await startDevServer();
  h = await startHarness(env, [sagaJob(new AttemptLog()) as JobDefinition], { dataConverter: dataConverterOptions(keyring) });
  codec = await startCodecServer({ keyring, tokens, piiPaths: [['input', 'secret']] });
});
after(async () => {
  await h?.stop();
  await codec?.stop();
  await env?.teardown();
});

async function show(jobId: string, codecArgs: string[] = []): Promise<string> {
  const cli = resolveExecutable('cli');
  assert.equal(cli.type, 'existing-path');
  const r = await run(cli.type === 'existing-path' ? cli.path : '', ['workflow', 'show', '--address', env.address, '-w', jobId, '--output', 'json', ...codecArgs]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

test('payloads and failure messages are ciphertext in history, and the job still runs', async () => {
  const { jobId } = await h.jobs.submit('test.saga', { id: unique('enc'), failures: 1, secret: SECRET });
  assert.equal(await waitForCount(env.client, `WorkflowId="${jobId}" AND JobStatus="DeadLettered"`, 1), 1, 'the worker ran the job to its failure');
  await h.jobs.act(jobId, { action: 'retry', operator: 'alice', reason: 'encrypted retry' });
  const result = await h.client.workflow.getHandle(jobId).result();
  assert.equal(result.status, 'Completed');
  const history = await show(jobId);
  const decoded = Buffer.from(history.match(/"data":\s*"([A-Za-z0-9+/=]+)"/g)?.join('') ?? '', 'utf8').toString();
  for (const text of [history, decoded]) {
    assert.ok(!text.includes(SECRET), 'the secret is not in the history');
    assert.ok(!text.includes(Buffer.from(SECRET).toString('base64').slice(0, 16)), 'nor its base64');
  }
  assert.ok(!history.includes('confirmation service exploded'), 'failure messages are encoded');
  assert.match(history, /YmluYXJ5L2VuY3J5cHRlZA==/, 'payload encoding is binary/encrypted');
});

test('the codec server decodes by role: 401 without a token, masked for a viewer, full for an auditor', async () => {
  const { jobId } = await h.jobs.submit('test.saga', { id: unique('roles'), failures: 0, secret: SECRET });
  await h.client.workflow.getHandle(jobId).result();
  const history = JSON.parse(await show(jobId));
  const started = history.events.find((e: { workflowExecutionStartedEventAttributes?: unknown }) => e.workflowExecutionStartedEventAttributes);
  const payloads = started.workflowExecutionStartedEventAttributes.input.payloads;
  const decode = (token?: string) =>
    fetch(`${codec.url}/decode`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) },
      body: JSON.stringify({ payloads }),
    });
  assert.equal((await decode()).status, 401);
  assert.equal((await decode('wrong-token-0123456789')).status, 401);
  const text = async (res: Response) => {
    const body = (await res.json()) as { payloads: { data: string }[] };
    assert.equal(res.status, 200, JSON.stringify(body));
    return Buffer.from(body.payloads[0]!.data, 'base64').toString('utf8');
  };
  const viewer = await text(await decode('viewer-token-0123456789'));
  assert.ok(!viewer.includes(SECRET));
  assert.equal(JSON.parse(viewer).input.secret, '***');
  const auditor = await text(await decode('auditor-token-0123456789'));
  assert.equal(JSON.parse(auditor).input.secret, SECRET);
});
