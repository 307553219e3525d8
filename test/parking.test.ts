/**
 * Parking timeout, on the time-skipping server: a dead-lettered job nobody acts on is resolved by its job
 * type's policy after the timeout (auto-compensate or auto-abandon), in seconds of wall time.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { AttemptLog, sagaJob } from './fixtures/jobs';
import { createHarness } from './helpers/harness';
import { startTimeSkippingServer, unique } from './helpers/servers';
import { jobOutcome } from '../client/outcome';

let env: TestWorkflowEnvironment;
before(async () => {
  env = await startTimeSkippingServer();
});
after(async () => {
  await env?.teardown();
});

for (const [onTimeout, expected] of [
  ['compensate', 'Compensated'],
  ['abandon', 'Abandoned'],
] as const) {
  test(`a job parked past its 2-hour timeout is ${expected} by policy (${onTimeout})`, async () => {
    const attempts = new AttemptLog();
    const type = `test.park-${onTimeout}`;
    const h = await createHarness(env, [sagaJob(attempts, { timeout: '2h', onTimeout }, type)]);
    const started = Date.now();
    const result = await h.worker.runUntil(async () => {
      const { jobId } = await h.jobs.submit(type, { id: unique('park'), failures: 1, secret: 's' });
      return jobOutcome(env.client.workflow.getHandle(jobId));
    });
    assert.equal(result.status, expected);
    assert.deepEqual(result.compensated, onTimeout === 'compensate' ? ['unbook'] : undefined);
    assert.ok(Date.now() - started < 60_000, 'seconds of wall time, not hours');
    const trail = await h.ledger.events({});
    const auto = trail.find((e) => e.kind === `operator.${onTimeout}`);
    assert.equal((auto?.data as { operator?: string }).operator, 'system:parking-timeout');
    await h.ledger.close();
  });
}
