/**
 * `defineJob`: how engineers describe a job type. A definition names the type and its version, gives the
 * zod schema of its input, an optional key function, and the ordered steps. Each step is an activity
 * with its own bounded retry policy and timeouts; `planFor` turns a definition into the serialisable plan
 * the workflow schedules, which is also the policy on record in the job's history.
 */
import type { z } from 'zod';
import { msToNumber } from '@temporalio/common/lib/time';
import type { Duration } from '@temporalio/common';
import type { StepDefinition, StepRetry } from '../activities/step';
import type { DeadLetterPlan, StepPlan, StepRetryPlan } from '../common/types';
import type { JobToolkit } from '../workflows/toolkit';
import type { JobSchedule } from './schedule';
import { DEFAULT_PARKING_MS } from '../common/constants';

export type { CompensationContext, CompensationDefinition, StepContext, StepDefinition, StepRetry } from '../activities/step';

/**
 * The body of a job written as workflow code: ordinary Temporal workflow code that schedules the job's
 * steps through `job` (see workflows/toolkit.ts). What it returns is the job's result.
 */
export type JobWorkflowFunction<I, R> = (job: JobToolkit<I>, input: I) => Promise<R>;

export interface JobDefinition<S extends z.ZodType = z.ZodType, R = unknown> {
  /** Job type name, e.g. `order.fulfill`: lower-case words joined by dots. */
  type: string;
  /** Definition version, recorded with every execution. A positive integer. */
  version: number;
  /** zod schema of the input. */
  input: S;
  /** Derives the idempotency key from the input. Default: the SHA-256 of the canonical input. */
  key?(input: z.infer<S>): string;
  /**
   * Without `workflow` (a list-form job), the steps run in this order, each given the job's input. With
   * `workflow`, the steps the workflow may schedule (each registered as the activity `<type>:<name>`).
   */
  steps: readonly StepDefinition<never, unknown>[];
  /**
   * The job as workflow code: it runs as the workflow type named `type`, and schedules steps, child jobs
   * and approvals through `job`. Its worker's workflow bundle must register it (`jobWorkflows` in
   * workflows/index.ts). Default none: a list-form job, whose steps run in order.
   */
  workflow?(job: JobToolkit<z.infer<S>>, input: z.infer<S>): Promise<R>;
  /** How long a finished job still deduplicates new submissions. Default 30 days. */
  dedupeWindow?: Duration;
  /** What resubmitting the key of a failed or abandoned job does. Default `reject`. */
  onFailedResubmit?: 'reject' | 'allow-retry';
  /**
   * Custom search attributes fed from the input: attribute name → dotted input path (e.g. `{ CustomerId: 'customer.id' }`).
   * Admission rejects a path that is, contains or lies inside a field marked `.meta({ pii: true })`. Default none.
   */
  searchAttributes?: Record<string, string>;
  /**
   * Child jobs to fan out once the steps are done: their job type and one input per child. Child `i` gets
   * the idempotency key `<this job's key>.part-<i>`, so a retried parent never starts a second child.
   * Default none.
   */
  children?: { jobType: string; inputs(input: z.infer<S>): unknown[] };
  /** Dead-letter policy: how long a parked job waits for an operator, then what happens. Default 7 days, then abandon. */
  deadLetter?: { timeout?: Duration; onTimeout?: 'abandon' | 'compensate' };
  /**
   * Runs the job on a recurring schedule (a Temporal Schedule, see jobs/schedule.ts): `every` and/or `cron`, with
   * the input of every run. Each run's idempotency key is `sched.<schedule id>-<scheduled time>`, so no time slot
   * runs twice. Default none.
   */
  schedule?: JobSchedule<z.input<S>>;
}

export const DEFAULT_RETRY = {
  maxAttempts: 5,
  initialInterval: '1s',
  backoffCoefficient: 2,
  maximumInterval: '1m',
} as const;
export const DEFAULT_START_TO_CLOSE = '30s';
export const DEFAULT_SCHEDULE_TO_CLOSE = '10m';
export const DEFAULT_DEDUPE_WINDOW = '30d';
export const DEFAULT_PARKING_TIMEOUT: Duration = DEFAULT_PARKING_MS;

/** A list-form job as written: its steps each take the job's input. */
export type ListJobDefinition<S extends z.ZodType> = Omit<JobDefinition<S, undefined>, 'steps' | 'workflow'> & { steps: StepDefinition<z.infer<S>, unknown>[] };
/** A job written as workflow code, as written. */
export type CodeJobDefinition<S extends z.ZodType, R> = JobDefinition<S, R> & { workflow: JobWorkflowFunction<z.infer<S>, R> };

/** Defines a job type: as workflow code (`workflow`), or as a list of steps run in order. */
export function defineJob<S extends z.ZodType, R>(definition: CodeJobDefinition<S, R>): CodeJobDefinition<S, R>;
export function defineJob<S extends z.ZodType>(definition: ListJobDefinition<S>): JobDefinition<S, undefined>;
export function defineJob<S extends z.ZodType, R>(definition: JobDefinition<S, R> | ListJobDefinition<S>): JobDefinition<S, R> | JobDefinition<S, undefined> {
  return definition;
}

/** The activity type of a step, as shown in history and the Web UI: `order.fulfill:charge-payment`. */
export function activityTypeFor(jobType: string, step: string): string {
  return `${jobType}:${step}`;
}

export function retryPlan(retry: StepRetry = {}): StepRetryPlan {
  return {
    maxAttempts: retry.maxAttempts ?? DEFAULT_RETRY.maxAttempts,
    initialIntervalMs: msToNumber(retry.initialInterval ?? DEFAULT_RETRY.initialInterval),
    backoffCoefficient: retry.backoffCoefficient ?? DEFAULT_RETRY.backoffCoefficient,
    maximumIntervalMs: msToNumber(retry.maximumInterval ?? DEFAULT_RETRY.maximumInterval),
    nonRetryableErrorTypes: retry.nonRetryableErrorTypes ?? [],
  };
}

/** Retry policy of compensations: they must eventually succeed, so more attempts than a step. */
export const COMPENSATION_RETRY: StepRetry = { maxAttempts: 10, initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' };

/** The steps of a definition with every default filled in: what the workflow schedules. */
export function planFor(definition: JobDefinition): StepPlan[] {
  const steps: readonly StepDefinition<never, unknown>[] = definition.steps;
  return steps.map((step) => ({
    name: step.name,
    activityType: activityTypeFor(definition.type, step.name),
    ...(step.compensate && {
      compensation: {
        name: step.compensate.name,
        activityType: activityTypeFor(definition.type, step.compensate.name),
        retry: retryPlan(COMPENSATION_RETRY),
      },
    }),
    startToCloseTimeoutMs: msToNumber(step.startToCloseTimeout ?? DEFAULT_START_TO_CLOSE),
    scheduleToCloseTimeoutMs: msToNumber(step.scheduleToCloseTimeout ?? DEFAULT_SCHEDULE_TO_CLOSE),
    ...(step.heartbeatTimeout !== undefined && { heartbeatTimeoutMs: msToNumber(step.heartbeatTimeout) }),
    retry: retryPlan(step.retry),
  }));
}

export function deadLetterPlan(definition: JobDefinition): DeadLetterPlan {
  return {
    timeoutMs: msToNumber(definition.deadLetter?.timeout ?? DEFAULT_PARKING_TIMEOUT),
    onTimeout: definition.deadLetter?.onTimeout ?? 'abandon',
  };
}

export function dedupeWindowMs(definition: JobDefinition): number {
  return msToNumber(definition.dedupeWindow ?? DEFAULT_DEDUPE_WINDOW);
}
