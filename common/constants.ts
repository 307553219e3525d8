/**
 * Names shared by the client, the workers and the workflows: the workflow type, the default task queue,
 * job statuses and error types. Plain values only, so the workflow bundle can import it.
 */

/** The one workflow type every job runs as. Raw starts (`temporal workflow start`) use this name too. */
export const JOB_WORKFLOW_TYPE = 'jobWorkflow';

/** Task queue used when the configuration names none (`JOBLEDGER_TASK_QUEUE`). */
export const DEFAULT_TASK_QUEUE = 'jobledger';

/** Local activity that validates a job's input, records the job in the ledger and returns its plan. */
export const PREPARE_ACTIVITY = 'jobledger.prepare';

/** Local activity that records a job's final status and outcome in the ledger. */
export const FINISH_ACTIVITY = 'jobledger.finish';

/** Local activity that appends an event (operator action, dead letter) to the job's ledger trail. */
export const RECORD_ACTIVITY = 'jobledger.record';

/** Update through which operators resolve a dead-lettered job or decide an approval. */
export const OPERATOR_UPDATE = 'jobledger.operator';

/** Query returning the job's state; and the one returning its failure context. */
export const STATE_QUERY = 'jobledger.state';
export const DIAGNOSE_QUERY = 'jobledger.diagnose';

/** Values of the `JobStatus` search attribute. */
export const JobStatus = {
  Submitted: 'Submitted',
  Running: 'Running',
  Retrying: 'Retrying',
  Compensating: 'Compensating',
  DeadLettered: 'DeadLettered',
  /** Waiting for a person's decision (`job.approval`): `jobledger approve|reject`. */
  AwaitingApproval: 'AwaitingApproval',
  Completed: 'Completed',
  Compensated: 'Compensated',
  Abandoned: 'Abandoned',
  Failed: 'Failed',
} as const;
export type JobStatus = (typeof JobStatus)[keyof typeof JobStatus];

/**
 * A job that ends other than Completed closes its workflow as Failed, with a non-retryable failure of
 * this type whose details hold the job's result: the Web UI's Failures view and Temporal's failure metrics
 * count it, and the client reads the outcome from the details.
 */
export const OUTCOME_FAILURE_TYPES = {
  Compensated: 'JobCompensated',
  Abandoned: 'JobAbandoned',
  Failed: 'JobFailed',
} as const;

/** The statuses a job ends in. */
export type TerminalStatus = typeof JobStatus.Completed | typeof JobStatus.Compensated | typeof JobStatus.Abandoned | typeof JobStatus.Failed;
export const TERMINAL_STATUSES: readonly TerminalStatus[] = [JobStatus.Completed, JobStatus.Compensated, JobStatus.Abandoned, JobStatus.Failed];
/** True when `status` is one a job ends in. */
export function isTerminal(status: string): status is TerminalStatus {
  return (TERMINAL_STATUSES as readonly string[]).includes(status);
}
/** What the ledger records of a job: Running while it runs, then the status it ended in. */
export type RecordedStatus = typeof JobStatus.Running | TerminalStatus;

/** Idempotency keys: 1..128 characters from this set. */
export const IDEMPOTENCY_KEY_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/;
/** IDEMPOTENCY_KEY_PATTERN in words, for every message that refuses a key. */
export const IDEMPOTENCY_KEY_RULE = '1-128 characters of A-Z a-z 0-9 . _ : @ -, starting with a letter or digit';

/** A job's id: its type and its idempotency key. Stable for the same pair, whatever the input's field order. */
export function jobIdFor(jobType: string, idempotencyKey: string): string {
  return `${jobType}:${idempotencyKey}`;
}

/**
 * A step's ledger key, `<jobId>/<step>`: the key it is claimed and completed under, and the
 * `Idempotency-Key` it sends downstream (`ctx.stepKey`). `step` is the step's key within the job: its
 * name, or `name#2`, `name@page-3` for further calls of it in workflow code.
 */
export function stepKey(jobId: string, step: string): string {
  return `${jobId}/${step}`;
}

/** The idempotency key of a parent job's child number `index`: a retried parent derives the same ids. */
export function childKey(parentKey: string, index: number): string {
  return `${parentKey}.part-${index}`;
}

/**
 * Bounds of a submission's metadata, shared by the client's zod schema and the workflow's own check of
 * raw starts: identities and correlation ids are trimmed, non-empty, at most this long, with no control
 * characters.
 */
export const METADATA_MAX_LENGTH = 128;

/**
 * Characters refused in identities, correlation ids and reasons: C0 and C1 control characters; the
 * invisible format characters that hide or reorder text (soft hyphen, zero-width characters, bidi marks,
 * embeddings, overrides and isolates, byte order mark), with which two identities look alike or an audit
 * line reads differently from what it holds; and unpaired UTF-16 surrogates, which are not text (the
 * ledger would store them as U+FFFD, a different identity).
 */
export const CONTROL_CHARACTERS =
  /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Job type names: lower-case words joined by dots, e.g. `order.fulfill`. */
export const JOB_TYPE_PATTERN = /^[a-z][a-z0-9]*(\.[a-z][a-z0-9-]*)+$/;

/** The largest submission, as canonical JSON of its input (bytes). Checked before anything starts. */
export const MAX_INPUT_BYTES = 256 * 1024;

/** True when `jobId` is a well-formed job id: `<job type>:<idempotency key>`. */
export function isJobId(jobId: unknown): jobId is string {
  if (typeof jobId !== 'string') return false;
  const colon = jobId.indexOf(':');
  return colon > 0 && JOB_TYPE_PATTERN.test(jobId.slice(0, colon)) && IDEMPOTENCY_KEY_PATTERN.test(jobId.slice(colon + 1));
}

/** How long a dead-lettered job waits for an operator unless its definition says otherwise: 7 days. */
export const DEFAULT_PARKING_MS = 7 * 24 * 60 * 60 * 1000;
