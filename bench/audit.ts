/**
 * B4: the audit trail's export and verification, in history events per second, in-process (no process
 * start in the figures). `BENCH_B4_JOBS` (default 600) `bench.list` jobs run to their end on the bench's
 * stack; then, one after the other: Temporal's raw history fetch of every closed job (list + fetchHistory,
 * what export cannot avoid), `audit export` (closedJobEntries + appendLeaves: the same fetch plus the ledger
 * records, leaf files, Merkle tree and signed checkpoint) into a fresh archive, and `audit verify`
 * (verifyArchive, `BENCH_B4_VERIFY_ROUNDS` times, default 3, median). Target: verify ≥ 100,000 events/s;
 * export is reported as its time over the raw fetch's. Writes artifacts/bench/b4.json.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { appendLeaves, generateKeyPair, signerFrom, verifyArchive } from '../audit/archive';
import { closedJobEntries } from '../client/audit-export';
import type { Ledger } from '../ledger';
import { envInt, median, round, writeResult, type BenchSummary } from './lib';
import { runJobs, startStack } from './stack';

const TARGET = { verifyEventsPerSec: 100_000 };
const CLOSED_JOBS = 'JobType IS NOT NULL AND ExecutionStatus != "Running"';

/** Every closed job's history, fetched as export fetches it: the time, the events and the runs. */
export async function rawHistoryFetch(client: Client): Promise<{ ms: number; events: number; runs: number }> {
  const t0 = performance.now();
  let events = 0;
  let runs = 0;
  for await (const execution of client.workflow.list({ query: CLOSED_JOBS })) {
    const history = await client.workflow.getHandle(execution.workflowId, execution.runId).fetchHistory();
    events += history.events?.length ?? 0;
    runs++;
  }
  return { ms: performance.now() - t0, events, runs };
}

/** `audit export` in-process into a new archive under `dir`: its time, the leaves added, and the archive's size on disk. */
export async function timedExport(client: Client, ledger: Ledger, dir: string): Promise<{ ms: number; added: number; archiveBytes: number; archive: string; publicKey: string }> {
  const keys = await generateKeyPair(join(dir, 'keys'));
  const signer = await signerFrom({ keyFile: keys.privateKeyFile });
  const archive = join(dir, 'archive');
  const t0 = performance.now();
  const entries = await closedJobEntries(client, ledger);
  const { added } = await appendLeaves(archive, entries, signer);
  const ms = performance.now() - t0;
  const leaves = join(archive, 'leaves');
  const archiveBytes = readdirSync(leaves).reduce((sum, name) => sum + statSync(join(leaves, name)).size, 0);
  return { ms, added, archiveBytes, archive, publicKey: keys.publicKeyFile };
}

export async function runAuditBench(): Promise<BenchSummary> {
  const jobs = envInt('BENCH_B4_JOBS', 600);
  const verifyRounds = envInt('BENCH_B4_VERIFY_ROUNDS', 3);
  const stack = await startStack();
  const dir = mkdtempSync(join(tmpdir(), 'jobledger-bench-audit-'));
  try {
    await runJobs(stack, jobs, 20, `audit-${process.pid}`);
    // Visibility lags the closes a little: wait until it lists every job as closed.
    for (let tries = 0; (await stack.client.workflow.count(CLOSED_JOBS)).count < jobs && tries < 100; tries++) await new Promise((r) => setTimeout(r, 200));
    const fetch = await rawHistoryFetch(stack.client);
    const exported = await timedExport(stack.client, stack.ledger, dir);
    if (exported.added !== fetch.runs) throw new Error(`export added ${exported.added} leaves for ${fetch.runs} closed jobs`);
    const verifyMs: number[] = [];
    for (let r = 0; r <= verifyRounds; r++) {
      const t0 = performance.now();
      const verified = await verifyArchive(exported.archive, { publicKey: readFileSync(exported.publicKey, 'utf8') });
      if (!('ok' in verified) || !verified.ok) throw new Error(`verify failed: ${JSON.stringify(verified)}`);
      if (r > 0) verifyMs.push(performance.now() - t0); // the first is a warm-up (file cache, JIT)
    }
    const verifyMedianMs = median(verifyMs);
    const perSec = (ms: number) => Math.round(fetch.events / (ms / 1000));
    const result = {
      bench: 'b4',
      date: new Date().toISOString(),
      node: process.version,
      setup: { jobs, closedRuns: fetch.runs, historyEvents: fetch.events, archiveLeafBytes: exported.archiveBytes, verifyRounds },
      rawFetch: { ms: round(fetch.ms), eventsPerSec: perSec(fetch.ms) },
      export: { ms: round(exported.ms), eventsPerSec: perSec(exported.ms), ratioToRawFetch: round(exported.ms / fetch.ms, 2) },
      verify: { ms: verifyMs.map((v) => round(v)), medianMs: round(verifyMedianMs), eventsPerSec: perSec(verifyMedianMs) },
      target: TARGET,
      meetsTarget: perSec(verifyMedianMs) >= TARGET.verifyEventsPerSec,
    };
    const file = writeResult('b4', result);
    console.log(`B4 audit: ${fetch.runs} closed jobs, ${fetch.events} history events, ${round(exported.archiveBytes / 2 ** 20, 1)} MiB of leaves`);
    console.log(`  raw history fetch ${result.rawFetch.ms} ms (${result.rawFetch.eventsPerSec} events/s)`);
    console.log(`  export ${result.export.ms} ms (${result.export.eventsPerSec} events/s), ${result.export.ratioToRawFetch}x the raw fetch`);
    console.log(`  verify median ${result.verify.medianMs} ms (${result.verify.eventsPerSec} events/s): target ≥ ${TARGET.verifyEventsPerSec} ${result.meetsTarget ? 'met' : 'missed'}`);
    console.log(`  wrote ${file}`);
    return {
      headline: `verify ${result.verify.eventsPerSec} events/s (${result.meetsTarget ? 'met' : 'missed'}); export ${result.export.eventsPerSec} events/s = ${result.export.ratioToRawFetch}x the raw history fetch; ${fetch.events} events of ${fetch.runs} jobs`,
      file,
    };
  } finally {
    await stack.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
