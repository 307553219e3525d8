/**
 * A ledger write that was waiting for the write lock when the file was deleted must not land in the
 * deleted file: the transaction checks the file again once it holds the lock. Found by chaos scenario C6
 * (a write that passed the check, then waited for BEGIN IMMEDIATE while the file was unlinked, committed to
 * the orphaned inode and reported success; restoring the ledger then lost it). Real processes: the writer
 * is a child process, the lock holder and the deletion are here.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { renameSync, writeFileSync, unlinkSync } from 'node:fs';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { openLedger } from '../ledger';
import { ROOT, tempDir } from './helpers/servers';

/** Starts a process holding the ledger open; on a line on stdin it appends one event and prints the outcome. */
function writer(path: string) {
  const code = `
    const { openLedger } = require(${JSON.stringify(join(ROOT, 'ledger'))});
    const ledger = openLedger(${JSON.stringify(path)});
    process.stdout.write('ready\\n');
    process.stdin.once('data', () => ledger.recordJobEvent('job-x', 'probe', {}).then(
      () => { process.stdout.write('written\\n'); process.exit(0); },
      (err) => { process.stdout.write(err.name + ': ' + err.message + '\\n'); process.exit(0); }));`;
  const child = spawn(process.execPath, ['--import', 'tsx', '-e', code], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    ready: async () => {
      for (let i = 0; i < 200 && !out.includes('ready'); i++) await new Promise((r) => setTimeout(r, 50));
      assert.ok(out.includes('ready'), 'the writer opened the ledger');
    },
    write: () => child.stdin.write('go\n'),
    outcome: async () => {
      await exited;
      return out.trim().split('\n').at(-1);
    },
  };
}

for (const how of ['deleted', 'replaced'] as const) {
  test(`a write waiting for the lock while the ledger is ${how} fails instead of landing in the old file`, async () => {
    const dir = tempDir();
    const path = join(dir, 'ledger.db');
    await openLedger(path).close();
    const proc = writer(path);
    await proc.ready();
    const holder = new Database(path);
    holder.exec('BEGIN IMMEDIATE');
    proc.write();
    await new Promise((r) => setTimeout(r, 800)); // the writer passed its first check and waits for the lock
    if (how === 'deleted') unlinkSync(path);
    else {
      writeFileSync(join(dir, 'other.db'), '');
      renameSync(join(dir, 'other.db'), path);
    }
    holder.exec('ROLLBACK');
    holder.close();
    const outcome = await proc.outcome();
    assert.match(outcome ?? '', new RegExp(`^LedgerUnavailableError: .*the file was ${how} after it was opened`));
  });
}
