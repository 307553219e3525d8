/**
 * Dashboard benchmark: how long the dashboard's figures (client/dashboard/figures.ts) take over a ledger
 * holding 100,000 jobs' events. The events are written straight into a ledger's `ledger_events` table
 * (SQLite; PostgreSQL too unless BENCH_DASHBOARD_PG=0), spread over the last 7 days in time order: per
 * job its recording, three steps claimed and completed (one attempt in ten fails first with an ErrorClass
 * and is claimed again), a dead letter for some, and its terminal status. Measured: the first full build
 * (read every event into a FigureAggregate, then the figures of each window), the incremental refresh
 * after N new events (read only those, then the figures again), and, on a dev server, the HTTP response
 * time of the page's data endpoint (`GET /api/state`) of a running dashboard over the SQLite ledger.
 * Scenario `dashboard` of `npm run bench`; writes artifacts/bench/dashboard.json.
 */
import { join } from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import Database from 'better-sqlite3';
import pg from 'pg';
import { JobRegistry } from '../jobs/registry';
import { createLogger } from '../core/logging';
import { openLedger, type Ledger } from '../ledger';
import { JobClient } from '../client/jobs';
import { DASHBOARD_WINDOWS, FigureAggregate, readNewEvents, type DashboardWindow } from '../client/dashboard/figures';
import { startDashboard } from '../client/dashboard/server';
import { liveCounts } from '../client/dashboard/state';
import { taskQueuePollers } from '../client/doctor';
import { startPostgres } from '../test/helpers/postgres';
import { startDevServer } from '../test/helpers/servers';
import { envInt, latency, median, round, writeResult, type BenchSummary, type Latency } from './lib';

const WINDOWS = Object.keys(DASHBOARD_WINDOWS) as DashboardWindow[];
const JOB_TYPES = ['order.fulfill', 'order.sequential', 'greeting.send', 'report.build'];
const STEPS = ['reserve', 'charge', 'notify'];
const ERROR_CLASSES = ['DependencyUnavailable', 'RateLimited', 'Timeout', 'BusinessRule'];
const WEEK = DASHBOARD_WINDOWS['7d'];

type Row = [jobId: string, stepKey: string | null, kind: string, data: string, recordedAt: number];

/** A small deterministic PRNG (mulberry32), so every run loads the same ledger. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The events of `jobs` jobs submitted between `from` and `to` (epoch ms), in time order. */
function workload(jobs: number, from: number, to: number, seed: number, prefix: string): Row[] {
  const rnd = random(seed);
  const rows: Row[] = [];
  for (let i = 0; i < jobs; i++) {
    const jobType = JOB_TYPES[i % JOB_TYPES.length]!;
    const jobId = `${jobType}:${prefix}${i}`;
    let at = from + rnd() * (to - from);
    const owner = (attempt: number) => ({ identity: 'bench-worker', attempt });
    rows.push([jobId, null, 'job.recorded', JSON.stringify({ jobKey: jobId, dedupeUntil: at + WEEK }), at]);
    const fate = rnd();
    const parks = fate < 0.02;
    for (const [s, step] of STEPS.entries()) {
      const key = `${jobId}/${step}`;
      at += 20 + rnd() * 400 * (1 + s);
      rows.push([jobId, key, 'step.claimed', JSON.stringify({ owner: owner(1), leaseExpiresAt: at + 10_000 }), at]);
      const fails = rnd() < 0.1 || (parks && s === 1);
      if (fails) {
        const errorClass = ERROR_CLASSES[Math.floor(rnd() * ERROR_CLASSES.length)]!;
        at += 5 + rnd() * 50;
        rows.push([jobId, key, 'step.failed', JSON.stringify({ owner: owner(1), error: { name: 'ApplicationFailure', message: 'bench', errorClass } }), at]);
        if (parks) {
          rows.push([jobId, null, 'job.dead_lettered', JSON.stringify({ step, phase: 'step', errorClass }), at + 1]);
          break;
        }
        at += 1_000 + rnd() * 2_000;
        rows.push([jobId, key, 'step.claimed', JSON.stringify({ owner: owner(2), leaseExpiresAt: at + 10_000 }), at]);
      }
      at += 5 + rnd() * 100;
      rows.push([jobId, key, 'step.completed', JSON.stringify({ owner: owner(fails ? 2 : 1) }), at]);
    }
    if (parks) continue;
    const status = fate < 0.9 ? 'Completed' : fate < 0.96 ? 'Compensated' : fate < 0.99 ? 'Abandoned' : 'Failed';
    rows.push([jobId, null, 'job.status', JSON.stringify({ from: 'Running', to: status }), at + 10]);
  }
  return rows.sort((a, b) => a[4] - b[4]);
}

async function loadSqlite(path: string, rows: readonly Row[]): Promise<void> {
  await openLedger(path).close(); // creates the schema
  await sqliteAppend(path, rows);
}

async function loadPostgres(url: string, rows: readonly Row[]): Promise<void> {
  const ledger = openLedger(url);
  await ledger.events({ limit: 1 }); // connects and migrates
  await ledger.close();
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('BEGIN');
    const batch = 5_000;
    for (let i = 0; i < rows.length; i += batch) {
      const chunk = rows.slice(i, i + batch);
      const values: unknown[] = [];
      const tuples = chunk.map((r, k) => {
        values.push(r[0], r[1], r[2], r[3], Math.round(r[4]));
        const b = k * 5;
        return `($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4}::json, $${b + 5})`;
      });
      await client.query(`INSERT INTO ledger_events (job_id, step_key, kind, data, recorded_at) VALUES ${tuples.join(', ')}`, values);
    }
    await client.query('COMMIT');
  } finally {
    await client.end();
  }
}

const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;

export interface BuildFigures {
  /** Events read into a fresh aggregate. */
  events: number;
  /** Reading them (pages of EVENT_PAGE_SIZE) and ingesting them, median of the rounds. */
  readMs: number;
  /** The figures of each window from the built aggregate, median of the rounds. */
  figuresMs: Record<DashboardWindow, number>;
  /** Heap in use after the build, MiB. */
  heapMiB: number;
}

export interface RefreshFigures {
  /** New events per refresh. */
  newEvents: number;
  /** Reading the new events, then the figures of the 15 m and 24 h windows. */
  refresh15m: Latency;
  refresh24h: Latency;
}

async function measureBuild(ledger: Ledger, rounds: number): Promise<{ build: BuildFigures; aggregate: FigureAggregate }> {
  const reads: number[] = [];
  const perWindow: Record<DashboardWindow, number[]> = { '15m': [], '1h': [], '24h': [], '7d': [] };
  let aggregate = new FigureAggregate();
  let events = 0;
  for (let r = 0; r < rounds; r++) {
    aggregate = new FigureAggregate();
    const t0 = process.hrtime.bigint();
    events = await readNewEvents(ledger, aggregate);
    reads.push(ms(t0));
    for (const w of WINDOWS) {
      const t1 = process.hrtime.bigint();
      aggregate.figures(w, Date.now());
      perWindow[w].push(ms(t1));
    }
  }
  const figuresMs = Object.fromEntries(WINDOWS.map((w) => [w, round(median(perWindow[w]), 2)])) as Record<DashboardWindow, number>;
  return { build: { events, readMs: round(median(reads)), figuresMs, heapMiB: round(process.memoryUsage().heapUsed / 2 ** 20) }, aggregate };
}

/** Appends `jobs` new jobs' events (their count is returned) through `append`, then times refresh + figures, `rounds` times. */
async function measureRefresh(
  ledger: Ledger,
  aggregate: FigureAggregate,
  rounds: number,
  jobs: number,
  append: (rows: readonly Row[]) => Promise<void>,
): Promise<RefreshFigures> {
  const t15: number[] = [];
  const t24: number[] = [];
  let newEvents = 0;
  for (let r = 0; r < rounds; r++) {
    const now = Date.now();
    const rows = workload(jobs, now - 60_000, now, 1000 + r, `new-${r}-`);
    newEvents = rows.length;
    await append(rows);
    const t0 = process.hrtime.bigint();
    const read = await readNewEvents(ledger, aggregate);
    if (read !== rows.length) throw new Error(`refresh read ${read} events, not the ${rows.length} appended`);
    aggregate.figures('15m', Date.now());
    t15.push(ms(t0));
    const t1 = process.hrtime.bigint();
    aggregate.figures('24h', Date.now());
    t24.push(ms(t1) + t15.at(-1)!);
  }
  return { newEvents, refresh15m: latency(t15), refresh24h: latency(t24) };
}

async function sqliteAppend(path: string, rows: readonly Row[]): Promise<void> {
  const db = new Database(path);
  try {
    const insert = db.prepare('INSERT INTO ledger_events (job_id, step_key, kind, data, recorded_at) VALUES (?, ?, ?, ?, ?)');
    db.transaction(() => {
      for (const r of rows) insert.run(r[0], r[1], r[2], r[3], Math.round(r[4]));
    })();
  } finally {
    db.close();
  }
}

/** GET /api/state of a dashboard over the SQLite ledger, on a dev server (empty: live counts and the dead letter answer at once). */
async function measureEndpoint(path: string, requests: number) {
  const env = await startDevServer();
  const ledger = openLedger(path);
  try {
    const logger = createLogger({ level: 'silent', name: 'bench-dashboard' });
    const taskQueue = 'bench-dashboard';
    const jobs = new JobClient({ client: env.client, registry: new JobRegistry([]), ledger, taskQueue, logger, submittedBy: 'bench' });
    const token = 'bench-viewer-token-0123456789';
    const t0 = process.hrtime.bigint();
    const server = await startDashboard({ client: env.client, jobs, ledger, namespace: 'default', taskQueue, uiUrl: 'http://127.0.0.1:8233', tokens: { [token]: 'viewer' } });
    const startMs = round(ms(t0));
    try {
      let bytes = 0;
      const get = async (window: DashboardWindow) => {
        const t = process.hrtime.bigint();
        const response = await fetch(`${server.url}api/state?window=${window}`, { headers: { Authorization: `Bearer ${token}` } });
        const body = await response.text();
        if (response.status !== 200) throw new Error(`GET /api/state: ${response.status} ${body}`);
        bytes = body.length;
        return ms(t);
      };
      await get('24h');
      const s24: number[] = [];
      const s15: number[] = [];
      for (let i = 0; i < requests; i++) {
        s24.push(await get('24h'));
        s15.push(await get('15m'));
      }
      // What one state read asks Temporal, each part timed alone: where the endpoint's time goes.
      const parts: Record<'liveCounts' | 'taskQueuePollers' | 'deadLettered', number[]> = { liveCounts: [], taskQueuePollers: [], deadLettered: [] };
      for (let i = 0; i < requests; i++) {
        let t = process.hrtime.bigint();
        await liveCounts(env.client, JOB_TYPES);
        parts.liveCounts.push(ms(t));
        t = process.hrtime.bigint();
        await taskQueuePollers(env.client.workflowService, 'default', taskQueue);
        parts.taskQueuePollers.push(ms(t));
        t = process.hrtime.bigint();
        await jobs.deadLettered();
        parts.deadLettered.push(ms(t));
      }
      const temporal = { liveCounts: latency(parts.liveCounts), taskQueuePollers: latency(parts.taskQueuePollers), deadLettered: latency(parts.deadLettered) };
      return { startMs, state24h: latency(s24), state15m: latency(s15), bytes, temporal };
    } finally {
      await server.stop();
    }
  } finally {
    await ledger.close();
    await env.teardown();
  }
}

export async function runDashboardBench(): Promise<BenchSummary> {
  const jobs = envInt('BENCH_DASHBOARD_JOBS', 100_000);
  const rounds = envInt('BENCH_DASHBOARD_ROUNDS', 3);
  const refreshJobs = envInt('BENCH_DASHBOARD_REFRESH_JOBS', 100);
  const withPostgres = process.env.BENCH_DASHBOARD_PG !== '0';
  const now = Date.now();
  const rows = workload(jobs, now - WEEK, now - 60_000, 42, 'job-');
  const dir = mkdtempSync(join(tmpdir(), 'jobledger-bench-dashboard-'));
  const result: Record<string, unknown> = { jobs, events: rows.length, rounds, refreshJobs };
  try {
    const path = join(dir, 'ledger.db');
    let t0 = process.hrtime.bigint();
    await loadSqlite(path, rows);
    const sqliteLoadMs = round(ms(t0));
    const ledger = openLedger(path);
    let sqlite;
    try {
      const { build, aggregate } = await measureBuild(ledger, rounds);
      const refresh = await measureRefresh(ledger, aggregate, 10, refreshJobs, (r) => sqliteAppend(path, r));
      sqlite = { loadMs: sqliteLoadMs, build, refresh };
    } finally {
      await ledger.close();
    }
    result.sqlite = sqlite;
    console.log(`dashboard (SQLite, ${jobs} jobs, ${rows.length} events): full build ${sqlite.build.readMs} ms + figures ${JSON.stringify(sqlite.build.figuresMs)} ms; refresh after ${sqlite.refresh.newEvents} events: p50 ${sqlite.refresh.refresh15m.p50Ms} ms (15m), ${sqlite.refresh.refresh24h.p50Ms} ms (24h)`);

    const endpoint = await measureEndpoint(path, envInt('BENCH_DASHBOARD_REQUESTS', 30));
    result.endpoint = endpoint;
    console.log(`dashboard endpoint: start (first full build) ${endpoint.startMs} ms; GET /api/state 24h p50 ${endpoint.state24h.p50Ms} ms p99 ${endpoint.state24h.p99Ms} ms; 15m p50 ${endpoint.state15m.p50Ms} ms (${endpoint.bytes} bytes)`);
    console.log(`  its Temporal calls alone: ${Object.entries(endpoint.temporal).map(([k, v]) => `${k} p50 ${v.p50Ms} ms p99 ${v.p99Ms} ms`).join('; ')}`);

    if (withPostgres) {
      const cluster = await startPostgres();
      try {
        const url = await cluster.createDatabase();
        t0 = process.hrtime.bigint();
        await loadPostgres(url, rows);
        const loadMs = round(ms(t0));
        const pgLedger = openLedger(url);
        try {
          const { build, aggregate } = await measureBuild(pgLedger, rounds);
          const refresh = await measureRefresh(pgLedger, aggregate, 10, refreshJobs, (r) => loadPostgres(url, r));
          result.postgres = { loadMs, build, refresh };
          console.log(`dashboard (PostgreSQL): full build ${build.readMs} ms; refresh after ${refresh.newEvents} events: p50 ${refresh.refresh15m.p50Ms} ms (15m), ${refresh.refresh24h.p50Ms} ms (24h)`);
        } finally {
          await pgLedger.close();
        }
      } finally {
        await cluster.stop();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const file = writeResult('dashboard', result);
  const s = result.sqlite as { build: BuildFigures; refresh: RefreshFigures };
  const e = result.endpoint as { state24h: Latency };
  return {
    headline: `${jobs} jobs (${rows.length} events): full build ${s.build.readMs} ms, refresh after ${s.refresh.newEvents} events p50 ${s.refresh.refresh24h.p50Ms} ms, GET /api/state p50 ${e.state24h.p50Ms} ms`,
    file,
  };
}
