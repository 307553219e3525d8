/**
 * RUNBOOK.md's commands run as written: every line of its code blocks (`$TEMPORAL_CLI workflow list …`,
 * `npx jobledger dlq list --json`, …) exits 0 against a dev server, in a shell that did only what the
 * RUNBOOK says first (`export TEMPORAL_CLI="$(scripts/resolve-temporal.sh cli)"`) and points at that server.
 * Placeholders get real values: `<jobId>` and `<parent job id>` a job started here, `<auditor token>` the
 * token of a codec server started here, which stands in for the one at `http://127.0.0.1:8081`.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { generateKey, parseKeyring } from '../codec/keys';
import { startCodecServer, type CodecServer } from '../codec/server';
import { run } from './helpers/run';
import { ROOT, startDevServer, tempDir, unique } from './helpers/servers';

const RUNBOOK = readFileSync(join(ROOT, 'RUNBOOK.md'), 'utf8');
const SETUP = 'export TEMPORAL_CLI="$(scripts/resolve-temporal.sh cli)"';
const AUDITOR = 'auditor-token-0123456789abcdef';

/** Every line of the RUNBOOK's code blocks, once, without its trailing `# comment`. */
const commands = [
  ...new Set(
    [...RUNBOOK.matchAll(/^```bash\n([\s\S]*?)^```$/gm)].flatMap(([, body]) =>
      (body ?? '')
        .split('\n')
        .map((l) => l.replace(/\s+#\s.*$/, '').trim())
        .filter((l) => l !== ''),
    ),
  ),
];

let env: TestWorkflowEnvironment | undefined;
let codec: CodecServer | undefined;
before(async () => {
  env = await startDevServer();
  codec = await startCodecServer({ keyring: parseKeyring({ current: 'k1', keys: { k1: generateKey() } }), tokens: { [AUDITOR]: 'auditor' } });
});
after(async () => {
  await codec?.stop();
  await env?.teardown();
});

test('the RUNBOOK says how to set TEMPORAL_CLI, and its code blocks hold only $TEMPORAL_CLI and npx jobledger commands', () => {
  assert.ok(RUNBOOK.includes(`\`${SETUP}\``));
  assert.ok(commands.length >= 20, `${commands.length} commands`);
  assert.deepEqual(commands.filter((c) => !/^(\$TEMPORAL_CLI|npx jobledger) /.test(c)), []);
});

test("every command of the RUNBOOK's code blocks exits 0 as written", async () => {
  // A job for the commands that name one (a workflow no worker runs: it stays open).
  const jobId = unique('runbook.probe:p');
  await env!.client.workflow.start('runbook.probe', { workflowId: jobId, taskQueue: unique('runbook'), args: [{ input: {} }] });
  const filled = commands.map((c) =>
    c
      .replaceAll('<jobId>', jobId)
      .replaceAll('<parent job id>', jobId)
      .replaceAll('<auditor token>', AUDITOR)
      .replaceAll('http://127.0.0.1:8081', codec!.url),
  );
  assert.deepEqual(filled.filter((c) => /<[^>]+>/.test(c.replaceAll('>/dev/null', ''))), [], 'every placeholder has a value');
  const shellEnv = { TEMPORAL_CLI: undefined, TEMPORAL_ADDRESS: env!.address, JOBLEDGER_LEDGER_PATH: join(tempDir(), 'ledger.db'), LOG_LEVEL: 'warn' };
  // One shell for all of them (as an operator's), so the resolver and npx start once each.
  const script = [SETUP, ...filled.map((c, i) => `${c} >/dev/null || echo "${i} exited $?"`)].join('\n');
  const r = await run('bash', ['-c', script], shellEnv, 600_000);
  assert.equal(r.code, 0, r.stderr);
  const failed = r.stdout.split('\n').filter(Boolean).map((l) => `${filled[Number(l.split(' ')[0])]}: ${l}`);
  assert.deepEqual(failed, [], r.stderr);
});
