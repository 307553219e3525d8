/**
 * The example workers' workflow bundle entry: every example job type, `order.fulfill` as workflow code,
 * the others in list form, plus the `jobWorkflow` of earlier versions for histories recorded with it.
 */
import { jobWorkflows } from '../workflows/job';
import { orderFulfillJob } from './jobs/order';

export { jobWorkflow } from '../workflows/job';
export default jobWorkflows([orderFulfillJob]);
