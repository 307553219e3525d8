/**
 * Child jobs on the dev server: `report.generate` fans out one `report.section` job per section, each
 * with an id derived from the parent's key and the section's index and `ParentJobId` set; a rerun of the
 * parent under the same id starts no second child.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { JOB_WORKFLOW_TYPE } from '../common/constants';
import { reportGenerateJob, reportSectionJob } from '../examples/jobs/report';
import { startHarness, type RunningHarness } from './helpers/harness';
import { startDevServer, unique } from './helpers/servers';
import { waitForCount } from './helpers/visibility';
import { jobOutcome } from '../client/outcome';

let env: TestWorkflowEnvironment;
let h: RunningHarness;

before(async () => {
  env = await startDevServer();
  h = await startHarness(env, [reportGenerateJob, reportSectionJob]);
});
after(async () => {
  await h?.stop();
  await env?.teardown();
});

test('a report fans out one child job per section, with derived ids and ParentJobId set', async () => {
  const reportId = unique('rep');
  const { jobId } = await h.jobs.submit('report.generate', { reportId, sections: ['intro', 'numbers', 'outlook'] });
  const result = await jobOutcome(env.client.workflow.getHandle(jobId));
  assert.equal(result.status, 'Completed');
  const children = result.results.children as { jobId: string; status: string; results: { render: { section: number; chunks: number } } }[];
  assert.deepEqual(children.map((c) => c.jobId), [0, 1, 2].map((i) => `report.section:${reportId}.part-${i}`));
  assert.ok(children.every((c, i) => c.status === 'Completed' && c.results.render.section === i && c.results.render.chunks === 5));
  assert.equal(await waitForCount(env.client, `ParentJobId="${jobId}" AND JobType="report.section" AND JobStatus="Completed"`, 3), 3);
});

test('rerunning the parent under the same id starts no second child', async () => {
  const reportId = unique('rep-rerun');
  const input = { reportId, sections: ['a', 'b'] };
  const { jobId } = await h.jobs.submit('report.generate', input);
  await jobOutcome(env.client.workflow.getHandle(jobId));
  // A raw start reuses the closed parent's id (Temporal's default reuse policy allows it).
  const rerun = await env.client.workflow.execute(JOB_WORKFLOW_TYPE, {
    workflowId: jobId,
    taskQueue: h.taskQueue,
    args: [{ jobType: 'report.generate', input, submittedBy: 'rerun-test' }],
  });
  assert.equal(rerun.status, 'Completed');
  assert.deepEqual(rerun.results.children, [0, 1].map((i) => ({ jobId: `report.section:${reportId}.part-${i}`, existing: true })));
  assert.equal(await waitForCount(env.client, `WorkflowId="${jobId}"`, 2), 2, 'two parent runs');
  assert.equal(await waitForCount(env.client, `ParentJobId="${jobId}"`, 2), 2, 'still one child per section');
});
