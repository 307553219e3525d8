/**
 * The data that crosses the client → workflow → activity boundary. Plain serialisable types only.
 */

/** Arguments of the job workflow: what `client.workflow.start` and `temporal workflow start` pass. */
export interface JobArgs {
  /** Registered job type, e.g. `order.fulfill`. */
  jobType: string;
  /** The job's input; validated again by the workflow's first step, so raw starts are checked too. */
  input: unknown;
  /** The idempotency key; when absent the definition's key function or the input hash is used. */
  idempotencyKey?: string;
  /** Who submitted the job (a person or a service identity). */
  submittedBy: string;
  correlationId?: string;
  parentJobId?: string;
}

/** Retry policy of one step, as recorded in history. */
export interface StepRetryPlan {
  maxAttempts: number;
  initialIntervalMs: number;
  backoffCoefficient: number;
  maximumIntervalMs: number;
  nonRetryableErrorTypes: string[];
}

/** One step of a job's plan, as the workflow schedules it. */
export interface StepPlan {
  name: string;
  activityType: string;
  startToCloseTimeoutMs: number;
  scheduleToCloseTimeoutMs: number;
  heartbeatTimeoutMs?: number;
  retry: StepRetryPlan;
  /** The step's compensation, scheduled in reverse order when a later step fails for good. */
  compensation?: { name: string; activityType: string; retry: StepRetryPlan };
}

/** What happens to a dead-lettered job nobody acts on. */
export interface DeadLetterPlan {
  /** How long a job stays parked before the automatic action. */
  timeoutMs: number;
  onTimeout: 'abandon' | 'compensate';
}

/** What the prepare step returns: the validated input and the policy in force for this run. */
export interface JobPlan {
  jobId: string;
  jobType: string;
  definitionVersion: number;
  idempotencyKey: string;
  inputHash: string;
  input: unknown;
  /** The input with every PII field masked: what failure snapshots and diagnostics show. */
  sanitizedInput: unknown;
  steps: StepPlan[];
  /** True when the job is workflow code (its definition has a `workflow`); else its steps run in order. */
  code?: boolean;
  deadLetter: DeadLetterPlan;
  /** Child jobs started after the steps, one per input, each with an id derived from this job's key and its index. */
  children?: { jobType: string; inputs: unknown[] };
}

/**
 * What prepare answers for a run that repeats a scheduled time slot that has already ended (a backfill or
 * trigger of a slot that ran): the recorded run. The new run then closes at once with that status, no step run.
 */
export interface DuplicateRun {
  duplicateOf: { jobId: string; status: string; runId: string | null };
}

/** Operator actions on a dead-lettered job. */
export const DEAD_LETTER_ACTIONS = ['retry', 'skip', 'compensate', 'abandon'] as const;
/** Decisions on a job waiting for a person (`job.approval`). */
export const APPROVAL_DECISIONS = ['approve', 'reject'] as const;
/** Everything the operator Update carries: a dead-letter action or an approval decision. */
export const OPERATOR_ACTIONS = [...DEAD_LETTER_ACTIONS, ...APPROVAL_DECISIONS] as const;
export type OperatorActionKind = (typeof OPERATOR_ACTIONS)[number];

/** An operator's action, sent as the `jobledger.operator` Update. Identity and reason are required. */
export interface OperatorAction {
  action: OperatorActionKind;
  operator: string;
  reason: string;
}

/** One lifecycle transition, kept in the workflow for diagnostics. */
export interface LifecycleEvent {
  at: string;
  status: string;
  step?: string;
  note?: string;
}

/** Everything an operator needs about a failure, with no PII. */
export interface FailureContext {
  step: string;
  /**
   * Where the job failed: a step, a compensation, or the job's own bookkeeping in the ledger (`prepare`
   * before the first step, `finish` after the last), where only a retry (or, at prepare, abandon) applies.
   */
  phase: 'step' | 'compensation' | 'prepare' | 'finish' | 'approval';
  /** The operator actions that apply while the job is parked here. */
  actions?: string[];
  attempt?: number;
  errorClass: string;
  message: string;
  rootCause: { dependency?: string; httpStatus?: number; circuit?: string };
  input: unknown;
  events: LifecycleEvent[];
  hint: string;
  runbook: string;
  at: string;
  /** Every stay in the dead letter so far, oldest first, with the operator action that ended each (the diagnose query). */
  episodes?: DeadLetterEpisode[];
}

/** One stay of a job in the dead letter: the failure that parked it, and the action that ended the stay. */
export interface DeadLetterEpisode {
  parkedAt: string;
  step: string;
  phase: FailureContext['phase'];
  errorClass: string;
  message: string;
  attempt?: number;
  /** Who ended the stay, how and why (`system:parking-timeout` when nobody acted in time); absent while parked. */
  action?: OperatorAction & { at: string };
}

/** Arguments of every step activity. */
export interface StepArgs {
  jobId: string;
  jobType: string;
  step: string;
  idempotencyKey: string;
  input: unknown;
  /** Results of the steps that already completed, by step name. */
  results: Record<string, unknown>;
  correlationId?: string;
  parentJobId?: string;
}

export interface JobResult<R = unknown> {
  jobId: string;
  status: string;
  /** Results of the steps, by step key. */
  results: Record<string, unknown>;
  /** What a job written as workflow code returned (Completed jobs). */
  result?: R;
  /** Compensations that ran, in the order they ran. */
  compensated?: string[];
  /** The failure that ended the job, when it did not complete. */
  error?: { message: string; errorClass?: string; step: string };
  /** Set when this run repeated a scheduled slot that had already ended: the run that did the work. Nothing ran. */
  duplicateOf?: { runId: string | null };
}

/** Arguments of the record step: an event for the job's ledger trail. */
export interface RecordArgs {
  jobId: string;
  kind: string;
  data: unknown;
}

/** Arguments of the finish step: the job's final status in the ledger. */
export interface FinishArgs {
  jobId: string;
  status: string;
  outcome: unknown;
}
