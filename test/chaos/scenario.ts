/**
 * The shapes every chaos scenario shares: what a scenario declares (id, sizes, a `run` that drives the
 * workload and injects faults on an open environment) and what a run reports (workload, faults, observed
 * counts, invariants, verdict). The runner (chaos/run.ts) opens the environment, calls `run`, applies the
 * shared invariants (chaos/invariants.ts) to the jobs the scenario reports as accepted, then the
 * scenario's own `checks`, and closes everything.
 */
import type { ChaosEnv } from './env';
import type { SharedCheck } from './invariants';

/** One invariant's verdict. `detail` says what was counted, and on failure what broke (with examples). */
export interface InvariantResult {
  name: string;
  ok: boolean;
  detail: string;
}

/** Numeric knobs of a scenario (job counts, kills, delays in ms). */
export type ScenarioParams = Record<string, number>;

/** What a scenario's `run` hands back to the runner. */
export interface ScenarioRun {
  /** One line: what was submitted, e.g. `200 order.fulfill jobs over 36 s, 3 workers`. */
  workload: string;
  /** One line: what was injected, e.g. `12 worker SIGKILLs (4 between charge and ledger completion)`. */
  faults: string;
  /** Ids of every job whose submission was acknowledged: the shared invariants apply to each. */
  accepted: string[];
  /** Counts the scenario observed while it ran (kills, retries, submissions...). */
  observed: Record<string, unknown>;
  /** Scenario-specific invariants, checked after the shared ones (jobs settled, effects counted). */
  checks?: (shared: SharedCheck) => Promise<InvariantResult[]>;
  /** Require every accepted job to end `Completed` (no business failure was injected). Default false. */
  expectAllCompleted?: boolean;
}

export interface ChaosScenario<P extends ScenarioParams = ScenarioParams> {
  /** Short id used on the command line, e.g. `C1`. */
  id: string;
  title: string;
  /** Sizes of the full run (`npm run chaos`). */
  full: P;
  /** Reduced sizes for the smoke test (`--smoke`). */
  smoke: P;
  /** How long the accepted jobs get to settle after `run` returns, in ms (a param named `settleMs` wins). */
  settleMs?: number;
  /**
   * The world as separate hosts: a throwaway PostgreSQL server holds the ledger and the breakers, and
   * every worker runs in a working directory of its own, sharing no file with another process. Default:
   * one host, a SQLite ledger file shared by every process.
   */
  hosts?: 'separate';
  /** Drives the workload and the faults on a fresh environment; must stop every loop it starts. */
  run(env: ChaosEnv, params: P): Promise<ScenarioRun>;
}

/** A scenario run's full record: what `--json` prints and artifacts/chaos/*.json holds. */
export interface ScenarioResult {
  id: string;
  title: string;
  size: 'full' | 'smoke';
  params: ScenarioParams;
  seed: number;
  commit: string;
  startedAt: string;
  workload: string;
  faults: string;
  observed: Record<string, unknown>;
  invariants: InvariantResult[];
  ok: boolean;
  durationMs: number;
  /** Timeline of injected faults and notable happenings, ms since the start. */
  events: { atMs: number; what: string }[];
  /** Where the processes' logs were kept (failed runs only). */
  logs?: string;
}
