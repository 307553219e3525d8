/**
 * Ledger benchmark: how many claim+complete pairs per second the SQLite
 * ledger sustains, and the p50/p99 latency of one pair, measured on a file in
 * a temp directory after a warm-up. Because the machine is noisy, the same run
 * also times a baseline (one bare better-sqlite3 INSERT per op, same pragmas)
 * and reports the ledger relative to it. In the same run, the same pairs on a
 * PostgreSQL ledger (a throwaway local cluster with its default durability,
 * over TCP on 127.0.0.1), with commits waiting for the WAL flush and without,
 * beside PostgreSQL's own bare-INSERT baseline; and ledger lookups (findJob,
 * getJobById, a findJob miss) among 1,000,000 job records on both backends.
 * This is scenario B3 of `npm run bench` (also named `ledger`). Writes artifacts/bench/b3.json.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { openLedger, stepKey, type Ledger } from '../ledger';
import { startPostgres } from '../test/helpers/postgres';
import { envInt, round, type BenchSummary } from './lib';

export interface LedgerBenchOptions {
  /** Measured claim+complete pairs. Default: 20,000 (or env BENCH_LEDGER_OPS). */
  ops?: number;
  /** Unmeasured pairs run first. Default: 2,000. */
  warmup?: number;
  /** Where the JSON summary goes. Default: artifacts/bench/b3.json under the repo root. */
  outFile?: string;
  /** Measured pairs on PostgreSQL (each setting). Default: 5,000 (or env BENCH_LEDGER_PG_OPS). */
  pgOps?: number;
  /** Job records the lookups search. Default: 1,000,000 (or env BENCH_LEDGER_JOBS). */
  jobs?: number;
  /** Measured lookups of each kind. Default: 20,000 (or env BENCH_LEDGER_LOOKUPS). */
  lookups?: number;
}

export interface Timing {
  ops: number;
  opsPerSec: number;
  p50Us: number;
  p99Us: number;
  p999Us: number;
  maxUs: number;
}

/** Target stated in the task: at least 10,000 pairs/s and p99 under 1 ms. */
const TARGET = { opsPerSec: 10_000, p99Us: 1_000 };

function summarise(latenciesNs: BigUint64Array, totalNs: bigint): Timing {
  const sorted = Array.from(latenciesNs, Number).sort((a, b) => a - b);
  const pick = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! / 1000;
  return {
    ops: sorted.length,
    opsPerSec: Math.round(sorted.length / (Number(totalNs) / 1e9)),
    p50Us: round(pick(0.5)),
    p99Us: round(pick(0.99)),
    p999Us: round(pick(0.999)),
    maxUs: round(sorted[sorted.length - 1]! / 1000),
  };
}

/** Times `op(i)` for i in [0, ops) after `warmup` untimed calls. */
async function timeOps(ops: number, warmup: number, op: (i: number) => unknown): Promise<Timing> {
  for (let i = 0; i < warmup; i++) await op(-1 - i);
  const latencies = new BigUint64Array(ops);
  const start = process.hrtime.bigint();
  for (let i = 0; i < ops; i++) {
    const t0 = process.hrtime.bigint();
    await op(i);
    latencies[i] = process.hrtime.bigint() - t0;
  }
  return summarise(latencies, process.hrtime.bigint() - start);
}

async function ledgerTiming(target: string, ops: number, warmup: number): Promise<Timing> {
  const ledger = openLedger(target);
  const owner = { identity: 'bench-worker', attempt: 1 };
  try {
    return await timeOps(ops, warmup, async (i) => {
      const key = stepKey('bench-job', `step#${i}`);
      await ledger.claimStep({ key, jobId: 'bench-job', step: 'step', owner, leaseMs: 30_000, requestHash: 'h' });
      await ledger.completeStep({ key, owner, result: { i } });
    });
  } finally {
    await ledger.close();
  }
}

async function baselineTiming(dir: string, ops: number, warmup: number): Promise<Timing> {
  const db = new Database(join(dir, 'baseline.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec('CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT)');
  const insert = db.prepare('INSERT INTO t (k, v) VALUES (?, ?)');
  try {
    return await timeOps(ops, warmup, (i) => insert.run(`k${i}`, '{"i":0}'));
  } finally {
    db.close();
  }
}

/** One bare INSERT (autocommit) per op on PostgreSQL, over the same kind of connection as the ledger's. */
async function pgBaselineTiming(url: string, ops: number, warmup: number): Promise<Timing> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT)');
    const insert = (i: number) => client.query({ name: 'ins', text: 'INSERT INTO t (k, v) VALUES ($1, $2)', values: [`k${i}`, '{"i":0}'] });
    return await timeOps(ops, warmup, insert);
  } finally {
    await client.end();
  }
}

/** `url` with `synchronous_commit` set for every session of its pool. */
function withSynchronousCommit(url: string, value: 'on' | 'off'): string {
  return `${url}?options=${encodeURIComponent(`-c synchronous_commit=${value}`)}`;
}

const BULK_TYPE = 'bench.job';
const bulkKey = (i: number) => `${BULK_TYPE}:k${i}`;

/** `n` Completed job records in a SQLite ledger file, in one transaction of prepared inserts. */
function bulkJobsSqlite(path: string, n: number): void {
  const db = new Database(path);
  try {
    const insert = db.prepare(`INSERT INTO jobs (job_key, job_id, job_type, idempotency_key, input_hash, status, outcome,
      submitted_by, definition_version, run_id, dedupe_until, created_at, updated_at, version)
      VALUES (?, ?, '${BULK_TYPE}', ?, ?, 'Completed', '{"ok":true}', 'bench', '1', NULL, 0, ?, ?, 1)`);
    db.transaction(() => {
      for (let i = 0; i < n; i++) insert.run(bulkKey(i), bulkKey(i), `k${i}`, `h${i}`, i, i);
    })();
    db.exec('ANALYZE');
  } finally {
    db.close();
  }
}

/** `n` Completed job records in a PostgreSQL ledger, in one INSERT ... SELECT over generate_series. */
async function bulkJobsPostgres(url: string, n: number): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(
      `INSERT INTO jobs (job_key, job_id, job_type, idempotency_key, input_hash, status, outcome,
         submitted_by, definition_version, run_id, dedupe_until, created_at, updated_at, version)
       SELECT '${BULK_TYPE}:k' || i, '${BULK_TYPE}:k' || i, '${BULK_TYPE}', 'k' || i, 'h' || i, 'Completed', '{"ok":true}',
         'bench', '1', NULL, 0, i, i, 1
       FROM generate_series(0, $1::int - 1) AS i`,
      [n],
    );
    await client.query('ANALYZE jobs');
  } finally {
    await client.end();
  }
}

export interface Lookups {
  jobs: number;
  bulkInsertMs: number;
  findJob: Timing;
  getJobById: Timing;
  findJobMiss: Timing;
}

/** A multiplicative pseudo-random walk over [0, n): the same keys on both backends, no cache-friendly order. */
function spread(i: number, n: number): number {
  return Math.abs((i + 1) * 2_654_435_761) % n;
}

/** Lookups of random existing keys by job key and by job id, and of absent keys (a new submission's dedupe check). */
async function lookupTimings(ledger: Ledger, n: number, lookups: number, bulkInsertMs: number): Promise<Lookups> {
  const warmup = Math.min(1_000, lookups);
  const findJob = await timeOps(lookups, warmup, async (i) => {
    if (!(await ledger.findJob(bulkKey(spread(Math.abs(i), n))))) throw new Error('bulk job not found');
  });
  const getJobById = await timeOps(lookups, warmup, async (i) => {
    if (!(await ledger.getJobById(bulkKey(spread(Math.abs(i) + 7, n))))) throw new Error('bulk job not found');
  });
  const findJobMiss = await timeOps(lookups, warmup, async (i) => {
    if (await ledger.findJob(`${BULK_TYPE}:absent-${i}`)) throw new Error('absent job found');
  });
  return { jobs: n, bulkInsertMs: Math.round(bulkInsertMs), findJob, getJobById, findJobMiss };
}

/**
 * Ledger lookups among `jobs` Completed job records on a SQLite ledger file in `dir` (the same bulk insert
 * and lookups as the ledger bench), for B5's growth figures.
 */
export async function sqliteLookups(dir: string, jobs: number, lookups: number): Promise<Lookups> {
  const file = join(dir, `jobs-${jobs}.db`);
  await openLedger(file).close(); // the schema
  const t0 = performance.now();
  bulkJobsSqlite(file, jobs);
  const ledger = openLedger(file);
  return lookupTimings(ledger, jobs, lookups, performance.now() - t0).finally(() => ledger.close());
}

function sqliteVersion(): string {
  const db = new Database(':memory:');
  try {
    return (db.prepare('SELECT sqlite_version() AS v').get() as { v: string }).v;
  } finally {
    db.close();
  }
}

export async function runLedgerBench(options: LedgerBenchOptions = {}): Promise<BenchSummary> {
  const ops = options.ops ?? envInt('BENCH_LEDGER_OPS', 20_000);
  const warmup = options.warmup ?? 2_000;
  const pgOps = options.pgOps ?? envInt('BENCH_LEDGER_PG_OPS', 5_000);
  const pgWarmup = Math.min(warmup, 500);
  const jobs = options.jobs ?? envInt('BENCH_LEDGER_JOBS', 1_000_000);
  const lookups = options.lookups ?? envInt('BENCH_LEDGER_LOOKUPS', 20_000);
  const outFile = options.outFile ?? resolve(__dirname, '..', 'artifacts', 'bench', 'b3.json');
  const dir = mkdtempSync(join(tmpdir(), 'ledger-bench-'));
  // Default durability (fsync on), unlike the tests' cluster: the figures are about a real deployment.
  const postgres = await startPostgres({ fast: false });
  try {
    const baseline = await baselineTiming(dir, ops, warmup);
    const ledger = await ledgerTiming(join(dir, 'ledger.db'), ops, warmup);

    const pgBaseline = await pgBaselineTiming(await postgres.createDatabase(), pgOps, pgWarmup);
    const pgLedger = await ledgerTiming(await postgres.createDatabase(), pgOps, pgWarmup);
    const pgLedgerAsync = await ledgerTiming(withSynchronousCommit(await postgres.createDatabase(), 'off'), pgOps, pgWarmup);

    const sqliteJobs = join(dir, 'jobs.db');
    await openLedger(sqliteJobs).close(); // the schema
    let t0 = performance.now();
    bulkJobsSqlite(sqliteJobs, jobs);
    const sqliteLedger = openLedger(sqliteJobs);
    const sqliteLookups = await lookupTimings(sqliteLedger, jobs, lookups, performance.now() - t0).finally(() => sqliteLedger.close());

    const pgJobsUrl = await postgres.createDatabase();
    const pgJobsLedger = openLedger(pgJobsUrl);
    await pgJobsLedger.checkHealth(); // the schema
    t0 = performance.now();
    await bulkJobsPostgres(pgJobsUrl, jobs);
    const pgLookups = await lookupTimings(pgJobsLedger, jobs, lookups, performance.now() - t0).finally(() => pgJobsLedger.close());

    const pgVersion = (await postgresVersion(postgres.url)) ?? 'unknown';
    const result = {
      bench: 'b3',
      date: new Date().toISOString(),
      node: process.version,
      sqlite: sqliteVersion(),
      postgres: pgVersion,
      op: 'one claimStep + completeStep pair on a fresh key (two write transactions, WAL, synchronous=NORMAL)',
      walAutocheckpointPages: 'SqliteLedgerBackend default (4000)',
      ledger,
      baseline: { op: 'one bare prepared INSERT (autocommit) on a WAL file', ...baseline },
      ratio: {
        p50VsBaseline: round(ledger.p50Us / baseline.p50Us),
        throughputVsBaseline: round(ledger.opsPerSec / baseline.opsPerSec, 3),
      },
      target: TARGET,
      meetsTarget: ledger.opsPerSec >= TARGET.opsPerSec && ledger.p99Us < TARGET.p99Us,
      postgresLedger: {
        op: 'the same pair on PostgreSQL: a local throwaway cluster, default durability (fsync on), one pool over TCP on 127.0.0.1',
        synchronousCommitOn: pgLedger,
        synchronousCommitOff: pgLedgerAsync,
        baseline: { op: 'one bare named INSERT (autocommit, synchronous_commit on) on one connection', ...pgBaseline },
        ratio: {
          throughputVsSqliteLedger: round(pgLedger.opsPerSec / ledger.opsPerSec, 3),
          throughputVsSqliteLedgerAsyncCommit: round(pgLedgerAsync.opsPerSec / ledger.opsPerSec, 3),
          p50VsSqliteLedger: round(pgLedger.p50Us / ledger.p50Us),
          p50VsOwnBaseline: round(pgLedger.p50Us / pgBaseline.p50Us),
        },
      },
      lookups: {
        op: 'findJob (job key) and getJobById of random existing records, and findJob of an absent key, one at a time',
        sqlite: sqliteLookups,
        postgres: pgLookups,
        ratio: {
          findJobP50PostgresVsSqlite: round(pgLookups.findJob.p50Us / sqliteLookups.findJob.p50Us),
          getJobByIdP50PostgresVsSqlite: round(pgLookups.getJobById.p50Us / sqliteLookups.getJobById.p50Us),
        },
      },
    };
    mkdirSync(resolve(outFile, '..'), { recursive: true });
    writeFileSync(outFile, JSON.stringify(result, null, 2) + '\n');

    const line = (name: string, t: Timing) =>
      `  ${name.padEnd(22)} ${String(t.opsPerSec).padStart(7)} ops/s   p50 ${t.p50Us} µs   p99 ${t.p99Us} µs   p99.9 ${t.p999Us} µs   max ${t.maxUs} µs`;
    console.log(`ledger bench: ${ops} ops after ${warmup} warm-up (node ${result.node}, SQLite ${result.sqlite})`);
    console.log(line('ledger', ledger));
    console.log(line('baseline', baseline));
    console.log(`  ledger pair p50 = ${result.ratio.p50VsBaseline}x one bare INSERT; throughput = ${result.ratio.throughputVsBaseline}x baseline`);
    console.log(`  target ≥ ${TARGET.opsPerSec} ops/s and p99 < ${TARGET.p99Us} µs: ${result.meetsTarget ? 'met' : 'NOT met'}`);
    console.log(`PostgreSQL ${pgVersion}: ${pgOps} ops after ${pgWarmup} warm-up`);
    console.log(line('pg ledger', pgLedger));
    console.log(line('pg ledger, async commit', pgLedgerAsync));
    console.log(line('pg baseline', pgBaseline));
    const r = result.postgresLedger.ratio;
    console.log(`  pg pair throughput = ${r.throughputVsSqliteLedger}x SQLite's (${r.throughputVsSqliteLedgerAsyncCommit}x with synchronous_commit=off); p50 = ${r.p50VsSqliteLedger}x SQLite's, ${r.p50VsOwnBaseline}x one bare pg INSERT`);
    console.log(`lookups among ${jobs} job records (${lookups} of each after a warm-up):`);
    for (const [name, l] of [['sqlite', sqliteLookups], ['pg', pgLookups]] as const) {
      console.log(`  ${name}: bulk insert ${l.bulkInsertMs} ms`);
      console.log(line(`${name} findJob`, l.findJob));
      console.log(line(`${name} getJobById`, l.getJobById));
      console.log(line(`${name} findJob (absent)`, l.findJobMiss));
    }
    console.log(`  wrote ${outFile}`);
    const headline =
      `SQLite ${ledger.opsPerSec} pairs/s, p99 ${ledger.p99Us} µs (target ≥ ${TARGET.opsPerSec}/s, < ${TARGET.p99Us} µs: ${result.meetsTarget ? 'met' : 'missed'}); ` +
      `PostgreSQL ${pgLedger.opsPerSec} pairs/s; findJob among ${jobs} p99 ${sqliteLookups.findJob.p99Us} µs (SQLite), ${pgLookups.findJob.p99Us} µs (PostgreSQL)`;
    return { headline, file: outFile };
  } finally {
    await postgres.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function postgresVersion(url: string): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]?.v;
  } finally {
    await client.end();
  }
}
