/**
 * Recurring jobs on Temporal Schedules (see jobs/schedule.ts for the keys). `JobSchedules.ensure` creates or
 * updates the Schedule of a job that declares one: its action starts the job's workflow type on the task
 * queue with the workflow id `<jobType>:sched.<scheduleId>`, to which Temporal appends each run's scheduled
 * time, so every run is the job `<jobType>:sched.<scheduleId>-<time>`. The operator side (list, pause,
 * unpause, trigger, backfill) is what `jobledger schedule ...` runs.
 */
import { z } from 'zod';
import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client, type ScheduleOptions, type ScheduleSummary } from '@temporalio/client';
import { CONTROL_CHARACTERS, JobStatus, METADATA_MAX_LENGTH } from '../common/constants';
import { SA } from '../common/searchAttributes';
import type { JobArgs } from '../common/types';
import type { JobDefinition } from '../jobs/define';
import type { DefinitionLookup } from '../jobs/submission';
import { resolveSubmission } from '../jobs/submission';
import { checkSchedule, SCHEDULE_ID_PATTERN, scheduleActionWorkflowId, scheduledKey, scheduleIdOf, type ScheduleOverlap } from '../jobs/schedule';

/** A schedule request refused before anything was sent (a bad schedule id, time range or operator identity). */
export class InvalidScheduleRequestError extends Error {
  override readonly name = 'InvalidScheduleRequestError';
  constructor(
    readonly scheduleId: string,
    readonly problems: readonly string[],
  ) {
    super(`schedule ${scheduleId}: ${problems.join('; ')}`);
  }
}

const OVERLAP_POLICIES: Readonly<Record<ScheduleOverlap, ScheduleOverlapPolicy>> = {
  skip: ScheduleOverlapPolicy.SKIP,
  'buffer-one': ScheduleOverlapPolicy.BUFFER_ONE,
  'buffer-all': ScheduleOverlapPolicy.BUFFER_ALL,
  'cancel-other': ScheduleOverlapPolicy.CANCEL_OTHER,
  'terminate-other': ScheduleOverlapPolicy.TERMINATE_OTHER,
  'allow-all': ScheduleOverlapPolicy.ALLOW_ALL,
};

/** Who pauses or unpauses a schedule and why: recorded as the schedule's note. */
export const ScheduleOperator = z.strictObject({
  operator: z.string().trim().min(1).max(METADATA_MAX_LENGTH).refine((v) => !CONTROL_CHARACTERS.test(v), 'must not contain control characters'),
  reason: z.string().trim().min(3).max(1000).refine((v) => !CONTROL_CHARACTERS.test(v.replace(/[\n\t]/g, ' ')), 'must not contain control characters other than new lines and tabs'),
});
export type ScheduleOperator = z.input<typeof ScheduleOperator>;

/** One schedule as `schedule list` shows it. */
export interface ScheduleView {
  scheduleId: string;
  /** The job type its action starts (the workflow type). */
  jobType: string | null;
  paused: boolean;
  note: string | null;
  /** Every and cron of its spec, e.g. `every 1h`, `cron 0 3 * * *`. */
  spec: string;
  nextRuns: string[];
  /** The latest runs it started: scheduled time, the job id, and when it was started. */
  recentRuns: { scheduledAt: string; startedAt: string; jobId: string }[];
}

export interface JobSchedulesOptions {
  client: Client;
  taskQueue: string;
  /** Where child job types are looked up when a schedule's input is checked. Default none. */
  definitions?: DefinitionLookup;
}

export interface EnsuredSchedule {
  scheduleId: string;
  jobType: string;
  created: boolean;
}

/** Throws `InvalidScheduleRequestError` unless `scheduleId` is a jobledger schedule id. */
export function checkScheduleId(scheduleId: string): void {
  if (!SCHEDULE_ID_PATTERN.test(scheduleId)) {
    throw new InvalidScheduleRequestError(scheduleId, ['the schedule id must be 1-64 characters of A-Z a-z 0-9 . _ -, starting with a letter or digit']);
  }
}

function durationText(ms: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) if (ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}

function specText(summary: ScheduleSummary): string {
  const spec = summary.spec;
  const parts = [
    ...(spec?.intervals ?? []).map((i) => `every ${durationText(Number(i.every))}${i.offset ? ` offset ${durationText(Number(i.offset))}` : ''}`),
    ...(spec?.calendars?.length ? [`${spec.calendars.length} calendar(s)`] : []),
  ];
  return parts.join(', ') || '-';
}

export class JobSchedules {
  constructor(private readonly options: JobSchedulesOptions) {}

  /**
   * Creates the Temporal Schedule of a job that declares one, or updates it to the definition (spec, action,
   * policies; an existing schedule keeps its paused state). Throws `InvalidScheduleError` before anything is
   * sent when the schedule is unsound.
   */
  async ensure(definition: JobDefinition): Promise<EnsuredSchedule> {
    const schedule = definition.schedule;
    if (!schedule) throw new InvalidScheduleRequestError(definition.type, ['the job declares no schedule']);
    checkSchedule(definition, this.options.definitions);
    const scheduleId = scheduleIdOf(definition);
    const submittedBy = schedule.submittedBy ?? `schedule:${scheduleId}`;
    const submission = resolveSubmission(definition, schedule.input, scheduledKey(scheduleId, new Date(0)), this.options.definitions);
    // No idempotencyKey: prepare derives each run's key from the workflow id Temporal gives it (jobs/schedule.ts).
    const args: JobArgs = { jobType: definition.type, input: submission.input, submittedBy };
    const crons = schedule.cron === undefined ? [] : typeof schedule.cron === 'string' ? [schedule.cron] : [...schedule.cron];
    const options: ScheduleOptions = {
      scheduleId,
      spec: {
        ...(schedule.every !== undefined && { intervals: [{ every: schedule.every, ...(schedule.offset !== undefined && { offset: schedule.offset }) }] }),
        ...(crons.length > 0 && { cronExpressions: crons }),
      },
      action: {
        type: 'startWorkflow',
        workflowType: definition.type,
        workflowId: scheduleActionWorkflowId(definition.type, scheduleId),
        taskQueue: this.options.taskQueue,
        args: [args],
        memo: { inputHash: submission.inputHash, definitionVersion: definition.version, submittedBy, scheduleId },
        typedSearchAttributes: [
          { key: SA.JobType, value: definition.type },
          { key: SA.JobStatus, value: JobStatus.Submitted },
          { key: SA.SubmittedBy, value: submittedBy },
        ],
      },
      policies: {
        overlap: OVERLAP_POLICIES[schedule.overlap ?? 'skip'],
        ...(schedule.catchupWindow !== undefined && { catchupWindow: schedule.catchupWindow }),
      },
      state: { paused: schedule.paused ?? false, note: `jobledger: ${definition.type} v${definition.version}` },
      memo: { jobType: definition.type },
    };
    try {
      await this.options.client.schedule.create(options);
      return { scheduleId, jobType: definition.type, created: true };
    } catch (err) {
      if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    }
    await this.options.client.schedule.getHandle(scheduleId).update((previous) => ({
      ...previous,
      spec: options.spec,
      action: options.action,
      policies: { ...previous.policies, ...options.policies },
      state: previous.state,
    }));
    return { scheduleId, jobType: definition.type, created: false };
  }

  /** `ensure` for every definition that declares a schedule. */
  async ensureAll(definitions: readonly JobDefinition[]): Promise<EnsuredSchedule[]> {
    const ensured: EnsuredSchedule[] = [];
    for (const definition of definitions) if (definition.schedule) ensured.push(await this.ensure(definition));
    return ensured;
  }

  /** Every schedule in the namespace, by id. */
  async list(): Promise<ScheduleView[]> {
    const views: ScheduleView[] = [];
    for await (const summary of this.options.client.schedule.list()) {
      views.push({
        scheduleId: summary.scheduleId,
        jobType: summary.action?.workflowType ?? null,
        paused: summary.state.paused,
        note: summary.state.note ?? null,
        spec: specText(summary),
        nextRuns: summary.info.nextActionTimes.map((t) => t.toISOString()),
        recentRuns: summary.info.recentActions.map((a) => ({
          scheduledAt: a.scheduledAt.toISOString(),
          startedAt: a.takenAt.toISOString(),
          jobId: a.action.workflow.workflowId,
        })),
      });
    }
    return views.sort((a, b) => a.scheduleId.localeCompare(b.scheduleId));
  }

  /** Pauses a schedule: no run starts until `unpause`. The operator and reason become its note. */
  async pause(scheduleId: string, who: ScheduleOperator): Promise<void> {
    checkScheduleId(scheduleId);
    const { operator, reason } = this.operator(scheduleId, who);
    await this.options.client.schedule.getHandle(scheduleId).pause(`paused by ${operator}: ${reason}`);
  }

  async unpause(scheduleId: string, who: ScheduleOperator): Promise<void> {
    checkScheduleId(scheduleId);
    const { operator, reason } = this.operator(scheduleId, who);
    await this.options.client.schedule.getHandle(scheduleId).unpause(`unpaused by ${operator}: ${reason}`);
  }

  /**
   * Starts a run now: its slot is the current second, so its key is `sched.<id>-<now>`. A second trigger in the
   * same second is the same slot and runs nothing.
   */
  async trigger(scheduleId: string): Promise<void> {
    checkScheduleId(scheduleId);
    await this.options.client.schedule.getHandle(scheduleId).trigger(ScheduleOverlapPolicy.ALLOW_ALL);
  }

  /**
   * Starts the runs of every slot from `from` to `to`, one after the other. A slot that already ran keeps its
   * job id and does nothing again (jobs/schedule.ts, `duplicateOfSlot`).
   */
  async backfill(scheduleId: string, from: Date, to: Date): Promise<void> {
    checkScheduleId(scheduleId);
    const problems: string[] = [];
    if (Number.isNaN(from.getTime())) problems.push('--from is not a date');
    if (Number.isNaN(to.getTime())) problems.push('--to is not a date');
    if (problems.length === 0 && from.getTime() >= to.getTime()) problems.push('--from must be before --to');
    if (problems.length > 0) throw new InvalidScheduleRequestError(scheduleId, problems);
    await this.options.client.schedule.getHandle(scheduleId).backfill({ start: from, end: to, overlap: ScheduleOverlapPolicy.BUFFER_ALL });
  }

  private operator(scheduleId: string, who: ScheduleOperator): z.output<typeof ScheduleOperator> {
    return checkScheduleOperator(scheduleId, who);
  }
}

/** The operator's identity and reason, checked: `InvalidScheduleRequestError` names every problem. */
export function checkScheduleOperator(scheduleId: string, who: ScheduleOperator): z.output<typeof ScheduleOperator> {
  const parsed = ScheduleOperator.safeParse(who);
  if (!parsed.success) throw new InvalidScheduleRequestError(scheduleId, parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`));
  return parsed.data;
}
