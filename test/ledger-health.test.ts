/**
 * The ledger as a dependency, without Temporal: opening a current ledger never waits for another
 * process's write lock; a file deleted or replaced under an open ledger, or one that is not a usable
 * SQLite file, gives a LedgerUnavailableError naming the path, which the step taxonomy classifies as a
 * transient DependencyUnavailable.
 */
import assert from 'node:assert/strict';
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { classify, toApplicationFailure } from '../activities/failures';
import { ErrorClass } from '../common/errors';
import { LedgerUnavailableError, openLedger, type Ledger } from '../ledger';
import { tempDir } from './helpers/servers';

const owner = { identity: 'worker-a', attempt: 1 };

function claim(ledger: Ledger, step: string) {
  return ledger.claimStep({ key: `job-1/${step}`, jobId: 'job-1', step, owner, leaseMs: 60_000, requestHash: 'h' });
}

function assertUnavailable(err: unknown, path: string, reason: RegExp): true {
  assert.ok(err instanceof LedgerUnavailableError, `expected LedgerUnavailableError, got ${String(err)}`);
  assert.equal(err.path, path);
  assert.ok(err.message.includes(path), err.message);
  assert.match(err.reason, reason);
  return true;
}

test('defect 9.6: opening a current ledger and reading it do not need the write lock another connection holds', async (t) => {
  const path = join(tempDir(), 'ledger.db');
  await openLedger(path).close(); // schema created
  const holder = new Database(path);
  holder.prepare('BEGIN IMMEDIATE').run();
  t.after(() => {
    holder.prepare('ROLLBACK').run();
    holder.close();
  });
  // A short busy timeout: before the fix, the open migrated under BEGIN IMMEDIATE and failed here.
  const ledger = openLedger(path, { busyTimeoutMs: 200 });
  t.after(() => ledger.close());
  assert.deepEqual(await ledger.listJobs(), []);
  assert.equal(await ledger.findJob('greeting.send:k'), undefined);
});

test('defect 9.6: a step claim on a deleted ledger file fails with LedgerUnavailableError, classified DependencyUnavailable', async (t) => {
  const path = join(tempDir(), 'ledger.db');
  const ledger = openLedger(path);
  t.after(() => ledger.close());
  assert.equal((await claim(ledger, 'compose')).kind, 'claimed');
  for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true });

  const err = await claim(ledger, 'deliver').catch((e: unknown) => e);
  assertUnavailable(err, path, /deleted/);
  await assert.rejects(ledger.checkHealth(), (e) => assertUnavailable(e, path, /deleted/));
  assert.deepEqual(classify(err), { errorClass: ErrorClass.DependencyUnavailable, dependency: 'ledger' });
  const failure = toApplicationFailure(err, { attempt: 1 });
  assert.equal(failure.type, ErrorClass.DependencyUnavailable);
  assert.equal(failure.nonRetryable, false);
});

test('defect 9.6: a ledger file replaced under an open ledger fails its health check and every operation', async (t) => {
  const dir = tempDir();
  const path = join(dir, 'ledger.db');
  const ledger = openLedger(path);
  t.after(() => ledger.close());
  await ledger.checkHealth();
  await openLedger(join(dir, 'other.db')).close();
  renameSync(join(dir, 'other.db'), path); // a valid ledger, but another file (inode)

  await assert.rejects(ledger.checkHealth(), (e) => assertUnavailable(e, path, /replaced/));
  await assert.rejects(claim(ledger, 'compose'), (e) => assertUnavailable(e, path, /replaced/));
  await assert.rejects(ledger.listJobs(), (e) => assertUnavailable(e, path, /replaced/));
});

test('defect 9.6: a ledger that is not a SQLite file or is a directory gives LedgerUnavailableError naming the path, at open and at first use', async () => {
  const dir = tempDir();
  const text = join(dir, 'notes.db');
  writeFileSync(text, 'this is a text file, not a SQLite database; '.repeat(20));
  const directory = join(dir, 'a-directory.db');
  mkdirSync(directory);
  for (const [path, reason] of [[text, /not a database/], [directory, /unable to open/]] as const) {
    assert.throws(() => openLedger(path), (e) => assertUnavailable(e, path, reason));
    const lazy = openLedger(path, { lazy: true }); // opens nothing yet
    await assert.rejects(lazy.findJob('greeting.send:k'), (e) => assertUnavailable(e, path, reason));
    await assert.rejects(claim(lazy, 'compose'), (e) => assertUnavailable(e, path, reason));
    await lazy.close();
  }
});

/** Runs `fn` on a fresh ledger while another connection holds its write lock; releases and closes both after. */
async function whileLocked(busyTimeoutMs: number, fn: (ledger: Ledger, holder: Database.Database, path: string) => Promise<void>): Promise<void> {
  const path = join(tempDir(), 'ledger.db');
  const ledger = openLedger(path, { busyTimeoutMs });
  await ledger.recordJobEvent('job-before', 'ledger.opened', {});
  const holder = new Database(path);
  holder.exec('BEGIN IMMEDIATE');
  try {
    await fn(ledger, holder, path);
  } finally {
    if (holder.inTransaction) holder.exec('ROLLBACK');
    holder.close();
    await ledger.close();
  }
}

test("defect 9.6: a write waiting for another connection's lock leaves the event loop free: a timer in this process releases the lock and the write goes through", async () => {
  await whileLocked(3_000, async (ledger, holder) => {
    // With a synchronous lock wait the thread would sit in SQLite for the whole 3 s: this timer could not
    // run, the lock would never be released, and the write would fail as busy.
    setTimeout(() => holder.exec('ROLLBACK'), 200);
    const seq = await claim(ledger, 'after-lock').then(() => ledger.recordJobEvent('job-after', 'written.after.lock', {}));
    assert.ok(seq > 0);
    assert.equal((await ledger.events({ jobId: 'job-after' })).length, 1);
  });
});

test('defect 9.6: a lock held longer than busyTimeoutMs still fails the write with LedgerUnavailableError naming the path', async () => {
  await whileLocked(300, async (ledger, _holder, path) => {
    await assert.rejects(ledger.recordJobEvent('job-locked', 'never.written', {}), (err: unknown) => assertUnavailable(err, path, /locked|busy/i));
  });
});
