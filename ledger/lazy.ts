/**
 * A backend that opens its real backend on first use. A process that may never touch the ledger (the
 * CLI's `status` and `list`, which need Temporal only) then never opens the file, so it neither needs
 * the file to exist and be healthy nor waits for another process's lock on it. An open that fails is
 * retried on the next use.
 */
import type { EventQuery, JobQuery, LedgerBackend, LedgerTx } from './backend';
import type { JobRecord, NewLedgerEvent, StepRecord } from './types';

export class LazyLedgerBackend implements LedgerBackend {
  private backend: LedgerBackend | undefined;

  /** `open` builds the real backend; it is called at the first operation (and again if it threw). Methods are async, so a failed open rejects. */
  constructor(private readonly open: () => LedgerBackend) {}

  private get real(): LedgerBackend {
    this.backend ??= this.open();
    return this.backend;
  }

  async getStep(key: string) { return this.real.getStep(key); }
  async listSteps(jobId: string) { return this.real.listSteps(jobId); }
  async putStepIfAbsent(record: StepRecord) { return this.real.putStepIfAbsent(record); }
  async compareAndSetStep(record: StepRecord, expectedVersion: number) { return this.real.compareAndSetStep(record, expectedVersion); }
  async getJob(jobKey: string) { return this.real.getJob(jobKey); }
  async getJobById(jobId: string) { return this.real.getJobById(jobId); }
  async listJobs(query?: JobQuery) { return this.real.listJobs(query); }
  async putJobIfAbsent(record: JobRecord) { return this.real.putJobIfAbsent(record); }
  async compareAndSetJob(record: JobRecord, expectedVersion: number) { return this.real.compareAndSetJob(record, expectedVersion); }
  async appendEvent(event: NewLedgerEvent) { return this.real.appendEvent(event); }
  async listEvents(query?: EventQuery) { return this.real.listEvents(query); }
  async transaction<T>(fn: (tx: LedgerTx) => Promise<T>) { return this.real.transaction(fn); }
  async checkHealth() { return this.real.checkHealth(); }

  async close(): Promise<void> {
    await this.backend?.close();
  }
}
