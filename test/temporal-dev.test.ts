/**
 * `temporal-dev.sh` on its own ports and state directory: `up` twice leaves one server, the nine custom
 * search attributes are registered, and a job started before `down` is still listed after `up`.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { JOB_WORKFLOW_TYPE } from '../common/constants';
import { ALL_SEARCH_ATTRIBUTES, SA } from '../common/searchAttributes';
import { run } from './helpers/run';
import { freePort, tempDir, unique } from './helpers/servers';

let settings: NodeJS.ProcessEnv;
let cliPath: string;
const dev = (...args: string[]) => run('./temporal-dev.sh', args, settings);

before(async () => {
  settings = {
    TEMPORAL_PORT: String(await freePort()),
    TEMPORAL_UI_PORT: String(await freePort()),
    TEMPORAL_STATE_DIR: tempDir('jobledger-dev-'),
    TEMPORAL_RETENTION: '48h',
    TEMPORAL_CODEC_PORT: String(await freePort()),
  };
  const env = await dev('env');
  cliPath = /export TEMPORAL_CLI=(.+)/.exec(env.stdout)![1]!;
});
after(async () => {
  await dev('down');
});

async function temporal(args: string[]) {
  const r = await run(cliPath, [...args, '--address', `127.0.0.1:${settings.TEMPORAL_PORT}`]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

test('up twice leaves one server, and env prints the connection settings', async () => {
  const first = await dev('up');
  assert.equal(first.code, 0, first.stderr);
  const pid = /pid (\d+)/.exec(first.stdout)![1];
  const second = await dev('up');
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stdout, new RegExp(`already running \\(pid ${pid}\\)`));
  const status = await dev('status');
  assert.match(status.stdout, new RegExp(`running \\(pid ${pid}\\)`));
  const env = await dev('env');
  for (const name of ['TEMPORAL_ADDRESS', 'TEMPORAL_NAMESPACE', 'TEMPORAL_CLI', 'TEMPORAL_UI_URL']) {
    assert.match(env.stdout, new RegExp(`^export ${name}=.+$`, 'm'));
  }
});

test('the nine custom search attributes and the retention are set', async () => {
  const list = await temporal(['operator', 'search-attribute', 'list', '--output', 'json']);
  const text = JSON.stringify(JSON.parse(list));
  for (const key of ALL_SEARCH_ATTRIBUTES) assert.ok(text.includes(`"${key.name}"`), `${key.name} registered`);
  assert.equal(ALL_SEARCH_ATTRIBUTES.length, 9);
  const ns = await temporal(['operator', 'namespace', 'describe', '-n', 'default', '--output', 'json']);
  assert.match(ns, /"workflowExecutionRetentionTtl":\s*"172800s"/);
});

test('a job started before down is still listed after up', async () => {
  const connection = await Connection.connect({ address: `127.0.0.1:${settings.TEMPORAL_PORT}` });
  const workflowId = `greeting.send:${unique('persist')}`;
  try {
    await new Client({ connection }).workflow.start(JOB_WORKFLOW_TYPE, {
      workflowId,
      taskQueue: unique('no-worker'),
      args: [{ jobType: 'greeting.send', input: { recipientId: 'p' }, submittedBy: 'persist-test' }],
      typedSearchAttributes: [{ key: SA.JobType, value: 'greeting.send' }],
    });
  } finally {
    await connection.close();
  }
  assert.equal((await dev('down')).code, 0);
  assert.notEqual((await dev('status')).code, 0);
  assert.equal((await dev('up')).code, 0);
  let listed = '';
  for (let i = 0; i < 30 && !listed.includes(workflowId); i++) {
    listed = await temporal(['workflow', 'list', '--query', `JobType="greeting.send"`]);
    if (!listed.includes(workflowId)) await new Promise((r) => setTimeout(r, 300));
  }
  assert.ok(listed.includes(workflowId), `listed after restart:\n${listed}`);
});

test('up also runs the codec server; env leaves encryption off, env --encrypted exports the keys; down stops both', async () => {
  const env = await dev('env');
  // Plain env must not turn encryption on: a worker started without the eval would then fail every job (issue 14).
  assert.doesNotMatch(env.stdout, /JOBLEDGER_CODEC_KEYS/);
  const encrypted = await dev('env', '--encrypted');
  assert.match(encrypted.stdout, /^export JOBLEDGER_CODEC_KEYS='\{"current":"k1","keys":\{"k1":"[A-Za-z0-9+/=]{44}"\}\}'$/m);
  assert.match(env.stdout, new RegExp(`^export JOBLEDGER_CODEC_ENDPOINT=http://127.0.0.1:${settings.TEMPORAL_CODEC_PORT}$`, 'm'));
  const codecUrl = `http://127.0.0.1:${settings.TEMPORAL_CODEC_PORT}`;
  const anonymous = await fetch(`${codecUrl}/decode`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"payloads":[]}' });
  assert.equal(anonymous.status, 200, 'the Web UI (no token) gets the viewer role');
  const wrong = await fetch(`${codecUrl}/decode`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer nope-nope-nope-nope' }, body: '{"payloads":[]}' });
  assert.equal(wrong.status, 401);
  const down = await dev('down');
  assert.match(down.stdout, /Codec server stopped/);
  await assert.rejects(fetch(`${codecUrl}/decode`, { method: 'POST', body: '{}' }));
});
