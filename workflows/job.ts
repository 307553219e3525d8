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
import { ErrorType, FINISH_ACTIVITY, JobStatus, PREPARE_ACTIVITY } from '../common/constants';
import { SA } from '../common/searchAttributes';
import type { FinishArgs, JobArgs, JobPlan, JobResult, StepArgs, StepPlan } from '../common/types';

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
  retry: { maximumAttempts: 10, maximumInterval: '10s', nonRetryableErrorTypes: [ErrorType.Validation] },
});
const prepare = ledgerActivities[PREPARE_ACTIVITY];
const finish = ledgerActivities[FINISH_ACTIVITY];

function stepActivity(step: StepPlan): StepActivity {
  const activities = proxyActivities<Record<string, StepActivity>>({
    startToCloseTimeout: step.startToCloseTimeoutMs,
    scheduleToCloseTimeout: step.scheduleToCloseTimeoutMs,
    ...(step.heartbeatTimeoutMs !== undefined && { heartbeatTimeout: step.heartbeatTimeoutMs }),
    retry: {
      maximumAttempts: step.retry.maxAttempts,
      initialInterval: step.retry.initialIntervalMs,
      backoffCoefficient: step.retry.backoffCoefficient,
      maximumInterval: step.retry.maximumIntervalMs,
      nonRetryableErrorTypes: [ErrorType.Validation, ...step.retry.nonRetryableErrorTypes],
    },
  });
  return activities[step.activityType]!;
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
  try {
    const plan = await prepare(args);
    state.plan = plan;
    upsertSearchAttributes([{ key: SA.IdempotencyKey, value: plan.idempotencyKey }]);
    log.info('job started', { job_id: jobId, job_type: plan.jobType, status: state.status, definition_version: plan.definitionVersion });
    for (const step of plan.steps) {
      state.step = step.name;
      upsertSearchAttributes([{ key: SA.JobStep, value: step.name }]);
      state.results[step.name] = await stepActivity(step)({
        jobId,
        jobType: plan.jobType,
        step: step.name,
        idempotencyKey: plan.idempotencyKey,
        input: plan.input,
        results: { ...state.results },
      });
    }
    mark(JobStatus.Completed);
    await finish({ jobId, status: state.status, outcome: { steps: Object.keys(state.results) } });
    log.info('job completed', { job_id: jobId, job_type: plan.jobType, status: state.status, outcome: 'success' });
    return { jobId, status: state.status, results: state.results };
  } catch (err) {
    mark(JobStatus.Failed);
    await finish({ jobId, status: state.status, outcome: { error: err instanceof Error ? err.message : String(err) } });
    log.error('job failed', { job_id: jobId, job_type: args.jobType, status: state.status, outcome: 'failure' });
    if (err instanceof TemporalFailure) throw err;
    throw ApplicationFailure.create({ message: `job ${jobId} failed`, type: ErrorType.Internal, nonRetryable: true, cause: err as Error });
  }
}
