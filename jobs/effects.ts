/**
 * Where `jobledger reconcile` counts what jobs did downstream. An application gives one `EffectSource` per
 * system that records the effects of one job type's steps (a payments provider's charges, say), and
 * reconcile checks every kind of effect against that job type's outcomes in Temporal:
 *
 *   Completed jobs <= net effects <= Completed + open + Abandoned jobs
 *
 * since each Completed job holds exactly one net effect of each kind, a Compensated or Failed job none (its
 * effects were reversed, or never applied), and an open or Abandoned job at most one. An effect is told
 * apart by the Idempotency-Key it was applied with: the key of the step that applied it, `<jobId>/<step>`.
 */

/** One effect as the downstream system recorded it. */
export interface AppliedEffect {
  /** The Idempotency-Key it was applied with. */
  idempotencyKey: string;
  /** When it was applied. */
  appliedAt: Date | string | number;
}

/** What an effect source counts: the effects of jobs in scope, and the effects no job applied in the time scope. */
export interface EffectScope {
  /** The job type whose effects are counted (the source's). */
  jobType: string;
  /**
   * Whether an effect is counted: a job of this type in scope applied it, or its key names no job of a known
   * type and it was applied inside the time scope (`--since`, retention), like a charge made by hand. The
   * effects of other job types, and of jobs out of scope, are not.
   */
  includes(effect: AppliedEffect): boolean;
}

/** The counted effects of one kind. */
export interface EffectCount {
  /** The kind, e.g. `charge`. */
  kind: string;
  /** Effects of this kind counted, less those reversed (refunded, released): each Completed job holds one. */
  net: number;
  /** How `net` was reached, for the report, e.g. `4 charges, 1 fully refunded`. */
  detail?: string;
  /** Idempotency keys of the counted effects: reconcile names those that no job in scope applied. */
  keys?: string[];
}

/** A downstream system's record of one job type's effects. */
export interface EffectSource {
  /** The job type whose effects it records. */
  jobType: string;
  /** The system, for the report, e.g. `payments`. */
  name: string;
  /** The effects in scope, per kind. */
  count(scope: EffectScope): Promise<EffectCount[]>;
}

/**
 * What a jobs module exports as `effects` (see jobs/app.ts): its effect sources, given the downstream
 * services configured (`JOBLEDGER_SERVICE_<NAME>_URL`, by name). A source whose service is missing is left out.
 */
export type EffectSources = (services: Readonly<Record<string, string>>) => EffectSource[];
