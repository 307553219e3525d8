/**
 * What the dashboard page shows, gathered in one typed `DashboardState`: the window's figures from the
 * ledger's events (figures.ts, read incrementally after a cursor), live counts by status from Temporal's
 * count API over the JobStatus search attribute, the dead letter (the same listing and diagnosis as
 * `jobledger dlq list` and `jobledger diagnose`), Web UI links, and the health panel (pollers on the task
 * queue, circuit breakers, the audit archive's last checkpoint, the last reconcile verdict).
 */
import type { Client } from '@temporalio/client';
import { JobStatus } from '../../common/constants';
import type { FailureContext } from '../../common/types';
import type { Ledger } from '../../ledger';
import type { BreakerListing, BreakerState } from '../../resilience';
import { taskQueuePollers, within, type TaskQueuePollers } from '../doctor';
import { lastAuditCheckpoint, lastReconcileVerdict, type CheckpointHealth, type RecordedVerdict } from '../health';
import type { JobClient } from '../jobs';
import { jobUrl, quoteVisibilityValue } from '../list';
import { FigureAggregate, LIVE_STATUSES, readNewEvents, type DashboardFigures, type DashboardWindow, type LiveCounts } from './figures';

/** Where the state comes from; the dashboard server holds one of these. */
export interface DashboardSources {
  client: Client;
  jobs: JobClient;
  ledger: Ledger;
  namespace: string;
  taskQueue: string;
  /** Base URL of the Temporal Web UI, e.g. `http://127.0.0.1:8233`. */
  uiUrl: string;
  /** Circuit breakers to list; undefined when none are configured. */
  breakers?: BreakerListing;
  /** The audit archive whose last checkpoint the health panel shows; undefined when none is given. */
  archiveDir?: string;
  /** Clock, epoch ms. Default `Date.now`. */
  now?: () => number;
}

/** One parked job, as the dead-letter table shows it. */
export interface DeadLetterRow {
  jobId: string;
  jobType: string;
  step: string | null;
  errorClass: string | null;
  /** When it was parked (the failure's time), else when the job started; ISO-8601. */
  since: string | null;
  ageMs: number | null;
  /** The failure context `jobledger diagnose` shows; null with `diagnosisProblem` when it could not be read. */
  diagnosis: Pick<FailureContext, 'phase' | 'message' | 'hint' | 'runbook' | 'actions' | 'attempt' | 'at'> | null;
  diagnosisProblem?: string;
  /** The job's page in the Web UI. */
  url: string;
}

/** A health line that could not be read says why. */
export type Probe<T> = { ok: true; value: T } | { ok: false; problem: string };

export interface HealthPanel {
  taskQueue: string;
  workers: Probe<TaskQueuePollers>;
  /** Circuit states by dependency; null when no breaker store is configured. */
  breakers: Probe<Array<{ dependency: string; state: BreakerState; failures: number; openedAt: number | null }>> | null;
  /** The audit archive's last checkpoint; null when the dashboard was started without `--archive`. */
  checkpoint: CheckpointHealth | null;
  /** The last `jobledger reconcile` verdict; null when reconcile never ran against this ledger. */
  reconcile: Probe<RecordedVerdict | null>;
}

export interface DashboardState {
  generatedAt: number;
  figures: DashboardFigures;
  /** Why live counts are missing (Temporal could not be asked), when they are. */
  liveProblem?: string;
  deadLetter: Probe<DeadLetterRow[]>;
  health: HealthPanel;
  links: {
    /** The Web UI's workflow list, filtered like each figure set: by job type ('*': all) and close time. */
    byJobType: Record<string, string>;
  };
}

/** How long the reads from Temporal and the stores are shared between requests, in ms. */
export const TEMPORAL_READS_TTL_MS = 1_500;

interface TemporalReads {
  live: Probe<Map<string, LiveCounts>>;
  deadLetter: Probe<DeadLetterRow[]>;
  health: HealthPanel;
}

/** The most parked jobs listed (and diagnosed) at once. */
export const DEAD_LETTER_ROWS = 100;
/** How long one diagnose query may take before the row shows the problem instead. */
const DIAGNOSE_TIMEOUT_MS = 3_000;

function problemOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function probe<T>(read: () => Promise<T>): Promise<Probe<T>> {
  try {
    return { ok: true, value: await read() };
  } catch (err) {
    return { ok: false, problem: problemOf(err) };
  }
}

/** Counts by live status per job type, from Temporal visibility (running executions only). */
export async function liveCounts(client: Client, jobTypes: readonly string[]): Promise<Map<string, LiveCounts>> {
  const counts = new Map<string, LiveCounts>();
  await Promise.all(
    jobTypes.map(async (jobType) => {
      const entry: LiveCounts = { Running: 0, Retrying: 0, Compensating: 0, DeadLettered: 0 };
      await Promise.all(
        LIVE_STATUSES.map(async (status) => {
          const query = `ExecutionStatus="Running" AND JobType=${quoteVisibilityValue(jobType)} AND JobStatus=${quoteVisibilityValue(status)}`;
          entry[status] = (await client.workflow.count(query)).count;
        }),
      );
      counts.set(jobType, entry);
    }),
  );
  return counts;
}

/** The Web UI's workflow list filtered by job type (undefined: all jobs) and closed after `from`. */
export function filteredUiUrl(uiUrl: string, namespace: string, jobType: string | undefined, from: number): string {
  const clauses = [...(jobType === undefined ? [] : [`JobType=${quoteVisibilityValue(jobType)}`]), `CloseTime>="${new Date(from).toISOString()}"`];
  return `${uiUrl.replace(/\/+$/, '')}/namespaces/${encodeURIComponent(namespace)}/workflows?query=${encodeURIComponent(clauses.join(' AND '))}`;
}

/** Keeps the running aggregate and a cache of diagnoses; `read(window)` gathers one state. */
export class DashboardStateReader {
  private readonly aggregate = new FigureAggregate();
  private readonly diagnoses = new Map<string, DeadLetterRow['diagnosis']>();
  /** One ledger read at a time: concurrent requests wait for it instead of reading the same events twice. */
  private reading: Promise<number> | undefined;

  constructor(private readonly sources: DashboardSources) {}

  /** Reads the ledger's new events into the aggregate; returns how many were read. */
  async refresh(): Promise<number> {
    this.reading ??= readNewEvents(this.sources.ledger, this.aggregate, this.now()).finally(() => {
      this.reading = undefined;
    });
    return this.reading;
  }

  async read(window: DashboardWindow): Promise<DashboardState> {
    await this.refresh();
    const now = this.now();
    const types = this.aggregate.jobTypes();
    const { live, deadLetter, health } = await this.temporalReads(now, types);
    const figures = this.aggregate.figures(window, now, live.ok ? live.value : undefined);
    const { uiUrl, namespace } = this.sources;
    const byJobType: Record<string, string> = { '*': filteredUiUrl(uiUrl, namespace, undefined, figures.from) };
    for (const t of figures.jobTypes) byJobType[t.jobType] = filteredUiUrl(uiUrl, namespace, t.jobType, figures.from);
    return {
      generatedAt: now,
      figures,
      ...(!live.ok && { liveProblem: live.problem }),
      deadLetter,
      health,
      links: { byJobType },
    };
  }

  /**
   * What comes from Temporal and the stores (live counts, the dead letter, health), shared by every request
   * for TEMPORAL_READS_TTL_MS: several open pages cost Temporal the queries of one.
   */
  private temporalReads(now: number, types: readonly string[]): Promise<TemporalReads> {
    const key = types.join('\n');
    const cached = this.reads;
    if (cached && cached.key === key && now - cached.at < TEMPORAL_READS_TTL_MS) return cached.value;
    const value = Promise.all([probe(() => liveCounts(this.sources.client, types)), this.deadLetter(now), this.health(now)]).then(
      ([live, deadLetter, health]) => ({ live, deadLetter, health }),
    );
    this.reads = { key, at: now, value };
    return value;
  }
  private reads: { key: string; at: number; value: Promise<TemporalReads> } | undefined;

  /** Forgets the shared reads (after an action changed what they show). */
  invalidate(): void {
    this.reads = undefined;
  }

  private now(): number {
    return (this.sources.now ?? Date.now)();
  }

  private async deadLetter(now: number): Promise<Probe<DeadLetterRow[]>> {
    return probe(async () => {
      const parked = (await this.sources.jobs.deadLettered()).slice(0, DEAD_LETTER_ROWS);
      const rows = await Promise.all(
        parked.map(async (job): Promise<DeadLetterRow> => {
          let diagnosis = this.diagnoses.get(job.jobId);
          let diagnosisProblem: string | undefined;
          if (diagnosis === undefined) {
            try {
              const context = await within(DIAGNOSE_TIMEOUT_MS, this.sources.jobs.diagnose(job.jobId));
              diagnosis = context && {
                phase: context.phase,
                message: context.message,
                hint: context.hint,
                runbook: context.runbook,
                at: context.at,
                ...(context.actions && { actions: context.actions }),
                ...(context.attempt !== undefined && { attempt: context.attempt }),
              };
              if (context) this.diagnoses.set(job.jobId, diagnosis);
            } catch (err) {
              diagnosis = null;
              diagnosisProblem = problemOf(err);
            }
          }
          const parkedAt = diagnosis?.at ?? job.since ?? null;
          return {
            jobId: job.jobId,
            jobType: job.jobType,
            step: job.step ?? null,
            errorClass: job.errorClass ?? null,
            since: parkedAt,
            ageMs: parkedAt === null ? null : now - Date.parse(parkedAt),
            diagnosis,
            ...(diagnosisProblem !== undefined && { diagnosisProblem }),
            url: jobUrl(this.sources.uiUrl, this.sources.namespace, job.jobId),
          };
        }),
      );
      // A job that left the dead letter is diagnosed afresh if it parks again.
      const listed = new Set(rows.map((r) => r.jobId));
      for (const jobId of [...this.diagnoses.keys()]) if (!listed.has(jobId)) this.diagnoses.delete(jobId);
      return rows;
    });
  }

  private async health(now: number): Promise<HealthPanel> {
    const { client, namespace, taskQueue, breakers, archiveDir, ledger } = this.sources;
    const [workers, reconcile, checkpoint] = await Promise.all([
      probe(() => taskQueuePollers(client.workflowService, namespace, taskQueue)),
      probe(async () => (await lastReconcileVerdict(ledger)) ?? null),
      archiveDir === undefined ? Promise.resolve(null) : lastAuditCheckpoint(archiveDir, now),
    ]);
    const breakerStates = breakers
      ? await probe(async () =>
          breakers.list().map(({ dependency, record }) => ({ dependency, state: record.state, failures: record.failures, openedAt: record.openedAt })),
        )
      : null;
    return { taskQueue, workers, breakers: breakerStates, checkpoint, reconcile };
  }
}
