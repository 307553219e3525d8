/**
 * The job workflows. Every job type runs as a workflow type of its own name (`order.fulfill`), through the
 * bundle's default export built by `jobWorkflows`: the Web UI's Type column, `WorkflowType="..."` queries
 * and the SDK's per-workflow-type metrics then say which job it is. `jobWorkflow` is the one generic type
 * jobs ran as before; it stays so that its recorded histories and running executions replay.
 * The runtime itself is in toolkit.ts.
 */
import { workflowInfo } from '@temporalio/workflow';
import { JOB_WORKFLOW_TYPE } from '../common/constants';
import type { JobArgs, JobResult } from '../common/types';
import type { JobDefinition } from '../jobs/define';
import { runJob, type JobBody } from './toolkit';

export { jobStateQuery, diagnoseQuery, operatorUpdate, type JobState } from '../common/messages';
export { JOB_ATTEMPT_PATCH, OUTCOME_FAILURE_PATCH, CHILD_TYPE_PATCH, SEARCH_ATTRIBUTE_BATCH_PATCH } from './toolkit';

/** The generic workflow type of earlier versions: runs the job its argument names, as a list-form job. */
export async function jobWorkflow(args: JobArgs): Promise<JobResult> {
  return runJob(args, undefined);
}

/**
 * The workflow function for every job type, to export as the default of a workflow bundle's entry: the
 * SDK runs it for any workflow type the entry does not export by name, and it runs the job of that type,
 * with the `workflow` code of the given definitions, or as a list-form job. A raw start may leave out
 * `jobType` from its argument; when given, it must name the workflow type.
 */
export function jobWorkflows(definitions: readonly JobDefinition[]): (args: JobArgs) => Promise<JobResult> {
  const bodies = new Map<string, JobBody>();
  for (const definition of definitions) if (definition.workflow) bodies.set(definition.type, definition.workflow);
  return async function jobTypeWorkflow(args: JobArgs): Promise<JobResult> {
    const type = workflowInfo().workflowType;
    const named = typeof args === 'object' && args !== null && !Array.isArray(args) && args.jobType === undefined ? { ...args, jobType: type } : args;
    return runJob(named, bodies.get(type));
  };
}
