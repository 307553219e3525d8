/**
 * Recurring jobs: what a definition's `schedule` says, how it is checked, and the idempotency key of each
 * scheduled run. A schedule runs through a Temporal Schedule whose action starts the job's workflow type
 * with the workflow id `<jobType>:sched.<scheduleId>`; Temporal appends the run's scheduled (nominal) time,
 * `-<RFC 3339, UTC, seconds>`, so each run's workflow id is the job id `<jobType>:sched.<scheduleId>-<time>`
 * and its idempotency key `sched.<scheduleId>-<time>` names the schedule and the time slot. A repeated or
 * back-filled trigger of a slot therefore gets the same job id, and never runs the slot twice (see
 * `duplicateOfSlot`).
 */
import type { Duration } from '@temporalio/common';
import { msToNumber } from '@temporalio/common/lib/time';
import { identityProblem } from '../common/jobargs';
import { IDEMPOTENCY_KEY_PATTERN, isTerminal, jobIdFor, JobStatus } from '../common/constants';
import type { JobView } from '../ledger';
import type { JobDefinition } from './define';
import { resolveSubmission, type DefinitionLookup } from './submission';

/** What to do when a run is due while the previous run of the schedule is still going. */
export type ScheduleOverlap = 'skip' | 'buffer-one' | 'buffer-all' | 'cancel-other' | 'terminate-other' | 'allow-all';

/** A job's schedule, as written in its definition (`defineJob({ ..., schedule })`). */
export interface JobSchedule<I = unknown> {
  /** The Temporal Schedule's id: 1-64 characters of `A-Z a-z 0-9 . _ -`, starting with a letter or digit. Default: the job type. */
  id?: string;
  /** Run every this long (`'1h'`, `'15m'`), at least 1 second. Give `every`, `cron` or both. */
  every?: Duration;
  /** Shifts the `every` slots from the epoch (e.g. every `'1d'` at offset `'2h'`: 02:00 UTC). Default none. */
  offset?: Duration;
  /** Cron expressions (5 fields, `'0 3 * * *'`; Temporal's syntax), in UTC. Default none. */
  cron?: string | readonly string[];
  /** The input of every run: checked against the job's schema when the schedule is ensured. */
  input: I;
  /** Who submits each run. Default `schedule:<id>`. */
  submittedBy?: string;
  /** A run due while the last one is still running: default `skip`. */
  overlap?: ScheduleOverlap;
  /** How late a missed slot may still start (after an outage). Default Temporal's, one year. */
  catchupWindow?: Duration;
  /** Created paused. Default false (an existing schedule keeps its own paused state on update). */
  paused?: boolean;
}

/** Schedule ids: letters, digits, `.`, `_`, `-`; no `:` or `@`, so a scheduled key parses back unambiguously. */
export const SCHEDULE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** Prefix of every scheduled run's idempotency key. */
export const SCHEDULED_KEY_PREFIX = 'sched.';
/** A scheduled run's key: `sched.<scheduleId>-<YYYY-MM-DDTHH:MM:SSZ>` (the time Temporal appends). */
const SCHEDULED_KEY = /^sched\.([A-Za-z0-9][A-Za-z0-9._-]{0,63})-(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z)$/;

/** A schedule that cannot be created: every problem, as `field: reason`. */
export class InvalidScheduleError extends Error {
  override readonly name = 'InvalidScheduleError';
  constructor(
    readonly jobType: string,
    readonly problems: readonly string[],
  ) {
    super(`invalid schedule of ${jobType}: ${problems.join('; ')}`);
  }
}

/** The id of a job's schedule: its own `id`, or the job type. */
export function scheduleIdOf(definition: JobDefinition): string {
  return definition.schedule?.id ?? definition.type;
}

/** The workflow id the schedule's action names; Temporal appends `-<scheduled time>` to it for each run. */
export function scheduleActionWorkflowId(jobType: string, scheduleId: string): string {
  return jobIdFor(jobType, `${SCHEDULED_KEY_PREFIX}${scheduleId}`);
}

/** The idempotency key of the run of `scheduleId` scheduled at `at` (whole seconds, UTC), as Temporal names it. */
export function scheduledKey(scheduleId: string, at: Date): string {
  return `${SCHEDULED_KEY_PREFIX}${scheduleId}-${at.toISOString().replace(/\.\d{3}Z$/, 'Z')}`;
}

/** The schedule id and slot time of a scheduled run's key, or undefined when `key` is not one. */
export function parseScheduledKey(key: string): { scheduleId: string; at: Date } | undefined {
  const match = SCHEDULED_KEY.exec(key);
  if (!match) return undefined;
  const at = new Date(match[2]!);
  return Number.isNaN(at.getTime()) ? undefined : { scheduleId: match[1]!, at };
}

/**
 * The idempotency key of a run started by a job's schedule, derived from its workflow id
 * `<jobType>:sched.<scheduleId>-<time>`; undefined for any other workflow id. (A raw start with such an id
 * gets nothing it could not get by passing that key as its `idempotencyKey`.)
 */
export function scheduledKeyOf(jobType: string, workflowId: string | undefined): string | undefined {
  const prefix = `${jobType}:`;
  if (!workflowId?.startsWith(prefix)) return undefined;
  const key = workflowId.slice(prefix.length);
  return parseScheduledKey(key) ? key : undefined;
}

/** The recorded run that a new run of a scheduled slot duplicates: it closed, so the new one must not run. */
export interface SlotDuplicate {
  jobId: string;
  status: string;
  runId: string | null;
}

/**
 * Whether this run repeats a scheduled slot that has already ended. Temporal starts a back-filled or
 * triggered slot with the workflow-id reuse policy ALLOW_DUPLICATE (scheduled starts with
 * REJECT_DUPLICATE), so a backfill over a slot that ran starts a second run under the same id: prepare
 * answers it with the first run's end and it closes at once, no step run. A slot whose record is still
 * Running (its run was terminated before it recorded an end) runs again, its completed steps answered by
 * the step ledger; so does a failed slot of a job with `onFailedResubmit: 'allow-retry'`, and a slot past
 * its dedupe window.
 */
export function duplicateOfSlot(definition: JobDefinition, key: string, known: JobView | undefined, runId: string | undefined): SlotDuplicate | undefined {
  if (!known || !parseScheduledKey(key) || known.runId === runId || known.expired || !isTerminal(known.status)) return undefined;
  const failed = known.status === JobStatus.Failed || known.status === JobStatus.Abandoned;
  if (failed && definition.onFailedResubmit === 'allow-retry') return undefined;
  return { jobId: known.jobId, status: known.status, runId: known.runId };
}

const OVERLAPS: readonly ScheduleOverlap[] = ['skip', 'buffer-one', 'buffer-all', 'cancel-other', 'terminate-other', 'allow-all'];

/** Every problem of a definition's schedule (empty when it has none or it is sound). */
export function scheduleProblems(definition: JobDefinition, definitions?: DefinitionLookup): string[] {
  const schedule = definition.schedule;
  if (schedule === undefined) return [];
  const problems: string[] = [];
  const id = scheduleIdOf(definition);
  if (typeof id !== 'string' || !SCHEDULE_ID_PATTERN.test(id)) {
    problems.push('schedule.id: must be 1-64 characters of A-Z a-z 0-9 . _ -, starting with a letter or digit');
  } else if (!IDEMPOTENCY_KEY_PATTERN.test(scheduledKey(id, new Date(0)))) {
    problems.push('schedule.id: too long for the runs\' idempotency keys');
  }
  if (schedule.every === undefined && schedule.cron === undefined) problems.push('schedule: give every, cron or both');
  const duration = (field: 'every' | 'offset' | 'catchupWindow', min: number) => {
    const value = schedule[field];
    if (value === undefined) return;
    let ms: number;
    try {
      ms = msToNumber(value);
    } catch (err) {
      problems.push(`schedule.${field}: ${(err as Error).message}`);
      return;
    }
    if (!Number.isFinite(ms) || ms < min) problems.push(`schedule.${field}: must be at least ${min} ms`);
  };
  duration('every', 1000);
  duration('offset', 0);
  duration('catchupWindow', 10_000);
  if (schedule.cron !== undefined) {
    const crons = typeof schedule.cron === 'string' ? [schedule.cron] : schedule.cron;
    if (crons.length === 0) problems.push('schedule.cron: must not be empty');
    crons.forEach((cron, i) => {
      const fields = typeof cron === 'string' ? cron.trim().split(/\s+/) : [];
      if (fields.length < 5 || fields.length > 7) problems.push(`schedule.cron${typeof schedule.cron === 'string' ? '' : `.${i}`}: must be a cron expression of 5 to 7 fields`);
    });
  }
  if (schedule.overlap !== undefined && !OVERLAPS.includes(schedule.overlap)) problems.push(`schedule.overlap: must be one of ${OVERLAPS.join(', ')}`);
  const submitter = schedule.submittedBy === undefined ? undefined : identityProblem(schedule.submittedBy);
  if (submitter) problems.push(`schedule.submittedBy: ${submitter}`);
  try {
    resolveSubmission(definition, schedule.input, SCHEDULE_ID_PATTERN.test(id) ? scheduledKey(id, new Date(0)) : undefined, definitions);
  } catch (err) {
    problems.push(`schedule.input: ${(err as Error).message}`);
  }
  return problems;
}

/** Throws `InvalidScheduleError` naming every problem of the definition's schedule. */
export function checkSchedule(definition: JobDefinition, definitions?: DefinitionLookup): void {
  const problems = scheduleProblems(definition, definitions);
  if (problems.length > 0) throw new InvalidScheduleError(definition.type, problems);
}
