/**
 * jobledger's own workflow bundle entry: every list-form job type (the default export runs any type) and
 * the `jobWorkflow` of earlier versions. A project with jobs written as workflow code makes its own entry:
 *
 *     export { jobWorkflow } from 'jobledger/workflows/job';
 *     export default jobWorkflows([orderFulfillJob]);
 */
import { jobWorkflows } from './job';

export { jobWorkflow, jobStateQuery } from './job';
export default jobWorkflows([]);
