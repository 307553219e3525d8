/**
 * The dashboard's figures (client/dashboard/figures.ts) from hand-written ledger events: outcomes and the
 * success rate, nearest-rank percentiles from the histogram, a repeated finish counted once, a rerun
 * measured from its own submission, the window's edges, errors by class and retried attempts, and
 * incremental ingestion giving the same figures as reading everything at once. Then the same figures
 * from real ledgers (SQLite and PostgreSQL) through readNewEvents, reading only what is new on the second call.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  DASHBOARD_WINDOWS,
  FigureAggregate,
  figuresFromLedger,
  LATENCY_BUCKETS_MS,
  latencyBucketOf,
  latencyFigures,
  readNewEvents,
} from '../client/dashboard/figures';
import { openLedger, type LedgerEvent } from '../ledger';
import { ledgerBackends } from './helpers/ledger-backends';

const NOW = Date.UTC(2026, 10, 29, 12, 0, 0);

/** Builds events with increasing seq. */
function events() {
  const list: LedgerEvent[] = [];
  const add = (jobId: string, kind: string, data: unknown, at: number) => {
    list.push({ seq: list.length + 1, jobId, stepKey: null, kind, data, recordedAt: at });
  };
  return { list, add };
}

test('outcomes, success rate, errors by class and retried attempts of one window, per job type and in total', () => {
  const { list, add } = events();
  for (let i = 0; i < 3; i++) {
    add(`a.done:${i}`, 'job.recorded', {}, NOW - 60_000);
    add(`a.done:${i}`, 'job.status', { from: 'Running', to: 'Completed' }, NOW - 50_000);
  }
  add('a.done:1', 'step.failed', { owner: { identity: 'w', attempt: 1 }, error: { message: 'x', errorClass: 'Timeout' } }, NOW - 55_000);
  add('a.done:1', 'step.claimed', { owner: { identity: 'w', attempt: 2 }, leaseExpiresAt: 0 }, NOW - 54_000);
  add('b.saga:1', 'job.recorded', {}, NOW - 60_000);
  add('b.saga:1', 'step.failed', { owner: { identity: 'w', attempt: 1 }, error: { message: 'y', errorClass: 'Internal' } }, NOW - 58_000);
  add('b.saga:1', 'job.dead_lettered', { step: 'confirm', phase: 'step', errorClass: 'Internal' }, NOW - 58_000);
  add('b.saga:1', 'job.status', { from: 'Running', to: 'Compensated' }, NOW - 40_000);
  const aggregate = new FigureAggregate();
  aggregate.ingest(list);
  const figures = aggregate.figures('15m', NOW);
  assert.deepEqual(figures.jobTypes.map((t) => t.jobType), ['a.done', 'b.saga']);
  const [done, saga] = figures.jobTypes;
  assert.deepEqual(done?.outcomes, { Completed: 3, Compensated: 0, Abandoned: 0, Failed: 0 });
  assert.equal(done?.successRate, 1);
  assert.deepEqual(done?.errors, { Timeout: 1 });
  assert.equal(done?.retriedAttempts, 1);
  assert.deepEqual(saga?.outcomes, { Completed: 0, Compensated: 1, Abandoned: 0, Failed: 0 });
  assert.equal(saga?.deadLettered, 1);
  assert.deepEqual(saga?.errors, { Internal: 1 });
  assert.equal(figures.total.submitted, 4);
  assert.equal(figures.total.closed, 4);
  assert.equal(figures.total.successRate, 3 / 4);
  assert.deepEqual(figures.total.errors, { Timeout: 1, Internal: 1 });
  assert.equal(figures.total.throughput.closed.reduce((a, b) => a + b, 0), 4, 'every close falls in one throughput bin');
  assert.equal(figures.total.live, null, 'no live counts were given');
});

test('percentiles are the upper bounds of the buckets holding the nearest ranks', () => {
  // 100 durations: 1..100 seconds. p50 is the 50th (50 s), p95 the 95th (95 s), p99 the 99th (99 s).
  const durations = Array.from({ length: 100 }, (_, i) => (i + 1) * 1000);
  const latency = latencyFigures(durations);
  assert.equal(latency.count, 100);
  assert.equal(latency.p50Ms, LATENCY_BUCKETS_MS[latencyBucketOf(50_000)]);
  assert.equal(latency.p95Ms, LATENCY_BUCKETS_MS[latencyBucketOf(95_000)]);
  assert.equal(latency.p99Ms, LATENCY_BUCKETS_MS[latencyBucketOf(99_000)]);
  assert.equal(latency.p50Ms, 50_000, '50 s is a bucket bound itself');
  assert.equal(latency.p95Ms, 100_000);
  assert.equal(latency.buckets.reduce((a, b) => a + b, 0), 100);
  assert.deepEqual(latencyFigures([]), { count: 0, p50Ms: null, p95Ms: null, p99Ms: null, buckets: LATENCY_BUCKETS_MS.map(() => 0) });
});

test('a repeated finish counts once; a rerun is measured from its own submission; the window has edges', () => {
  const { list, add } = events();
  add('c.job:1', 'job.recorded', {}, NOW - 3 * 3_600_000);
  add('c.job:1', 'job.status', { from: 'Running', to: 'Failed' }, NOW - 2 * 3_600_000);
  add('c.job:1', 'job.status', { from: 'Failed', to: 'Failed' }, NOW - 2 * 3_600_000 + 10);
  add('c.job:1', 'job.rerun', { runId: 'r2' }, NOW - 600_000);
  add('c.job:1', 'job.status', { from: 'Running', to: 'Completed' }, NOW - 599_000);
  const aggregate = new FigureAggregate();
  aggregate.ingest(list);
  const hour = aggregate.figures('1h', NOW).total;
  assert.deepEqual(hour.outcomes, { Completed: 1, Compensated: 0, Abandoned: 0, Failed: 0 }, 'the failed run closed outside the hour');
  assert.equal(hour.latency.p50Ms, LATENCY_BUCKETS_MS[latencyBucketOf(1_000)], 'the rerun took 1 s from its own submission');
  const day = aggregate.figures('24h', NOW).total;
  assert.deepEqual(day.outcomes, { Completed: 1, Compensated: 0, Abandoned: 0, Failed: 1 }, 'the repeated finish is not a second close');
  assert.equal(day.submitted, 2);
});

test('ingesting events in pieces gives the figures of ingesting them at once', () => {
  const { list, add } = events();
  for (let i = 0; i < 40; i++) {
    add(`d.job:${i}`, 'job.recorded', {}, NOW - 600_000 + i * 1000);
    add(`d.job:${i}`, 'job.status', { from: 'Running', to: i % 5 === 0 ? 'Abandoned' : 'Completed' }, NOW - 300_000 + i * 3000);
  }
  const whole = new FigureAggregate();
  whole.ingest(list);
  const pieces = new FigureAggregate();
  for (let i = 0; i < list.length; i += 7) pieces.ingest(list.slice(i, i + 7));
  pieces.ingest(list.slice(0, 10)); // already seen: ignored
  assert.equal(pieces.cursor, list.length);
  assert.deepEqual(pieces.figures('15m', NOW), whole.figures('15m', NOW));
  assert.equal(whole.figures('15m', NOW).total.outcomes.Abandoned, 8);
});

for (const backend of ledgerBackends()) {
  describe(backend.name, () => {
    test('readNewEvents reads a real ledger after its cursor: a second call reads only the new events', async () => {
      const ledger = openLedger(await backend.newTarget());
      try {
        const record = (id: string) =>
          ledger.recordRun({ jobId: `e.job:${id}`, jobType: 'e.job', idempotencyKey: id, inputHash: 'h', submittedBy: 't', definitionVersion: '1', runId: `r-${id}`, dedupeWindowMs: 60_000 });
        await record('1');
        await ledger.updateJobStatus('e.job:1', 'Completed', {});
        const aggregate = new FigureAggregate();
        assert.equal(await readNewEvents(ledger, aggregate), 2);
        await record('2');
        await ledger.updateJobStatus('e.job:2', 'Compensated', {});
        assert.equal(await readNewEvents(ledger, aggregate), 2, 'only the two new events are read');
        const figures = aggregate.figures('15m', Date.now());
        assert.deepEqual(figures.total.outcomes, { Completed: 1, Compensated: 1, Abandoned: 0, Failed: 0 });
        assert.equal(figures.window, '15m');
        assert.equal(figures.to - figures.from, DASHBOARD_WINDOWS['15m']);
        assert.equal((await figuresFromLedger(ledger, '15m')).total.closed, 2, 'a one-off read gives the same');
      } finally {
        await ledger.close();
      }
    });
  });
}
