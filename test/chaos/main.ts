/**
 * `npm run chaos [-- C1 C4 ...] [--smoke] [--set name=value ...] [--seed N] [--json] [--record]` runs the
 * named scenarios (default: all, in registry order) one after another, each on its own fresh dev server,
 * workers and providers. It prints a summary (or, with --json, the results as JSON on stdout), writes
 * artifacts/chaos/<id>-<timestamp>.json per scenario, appends rows to docs/RELIABILITY.md with
 * --record, and exits 1 if any scenario failed (2 on bad usage). SIGINT/SIGTERM stop every process it
 * started and remove its temp dirs.
 */
import { runCleanups } from './processes';
import { getScenario, SCENARIOS } from './registry';
import { ARTIFACTS_DIR, formatSummary, recordRows, writeArtifact } from './report';
import { runScenario } from './run';
import type { ChaosScenario, ScenarioParams, ScenarioResult } from './scenario';

const USAGE = `usage: npm run chaos -- [scenario...] [--smoke] [--set name=value]... [--seed N] [--json] [--record]
  scenarios: ${SCENARIOS.map((s) => `${s.id} (${s.title})`).join('; ')}
  --smoke    reduced sizes (what the smoke test runs)
  --set      override one param of the chosen scenarios, e.g. --set jobs=50
  --seed     PRNG seed of kill timing and victims (default: from the clock)
  --json     print the results as JSON on stdout instead of the summary
  --record   append one row per scenario to docs/RELIABILITY.md`;

interface Args {
  scenarios: ChaosScenario[];
  size: 'full' | 'smoke';
  overrides: ScenarioParams;
  seed?: number;
  json: boolean;
  record: boolean;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { scenarios: [], size: 'full', overrides: {}, json: false, record: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--smoke') args.size = 'smoke';
    else if (arg === '--json') args.json = true;
    else if (arg === '--record') args.record = true;
    else if (arg === '--seed') args.seed = Number.parseInt(argv[++i] ?? '', 10);
    else if (arg === '--set') {
      const match = /^(\w+)=(\d+)$/.exec(argv[++i] ?? '');
      if (!match) throw new Error('--set needs name=<integer>');
      args.overrides[match[1]!] = Number(match[2]);
    } else if (arg === '--help' || arg === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else if (arg.startsWith('-')) throw new Error(`unknown option ${arg}`);
    else args.scenarios.push(getScenario(arg));
  }
  if (args.seed !== undefined && !Number.isInteger(args.seed)) throw new Error('--seed needs an integer');
  if (args.scenarios.length === 0) args.scenarios = [...SCENARIOS];
  for (const name of Object.keys(args.overrides)) {
    if (!args.scenarios.some((s) => name in s.full)) throw new Error(`no chosen scenario has a param '${name}'`);
  }
  return args;
}

async function main(): Promise<void> {
  let args: Args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  let interrupted = false;
  const stop = (signal: string) => {
    interrupted = true;
    process.stderr.write(`\n${signal}: stopping every process the chaos suite started\n`);
    void runCleanups().finally(() => process.exit(130));
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));

  const results: ScenarioResult[] = [];
  for (const scenario of args.scenarios) {
    const result = await runScenario(scenario, {
      size: args.size,
      overrides: Object.fromEntries(Object.entries(args.overrides).filter(([name]) => name in scenario.full)),
      ...(args.seed !== undefined && { seed: args.seed }),
      log: (line) => process.stderr.write(`[chaos ${scenario.id}] ${line}\n`),
      logsDir: ARTIFACTS_DIR,
    });
    if (interrupted) return; // the run was cut short: nothing to report
    results.push(result);
    const path = writeArtifact(result);
    process.stderr.write(`[chaos ${scenario.id}] wrote ${path}\n`);
  }
  if (args.record) recordRows(results);
  if (args.json) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
  else process.stdout.write(`\n${formatSummary(results)}\n`);
  process.exitCode = results.every((r) => r.ok) ? 0 : 1;
}

main().catch(async (err: unknown) => {
  console.error(err);
  await runCleanups();
  process.exit(1);
});
