/**
 * `jobledger approve|reject`, `dlq <action>`, `cancel|terminate` and `schedule pause|unpause` check the
 * operator's identity and reason before connecting, while Temporal is unreachable (a closed port): a missing
 * `--operator` or `--reason` exits 2 with one line naming the flags (`--reason is required`), and a blank
 * operator or a reason under 3 characters exits 2 with zod's issues. The approval itself, a job waiting in
 * `job.approval`, is tested with the workflow toolkit.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { cli } from './helpers/run';
import { freePort, tempDir } from './helpers/servers';

let env: NodeJS.ProcessEnv;

before(async () => {
  env = { TEMPORAL_ADDRESS: `127.0.0.1:${await freePort()}`, JOBLEDGER_LEDGER_PATH: join(tempDir(), 'ledger.db'), LOG_LEVEL: 'warn' };
});

const JOB = 'order.fulfill:o-approval-1';

/** Runs the command with `--json` and returns its exit code and the JSON error it printed. */
async function refused(args: string[]): Promise<{ code: number; error: { error: string; message: string; issues?: { path: (string | number)[] }[] } }> {
  const r = await cli([...args, '--json'], env);
  assert.equal(r.stdout, '', 'nothing is printed as a result');
  assert.doesNotMatch(r.stderr, /connect/i, 'refused before connecting');
  return { code: r.code, error: JSON.parse(r.stderr.trim().split('\n').at(-1)!) };
}

for (const decision of ['approve', 'reject']) {
  test(`${decision}: a missing --operator or --reason exits 2 with one line naming the flags`, async () => {
    for (const [args, line] of [
      [['--reason', 'checked the order'], '--operator is required'],
      [['--operator', 'alice'], '--reason is required'],
      [['--operator', 'alice', '--reason', ''], '--reason is required'],
      [[], '--operator and --reason are required'],
    ] as const) {
      const r = await cli([decision, JOB, ...args], env);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stdout, '', 'nothing is printed as a result');
      const [first, second] = r.stderr.split('\n');
      assert.equal(first, `error: ${line}`, JSON.stringify(args));
      assert.equal(second, `usage: jobledger ${decision} <jobId> --operator ID --reason TEXT [--json]`, 'then the synopsis, no zod dump');
      assert.doesNotMatch(r.stderr, /^\s*[[{]/m, 'no JSON in the text output');
    }
  });

  test(`${decision}: a blank operator or a reason under 3 characters exits 2 with the zod issues`, async () => {
    for (const [args, paths] of [
      [['--operator', 'alice', '--reason', 'ok'], ['reason']],
      [['--operator', '  ', '--reason', '  no  '], ['operator', 'reason']],
    ] as const) {
      const { code, error } = await refused([decision, JOB, ...args]);
      assert.equal(code, 2, JSON.stringify(error));
      assert.equal(error.error, 'OperatorActionRejectedError');
      assert.deepEqual(error.issues?.map((i) => i.path.join('.')), paths, JSON.stringify(args));
    }
  });
}

test('approve without a job id, or with an unknown option, is a usage error (exit 2) that shows its synopsis', async () => {
  const missing = await cli(['approve', '--operator', 'alice', '--reason', 'checked the order'], env);
  assert.equal(missing.code, 2, missing.stderr);
  assert.match(missing.stderr, /error: missing <jobId>\nusage: jobledger approve <jobId> --operator ID --reason TEXT \[--json\]/);
  const unknown = await refused(['reject', JOB, '--operator', 'alice', '--reason', 'too expensive', '--force']);
  assert.equal(unknown.code, 2);
  assert.equal(unknown.error.error, 'UsageError');
});

test('dlq actions, cancel, terminate and schedule pause|unpause name a missing --reason in one line before connecting', async () => {
  for (const command of [['dlq', 'retry', JOB], ['dlq', 'skip', JOB], ['dlq', 'compensate', JOB], ['dlq', 'abandon', JOB], ['cancel', JOB], ['terminate', JOB], ['schedule', 'pause', 'nightly'], ['schedule', 'unpause', 'nightly']]) {
    const { code, error } = await refused([...command, '--operator', 'alice']);
    assert.equal(code, 2, JSON.stringify(error));
    assert.equal(error.error, 'UsageError', command.join(' '));
    assert.equal(error.message, '--reason is required', command.join(' '));
  }
});

test('a well-formed approve passes the local check and only then tries to connect (exit 1 on a closed port)', async () => {
  const r = await cli(['approve', JOB, '--operator', 'alice', '--reason', 'checked the order', '--json'], env);
  assert.equal(r.code, 1, r.stderr);
  assert.match(JSON.parse(r.stderr.trim().split('\n').at(-1)!).message, /connect/i);
});
