/**
 * `defineStep`: one business step, typed from its input to its result. A step is an activity that runs
 * behind the step ledger (claim, completion with a lease and compare-and-set), sends its ledger key
 * downstream as the `Idempotency-Key`, goes through its dependency's circuit breaker, and leaves with a
 * classified failure and a jittered retry delay (see activities/index.ts, which runs it).
 *
 * Workflows import step definitions to schedule them (`job.step(chargePayment, order)`), so this module,
 * and a module that defines steps, must stay workflow-safe at the top level: types, zod, plain helpers.
 * A step's `run` is never called inside a workflow; only its name and types are used there, and its
 * policy comes from the job's plan recorded in history.
 */
import type { Duration } from '@temporalio/common';
import type { Logger } from '../core/logging';
import type { SqlHandle } from '../ledger/backend';

/** What a step's code receives. */
export interface StepContext<I> {
  jobId: string;
  jobType: string;
  /** The step's key within the job: its name, `name#2` for its second call, or `name@<key>` for an explicit key. */
  step: string;
  /**
   * The step's ledger key, `<jobId>/<step>`: deterministic across retries and replays. Send it downstream as
   * the `Idempotency-Key`. (The job's own idempotency key is a different thing: the one it was submitted with.)
   */
  stepKey: string;
  /** The step's input: what the workflow passed to `job.step`; in a list-form job, the job's input. */
  input: I;
  /** Results of the steps that already completed, by step key (list-form jobs; empty in workflow code). */
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
   * (`JOBLEDGER_SERVICE_<NAME>_URL`): a permanent `Configuration` failure, not retried.
   */
  service(name: string): string;
}

/** What a compensation receives: the compensated step's context, plus the result it recorded. */
export interface CompensationContext<I, O> extends StepContext<I> {
  /** The result of the step being undone. */
  result: O;
}

/** Retry settings of a step. Every field is bounded; see `DEFAULT_RETRY` (jobs/define.ts) for the defaults. */
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
export interface CompensationDefinition<I, O> {
  /** Compensation name, unique within the job, e.g. `refund-payment`. */
  name: string;
  /** Downstream dependency it calls, guarded by that dependency's circuit breaker. Default none. */
  dependency?: string;
  run(ctx: CompensationContext<I, O>): Promise<unknown>;
}

export interface StepDefinition<I, O = unknown> {
  /** Step name, unique within the job: `[a-z][a-z0-9-]*`. */
  name: string;
  run(ctx: StepContext<I>): Promise<O>;
  /** Downstream dependency it calls, guarded by that dependency's circuit breaker. Default none. */
  dependency?: string;
  /** The step's effect can be undone: admission requires a `compensate` when this is true. Default false. */
  reversible?: boolean;
  /**
   * A local database write that commits in the same transaction as the step's ledger completion, so the
   * effect and its record exist together or not at all. Await each `sql` call (PostgreSQL answers
   * asynchronously); write parameters as `?`. Default none.
   */
  commit?(sql: SqlHandle, result: O, ctx: StepContext<I>): void | Promise<void>;
  /** How to undo this step when a later step fails for good. Default none (nothing to undo). */
  compensate?: CompensationDefinition<I, O>;
  /**
   * An operator may `skip` this step when it is dead-lettered; `job.step` then resolves with `undefined`.
   * Default false in workflow code (the workflow uses the result); every step of a list-form job may be skipped.
   */
  skippable?: boolean;
  retry?: StepRetry;
  /** Limit of one attempt. Default 30 seconds. */
  startToCloseTimeout?: Duration;
  /** Expiry of the step across all attempts. Default 10 minutes. */
  scheduleToCloseTimeout?: Duration;
  /** Heartbeat timeout for long steps. Default none. */
  heartbeatTimeout?: Duration;
}

/** A step an operator may skip: `job.step` resolves with its result or `undefined`. */
export type SkippableStep<I, O> = StepDefinition<I, O> & { skippable: true };

/**
 * Defines a step. Give the input type on the context (`run: async (ctx: StepContext<Order>) => ...`);
 * the result type follows `run`.
 */
export function defineStep<I, O>(definition: StepDefinition<I, O> & { skippable: true }): SkippableStep<I, O>;
export function defineStep<I, O>(definition: StepDefinition<I, O>): StepDefinition<I, O>;
export function defineStep<I, O>(definition: StepDefinition<I, O>): StepDefinition<I, O> {
  return definition;
}
