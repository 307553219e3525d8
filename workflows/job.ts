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
  defineQuery,
  defineUpdate,
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
  DIAGNOSE_QUERY,
  FINISH_ACTIVITY,
  childKey,
  jobIdFor,
  JobStatus,
  OPERATOR_UPDATE,
  PREPARE_ACTIVITY,
  RECORD_ACTIVITY,
  STATE_QUERY,
} from '../common/constants';
import { ERROR_CLASSES, ErrorClass, PERMANENT_CLASSES } from '../common/errors';
import { jobLogFields, type JobLogFields } from '../common/logfields';
import { Metric } from '../common/metrics';
import { SA } from '../common/searchAttributes';
import {
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

export interface JobState {
  status: JobStatus;
  step?: string;
  plan?: JobPlan;
  results: Record<string, unknown>;
  failure?: FailureContext;
  actions: (OperatorAction & { at: string })[];
}

/** Query: the job's current status, step, plan, results, failure and operator actions. */
export const jobStateQuery = defineQuery<JobState>(STATE_QUERY);
/** Query: the failure context of the current or last failure (null if none). */
export const diagnoseQuery = defineQuery<FailureContext | null>(DIAGNOSE_QUERY);
/** Update: an operator's action on a dead-lettered job. Rejected unless the job is parked. */
export const operatorUpdate = defineUpdate<{ accepted: true; action: string }, [OperatorAction]>(OPERATOR_UPDATE);

type LedgerActivities = {
  [PREPARE_ACTIVITY]: (args: JobArgs) => Promise<JobPlan>;
  [FINISH_ACTIVITY]: (args: FinishArgs) => Promise<void>;
  [RECORD_ACTIVITY]: (args: RecordArgs) => Promise<void>;
};
type StepActivity = (args: StepArgs) => Promise<unknown>;

const ledgerActivities = proxyLocalActivities<LedgerActivities>({
  startToCloseTimeout: '30s',
  retry: { maximumAttempts: 10, maximumInterval: '10s', nonRetryableErrorTypes: [ErrorClass.Validation] },
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

/** Which actions make sense for a parked job, and why others do not. */
function invalidAction(state: JobState, action: OperatorAction): string | undefined {
  if (state.status !== JobStatus.DeadLettered) return `job is ${state.status}, not DeadLettered: no operator action applies`;
  if (!(OPERATOR_ACTIONS as readonly string[]).includes(action?.action)) return `unknown action '${String(action?.action)}'`;
  if (typeof action.operator !== 'string' || action.operator.trim().length === 0) return 'an operator identity is required';
  if (typeof action.reason !== 'string' || action.reason.trim().length < 3) return 'a reason (at least 3 characters) is required';
  if (state.failure?.phase === 'compensation' && action.action === 'compensate') return 'the job is already compensating';
  return undefined;
}

export async function jobWorkflow(args: JobArgs): Promise<JobResult> {
  const jobId = workflowInfo().workflowId;
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
  let plan: JobPlan;
  try {
    plan = await prepare(args);
  } catch (err) {
    mark(JobStatus.Failed, [{ key: SA.ErrorClass, value: factsOf(err).errorClass }]);
    log.error('job rejected', { ...fields({ outcome: 'rejected' }) });
    throw err;
  }
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

  const close = async (status: JobStatus, outcome: Record<string, unknown>): Promise<JobResult> => {
    mark(status);
    const tags = { job_type: plan.jobType, status };
    metricMeter.createCounter(Metric.jobsClosed).add(1, tags);
    metricMeter.createHistogram(Metric.jobDuration, 'int', 'ms').record(Date.now() - workflowInfo().startTime.getTime(), tags);
    await finish({ jobId, status, outcome });
    log.info('job closed', { ...fields({ outcome: status.toLowerCase() }) });
    return { jobId, status, results: state.results, ...outcome };
  };

  /** Parks the job until an operator acts or the parking timeout passes; returns the action to take. */
  const park = async (failure: FailureContext): Promise<OperatorAction> => {
    state.failure = failure;
    pending = undefined;
    mark(JobStatus.DeadLettered, [{ key: SA.ErrorClass, value: failure.errorClass }]);
    metricMeter.createCounter(Metric.jobsDeadLettered).add(1, { job_type: plan.jobType, error_class: failure.errorClass });
    await record({ jobId, kind: 'job.dead_lettered', data: { step: failure.step, phase: failure.phase, errorClass: failure.errorClass } });
    log.warn('job dead-lettered', { ...fields({ step: failure.step, outcome: 'dead-lettered' }), error_class: failure.errorClass });
    const acted = await condition(() => pending !== undefined, plan.deadLetter.timeoutMs);
    const action: OperatorAction = acted
      ? pending!
      : { action: plan.deadLetter.onTimeout, operator: 'system:parking-timeout', reason: `parked longer than ${plan.deadLetter.timeoutMs} ms` };
    if (!acted) state.actions.push({ ...action, at: now() });
    await record({ jobId, kind: `operator.${action.action}`, data: { operator: action.operator, reason: action.reason, step: failure.step } });
    log.info('operator action', { ...fields({ step: failure.step, outcome: action.action }), operator: action.operator });
    return action;
  };

  const failureContext = (step: string, phase: FailureContext['phase'], facts: FailureFacts): FailureContext => {
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
      input: plan.sanitizedInput,
      events: [...events],
      hint: info.hint,
      runbook: info.runbook,
      at: now(),
    };
  };

  /**
   * Starts one child job per input and waits for them all. Child ids come from this job's key and the
   * child's index; a child that already exists (a rerun of this parent) is not started again.
   */
  const fanOut = async (children: NonNullable<JobPlan['children']>): Promise<unknown[]> => {
    enterStep('children');
    return Promise.all(
      children.inputs.map(async (input, index) => {
        const idempotencyKey = childKey(plan.idempotencyKey, index);
        const workflowId = jobIdFor(children.jobType, idempotencyKey);
        try {
          return await executeChild(jobWorkflow, {
            workflowId,
            taskQueue: workflowInfo().taskQueue,
            args: [{ jobType: children.jobType, input, idempotencyKey, submittedBy: args.submittedBy, parentJobId: jobId, ...(args.correlationId && { correlationId: args.correlationId }) }],
            workflowIdReusePolicy: 'REJECT_DUPLICATE',
            typedSearchAttributes: [
              { key: SA.JobType, value: children.jobType },
              { key: SA.ParentJobId, value: jobId },
              { key: SA.JobStatus, value: JobStatus.Submitted },
            ],
          });
        } catch (err) {
          if (err instanceof WorkflowExecutionAlreadyStartedError) return { jobId: workflowId, existing: true };
          throw err;
        }
      }),
    );
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
          const action = await park(failureContext(compensation.name, 'compensation', factsOf(err)));
          if (action.action === 'abandon') return close(JobStatus.Abandoned, { compensated, error: summary(error) });
          if (action.action === 'skip') break;
          mark(action.action === 'retry' ? JobStatus.Retrying : JobStatus.Compensating);
        }
      }
      mark(JobStatus.Compensating);
    }
    return close(JobStatus.Compensated, { compensated, error: summary(error) });
  };

  const summary = (failure: FailureContext | undefined) =>
    failure && { message: failure.message, errorClass: failure.errorClass, step: failure.step };

  const completed: StepPlan[] = [];
  const runSteps = async (): Promise<JobResult> => {
    for (let i = 0; i < plan.steps.length; ) {
      const step = plan.steps[i]!;
      enterStep(step.name);
      try {
        state.results[step.name] = await activity(step.activityType, step, step.retry)(stepArgs(step.name));
        completed.push(step);
        if (state.status !== JobStatus.Running) mark(JobStatus.Running);
        i++;
        continue;
      } catch (err) {
        if (isCancellation(err)) throw err;
        const facts = factsOf(err);
        const failure = failureContext(step.name, 'step', facts);
        state.failure = failure;
        upsertSearchAttributes([{ key: SA.ErrorClass, value: facts.errorClass }]);
        log.warn('step failed for good', { ...fields({ step: step.name, outcome: 'failure' }), error_class: facts.errorClass });
        // A permanent failure after reversible work: undo it. Anything else waits for an operator.
        if (isPermanent(facts.errorClass) && completed.some((s) => s.compensation)) return unwind(completed, failure);
        const action = await park(failure);
        if (action.action === 'abandon') return close(JobStatus.Abandoned, { error: summary(failure) });
        if (action.action === 'compensate') return unwind(completed, failure);
        if (action.action === 'skip') {
          state.results[step.name] = { skipped: true, by: action.operator };
          i++;
        }
        mark(action.action === 'retry' ? JobStatus.Retrying : JobStatus.Running);
      }
    }
    if (plan.children) state.results.children = await fanOut(plan.children);
    return close(JobStatus.Completed, {});
  };
  try {
    return await runSteps();
  } catch (err) {
    // Cancelled by an operator (`jobledger cancel`): record the end before the cancellation closes the run.
    if (isCancellation(err)) await CancellationScope.nonCancellable(() => close(JobStatus.Abandoned, { cancelled: true }));
    throw err;
  }
}
