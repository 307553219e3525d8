/**
 * The job activities. `createActivities` registers one activity per step of every known definition
 * (activity type `<jobType>:<step>`) plus the prepare step. A step runs behind the step ledger: its key
 * (job id + step name) is claimed before the side effect, a completed key returns the recorded result,
 * and the same key travels downstream as the `Idempotency-Key`.
 */
import { hostname } from 'node:os';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { FINISH_ACTIVITY, JobStatus, PREPARE_ACTIVITY, RECORD_ACTIVITY, type RecordedStatus } from '../common/constants';
import { ERROR_CLASSES, ErrorClass } from '../common/errors';
import { jobLogBindings } from '../common/logfields';
import { activeTraceId } from '../core/tracing';
import { serviceUrl, serviceVariable } from '../core/config';
import { Metric } from '../common/metrics';
import type { DuplicateRun, FinishArgs, JobArgs, JobPlan, RecordArgs, StepArgs, StepRetryPlan } from '../common/types';
import { maskPii, piiPathsOf } from '../codec/masking';
import { hashOf } from '../core/canonical';
import type { Logger } from '../core/logging';
import { activityTypeFor, COMPENSATION_RETRY, deadLetterPlan, dedupeWindowMs, planFor, retryPlan } from '../jobs/define';
import type { StepContext, StepDefinition } from './step';
import type { JobRegistry } from '../jobs/registry';
import { JobValidationError, InvalidIdempotencyKeyError, resolveSubmission } from '../jobs/submission';
import { duplicateOfSlot, scheduledKeyOf } from '../jobs/schedule';
import { StepInProgressError, stepKey, type Ledger, type SqlHandle } from '../ledger';
import type { CircuitBreaker } from '../resilience';
import { classify, ServiceNotConfiguredError, toApplicationFailure } from './failures';

export interface ActivityDeps {
  registry: JobRegistry;
  ledger: Ledger;
  logger: Logger;
  /** Identity written into step leases. Default `<hostname>:<pid>`. */
  workerIdentity?: string;
  /** Base URLs of downstream services, handed to steps as `ctx.services`. Default none. */
  services?: Readonly<Record<string, string>>;
  /** Circuit breakers for the steps' declared dependencies. Default none (no breaker). */
  breaker?: CircuitBreaker;
}

export type ActivityFn = (args: never) => Promise<unknown>;

/**
 * Validates a job's input and returns its plan; permanent `Validation` failure on bad input. A run started by
 * the job's schedule gets its key from its workflow id (jobs/schedule.ts); a second run of a slot that has
 * already ended gets `DuplicateRun` and does nothing.
 */
export async function prepareJob(deps: ActivityDeps, args: JobArgs): Promise<JobPlan | DuplicateRun> {
  const execution = Context.current().info.workflowExecution;
  const workflowId = execution?.workflowId;
  try {
    const definition = deps.registry.get(args.jobType);
    const submission = resolveSubmission(definition, args.input, args.idempotencyKey ?? scheduledKeyOf(definition.type, workflowId), deps.registry);
    if (submission.jobId !== workflowId) {
      throw ApplicationFailure.nonRetryable(
        `workflow id '${workflowId}' does not match the job id '${submission.jobId}' of this type and key`,
        ErrorClass.Validation,
      );
    }
    // Raw starts reach the ledger here, and so do reruns under the same id (an operator's rerun of a
    // terminated child): the record names the run that is executing. The key keeps its first input.
    const known = await deps.ledger.getJobById(submission.jobId);
    const duplicateOf = duplicateOfSlot(definition, submission.idempotencyKey, known, execution?.runId);
    if (duplicateOf) return { duplicateOf };
    if (known && known.inputHash !== submission.inputHash) {
      throw ApplicationFailure.nonRetryable(
        `job ${submission.jobId} was recorded with another input (input hash ${known.inputHash}, this run ${submission.inputHash})`,
        ErrorClass.IdempotencyConflict,
      );
    }
    await deps.ledger.recordRun({
      jobId: submission.jobId,
      jobType: definition.type,
      idempotencyKey: submission.idempotencyKey,
      inputHash: submission.inputHash,
      submittedBy: args.submittedBy,
      definitionVersion: String(definition.version),
      runId: execution?.runId ?? null,
      status: JobStatus.Running,
      dedupeWindowMs: dedupeWindowMs(definition),
    });
    return {
      jobId: submission.jobId,
      jobType: definition.type,
      definitionVersion: definition.version,
      idempotencyKey: submission.idempotencyKey,
      inputHash: submission.inputHash,
      input: submission.input,
      sanitizedInput: maskPii(submission.input, piiPathsOf(definition.input)),
      steps: planFor(definition),
      ...(definition.workflow && { code: true }),
      deadLetter: deadLetterPlan(definition),
      ...(definition.children && {
        children: { jobType: definition.children.jobType, inputs: definition.children.inputs(submission.input) },
      }),
    };
  } catch (err) {
    if (err instanceof JobValidationError) {
      throw ApplicationFailure.create({ message: err.message, type: ErrorClass.Validation, nonRetryable: true, details: [err.issues] });
    }
    if (err instanceof InvalidIdempotencyKeyError || (err instanceof Error && err.name === 'UnknownJobTypeError')) {
      throw ApplicationFailure.nonRetryable(err.message, ErrorClass.Validation);
    }
    if (err instanceof ApplicationFailure) throw err;
    // Anything else (the ledger locked, read-only, corrupt or gone) is infrastructure, never the input's
    // fault: a classified, retried failure, after which the workflow parks the job at prepare.
    throw toApplicationFailure(err);
  }
}

/** Records a job's final status and outcome in the ledger; a ledger fault leaves as a classified failure. */
export async function finishJob(deps: ActivityDeps, args: FinishArgs): Promise<void> {
  try {
    if (!(await deps.ledger.getJobById(args.jobId))) return; // rejected before it was recorded (invalid input)
    await deps.ledger.updateJobStatus(args.jobId, args.status as RecordedStatus, args.outcome);
  } catch (err) {
    throw toApplicationFailure(err);
  }
}

/** Appends an event (dead letter, operator action) to the job's ledger trail; a ledger fault leaves as a classified failure. */
export async function recordEvent(deps: ActivityDeps, args: RecordArgs): Promise<void> {
  try {
    await deps.ledger.recordJobEvent(args.jobId, args.kind, args.data);
  } catch (err) {
    throw toApplicationFailure(err);
  }
}

/** What one ledger-guarded activity runs: a step or a compensation. */
interface GuardedWork {
  name: string;
  run(ctx: StepContext<unknown>): Promise<unknown>;
  commit?(sql: SqlHandle, result: unknown, ctx: StepContext<unknown>): void | Promise<void>;
  dependency?: string;
  /** Its retry policy, for the jittered delay of the next attempt. */
  retry: StepRetryPlan;
}

/** Transient failures of a dependency count against its breaker; permanent answers and our own errors do not. */
function countsAgainstDependency(err: unknown): boolean {
  const { errorClass } = classify(err);
  return ERROR_CLASSES[errorClass].kind === 'transient' && errorClass !== ErrorClass.StepInProgress && errorClass !== ErrorClass.CircuitOpen;
}

/**
 * Runs a step (or a compensation) behind the step ledger: claim its key, return the recorded result if
 * it already completed, otherwise run it and record completion (with its local `commit`, if any, in the
 * same transaction). Failures leave as classified `ApplicationFailure`s.
 */
export async function runStep(deps: ActivityDeps, work: GuardedWork, args: StepArgs): Promise<unknown> {
  const context = Context.current();
  const { info } = context;
  // The step's key within the job: its name, or the name with the call's occurrence or key (workflow code).
  const key = stepKey(args.jobId, args.step);
  const owner = { identity: deps.workerIdentity ?? `${hostname()}:${process.pid}`, attempt: info.attempt };
  const log = deps.logger.child(
    jobLogBindings({
      job_id: args.jobId,
      job_type: args.jobType,
      step: args.step,
      attempt_number: info.attempt,
      ...(args.parentJobId && { parent_job_id: args.parentJobId }),
      ...(args.correlationId && { correlation_id: args.correlationId }),
      trace_id: activeTraceId(),
    }),
  );
  let claim;
  try {
    claim = await deps.ledger.claimStep({
      key,
      jobId: args.jobId,
      step: args.step,
      owner,
      leaseMs: info.startToCloseTimeoutMs,
      requestHash: hashOf(args.input),
    });
  } catch (err) {
    if (err instanceof StepInProgressError) log.warn({ status: 'in_progress', outcome: 'retry' }, 'step is held by another attempt; retrying later');
    throw toApplicationFailure(err, { attempt: info.attempt, retry: work.retry });
  }
  const meter = context.metricMeter;
  if (claim.kind === 'completed') {
    meter.createCounter(Metric.ledgerHits).add(1, { job_type: args.jobType, step: work.name });
    log.info({ status: 'completed', outcome: 'replayed' }, 'step already completed; returning the recorded result');
    return claim.result;
  }
  log.info({ status: 'executing', outcome: null, takeover: claim.takeover }, 'step started');
  const ctx: StepContext<unknown> = {
    jobId: args.jobId,
    jobType: args.jobType,
    step: args.step,
    stepKey: key,
    input: args.input,
    results: args.results,
    attempt: info.attempt,
    log,
    heartbeat: (details?: unknown) => context.heartbeat(details),
    signal: context.cancellationSignal,
    services: deps.services ?? {},
    service: (name: string) => {
      const url = serviceUrl(deps.services ?? {}, name);
      if (!url) throw new ServiceNotConfiguredError(name, serviceVariable(name));
      return url;
    },
  };
  const { breaker } = deps;
  const dependency = work.dependency;
  let result: unknown;
  try {
    result =
      (await (breaker && dependency ? breaker.run(dependency, () => work.run(ctx), { isFailure: countsAgainstDependency }) : work.run(ctx))) ??
      null;
    await deps.ledger.completeStep({ key, owner, result, ...(work.commit && { effect: async (sql) => work.commit?.(sql, result, ctx) }) });
  } catch (err) {
    const circuit = breaker && dependency ? breaker.state(dependency) : undefined;
    const failure = toApplicationFailure(err, { attempt: info.attempt, retry: work.retry, ...(circuit && { circuit }), ...(dependency !== undefined && { dependency }) });
    try {
      await deps.ledger.failStep({ key, owner, error: { message: failure.message, errorClass: failure.type } });
    } catch (ledgerErr) {
      // The step's own failure stands; its claim stays until the lease ends, then the next attempt takes it over.
      log.warn({ status: 'failed', outcome: 'error', error_class: failure.type, err: ledgerErr }, 'step failure not recorded: ledger unavailable');
    }
    meter.createCounter(Metric.stepAttempts).add(1, { job_type: args.jobType, step: work.name, outcome: 'failure', error_class: failure.type ?? 'Internal' });
    // Cancelled (the worker's shutdown grace time ran out, or a timeout): the lease is released above, so
    // the retry on another worker claims the step at once instead of waiting for the lease to end.
    if (context.cancellationSignal.aborted) log.warn({ status: 'cancelled', outcome: 'lease-released', error_class: failure.type }, 'step cancelled; its lease is released');
    else log.warn({ status: 'failed', outcome: 'error', error_class: failure.type, err: failure.message }, 'step failed');
    throw failure;
  }
  meter.createCounter(Metric.stepAttempts).add(1, { job_type: args.jobType, step: work.name, outcome: 'success', error_class: 'none' });
  log.info({ status: 'completed', outcome: 'success' }, 'step completed');
  return result;
}

/** Every activity a worker registers for the given definitions. */
export function createActivities(deps: ActivityDeps): Record<string, ActivityFn> {
  const activities: Record<string, ActivityFn> = {
    [PREPARE_ACTIVITY]: ((args: JobArgs) => prepareJob(deps, args)) as ActivityFn,
    [FINISH_ACTIVITY]: ((args: FinishArgs) => finishJob(deps, args)) as ActivityFn,
    [RECORD_ACTIVITY]: ((args: RecordArgs) => recordEvent(deps, args)) as ActivityFn,
  };
  for (const definition of deps.registry.all()) {
    const steps: readonly StepDefinition<unknown, unknown>[] = definition.steps;
    for (const step of steps) {
      const guarded: GuardedWork = { ...step, retry: retryPlan(step.retry) };
      activities[activityTypeFor(definition.type, step.name)] = ((args: StepArgs) => runStep(deps, guarded, args)) as ActivityFn;
      const { compensate } = step;
      if (compensate) {
        // A compensation's context carries the result of the step it undoes (recorded under the step's name).
        const compensation: GuardedWork = {
          name: compensate.name,
          ...(compensate.dependency !== undefined && { dependency: compensate.dependency }),
          run: (ctx) => compensate.run({ ...ctx, result: ctx.results[step.name] }),
          retry: retryPlan(COMPENSATION_RETRY),
        };
        activities[activityTypeFor(definition.type, compensate.name)] = ((args: StepArgs) => runStep(deps, compensation, args)) as ActivityFn;
      }
    }
  }
  return activities;
}
