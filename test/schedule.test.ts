/**
 * Recurring jobs (jobs/schedule.ts, client/schedules.ts). The time-skipping test server has no Schedules:
 * its CreateSchedule answers gRPC status 12 UNIMPLEMENTED, "Method
 * temporal.api.workflowservice.v1.WorkflowService/CreateSchedule is unimplemented". So the schedule test runs
 * on the dev server in real time, with a 2 s interval instead of 1 h: three intervals give three runs,
 * each Completed under the key of its slot, and a backfill of a slot that ran does nothing again.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { AttemptLog } from './fixtures/attempts';
import { createHarness } from './helpers/harness';
import { startDevServer, unique } from './helpers/servers';
import { defineJob } from '../jobs/define';
import { checkSchedule, InvalidScheduleError, parseScheduledKey, scheduledKey, scheduledKeyOf } from '../jobs/schedule';
import { InvalidScheduleRequestError, JobSchedules } from '../client/schedules';
import { jobOutcome } from '../client/outcome';
import { SA } from '../common/searchAttributes';

const PUBLIC = { pii: false } as const;

function tickJob(attempts: AttemptLog, scheduleId: string) {
  return defineJob({
    type: 'test.tick',
    version: 1,
    input: z.strictObject({ label: z.string().max(32).meta(PUBLIC) }),
    // The key function would give every run the same key: a scheduled run's key comes from its slot instead.
    key: (input) => input.label,
    steps: [
      {
        name: 'tick',
        run: async ({ stepKey, jobId }) => {
          attempts.note(stepKey);
          return { jobId };
        },
      },
    ],
    schedule: { id: scheduleId, every: '2s', input: { label: 'tick' } },
  });
}

test('scheduled keys: the slot time round-trips, and only a schedule-shaped workflow id gives one', () => {
  const at = new Date('2025-03-04T05:06:07.000Z');
  const key = scheduledKey('nightly.report', at);
  assert.equal(key, 'sched.nightly.report-2025-03-04T05:06:07Z');
  assert.deepEqual(parseScheduledKey(key), { scheduleId: 'nightly.report', at });
  assert.equal(scheduledKeyOf('report.daily', `report.daily:${key}`), key);
  assert.equal(scheduledKeyOf('report.daily', `other.type:${key}`), undefined);
  assert.equal(scheduledKeyOf('report.daily', 'report.daily:sched.nightly'), undefined, 'no slot time appended');
  assert.equal(scheduledKeyOf('report.daily', 'report.daily:r-1'), undefined);
});

test('an unsound schedule is refused by name before anything is sent', () => {
  const job = tickJob(new AttemptLog(), 'ok');
  checkSchedule(job);
  const bad = { ...job, schedule: { id: 'has:colon', input: { label: 7 } } } as unknown as typeof job;
  assert.throws(
    () => checkSchedule(bad),
    (err: unknown) => {
      assert.ok(err instanceof InvalidScheduleError);
      assert.match(err.message, /schedule\.id/);
      assert.match(err.message, /give every, cron or both/);
      assert.match(err.message, /schedule\.input/);
      return true;
    },
  );
});

let env: TestWorkflowEnvironment;
before(async () => {
  env = await startDevServer();
});
after(async () => {
  await env?.teardown();
});

test('every 2 s for three intervals: three Completed runs keyed by their slots; a backfill of a slot that ran does nothing', async () => {
  const attempts = new AttemptLog();
  const scheduleId = unique('tick');
  const job = tickJob(attempts, scheduleId);
  const h = await createHarness(env, [job]);
  const schedules = new JobSchedules({ client: h.client, taskQueue: h.taskQueue });
  const handle = h.client.schedule.getHandle(scheduleId);
  await h.worker.runUntil(async () => {
    const ensured = await schedules.ensure(job);
    assert.deepEqual(ensured, { scheduleId, jobType: 'test.tick', created: true });
    assert.equal((await schedules.ensure(job)).created, false, 'a second ensure updates the schedule');
    // Three intervals, then pause: no fourth run.
    const deadline = Date.now() + 30_000;
    while ((await handle.describe()).info.numActionsTaken < 3) {
      assert.ok(Date.now() < deadline, 'three runs within 30 s');
      await sleep(100);
    }
    await schedules.pause(scheduleId, { operator: 'test-suite', reason: 'three intervals seen' });
    const described = await handle.describe();
    assert.equal(described.state.paused, true);
    assert.equal(described.info.numActionsTaken, 3, 'exactly three runs');
    const runs = described.info.recentActions;
    assert.equal(runs.length, 3);

    const slots = runs.map((r) => r.scheduledAt);
    for (let i = 1; i < slots.length; i++) assert.equal(slots[i]!.getTime() - slots[i - 1]!.getTime(), 2000, 'consecutive 2 s slots');
    for (const [i, run] of runs.entries()) {
      const key = scheduledKey(scheduleId, slots[i]!);
      const jobId = `test.tick:${key}`;
      assert.equal(run.action.workflow.workflowId, jobId, 'the workflow id is the job id of the slot');
      const outcome = await jobOutcome(h.client.workflow.getHandle(jobId));
      assert.equal(outcome.status, 'Completed');
      assert.deepEqual(outcome.results.tick, { jobId });
      assert.equal(attempts.byKey.get(`${jobId}/tick`), 1, 'one effect per slot');
      const record = await h.ledger.getJobById(jobId);
      assert.equal(record?.idempotencyKey, key);
      assert.equal(record?.status, 'Completed');
      assert.equal(record?.submittedBy, `schedule:${scheduleId}`);
      const description = await h.client.workflow.getHandle(jobId).describe();
      assert.equal(description.typedSearchAttributes.get(SA.IdempotencyKey), key);
    }

    // The first slot again, by backfill. Temporal starts a manual (backfill, trigger) run with the
    // workflow-id reuse policy ALLOW_DUPLICATE, so a second run of the slot's id does start; prepare answers
    // it with the first run's end, and it closes at once without scheduling a step.
    const firstId = runs[0]!.action.workflow.workflowId;
    const firstRunId = runs[0]!.action.workflow.firstExecutionRunId;
    await schedules.backfill(scheduleId, slots[0]!, new Date(slots[0]!.getTime() + 1000));
    let second = await h.client.workflow.getHandle(firstId).describe();
    const backfillDeadline = Date.now() + 20_000;
    while (second.runId === firstRunId) {
      assert.ok(Date.now() < backfillDeadline, 'the backfill reached the server within 20 s');
      await sleep(100);
      second = await h.client.workflow.getHandle(firstId).describe();
    }
    const duplicate = await jobOutcome(h.client.workflow.getHandle(firstId, second.runId));
    assert.equal(duplicate.status, 'Completed');
    assert.deepEqual(duplicate.duplicateOf, { runId: firstRunId }, 'the duplicate names the run that did the work');
    assert.deepEqual(duplicate.results, {});
    const events = (await h.client.workflow.getHandle(firstId, second.runId).fetchHistory()).events ?? [];
    assert.equal(events.filter((e) => e.activityTaskScheduledEventAttributes).length, 0, 'the duplicate scheduled no step');
    assert.equal(attempts.byKey.get(`${firstId}/tick`), 1, 'no second effect');
    assert.equal((await h.ledger.getJobById(firstId))?.runId, firstRunId, 'the ledger still names the first run');
    assert.equal((await handle.describe()).info.numActionsTaken, 4, 'the backfill was the only start after the pause');
    assert.equal([...attempts.byKey.values()].reduce((a, b) => a + b, 0), 3, 'three effects in all');

    // Operator commands: bad input is refused by name; unpause records who and why.
    await assert.rejects(schedules.pause(scheduleId, { operator: 'test-suite', reason: '' }), InvalidScheduleRequestError);
    await assert.rejects(schedules.backfill(scheduleId, slots[1]!, slots[0]!), InvalidScheduleRequestError);
    await assert.rejects(schedules.trigger('bad id'), InvalidScheduleRequestError);
    await schedules.unpause(scheduleId, { operator: 'test-suite', reason: 'done' });
    await schedules.pause(scheduleId, { operator: 'test-suite', reason: 'stop before teardown' });
    const listed = (await schedules.list()).find((s) => s.scheduleId === scheduleId);
    if (listed) assert.equal(listed.jobType, 'test.tick'); // the list is eventually consistent
  });
  await handle.delete();
  await h.ledger.close();
});
