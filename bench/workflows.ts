/**
 * The benchmarks' workflow bundle entry: jobledger's job workflows (with `bench.code`'s workflow code),
 * and `plainWorkflow`, the same two steps as a plain Temporal workflow calling no-op activities, for B1's
 * comparison with raw Temporal.
 */
import { proxyActivities } from '@temporalio/workflow';
import { jobWorkflows } from '../workflows/job';
import { codeJob } from './jobs';
import type * as plain from './plain-activities';

export { jobWorkflow } from '../workflows/job';
export default jobWorkflows([codeJob]);

const { plainFirst, plainSecond } = proxyActivities<typeof plain>({ startToCloseTimeout: '30s', retry: { maximumAttempts: 3 } });

/** Two no-op activities in a row, nothing else. */
export async function plainWorkflow(id: string): Promise<{ ok: boolean }> {
  await plainFirst(id);
  await plainSecond(id);
  return { ok: true };
}
