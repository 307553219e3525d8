/**
 * `defineJob`: how engineers describe a job type. A definition names the type and its version, gives the
 * zod schema of its input, an optional key function, and the ordered steps. Each step is an activity
 * with its own bounded retry policy and timeouts; `planFor` turns a definition into the serialisable plan
 * the workflow schedules, which is also the policy on record in the job's history.
 */
import type { z } from 'zod';
import { msToNumber } from '@temporalio/common/lib/time';
import type { Duration } from '@temporalio/common';
import type { Logger } from '../core/logging';
import type { SqlHandle } from '../ledger';
import type { DeadLetterPlan, StepPlan, StepRetryPlan } from '../common/types';
import { DEFAULT_PARKING_MS } from '../common/constants';

/** What a step's code receives. */
export interface StepContext<I> {
  jobId: string;
  jobType: string;
  step: string;
  /** Deterministic key of this step (job id + step name): send it downstream as `Idempotency-Key`. */
  idempotencyKey: string;
  input: I;
  /** Results of the earlier steps of this job, by step name. */
  results: Record<string, unknown>;
  /** Temporal's attempt number of this step, from 1. */
  attempt: number;
  log: Logger;
  heartbeat(details?: unknown): void;
  /** Aborted when the activity is cancelled or times out. */
  signal: AbortSignal;
  /** Base URLs of downstream services, by name (worker configuration). */
  services: Readonly<Record<string, string>>;
  /**
   * The base URL of a downstream service, or a `ServiceNotConfiguredError` naming the variable to set
   * (`JOBLEDGER_<NAME>_URL`): a permanent `Configuration` failure, not retried.
   */
  service(name: string): string;
}

/** Retry settings of a step. Every field is bounded; see `DEFAULT_RETRY` for the defaults. */
export interface StepRetry {
  /** Attempts in all, first one included. Default 5. */
  maxAttempts?: number;
  /** Delay before the first retry. Default 1 second. */
  initialInterval?: Duration;
  /** Growth of the delay per attempt. Default 2. */
  backoffCoefficient?: number;
  /** Largest delay between attempts. Default 1 minute. */
  maximumInterval?: Duration;
  /** Error types never retried. Default none beyond the permanent classes. */
  nonRetryableErrorTypes?: string[];
}

/** Undoes a completed step. Runs with its own ledger key, so running it twice has one effect. */
export interface CompensationDefinition<I> {
  /** Compensation name, unique within the job, e.g. `refund-payment`. */
  name: string;
  /** Downstream dependency it calls, guarded by that dependency's circuit breaker. Default none. */
  dependency?: string;
  /** `ctx.results` holds the compensated step's result under the step's name. */
  run(ctx: StepContext<I>): Promise<unknown>;
}

export interface StepDefinition<I> {
  /** Step name, unique within the job: `[a-z0-9-]+`. */
  name: string;
  run(ctx: StepContext<I>): Promise<unknown>;
  /** Downstream dependency it calls, guarded by that dependency's circuit breaker. Default none. */
  dependency?: string;
  /** The step's effect can be undone: admission requires a `compensate` when this is true. Default false. */
  reversible?: boolean;
  /**
   * A local database write that commits in the same transaction as the step's ledger completion, so the
   * effect and its record exist together or not at all. Default none.
   */
  commit?: (sql: SqlHandle, result: unknown, ctx: StepContext<I>) => void;
  /** How to undo this step when a later step fails permanently. Default none (nothing to undo). */
  compensate?: CompensationDefinition<I>;
  retry?: StepRetry;
  /** Limit of one attempt. Default 30 seconds. */
  startToCloseTimeout?: Duration;
  /** Expiry of the step across all attempts. Default 10 minutes. */
  scheduleToCloseTimeout?: Duration;
  /** Heartbeat timeout for long steps. Default none. */
  heartbeatTimeout?: Duration;
}

export interface JobDefinition<S extends z.ZodType = z.ZodType> {
  /** Job type name, e.g. `order.fulfill`: lower-case words joined by dots. */
  type: string;
  /** Definition version, recorded with every execution. A positive integer. */
  version: number;
  /** zod schema of the input. */
  input: S;
  /** Derives the idempotency key from the input. Default: the SHA-256 of the canonical input. */
  key?: (input: z.infer<S>) => string;
  steps: StepDefinition<z.infer<S>>[];
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
  children?: { jobType: string; inputs: (input: z.infer<S>) => unknown[] };
  /** Dead-letter policy: how long a parked job waits for an operator, then what happens. Default 7 days, then abandon. */
  deadLetter?: { timeout?: Duration; onTimeout?: 'abandon' | 'compensate' };
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

export function defineJob<S extends z.ZodType>(definition: JobDefinition<S>): JobDefinition<S> {
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
  return definition.steps.map((step) => ({
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
