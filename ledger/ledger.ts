/**
 * The Ledger: all the semantics of job-level dedupe records and the
 * step-level idempotency ledger, on top of any LedgerBackend. A step is
 * claimed under a lease by one owner (worker identity + attempt), completed
 * exactly once (optionally together with a caller's local SQL effect), and a
 * later claim of a completed step gets the stored result back instead of
 * running the side effect again. Every change is a compare-and-set on the
 * record's version, made in a transaction with the audit event describing it;
 * a lost compare-and-set is re-read and decided again, a bounded number of times.
 */
import { jobIdFor, JobStatus, type RecordedStatus } from '../common/constants';
import type { EventQuery, JobQuery, LedgerBackend, LedgerTx, SqlHandle } from './backend';
import {
  LeaseLostError,
  LedgerVersionConflictError,
  StepInProgressError,
  StepInputConflictError,
  StepState,
  type JobRecord,
  type JobView,
  type LedgerEvent,
  type StepOwner,
  type StepRecord,
} from './types';

export interface LedgerOptions {
  /** Where records and events are stored. Required. */
  backend: LedgerBackend;
  /** Clock in epoch milliseconds for leases, dedupe windows and timestamps. Default: `Date.now`. */
  now?: () => number;
  /** How many times an operation is re-read and retried after losing a compare-and-set. Default: 5. */
  maxCasRetries?: number;
}

export interface ClaimStepInput {
  key: string;
  jobId: string;
  step: string;
  owner: StepOwner;
  /** How long the claim holds before another owner may take the step over, in ms. */
  leaseMs: number;
  /** Hash of the step's input; it must match the hash stored by earlier claims of the key. */
  requestHash: string;
}

export type ClaimResult =
  | { kind: 'claimed'; record: StepRecord; takeover: boolean }
  | { kind: 'completed'; result: unknown; record: StepRecord };

export interface CompleteStepInput {
  key: string;
  owner: StepOwner;
  /** JSON-serialisable result, returned to every later claim of the key. */
  result: unknown;
  /** Local write that must commit together with the completion (or not at all). */
  effect?: (sql: SqlHandle) => void | Promise<void>;
}

export interface FailStepInput {
  key: string;
  owner: StepOwner;
  /** The failure; an Error is stored as `{ name, message }`, anything else as given (JSON). */
  error: unknown;
}

export interface NewJob {
  jobId: string;
  jobType: string;
  idempotencyKey: string;
  inputHash: string;
  submittedBy: string;
  definitionVersion: string;
  /** Workflow run id, if already known. Default: null. */
  runId?: string | null;
  /** Initial status. Default: `Running`. */
  status?: RecordedStatus;
  /** How long a resubmission with the same idempotency key counts as a duplicate, in ms. */
  dedupeWindowMs: number;
}

export interface RecordJobResult {
  /** True if this call stored the record; false if the job key already existed. */
  inserted: boolean;
  /** The record now stored under the job key. */
  record: JobRecord;
  /** The record that was already there when not inserted (check `expired`); null when inserted. */
  existing: JobView | null;
}

/** Returned by one attempt of an operation that lost a compare-and-set and should be retried. */
class CasLost {
  constructor(readonly version: number) {}
}

function sameOwner(record: StepRecord, owner: StepOwner): boolean {
  return record.owner === owner.identity && record.attempt === owner.attempt;
}

function ownerOf(record: StepRecord): StepOwner {
  return { identity: record.owner, attempt: record.attempt };
}

function errorToJson(error: unknown): unknown {
  return error instanceof Error ? { name: error.name, message: error.message } : error;
}

export class Ledger {
  private readonly backend: LedgerBackend;
  private readonly now: () => number;
  private readonly maxCasRetries: number;

  constructor(options: LedgerOptions) {
    this.backend = options.backend;
    this.now = options.now ?? Date.now;
    this.maxCasRetries = options.maxCasRetries ?? 5;
  }

  /**
   * Claims a step for `owner`. Returns the stored result if the step already
   * completed; throws StepInProgressError while another owner's lease is live
   * and StepInputConflictError if the request hash differs from the stored one.
   */
  async claimStep(input: ClaimStepInput): Promise<ClaimResult> {
    const { key, owner } = input;
    return this.withCasRetries<ClaimResult>(key, async (tx) => {
      const now = this.now();
      const leaseExpiresAt = now + input.leaseMs;
      const fresh: StepRecord = {
        key,
        jobId: input.jobId,
        step: input.step,
        state: StepState.IN_PROGRESS,
        requestHash: input.requestHash,
        owner: owner.identity,
        attempt: owner.attempt,
        leaseExpiresAt,
        result: null,
        error: null,
        version: 1,
        createdAt: now,
        updatedAt: now,
      };
      // The common case, a step never claimed before, costs a single insert.
      if (await tx.putStepIfAbsent(fresh)) {
        await this.event(tx, fresh, 'step.claimed', { owner, leaseExpiresAt });
        return { kind: 'claimed', record: fresh, takeover: false } as const;
      }
      const current = await tx.getStep(key);
      if (!current) return new CasLost(0);

      if (current.requestHash !== input.requestHash) {
        throw new StepInputConflictError(key, current.requestHash, input.requestHash);
      }
      if (current.state === StepState.COMPLETED) {
        await this.event(tx, current, 'step.replayed', { owner });
        return { kind: 'completed', result: current.result, record: current } as const;
      }

      const held = current.state === StepState.IN_PROGRESS;
      const leaseLive = held && current.leaseExpiresAt !== null && current.leaseExpiresAt > now;
      if (leaseLive && !sameOwner(current, owner)) {
        throw new StepInProgressError(key, ownerOf(current), current.leaseExpiresAt as number);
      }
      // Same owner re-claiming, an expired lease, or a FAILED step.
      const takeover = held && !sameOwner(current, owner);
      const record: StepRecord = {
        ...current,
        state: StepState.IN_PROGRESS,
        owner: owner.identity,
        attempt: owner.attempt,
        leaseExpiresAt,
        error: null,
        version: current.version + 1,
        updatedAt: now,
      };
      if (!(await tx.compareAndSetStep(record, current.version))) return new CasLost(current.version);
      await this.event(tx, record, takeover ? 'step.takeover' : 'step.claimed', {
        owner,
        leaseExpiresAt,
        previous: { state: current.state, owner: ownerOf(current), leaseExpiresAt: current.leaseExpiresAt },
      });
      return { kind: 'claimed', record, takeover } as const;
    });
  }

  /**
   * Marks the owner's IN_PROGRESS step COMPLETED with `result`, running
   * `effect` in the same transaction. Throws LeaseLostError if the owner no
   * longer holds the step; a repeat by the same owner returns the stored record.
   */
  async completeStep(input: CompleteStepInput): Promise<StepRecord> {
    const { key, owner } = input;
    return this.withCasRetries<StepRecord>(key, async (tx) => {
      const current = await this.heldStep(tx, key, owner, StepState.COMPLETED);
      if (current.state === StepState.COMPLETED) return current;
      const now = this.now();
      const record: StepRecord = {
        ...current,
        state: StepState.COMPLETED,
        result: input.result ?? null,
        leaseExpiresAt: null,
        version: current.version + 1,
        updatedAt: now,
      };
      if (!(await tx.compareAndSetStep(record, current.version))) return new CasLost(current.version);
      if (input.effect) await input.effect(tx.sql);
      await this.event(tx, record, 'step.completed', { owner });
      return record;
    });
  }

  /**
   * Marks the owner's IN_PROGRESS step FAILED with `error` and releases the
   * lease, so the next claim may retry it. Throws LeaseLostError if the owner
   * no longer holds the step; a repeat by the same owner returns the stored record.
   */
  async failStep(input: FailStepInput): Promise<StepRecord> {
    const { key, owner } = input;
    return this.withCasRetries<StepRecord>(key, async (tx) => {
      const current = await this.heldStep(tx, key, owner, StepState.FAILED);
      if (current.state === StepState.FAILED) return current;
      const error = errorToJson(input.error);
      const record: StepRecord = {
        ...current,
        state: StepState.FAILED,
        error,
        leaseExpiresAt: null,
        version: current.version + 1,
        updatedAt: this.now(),
      };
      if (!(await tx.compareAndSetStep(record, current.version))) return new CasLost(current.version);
      await this.event(tx, record, 'step.failed', { owner, error });
      return record;
    });
  }

  async getStep(key: string): Promise<StepRecord | undefined> {
    return this.backend.getStep(key);
  }

  async listSteps(jobId: string): Promise<StepRecord[]> {
    return this.backend.listSteps(jobId);
  }

  /** Looks a job up by its dedupe key (`jobType:idempotencyKey`). */
  async findJob(key: string): Promise<JobView | undefined> {
    const record = await this.backend.getJob(key);
    return record && this.view(record);
  }

  async getJobById(jobId: string): Promise<JobView | undefined> {
    const record = await this.backend.getJobById(jobId);
    return record && this.view(record);
  }

  async listJobs(query: JobQuery = {}): Promise<JobView[]> {
    return (await this.backend.listJobs(query)).map((r) => this.view(r));
  }

  /**
   * Stores a new job record unless its dedupe key exists. When it exists,
   * `existing` says so (and whether its dedupe window has passed, in which
   * case the caller may use replaceJob).
   */
  async recordJob(job: NewJob): Promise<RecordJobResult> {
    return this.backend.transaction(async (tx) => {
      const record = this.newJobRecord(job, 1);
      if (await tx.putJobIfAbsent(record)) {
        await this.jobEvent(tx, record, 'job.recorded', { jobKey: record.jobKey, dedupeUntil: record.dedupeUntil });
        return { inserted: true, record, existing: null };
      }
      const stored = await tx.getJob(record.jobKey);
      if (!stored) throw new Error(`job key ${record.jobKey} vanished during recordJob`);
      return { inserted: false, record: stored, existing: this.view(stored) };
    });
  }

  /**
   * Replaces a job record whose dedupe window has passed (a resubmission).
   * Throws LedgerVersionConflictError if the stored version is not
   * `expectedVersion` (someone else replaced it first), and an Error if the
   * stored record is still inside its dedupe window.
   */
  /**
   * Replaces a job record by a new run under the same key: allowed once the dedupe window has passed, or
   * when the recorded job ended `Failed` or `Abandoned` (a definition's `allow-retry` resubmission).
   */
  async replaceJob(job: NewJob, expectedVersion: number): Promise<JobRecord> {
    const key = jobIdFor(job.jobType, job.idempotencyKey);
    return this.backend.transaction(async (tx) => {
      const current = await tx.getJob(key);
      if (!current || current.version !== expectedVersion) throw new LedgerVersionConflictError(key, expectedVersion);
      const failed = current.status === JobStatus.Failed || current.status === JobStatus.Abandoned;
      if (!this.view(current).expired && !failed) throw new Error(`job ${key} is still inside its dedupe window`);
      const record = this.newJobRecord(job, expectedVersion + 1);
      if (!(await tx.compareAndSetJob(record, expectedVersion))) throw new LedgerVersionConflictError(key, expectedVersion);
      await this.jobEvent(tx, record, 'job.replaced', { jobKey: key, previousJobId: current.jobId, dedupeUntil: record.dedupeUntil });
      return record;
    });
  }

  /**
   * Records that a run of this job started (Temporal accepted it): inserts the record if the key is new,
   * and otherwise points it at this run, back to Running with a fresh dedupe window, when it named another
   * run (an operator's rerun of a terminated child, a resubmission that policy allowed, a job whose
   * dedupe window had passed). A `job.rerun` event names the previous run. Compare-and-set, retried on
   * conflicts; a no-op when the record already names this run.
   */
  async recordRun(job: NewJob): Promise<JobRecord> {
    const key = jobIdFor(job.jobType, job.idempotencyKey);
    return this.withCasRetries<JobRecord>(key, async (tx) => {
      const current = await tx.getJob(key);
      if (!current) {
        const record = this.newJobRecord(job, 1);
        if (!(await tx.putJobIfAbsent(record))) return new CasLost(0);
        await this.jobEvent(tx, record, 'job.recorded', { jobKey: key, dedupeUntil: record.dedupeUntil });
        return record;
      }
      if (current.runId === (job.runId ?? null)) return current;
      const record: JobRecord = { ...this.newJobRecord(job, current.version + 1), createdAt: current.createdAt };
      if (!(await tx.compareAndSetJob(record, current.version))) return new CasLost(current.version);
      await this.jobEvent(tx, record, 'job.rerun', { jobKey: key, runId: job.runId, previousRunId: current.runId, previousStatus: current.status });
      return record;
    });
  }

  /** Sets a job's status (and outcome, if given) by compare-and-set, retrying on conflicts. */
  async updateJobStatus(jobId: string, status: RecordedStatus, outcome?: unknown): Promise<JobRecord> {
    return this.withCasRetries<JobRecord>(jobId, async (tx) => {
      const current = await tx.getJobById(jobId);
      if (!current) throw new Error(`unknown job ${jobId}`);
      const record: JobRecord = {
        ...current,
        status,
        outcome: outcome === undefined ? current.outcome : outcome,
        version: current.version + 1,
        updatedAt: this.now(),
      };
      if (!(await tx.compareAndSetJob(record, current.version))) return new CasLost(current.version);
      await this.jobEvent(tx, record, 'job.status', { from: current.status, to: status });
      return record;
    });
  }

  /** Audit events in `seq` order. */
  async events(query: EventQuery = {}): Promise<LedgerEvent[]> {
    return this.backend.listEvents(query);
  }

  /**
   * Rejects with LedgerUnavailableError if the store can no longer be used (e.g. its file was deleted or
   * replaced since it was opened). Every write checks this too; workers also call it periodically.
   */
  async checkHealth(): Promise<void> {
    await this.backend.checkHealth();
  }

  async close(): Promise<void> {
    await this.backend.close();
  }

  /**
   * Runs `attempt` in a fresh transaction until it returns something other
   * than CasLost, at most `maxCasRetries` times.
   */
  private async withCasRetries<T>(key: string, attempt: (tx: LedgerTx) => Promise<T | CasLost>): Promise<T> {
    let lastVersion = 0;
    for (let i = 0; i < this.maxCasRetries; i++) {
      const out = await this.backend.transaction(attempt);
      if (!(out instanceof CasLost)) return out;
      lastVersion = out.version;
    }
    throw new LedgerVersionConflictError(key, lastVersion);
  }

  /**
   * Reads a step that `owner` is about to complete or fail. Returns it if the
   * owner holds it IN_PROGRESS or already moved it to `target`; otherwise the
   * lease is lost.
   */
  private async heldStep(tx: LedgerTx, key: string, owner: StepOwner, target: StepState): Promise<StepRecord> {
    const current = await tx.getStep(key);
    if (!current) throw new LeaseLostError(key, owner, null, null);
    const mine = sameOwner(current, owner);
    if (mine && (current.state === StepState.IN_PROGRESS || current.state === target)) return current;
    throw new LeaseLostError(key, owner, ownerOf(current), current.state);
  }

  private newJobRecord(job: NewJob, version: number): JobRecord {
    const now = this.now();
    return {
      jobKey: jobIdFor(job.jobType, job.idempotencyKey),
      jobId: job.jobId,
      jobType: job.jobType,
      idempotencyKey: job.idempotencyKey,
      inputHash: job.inputHash,
      status: job.status ?? JobStatus.Running,
      outcome: null,
      submittedBy: job.submittedBy,
      definitionVersion: job.definitionVersion,
      runId: job.runId ?? null,
      dedupeUntil: now + job.dedupeWindowMs,
      createdAt: now,
      updatedAt: now,
      version,
    };
  }

  private view(record: JobRecord): JobView {
    return { ...record, expired: record.dedupeUntil < this.now() };
  }

  private async event(tx: LedgerTx, step: StepRecord, kind: string, data: unknown): Promise<void> {
    await tx.appendEvent({ jobId: step.jobId, stepKey: step.key, kind, data, recordedAt: this.now() });
  }

  /** Appends an event to a job's trail (operator actions, dead letters). Returns its sequence number. */
  async recordJobEvent(jobId: string, kind: string, data: unknown): Promise<number> {
    return this.backend.transaction((tx) => tx.appendEvent({ jobId, stepKey: null, kind, data, recordedAt: this.now() }));
  }

  private async jobEvent(tx: LedgerTx, job: JobRecord, kind: string, data: unknown): Promise<void> {
    await tx.appendEvent({ jobId: job.jobId, stepKey: null, kind, data, recordedAt: this.now() });
  }
}
