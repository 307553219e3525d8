/**
 * A job's outcome from its workflow. A job that ends Compensated, Abandoned or Failed closes its workflow as
 * Failed, with a failure of type OUTCOME_FAILURE_TYPES whose details hold the job's result: `jobOutcome`
 * reads that back, so callers get the job's status instead of an exception. Anything else that fails the
 * workflow (a raw start refused as Validation, a termination, a timeout) still throws.
 */
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { OUTCOME_FAILURE_TYPES } from '../common/constants';
import type { JobResult } from '../common/types';

const OUTCOME_TYPES: readonly string[] = Object.values(OUTCOME_FAILURE_TYPES);

/** The job's result carried by a workflow failure, if the failure is a job outcome. */
export function outcomeOfFailure(err: unknown): JobResult | undefined {
  const cause = err instanceof WorkflowFailedError ? err.cause : err;
  if (!(cause instanceof ApplicationFailure) || !OUTCOME_TYPES.includes(cause.type ?? '')) return undefined;
  const details = cause.details?.[0];
  return typeof details === 'object' && details !== null && 'status' in details ? (details as JobResult) : undefined;
}

/** Waits for the job's workflow to close and returns the job's result, whatever its outcome. */
export async function jobOutcome<R = unknown>(handle: WorkflowHandle): Promise<JobResult<R>> {
  try {
    return (await handle.result()) as JobResult<R>;
  } catch (err) {
    const outcome = outcomeOfFailure(err);
    if (outcome) return outcome as JobResult<R>;
    throw err;
  }
}
