/**
 * The workflow's own check of its arguments. A job started by hand (`temporal workflow start --type
 * jobWorkflow --input ...`) skips the client, so the workflow checks the argument's shape before it
 * touches a search attribute: anything malformed fails the job at once as `Validation`, with every
 * problem in the failure message, instead of failing workflow tasks forever. Plain code (no zod), so the
 * workflow bundle can run it; the bounds are the ones the client's zod schema uses.
 */
import { CONTROL_CHARACTERS, IDEMPOTENCY_KEY_PATTERN, IDEMPOTENCY_KEY_RULE, isJobId, JOB_TYPE_PATTERN, METADATA_MAX_LENGTH } from './constants';

const KNOWN_FIELDS = ['jobType', 'input', 'idempotencyKey', 'submittedBy', 'correlationId', 'parentJobId'];

/** Why `value` is not a usable identity (submitter, correlation id), or undefined when it is. */
export function identityProblem(value: unknown): string | undefined {
  if (typeof value !== 'string') return `must be a string, got ${value === null ? 'null' : typeof value}`;
  if (value.trim().length === 0) return 'must not be empty';
  if (value !== value.trim()) return 'must not start or end with white space';
  if (value.length > METADATA_MAX_LENGTH) return `must be at most ${METADATA_MAX_LENGTH} characters, got ${value.length}`;
  if (CONTROL_CHARACTERS.test(value)) return 'must not contain control characters';
  return undefined;
}

/**
 * Every problem of a job workflow's argument, as `field: reason` lines; empty when it is well formed.
 * `parentWorkflowId` is the id of the workflow that started this one as a child, if any: only a parent
 * job may set `parentJobId`, and it must name that parent.
 */
export function jobArgsProblems(args: unknown, parentWorkflowId: string | undefined): string[] {
  if (typeof args !== 'object' || args === null || Array.isArray(args)) {
    return [`(root): the argument must be an object {jobType, input, submittedBy, idempotencyKey?, correlationId?}, got ${Array.isArray(args) ? 'an array' : args === null ? 'null' : typeof args}`];
  }
  const fields = args as Record<string, unknown>;
  const problems: string[] = [];
  for (const name of Object.keys(fields)) if (!KNOWN_FIELDS.includes(name)) problems.push(`${name}: unknown field`);
  if (typeof fields.jobType !== 'string' || !JOB_TYPE_PATTERN.test(fields.jobType)) {
    problems.push('jobType: must be a job type name such as order.fulfill');
  }
  if (!('input' in fields)) problems.push('input: required');
  const submitter = identityProblem(fields.submittedBy);
  if (submitter) problems.push(`submittedBy: ${submitter}`);
  if (fields.correlationId !== undefined) {
    const correlation = identityProblem(fields.correlationId);
    if (correlation) problems.push(`correlationId: ${correlation}`);
  }
  if (fields.idempotencyKey !== undefined && (typeof fields.idempotencyKey !== 'string' || !IDEMPOTENCY_KEY_PATTERN.test(fields.idempotencyKey))) {
    problems.push(`idempotencyKey: must be ${IDEMPOTENCY_KEY_RULE}`);
  }
  if (fields.parentJobId !== undefined) {
    if (!isJobId(fields.parentJobId)) problems.push('parentJobId: must be a job id <type>:<key>');
    else if (fields.parentJobId !== parentWorkflowId) problems.push('parentJobId: only the parent job itself may set it, when it starts this job as its child');
  }
  return problems;
}
