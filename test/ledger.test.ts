/**
 * Tests of the durable ledger, run once over SQLite and once over PostgreSQL (a throwaway cluster started
 * once for this file): step claims, leases, takeovers, completion with a local effect, request-hash
 * conflicts, compare-and-set races between connections and between OS processes, the append-only event
 * log, migrations, and job dedupe records. Each test uses its own store (a SQLite file, a PostgreSQL
 * database) and its own keys; time is driven by an injected clock. SQLite-only: the WAL journal mode.
 */
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { runScriptJson } from './helpers/run';
import { jobIdFor, JobStatus } from '../common/constants';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import {
  Ledger,
  LeaseLostError,
  LedgerVersionConflictError,
  openLedgerBackend,
  StepInProgressError,
  StepInputConflictError,
  StepState,
  openLedger,
  stepKey,
  type ClaimStepInput,
  type NewJob,
  type StepRecord,
} from '../ledger';
import { startPostgres, type RunningPostgres } from './helpers/postgres';

const REPO_ROOT = resolve(__dirname, '..');
const START = 1_700_000_000_000;

/** A fresh temp directory, removed when the test ends. */
function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'ledger-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A ledger store under test: how to get a fresh empty one, and raw SQL on it that bypasses the ledger. */
interface Backend {
  name: 'sqlite' | 'postgres';
  /** A new, empty store: a SQLite path (`file` names it inside a fresh temp dir) or a new PostgreSQL database's URL. */
  target(t: TestContext, file?: string): Promise<string>;
  /** Runs one statement directly on the store; its rows. */
  raw(target: string, sql: string): Promise<Record<string, unknown>[]>;
}

let postgres: RunningPostgres | undefined;
before(async () => {
  postgres = await startPostgres();
});
after(async () => {
  await postgres?.stop();
});

const BACKENDS: Backend[] = [
  {
    name: 'sqlite',
    target: async (t, file = 'ledger.db') => join(tempDir(t), file),
    raw: async (path, sql) => {
      const db = new Database(path);
      try {
        const stmt = db.prepare(sql);
        return stmt.reader ? (stmt.all() as Record<string, unknown>[]) : (stmt.run(), []);
      } finally {
        db.close();
      }
    },
  },
  {
    name: 'postgres',
    target: async () => {
      if (!postgres) throw new Error('PostgreSQL did not start');
      return postgres.createDatabase();
    },
    raw: async (url, sql) => {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        return (await client.query(sql)).rows;
      } finally {
        await client.end();
      }
    },
  },
];

/** A ledger on its own fresh store with a manual clock starting at START. */
async function setup(t: TestContext, backend: Backend) {
  const target = await backend.target(t);
  const clock = { t: START, now: () => clock.t, advance: (ms: number) => (clock.t += ms) };
  const ledger = openLedger(target, { now: clock.now });
  t.after(() => ledger.close());
  return { target, clock, ledger };
}

const workerA = { identity: 'worker-a', attempt: 1 };
const workerB = { identity: 'worker-b', attempt: 1 };

function claimInput(jobId: string, step: string, overrides: Partial<ClaimStepInput> = {}): ClaimStepInput {
  return { key: stepKey(jobId, step), jobId, step, owner: workerA, leaseMs: 30_000, requestHash: 'hash-1', ...overrides };
}

function newJob(jobId: string, idempotencyKey: string, overrides: Partial<NewJob> = {}): NewJob {
  return {
    jobId,
    jobType: 'invoice',
    idempotencyKey,
    inputHash: 'input-1',
    submittedBy: 'tester',
    definitionVersion: 'v1',
    dedupeWindowMs: 60_000,
    ...overrides,
  };
}

test('stepKey builds job/step and job/step#index keys', () => {
  assert.equal(stepKey('job-1', 'charge'), 'job-1/charge');
  assert.equal(stepKey('job-1', 'charge#2'), 'job-1/charge#2');
  assert.equal(jobIdFor('invoice', 'k-1'), 'invoice:k-1');
});

/** A child process that opens the ledger, waits for a common start instant, claims one key and prints the outcome. */
const CHILD_SCRIPT = `
const { openLedger } = require(${JSON.stringify(join(REPO_ROOT, 'ledger', 'index.ts'))});
const [path, identity, startAt] = process.argv.slice(1);
(async () => {
  const ledger = openLedger(path);
  while (Date.now() < Number(startAt)) {}
  let outcome;
  try {
    const r = await ledger.claimStep({ key: 'job-proc/charge', jobId: 'job-proc', step: 'charge',
      owner: { identity, attempt: 1 }, leaseMs: 60000, requestHash: 'h' });
    outcome = r.kind;
  } catch (err) {
    outcome = err.name;
  }
  await ledger.close();
  process.stdout.write(JSON.stringify({ identity, outcome }));
})();
`;

function runChild(path: string, identity: string, startAt: number): Promise<{ identity: string; outcome: string }> {
  return runScriptJson(CHILD_SCRIPT, [path, identity, String(startAt)]);
}

for (const backend of BACKENDS) {
  describe(backend.name, () => {
    test('first claim inserts an IN_PROGRESS record with a lease and a step.claimed event', async (t) => {
      const { ledger } = await setup(t, backend);
      const out = await ledger.claimStep(claimInput('job-first', 'charge'));
      assert.equal(out.kind, 'claimed');
      assert.ok(out.kind === 'claimed');
      assert.equal(out.takeover, false);
      assert.equal(out.record.state, StepState.IN_PROGRESS);
      assert.equal(out.record.owner, 'worker-a');
      assert.equal(out.record.attempt, 1);
      assert.equal(out.record.leaseExpiresAt, START + 30_000);
      assert.equal(out.record.version, 1);

      const stored = await ledger.getStep('job-first/charge');
      assert.deepEqual(stored, out.record);
      const events = await ledger.events({ jobId: 'job-first' });
      assert.deepEqual(events.map((e) => e.kind), ['step.claimed']);
      assert.equal(events[0]?.stepKey, 'job-first/charge');
    });

    test('a claim of a completed step returns the stored result and does not re-run it', async (t) => {
      const { ledger } = await setup(t, backend);
      const input = claimInput('job-replay', 'charge');
      await ledger.claimStep(input);
      await ledger.completeStep({ key: input.key, owner: workerA, result: { chargeId: 'ch_1', amount: 42 } });

      let sideEffects = 0;
      const again = await ledger.claimStep({ ...input, owner: { identity: 'worker-b', attempt: 2 } });
      if (again.kind === 'claimed') sideEffects++;
      assert.equal(again.kind, 'completed');
      assert.equal(sideEffects, 0);
      assert.ok(again.kind === 'completed');
      assert.deepEqual(again.result, { chargeId: 'ch_1', amount: 42 });

      const step = await ledger.getStep(input.key);
      assert.equal(step?.state, StepState.COMPLETED);
      assert.equal(step?.owner, 'worker-a', 'a replay does not change the owner');
      const kinds = (await ledger.events({ jobId: 'job-replay' })).map((e) => e.kind);
      assert.deepEqual(kinds, ['step.claimed', 'step.completed', 'step.replayed']);
    });

    test('a claim while another owner holds a live lease throws a retryable StepInProgressError', async (t) => {
      const { ledger, clock } = await setup(t, backend);
      const input = claimInput('job-busy', 'charge');
      await ledger.claimStep(input);
      clock.advance(29_999);

      const err = await ledger.claimStep({ ...input, owner: workerB }).catch((e: unknown) => e);
      assert.ok(err instanceof StepInProgressError);
      assert.equal(err.name, 'StepInProgressError');
      assert.equal(err.retryable, true);
      assert.equal(err.key, 'job-busy/charge');
      assert.deepEqual(err.currentOwner, workerA);
      assert.equal(err.leaseExpiresAt, START + 30_000);

      // A different attempt of the same worker identity is a different owner too.
      await assert.rejects(ledger.claimStep({ ...input, owner: { identity: 'worker-a', attempt: 2 } }), StepInProgressError);
      assert.equal((await ledger.getStep(input.key))?.owner, 'worker-a');
    });

    test('after the lease expires another owner takes the step over', async (t) => {
      const { ledger, clock } = await setup(t, backend);
      const input = claimInput('job-takeover', 'charge');
      await ledger.claimStep(input);
      clock.advance(30_001);

      const out = await ledger.claimStep({ ...input, owner: workerB });
      assert.ok(out.kind === 'claimed');
      assert.equal(out.takeover, true);
      assert.equal(out.record.owner, 'worker-b');
      assert.equal(out.record.version, 2);
      assert.equal(out.record.leaseExpiresAt, clock.now() + 30_000);

      const takeover = (await ledger.events({ jobId: 'job-takeover' })).find((e) => e.kind === 'step.takeover');
      assert.ok(takeover, 'a step.takeover event is recorded');
      assert.deepEqual((takeover.data as { previous: { owner: unknown } }).previous.owner, workerA);
    });

    test('the same owner re-claiming extends its lease without a takeover', async (t) => {
      const { ledger, clock } = await setup(t, backend);
      const input = claimInput('job-reclaim', 'charge');
      await ledger.claimStep(input);
      clock.advance(10_000);

      const out = await ledger.claimStep(input);
      assert.ok(out.kind === 'claimed');
      assert.equal(out.takeover, false);
      assert.equal(out.record.owner, 'worker-a');
      assert.equal(out.record.leaseExpiresAt, START + 10_000 + 30_000);
      assert.equal(out.record.version, 2);
    });

    test('complete or fail by an owner whose lease was taken over throws LeaseLostError', async (t) => {
      const { ledger, clock } = await setup(t, backend);
      const input = claimInput('job-lost', 'charge');
      await ledger.claimStep(input);
      clock.advance(60_000);
      await ledger.claimStep({ ...input, owner: workerB });

      const err = await ledger.completeStep({ key: input.key, owner: workerA, result: 'late' }).catch((e: unknown) => e);
      assert.ok(err instanceof LeaseLostError);
      assert.equal(err.name, 'LeaseLostError');
      assert.deepEqual(err.currentOwner, workerB);
      await assert.rejects(ledger.failStep({ key: input.key, owner: workerA, error: new Error('late') }), LeaseLostError);

      const step = await ledger.getStep(input.key);
      assert.equal(step?.state, StepState.IN_PROGRESS);
      assert.equal(step?.owner, 'worker-b');
      // The new owner can still complete it.
      const done = await ledger.completeStep({ key: input.key, owner: workerB, result: 'ok' });
      assert.equal(done.state, StepState.COMPLETED);
    });

    test('completing twice by the same owner is a no-op that returns the record and skips the effect', async (t) => {
      const { ledger } = await setup(t, backend);
      const input = claimInput('job-twice', 'charge');
      await ledger.claimStep(input);
      let effects = 0;
      const effect = () => void effects++;
      const first = await ledger.completeStep({ key: input.key, owner: workerA, result: 1, effect });
      const second = await ledger.completeStep({ key: input.key, owner: workerA, result: 2, effect });
      assert.equal(effects, 1);
      assert.deepEqual(second, first);
      assert.equal(second.result, 1);
    });

    test('a failed step releases its lease and can be claimed again', async (t) => {
      const { ledger } = await setup(t, backend);
      const input = claimInput('job-fail', 'charge');
      await ledger.claimStep(input);
      const failed = await ledger.failStep({ key: input.key, owner: workerA, error: new TypeError('card declined') });
      assert.equal(failed.state, StepState.FAILED);
      assert.equal(failed.leaseExpiresAt, null);
      assert.deepEqual(failed.error, { name: 'TypeError', message: 'card declined' });

      const retry = await ledger.claimStep({ ...input, owner: { identity: 'worker-a', attempt: 2 } });
      assert.ok(retry.kind === 'claimed');
      assert.equal(retry.takeover, false);
      assert.equal(retry.record.attempt, 2);
      assert.equal(retry.record.error, null);
      const kinds = (await ledger.events({ jobId: 'job-fail' })).map((e) => e.kind);
      assert.deepEqual(kinds, ['step.claimed', 'step.failed', 'step.claimed']);
    });

    test('two connections racing putIfAbsent and compareAndSet: exactly one wins each', async (t) => {
      const target = await backend.target(t, 'race.db');
      const one = openLedgerBackend(target);
      const two = openLedgerBackend(target);
      t.after(async () => {
        await one.close();
        await two.close();
      });
      const base: StepRecord = {
        key: 'job-race/charge', jobId: 'job-race', step: 'charge', state: StepState.IN_PROGRESS, requestHash: 'h',
        owner: 'w1', attempt: 1, leaseExpiresAt: START, result: null, error: null, version: 1, createdAt: START, updatedAt: START,
      };
      const inserted = await Promise.all([one.putStepIfAbsent(base), two.putStepIfAbsent({ ...base, owner: 'w2' })]);
      assert.equal(inserted.filter(Boolean).length, 1);

      const swapped = await Promise.all([
        one.compareAndSetStep({ ...base, owner: 'w3', version: 2 }, 1),
        two.compareAndSetStep({ ...base, owner: 'w4', version: 2 }, 1),
      ]);
      assert.equal(swapped.filter(Boolean).length, 1);
      const stored = await one.getStep(base.key);
      assert.equal(stored?.version, 2);
      assert.equal(stored?.owner, swapped[0] ? 'w3' : 'w4');

      // The same race through two Ledger instances: one claim wins, the other sees it in progress.
      const ledgers = [new Ledger({ backend: one }), new Ledger({ backend: two })];
      const input = claimInput('job-race', 'refund');
      const results = await Promise.allSettled(
        ledgers.map((l, i) => l.claimStep({ ...input, owner: { identity: `w${i}`, attempt: 1 } })),
      );
      assert.equal(results.filter((r) => r.status === 'fulfilled' && r.value.kind === 'claimed').length, 1);
      const losers = results.filter((r) => r.status === 'rejected');
      assert.equal(losers.length, 1);
      assert.ok((losers[0] as PromiseRejectedResult).reason instanceof StepInProgressError);
    });

    test('a claim with a different request hash throws StepInputConflictError carrying both hashes', async (t) => {
      const { ledger } = await setup(t, backend);
      const input = claimInput('job-hash', 'charge', { requestHash: 'hash-original' });
      await ledger.claimStep(input);
      await ledger.completeStep({ key: input.key, owner: workerA, result: 'ok' });

      const err = await ledger.claimStep({ ...input, requestHash: 'hash-other' }).catch((e: unknown) => e);
      assert.ok(err instanceof StepInputConflictError);
      assert.equal(err.name, 'StepInputConflictError');
      assert.equal(err.storedHash, 'hash-original');
      assert.equal(err.requestHash, 'hash-other');
    });

    test('the effect and the completion commit atomically: a throwing effect leaves the step IN_PROGRESS and no row', async (t) => {
      const { ledger } = await setup(t, backend);
      const input = claimInput('job-effect', 'charge');
      await ledger.claimStep(input);

      const createTable = 'CREATE TABLE IF NOT EXISTS accounting (step_key TEXT PRIMARY KEY, amount INTEGER)';
      await assert.rejects(
        ledger.completeStep({
          key: input.key,
          owner: workerA,
          result: { amount: 5 },
          effect: async (sql) => {
            await sql.run(createTable);
            await sql.run('INSERT INTO accounting (step_key, amount) VALUES (?, ?)', [input.key, 5]);
            throw new Error('effect failed after writing');
          },
        }),
        /effect failed after writing/,
      );
      const afterFailure = await ledger.getStep(input.key);
      assert.equal(afterFailure?.state, StepState.IN_PROGRESS);
      assert.equal(afterFailure?.version, 1);
      let rows: unknown[] = ['unset'];
      await ledger.completeStep({
        key: input.key,
        owner: workerA,
        result: { amount: 5 },
        effect: async (sql) => {
          await sql.run(createTable);
          rows = await sql.all('SELECT * FROM accounting');
          await sql.run('INSERT INTO accounting (step_key, amount) VALUES (?, ?)', [input.key, 5]);
        },
      });
      assert.deepEqual(rows, [], 'the failed effect left no row behind');
      assert.equal((await ledger.getStep(input.key))?.state, StepState.COMPLETED);
      const kinds = (await ledger.events({ jobId: 'job-effect' })).map((e) => e.kind);
      assert.deepEqual(kinds, ['step.claimed', 'step.completed'], 'no event from the rolled-back attempt');
    });

    test('events have strictly increasing seq across jobs and afterSeq pages through them', async (t) => {
      const { ledger, clock } = await setup(t, backend);
      for (const job of ['job-ev-1', 'job-ev-2', 'job-ev-1', 'job-ev-2']) {
        const input = claimInput(job, `step-${clock.now()}`);
        await ledger.claimStep(input);
        await ledger.completeStep({ key: input.key, owner: workerA, result: null });
        clock.advance(-1000); // a clock going backwards must not affect ordering
      }
      const all = await ledger.events();
      assert.equal(all.length, 8);
      for (let i = 1; i < all.length; i++) assert.ok(all[i]!.seq > all[i - 1]!.seq);

      const afterThird = await ledger.events({ afterSeq: all[2]!.seq });
      assert.deepEqual(afterThird.map((e) => e.seq), all.slice(3).map((e) => e.seq));
      const job1 = await ledger.events({ jobId: 'job-ev-1' });
      assert.equal(job1.length, 4);
      assert.ok(job1.every((e) => e.jobId === 'job-ev-1'));
      assert.equal((await ledger.events({ limit: 2 })).length, 2);
    });

    test('the store itself refuses UPDATE and DELETE on ledger_events', async (t) => {
      const { target, ledger } = await setup(t, backend);
      await ledger.claimStep(claimInput('job-append-only', 'charge'));
      await assert.rejects(backend.raw(target, "UPDATE ledger_events SET kind = 'forged'"), /append-only: UPDATE refused/);
      await assert.rejects(backend.raw(target, 'DELETE FROM ledger_events'), /append-only: DELETE refused/);
      const rows = await backend.raw(target, 'SELECT COUNT(*) AS n, MIN(kind) AS kind FROM ledger_events');
      assert.deepEqual(rows.map((r) => ({ n: Number(r.n), kind: r.kind })), [{ n: 1, kind: 'step.claimed' }]);
    });

    test('migrations are recorded once and reopening the file neither re-applies them nor loses data', async (t) => {
      const target = await backend.target(t, join('nested', 'dir', 'ledger.db'));
      // Two openers at once on an empty store: the migrations are applied exactly once.
      const [first, racer] = [openLedger(target), openLedger(target)];
      await Promise.all([first.claimStep(claimInput('job-migrate', 'charge')), racer.getStep('job-migrate/other')]);
      await first.close();
      await racer.close();
      const second = openLedger(target);
      const third = openLedger(target);
      t.after(async () => {
        await second.close();
        await third.close();
      });

      const versions = await backend.raw(target, 'SELECT version FROM schema_migrations ORDER BY version');
      assert.deepEqual(versions.map((v) => v.version), [1]);
      if (backend.name === 'sqlite') {
        const [mode] = await backend.raw(target, 'PRAGMA journal_mode');
        assert.equal(String(mode?.journal_mode).toLowerCase(), 'wal');
      }
      assert.equal((await second.getStep('job-migrate/charge'))?.state, StepState.IN_PROGRESS);
      assert.equal((await third.events({ jobId: 'job-migrate' })).length, 1);
    });

    test('job records dedupe within the window, expire after it, and can then be replaced once', async (t) => {
      const { ledger, clock } = await setup(t, backend);
      const first = await ledger.recordJob(newJob('job-d1', 'order-7'));
      assert.equal(first.inserted, true);
      assert.equal(first.existing, null);
      assert.equal(first.record.status, JobStatus.Running);
      assert.equal(first.record.dedupeUntil, START + 60_000);

      clock.advance(30_000);
      const dup = await ledger.recordJob(newJob('job-d2', 'order-7'));
      assert.equal(dup.inserted, false);
      assert.equal(dup.existing?.jobId, 'job-d1');
      assert.equal(dup.existing?.expired, false);
      await assert.rejects(ledger.replaceJob(newJob('job-d2', 'order-7'), 1), /still inside its dedupe window/);

      clock.advance(30_001);
      const found = await ledger.findJob(jobIdFor('invoice', 'order-7'));
      assert.equal(found?.expired, true);
      const later = await ledger.recordJob(newJob('job-d3', 'order-7'));
      assert.equal(later.inserted, false);
      assert.equal(later.existing?.expired, true);

      const replaced = await ledger.replaceJob(newJob('job-d3', 'order-7'), later.existing!.version);
      assert.equal(replaced.jobId, 'job-d3');
      assert.equal(replaced.version, 2);
      assert.equal(replaced.dedupeUntil, clock.now() + 60_000);
      // A second resubmission racing with the first holds a stale version and loses.
      await assert.rejects(ledger.replaceJob(newJob('job-d4', 'order-7'), 1), LedgerVersionConflictError);
      const now = await ledger.findJob(jobIdFor('invoice', 'order-7'));
      assert.equal(now?.jobId, 'job-d3');
      assert.equal(now?.expired, false);
      const replacedEvent = (await ledger.events({ jobId: 'job-d3' })).find((e) => e.kind === 'job.replaced');
      assert.deepEqual((replacedEvent?.data as { previousJobId: string }).previousJobId, 'job-d1');
    });

    test('updateJobStatus changes status and outcome by compare-and-set, and listJobs filters', async (t) => {
      const { ledger } = await setup(t, backend);
      await ledger.recordJob(newJob('job-s1', 'k-s1'));
      await ledger.recordJob(newJob('job-s2', 'k-s2', { jobType: 'refund' }));
      const updated = await Promise.all([
        ledger.updateJobStatus('job-s1', JobStatus.Completed, { total: 3 }),
        ledger.updateJobStatus('job-s2', JobStatus.Abandoned),
      ]);
      assert.equal(updated[0].version, 2);
      assert.deepEqual((await ledger.getJobById('job-s1'))?.outcome, { total: 3 });
      assert.equal((await ledger.getJobById('job-s2'))?.status, 'Abandoned');
      assert.deepEqual((await ledger.listJobs({ type: 'refund' })).map((j) => j.jobId), ['job-s2']);
      assert.deepEqual((await ledger.listJobs({ status: JobStatus.Completed })).map((j) => j.jobId), ['job-s1']);
      assert.equal((await ledger.listJobs()).length, 2);
      await assert.rejects(ledger.updateJobStatus('job-missing', JobStatus.Failed), /unknown job/);
    });

    test('concurrent operations on one connection are serialised around transactions', async (t) => {
      const { ledger } = await setup(t, backend);
      const keys = Array.from({ length: 40 }, (_, i) => claimInput('job-many', 'step', { key: stepKey('job-many', `step#${i}`) }));
      await Promise.all(
        keys.map(async (input, i) => {
          await ledger.claimStep(input);
          await ledger
            .completeStep({
              key: input.key,
              owner: workerA,
              result: i,
              effect: () => {
                if (i % 4 === 0) throw new Error('rolled back');
              },
            })
            .catch(() => undefined);
        }),
      );
      const steps = await ledger.listSteps('job-many');
      assert.equal(steps.length, 40);
      assert.equal(steps.filter((s) => s.state === StepState.COMPLETED).length, 30);
      assert.equal(steps.filter((s) => s.state === StepState.IN_PROGRESS).length, 10);
      assert.equal((await ledger.events({ jobId: 'job-many' })).length, 70);
    });

    test('separate OS processes claiming the same key produce exactly one winner', async (t) => {
      const path = await backend.target(t, 'procs.db');
      await openLedger(path).close(); // create the schema up front so the children only race on the claim
      const startAt = Date.now() + 1500;
      const results = await Promise.all(['p1', 'p2', 'p3', 'p4'].map((id) => runChild(path, id, startAt)));

      const winners = results.filter((r) => r.outcome === 'claimed');
      assert.equal(winners.length, 1, JSON.stringify(results));
      assert.ok(results.filter((r) => r.outcome !== 'claimed').every((r) => r.outcome === 'StepInProgressError'));

      const ledger = openLedger(path);
      t.after(() => ledger.close());
      assert.equal((await ledger.getStep('job-proc/charge'))?.owner, winners[0]!.identity);
      const kinds = (await ledger.events({ jobId: 'job-proc' })).map((e) => e.kind);
      assert.deepEqual(kinds, ['step.claimed']);
    });
  });
}
