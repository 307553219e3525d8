/**
 * Health sources for the dashboard and the static report, each readable from any host: the last
 * `jobledger reconcile` verdict, which the reconcile command records in the ledger (the store every host
 * shares), and the audit archive's latest checkpoint with its age. A verdict is one ledger event of kind
 * `reconcile.verdict` on the trail `jobledger/reconcile` (no job id holds a `/`, so it is no job's trail);
 * the ledger's events are append-only, so every verdict stays in the audit trail.
 */
import { hostname, userInfo } from 'node:os';
import { z } from 'zod';
import { latestCheckpoint } from '../audit/archive';
import type { Ledger } from '../ledger';
import type { Discrepancy, ReconcileReport } from './reconcile';

/** The trail (the `jobId` of its ledger events) that holds the reconcile verdicts. */
export const RECONCILE_TRAIL = 'jobledger/reconcile';
/** The kind of a reconcile verdict's ledger event. */
export const RECONCILE_VERDICT_EVENT = 'reconcile.verdict';

const DISCREPANCY_KINDS = ['temporal', 'ledger', 'effects', 'archive'] as const satisfies readonly Discrepancy['kind'][];

/** What one `jobledger reconcile` run concluded, as recorded in the ledger. */
export const ReconcileVerdict = z.strictObject({
  /** When the comparison ran (ISO-8601), the report's `checkedAt`. */
  checkedAt: z.iso.datetime(),
  /** True when every source agreed. */
  ok: z.boolean(),
  /** Rows compared: one per job type and status bucket that any source counted. */
  rows: z.number().int().nonnegative(),
  /** Disagreements found; 0 when `ok`. */
  discrepancies: z.number().int().nonnegative(),
  /** Disagreements per kind of source (kinds with none are left out). */
  byKind: z.partialRecord(z.enum(DISCREPANCY_KINDS), z.number().int().positive()),
  /** The run's `--since`, when it had one. */
  since: z.iso.datetime().optional(),
  /** The archive directory it checked (`--archive`), when it checked one. */
  archiveDir: z.string().optional(),
  /** Who ran it: the configured submitter identity, else the operating-system user. */
  checkedBy: z.string().min(1),
  /** The host it ran on. */
  host: z.string().min(1),
});
export type ReconcileVerdict = z.infer<typeof ReconcileVerdict>;

/** A verdict as read back, with its ledger event's sequence number and time (epoch ms). */
export interface RecordedVerdict extends ReconcileVerdict {
  seq: number;
  recordedAt: number;
}

/** The verdict of `report`; `checkedBy` defaults to the operating-system user, `host` to this host's name. */
export function verdictOf(report: ReconcileReport, who: { checkedBy?: string; host?: string } = {}): ReconcileVerdict {
  const byKind: ReconcileVerdict['byKind'] = {};
  for (const d of report.discrepancies) byKind[d.kind] = (byKind[d.kind] ?? 0) + 1;
  return ReconcileVerdict.parse({
    checkedAt: report.checkedAt,
    ok: report.ok,
    rows: report.rows.length,
    discrepancies: report.discrepancies.length,
    byKind,
    ...(report.since !== undefined && { since: report.since }),
    ...(report.archive && { archiveDir: report.archive.dir }),
    checkedBy: who.checkedBy ?? userInfo().username,
    host: who.host ?? hostname(),
  });
}

/** Appends `verdict` to the ledger's reconcile trail; returns it as recorded. */
export async function recordReconcileVerdict(ledger: Ledger, verdict: ReconcileVerdict): Promise<RecordedVerdict> {
  const parsed = ReconcileVerdict.parse(verdict);
  const seq = await ledger.recordJobEvent(RECONCILE_TRAIL, RECONCILE_VERDICT_EVENT, parsed);
  const [event] = await ledger.events({ jobId: RECONCILE_TRAIL, afterSeq: seq - 1, limit: 1 });
  return { ...parsed, seq, recordedAt: event?.recordedAt ?? Date.now() };
}

/** The latest recorded reconcile verdict, or undefined when reconcile has never run against this ledger. */
export async function lastReconcileVerdict(ledger: Ledger): Promise<RecordedVerdict | undefined> {
  const [event] = await ledger.events({ jobId: RECONCILE_TRAIL, newestFirst: true, limit: 1 });
  if (!event) return undefined;
  return { ...ReconcileVerdict.parse(event.data), seq: event.seq, recordedAt: event.recordedAt };
}

/** The audit archive's latest checkpoint, as a health line: none yet, its age, or why it cannot be read. */
export type CheckpointHealth =
  | { state: 'none'; dir: string }
  | { state: 'checkpoint'; dir: string; path: string; timestamp: string; treeSize: number; ageMs: number }
  | { state: 'unreadable'; dir: string; problem: string };

/**
 * The latest checkpoint of the archive in `dir` and its age at `now` (epoch ms, default the clock). Its
 * signature is not checked here (`jobledger audit verify` does that); an archive directory that does not
 * exist yet has no checkpoint.
 */
export async function lastAuditCheckpoint(dir: string, now: number = Date.now()): Promise<CheckpointHealth> {
  let latest;
  try {
    latest = await latestCheckpoint(dir);
  } catch (err) {
    return { state: 'unreadable', dir, problem: err instanceof Error ? err.message : String(err) };
  }
  if (latest === undefined) return { state: 'none', dir };
  if ('problem' in latest) return { state: 'unreadable', dir, problem: latest.problem };
  const { path, checkpoint } = latest;
  return { state: 'checkpoint', dir, path, timestamp: checkpoint.timestamp, treeSize: checkpoint.treeSize, ageMs: now - Date.parse(checkpoint.timestamp) };
}
