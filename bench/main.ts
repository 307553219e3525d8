/**
 * Benchmark entry point: `npm run bench [-- scenario...] [--json]`. With no names it runs every scenario
 * in BENCHES' order; `ledger` is another name for `b3`. Each scenario prints its summary and writes
 * artifacts/bench/<scenario>.json; the run then adds a row per scenario to the runs table of
 * docs/BENCHMARKS.md (not with BENCH_RECORD=0, for quick trials). `--json` prints one JSON object (scenario: headline and file) on stdout instead of
 * the summaries, which then go to stderr. When a run takes more than one scenario, each runs in a process
 * of its own, so what an earlier one leaves behind (heap, timers, compiled code) costs a later one nothing.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { environment, recordRun, type Bench, type BenchSummary } from './lib';
import { runLedgerBench } from './ledger';
import { runOverheadBench } from './overhead';
import { runDuplicateBench } from './duplicates';
import { runAuditBench } from './audit';
import { runGrowthBench } from './growth';
import { runDashboardBench } from './dashboard';
import { runBullmqBench } from './bullmq';

/** The scenarios, in the order a full run takes them. A scenario adds its one line here. */
const BENCHES: Record<string, Bench> = {
  b1: runOverheadBench,
  b2: runDuplicateBench,
  b3: () => runLedgerBench(),
  b4: runAuditBench,
  b5: runGrowthBench,
  b6: () => runBullmqBench(),
  dashboard: runDashboardBench,
};

const ALIASES: Record<string, string> = { ledger: 'b3' };

/** Set in a scenario's own process: where it writes its summary (and it records no row itself). */
const CHILD_SUMMARY = process.env.BENCH_CHILD_SUMMARY;

async function runHere(name: string): Promise<BenchSummary> {
  return (await BENCHES[name]!()) ?? { headline: `see artifacts/bench/${name}.json` };
}

/** Runs one scenario in a new process of this script (same node options) and reads back its summary. */
async function runInChild(name: string, json: boolean): Promise<BenchSummary> {
  const dir = mkdtempSync(join(tmpdir(), 'jobledger-bench-'));
  const file = join(dir, 'summary.json');
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn(process.execPath, [...process.execArgv, process.argv[1]!, name], {
        stdio: ['ignore', json ? process.stderr : 'inherit', 'inherit'],
        env: { ...process.env, BENCH_CHILD_SUMMARY: file },
      });
      child.once('error', reject);
      child.once('exit', resolve);
    });
    if (code !== 0) throw new Error(`scenario ${name} exited with code ${code}`);
    const summary: BenchSummary = JSON.parse(readFileSync(file, 'utf8'));
    return summary;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const json = argv.includes('--json');
  const names = argv.filter((a) => a !== '--json').map((n) => ALIASES[n] ?? n);
  const unknown = names.filter((n) => !(n in BENCHES));
  if (unknown.length > 0) {
    console.error(`unknown bench: ${unknown.join(', ')} (known: ${[...Object.keys(BENCHES), ...Object.keys(ALIASES)].join(', ')})`);
    process.exit(2);
  }
  if (CHILD_SUMMARY) {
    writeFileSync(CHILD_SUMMARY, JSON.stringify(await runHere(names[0]!)));
    return;
  }
  if (json) console.log = console.error;
  const started = environment();
  const chosen = names.length > 0 ? names : Object.keys(BENCHES);
  const summaries: Record<string, BenchSummary> = {};
  let failed = 0;
  for (const name of chosen) {
    // A scenario that fails is recorded as failed, and the others still run.
    const summary = await (chosen.length > 1 ? runInChild(name, json) : runHere(name)).catch((err: unknown) => {
      failed++;
      console.error(err);
      return { headline: `FAILED: ${err instanceof Error ? err.message : String(err)}` };
    });
    summaries[name] = summary;
    console.log(`${name}: ${summary.headline}`);
  }
  // The command as run, with the BENCH_* settings that changed sizes or sides.
  const settings = Object.entries(process.env).filter(([k]) => k.startsWith('BENCH_') && k !== 'BENCH_RECORD').map(([k, v]) => `${k}=${v} `).join('');
  if (process.env.BENCH_RECORD !== '0') recordRun(`${settings}npm run bench${argv.length > 0 ? ` -- ${argv.join(' ')}` : ''}`, Object.entries(summaries).map(([scenario, s]) => ({ scenario, headline: s.headline })), started);
  if (json) process.stdout.write(JSON.stringify(summaries, null, 2) + '\n');
  if (failed > 0) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
