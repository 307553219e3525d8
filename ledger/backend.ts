/**
 * The persistence contract under the Ledger: plain reads, insert-if-absent and
 * compare-and-set writes for step and job records, an append-only event log,
 * and a transaction that lets a caller's own SQL commit together with a ledger
 * change. It carries no semantics (leases, owners, dedupe windows live in
 * ledger.ts) and is Promise-based so that a networked store such as
 * PostgreSQL can implement it too.
 */
import type { RecordedStatus } from '../common/constants';
import type { JobRecord, LedgerEvent, NewLedgerEvent, StepRecord } from './types';

/** One versioned schema change of a backend, in that backend's SQL dialect. */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/**
 * A minimal SQL handle for a caller's local effect, bound to the open transaction. Parameters are written
 * `?` in both backends (PostgreSQL's handle numbers them `$1..$n`). Await every call: on SQLite the
 * statement has run when the call returns, on PostgreSQL only when its Promise settles.
 */
export interface SqlHandle {
  run(sql: string, params?: unknown[]): Promise<void>;
  all(sql: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
}

export interface EventQuery {
  /** Only events of this job. Default: all jobs. */
  jobId?: string;
  /** Only events with `seq > afterSeq`. Default: 0 (from the start). */
  afterSeq?: number;
  /** At most this many events. Default: no limit. */
  limit?: number;
  /** Newest first (descending `seq`), so `limit: 1` reads the latest event. Default: false (ascending). */
  newestFirst?: boolean;
}

export interface JobQuery {
  /** Only jobs of this type. Default: any type. */
  type?: string;
  /** Only jobs in this status. Default: any status. */
  status?: RecordedStatus;
}

/** Record operations; available on the backend and, inside a transaction, on the transaction. */
export interface LedgerStore {
  getStep(key: string): Promise<StepRecord | undefined>;
  listSteps(jobId: string): Promise<StepRecord[]>;
  /** Inserts the record unless its key exists; true if inserted. */
  putStepIfAbsent(record: StepRecord): Promise<boolean>;
  /**
   * Writes the record's changing fields (state, request hash, owner, attempt,
   * lease, result, error, version, updatedAt) only if the stored version
   * equals `expectedVersion`; true if written. key, jobId, step and createdAt
   * never change.
   */
  compareAndSetStep(record: StepRecord, expectedVersion: number): Promise<boolean>;

  getJob(jobKey: string): Promise<JobRecord | undefined>;
  getJobById(jobId: string): Promise<JobRecord | undefined>;
  listJobs(query?: JobQuery): Promise<JobRecord[]>;
  /** Inserts the record unless its job key exists; true if inserted. */
  putJobIfAbsent(record: JobRecord): Promise<boolean>;
  /** Overwrites the record (including its `version`) only if the stored version equals `expectedVersion`; true if written. */
  compareAndSetJob(record: JobRecord, expectedVersion: number): Promise<boolean>;

  /** Appends an event and returns its sequence number (strictly increasing). */
  appendEvent(event: NewLedgerEvent): Promise<number>;
  /** Events in ascending `seq` order (descending with `newestFirst`). */
  listEvents(query?: EventQuery): Promise<LedgerEvent[]>;
}

/** The store as seen inside a transaction, plus a SQL handle for local effects. */
export interface LedgerTx extends LedgerStore {
  sql: SqlHandle;
}

export interface LedgerBackend extends LedgerStore {
  /**
   * Runs `fn` in one write transaction: everything it does through `tx`
   * commits together, or nothing does if it throws.
   */
  transaction<T>(fn: (tx: LedgerTx) => Promise<T>): Promise<T>;
  /**
   * Rejects with LedgerUnavailableError if the store can no longer be used (for SQLite: the file was
   * deleted or replaced since it was opened). Cheap enough to run before every write.
   */
  checkHealth(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The record operations of a backend, each run through the backend's `guard` (which checks the store is
 * usable, serialises it, and turns its faults into the ledger's errors) on the backend's `store`.
 */
export abstract class GuardedLedgerBackend implements LedgerStore {
  protected abstract readonly store: LedgerStore;
  protected abstract guard<T>(op: () => Promise<T>): Promise<T>;

  async getStep(key: string) { return this.guard(() => this.store.getStep(key)); }
  async listSteps(jobId: string) { return this.guard(() => this.store.listSteps(jobId)); }
  async putStepIfAbsent(record: StepRecord) { return this.guard(() => this.store.putStepIfAbsent(record)); }
  async compareAndSetStep(record: StepRecord, expectedVersion: number) {
    return this.guard(() => this.store.compareAndSetStep(record, expectedVersion));
  }
  async getJob(jobKey: string) { return this.guard(() => this.store.getJob(jobKey)); }
  async getJobById(jobId: string) { return this.guard(() => this.store.getJobById(jobId)); }
  async listJobs(query?: JobQuery) { return this.guard(() => this.store.listJobs(query)); }
  async putJobIfAbsent(record: JobRecord) { return this.guard(() => this.store.putJobIfAbsent(record)); }
  async compareAndSetJob(record: JobRecord, expectedVersion: number) {
    return this.guard(() => this.store.compareAndSetJob(record, expectedVersion));
  }
  async appendEvent(event: NewLedgerEvent) { return this.guard(() => this.store.appendEvent(event)); }
  async listEvents(query?: EventQuery) { return this.guard(() => this.store.listEvents(query)); }
}
