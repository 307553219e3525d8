/**
 * Records the histories that test/replay.test.ts replays: real runs on a dev server, written to
 * test/histories/. Run it again only to add histories for a new workflow version; old files stay, so old
 * runs keep being replayed. The `v1-*` files are runs of the generic `jobWorkflow` of earlier versions;
 * this version records `order.fulfill` as workflow code (completed, approved by an operator, compensated)
 * and `test.saga` (list form) dead-lettered then retried.
 *
 *   npx tsx examples/record-histories.ts v2
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { APPROVAL_THRESHOLD, orderFulfillJob } from './jobs/order';
import { startSandbox } from './sandbox';
import { AttemptLog, sagaJob } from '../test/fixtures/jobs';
import { order } from '../test/fixtures/orders';
import { createHarness } from '../test/helpers/harness';
import { resolveExecutable, startDevServer, tempDir } from '../test/helpers/servers';
import { jobOutcome } from '../client/outcome';

async function main(): Promise<void> {
  const version = process.argv[2] ?? 'v2';
  const env = await startDevServer();
  const sandbox = await startSandbox({ dir: tempDir() });
  const h = await createHarness(env, [orderFulfillJob, sagaJob(new AttemptLog())], { services: sandbox.urls });
  const cli = resolveExecutable('cli');
  if (cli.type !== 'existing-path') throw new Error('the temporal CLI is needed to export histories');
  // `temporal workflow show --output json` writes the proto-JSON history the SDK's replayer reads.
  const save = async (name: string, jobId: string) => {
    const json = execFileSync(cli.path, ['workflow', 'show', '--address', env.address, '-w', jobId, '--output', 'json'], { encoding: 'utf8' });
    const path = join(__dirname, '../test/histories', `${version}-${name}.json`);
    writeFileSync(path, json);
    process.stdout.write(`${path}\n`);
  };
  try {
    await h.worker.runUntil(async () => {
      const done = await h.jobs.submit(orderFulfillJob, order('hist-completed'));
      await jobOutcome(env.client.workflow.getHandle(done.jobId));
      await save('order-fulfill-completed', done.jobId);

      const large = await h.jobs.submit(orderFulfillJob, { ...order('hist-approved'), amount: APPROVAL_THRESHOLD + 1 });
      for (let i = 0; i < 100 && (await h.jobs.status(large.jobId)).status !== 'AwaitingApproval'; i++) await new Promise((r) => setTimeout(r, 100));
      await h.jobs.act(large.jobId, { action: 'approve', operator: 'recorder', reason: 'recording a history' });
      await jobOutcome(env.client.workflow.getHandle(large.jobId));
      await save('order-fulfill-approved', large.jobId);

      sandbox.email.setFaults({ failNext: { count: 1, status: 400, type: 'invalid_recipient' } });
      const compensated = await h.jobs.submit(orderFulfillJob, order('hist-compensated'));
      await jobOutcome(env.client.workflow.getHandle(compensated.jobId));
      await save('order-fulfill-compensated', compensated.jobId);

      const parked = await h.jobs.submit('test.saga', { id: 'hist-parked', failures: 1, secret: 'x' });
      for (let i = 0; i < 100 && (await h.jobs.status(parked.jobId)).status !== 'DeadLettered'; i++) await new Promise((r) => setTimeout(r, 100));
      await h.jobs.act(parked.jobId, { action: 'retry', operator: 'recorder', reason: 'recording a history' });
      await jobOutcome(env.client.workflow.getHandle(parked.jobId));
      await save('saga-deadlettered-retried', parked.jobId);
    });
  } finally {
    await h.ledger.close();
    await sandbox.stop();
    await env.teardown();
  }
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
