/**
 * `jobledger diagnose` after a job parked, was retried by an operator and parked again (issue 14): every
 * dead-letter episode is listed, oldest first, with the operator action between them (who, what, why), and the
 * recent events hold both DeadLettered transitions. Failure messages are masked like the input: the values of
 * the input's PII fields and any email address in a provider's message become `***`.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { z } from 'zod';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { MASK } from '../codec/masking';
import { defineJob } from '../jobs/define';
import { AttemptLog } from './fixtures/attempts';
import { startHarness, type RunningHarness } from './helpers/harness';
import { cli } from './helpers/run';
import { startDevServer, unique } from './helpers/servers';
import { waitForCount } from './helpers/visibility';

const NAME = 'Ada Lovelace';
const EMAIL = 'ada.lovelace@example.com';
/** An address the input does not hold: masked because it is an email address. */
const OTHER_EMAIL = 'postmaster@mail.example.org';

const attempts = new AttemptLog();
/** A notification whose provider refuses the first `failures` sends, naming the recipient in its message. */
const notifyJob = defineJob({
  type: 'test.notify',
  version: 1,
  input: z.strictObject({
    id: z.string().max(128).meta({ pii: false }),
    name: z.string().max(128).meta({ pii: true }),
    email: z.string().max(256).meta({ pii: true }),
    failures: z.number().int().min(0).meta({ pii: false }),
  }),
  key: (input) => input.id,
  steps: [
    {
      name: 'send',
      retry: { maxAttempts: 1 },
      run: async ({ stepKey, input }) => {
        const n = attempts.note(stepKey);
        if (n <= input.failures) throw new Error(`provider refused ${input.name} <${input.email}>: mailbox full, ask ${OTHER_EMAIL} (send ${n})`);
        return { sent: n };
      },
    },
  ],
});

let env: TestWorkflowEnvironment;
let h: RunningHarness;

before(async () => {
  env = await startDevServer();
  h = await startHarness(env, [notifyJob]);
});
after(async () => {
  await h?.stop();
  await env?.teardown();
});

test('diagnose after park, operator retry, park again: both episodes with the retry between them, failure messages masked like the input', async () => {
  const { jobId } = await h.jobs.submit('test.notify', { id: unique('episodes'), name: NAME, email: EMAIL, failures: 2 });
  assert.equal(await waitForCount(env.client, `WorkflowId="${jobId}" AND JobStatus="DeadLettered"`, 1), 1, 'parked once');
  await h.jobs.act(jobId, { action: 'retry', operator: 'alice', reason: 'the provider says the mailbox is emptied' });
  assert.equal(await waitForCount(env.client, `WorkflowId="${jobId}" AND JobStatus="DeadLettered" AND JobAttempt=2`, 1), 1, 'parked again');

  const failure = await h.jobs.diagnose(jobId);
  assert.ok(failure);
  const episodes = failure.episodes ?? [];
  assert.equal(episodes.length, 2, JSON.stringify(episodes));
  assert.deepEqual(
    episodes.map((e) => [e.phase, e.step, e.errorClass]),
    [
      ['step', 'send', failure.errorClass],
      ['step', 'send', failure.errorClass],
    ],
  );
  assert.equal(episodes[0]!.action?.action, 'retry');
  assert.equal(episodes[0]!.action?.operator, 'alice');
  assert.equal(episodes[0]!.action?.reason, 'the provider says the mailbox is emptied');
  assert.ok(episodes[0]!.parkedAt <= episodes[0]!.action!.at && episodes[0]!.action!.at <= episodes[1]!.parkedAt);
  assert.equal(episodes[1]!.action, undefined, 'still parked');
  // Both parks and the retry are among the recent events.
  assert.equal(failure.events.filter((e) => e.status === 'DeadLettered' && e.note === undefined).length, 2, JSON.stringify(failure.events));
  assert.ok(failure.events.some((e) => e.note === 'retry by alice'), JSON.stringify(failure.events));

  // The messages: the input's PII values and the other address masked, the rest kept.
  for (const message of [failure.message, ...episodes.map((e) => e.message)]) {
    assert.match(message, new RegExp(`^provider refused \\*\\*\\* <\\*\\*\\*>: mailbox full, ask \\*\\*\\* \\(send [12]\\)$`), message);
    for (const secret of [NAME, EMAIL, OTHER_EMAIL]) assert.ok(!message.includes(secret), message);
  }
  assert.deepEqual(failure.input, { id: (failure.input as { id: string }).id, name: MASK, email: MASK, failures: 2 });

  const shown = await cli(['diagnose', jobId], { TEMPORAL_ADDRESS: env.address, LOG_LEVEL: 'warn' });
  process.stdout.write(`# diagnose (exit ${shown.code}):\n${shown.stdout.replace(/^/gm, '#   ')}\n`);
  assert.equal(shown.code, 0, shown.stderr);
  for (const secret of [NAME, EMAIL, OTHER_EMAIL]) assert.ok(!shown.stdout.includes(secret), `${secret} in:\n${shown.stdout}`);
  assert.match(shown.stdout, /^ {2}dead-letter episodes \(2\):$/m);
  assert.match(shown.stdout, /^ {4}1\. \S+ parked at step 'send'( after attempt 1)?: \S+: provider refused \*\*\* <\*\*\*>: mailbox full, ask \*\*\* \(send 1\)$/m);
  assert.match(shown.stdout, /^ {7}\S+ retry by alice: the provider says the mailbox is emptied$/m);
  assert.match(shown.stdout, /^ {4}2\. \S+ parked at step 'send'( after attempt 1)?: \S+: provider refused \*\*\* <\*\*\*>: mailbox full, ask \*\*\* \(send 2\)$/m);
  assert.match(shown.stdout, /^ {7}\(parked now, waiting for an operator\)$/m);

  // A second retry succeeds; the job completes.
  await h.jobs.act(jobId, { action: 'retry', operator: 'bob', reason: 'second try' });
  assert.equal(await waitForCount(env.client, `WorkflowId="${jobId}" AND JobStatus="Completed"`, 1), 1);
});
