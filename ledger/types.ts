/**
 * Vocabulary of the durable ledger: the closed sets of step states and job
 * statuses, the record shapes that the backends store, the named errors that
 * the Ledger throws, and the helpers that build step and job keys. Nothing in
 * this module touches storage.
 */
import type { RecordedStatus } from '../common/constants';

/**
 * States of one step record in the idempotency ledger. A lease that ran out is not a stored state: it is
 * derived when read (an IN_PROGRESS record whose `leaseExpiresAt` has passed may be taken over).
 */
export const StepState = {
  IN_PROGRESS: 'IN_PROGRESS',
  COMPLETED: 'COMPLETED',
  FAILED: 'FAILED',
} as const;
export type StepState = (typeof StepState)[keyof typeof StepState];

/** Lifecycle status of a job as recorded in the ledger (values are the words themselves). */

/** Who runs a step: a worker identity plus the activity attempt number. */
export interface StepOwner {
  identity: string;
  attempt: number;
}

/** One row of the step-level idempotency ledger. Times are epoch milliseconds. */
export interface StepRecord {
  /** `${jobId}/${step}` or `${jobId}/${step}#${index}`, see {@link stepKey}. */
  key: string;
  jobId: string;
  step: string;
  state: StepState;
  /** Hash of the step's input; a second claim with another hash is a conflict. */
  requestHash: string;
  /** Identity of the current (or last) owner. */
  owner: string;
  /** Attempt number of the current (or last) owner. */
  attempt: number;
  /** When the owner's lease ends; null once the lease is released (COMPLETED, FAILED). */
  leaseExpiresAt: number | null;
  /** JSON-serialisable result, set when COMPLETED. */
  result: unknown;
  /** JSON-serialisable error, set when FAILED. */
  error: unknown;
  /** Optimistic-concurrency version: 1 on insert, +1 on every change. */
  version: number;
  createdAt: number;
  updatedAt: number;
}

/** One row of the job-level dedupe table. Times are epoch milliseconds. */
export interface JobRecord {
  /** Unique dedupe key: `${jobType}:${idempotencyKey}`, see {@link jobKey}. */
  jobKey: string;
  jobId: string;
  jobType: string;
  idempotencyKey: string;
  inputHash: string;
  status: RecordedStatus;
  /** JSON-serialisable outcome (result or failure summary); null while running. */
  outcome: unknown;
  submittedBy: string;
  definitionVersion: string;
  runId: string | null;
  /** A resubmission with the same key is a duplicate until this instant. */
  dedupeUntil: number;
  createdAt: number;
  updatedAt: number;
  /** Optimistic-concurrency version: 1 on insert, +1 on every change. */
  version: number;
}

/** A job record as seen by a lookup: `expired` is true once the dedupe window has passed. */
export interface JobView extends JobRecord {
  expired: boolean;
}

/** An append-only audit entry. Ordering is by `seq` only, never by time. */
export interface LedgerEvent {
  seq: number;
  jobId: string;
  stepKey: string | null;
  kind: string;
  data: unknown;
  recordedAt: number;
}

/** An event before it is stored (the store assigns `seq`). */
export type NewLedgerEvent = Omit<LedgerEvent, 'seq'>;

export { stepKey } from '../common/constants';

/** Another owner holds an unexpired lease on the step. Retryable: try again later. */
export class StepInProgressError extends Error {
  readonly retryable = true;
  constructor(
    readonly key: string,
    readonly currentOwner: StepOwner,
    readonly leaseExpiresAt: number,
  ) {
    super(
      `step ${key} is in progress by ${currentOwner.identity} (attempt ${currentOwner.attempt}) ` +
        `until ${new Date(leaseExpiresAt).toISOString()}`,
    );
    this.name = 'StepInProgressError';
  }
}

/** A complete/fail came from an owner that no longer holds the step's lease. */
export class LeaseLostError extends Error {
  constructor(
    readonly key: string,
    readonly owner: StepOwner,
    readonly currentOwner: StepOwner | null,
    readonly state: StepState | null,
  ) {
    const holder = currentOwner ? `${currentOwner.identity} (attempt ${currentOwner.attempt})` : 'nobody';
    super(`lease on step ${key} lost by ${owner.identity} (attempt ${owner.attempt}); state ${state ?? 'absent'}, held by ${holder}`);
    this.name = 'LeaseLostError';
  }
}

/** The same step key was claimed with a different request hash than the stored one. */
export class StepInputConflictError extends Error {
  constructor(
    readonly key: string,
    readonly storedHash: string,
    readonly requestHash: string,
  ) {
    super(`step ${key} was recorded with request hash ${storedHash}, not ${requestHash}`);
    this.name = 'StepInputConflictError';
  }
}

/** A compare-and-set lost to a concurrent writer (after any retries). */
export class LedgerVersionConflictError extends Error {
  constructor(
    readonly key: string,
    readonly expectedVersion: number,
  ) {
    super(`version conflict on ${key}: expected version ${expectedVersion}`);
    this.name = 'LedgerVersionConflictError';
  }
}

/**
 * The ledger's store cannot be used: its file is missing, was deleted or replaced after it was opened, is
 * not a SQLite database, cannot be opened (a directory, no permission), or stayed locked past the busy
 * timeout. A dependency fault, not a fault of the job: another attempt (or another worker) may succeed.
 */
export class LedgerUnavailableError extends Error {
  constructor(
    /** The ledger file's path, as given to `openLedger`. */
    readonly path: string,
    /** What is wrong, in words. */
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`ledger ${path} is unavailable: ${reason}`, options);
    this.name = 'LedgerUnavailableError';
  }
}
