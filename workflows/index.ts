/**
 * jobledger's own workflow bundle entry: every list-form job type (the default export runs any type) and
 * the `jobWorkflow` of earlier versions. A project with jobs written as workflow code makes its own entry,
 * which re-exports `jobWorkflow` from workflows/job.ts and default-exports `jobWorkflows([...its code jobs])`
 * (examples/workflows.ts is one), and names it in the worker's `workflowsPath`.
 */
import { jobWorkflows } from './job';

export { jobWorkflow, jobStateQuery } from './job';
export default jobWorkflows([]);
