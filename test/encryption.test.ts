/**
 * Payload encryption end to end on the dev server: with codec keys configured, the job's input, results
 * and failure messages are ciphertext in Temporal's history (as `temporal workflow show` prints it),
 * the worker still runs the job, and the codec server decodes by role: masked for a viewer, full for an
 * auditor, 401 without a token. The worker refuses clear-text input from a `temporal workflow start`
 * without the codec, and runs what the CLI encrypts through the codec server with an auditor token.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { decodeOptionalFailureToOptionalError, loadDataConverter } from '@temporalio/common/lib/internal-non-workflow';
import type { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { dataConverterOptions } from '../codec/codec';
import { JOB_WORKFLOW_TYPE } from '../common/constants';
import { parseKeyring } from '../codec/keys';
import { startCodecServer } from '../codec/server';
import { AttemptLog, sagaJob } from './fixtures/jobs';
import { startHarness, type RunningHarness } from './helpers/harness';
import { run } from './helpers/run';
import { resolveExecutable, startDevServer, unique } from './helpers/servers';
import { waitForCount } from './helpers/visibility';
import { jobOutcome } from '../client/outcome';

const SECRET = 'card-4242424242424242';
const keyring = parseKeyring({ current: 'k1', keys: { k1: randomBytes(32).toString('base64') } });
const tokens = { 'viewer-token-0123456789': 'viewer', 'auditor-token-0123456789': 'auditor' } as const;
let env: TestWorkflowEnvironment;
let h: RunningHarness;
let codec: { url: string; stop(): Promise<void> };

before(async () => {
  env = await startDevServer();
  h = await startHarness(env, [sagaJob(new AttemptLog())], { dataConverter: dataConverterOptions(keyring) });
  codec = await startCodecServer({ keyring, tokens, piiPaths: [['input', 'secret']] });
});
after(async () => {
  await h?.stop();
  await codec?.stop();
  await env?.teardown();
});

/** Runs the Temporal CLI against the test server. */
function temporalCli(args: string[]) {
  const cli = resolveExecutable('cli');
  assert.equal(cli.type, 'existing-path');
  return run(cli.type === 'existing-path' ? cli.path : '', [...args, '--address', env.address]);
}

async function show(jobId: string, codecArgs: string[] = []): Promise<string> {
  const r = await temporalCli(['workflow', 'show', '-w', jobId, '--output', 'json', ...codecArgs]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

/** `temporal workflow start` of a well-formed `test.saga` job, by hand (no jobledger client). */
function startByHand(id: string, codecArgs: string[] = []) {
  const args = { jobType: 'test.saga', input: { id, failures: 0, secret: SECRET }, idempotencyKey: id, submittedBy: 'cli-user' };
  return temporalCli([
    'workflow', 'start', '--type', JOB_WORKFLOW_TYPE, '--task-queue', h.taskQueue, '--workflow-id', `test.saga:${id}`,
    '--input', JSON.stringify(args), ...codecArgs,
  ]);
}

test('payloads and failure messages are ciphertext in history, and the job still runs', async () => {
  const { jobId } = await h.jobs.submit('test.saga', { id: unique('enc'), failures: 1, secret: SECRET });
  assert.equal(await waitForCount(env.client, `WorkflowId="${jobId}" AND JobStatus="DeadLettered"`, 1), 1, 'the worker ran the job to its failure');
  await h.jobs.act(jobId, { action: 'retry', operator: 'alice', reason: 'encrypted retry' });
  const result = await jobOutcome(h.client.workflow.getHandle(jobId));
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
  await jobOutcome(h.client.workflow.getHandle(jobId));
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

test('defect 9.8: with encryption on, the worker refuses a job started without the codec (UnencryptedPayloadError naming JOBLEDGER_CODEC_ALLOW_PLAINTEXT) and runs none of its steps', async () => {
  const id = unique('plain');
  const started = await startByHand(id);
  assert.equal(started.code, 0, started.stderr);
  const handle = h.client.workflow.getHandle(`test.saga:${id}`);
  try {
    let failed: temporal.api.history.v1.IHistoryEvent | undefined;
    let events: temporal.api.history.v1.IHistoryEvent[] = [];
    for (let i = 0; i < 100 && !failed; i++) {
      events = (await handle.fetchHistory()).events ?? [];
      failed = events.find((event) => event.workflowTaskFailedEventAttributes);
      if (!failed) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    assert.ok(failed, 'the workflow task failed');
    // The failure is itself encrypted: decode it as an operator with the keys would.
    const failure = failed.workflowTaskFailedEventAttributes!.failure!;
    const error = await decodeOptionalFailureToOptionalError(loadDataConverter(dataConverterOptions(keyring)), failure);
    assert.match(error?.message ?? '', /not encrypted \(encoding 'json\/plain'\).*JOBLEDGER_CODEC_ALLOW_PLAINTEXT=true/);
    assert.match(error?.stack ?? '', /^UnencryptedPayloadError: /);
    assert.ok(!events.some((event) => event.activityTaskScheduledEventAttributes), 'no step was scheduled');
    assert.ok(!events.some((event) => event.workflowTaskCompletedEventAttributes), 'the workflow code never completed a task');
  } finally {
    await handle.terminate('defect 9.8 test cleanup').catch(() => undefined); // already closed when the worker ran it
  }
});

test('defect 9.8: the Temporal CLI with --codec-endpoint and an auditor token starts a job the worker runs; a viewer token is refused and starts nothing', async () => {
  const endpoint = ['--codec-endpoint', codec.url];
  const viewerId = unique('cli-viewer');
  // The CLI retries a failed encode until its command timeout, so keep that short.
  const refused = await startByHand(viewerId, [...endpoint, '--codec-auth', 'Bearer viewer-token-0123456789', '--command-timeout', '3s']);
  assert.notEqual(refused.code, 0, 'the CLI fails when the codec server refuses to encode');
  await assert.rejects(h.client.workflow.getHandle(`test.saga:${viewerId}`).describe(), /not found/i);

  const id = unique('cli-auditor');
  const started = await startByHand(id, [...endpoint, '--codec-auth', 'Bearer auditor-token-0123456789']);
  assert.equal(started.code, 0, started.stderr);
  const result = await jobOutcome(h.client.workflow.getHandle(`test.saga:${id}`));
  assert.equal(result.status, 'Completed');
  const history = await show(`test.saga:${id}`);
  assert.ok(!history.includes(SECRET) && !history.includes(Buffer.from(SECRET).toString('base64').slice(0, 16)), 'the input is ciphertext');
});
