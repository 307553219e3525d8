/**
 * The generic job workflow. It validates the job through the prepare step (so raw starts are checked
 * too), then runs the plan's steps in order as activities, each with the retry policy and timeouts the
 * plan records. A step that fails for good either unwinds the saga (compensations newest-first) or parks
 * the job in `DeadLettered`, where it waits for an operator's Update (retry, skip, compensate, abandon)
 * or for the parking timeout. `JobStatus`, `JobStep` and `ErrorClass` search attributes follow the job.
 * Deterministic code only: no I/O, no Node builtins, no logging library other than the SDK's
 * replay-aware `log`.
 */
import {
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  executeChild,
  log,
  metricMeter,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  TemporalFailure,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError, type SearchAttributePair } from '@temporalio/common';
import { isSpanContextValid, trace } from '@opentelemetry/api';
import {
  DEFAULT_PARKING_MS,
  FINISH_ACTIVITY,
  JOB_TYPE_PATTERN,
  childKey,
  jobIdFor,
  JobStatus,
  PREPARE_ACTIVITY,
  RECORD_ACTIVITY,
} from '../common/constants';
import { ERROR_CLASSES, ErrorClass, PERMANENT_CLASSES } from '../common/errors';
import { jobArgsProblems } from '../common/jobargs';
import { jobLogFields, type JobLogFields } from '../common/logfields';
import { Metric } from '../common/metrics';
import { SA } from '../common/searchAttributes';
import {
  DEAD_LETTER_ACTIONS,
  OPERATOR_ACTIONS,
  type FailureContext,
  type FinishArgs,
  type JobArgs,
  type JobPlan,
  type JobResult,
  type LifecycleEvent,
  type OperatorAction,
  type RecordArgs,
  type StepArgs,
  type StepPlan,
  type StepRetryPlan,
} from '../common/types';
import type { DeadLetterPlan } from '../common/types';
import { diagnoseQuery, jobStateQuery, operatorUpdate, type JobState } from '../common/messages';

export { jobStateQuery, diagnoseQuery, operatorUpdate, type JobState } from '../common/messages';

type LedgerActivities = {
  [PREPARE_ACTIVITY]: (args: JobArgs) => Promise<JobPlan>;
  [FINISH_ACTIVITY]: (args: FinishArgs) => Promise<void>;
  [RECORD_ACTIVITY]: (args: RecordArgs) => Promise<void>;
};
type StepActivity = (args: StepArgs) => Promise<unknown>;

// A ledger that stays unavailable through these attempts parks the job (prepare, finish) instead of failing it.
const ledgerActivities = proxyLocalActivities<LedgerActivities>({
  startToCloseTimeout: '30s',
  retry: { maximumAttempts: 5, maximumInterval: '5s', nonRetryableErrorTypes: [ErrorClass.Validation] },
});
const prepare = ledgerActivities[PREPARE_ACTIVITY];
const finish = ledgerActivities[FINISH_ACTIVITY];
const record = ledgerActivities[RECORD_ACTIVITY];

/** Patch id of the change that added the `JobAttempt` search attribute (see test/replay.test.ts). */
export const JOB_ATTEMPT_PATCH = 'job-attempt-search-attribute';

/** The trace id of the workflow's span when tracing interceptors run (core/tracing.ts), else null. */
function workflowTraceId(): string | null {
  const context = trace.getActiveSpan()?.spanContext();
  return context && isSpanContextValid(context) ? context.traceId : null;
}

/** Lifecycle events kept for diagnostics. */
const EVENTS_KEPT = 20;

function activity(activityType: string, step: StepPlan, retry: StepRetryPlan): StepActivity {
  const activities = proxyActivities<Record<string, StepActivity>>({
    startToCloseTimeout: step.startToCloseTimeoutMs,
    scheduleToCloseTimeout: step.scheduleToCloseTimeoutMs,
    ...(step.heartbeatTimeoutMs !== undefined && { heartbeatTimeout: step.heartbeatTimeoutMs }),
    retry: {
      maximumAttempts: retry.maxAttempts,
      initialInterval: retry.initialIntervalMs,
      backoffCoefficient: retry.backoffCoefficient,
      maximumInterval: retry.maximumIntervalMs,
      nonRetryableErrorTypes: [...PERMANENT_CLASSES, ...retry.nonRetryableErrorTypes],
    },
  });
  return activities[activityType]!;
}

interface FailureFacts {
  message: string;
  errorClass: string;
  attempt?: number;
  dependency?: string;
  httpStatus?: number;
  circuit?: string;
}

/** The class, message and root-cause details of a step failure (an ActivityFailure wrapping an ApplicationFailure). */
function factsOf(err: unknown): FailureFacts {
  const cause = err instanceof TemporalFailure && err.cause instanceof ApplicationFailure ? err.cause : err;
  if (cause instanceof ApplicationFailure) {
    const details = (cause.details?.[0] ?? {}) as Partial<FailureFacts>;
    return {
      message: cause.message,
      errorClass: cause.type ?? ErrorClass.Internal,
      ...(details.attempt !== undefined && { attempt: details.attempt }),
      ...(details.dependency !== undefined && { dependency: details.dependency }),
      ...(details.httpStatus !== undefined && { httpStatus: details.httpStatus }),
      ...(details.circuit !== undefined && { circuit: details.circuit }),
    };
  }
  return { message: err instanceof Error ? err.message : String(err), errorClass: ErrorClass.Internal };
}

function isPermanent(errorClass: string): boolean {
  return (PERMANENT_CLASSES as string[]).includes(errorClass);
}

/** The actions that apply where a job can park: the ledger's bookkeeping allows fewer than a step. */
const ACTIONS_BY_PHASE: Record<FailureContext['phase'], readonly string[]> = {
  step: DEAD_LETTER_ACTIONS,
  compensation: ['retry', 'skip', 'abandon'],
  prepare: ['retry', 'abandon'],
  finish: ['retry', 'skip'],
};

/** Which actions make sense for a parked job, and why others do not. */
function invalidAction(state: JobState, action: OperatorAction): string | undefined {
  if (state.status !== JobStatus.DeadLettered) return `job is ${state.status}, not DeadLettered: no operator action applies`;
  if (!(OPERATOR_ACTIONS as readonly string[]).includes(action?.action)) return `unknown action '${String(action?.action)}'`;
  if (typeof action.operator !== 'string' || action.operator.trim().length === 0) return 'an operator identity is required';
  if (typeof action.reason !== 'string' || action.reason.trim().length < 3) return 'a reason (at least 3 characters) is required';
  const phase = state.failure?.phase ?? 'step';
  if (!ACTIONS_BY_PHASE[phase].includes(action.action)) {
    return `'${action.action}' does not apply to a job parked at ${phase} '${state.failure?.step}'; use ${ACTIONS_BY_PHASE[phase].join(' or ')}`;
  }
  return undefined;
}

/**
 * Fails a job whose workflow argument is malformed (a raw start): at once, as a non-retryable
 * `Validation` failure naming every problem. The search attributes say so, with `JobType` when the
 * argument names a well-formed one.
 */
function rejectArguments(args: unknown, problems: string[]): never {
  const named = (args as { jobType?: unknown } | null)?.jobType;
  const jobType = typeof named === 'string' && JOB_TYPE_PATTERN.test(named) ? named : null;
  upsertSearchAttributes([
    { key: SA.JobStatus, value: JobStatus.Failed },
    { key: SA.ErrorClass, value: ErrorClass.Validation },
    ...(jobType ? [{ key: SA.JobType, value: jobType }] : []),
  ]);
  const message = `invalid job arguments: ${problems.join('; ')}`;
  log.error('job rejected', { ...jobLogFields({ job_id: workflowInfo().workflowId, job_type: jobType ?? '(invalid)', status: JobStatus.Failed, outcome: 'rejected' }), reason: message });
  throw ApplicationFailure.create({ message, type: ErrorClass.Validation, nonRetryable: true });
}

/** The parking policy before the plan is known (the ledger failed at prepare). */
const DEFAULT_DEAD_LETTER: DeadLetterPlan = { timeoutMs: DEFAULT_PARKING_MS, onTimeout: 'abandon' };

export async function jobWorkflow(args: JobArgs): Promise<JobResult> {
  const jobId = workflowInfo().workflowId;
  const problems = jobArgsProblems(args, workflowInfo().parent?.workflowId);
  if (problems.length > 0) rejectArguments(args, problems);
  const state: JobState = { status: JobStatus.Running, results: {}, actions: [] };
  const events: LifecycleEvent[] = [];
  let pending: OperatorAction | undefined;

  const now = () => new Date().toISOString();
  const fields = (extra: Partial<JobLogFields> = {}): JobLogFields =>
    jobLogFields({
      trace_id: workflowTraceId(),
      job_id: jobId,
      job_type: args.jobType,
      status: state.status,
      ...(args.parentJobId && { parent_job_id: args.parentJobId }),
      ...(args.correlationId && { correlation_id: args.correlationId }),
      ...(state.step && { step: state.step }),
      ...extra,
    });
  const note = (status: string, step?: string, text?: string) => {
    events.push({ at: now(), status, ...(step && { step }), ...(text && { note: text }) });
    if (events.length > EVENTS_KEPT) events.shift();
  };
  const mark = (status: JobStatus, extra: SearchAttributePair[] = []) => {
    state.status = status;
    note(status, state.step);
    upsertSearchAttributes([{ key: SA.JobStatus, value: status }, ...extra]);
  };
  // How many times the current step has been dispatched (operator retries start it again).
  let dispatches = 0;
  const enterStep = (name: string) => {
    dispatches = state.step === name ? dispatches + 1 : 1;
    state.step = name;
    note(state.status, name, 'dispatched');
    // Version 2 of the workflow also publishes JobAttempt; runs recorded before it replay unchanged.
    const withAttempt = patched(JOB_ATTEMPT_PATCH);
    upsertSearchAttributes([{ key: SA.JobStep, value: name }, ...(withAttempt ? [{ key: SA.JobAttempt, value: dispatches }] : [])]);
  };

  setHandler(jobStateQuery, () => state);
  setHandler(diagnoseQuery, () => state.failure ?? null);
  setHandler(
    operatorUpdate,
    async (action) => {
      pending = { action: action.action, operator: action.operator.trim(), reason: action.reason.trim() };
      state.actions.push({ ...pending, at: now() });
      return { accepted: true as const, action: action.action };
    },
    {
      validator: (action) => {
        const problem = invalidAction(state, action);
        if (problem) throw new Error(problem);
      },
    },
  );

  // Raw starts carry no search attributes; set the start-time ones from the arguments.
  mark(JobStatus.Running, [
    { key: SA.JobType, value: args.jobType },
    { key: SA.SubmittedBy, value: args.submittedBy },
    ...(args.correlationId ? [{ key: SA.CorrelationId, value: args.correlationId }] : []),
    ...(args.parentJobId ? [{ key: SA.ParentJobId, value: args.parentJobId }] : []),
  ]);
  /** A ledger write in the job's bookkeeping; a failure is logged and left to history (the audit trail). */
  const recordBestEffort = async (entry: RecordArgs) => {
    try {
      await record(entry);
    } catch (err) {
      log.error('ledger trail entry not recorded', { ...fields({ outcome: 'ledger-unavailable' }), kind: entry.kind, error: factsOf(err).message });
    }
  };

  /** Parks the job until an operator acts or the parking timeout passes; returns the action to take. */
  const park = async (failure: FailureContext, policy: DeadLetterPlan): Promise<OperatorAction> => {
    state.failure = failure;
    pending = undefined;
    mark(JobStatus.DeadLettered, [{ key: SA.ErrorClass, value: failure.errorClass }]);
    metricMeter.createCounter(Metric.jobsDeadLettered).add(1, { job_type: args.jobType, error_class: failure.errorClass });
    await recordBestEffort({ jobId, kind: 'job.dead_lettered', data: { step: failure.step, phase: failure.phase, errorClass: failure.errorClass } });
    log.warn('job dead-lettered', { ...fields({ step: failure.step, outcome: 'dead-lettered' }), error_class: failure.errorClass });
    const acted = await condition(() => pending !== undefined, policy.timeoutMs);
    const action: OperatorAction = acted
      ? pending!
      : { action: policy.onTimeout, operator: 'system:parking-timeout', reason: `parked longer than ${policy.timeoutMs} ms` };
    if (!acted) state.actions.push({ ...action, at: now() });
    await recordBestEffort({ jobId, kind: `operator.${action.action}`, data: { operator: action.operator, reason: action.reason, step: failure.step } });
    log.info('operator action', { ...fields({ step: failure.step, outcome: action.action }), operator: action.operator });
    return action;
  };

  const failureContext = (step: string, phase: FailureContext['phase'], facts: FailureFacts, input: unknown): FailureContext => {
    const info = ERROR_CLASSES[facts.errorClass as ErrorClass] ?? ERROR_CLASSES.Internal;
    return {
      step,
      phase,
      ...(facts.attempt !== undefined && { attempt: facts.attempt }),
      errorClass: facts.errorClass,
      message: facts.message,
      rootCause: {
        ...(facts.dependency !== undefined && { dependency: facts.dependency }),
        ...(facts.httpStatus !== undefined && { httpStatus: facts.httpStatus }),
        ...(facts.circuit !== undefined && { circuit: facts.circuit }),
      },
      input,
      events: [...events],
      hint: info.hint,
      runbook: info.runbook,
      at: now(),
    };
  };

  const summary = (failure: FailureContext | undefined) =>
    failure && { message: failure.message, errorClass: failure.errorClass, step: failure.step };

  /**
   * Records the job's end in the ledger, then publishes it. A ledger that stays unavailable parks the job
   * at `finish` (so `JobStatus` never claims an end the ledger lacks); `retry` tries again, `skip` closes
   * without the ledger record (reconcile then reports the gap).
   */
  const close = async (status: JobStatus, outcome: Record<string, unknown>, policy: DeadLetterPlan): Promise<JobResult> => {
    mark(status);
    for (;;) {
      try {
        await finish({ jobId, status, outcome });
        break;
      } catch (err) {
        if (isCancellation(err)) throw err;
        const action = await park(failureContext('finish', 'finish', factsOf(err), null), policy);
        if (action.action === 'skip') break;
      }
    }
    if (state.status !== status) mark(status);
    const tags = { job_type: args.jobType, status };
    metricMeter.createCounter(Metric.jobsClosed).add(1, tags);
    metricMeter.createHistogram(Metric.jobDuration, 'int', 'ms').record(Date.now() - workflowInfo().startTime.getTime(), tags);
    log.info('job closed', { ...fields({ outcome: status.toLowerCase() }) });
    return { jobId, status, results: state.results, ...outcome };
  };

  /**
   * Validates the job and records it in the ledger. Invalid input (or a key recorded with another input)
   * fails the job for good (`Failed`); any other failure (the ledger unavailable, locked or corrupt) is infrastructure: the job parks at
   * `prepare`, where an operator retries it once the ledger is repaired, and its key is never burnt.
   */
  const prepareJob = async (): Promise<JobPlan | JobResult> => {
    for (;;) {
      try {
        return await prepare(args);
      } catch (err) {
        const facts = factsOf(err);
        if (isPermanent(facts.errorClass)) {
          mark(JobStatus.Failed, [{ key: SA.ErrorClass, value: facts.errorClass }]);
          log.error('job rejected', { ...fields({ outcome: 'rejected' }) });
          throw err;
        }
        const failure = failureContext('prepare', 'prepare', facts, null);
        const action = await park(failure, DEFAULT_DEAD_LETTER);
        if (action.action === 'abandon') return close(JobStatus.Abandoned, { error: summary(failure) }, DEFAULT_DEAD_LETTER);
        mark(JobStatus.Retrying);
      }
    }
  };

  const prepared = await prepareJob();
  if (!('steps' in prepared)) return prepared;
  const plan: JobPlan = prepared;
  state.plan = plan;
  metricMeter.createCounter(Metric.jobsStarted).add(1, { job_type: plan.jobType });
  upsertSearchAttributes([{ key: SA.IdempotencyKey, value: plan.idempotencyKey }]);
  log.info('job started', { ...fields(), definition_version: plan.definitionVersion });

  const stepArgs = (name: string): StepArgs => ({
    jobId,
    jobType: plan.jobType,
    step: name,
    idempotencyKey: plan.idempotencyKey,
    input: plan.input,
    results: { ...state.results },
    ...(args.correlationId && { correlationId: args.correlationId }),
    ...(args.parentJobId && { parentJobId: args.parentJobId }),
  });
  const stepFailure = (step: string, phase: FailureContext['phase'], facts: FailureFacts) => failureContext(step, phase, facts, plan.sanitizedInput);

  /**
   * Starts one child job per input and waits for them all to end. Child ids come from this job's key and
   * the child's index. On the first fan-out a child that already exists (a rerun of this parent) is not
   * started again. A child that fails, or ends other than `Completed`, fails this step with the child's
   * error class once every child has ended. An operator's retry reruns the children whose workflow
   * failed; one that was compensated or abandoned keeps its outcome (its key is spent).
   */
  const childResults: unknown[] = [];
  const childFailures: ApplicationFailure[] = [];
  const fanOut = async (children: NonNullable<JobPlan['children']>): Promise<unknown[]> => {
    const outcomes = await Promise.allSettled(
      children.inputs.map(async (input, index) => {
        if (childResults[index] !== undefined) return childResults[index];
        const idempotencyKey = childKey(plan.idempotencyKey, index);
        const workflowId = jobIdFor(children.jobType, idempotencyKey);
        let result: JobResult;
        try {
          result = await executeChild(jobWorkflow, {
            workflowId,
            taskQueue: workflowInfo().taskQueue,
            args: [{ jobType: children.jobType, input, idempotencyKey, submittedBy: args.submittedBy, parentJobId: jobId, ...(args.correlationId && { correlationId: args.correlationId }) }],
            workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
            typedSearchAttributes: [
              { key: SA.JobType, value: children.jobType },
              { key: SA.ParentJobId, value: jobId },
              { key: SA.JobStatus, value: JobStatus.Submitted },
            ],
          });
        } catch (err) {
          if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
          if (childFailures[index]) throw childFailures[index];
          return (childResults[index] = { jobId: workflowId, existing: true });
        }
        if (result.status !== JobStatus.Completed) {
          throw (childFailures[index] = ApplicationFailure.create({
            message: `child job ${workflowId} ended ${result.status}${result.error ? `: ${result.error.message}` : ''}`,
            type: result.error?.errorClass ?? ErrorClass.BusinessRule,
            nonRetryable: true,
          }));
        }
        return (childResults[index] = result);
      }),
    );
    const failed = outcomes.find((o) => o.status === 'rejected');
    if (failed) throw failed.reason;
    return childResults;
  };

  /** Saga: compensate the completed steps newest-first. A compensation that fails for good parks the job. */
  const unwind = async (completed: StepPlan[], error: FailureContext | undefined): Promise<JobResult> => {
    const compensated: string[] = [];
    mark(JobStatus.Compensating);
    for (const step of [...completed].reverse()) {
      const compensation = step.compensation;
      if (!compensation) continue;
      for (;;) {
        enterStep(compensation.name);
        try {
          await activity(compensation.activityType, step, compensation.retry)(stepArgs(compensation.name));
          compensated.push(compensation.name);
          break;
        } catch (err) {
          const action = await park(stepFailure(compensation.name, 'compensation', factsOf(err)), plan.deadLetter);
          if (action.action === 'abandon') return close(JobStatus.Abandoned, { compensated, error: summary(error) }, plan.deadLetter);
          if (action.action === 'skip') break;
          mark(action.action === 'retry' ? JobStatus.Retrying : JobStatus.Compensating);
        }
      }
      mark(JobStatus.Compensating);
    }
    return close(JobStatus.Compensated, { compensated, error: summary(error) }, plan.deadLetter);
  };

  /**
   * Runs one unit of work (a step, or the fan-out of child jobs) until it succeeds or the job's policy
   * ends the job: a permanent failure after reversible work unwinds the saga; anything else parks the job
   * for an operator. Returns 'done', 'skipped', or the job's final result.
   */
  const attempt = async (name: string, work: () => Promise<unknown>): Promise<'done' | 'skipped' | JobResult> => {
    for (;;) {
      enterStep(name);
      try {
        state.results[name] = await work();
        if (state.status !== JobStatus.Running) mark(JobStatus.Running);
        return 'done';
      } catch (err) {
        if (isCancellation(err)) throw err;
        const facts = factsOf(err);
        const failure = stepFailure(name, 'step', facts);
        state.failure = failure;
        upsertSearchAttributes([{ key: SA.ErrorClass, value: facts.errorClass }]);
        log.warn('step failed for good', { ...fields({ step: name, outcome: 'failure' }), error_class: facts.errorClass });
        // A permanent failure after reversible work: undo it. Anything else waits for an operator.
        if (isPermanent(facts.errorClass) && completed.some((s) => s.compensation)) return unwind(completed, failure);
        const action = await park(failure, plan.deadLetter);
        if (action.action === 'abandon') return close(JobStatus.Abandoned, { error: summary(failure) }, plan.deadLetter);
        if (action.action === 'compensate') return unwind(completed, failure);
        if (action.action === 'skip') {
          state.results[name] = { skipped: true, by: action.operator };
          mark(JobStatus.Running);
          return 'skipped';
        }
        mark(JobStatus.Retrying);
      }
    }
  };

  const completed: StepPlan[] = [];
  const runSteps = async (): Promise<JobResult> => {
    for (const step of plan.steps) {
      const outcome = await attempt(step.name, () => activity(step.activityType, step, step.retry)(stepArgs(step.name)));
      if (typeof outcome === 'object') return outcome;
      if (outcome === 'done') completed.push(step);
    }
    const { children } = plan;
    if (children) {
      const outcome = await attempt('children', () => fanOut(children));
      if (typeof outcome === 'object') return outcome;
    }
    return close(JobStatus.Completed, {}, plan.deadLetter);
  };
  try {
    return await runSteps();
  } catch (err) {
    // Cancelled by an operator (`jobledger cancel`): record the end before the cancellation closes the run.
    if (isCancellation(err)) {
      await CancellationScope.nonCancellable(() => close(JobStatus.Abandoned, { cancelled: true }, plan.deadLetter));
      throw err;
    }
    // Anything else that ends the run: JobStatus must not claim the job is still running.
    mark(JobStatus.Failed, [{ key: SA.ErrorClass, value: factsOf(err).errorClass }]);
    log.error('job failed', { ...fields({ outcome: 'failed' }), error: factsOf(err).message });
    throw err;
  }
}
