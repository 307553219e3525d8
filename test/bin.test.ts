/**
 * `npx jobledger …`: package.json's `bin` runs client/cli.ts (client/bin.cjs), from the top of the checkout
 * and from a folder inside it, with the same output and exit codes as `npm run -s jobledger --`; its default
 * jobs module does not depend on the folder, and `JOBLEDGER_JOBS_MODULE` still chooses another.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { cli, type RunResult } from './helpers/run';
import { freePort, ROOT, tempDir } from './helpers/servers';

/** `npx jobledger <args>` in `cwd`, with `env` over this process's environment. */
function npx(cwd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile('npx', ['jobledger', ...args], { cwd, env: { ...process.env, ...env }, timeout: 120_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

const SUBDIR = join(ROOT, 'test/fixtures');

test('package.json names client/bin.cjs as the jobledger command', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin?: Record<string, string> };
  assert.deepEqual(pkg.bin, { jobledger: 'client/bin.cjs' });
  assert.match(readFileSync(join(ROOT, 'client/bin.cjs'), 'utf8'), /^#!\/usr\/bin\/env node\n/);
});

test('npx jobledger --help prints the CLI help, from the top of the checkout and from a folder inside it', async () => {
  const expected = await cli(['--help'], {});
  assert.equal(expected.code, 0);
  for (const cwd of [ROOT, SUBDIR]) {
    const r = await npx(cwd, ['--help']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, expected.stdout, cwd);
  }
});

test('npx jobledger finds the same default jobs module from any folder, and JOBLEDGER_JOBS_MODULE picks another', async () => {
  // Unset: the default applies.
  const atTop = await npx(ROOT, ['types', '--json'], { JOBLEDGER_JOBS_MODULE: undefined });
  const inside = await npx(SUBDIR, ['types', '--json'], { JOBLEDGER_JOBS_MODULE: undefined });
  assert.equal(atTop.code, 0, atTop.stderr);
  assert.equal(inside.code, 0, inside.stderr);
  assert.deepEqual(JSON.parse(inside.stdout), JSON.parse(atTop.stdout));
  assert.deepEqual(JSON.parse(atTop.stdout), JSON.parse((await cli(['types', '--json'], {})).stdout), 'the same as npm run -s jobledger');
  const chosen = await npx(SUBDIR, ['types', '--json'], { JOBLEDGER_JOBS_MODULE: join(ROOT, 'test/fixtures/pii-jobs.ts') });
  assert.deepEqual(JSON.parse(chosen.stdout), [{ type: 'test.pii-order', version: 1 }, { type: 'test.pii-contact', version: 1 }]);
});

test('npx jobledger keeps the exit codes: a missing --reason is one plain line and exit 2, before connecting', async () => {
  const env = { TEMPORAL_ADDRESS: `127.0.0.1:${await freePort()}`, JOBLEDGER_LEDGER_PATH: join(tempDir(), 'ledger.db') };
  const r = await npx(SUBDIR, ['dlq', 'abandon', 'invoice.send:inv-1', '--operator', 'alice'], env);
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr.split('\n')[0], 'error: --reason is required');
});
