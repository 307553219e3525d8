/**
 * The generic job workflow. It validates the job through the prepare step (so raw starts are checked
 * too), then runs the plan's steps in order as activities, each with the retry policy and timeouts the
 * plan records. `JobStatus` and `JobStep` search attributes follow the job as it moves. Deterministic
 * code only: no I/O, no Node builtins, no logging library other than the SDK's replay-aware `log`.
 */
import {
  ApplicationFailure,
  defineQuery,
  log,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  TemporalFailure,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { SearchAttributePair } from '@temporalio/common';
import { FINISH_ACTIVITY, JobStatus, PREPARE_ACTIVITY } from '../common/constants';
import { ErrorClass, PERMANENT_CLASSES } from '../common/errors';
import { SA } from '../common/searchAttributes';
import type { FinishArgs, JobArgs, JobPlan, JobResult, StepArgs, StepPlan, StepRetryPlan } from '../common/types';

export interface JobState {
  status: JobStatus;
  step?: string;
  plan?: JobPlan;
  results: Record<string, unknown>;
}

/** Query: the job's current status, step, plan and results so far. */
export const jobStateQuery = defineQuery<JobState>('jobledger.state');

type LedgerActivities = {
  [PREPARE_ACTIVITY]: (args: JobArgs) => Promise<JobPlan>;
  [FINISH_ACTIVITY]: (args: FinishArgs) => Promise<void>;
};
type StepActivity = (args: StepArgs) => Promise<unknown>;

const ledgerActivities = proxyLocalActivities<LedgerActivities>({
  startToCloseTimeout: '30s',
  retry: { maximumAttempts: 10, maximumInterval: '10s', nonRetryableErrorTypes: [ErrorClass.Validation] },
});
const prepare = ledgerActivities[PREPARE_ACTIVITY];
const finish = ledgerActivities[FINISH_ACTIVITY];

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

/** The taxonomy class and message of a step failure (an ActivityFailure wrapping an ApplicationFailure). */
function describeFailure(err: unknown): { message: string; errorClass: string } {
  const cause = err instanceof TemporalFailure && err.cause instanceof ApplicationFailure ? err.cause : err;
  if (cause instanceof ApplicationFailure) return { message: cause.message, errorClass: cause.type ?? ErrorClass.Internal };
  return { message: err instanceof Error ? err.message : String(err), errorClass: ErrorClass.Internal };
}

export async function jobWorkflow(args: JobArgs): Promise<JobResult> {
  const jobId = workflowInfo().workflowId;
  const state: JobState = { status: JobStatus.Running, results: {} };
  setHandler(jobStateQuery, () => state);
  const mark = (status: JobStatus, extra: SearchAttributePair[] = []) => {
    state.status = status;
    upsertSearchAttributes([{ key: SA.JobStatus, value: status }, ...extra]);
  };
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
    mark(JobStatus.Failed, [{ key: SA.ErrorClass, value: describeFailure(err).errorClass }]);
    log.error('job rejected', { job_id: jobId, job_type: args.jobType, status: state.status, outcome: 'rejected' });
    throw err;
  }
  state.plan = plan;
  upsertSearchAttributes([{ key: SA.IdempotencyKey, value: plan.idempotencyKey }]);
  log.info('job started', { job_id: jobId, job_type: plan.jobType, status: state.status, definition_version: plan.definitionVersion });
  const stepArgs = (name: string): StepArgs => ({
    jobId,
    jobType: plan.jobType,
    step: name,
    idempotencyKey: plan.idempotencyKey,
    input: plan.input,
    results: { ...state.results },
  });
  const completed: StepPlan[] = [];
  for (const step of plan.steps) {
    state.step = step.name;
    upsertSearchAttributes([{ key: SA.JobStep, value: step.name }]);
    try {
      state.results[step.name] = await activity(step.activityType, step, step.retry)(stepArgs(step.name));
      completed.push(step);
    } catch (err) {
      const failure = { ...describeFailure(err), step: step.name };
      upsertSearchAttributes([{ key: SA.ErrorClass, value: failure.errorClass }]);
      log.warn('step failed for good', { job_id: jobId, job_type: plan.jobType, step: step.name, error_class: failure.errorClass });
      return await unwind(completed.reverse(), failure, err);
    }
  }
  mark(JobStatus.Completed);
  await finish({ jobId, status: state.status, outcome: { steps: Object.keys(state.results) } });
  log.info('job completed', { job_id: jobId, job_type: plan.jobType, status: state.status, outcome: 'success' });
  return { jobId, status: state.status, results: state.results };

  /** Saga: compensate the completed steps newest-first, then end as Compensated (or Failed if none). */
  async function unwind(toUndo: StepPlan[], failure: NonNullable<JobResult['error']>, cause: unknown): Promise<JobResult> {
    const compensable = toUndo.filter((s) => s.compensation);
    const compensated: string[] = [];
    if (compensable.length > 0) {
      mark(JobStatus.Compensating);
      for (const step of compensable) {
        const compensation = step.compensation!;
        upsertSearchAttributes([{ key: SA.JobStep, value: compensation.name }]);
        await activity(compensation.activityType, step, compensation.retry)(stepArgs(compensation.name));
        compensated.push(compensation.name);
      }
      mark(JobStatus.Compensated);
      await finish({ jobId, status: state.status, outcome: { error: failure, compensated } });
      log.info('job compensated', { job_id: jobId, job_type: plan.jobType, status: state.status, outcome: 'compensated' });
      return { jobId, status: state.status, results: state.results, compensated, error: failure };
    }
    mark(JobStatus.Failed);
    await finish({ jobId, status: state.status, outcome: { error: failure } });
    log.error('job failed', { job_id: jobId, job_type: plan.jobType, status: state.status, outcome: 'failure' });
    if (cause instanceof TemporalFailure) throw cause;
    throw ApplicationFailure.create({ message: failure.message, type: failure.errorClass, nonRetryable: true });
  }
}
