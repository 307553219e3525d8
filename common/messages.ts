/**
 * The queries and the Update every job workflow answers, defined once: the workflow sets their handlers,
 * and the client, the CLI and tests call them through these objects, so a name or a result type is
 * never written twice. `defineQuery`/`defineUpdate` only build plain definitions, so this module is safe
 * both in the workflow bundle and in Node.
 */
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import { DIAGNOSE_QUERY, OPERATOR_UPDATE, STATE_QUERY, type JobStatus } from './constants';
import type { FailureContext, JobPlan, OperatorAction } from './types';

/** What the state query returns: the job's status, step, plan, results, failure and operator actions. */
export interface JobState {
  status: JobStatus;
  step?: string;
  plan?: JobPlan;
  results: Record<string, unknown>;
  failure?: FailureContext;
  /** The approval the job waits for (status AwaitingApproval). */
  approval?: { name: string; since: string; timeoutMs: number };
  actions: (OperatorAction & { at: string })[];
}

/** What the operator Update answers when it accepts an action. */
export interface OperatorAccepted {
  accepted: true;
  action: string;
}

/** Query: the job's current status, step, plan, results, failure and operator actions. */
export const jobStateQuery = defineQuery<JobState>(STATE_QUERY);
/** Query: the failure context of the current or last failure (null if none). */
export const diagnoseQuery = defineQuery<FailureContext | null>(DIAGNOSE_QUERY);
/** Update: an operator's action on a dead-lettered job, or a decision on an approval. Rejected unless the job is parked, or waits for that approval. */
export const operatorUpdate = defineUpdate<OperatorAccepted, [OperatorAction]>(OPERATOR_UPDATE);
