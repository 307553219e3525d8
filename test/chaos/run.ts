/**
 * Runs one scenario end to end, the same way for `npm run chaos` and for the smoke test: open a fresh
 * environment, let the scenario drive its workload and faults, check the shared invariants on the jobs
 * it reports as accepted, then its own checks, and close everything (also on failure). A scenario that
 * throws, or overruns its time limit, yields a failed result rather than an exception.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { ChaosEnv } from './env';
import { ROOT } from './devserver';
import { checkShared } from './invariants';
import type { ChaosScenario, InvariantResult, ScenarioParams, ScenarioResult, ScenarioRun } from './scenario';

export interface RunScenarioOptions {
  /** `full` or `smoke` sizes. Default `full`. */
  size?: 'full' | 'smoke';
  /** Overrides of single params (e.g. `{ jobs: 50 }`); unknown names are rejected. Default none. */
  overrides?: ScenarioParams;
  /** PRNG seed for fault timing and victims. Default: derived from the clock. */
  seed?: number;
  /** Progress lines. Default: none. */
  log?: (line: string) => void;
  /** Hard limit on the whole scenario (workload, faults and checks), in ms. Default 20 minutes. */
  timeLimitMs?: number;
  /** When the scenario fails, the processes' logs are copied to `<logsDir>/<id>-<start time>-logs`. Default: not kept. */
  logsDir?: string;
}

/** `<id>-<start time>`, the stem of a run's artifact names. */
export function artifactStem(id: string, startedAt: string): string {
  return `${id}-${startedAt.replace(/[:.]/g, '-')}`;
}

/** The commit under test: short hash, `+dirty` when tracked files differ from it. */
export function currentCommit(): string {
  try {
    const hash = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT, encoding: 'utf8' }).trim() !== '';
    return dirty ? `${hash}+dirty` : hash;
  } catch {
    return 'unknown';
  }
}

/** The params of a run: the chosen size with the overrides applied. */
export function paramsFor(scenario: ChaosScenario, size: 'full' | 'smoke', overrides: ScenarioParams = {}): ScenarioParams {
  const base = size === 'smoke' ? scenario.smoke : scenario.full;
  for (const name of Object.keys(overrides)) {
    if (!(name in base)) throw new Error(`${scenario.id} has no param '${name}' (it has: ${Object.keys(base).join(', ')})`);
  }
  return { ...base, ...overrides };
}

export async function runScenario(scenario: ChaosScenario, options: RunScenarioOptions = {}): Promise<ScenarioResult> {
  const size = options.size ?? 'full';
  const params = paramsFor(scenario, size, options.overrides);
  const seed = options.seed ?? Date.now() % 1_000_000;
  const startedAt = new Date();
  const result: ScenarioResult = {
    id: scenario.id,
    title: scenario.title,
    size,
    params,
    seed,
    commit: currentCommit(),
    startedAt: startedAt.toISOString(),
    workload: '',
    faults: '',
    observed: {},
    invariants: [],
    ok: false,
    durationMs: 0,
    events: [],
  };
  const log = options.log ?? (() => {});
  log(`${scenario.id} ${scenario.title} (${size}, seed ${seed}): ${JSON.stringify(params)}`);
  let env: ChaosEnv | undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    const limit = options.timeLimitMs ?? 20 * 60_000;
    const overrun = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`time limit of ${limit / 1000} s exceeded`)), limit);
    });
    const work = (async () => {
      env = await ChaosEnv.open({ seed, log, ...(scenario.hosts && { hosts: scenario.hosts }) });
      const run: ScenarioRun = await scenario.run(env, params as never);
      result.workload = run.workload;
      result.faults = run.faults;
      result.observed = run.observed;
      env.note(`workload done: ${run.accepted.length} jobs accepted; checking invariants`);
      const shared = await checkShared(env, run.accepted, { settleMs: params.settleMs ?? scenario.settleMs ?? 180_000, ...(run.expectAllCompleted && { expectAllCompleted: true }) });
      result.observed = { ...run.observed, statuses: shared.statuses, effects: shared.effects };
      const own: InvariantResult[] = run.checks ? await run.checks(shared) : [];
      result.invariants = [...shared.invariants, ...own];
    })();
    work.catch(() => {}); // handled through the race below
    await Promise.race([work, overrun]);
  } catch (err) {
    result.invariants.push({ name: 'scenario-ran', ok: false, detail: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  } finally {
    clearTimeout(timer);
    result.ok = result.invariants.length > 0 && result.invariants.every((i) => i.ok);
    if (env) {
      result.events = env.events;
      if (!result.ok && options.logsDir) result.logs = join(options.logsDir, `${artifactStem(result.id, result.startedAt)}-logs`);
      await env.close(result.logs);
    }
    result.durationMs = Date.now() - startedAt.getTime();
  }
  log(`${scenario.id} ${result.ok ? 'PASSED' : 'FAILED'} in ${(result.durationMs / 1000).toFixed(1)} s`);
  return result;
}
