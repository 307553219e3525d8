/**
 * B5: growth. The same `bench.list` job run 100, 1,000 and 10,000 times (`BENCH_B5_SIZES`, comma-separated,
 * for quick trials), each size on the same stack one after the other, by `BENCH_B5_SUBMITTERS` (default
 * 100) concurrent submitters against a worker with high concurrency; the time per job at each size (target:
 * flat within 20 % of the smallest size's). At the largest size, `reconcile` and `audit export` of every
 * job so far, in-process. Then ledger lookups (findJob, getJobById, an absent findJob) among 10,000 and
 * 1,000,000 job records on SQLite (`BENCH_B5_LOOKUP_SIZES`), the ledger bench's lookups (B3 runs them on
 * PostgreSQL too): flat means the p99 at the largest size within 2× the smallest's. Writes artifacts/bench/b5.json.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { reconcile } from '../client/reconcile';
import { timedExport } from './audit';
import { sqliteLookups, type Lookups } from './ledger';
import { envInt, round, writeResult, type BenchSummary } from './lib';
import { runJobs, startStack } from './stack';

const TARGET = { perJobSpread: 0.2, lookupP99Growth: 2 };

function sizesFrom(name: string, fallback: number[]): number[] {
  const raw = process.env[name];
  if (!raw) return fallback;
  const sizes = raw.split(',').map(Number);
  if (sizes.some((n) => !Number.isInteger(n) || n <= 0)) throw new Error(`${name} must be comma-separated positive integers, got '${raw}'`);
  return sizes;
}

export async function runGrowthBench(): Promise<BenchSummary> {
  const sizes = sizesFrom('BENCH_B5_SIZES', [100, 1_000, 10_000]);
  const lookupSizes = sizesFrom('BENCH_B5_LOOKUP_SIZES', [10_000, 1_000_000]);
  const submitters = envInt('BENCH_B5_SUBMITTERS', 100);
  const tuning = { maxConcurrentWorkflowTaskExecutions: 100, maxConcurrentActivityTaskExecutions: 200 };
  const stack = await startStack(tuning);
  const dir = mkdtempSync(join(tmpdir(), 'jobledger-bench-growth-'));
  try {
    await runJobs(stack, 50, 25, `growth-warmup-${process.pid}`);
    const runs: Array<{ jobs: number; seconds: number; msPerJob: number; jobsPerSec: number }> = [];
    for (const n of sizes) {
      const { ms } = await runJobs(stack, n, submitters, `growth-${n}-${process.pid}`);
      runs.push({ jobs: n, seconds: round(ms / 1000, 1), msPerJob: round(ms / n, 2), jobsPerSec: round(n / (ms / 1000), 1) });
      console.log(`  ${n} jobs: ${round(ms / 1000, 1)} s, ${round(ms / n, 2)} ms/job`);
    }
    const base = runs[0]!.msPerJob;
    const spread = round(Math.max(...runs.map((r) => Math.abs(r.msPerJob - base) / base)), 3);
    const total = 50 + sizes.reduce((s, n) => s + n, 0);
    // Visibility lags the closes a little: reconcile is timed once it lists every job as closed.
    const closed = 'JobType IS NOT NULL AND ExecutionStatus != "Running"';
    for (let tries = 0; (await stack.client.workflow.count(closed)).count < total && tries < 300; tries++) await new Promise((r) => setTimeout(r, 200));
    const t0 = performance.now();
    const report = await reconcile({ client: stack.client, ledger: stack.ledger });
    const reconcileMs = performance.now() - t0;
    const exported = await timedExport(stack.client, stack.ledger, dir);
    const lookups: Lookups[] = [];
    for (const n of lookupSizes) lookups.push(await sqliteLookups(dir, n, 20_000));
    const first = lookups[0]!;
    const last = lookups.at(-1)!;
    const lookupGrowth = round(last.findJob.p99Us / first.findJob.p99Us, 2);
    const result = {
      bench: 'b5',
      date: new Date().toISOString(),
      node: process.version,
      setup: { sizes, submitters, worker: tuning, warmupJobs: 50 },
      runs,
      perJobSpreadVsSmallest: spread,
      atLargest: {
        jobsInTemporal: total,
        reconcile: { ms: Math.round(reconcileMs), ok: report.ok },
        auditExport: { ms: Math.round(exported.ms), leaves: exported.added, leafBytes: exported.archiveBytes },
      },
      lookups,
      lookupFindJobP99Growth: lookupGrowth,
      target: TARGET,
      meetsTarget: { perJobFlat: spread <= TARGET.perJobSpread, lookupsFlat: lookupGrowth <= TARGET.lookupP99Growth },
    };
    const file = writeResult('b5', result);
    console.log(`B5 growth (${submitters} submitters): ${runs.map((r) => `${r.jobs} jobs ${r.msPerJob} ms/job`).join(', ')}; spread ${round(spread * 100, 1)} % (target ≤ 20 %)`);
    console.log(`  at ${total} jobs: reconcile ${result.atLargest.reconcile.ms} ms (${report.ok ? 'no discrepancy' : 'discrepancies'}), audit export ${result.atLargest.auditExport.ms} ms (${exported.added} leaves)`);
    for (const l of lookups) console.log(`  lookups among ${l.jobs}: findJob p50 ${l.findJob.p50Us} p99 ${l.findJob.p99Us} µs, getJobById p99 ${l.getJobById.p99Us} µs, absent p99 ${l.findJobMiss.p99Us} µs`);
    console.log(`  wrote ${file}`);
    return {
      headline:
        `${runs.map((r) => `${r.jobs}: ${r.msPerJob} ms/job`).join(', ')} (spread ${round(spread * 100, 1)} %, ${result.meetsTarget.perJobFlat ? 'met' : 'missed'}); ` +
        `at ${total} jobs reconcile ${round(reconcileMs / 1000, 1)} s, export ${round(exported.ms / 1000, 1)} s; findJob p99 ${first.findJob.p99Us} µs at ${first.jobs}, ${last.findJob.p99Us} µs at ${last.jobs} (${result.meetsTarget.lookupsFlat ? 'flat' : 'not flat'})`,
      file,
    };
  } finally {
    await stack.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
