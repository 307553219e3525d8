/**
 * `jobledger reconcile`: checks that the independent records of what jobs did agree with each other.
 * Temporal's visibility store (the `JobType` and `JobStatus` search attributes), the ledger's job
 * records, the downstream effects (counted by the application's effect sources, jobs/effects.ts) and the
 * audit archive's leaves are counted by job type
 * and status, and every disagreement becomes a discrepancy with the numbers on both sides. Statuses are
 * compared in buckets: the terminal statuses as themselves, everything in flight as `open` (see
 * MAPPING). Temporal's visibility is eventually consistent, so a run can be repeated until it settles.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { latestCheckpoint } from '../audit/archive';
import { JobStatus, TERMINAL_STATUSES, jobIdFor } from '../common/constants';
import { SA } from '../common/searchAttributes';
import type { EffectSource } from '../jobs/effects';
import type { Ledger } from '../ledger';

export type StatusBucket = 'open' | 'Completed' | 'Compensated' | 'Abandoned' | 'Failed';
const BUCKETS: readonly StatusBucket[] = ['open', 'Completed', 'Compensated', 'Abandoned', 'Failed'];

/** How statuses are compared; printed with every report. */
export const MAPPING: readonly string[] = [
  'open = Temporal JobStatus Submitted, Running, Retrying, Compensating or DeadLettered on a running execution; ledger Running or DeadLettered (the ledger records the terminal status in the workflow\'s finish step)',
  'Completed, Compensated, Abandoned, Failed = the terminal JobStatus; a closed execution that never reached one (terminated, timed out) counts as Abandoned, as `jobledger terminate` records it in the ledger',
  'Failed jobs were rejected by the workflow before the ledger recorded them: the ledger column is shown, not compared',
  'superseded = earlier runs of a job id whose ledger record now describes a newer run (resubmission after Abandoned): counted by Temporal only',
  'effects: for each effect source (the jobs module\'s `effects`), the net count of each kind (effects applied less those reversed, e.g. charges not fully refunded) must lie between its job type\'s Completed jobs and Completed + open + Abandoned jobs; an effect counts when a job of that type in scope applied it (its Idempotency-Key is that job\'s step key), or when its key names no job of a known type and it was applied in scope (then it is listed as applied outside any job)',
  'archive: leaves by final JobStatus (from the history they hold); jobs closed after the latest checkpoint are not yet archived, not a discrepancy; pruned leaves are checked by count only',
  'with --since, jobs that started at or after it; closed jobs past the namespace retention are left out of every source',
];

export interface ReconcileSources {
  client: Client;
  /** Namespace whose retention bounds the comparison. Default: the client's namespace. */
  namespace?: string;
  ledger: Ledger;
  /** Where the jobs' downstream effects are counted (the jobs module's `effects`); the effects check runs only when given. */
  effects?: readonly EffectSource[];
  /** Audit archive directory; the archive check runs only when given. */
  archiveDir?: string;
  /** Only jobs started at or after this moment. Default: all jobs. */
  since?: Date;
  /** Repeat the comparison for up to this long while it finds discrepancies (visibility lag). Default 0. */
  settleMs?: number;
}

export interface ReconcileRow {
  jobType: string;
  status: StatusBucket;
  temporal: number;
  ledger: number;
  /** Earlier runs replaced in the ledger by a newer run of the same job id (counted in `temporal`). */
  superseded?: number;
  /** Leaves of this type and status, when an archive is checked. */
  archive?: number;
  /** Temporal jobs that closed after the archive's latest checkpoint. */
  notYetArchived?: number;
}

/** One effect source's counts against its job type's outcomes. */
export interface EffectsCheck {
  /** The effect source, e.g. `payments`. */
  source: string;
  jobType: string;
  /** Completed jobs of the type in Temporal: the least net count of each kind. */
  completed: number;
  /** Open and Abandoned jobs of the type, which may hold effects: the most is completed + this. */
  mayHoldEffects: number;
  kinds: EffectKindCheck[];
}

export interface EffectKindCheck {
  kind: string;
  /** Effects counted, less those reversed. */
  net: number;
  /** How the source reached `net`, e.g. `4 charges, 1 fully refunded`. */
  detail?: string;
  /** Idempotency keys of counted effects that no job of the type in scope applied. */
  unattributed: string[];
}

export interface ArchiveSummary {
  dir: string;
  /** Timestamp of the latest signed checkpoint; null when the archive has none yet. */
  checkpointAt: string | null;
  /** Leaves covered by the latest checkpoint. */
  treeSize: number;
  /** Leaves counted (in scope). */
  leaves: number;
  /** Pruned leaves per job type (no payload, so no status). */
  pruned: Record<string, number>;
  /** Leaves left out: closed before the retention cutoff or started before --since. */
  outOfScope: number;
}

export interface Discrepancy {
  kind: 'temporal' | 'ledger' | 'effects' | 'archive';
  jobType?: string;
  status?: string;
  /** The effect source (`payments`) and kind (`charge`) of an effects discrepancy. */
  source?: string;
  effect?: string;
  expected: number | string;
  actual: number;
  detail: string;
}

export interface ReconcileReport {
  ok: boolean;
  checkedAt: string;
  since?: string;
  /** Closed jobs before this moment are past the namespace retention and left out. */
  retentionCutoff?: string;
  rows: ReconcileRow[];
  effects?: EffectsCheck[];
  archive?: ArchiveSummary;
  mapping: readonly string[];
  discrepancies: Discrepancy[];
}

/** Compares the sources, repeating for up to `settleMs` while discrepancies remain; returns the last report. */
export async function reconcile(sources: ReconcileSources): Promise<ReconcileReport> {
  const deadline = Date.now() + (sources.settleMs ?? 0);
  for (;;) {
    const report = await reconcileOnce(sources);
    if (report.ok || Date.now() >= deadline) return report;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

// ---------------------------------------------------------------------------------------------------
// Counting helpers

/** Counts per job type and status (or any other key). */
class Tally {
  private readonly counts = new Map<string, Map<string, number>>();
  add(type: string, key: string, n = 1): void {
    const byKey = this.counts.get(type) ?? new Map<string, number>();
    byKey.set(key, (byKey.get(key) ?? 0) + n);
    this.counts.set(type, byKey);
  }
  get(type: string, key: string): number {
    return this.counts.get(type)?.get(key) ?? 0;
  }
  total(type: string): number {
    return [...(this.counts.get(type)?.values() ?? [])].reduce((a, b) => a + b, 0);
  }
  types(): string[] {
    return [...this.counts.keys()];
  }
}

const isTerminal = (status: string) => (TERMINAL_STATUSES as readonly string[]).includes(status);

/** The comparison bucket of a status; `closed` says the execution has ended (Temporal, archive). */
function bucketOf(status: string | undefined, closed: boolean): StatusBucket {
  if (status !== undefined && isTerminal(status)) return status as StatusBucket;
  return closed ? 'Abandoned' : 'open';
}

/** A quoted visibility-query literal; values with quotes or backslashes cannot be queried safely. */
function literal(value: string): string {
  if (/["\\]/.test(value)) throw new Error(`cannot put ${JSON.stringify(value)} in a visibility query`);
  return `"${value}"`;
}

const queryable = (value: string) => !/["\\]/.test(value);

interface Scope {
  since?: Date;
  /** Closed jobs before this moment are past retention. */
  cutoff?: Date;
}

/** Only what was in scope: started since `since`, and open or closed within retention. */
function inScope(scope: Scope, startedAt: number, closedAt: number | null): boolean {
  if (scope.since && startedAt < scope.since.getTime()) return false;
  return !(scope.cutoff && closedAt !== null && closedAt < scope.cutoff.getTime());
}

async function retentionCutoff(client: Client, namespace: string): Promise<Date | undefined> {
  try {
    const { config } = await client.workflowService.describeNamespace({ namespace });
    const seconds = Number(config?.workflowExecutionRetentionTtl?.seconds ?? 0);
    return seconds > 0 ? new Date(Date.now() - seconds * 1000) : undefined;
  } catch {
    return undefined; // no retention known: nothing is left out
  }
}

// ---------------------------------------------------------------------------------------------------
// The four sources

/** The ledger's job records per type and bucket. */
async function countLedger(ledger: Ledger, scope: Scope): Promise<Tally> {
  const tally = new Tally();
  for (const job of await ledger.listJobs()) {
    const closedAt = isTerminal(job.status) ? job.updatedAt : null;
    if (inScope(scope, job.createdAt, closedAt)) tally.add(job.jobType, bucketOf(job.status, false));
  }
  return tally;
}

interface TemporalCounts {
  /** Every job per type and bucket. */
  all: Tally;
  /** Closed jobs per type and bucket, and those of them that closed after the archive's checkpoint. */
  closed: Tally;
  closedAfterCheckpoint: Tally;
  discrepancies: Discrepancy[];
}

/** The known job types plus any Temporal has that they lack, found one at a time with `NOT IN`. */
async function discoverTypes(client: Client, base: string, known: Set<string>): Promise<{ types: string[]; unqueryable: string[] }> {
  const types = [...known].filter(queryable);
  const unqueryable = [...known].filter((t) => !queryable(t));
  for (;;) {
    const exclude = types.length ? ` AND JobType NOT IN (${types.map(literal).join(', ')})` : '';
    let found: string | undefined;
    for await (const execution of client.workflow.list({ query: base + exclude, pageSize: 1 })) {
      found = execution.typedSearchAttributes.get(SA.JobType);
      break;
    }
    if (found === undefined || types.includes(found)) return { types, unqueryable };
    if (!queryable(found)) return { types, unqueryable: [...unqueryable, found] };
    types.push(found);
  }
}

/** Counts every type × JobStatus, split by execution status (`GROUP BY ExecutionStatus`, which the count API supports). */
async function countTemporal(client: Client, base: string, known: Set<string>, checkpointAt: string | null | undefined): Promise<TemporalCounts> {
  const counts: TemporalCounts = { all: new Tally(), closed: new Tally(), closedAfterCheckpoint: new Tally(), discrepancies: [] };
  const { types, unqueryable } = await discoverTypes(client, base, known);
  let counted = 0;
  for (const type of types) {
    const ofType = `${base} AND JobType = ${literal(type)}`;
    const perStatus = await Promise.all(
      Object.values(JobStatus).map(async (status) => {
        const query = `${ofType} AND JobStatus = ${literal(status)}`;
        const { count, groups } = await client.workflow.count(`${query} GROUP BY ExecutionStatus`);
        const running = groups.filter((g) => g.groupValues.flat().includes('Running')).reduce((n, g) => n + g.count, 0);
        const closed = count - running;
        let closedAfter = 0;
        if (closed > 0 && checkpointAt !== undefined) {
          closedAfter = checkpointAt === null ? closed : (await client.workflow.count(`${query} AND ExecutionStatus != "Running" AND CloseTime > ${literal(checkpointAt)}`)).count;
        }
        return { status, count, running, closed, closedAfter };
      }),
    );
    for (const { status, count, running, closed, closedAfter } of perStatus) {
      counts.all.add(type, bucketOf(status, false), running);
      counts.all.add(type, bucketOf(status, true), closed);
      counts.closed.add(type, bucketOf(status, true), closed);
      counts.closedAfterCheckpoint.add(type, bucketOf(status, true), closedAfter);
      counted += count;
    }
    const total = (await client.workflow.count(ofType)).count;
    const seen = counts.all.total(type);
    if (total !== seen) {
      counts.discrepancies.push({
        kind: 'temporal',
        jobType: type,
        expected: total,
        actual: seen,
        detail: `${total - seen} ${type} job(s) in Temporal carry no known JobStatus value`,
      });
    }
  }
  const total = (await client.workflow.count(base)).count;
  if (total > counted) {
    counts.discrepancies.push({
      kind: 'temporal',
      expected: total,
      actual: counted,
      detail: `${total - counted} job(s) in Temporal could not be counted by type${unqueryable.length ? ` (types that cannot be queried: ${unqueryable.map((t) => JSON.stringify(t)).join(', ')})` : ''}`,
    });
  }
  return counts;
}

/** Closed runs in the Abandoned bucket whose ledger record has moved on to a newer run of the same job id. */
async function countSuperseded(client: Client, base: string, ledger: Ledger): Promise<Tally> {
  const tally = new Tally();
  const query = `${base} AND ExecutionStatus != "Running" AND JobStatus NOT IN ("Completed", "Compensated", "Failed")`;
  for await (const execution of client.workflow.list({ query })) {
    const record = await ledger.getJobById(execution.workflowId);
    if (record?.runId && record.runId !== execution.runId) tally.add(execution.typedSearchAttributes.get(SA.JobType) ?? '', 'Abandoned');
  }
  return tally;
}

interface ArchiveCounts {
  summary: ArchiveSummary;
  /** Leaves with a payload per type and bucket. */
  leaves: Tally;
  problems: string[];
}

/** The parts of a history event (proto JSON) read here. */
interface HistoryEvent {
  eventTime?: string;
  workflowExecutionStartedEventAttributes?: WithSearchAttributes;
  upsertWorkflowSearchAttributesEventAttributes?: WithSearchAttributes;
}
interface WithSearchAttributes {
  searchAttributes?: { indexedFields?: Record<string, { data?: string } | undefined> };
}

/** The last value a history gave a keyword search attribute, at start or by an upsert. */
function lastSearchAttribute(history: { events?: HistoryEvent[] } | undefined, name: string): string | undefined {
  let value: unknown;
  for (const event of history?.events ?? []) {
    const attrs = event.workflowExecutionStartedEventAttributes ?? event.upsertWorkflowSearchAttributesEventAttributes;
    const field = attrs?.searchAttributes?.indexedFields?.[name];
    if (typeof field?.data === 'string') value = JSON.parse(Buffer.from(field.data, 'base64').toString('utf8'));
  }
  return typeof value === 'string' ? value : undefined;
}

async function listJson(dir: string): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  return names.filter((n) => /^\d+\.json$/.test(n)).sort();
}

/**
 * Counts the leaves the latest checkpoint covers (leaves/*.json as client/audit-export.ts writes them:
 * jobId `<workflowId>@<runId>`, payload with the job's history). It does not verify the archive: that is
 * `jobledger audit verify`.
 */
async function countArchive(dir: string, scope: Scope): Promise<ArchiveCounts> {
  const summary: ArchiveSummary = { dir, checkpointAt: null, treeSize: 0, leaves: 0, pruned: {}, outOfScope: 0 };
  const leaves = new Tally();
  const problems: string[] = [];
  if (!(await stat(dir).then((s) => s.isDirectory(), () => false))) throw new Error(`archive directory ${dir} does not exist`);
  const latest = await latestCheckpoint(dir);
  if (latest && 'problem' in latest) problems.push(`${latest.problem}; run \`jobledger audit verify\``);
  else if (latest) {
    summary.checkpointAt = latest.checkpoint.timestamp;
    summary.treeSize = latest.checkpoint.treeSize;
  }
  for (const name of (await listJson(join(dir, 'leaves'))).slice(0, summary.treeSize)) {
    let leaf: { jobId: string; closedAt: string; payload: { history?: { events?: HistoryEvent[] } } | null };
    try {
      leaf = JSON.parse(await readFile(join(dir, 'leaves', name), 'utf8'));
    } catch (err) {
      problems.push(`leaf ${name} cannot be read (${(err as Error).message}); run \`jobledger audit verify\``);
      continue;
    }
    const workflowId = leaf.jobId.slice(0, leaf.jobId.lastIndexOf('@'));
    const history = leaf.payload?.history;
    const type = lastSearchAttribute(history, 'JobType') ?? workflowId.split(':')[0]!;
    const closedAt = Date.parse(leaf.closedAt);
    const startedAt = Date.parse(history?.events?.[0]?.eventTime ?? leaf.closedAt); // a pruned leaf has only its close time
    if (!inScope(scope, startedAt, closedAt)) {
      summary.outOfScope++;
      continue;
    }
    summary.leaves++;
    if (leaf.payload === null) summary.pruned[type] = (summary.pruned[type] ?? 0) + 1;
    else leaves.add(type, bucketOf(lastSearchAttribute(history, 'JobStatus'), true));
  }
  return { summary, leaves, problems };
}

/** The job id of a step key `<jobId>/<step>` (ledger/types.ts `stepKey`; job ids hold no `/`). */
function jobIdOfStepKey(key: string): string {
  const slash = key.indexOf('/');
  return slash === -1 ? key : key.slice(0, slash);
}

/** The ids of the jobs of `jobType` in scope, per type, listed once for all the sources of a type. */
function jobIdLister(client: Client, base: string): (jobType: string) => Promise<Set<string>> {
  const listed = new Map<string, Promise<Set<string>>>();
  const list = async (jobType: string) => {
    const ids = new Set<string>();
    for await (const execution of client.workflow.list({ query: `${base} AND JobType = ${literal(jobType)}` })) ids.add(execution.workflowId);
    return ids;
  };
  return (jobType) => {
    const ids = listed.get(jobType) ?? list(jobType);
    listed.set(jobType, ids);
    return ids;
  };
}

/**
 * Every source's net effects against its job type's outcomes. An effect counts for a source when the job
 * that applied it (its Idempotency-Key is the step key `<jobId>/<step>`) is one of the source's job type in
 * scope, or when its key names no job of a known type and it was applied inside the time scope (a charge
 * made by hand, say). The effects of other job types, and of jobs out of scope, are left out.
 */
async function checkEffects(
  client: Client,
  base: string,
  sources: readonly EffectSource[],
  temporal: Tally,
  knownTypes: readonly string[],
  scope: Scope,
): Promise<{ effects: EffectsCheck[]; discrepancies: Discrepancy[] }> {
  const from = Math.max(scope.since?.getTime() ?? -Infinity, scope.cutoff?.getTime() ?? -Infinity);
  const ofKnownJob = (jobId: string) => knownTypes.some((type) => jobId.startsWith(jobIdFor(type, '')));
  const jobIdsOf = jobIdLister(client, base);
  const discrepancies: Discrepancy[] = [];
  const effects = await Promise.all(
    sources.map(async (source): Promise<EffectsCheck> => {
      const { jobType } = source;
      const jobIds = await jobIdsOf(jobType);
      const byJobInScope = (key: string) => jobIds.has(jobIdOfStepKey(key));
      const counts = await source.count({
        jobType,
        includes: ({ idempotencyKey, appliedAt }) => {
          if (byJobInScope(idempotencyKey)) return true;
          if (ofKnownJob(jobIdOfStepKey(idempotencyKey))) return false;
          // An unreadable time cannot place the effect before the scope: it is counted.
          return !(new Date(appliedAt).getTime() < from);
        },
      });
      const completed = temporal.get(jobType, 'Completed');
      const mayHoldEffects = temporal.get(jobType, 'open') + temporal.get(jobType, 'Abandoned');
      const expected = mayHoldEffects === 0 ? completed : `${completed}..${completed + mayHoldEffects}`;
      const kinds = counts.map(({ kind, net, detail, keys = [] }): EffectKindCheck => {
        const unattributed = keys.filter((key) => !byJobInScope(key));
        if (net < completed || net > completed + mayHoldEffects) {
          const foreign = unattributed.length ? `; applied outside any ${jobType} job: ${unattributed.slice(0, 5).join(', ')}` : '';
          discrepancies.push({
            kind: 'effects',
            jobType,
            status: 'Completed',
            source: source.name,
            effect: kind,
            expected,
            actual: net,
            detail: `${source.name}: ${net} net ${kind}${detail ? ` (${detail})` : ''} for ${completed} Completed ${jobType} job(s)${mayHoldEffects ? ` (+${mayHoldEffects} open or Abandoned)` : ''}${foreign}`,
          });
        }
        return { kind, net, ...(detail !== undefined && { detail }), unattributed };
      });
      return { source: source.name, jobType, completed, mayHoldEffects, kinds };
    }),
  );
  return { effects, discrepancies };
}

// ---------------------------------------------------------------------------------------------------
// Comparison

async function reconcileOnce(sources: ReconcileSources): Promise<ReconcileReport> {
  const { client, ledger, since } = sources;
  const checkedAt = new Date().toISOString();
  const cutoff = await retentionCutoff(client, sources.namespace ?? client.options.namespace);
  const scope: Scope = { ...(since && { since }), ...(cutoff && { cutoff }) };
  const filters = ['JobType IS NOT NULL'];
  if (scope.since) filters.push(`StartTime >= ${literal(scope.since.toISOString())}`);
  if (scope.cutoff) filters.push(`(ExecutionStatus = "Running" OR CloseTime >= ${literal(scope.cutoff.toISOString())})`);
  const base = filters.join(' AND ');

  const ledgerCounts = await countLedger(ledger, scope);
  const archive = sources.archiveDir === undefined ? undefined : await countArchive(sources.archiveDir, scope);
  const known = new Set([...ledgerCounts.types(), ...(archive?.leaves.types() ?? []), ...Object.keys(archive?.summary.pruned ?? {})]);
  const temporal = await countTemporal(client, base, known, archive?.summary.checkpointAt);
  const superseded = await countSuperseded(client, base, ledger);
  const discrepancies = [...temporal.discrepancies, ...(archive?.problems.map((detail) => ({ kind: 'archive' as const, expected: 0, actual: 1, detail })) ?? [])];

  const types = [...new Set([...temporal.all.types(), ...known])].sort();
  const rows: ReconcileRow[] = [];
  for (const jobType of types) {
    for (const status of BUCKETS) {
      const row: ReconcileRow = { jobType, status, temporal: temporal.all.get(jobType, status), ledger: ledgerCounts.get(jobType, status) };
      if (superseded.get(jobType, status)) row.superseded = superseded.get(jobType, status);
      if (archive) {
        row.archive = archive.leaves.get(jobType, status);
        row.notYetArchived = temporal.closedAfterCheckpoint.get(jobType, status);
      }
      const expected = row.temporal - (row.superseded ?? 0);
      if (status !== 'Failed' && row.ledger !== expected) {
        discrepancies.push({
          kind: 'ledger',
          jobType,
          status,
          expected,
          actual: row.ledger,
          detail: `Temporal has ${expected} ${jobType} job(s) ${status}${row.superseded ? ` (besides ${row.superseded} superseded run(s))` : ''}, the ledger ${row.ledger}`,
        });
      }
      if (row.temporal || row.ledger || row.archive || row.notYetArchived) rows.push(row);
    }
    if (archive) discrepancies.push(...compareArchive(jobType, temporal, archive));
  }

  const effects = sources.effects ? await checkEffects(client, base, sources.effects, temporal.all, types, scope) : undefined;
  if (effects) discrepancies.push(...effects.discrepancies);
  return {
    ok: discrepancies.length === 0,
    checkedAt,
    ...(since && { since: since.toISOString() }),
    ...(scope.cutoff && { retentionCutoff: scope.cutoff.toISOString() }),
    rows,
    ...(effects && { effects: effects.effects }),
    ...(archive && { archive: archive.summary }),
    mapping: MAPPING,
    discrepancies,
  };
}

/**
 * Leaves against the Temporal jobs that closed before the latest checkpoint. Pruned leaves have no status,
 * so with pruned leaves of a type each status may fall short by up to their number, and the totals must match.
 */
function compareArchive(jobType: string, temporal: TemporalCounts, archive: ArchiveCounts): Discrepancy[] {
  const pruned = archive.summary.pruned[jobType] ?? 0;
  const found: Discrepancy[] = [];
  let archivable = 0;
  for (const status of BUCKETS) {
    const expected = temporal.closed.get(jobType, status) - temporal.closedAfterCheckpoint.get(jobType, status);
    const actual = archive.leaves.get(jobType, status);
    archivable += expected;
    if (actual > expected || actual < expected - pruned) {
      found.push({
        kind: 'archive',
        jobType,
        status,
        expected: pruned ? `${Math.max(0, expected - pruned)}..${expected}` : expected,
        actual,
        detail: `${expected} ${jobType} job(s) closed ${status} before the checkpoint of ${archive.summary.checkpointAt}, ${actual} leaves${pruned ? ` (+${pruned} pruned)` : ''}`,
      });
    }
  }
  const leaves = archive.leaves.total(jobType) + pruned;
  if (pruned && leaves !== archivable) {
    found.push({
      kind: 'archive',
      jobType,
      expected: archivable,
      actual: leaves,
      detail: `${archivable} ${jobType} job(s) closed before the checkpoint, ${leaves} leaves including ${pruned} pruned`,
    });
  }
  return found;
}

// ---------------------------------------------------------------------------------------------------
// Output

/** The report as a table, then the effects, the archive, the discrepancies and the status mapping. */
export function formatReport(report: ReconcileReport): string {
  const withArchive = report.archive !== undefined;
  const header = ['JOB TYPE', 'STATUS', 'TEMPORAL', 'LEDGER', ...(withArchive ? ['ARCHIVE', 'NOT YET ARCHIVED'] : [])];
  const body = report.rows.map((r) => [
    r.jobType,
    r.status,
    `${r.temporal}${r.superseded ? ` (${r.superseded} superseded)` : ''}`,
    r.status === 'Failed' ? `${r.ledger} (not compared)` : String(r.ledger),
    ...(withArchive ? [String(r.archive ?? 0), String(r.notYetArchived ?? 0)] : []),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((cells) => cells[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  const out = [
    `reconcile at ${report.checkedAt}${report.since ? `, jobs started since ${report.since}` : ''}${report.retentionCutoff ? `, closed after ${report.retentionCutoff} (retention)` : ''}`,
    '',
    line(header),
    ...(body.length ? body.map(line) : ['(no jobs)']),
  ];
  if (report.effects?.length) out.push('');
  for (const e of report.effects ?? []) {
    const kinds = e.kinds.map((k) => `net ${k.kind} ${k.net}${k.detail ? ` (${k.detail})` : ''}`).join(', ');
    out.push(`effects at ${e.source} (${e.jobType}): ${e.completed} Completed${e.mayHoldEffects ? `, ${e.mayHoldEffects} open or Abandoned` : ''}; ${kinds || 'nothing counted'}`);
  }
  const a = report.archive;
  if (a) {
    const pruned = Object.values(a.pruned).reduce((x, y) => x + y, 0);
    out.push('', `archive ${a.dir}: ${a.checkpointAt ? `checkpoint ${a.checkpointAt}, ${a.treeSize} leaves` : 'no checkpoint yet'}; ${a.leaves} in scope, ${pruned} pruned, ${a.outOfScope} out of scope`);
  }
  out.push('');
  if (report.ok) out.push('OK: the sources agree');
  else {
    out.push(`${report.discrepancies.length} discrepanc${report.discrepancies.length === 1 ? 'y' : 'ies'}:`);
    for (const d of report.discrepancies) {
      const where = [d.jobType, d.status, d.source, d.effect].filter(Boolean).join(' / ');
      out.push(`  - ${d.kind}${where ? ` ${where}` : ''}: expected ${d.expected}, found ${d.actual}. ${d.detail}`);
    }
  }
  out.push('', 'status mapping:', ...report.mapping.map((m) => `  ${m}`));
  return out.join('\n');
}
