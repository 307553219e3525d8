/**
 * The job runtime inside a workflow, and the toolkit (`job`) that workflow code uses. `runJob` validates
 * the job through the prepare step (so raw starts are checked too), runs the job's body, and closes it:
 *
 * - `job.step(step, input)` schedules the step's activity with the policy the plan records, keeps
 *   `JobStatus`, `JobStep`, `JobAttempt` and `ErrorClass` current, and on success registers the step's
 *   compensation. A step that fails for good unwinds the saga (compensations newest-first, each behind its
 *   own ledger key) when there is reversible work, or parks the job in `DeadLettered` until an operator's
 *   Update (retry, skip, compensate, abandon) or the parking timeout.
 * - `job.child(definition, input)` runs a child job under a key derived from this job's key.
 * - `job.approval(name, { timeout })` waits for a person's `approve` or `reject` (the same Update).
 *
 * A job that ends other than Completed closes the workflow as Failed (OUTCOME_FAILURE_TYPES), with the
 * job's result in the failure's details. Deterministic code only: no I/O, no Node builtins, and the SDK's
 * replay-aware `log`.
 */
import {
  ApplicationFailure,
  CancellationScope,
  ChildWorkflowFailure,
  condition,
  executeChild,
  isCancellation,
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
import { WorkflowExecutionAlreadyStartedError, type Duration, type SearchAttributePair } from '@temporalio/common';
import { msToNumber } from '@temporalio/common/lib/time';
import { isSpanContextValid, trace } from '@opentelemetry/api';
import type { z } from 'zod';
import {
  DEFAULT_PARKING_MS,
  FINISH_ACTIVITY,
  JOB_TYPE_PATTERN,
  JOB_WORKFLOW_TYPE,
  JobStatus,
  OUTCOME_FAILURE_TYPES,
  PREPARE_ACTIVITY,
  RECORD_ACTIVITY,
  childKey,
  isTerminal,
  jobIdFor,
} from '../common/constants';
import { ERROR_CLASSES, ErrorClass, PERMANENT_CLASSES } from '../common/errors';
import { jobArgsProblems } from '../common/jobargs';
import { jobLogFields, type JobLogFields } from '../common/logfields';
import { diagnoseQuery, jobStateQuery, operatorUpdate, type JobState } from '../common/messages';
import { Metric } from '../common/metrics';
import { SA } from '../common/searchAttributes';
import { maskedValues, maskText } from '../common/masking';
import {
  APPROVAL_DECISIONS,
  DEAD_LETTER_ACTIONS,
  OPERATOR_ACTIONS,
  type DeadLetterEpisode,
  type DeadLetterPlan,
  type DuplicateRun,
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
import type { SkippableStep, StepDefinition } from '../activities/step';
import type { JobDefinition } from '../jobs/define';

/** How a call of `job.step` or `job.child` is told apart from the other calls of the same step or job type. */
export interface CallOptions {
  /**
   * A key of your own (`[A-Za-z0-9_-]{1,64}`), e.g. the page number in a loop. Default: the call's
   * occurrence, counted in call order, which replays the same as long as the workflow's code does.
   */
  key?: string;
}

export interface ApprovalOptions {
  /** How long to wait for a decision. */
  timeout: Duration;
  /** What a timeout does: undo the reversible work (`compensate`, the default) or end as Abandoned. */
  onTimeout?: 'compensate' | 'abandon';
}

/** An approval that was granted: who granted it, why, and when. */
export interface ApprovalDecision {
  name: string;
  operator: string;
  reason: string;
  at: string;
}

/** What workflow code schedules a job's work through. */
export interface JobToolkit<I> {
  readonly jobId: string;
  readonly jobType: string;
  readonly idempotencyKey: string;
  readonly input: I;
  /** Runs a step that an operator may skip: its result, or `undefined` if skipped. */
  step<SI, SO>(step: SkippableStep<SI, SO>, input: SI, options?: CallOptions): Promise<SO | undefined>;
  /** Runs a step of this job (declared in its definition's `steps`): its result. */
  step<SI, SO>(step: StepDefinition<SI, SO>, input: SI, options?: CallOptions): Promise<SO>;
  /** Runs a child job under a key derived from this job's key, and returns its result. */
  child<CS extends z.ZodType, CR>(job: JobDefinition<CS, CR>, input: z.input<CS>, options?: CallOptions): Promise<CR | undefined>;
  /** Waits for a person to `approve` (resolves) or `reject` (the job compensates) within the timeout. */
  approval(name: string, options: ApprovalOptions): Promise<ApprovalDecision>;
}

/** The body of a job written as workflow code (its definition's `workflow`), as the runtime calls it. */
export type JobBody = (job: JobToolkit<never>, input: never) => Promise<unknown>;

type LedgerActivities = {
  [PREPARE_ACTIVITY]: (args: JobArgs) => Promise<JobPlan | DuplicateRun>;
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
/** Patch id of the change that closes Compensated, Abandoned and Failed jobs as failed workflows. */
export const OUTCOME_FAILURE_PATCH = 'job-outcome-as-failure';
/** Patch id of the change that starts child jobs as their own workflow type instead of `jobWorkflow`. */
export const CHILD_TYPE_PATCH = 'child-job-workflow-type';
/**
 * Patch id of the change that sends a workflow task's search-attribute writes as one upsert (see
 * `SearchAttributeBatch`). It implies the three patches before it: a run that has it records none of them
 * (each patch costs a marker and a `TemporalChangeVersion` upsert in every history).
 */
export const SEARCH_ATTRIBUTE_BATCH_PATCH = 'search-attribute-batch';

/**
 * The search-attribute writes of one workflow task, sent as one upsert. A write is buffered; the runtime
 * flushes the buffer before it waits on anything that ends the workflow task (an activity, a child job, a
 * condition) and when the job's workflow returns or throws, and a write made while no ledger local activity
 * is in flight also goes out at the end of the activation (so workflow code's own waits never hide it). A
 * local activity's result arrives in the same workflow task, so writes made before it wait for it. Later
 * writes of a key replace earlier ones. A task's commands reach the server together, so what visibility
 * shows after each task is unchanged, except that a JobStatus written just before a ledger write (finish) is
 * published with its result. Runs recorded before SEARCH_ATTRIBUTE_BATCH_PATCH write each at once.
 */
class SearchAttributeBatch {
  private batching: boolean | undefined;
  private readonly pending = new Map<string, SearchAttributePair>();
  private holds = 0;
  private queued = false;

  /** Whether this run batches, asked at its first write (so a run that writes nothing records no patch). */
  get enabled(): boolean {
    this.batching ??= patched(SEARCH_ATTRIBUTE_BATCH_PATCH);
    return this.batching;
  }

  set(pairs: SearchAttributePair[]): void {
    if (!this.enabled) {
      upsertSearchAttributes(pairs);
      return;
    }
    for (const pair of pairs) this.pending.set(pair.key.name, pair);
    this.schedule();
  }

  /** Runs a ledger local activity; buffered writes wait (at most until the next flush) for its result. */
  async local<T>(work: () => Promise<T>): Promise<T> {
    this.holds++;
    try {
      return await work();
    } finally {
      this.holds--;
    }
  }

  flush(): void {
    if (this.pending.size === 0) return;
    const pairs = [...this.pending.values()];
    this.pending.clear();
    upsertSearchAttributes(pairs);
  }

  private schedule(): void {
    if (this.queued) return;
    this.queued = true;
    void Promise.resolve().then(() => {
      this.queued = false;
      if (this.holds === 0) this.flush();
    });
  }
}

/** Lifecycle events kept for diagnostics. */
const EVENTS_KEPT = 20;
const CALL_KEY = /^[A-Za-z0-9_-]{1,64}$/;

/** The trace id of the workflow's span when tracing interceptors run (core/tracing.ts), else null. */
function workflowTraceId(): string | null {
  const context = trace.getActiveSpan()?.spanContext();
  return context && isSpanContextValid(context) ? context.traceId : null;
}

function activity(step: StepPlan, activityType: string, retry: StepRetryPlan): StepActivity {
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

/** The class, message and root-cause details of a failure (an ActivityFailure or ChildWorkflowFailure wrapping an ApplicationFailure). */
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
  approval: [],
};

/** Which actions make sense for the job now, and why others do not. */
function invalidAction(state: JobState, action: OperatorAction): string | undefined {
  const decision = (APPROVAL_DECISIONS as readonly string[]).includes(action?.action);
  if (decision && state.status !== JobStatus.AwaitingApproval) return `job is ${state.status}, not AwaitingApproval: there is nothing to approve or reject`;
  if (!decision && state.status !== JobStatus.DeadLettered) return `job is ${state.status}, not DeadLettered: no operator action applies`;
  if (!(OPERATOR_ACTIONS as readonly string[]).includes(action?.action)) return `unknown action '${String(action?.action)}'`;
  if (typeof action.operator !== 'string' || action.operator.trim().length === 0) return 'an operator identity is required';
  if (typeof action.reason !== 'string' || action.reason.trim().length < 3) return 'a reason (at least 3 characters) is required';
  if (decision) return undefined;
  const phase = state.failure?.phase ?? 'step';
  const allowed = state.failure?.actions ?? ACTIONS_BY_PHASE[phase];
  if (!allowed.includes(action.action)) {
    return `'${action.action}' does not apply to a job parked at ${phase} '${state.failure?.step}'; use ${allowed.join(' or ')}`;
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

/** How the job ends early: the saga unwinds, or the job is abandoned as it stands. */
class JobEnding extends Error {
  override readonly name = 'JobEnding';
  constructor(
    readonly how: 'compensate' | 'abandon',
    readonly failure: FailureContext,
  ) {
    super(`job ends (${how}): ${failure.message}`);
  }
}

/** A compensation registered by a completed step, run newest-first when the saga unwinds. */
interface SagaEntry {
  name: string;
  activityType: string;
  step: StepPlan;
  retry: StepRetryPlan;
  args: () => StepArgs;
}

const SKIPPED = Symbol('skipped');

/** The result of a job that ended other than Completed, as the failure that closes its workflow. */
function outcomeFailure(result: JobResult): ApplicationFailure {
  const type = OUTCOME_FAILURE_TYPES[result.status as keyof typeof OUTCOME_FAILURE_TYPES] ?? OUTCOME_FAILURE_TYPES.Failed;
  const cause = result.error ? `: ${result.error.message}` : '';
  return ApplicationFailure.create({ message: `job ${result.jobId} ended ${result.status}${cause}`, type, nonRetryable: true, details: [result] });
}

/**
 * Runs one job: the argument check, prepare (the plan), the body, and the close. Returns the result of
 * a Completed job; any other end fails the workflow with `outcomeFailure` (runs recorded before that change
 * return it, see OUTCOME_FAILURE_PATCH).
 */
export async function runJob(args: JobArgs, body: JobBody | undefined): Promise<JobResult> {
  const attributes = new SearchAttributeBatch();
  try {
    return await runJobWith(args, body, attributes);
  } finally {
    attributes.flush();
  }
}

async function runJobWith(args: JobArgs, body: JobBody | undefined, attributes: SearchAttributeBatch): Promise<JobResult> {
  const { workflowId: jobId, workflowType } = workflowInfo();
  const problems = jobArgsProblems(args, workflowInfo().parent?.workflowId);
  const named = (args as { jobType?: unknown } | null)?.jobType;
  if (workflowType !== JOB_WORKFLOW_TYPE && typeof named === 'string' && named !== workflowType) {
    problems.push(`jobType: '${named}' does not match the workflow type '${workflowType}'`);
  }
  if (problems.length > 0) rejectArguments(args, problems);
  const state: JobState = { status: JobStatus.Running, results: {}, actions: [] };
  const events: LifecycleEvent[] = [];
  let pending: OperatorAction | undefined;
  let decision: OperatorAction | undefined;
  let ending: JobEnding | undefined;

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
    attributes.set([{ key: SA.JobStatus, value: status }, ...extra]);
  };
  // How many times each step key has been dispatched (operator retries start it again).
  const dispatches = new Map<string, number>();
  const enterStep = (name: string) => {
    const count = (dispatches.get(name) ?? 0) + 1;
    dispatches.set(name, count);
    state.step = name;
    note(state.status, name, 'dispatched');
    // Version 2 of the workflow also publishes JobAttempt; runs recorded before it replay unchanged.
    const withAttempt = attributes.enabled || patched(JOB_ATTEMPT_PATCH);
    attributes.set([{ key: SA.JobStep, value: name }, ...(withAttempt ? [{ key: SA.JobAttempt, value: count }] : [])]);
  };

  // Every stay in the dead letter, with the action that ended it (see parkNow).
  const episodes: DeadLetterEpisode[] = [];
  /**
   * The diagnose query's answer: the failure with the events up to now and every episode; failure messages and
   * operator reasons masked like the input (the input's PII values, and any email address).
   */
  const diagnosis = (): FailureContext | null => {
    const failure = state.failure;
    if (!failure) return null;
    const hidden = state.plan ? maskedValues(args.input, state.plan.sanitizedInput) : [];
    const mask = (text: string) => maskText(text, hidden);
    return {
      ...failure,
      message: mask(failure.message),
      events: events.map((e) => ({ ...e, ...(e.note && { note: mask(e.note) }) })),
      episodes: episodes.map((e) => ({ ...e, message: mask(e.message), ...(e.action && { action: { ...e.action, reason: mask(e.action.reason) } }) })),
    };
  };
  setHandler(jobStateQuery, () => state);
  setHandler(diagnoseQuery, diagnosis);
  setHandler(
    operatorUpdate,
    async (action) => {
      const accepted = { action: action.action, operator: action.operator.trim(), reason: action.reason.trim() };
      if ((APPROVAL_DECISIONS as readonly string[]).includes(accepted.action)) decision = accepted;
      else pending = accepted;
      state.actions.push({ ...accepted, at: now() });
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
      await attributes.local(() => record(entry));
    } catch (err) {
      log.error('ledger trail entry not recorded', { ...fields({ outcome: 'ledger-unavailable' }), kind: entry.kind, error: factsOf(err).message });
    }
  };

  /**
   * Parks the job until an operator acts or the parking timeout passes; returns the action to take. A step's
   * park (`interruptible`) also ends when the job ends meanwhile (another step failed for good).
   */
  const parkNow = async (failure: FailureContext, policy: DeadLetterPlan, interruptible = false): Promise<OperatorAction> => {
    if (interruptible && ending) throw ending;
    state.failure = failure;
    pending = undefined;
    // With the batch, the park also names its failed step: a step running beside it may have written JobStep since.
    const parkedStep = attributes.enabled && failure.step ? [{ key: SA.JobStep, value: failure.step }] : [];
    mark(JobStatus.DeadLettered, [{ key: SA.ErrorClass, value: failure.errorClass }, ...parkedStep]);
    const episode: DeadLetterEpisode = {
      parkedAt: now(),
      step: failure.step,
      phase: failure.phase,
      errorClass: failure.errorClass,
      message: failure.message,
      ...(failure.attempt !== undefined && { attempt: failure.attempt }),
    };
    episodes.push(episode);
    metricMeter.createCounter(Metric.jobsDeadLettered).add(1, { job_type: args.jobType, error_class: failure.errorClass });
    await recordBestEffort({ jobId, kind: 'job.dead_lettered', data: { step: failure.step, phase: failure.phase, errorClass: failure.errorClass } });
    log.warn('job dead-lettered', { ...fields({ step: failure.step, outcome: 'dead-lettered' }), error_class: failure.errorClass });
    attributes.flush();
    const acted = await condition(() => pending !== undefined || (interruptible && ending !== undefined), policy.timeoutMs);
    if (interruptible && ending && pending === undefined) throw ending;
    const action: OperatorAction = acted
      ? pending!
      : { action: policy.onTimeout, operator: 'system:parking-timeout', reason: `parked longer than ${policy.timeoutMs} ms` };
    if (!acted) state.actions.push({ ...action, at: now() });
    episode.action = { ...action, at: now() };
    note(JobStatus.DeadLettered, failure.step, `${action.action} by ${action.operator}`);
    await recordBestEffort({ jobId, kind: `operator.${action.action}`, data: { operator: action.operator, reason: action.reason, step: failure.step } });
    log.info('operator action', { ...fields({ step: failure.step, outcome: action.action }), operator: action.operator });
    return action;
  };
  // Steps that run in parallel park one at a time: one failure before the operator, one decision each.
  let parkingQueue: Promise<unknown> = Promise.resolve();
  const park = (failure: FailureContext, policy: DeadLetterPlan): Promise<OperatorAction> => {
    const parked = parkingQueue.then(() => parkNow(failure, policy, true));
    parkingQueue = parked.catch(() => undefined);
    return parked;
  };

  const failureContext = (step: string, phase: FailureContext['phase'], facts: FailureFacts, input: unknown, actions?: readonly string[]): FailureContext => {
    const info = ERROR_CLASSES[facts.errorClass as ErrorClass] ?? ERROR_CLASSES.Internal;
    return {
      step,
      phase,
      ...(actions && { actions: [...actions] }),
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
        await attributes.local(() => finish({ jobId, status, outcome }));
        break;
      } catch (err) {
        if (isCancellation(err)) throw err;
        const action = await parkNow(failureContext('finish', 'finish', factsOf(err), null), policy);
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

  /** A Completed job's result is returned; any other end fails the workflow (recorded older runs return it). */
  const settle = (result: JobResult): JobResult => {
    if (result.status === JobStatus.Completed || !(attributes.enabled || patched(OUTCOME_FAILURE_PATCH))) return result;
    throw outcomeFailure(result);
  };

  /**
   * A run that repeats a scheduled slot that has already ended (a backfill or trigger of it): it closes at
   * once as the slot's recorded run ended, with no step run and nothing written to the ledger.
   */
  const duplicateRun = ({ duplicateOf }: DuplicateRun): JobResult => {
    if (isTerminal(duplicateOf.status)) mark(duplicateOf.status);
    log.info('scheduled slot already ran; this run does nothing', { ...fields({ outcome: 'deduplicated' }), duplicate_of_run_id: duplicateOf.runId });
    return { jobId, status: duplicateOf.status, results: {}, duplicateOf: { runId: duplicateOf.runId } };
  };

  /**
   * Validates the job and records it in the ledger. Invalid input (or a key recorded with another input)
   * fails the job for good (`Failed`); any other failure (the ledger unavailable, locked or corrupt) is infrastructure: the job parks at
   * `prepare`, where an operator retries it once the ledger is repaired, and its key is never burnt.
   */
  const prepareJob = async (): Promise<JobPlan | JobResult> => {
    for (;;) {
      try {
        const prepared = await attributes.local(() => prepare(args));
        if ('duplicateOf' in prepared) return duplicateRun(prepared);
        return prepared;
      } catch (err) {
        const facts = factsOf(err);
        if (isPermanent(facts.errorClass)) {
          mark(JobStatus.Failed, [{ key: SA.ErrorClass, value: facts.errorClass }]);
          log.error('job rejected', { ...fields({ outcome: 'rejected' }) });
          throw err;
        }
        const failure = failureContext('prepare', 'prepare', facts, null);
        const action = await parkNow(failure, DEFAULT_DEAD_LETTER);
        if (action.action === 'abandon') return close(JobStatus.Abandoned, { error: summary(failure) }, DEFAULT_DEAD_LETTER);
        mark(JobStatus.Retrying);
      }
    }
  };

  const prepared = await prepareJob();
  if (!('steps' in prepared)) return settle(prepared);
  const plan: JobPlan = prepared;
  state.plan = plan;
  metricMeter.createCounter(Metric.jobsStarted).add(1, { job_type: plan.jobType });
  attributes.set([{ key: SA.IdempotencyKey, value: plan.idempotencyKey }]);
  log.info('job started', { ...fields(), definition_version: plan.definitionVersion });

  const saga: SagaEntry[] = [];
  const inFlight = new Set<Promise<unknown>>();
  // Activities and child jobs executing right now (parked or waiting units do not count).
  let running = 0;
  const counted = async <T>(work: () => Promise<T>): Promise<T> => {
    running++;
    try {
      return await work();
    } finally {
      running--;
    }
  };
  const end = (how: JobEnding['how'], failure: FailureContext): JobEnding => (ending ??= new JobEnding(how, failure));

  /**
   * Runs one unit of work (a step, a child job, the list form's fan-out) until it succeeds or the job's
   * policy ends the job: a permanent failure after reversible work ends it with the saga; anything else
   * parks it for an operator, who may retry, skip (when `actions` allows), compensate or abandon.
   */
  const attempt = async <T>(name: string, work: () => Promise<T>, input: unknown, actions: readonly string[]): Promise<T | typeof SKIPPED> => {
    for (;;) {
      if (ending) throw ending;
      enterStep(name);
      try {
        const value = await work();
        if (state.status === JobStatus.Retrying) mark(JobStatus.Running);
        return value;
      } catch (err) {
        if (isCancellation(err)) throw err;
        if (ending) throw ending;
        const facts = factsOf(err);
        const failure = failureContext(name, 'step', facts, input, actions === DEAD_LETTER_ACTIONS ? undefined : actions);
        state.failure = failure;
        attributes.set([{ key: SA.ErrorClass, value: facts.errorClass }]);
        log.warn('step failed for good', { ...fields({ step: name, outcome: 'failure' }), error_class: facts.errorClass });
        // A permanent failure after reversible work: undo it. Anything else waits for an operator. Steps
        // still running alongside are awaited first, so that what they do is known (and undone) too.
        attributes.flush();
        if (isPermanent(facts.errorClass) && running > 0) await condition(() => running === 0);
        if (ending) throw ending;
        if (isPermanent(facts.errorClass) && saga.length > 0) throw end('compensate', failure);
        const action = await park(failure, plan.deadLetter);
        if (action.action === 'abandon' || action.action === 'compensate') throw end(action.action, failure);
        if (action.action === 'skip') {
          // What the unit's result would have been says who skipped it, in the state query and the job's results.
          state.results[name] = { skipped: true, by: action.operator };
          mark(JobStatus.Running);
          return SKIPPED;
        }
        mark(JobStatus.Retrying);
      }
    }
  };
  /** Runs `work` as one of the job's units, tracked so that an ending waits for every unit in flight. */
  const track = <T>(work: Promise<T>): Promise<T> => {
    inFlight.add(work);
    const done = () => inFlight.delete(work);
    work.then(done, done);
    return work;
  };

  const stepArgs = (step: string, input: unknown, results: Record<string, unknown>): StepArgs => ({
    jobId,
    jobType: plan.jobType,
    step,
    idempotencyKey: plan.idempotencyKey,
    input,
    results,
    ...(args.correlationId && { correlationId: args.correlationId }),
    ...(args.parentJobId && { parentJobId: args.parentJobId }),
  });

  /**
   * Runs a planned step under `key`; on success records its result and registers its compensation, both
   * before the step stops counting as running. A permanent failure beside it that settles in the same
   * workflow activation and finds nothing running then finds the compensation too, and unwinds the saga.
   */
  const runPlannedStep = async (step: StepPlan, key: string, input: unknown, results: () => Record<string, unknown>, skippable: boolean) => {
    const actions = skippable ? DEAD_LETTER_ACTIONS : DEAD_LETTER_ACTIONS.filter((a) => a !== 'skip');
    const run = async () => {
      attributes.flush();
      const value = await activity(step, step.activityType, step.retry)(stepArgs(key, input, results()));
      state.results[key] = value;
      const { compensation } = step;
      if (compensation) {
        const suffix = key.slice(step.name.length);
        const name = `${compensation.name}${suffix}`;
        saga.push({ name, activityType: compensation.activityType, step, retry: compensation.retry, args: () => stepArgs(name, input, { ...results(), [step.name]: value }) });
      }
      return value;
    };
    return attempt(key, () => counted(run), plan.sanitizedInput, actions);
  };

  const occurrences = new Map<string, number>();
  /** The key of a call: explicit (`name@key`), else the name and its occurrence (`name`, `name#2`, ...). */
  const callKey = (name: string, options: CallOptions | undefined): string => {
    if (options?.key !== undefined) {
      if (!CALL_KEY.test(options.key)) {
        throw ApplicationFailure.create({ message: `call key '${options.key}' of '${name}' must match ${CALL_KEY}`, type: ErrorClass.Configuration, nonRetryable: true });
      }
      return `${name}@${options.key}`;
    }
    const n = (occurrences.get(name) ?? 0) + 1;
    occurrences.set(name, n);
    return n === 1 ? name : `${name}#${n}`;
  };

  /** A child that already existed when this job started it (a rerun of this job): its result is not known here. */
  type ExistingChild = { jobId: string; existing: true };
  /**
   * Starts a child job and waits for its end. A child that already exists (a rerun of this parent) is
   * not started again. A child that ends other than Completed fails the unit with the child's error class;
   * an operator's retry reruns a child whose workflow failed, while one that was compensated or abandoned
   * keeps its outcome (its key is spent).
   */
  const spent = new Map<string, ApplicationFailure>();
  const runChild = async (jobType: string, input: unknown, idempotencyKey: string): Promise<JobResult | ExistingChild> => {
    const workflowId = jobIdFor(jobType, idempotencyKey);
    const known = spent.get(workflowId);
    if (known) throw known;
    const childType = attributes.enabled || patched(CHILD_TYPE_PATCH) ? jobType : JOB_WORKFLOW_TYPE;
    let result: JobResult;
    attributes.flush();
    try {
      result = await executeChild<(a: JobArgs) => Promise<JobResult>>(childType, {
        workflowId,
        taskQueue: workflowInfo().taskQueue,
        args: [{ jobType, input, idempotencyKey, submittedBy: args.submittedBy, parentJobId: jobId, ...(args.correlationId && { correlationId: args.correlationId }) }],
        workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
        typedSearchAttributes: [
          { key: SA.JobType, value: jobType },
          { key: SA.ParentJobId, value: jobId },
          { key: SA.JobStatus, value: JobStatus.Submitted },
        ],
      });
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) return { jobId: workflowId, existing: true };
      const outcome = err instanceof ChildWorkflowFailure && err.cause instanceof ApplicationFailure ? err.cause : undefined;
      const ended = outcome?.details?.[0] as JobResult | undefined;
      if (!outcome || !ended || (outcome.type !== OUTCOME_FAILURE_TYPES.Compensated && outcome.type !== OUTCOME_FAILURE_TYPES.Abandoned)) throw err;
      result = ended;
    }
    if (result.status !== JobStatus.Completed) {
      const failure = ApplicationFailure.create({
        message: `child job ${workflowId} ended ${result.status}${result.error ? `: ${result.error.message}` : ''}`,
        type: result.error?.errorClass ?? ErrorClass.BusinessRule,
        nonRetryable: true,
      });
      spent.set(workflowId, failure);
      throw failure;
    }
    return result;
  };

  let children = 0;
  const job: JobToolkit<unknown> = {
    jobId,
    jobType: plan.jobType,
    idempotencyKey: plan.idempotencyKey,
    input: plan.input,
    step: <SI, SO>(step: StepDefinition<SI, SO>, input: SI, options?: CallOptions): Promise<SO> => {
      const planned = plan.steps.find((s) => s.name === step.name);
      if (!planned) {
        throw ApplicationFailure.create({ message: `step '${step.name}' is not among the steps of job type ${plan.jobType}: add it to the definition's steps`, type: ErrorClass.Configuration, nonRetryable: true });
      }
      const key = callKey(step.name, options);
      return track(runPlannedStep(planned, key, input, () => ({}), step.skippable === true).then((value) => (value === SKIPPED ? undefined : value) as SO));
    },
    child: async <CS extends z.ZodType, CR>(definition: JobDefinition<CS, CR>, input: z.input<CS>, options?: CallOptions): Promise<CR | undefined> => {
      const key = options?.key ?? `part-${children++}`;
      if (!CALL_KEY.test(key)) throw ApplicationFailure.create({ message: `child key '${key}' must match ${CALL_KEY}`, type: ErrorClass.Configuration, nonRetryable: true });
      const idempotencyKey = options?.key === undefined ? childKey(plan.idempotencyKey, children - 1) : `${plan.idempotencyKey}.${key}`;
      const name = `child:${definition.type}@${key}`;
      const value = await track(attempt(name, () => counted(() => runChild(definition.type, input, idempotencyKey)), plan.sanitizedInput, DEAD_LETTER_ACTIONS.filter((a) => a !== 'skip')));
      if (value === SKIPPED || 'existing' in value) return undefined;
      state.results[name] = value.result;
      return value.result as CR;
    },
    approval: (name: string, options: ApprovalOptions): Promise<ApprovalDecision> => track(awaitApproval(name, options)),
  };

  /** Waits for `approve` or `reject` through the operator Update, or for the timeout. */
  const awaitApproval = async (name: string, options: ApprovalOptions): Promise<ApprovalDecision> => {
    if (ending) throw ending;
    const timeoutMs = msToNumber(options.timeout);
    enterStep(name);
    state.approval = { name, since: now(), timeoutMs };
    decision = undefined;
    mark(JobStatus.AwaitingApproval);
    await recordBestEffort({ jobId, kind: 'approval.requested', data: { name, timeoutMs } });
    log.info('approval requested', { ...fields({ step: name, outcome: 'awaiting-approval' }), timeout_ms: timeoutMs });
    attributes.flush();
    const decided = await condition(() => decision !== undefined || ending !== undefined, timeoutMs);
    state.approval = undefined;
    if (ending) throw ending;
    const made: OperatorAction = decided
      ? decision!
      : { action: 'reject', operator: 'system:approval-timeout', reason: `no decision within ${timeoutMs} ms` };
    const kind = !decided ? 'approval.timed_out' : made.action === 'approve' ? 'approval.approved' : 'approval.rejected';
    await recordBestEffort({ jobId, kind, data: { name, operator: made.operator, reason: made.reason } });
    log.info('approval decided', { ...fields({ step: name, outcome: kind.slice('approval.'.length) }), operator: made.operator });
    if (made.action === 'approve') {
      mark(JobStatus.Running);
      return { name, operator: made.operator, reason: made.reason, at: now() };
    }
    const facts: FailureFacts = decided
      ? { message: `approval '${name}' rejected by ${made.operator}: ${made.reason}`, errorClass: ErrorClass.BusinessRule }
      : { message: `approval '${name}' timed out after ${timeoutMs} ms`, errorClass: ErrorClass.Timeout };
    const failure = failureContext(name, 'approval', facts, plan.sanitizedInput);
    state.failure = failure;
    attributes.set([{ key: SA.ErrorClass, value: facts.errorClass }]);
    throw end(decided ? 'compensate' : (options.onTimeout ?? 'compensate'), failure);
  };

  /** Saga: compensate the completed steps newest-first. A compensation that fails for good parks the job. */
  const unwind = async (error: FailureContext | undefined): Promise<JobResult> => {
    const compensated: string[] = [];
    mark(JobStatus.Compensating);
    for (const entry of [...saga].reverse()) {
      for (;;) {
        enterStep(entry.name);
        try {
          attributes.flush();
          await activity(entry.step, entry.activityType, entry.retry)(entry.args());
          compensated.push(entry.name);
          break;
        } catch (err) {
          const action = await parkNow(failureContext(entry.name, 'compensation', factsOf(err), plan.sanitizedInput), plan.deadLetter);
          if (action.action === 'abandon') return close(JobStatus.Abandoned, { compensated, error: summary(error) }, plan.deadLetter);
          if (action.action === 'skip') break;
          mark(action.action === 'retry' ? JobStatus.Retrying : JobStatus.Compensating);
        }
      }
      mark(JobStatus.Compensating);
    }
    return close(JobStatus.Compensated, { compensated, error: summary(error) }, plan.deadLetter);
  };

  /** Ends the job as the ending says, once every unit still in flight has settled (its compensation registered). */
  const conclude = async (how: JobEnding['how'], failure: FailureContext): Promise<JobResult> => {
    while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    if (how === 'compensate') return unwind(failure);
    return close(JobStatus.Abandoned, { error: summary(failure) }, plan.deadLetter);
  };

  /**
   * The body of a list-form job: its planned steps in order, each given the job's input and the results
   * so far, then its child jobs, one per input, all at once (an operator's retry reruns only the children
   * that did not complete).
   */
  const childResults: unknown[] = [];
  const runListedSteps = async (): Promise<undefined> => {
    for (const step of plan.steps) {
      await runPlannedStep(step, step.name, plan.input, () => ({ ...state.results }), true);
    }
    const { children } = plan;
    if (!children) return undefined;
    const fanOut = async (): Promise<unknown[]> => {
      const outcomes = await Promise.allSettled(
        children.inputs.map(async (input, index) => {
          childResults[index] ??= await runChild(children.jobType, input, childKey(plan.idempotencyKey, index));
          return childResults[index];
        }),
      );
      const failed = outcomes.find((o) => o.status === 'rejected');
      if (failed) throw failed.reason;
      return childResults;
    };
    const value = await attempt('children', fanOut, plan.sanitizedInput, DEAD_LETTER_ACTIONS);
    if (value !== SKIPPED) state.results.children = value;
    return undefined;
  };

  /** The job's own code, when it is written as a workflow; a definition that says so but is not in this bundle is a configuration fault. */
  const runBody = async (): Promise<unknown> => {
    if (body) return body(job as JobToolkit<never>, plan.input as never);
    if (!plan.code) return runListedSteps();
    throw ApplicationFailure.create({
      message: `job type ${plan.jobType} is workflow code, but this worker's workflow bundle does not register it: list its definition in jobWorkflows() of the bundle's entry (workflowsPath)`,
      type: ErrorClass.Configuration,
      nonRetryable: true,
    });
  };

  let result: JobResult;
  try {
    const value = await runBody();
    result = ending ? await conclude(ending.how, ending.failure) : await close(JobStatus.Completed, value === undefined ? {} : { result: value }, plan.deadLetter);
  } catch (err) {
    // Cancelled by an operator (`jobledger cancel`): record the end before the cancellation closes the run.
    if (isCancellation(err)) {
      await CancellationScope.nonCancellable(() => close(JobStatus.Abandoned, { cancelled: true }, plan.deadLetter));
      throw err;
    }
    if (ending) {
      result = await conclude(ending.how, ending.failure);
    } else if (err instanceof ApplicationFailure) {
      // The workflow code itself gave up (a business rule): undo the reversible work, or end as Failed.
      const failure = failureContext(state.step ?? 'workflow', 'step', factsOf(err), plan.sanitizedInput);
      state.failure = failure;
      attributes.set([{ key: SA.ErrorClass, value: failure.errorClass }]);
      result = saga.length > 0 ? await conclude('compensate', failure) : await close(JobStatus.Failed, { error: summary(failure) }, plan.deadLetter);
    } else {
      // Anything else that ends the run: JobStatus must not claim the job is still running.
      mark(JobStatus.Failed, [{ key: SA.ErrorClass, value: factsOf(err).errorClass }]);
      log.error('job failed', { ...fields({ outcome: 'failed' }), error: factsOf(err).message });
      throw err;
    }
  }
  return settle(result);
}
