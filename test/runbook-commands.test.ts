/**
 * RUNBOOK.md's commands run as written: every line of its code blocks (`$TEMPORAL_CLI workflow list …`,
 * `npx jobledger dlq list --json`) exits 0 against a dev server, in a shell that did only what the RUNBOOK
 * says first (`export TEMPORAL_CLI="$(scripts/resolve-temporal.sh cli)"`) and points at that server.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { run } from './helpers/run';
import { ROOT, startDevServer, tempDir } from './helpers/servers';

const RUNBOOK = readFileSync(join(ROOT, 'RUNBOOK.md'), 'utf8');
const SETUP = 'export TEMPORAL_CLI="$(scripts/resolve-temporal.sh cli)"';

/** Every line of the RUNBOOK's code blocks, once. */
const commands = [...new Set([...RUNBOOK.matchAll(/^```bash\n([\s\S]*?)^```$/gm)].flatMap(([, body]) => (body ?? '').split('\n').filter((l) => l.trim() !== '')))];

let env: TestWorkflowEnvironment | undefined;
before(async () => {
  env = await startDevServer();
});
after(async () => {
  await env?.teardown();
});

test('the RUNBOOK says how to set TEMPORAL_CLI, and its code blocks hold only $TEMPORAL_CLI and npx jobledger commands', () => {
  assert.ok(RUNBOOK.includes(`\`${SETUP}\``));
  assert.ok(commands.length >= 20, `${commands.length} commands`);
  assert.deepEqual(commands.filter((c) => !/^(\$TEMPORAL_CLI|npx jobledger) /.test(c)), []);
});

test('every command of the RUNBOOK\'s code blocks exits 0 as written', async () => {
  const shellEnv = { TEMPORAL_CLI: undefined, TEMPORAL_ADDRESS: env!.address, JOBLEDGER_LEDGER_PATH: join(tempDir(), 'ledger.db'), LOG_LEVEL: 'warn' };
  // One shell for all of them (as an operator's), so the resolver and npx start once each.
  const script = [SETUP, ...commands.map((c, i) => `${c} >/dev/null || echo "${i} exited $?"`)].join('\n');
  const r = await run('bash', ['-c', script], shellEnv, 600_000);
  assert.equal(r.code, 0, r.stderr);
  const failed = r.stdout.split('\n').filter(Boolean).map((l) => `${commands[Number(l.split(' ')[0])]}: ${l}`);
  assert.deepEqual(failed, [], r.stderr);
});
