/**
 * The dashboard's figures, computed from the ledger's append-only events: per job type over a window
 * (15 m, 1 h, 24 h, 7 d), jobs submitted and closed, closes by terminal status and the success rate,
 * closed jobs per minute over time, submission-to-close percentiles from a histogram, failed step attempts
 * by ErrorClass, retried attempts and dead letters. `FigureAggregate` keeps running aggregates: it is fed
 * the events after its cursor (`ingest`), so a long-running server reads each event once, and `figures`
 * only scans the aggregates of the window asked for. Pure: no I/O here except `readNewEvents`, which pages
 * through `Ledger.events` after the cursor. Live counts by status come from Temporal (see live.ts) and are
 * passed in.
 */
import { z } from 'zod';
import { isTerminal, JobStatus, type TerminalStatus } from '../../common/constants';
import type { Ledger, LedgerEvent } from '../../ledger';

const MINUTE = 60_000;

/** The windows an operator can pick, and their length in ms. */
export const DASHBOARD_WINDOWS = { '15m': 15 * MINUTE, '1h': 60 * MINUTE, '24h': 24 * 60 * MINUTE, '7d': 7 * 24 * 60 * MINUTE } as const;
export const DashboardWindow = z.enum(['15m', '1h', '24h', '7d']);
export type DashboardWindow = z.infer<typeof DashboardWindow>;

/** Width of one throughput bin per window: 1 min, 5 min, 1 h, 6 h (15, 12, 24 and 28 bins). */
export const THROUGHPUT_BIN_MS: Record<DashboardWindow, number> = { '15m': MINUTE, '1h': 5 * MINUTE, '24h': 60 * MINUTE, '7d': 360 * MINUTE };

/**
 * Upper bounds (ms) of the submission-to-close histogram's buckets: a 1-2-5 series from 10 ms to 7 days,
 * then +Infinity. A percentile is reported as the upper bound of the bucket holding its rank.
 */
export const LATENCY_BUCKETS_MS: readonly number[] = [
  ...[10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000].flatMap((d) => [d, 2 * d, 5 * d]),
  DASHBOARD_WINDOWS['7d'],
  Number.POSITIVE_INFINITY,
];

/** How the percentiles are computed, in words (the page and the static report show it). */
export const PERCENTILE_METHOD =
  'Submission-to-close time of the jobs closed in the window, counted in histogram buckets with bounds 10, 20, 50, 100, 200, 500 ms … 7 d; ' +
  'each percentile is the upper bound of the bucket that holds its rank (nearest rank: the ceil(p × n)-th shortest), so it overstates by less than one bucket.';

/** Closes of one job type, by the status it ended in. */
export type OutcomeCounts = Record<TerminalStatus, number>;

/** Percentiles of submission-to-close time, each a bucket's upper bound in ms (null when nothing closed). */
export interface LatencyFigures {
  /** Jobs closed in the window with a known submission time. */
  count: number;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  /** Count per bucket, aligned with LATENCY_BUCKETS_MS. */
  buckets: number[];
}

/** Jobs closed per minute over the window, in bins of `binMs`. */
export interface ThroughputFigures {
  binMs: number;
  /** Start of each bin (epoch ms), oldest first; the last bin ends at the window's end. */
  binStarts: number[];
  /** Jobs closed in each bin. */
  closed: number[];
  /** The same as jobs per minute (closed / bin minutes). */
  perMinute: number[];
}

/** Jobs of one type in a status right now, from Temporal visibility (the JobStatus search attribute). */
export interface LiveCounts {
  Running: number;
  Retrying: number;
  Compensating: number;
  DeadLettered: number;
}
export const LIVE_STATUSES = [JobStatus.Running, JobStatus.Retrying, JobStatus.Compensating, JobStatus.DeadLettered] as const;

/** Everything the dashboard shows for one job type (or for all of them: `jobType` '*'). */
export interface JobTypeFigures {
  jobType: string;
  /** Runs recorded (submitted) in the window. */
  submitted: number;
  /** Runs closed in the window, by the status they ended in. */
  outcomes: OutcomeCounts;
  closed: number;
  /** Completed / closed, between 0 and 1; null when nothing closed. */
  successRate: number | null;
  latency: LatencyFigures;
  throughput: ThroughputFigures;
  /** Failed step attempts in the window, by ErrorClass. */
  errors: Record<string, number>;
  /** Step attempts after the first (a retry of a failed or timed-out attempt) in the window. */
  retriedAttempts: number;
  /** Jobs parked in the dead letter in the window. */
  deadLettered: number;
  /** Counts by live status; null when Temporal was not asked (or could not be reached). */
  live: LiveCounts | null;
}

/** One window's figures: per job type (sorted by name) and in total. */
export interface DashboardFigures {
  window: DashboardWindow;
  /** The window, epoch ms: (from, to]. */
  from: number;
  to: number;
  /** The last ledger event `seq` taken into account. */
  cursor: number;
  percentileMethod: string;
  jobTypes: JobTypeFigures[];
  total: JobTypeFigures;
}

// ---- event data, as recorded by the ledger, the workflows and the client ----
const StatusChange = z.object({ from: z.string(), to: z.string() });
const StepFailure = z.object({ error: z.object({ errorClass: z.string().optional() }).passthrough() });
const StepClaim = z.object({ owner: z.object({ attempt: z.number() }) });
const DeadLetter = z.object({ errorClass: z.string().optional() });

interface Stamp {
  jobType: string;
  at: number;
}
interface Close extends Stamp {
  status: TerminalStatus;
  /** Submission to close, ms; null when the run's submission came before the aggregate's first event. */
  latencyMs: number | null;
}
interface ErrorStamp extends Stamp {
  errorClass: string;
}
/** The run of a job that the ledger names now: when it was recorded and whether it has closed. */
interface OpenRun {
  submittedAt: number;
  closed: boolean;
}

/** The job type of a job id (`<type>:<key>`; a type never holds a colon). */
export function jobTypeOf(jobId: string): string {
  const colon = jobId.indexOf(':');
  return colon > 0 ? jobId.slice(0, colon) : jobId;
}

/**
 * Running aggregates over the ledger's events. Feed it events in `seq` order (`ingest`, or
 * `readNewEvents`); ask it for a window's figures (`figures`). Stamps older than the longest window are
 * dropped as new events arrive, so its size follows the last 7 days, not the ledger's.
 */
export class FigureAggregate {
  /** The last event `seq` ingested. */
  cursor = 0;
  private readonly runs = new Map<string, OpenRun>();
  private submits: Stamp[] = [];
  private closes: Close[] = [];
  private errors: ErrorStamp[] = [];
  private retries: Stamp[] = [];
  private parks: Stamp[] = [];
  private readonly types = new Set<string>();

  /** Takes events (ascending `seq`, all after the cursor) into the aggregates. */
  ingest(events: readonly LedgerEvent[]): void {
    for (const event of events) {
      if (event.seq <= this.cursor) continue;
      this.cursor = event.seq;
      this.apply(event);
    }
  }

  /** Job types seen so far, sorted. */
  jobTypes(): string[] {
    return [...this.types].sort();
  }

  /** Drops stamps older than `before` (epoch ms); closed runs older than that are forgotten too. */
  prune(before: number): void {
    const keep = <T extends Stamp>(list: T[]) => (list.length > 0 && (list[0]?.at ?? before) < before ? list.filter((s) => s.at >= before) : list);
    this.submits = keep(this.submits);
    this.closes = keep(this.closes);
    this.errors = keep(this.errors);
    this.retries = keep(this.retries);
    this.parks = keep(this.parks);
    for (const [jobId, run] of this.runs) if (run.closed && run.submittedAt < before) this.runs.delete(jobId);
  }

  /** The figures of the window ending at `now`; `live` holds Temporal's counts by job type, when asked. */
  figures(window: DashboardWindow, now: number, live?: ReadonlyMap<string, LiveCounts>): DashboardFigures {
    const from = now - DASHBOARD_WINDOWS[window];
    const types = [...new Set([...this.types, ...(live?.keys() ?? [])])].sort();
    // One pass over each list: every stamp in the window goes to its job type's lists and to the total's.
    const empty = (): Omit<WindowStamps, 'live'> => ({ submits: [], closes: [], errors: [], retries: [], parks: [] });
    const total = empty();
    const byType = new Map(types.map((t) => [t, empty()]));
    const sort = <T extends Stamp>(list: readonly T[], pick: (lists: Omit<WindowStamps, 'live'>) => T[]) => {
      for (const stamp of list) {
        if (stamp.at <= from || stamp.at > now) continue;
        pick(total).push(stamp);
        const own = byType.get(stamp.jobType);
        if (own) pick(own).push(stamp);
      }
    };
    sort(this.submits, (l) => l.submits);
    sort(this.closes, (l) => l.closes);
    sort(this.errors, (l) => l.errors);
    sort(this.retries, (l) => l.retries);
    sort(this.parks, (l) => l.parks);
    const jobTypes = types.map((t) => typeFigures(t, window, from, now, { ...(byType.get(t) ?? empty()), live: live?.get(t) ?? null }));
    const totalFigures = typeFigures('*', window, from, now, { ...total, live: live ? sumLive([...live.values()]) : null });
    return { window, from, to: now, cursor: this.cursor, percentileMethod: PERCENTILE_METHOD, jobTypes, total: totalFigures };
  }

  private apply(event: LedgerEvent): void {
    const jobType = jobTypeOf(event.jobId);
    const at = event.recordedAt;
    switch (event.kind) {
      case 'job.recorded':
      case 'job.rerun':
      case 'job.replaced': {
        // A new run of the job: its submission time is this event's.
        this.types.add(jobType);
        this.runs.set(event.jobId, { submittedAt: at, closed: false });
        this.submits.push({ jobType, at });
        return;
      }
      case 'job.status': {
        const change = StatusChange.safeParse(event.data);
        if (!change.success || !isTerminal(change.data.to)) return;
        const run = this.runs.get(event.jobId);
        if (run?.closed) return; // a repeated finish of a run already counted
        this.types.add(jobType);
        if (run) run.closed = true;
        this.closes.push({ jobType, at, status: change.data.to, latencyMs: run ? at - run.submittedAt : null });
        return;
      }
      case 'step.failed': {
        const failure = StepFailure.safeParse(event.data);
        this.errors.push({ jobType, at, errorClass: (failure.success && failure.data.error.errorClass) || 'Unclassified' });
        return;
      }
      case 'step.claimed':
      case 'step.takeover': {
        const claim = StepClaim.safeParse(event.data);
        if (claim.success && claim.data.owner.attempt > 1) this.retries.push({ jobType, at });
        return;
      }
      case 'job.dead_lettered': {
        if (DeadLetter.safeParse(event.data).success) this.parks.push({ jobType, at });
        return;
      }
      default:
        return;
    }
  }
}

interface WindowStamps {
  submits: Stamp[];
  closes: Close[];
  errors: ErrorStamp[];
  retries: Stamp[];
  parks: Stamp[];
  live: LiveCounts | null;
}

function typeFigures(jobType: string, window: DashboardWindow, from: number, to: number, s: WindowStamps): JobTypeFigures {
  const outcomes: OutcomeCounts = { Completed: 0, Compensated: 0, Abandoned: 0, Failed: 0 };
  for (const close of s.closes) outcomes[close.status] += 1;
  const closed = s.closes.length;
  const errors: Record<string, number> = {};
  for (const e of s.errors) errors[e.errorClass] = (errors[e.errorClass] ?? 0) + 1;
  return {
    jobType,
    submitted: s.submits.length,
    outcomes,
    closed,
    successRate: closed === 0 ? null : outcomes.Completed / closed,
    latency: latencyFigures(s.closes.flatMap((c) => (c.latencyMs === null ? [] : [c.latencyMs]))),
    throughput: throughputFigures(s.closes, THROUGHPUT_BIN_MS[window], from, to),
    errors,
    retriedAttempts: s.retries.length,
    deadLettered: s.parks.length,
    live: s.live,
  };
}

/** The index of the histogram bucket that holds `ms`. */
export function latencyBucketOf(ms: number): number {
  const index = LATENCY_BUCKETS_MS.findIndex((upper) => ms <= upper);
  return index === -1 ? LATENCY_BUCKETS_MS.length - 1 : index;
}

/** Histogram and nearest-rank percentiles (each a bucket's upper bound) of the given durations. */
export function latencyFigures(durations: readonly number[]): LatencyFigures {
  const buckets = LATENCY_BUCKETS_MS.map(() => 0);
  for (const ms of durations) {
    const i = latencyBucketOf(ms);
    buckets[i] = (buckets[i] ?? 0) + 1;
  }
  const count = durations.length;
  const percentile = (p: number): number | null => {
    if (count === 0) return null;
    const rank = Math.ceil(p * count);
    let seen = 0;
    for (let i = 0; i < buckets.length; i++) {
      seen += buckets[i] ?? 0;
      if (seen >= rank) return LATENCY_BUCKETS_MS[i] ?? null;
    }
    return null;
  };
  return { count, p50Ms: percentile(0.5), p95Ms: percentile(0.95), p99Ms: percentile(0.99), buckets };
}

function throughputFigures(closes: readonly Stamp[], binMs: number, from: number, to: number): ThroughputFigures {
  const bins = Math.ceil((to - from) / binMs);
  const binStarts = Array.from({ length: bins }, (_, i) => to - (bins - i) * binMs);
  const closed = binStarts.map(() => 0);
  for (const c of closes) {
    const i = bins - 1 - Math.floor((to - c.at) / binMs);
    if (i >= 0 && i < bins) closed[i] = (closed[i] ?? 0) + 1;
  }
  return { binMs, binStarts, closed, perMinute: closed.map((n) => n / (binMs / MINUTE)) };
}

function sumLive(all: readonly LiveCounts[]): LiveCounts {
  const total: LiveCounts = { Running: 0, Retrying: 0, Compensating: 0, DeadLettered: 0 };
  for (const counts of all) for (const status of LIVE_STATUSES) total[status] += counts[status];
  return total;
}

/** Events read per page by readNewEvents. */
export const EVENT_PAGE_SIZE = 5_000;

/**
 * Reads the ledger's events after the aggregate's cursor, page by page, into it; then drops what is
 * older than the longest window. Returns how many events were read.
 */
export async function readNewEvents(ledger: Ledger, aggregate: FigureAggregate, now: number = Date.now()): Promise<number> {
  let read = 0;
  for (;;) {
    const page = await ledger.events({ afterSeq: aggregate.cursor, limit: EVENT_PAGE_SIZE });
    aggregate.ingest(page);
    read += page.length;
    if (page.length < EVENT_PAGE_SIZE) break;
  }
  aggregate.prune(now - DASHBOARD_WINDOWS['7d']);
  return read;
}

/** One window's figures straight from a ledger (what a one-off report needs): reads every event once. */
export async function figuresFromLedger(
  ledger: Ledger,
  window: DashboardWindow,
  now: number = Date.now(),
  live?: ReadonlyMap<string, LiveCounts>,
): Promise<DashboardFigures> {
  const aggregate = new FigureAggregate();
  await readNewEvents(ledger, aggregate, now);
  return aggregate.figures(window, now, live);
}
