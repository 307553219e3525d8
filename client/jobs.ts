/**
 * The client SDK: submit jobs and read their status. A submission is validated before anything starts,
 * then deduplicated in two layers: the ledger (fast path, and the only memory once Temporal's retention
 * has deleted a closed workflow) and Temporal's workflow-id reuse and conflict policies (authoritative,
 * and what collapses concurrent duplicates into one execution).
 */
import { z } from 'zod';
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowIdConflictPolicy,
  WorkflowIdReusePolicy,
  type Client,
} from '@temporalio/client';
import {
  CONTROL_CHARACTERS,
  IDEMPOTENCY_KEY_PATTERN,
  IDEMPOTENCY_KEY_RULE,
  jobIdFor,
  JobStatus,
  type RecordedStatus,
  METADATA_MAX_LENGTH,
} from '../common/constants';
import type { MetricMeter } from '@temporalio/common';
import { jobLogBindings } from '../common/logfields';
import { diagnoseQuery, operatorUpdate, type OperatorAccepted } from '../common/messages';
import { Metric } from '../common/metrics';
import { activeTraceId, inSpan } from '../core/tracing';
import { SA } from '../common/searchAttributes';
import { OPERATOR_ACTIONS, type FailureContext, type JobArgs, type JobResult, type OperatorAction } from '../common/types';
import { jobOutcome } from './outcome';
import { jobBlock, JobBlockedError, type JobBlock } from './blocked';
import type { Logger } from '../core/logging';
import { maskPii, piiPathsOf } from '../codec/masking';
import { deadLetterPlan, dedupeWindowMs, planFor, type JobDefinition } from '../jobs/define';
import type { JobRegistry } from '../jobs/registry';
import { resolveSubmission, type ResolvedSubmission } from '../jobs/submission';
import type { JobView, Ledger } from '../ledger';

/** Same idempotency key, different input. Carries the job id and both hashes, never the payloads. */
export class IdempotencyConflictError extends Error {
  override readonly name = 'IdempotencyConflictError';
  constructor(
    readonly jobId: string,
    readonly existingInputHash: string,
    readonly submittedInputHash: string,
  ) {
    super(
      `idempotency key already used by job ${jobId} with a different input ` +
        `(existing input hash ${existingInputHash}, submitted ${submittedInputHash})`,
    );
  }
}

/** A submission without a submitter identity. */
export class MissingSubmitterError extends Error {
  override readonly name = 'MissingSubmitterError';
  constructor() {
    super('a submitter identity is required: pass submittedBy, --submitted-by or set JOBLEDGER_SUBMITTED_BY');
  }
}

/** An identity or correlation id: trimmed, 1..METADATA_MAX_LENGTH characters, no control characters. */
const Metadata = z
  .string()
  .trim()
  .min(1)
  .max(METADATA_MAX_LENGTH)
  .refine((value) => !CONTROL_CHARACTERS.test(value), 'must not contain control characters');

/**
 * The options of a submission as the client accepts them. Strict: `parentJobId` and other unknown fields are
 * refused (only a parent job's workflow sets `parentJobId`, when it starts its children).
 */
export const SubmitOptionsInput = z.strictObject({
  /** Explicit idempotency key. Default: the definition's key function, else the input's SHA-256. */
  key: z
    .string()
    .regex(IDEMPOTENCY_KEY_PATTERN, `keys are ${IDEMPOTENCY_KEY_RULE}`)
    .optional(),
  /** Who submits. Default: the client's `submittedBy`. Required one way or the other. */
  submittedBy: Metadata.optional(),
  /** Carried by the job's logs and its `CorrelationId` search attribute. Default none. */
  correlationId: Metadata.optional(),
});
/** Options of `JobClient.submit`. */
export type SubmitOptions = z.input<typeof SubmitOptionsInput>;

/** The submit options were refused before anything started. Carries zod's issue list. */
export class InvalidSubmitOptionsError extends Error {
  override readonly name = 'InvalidSubmitOptionsError';
  constructor(readonly issues: z.core.$ZodIssue[]) {
    super(`invalid submit options: ${issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; ')}`);
  }
}

/** An operator action as the client accepts it: identity and reason are required. */
export const OperatorActionInput = z.strictObject({
  action: z.enum(OPERATOR_ACTIONS),
  operator: Metadata,
  reason: z
    .string()
    .trim()
    .min(3)
    .max(1000)
    .refine((value) => !CONTROL_CHARACTERS.test(value.replace(/[\n\t]/g, ' ')), 'must not contain control characters other than new lines and tabs'),
});
export type OperatorActionInput = z.infer<typeof OperatorActionInput>;

/** Who stops a job and why: required for cancel and terminate. */
export const OperatorIdentity = OperatorActionInput.pick({ operator: true, reason: true });
export type OperatorIdentity = z.infer<typeof OperatorIdentity>;

/** An operator action the client refused before sending (zod issues) or the job refused (not parked...). */
export class OperatorActionRejectedError extends Error {
  override readonly name = 'OperatorActionRejectedError';
  constructor(
    readonly jobId: string,
    message: string,
    readonly issues: z.core.$ZodIssue[] = [],
  ) {
    super(`action on ${jobId} rejected: ${message}`);
  }
}

export interface DeadLetteredJob {
  jobId: string;
  jobType: string;
  step?: string;
  errorClass?: string;
  since?: string;
}

export interface SubmitResult {
  jobId: string;
  jobType: string;
  idempotencyKey: string;
  /** True when an existing job was returned and nothing new was started. */
  deduplicated: boolean;
}

export interface JobStatusView {
  jobId: string;
  jobType: string;
  status: string;
  step?: string;
  runId: string;
  workflowStatus: string;
  startTime: string;
  closeTime?: string;
  /** Set when the job's workflow task keeps failing (e.g. a payload the worker cannot decode): why, and the fix. */
  blocked?: JobBlock;
}

export interface JobClientOptions {
  client: Client;
  registry: JobRegistry;
  ledger: Ledger;
  taskQueue: string;
  logger: Logger;
  /** Default submitter identity. Default none. */
  submittedBy?: string;
  /** Where to count submissions (`jobledger_jobs_submitted`), e.g. the process's Runtime meter. Default none. */
  metrics?: MetricMeter;
}

/** The ledger status of a closed job, by its terminal `JobStatus`; a run closed without one (terminated) is Abandoned. */
const LEDGER_END_OF: Readonly<Record<string, RecordedStatus>> = {
  [JobStatus.Completed]: JobStatus.Completed,
  [JobStatus.Compensated]: JobStatus.Compensated,
  [JobStatus.Abandoned]: JobStatus.Abandoned,
  [JobStatus.Failed]: JobStatus.Failed,
};

/**
 * Every check a submission gets before anything is contacted: the options (submitter, correlation id,
 * key), the job type, the input against its schema and size, and the derived child keys and inputs.
 * `JobClient.submit` runs it first; the CLI runs it before it even connects, so bad input is reported
 * the same way whether or not Temporal is reachable. Throws the typed errors; nothing is started.
 */
export function checkSubmission(
  registry: JobRegistry,
  jobType: string,
  input: unknown,
  rawOpts: SubmitOptions,
  defaultSubmitter?: string,
): { definition: JobDefinition; submission: ResolvedSubmission; opts: z.infer<typeof SubmitOptionsInput> & { submittedBy: string } } {
  const submittedBy = rawOpts?.submittedBy === undefined ? defaultSubmitter : rawOpts.submittedBy;
  if (submittedBy === undefined) throw new MissingSubmitterError();
  const parsed = SubmitOptionsInput.safeParse({ ...rawOpts, submittedBy });
  if (!parsed.success) throw new InvalidSubmitOptionsError(parsed.error.issues);
  const opts = { ...parsed.data, submittedBy: parsed.data.submittedBy! };
  const definition = registry.get(jobType);
  return { definition, submission: resolveSubmission(definition, input, opts.key, registry), opts };
}

const FAILED_STATES: readonly string[] = [JobStatus.Failed, JobStatus.Abandoned];

export class JobClient {
  constructor(private readonly options: JobClientOptions) {}

  /**
   * Submits a job (see the module comment); traced as `jobledger.submit` when tracing is on. Given the
   * job's definition, the input is type-checked against its schema at compile time; the string form (the
   * CLI's) checks it at run time only. Either way the registry's definition of that type is what runs.
   */
  async submit<S extends z.ZodType, R>(job: JobDefinition<S, R>, input: z.input<S>, opts?: SubmitOptions): Promise<SubmitResult>;
  async submit(jobType: string, input: unknown, opts?: SubmitOptions): Promise<SubmitResult>;
  async submit(job: JobDefinition | string, input: unknown, opts: SubmitOptions = {}): Promise<SubmitResult> {
    // The string form is the CLI's: whatever it is given is checked (an unknown or malformed type is refused by name).
    const jobType = typeof job === 'object' && job !== null ? job.type : job;
    return inSpan('jobledger.submit', () => this.submitInSpan(jobType, input, opts));
  }

  /**
   * Waits for a job to end and returns its result, with the status it ended in (Completed, Compensated,
   * Abandoned, Failed): a job that did not complete is an outcome, not an exception. Given the definition,
   * `result` has the type its workflow returns.
   */
  async outcome<S extends z.ZodType, R>(job: JobDefinition<S, R>, jobId: string): Promise<JobResult<R>>;
  async outcome(jobId: string): Promise<JobResult>;
  async outcome(jobOrId: JobDefinition | string, jobId?: string): Promise<JobResult> {
    const id = typeof jobOrId === 'string' ? jobOrId : jobId;
    if (id === undefined) throw new TypeError('outcome(job, jobId) needs the job id');
    return jobOutcome(this.options.client.workflow.getHandle(id));
  }

  private async submitInSpan(jobType: string, input: unknown, rawOpts: SubmitOptions): Promise<SubmitResult> {
    const { definition, submission, opts } = checkSubmission(this.options.registry, jobType, input, rawOpts, this.options.submittedBy);
    const { submittedBy } = opts;
    const log = this.options.logger.child(
      jobLogBindings({
        job_id: submission.jobId,
        job_type: jobType,
        ...(opts.correlationId && { correlation_id: opts.correlationId }),
        trace_id: activeTraceId(),
      }),
    );

    const known = await this.options.ledger.findJob(jobIdFor(jobType, submission.idempotencyKey));
    let reusePolicy: WorkflowIdReusePolicy = WorkflowIdReusePolicy.REJECT_DUPLICATE;
    if (known && !known.expired) {
      this.assertSameInput(known.jobId, known.inputHash, submission.inputHash);
      if (!(FAILED_STATES.includes(known.status) && definition.onFailedResubmit === 'allow-retry')) {
        log.info({ status: known.status, outcome: 'deduplicated' }, 'duplicate submission answered from the ledger');
        return this.result(submission, true);
      }
      // Abandoned jobs close as completed workflows, so the ledger's status decides; a running duplicate
      // still collides with the conflict policy below.
      reusePolicy = WorkflowIdReusePolicy.ALLOW_DUPLICATE;
    } else if (known?.expired) {
      // The dedupe window has passed: a new job under the same id, even if Temporal still keeps the old run.
      reusePolicy = WorkflowIdReusePolicy.ALLOW_DUPLICATE;
    }

    const args: JobArgs = {
      jobType,
      input: submission.input,
      idempotencyKey: submission.idempotencyKey,
      submittedBy,
      ...(opts.correlationId !== undefined && { correlationId: opts.correlationId }),
    };
    try {
      // The workflow type is the job type: the Web UI's Type column and WorkflowType queries name the job.
      const handle = await this.options.client.workflow.start(jobType, {
        workflowId: submission.jobId,
        taskQueue: this.options.taskQueue,
        args: [args],
        workflowIdReusePolicy: reusePolicy,
        workflowIdConflictPolicy: WorkflowIdConflictPolicy.FAIL,
        memo: { inputHash: submission.inputHash, definitionVersion: definition.version, submittedBy, ...this.policyRecord(definition, submission) },
        typedSearchAttributes: [
          { key: SA.JobType, value: jobType },
          { key: SA.JobStatus, value: JobStatus.Submitted },
          { key: SA.IdempotencyKey, value: submission.idempotencyKey },
          { key: SA.SubmittedBy, value: submittedBy },
          ...(opts.correlationId ? [{ key: SA.CorrelationId, value: opts.correlationId }] : []),
        ],
      });
      await this.remember(definition, submission, submittedBy, handle.firstExecutionRunId, known);
      await this.options.ledger.recordJobEvent(submission.jobId, 'job.submitted', {
        submittedBy,
        runId: handle.firstExecutionRunId,
        definitionVersion: definition.version,
        inputHash: submission.inputHash,
        ...this.policyRecord(definition, submission),
      });
      log.info({ status: JobStatus.Submitted, outcome: 'started', submitted_by: submittedBy }, 'job submitted');
      return this.result(submission, false);
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
    // Temporal already has this job id (a concurrent duplicate, or a record the ledger lacks).
    const description = await this.options.client.workflow.getHandle(submission.jobId).describe();
    const existingHash = description.memo?.inputHash;
    if (typeof existingHash === 'string') this.assertSameInput(submission.jobId, existingHash, submission.inputHash);
    // A closed run the ledger lacks is recorded with the end it had, not as Running.
    const jobStatus = description.typedSearchAttributes.get(SA.JobStatus);
    const ended = description.status.name === 'RUNNING' ? JobStatus.Running : (LEDGER_END_OF[jobStatus ?? ''] ?? JobStatus.Abandoned);
    await this.remember(definition, submission, submittedBy, description.runId, known, ended);
    log.info({ status: description.status.name, outcome: 'deduplicated' }, 'duplicate submission answered by Temporal');
    return this.result(submission, true);
  }

  async status(jobId: string): Promise<JobStatusView> {
    const description = await this.options.client.workflow.getHandle(jobId).describe();
    const attrs = description.typedSearchAttributes;
    const step = attrs.get(SA.JobStep);
    const blocked = await jobBlock(this.options.client, jobId, description);
    return {
      jobId,
      jobType: attrs.get(SA.JobType) ?? description.type,
      status: attrs.get(SA.JobStatus) ?? description.status.name,
      ...(step !== undefined && { step }),
      runId: description.runId,
      workflowStatus: description.status.name,
      startTime: description.startTime.toISOString(),
      ...(description.closeTime && { closeTime: description.closeTime.toISOString() }),
      ...(blocked && { blocked }),
    };
  }

  /** Sends an operator's action to a dead-lettered job; recorded in its history and ledger trail. */
  async act(jobId: string, input: OperatorActionInput): Promise<OperatorAccepted> {
    const parsed = OperatorActionInput.safeParse(input);
    if (!parsed.success) {
      throw new OperatorActionRejectedError(jobId, parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '), parsed.error.issues);
    }
    const action: OperatorAction = parsed.data;
    const handle = this.options.client.workflow.getHandle(jobId);
    const { status } = await handle.describe();
    if (status.name !== 'RUNNING') throw new OperatorActionRejectedError(jobId, `the job is closed (${status.name}); no operator action applies`);
    try {
      return await handle
        .executeUpdate(operatorUpdate, { args: [action] });
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError) throw new OperatorActionRejectedError(jobId, err.cause?.message ?? err.message);
      if (err instanceof WorkflowNotFoundError) throw new OperatorActionRejectedError(jobId, 'the job closed before the action arrived');
      throw err;
    }
  }

  /**
   * Stops a job, recording the operator and reason in the ledger trail first. `cancel` lets the workflow
   * record its end (status Abandoned); `terminate` stops it at once, with the reason in history.
   */
  async stop(jobId: string, how: 'cancel' | 'terminate', input: OperatorIdentity): Promise<void> {
    const parsed = OperatorIdentity.safeParse(input);
    if (!parsed.success) {
      throw new OperatorActionRejectedError(jobId, parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '), parsed.error.issues);
    }
    const { operator, reason } = parsed.data;
    const handle = this.options.client.workflow.getHandle(jobId);
    const { status } = await handle.describe();
    if (status.name !== 'RUNNING') throw new OperatorActionRejectedError(jobId, `the job is closed (${status.name})`);
    await this.options.ledger.recordJobEvent(jobId, `operator.${how}`, { operator, reason });
    if (how === 'cancel') {
      await handle.cancel();
      return;
    }
    await handle.terminate(`${reason} (operator: ${operator})`);
    if (await this.options.ledger.getJobById(jobId)) {
      await this.options.ledger.updateJobStatus(jobId, JobStatus.Abandoned, { terminatedBy: operator, reason });
    }
  }

  /**
   * The failure context of a job: step, class, root cause, masked input, recent events, every dead-letter
   * episode, hint and runbook. A job whose workflow task keeps failing cannot answer: `JobBlockedError` says why.
   */
  async diagnose(jobId: string): Promise<FailureContext | null> {
    const blocked = await jobBlock(this.options.client, jobId);
    if (blocked) throw new JobBlockedError(jobId, blocked);
    return this.options.client.workflow.getHandle(jobId).query(diagnoseQuery);
  }

  /** Jobs parked in the dead letter, newest first. */
  async deadLettered(jobType?: string): Promise<DeadLetteredJob[]> {
    const query = `JobStatus="${JobStatus.DeadLettered}"${jobType ? ` AND JobType="${jobType.replace(/"/g, '')}"` : ''}`;
    const jobs: DeadLetteredJob[] = [];
    for await (const execution of this.options.client.workflow.list({ query })) {
      const attrs = execution.typedSearchAttributes;
      const step = attrs.get(SA.JobStep);
      const errorClass = attrs.get(SA.ErrorClass);
      jobs.push({
        jobId: execution.workflowId,
        jobType: attrs.get(SA.JobType) ?? execution.type,
        ...(step !== undefined && { step }),
        ...(errorClass !== undefined && { errorClass }),
        ...(execution.startTime && { since: execution.startTime.toISOString() }),
      });
    }
    return jobs;
  }

  /** What an auditor needs next to the execution: the masked input and the policy in force. */
  private policyRecord(definition: JobDefinition, submission: ResolvedSubmission) {
    const piiPaths = piiPathsOf(definition.input);
    return {
      sanitizedInput: maskPii(submission.input, piiPaths),
      policy: {
        taskQueue: this.options.taskQueue,
        dedupeWindowMs: dedupeWindowMs(definition),
        onFailedResubmit: definition.onFailedResubmit ?? 'reject',
        deadLetter: deadLetterPlan(definition),
        steps: planFor(definition),
        piiFields: piiPaths.map((p) => p.join('.')),
      },
    };
  }

  private assertSameInput(jobId: string, existingHash: string, submittedHash: string): void {
    if (existingHash !== submittedHash) throw new IdempotencyConflictError(jobId, existingHash, submittedHash);
  }

  /** Keeps the ledger's job record in step with what Temporal accepted. */
  private async remember(
    definition: JobDefinition,
    submission: ResolvedSubmission,
    submittedBy: string,
    runId: string,
    known: JobView | undefined,
    status: RecordedStatus = JobStatus.Running,
  ): Promise<void> {
    const record = {
      jobId: submission.jobId,
      jobType: submission.jobType,
      idempotencyKey: submission.idempotencyKey,
      inputHash: submission.inputHash,
      submittedBy,
      definitionVersion: String(definition.version),
      runId,
      status,
      dedupeWindowMs: dedupeWindowMs(definition),
    };
    // The job's prepare step records the same run; whichever comes first inserts, the other is a no-op.
    if (!known || known.runId !== runId) await this.options.ledger.recordRun(record);
  }

  private result(submission: ResolvedSubmission, deduplicated: boolean): SubmitResult {
    this.options.metrics?.createCounter(Metric.jobsSubmitted).add(1, { job_type: submission.jobType, outcome: deduplicated ? 'deduplicated' : 'started' });
    return { jobId: submission.jobId, jobType: submission.jobType, idempotencyKey: submission.idempotencyKey, deduplicated };
  }
}
