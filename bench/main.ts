/**
 * Benchmark entry point: `npm run bench [-- scenario...] [--json]`. With no names it runs every scenario
 * in BENCHES' order; `ledger` is another name for `b3`. Each scenario prints its summary and writes
 * artifacts/bench/<scenario>.json; the run then adds a row per scenario to the runs table of
 * docs/BENCHMARKS.md (not with BENCH_RECORD=0, for quick trials). `--json` prints one JSON object (scenario: headline and file) on stdout instead of
 * the summaries, which then go to stderr.
 */
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

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const json = argv.includes('--json');
  const names = argv.filter((a) => a !== '--json').map((n) => ALIASES[n] ?? n);
  const unknown = names.filter((n) => !(n in BENCHES));
  if (unknown.length > 0) {
    console.error(`unknown bench: ${unknown.join(', ')} (known: ${[...Object.keys(BENCHES), ...Object.keys(ALIASES)].join(', ')})`);
    process.exit(2);
  }
  if (json) console.log = console.error;
  const started = environment();
  const summaries: Record<string, BenchSummary> = {};
  let failed = 0;
  for (const name of names.length > 0 ? names : Object.keys(BENCHES)) {
    // A scenario that fails is recorded as failed, and the others still run.
    const summary = await BENCHES[name]!().then(
      (s) => s ?? { headline: `see artifacts/bench/${name}.json` },
      (err: unknown) => {
        failed++;
        console.error(err);
        return { headline: `FAILED: ${err instanceof Error ? err.message : String(err)}` };
      },
    );
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
