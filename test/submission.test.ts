/**
 * Bounds of a submission (issue 9): bounded strict input schemas, the whole input at most
 * `MAX_INPUT_BYTES` of canonical JSON, validated submit metadata, and child keys and inputs checked before
 * the parent starts. Pure checks of `resolveSubmission` first, then the `JobClient` and raw starts on the
 * dev server, where "nothing started" means Temporal has no such workflow and the ledger no such job.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { z } from 'zod';
import { ApplicationFailure, WorkflowFailedError, WorkflowNotFoundError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { InvalidSubmitOptionsError, OperatorActionInput } from '../client/jobs';
import { JOB_WORKFLOW_TYPE, MAX_INPUT_BYTES } from '../common/constants';
import { SA } from '../common/searchAttributes';
import { jobs as EXAMPLE_JOBS } from '../examples/jobs';
import { defineJob, type JobDefinition } from '../jobs/define';
import { orderFulfillJob } from '../examples/jobs/order';
import { JobRegistry } from '../jobs/registry';
import { reportGenerateJob } from '../examples/jobs/report';
import {
  InputTooLargeError,
  InvalidChildInputError,
  InvalidChildKeyError,
  InvalidIdempotencyKeyError,
  JobValidationError,
  resolveSubmission,
} from '../jobs/submission';
import { order } from './fixtures/orders';
import { startHarness, type RunningHarness } from './helpers/harness';
import { startDevServer, unique } from './helpers/servers';
import { jobOutcome } from '../client/outcome';

const PUBLIC = { pii: false } as const;

/** `test.blob`: one string field as large as the whole-input limit allows, to probe that limit. */
const blobJob = defineJob({
  type: 'test.blob',
  version: 1,
  input: z.strictObject({ blob: z.string().max(MAX_INPUT_BYTES).meta(PUBLIC) }),
  steps: [{ name: 'noop', run: async () => ({}) }],
});

/** `test.parent` fans out `test.child` jobs whose schema is stricter than the parent's: titles of 5 characters at most. */
const childJob = defineJob({
  type: 'test.child',
  version: 1,
  input: z.strictObject({ title: z.string().max(5).meta(PUBLIC) }),
  steps: [{ name: 'noop', run: async () => ({}) }],
});
const parentJob = defineJob({
  type: 'test.parent',
  version: 1,
  input: z.strictObject({ id: z.string().max(64).meta(PUBLIC), titles: z.array(z.string().max(80)).max(10).meta(PUBLIC) }),
  key: (input) => input.id,
  steps: [{ name: 'noop', run: async () => ({}) }],
  children: { jobType: 'test.child', inputs: (input) => input.titles.map((title) => ({ title })) },
});

const registry = new JobRegistry([...EXAMPLE_JOBS, blobJob, childJob, parentJob]);

/** The too-long-child-key case of the brief: a valid 125-character report key leaves no room for `.part-<i>`. */
const LONG_KEY = 'r'.repeat(125);

// ---------------------------------------------------------------------------------------------------------
// resolveSubmission: what the client and the workflow's prepare step both run.

test('defect 9.4: order.fulfill refuses an oversized email and unknown fields at every level instead of dropping them', () => {
  const email = `${'a'.repeat(300)}@example.com`;
  assert.throws(
    () => resolveSubmission(orderFulfillJob, { ...order('o-big'), customer: { id: 'c', email } }),
    (err: unknown) => err instanceof JobValidationError && err.issues.some((i) => i.code === 'too_big' && i.path.join('.') === 'customer.email'),
  );
  for (const [where, input] of [
    ['input', { ...order('o-x'), coupon: 'FREE' }],
    ['customer', { ...order('o-x'), customer: { ...order('o-x').customer, vip: true } }],
    ['items.0', { ...order('o-x'), items: [{ sku: 'S', qty: 1, gift: true }] }],
  ] as const) {
    assert.throws(
      () => resolveSubmission(orderFulfillJob, input),
      (err: unknown) => err instanceof JobValidationError && err.issues.some((i) => i.code === 'unrecognized_keys' && (i.path.join('.') || 'input') === where),
      where,
    );
  }
});

test('defect 9.4: the whole input is bounded to MAX_INPUT_BYTES of canonical JSON, counted in UTF-8 bytes', () => {
  // Canonical JSON of { blob } is the string plus 11 bytes: {"blob":""}.
  assert.equal(resolveSubmission(blobJob, { blob: 'x'.repeat(MAX_INPUT_BYTES - 11) }).jobType, 'test.blob');
  assert.throws(
    () => resolveSubmission(blobJob, { blob: 'x'.repeat(MAX_INPUT_BYTES - 10) }),
    (err: unknown) => err instanceof InputTooLargeError && err.name === 'InputTooLargeError' && err.bytes === MAX_INPUT_BYTES + 1 && err.issues[0]?.code === 'too_big',
  );
  // Fewer characters than the limit, more bytes: 'é' is two bytes in UTF-8.
  assert.throws(() => resolveSubmission(blobJob, { blob: 'é'.repeat(MAX_INPUT_BYTES / 2 - 5) }), InputTooLargeError);
  // A 1 MiB email never reaches zod: the input is refused as a whole.
  assert.throws(
    () => resolveSubmission(orderFulfillJob, { ...order('o-1mib'), customer: { id: 'c', email: `${'a'.repeat(1 << 20)}@example.com` } }),
    InputTooLargeError,
  );
});

test('defect 9.5: a key that is not a string is refused as an invalid idempotency key (raw starts included)', () => {
  for (const key of [42, ['k'], { k: 1 }]) {
    assert.throws(() => resolveSubmission(orderFulfillJob, order('o-k'), key), InvalidIdempotencyKeyError);
  }
});

test('defect 9.4: report.generate with a 125-character key is refused: its derived child keys would be too long', () => {
  const sections = ['a', 'b', 'c'];
  assert.equal(resolveSubmission(reportGenerateJob, { reportId: 'r', sections }, 'k'.repeat(121), registry).idempotencyKey.length, 121);
  assert.throws(
    () => resolveSubmission(reportGenerateJob, { reportId: 'r', sections }, LONG_KEY, registry),
    (err: unknown) =>
      err instanceof InvalidChildKeyError && err instanceof InvalidIdempotencyKeyError && err.childIndex === 0 && /child key number 0/.test(err.message),
  );
});

test('defect 9.4: a child input that breaks the child schema is refused at submission, with the child\'s path', () => {
  assert.throws(
    () => resolveSubmission(parentJob, { id: 'p', titles: ['ok', 'far too long'] }, undefined, registry),
    (err: unknown) => {
      assert.ok(err instanceof InvalidChildInputError);
      assert.equal(err.childJobType, 'test.child');
      assert.deepEqual(err.issues.map((i) => i.path.join('.')), ['children.1.title']);
      return true;
    },
  );
  // Without a registry that knows the child type, only the keys are checked.
  assert.equal(resolveSubmission(parentJob, { id: 'p', titles: ['ok', 'far too long'] }).jobId, 'test.parent:p');
});

// ---------------------------------------------------------------------------------------------------------
// The JobClient and raw starts on the dev server.

let env: TestWorkflowEnvironment;
let h: RunningHarness;

before(async () => {
  env = await startDevServer();
  h = await startHarness(env, registry.all());
});
after(async () => {
  await h?.stop();
  await env?.teardown();
});

/** Temporal has no workflow with this id and the ledger no job. */
async function assertNothingStarted(jobId: string): Promise<void> {
  await assert.rejects(env.client.workflow.getHandle(jobId).describe(), WorkflowNotFoundError, `${jobId} is in Temporal`);
  assert.equal(await h.ledger.getJobById(jobId), undefined, `${jobId} is in the ledger`);
}

/** The ApplicationFailure at the end of a failed workflow's cause chain. */
function rootFailure(err: unknown): ApplicationFailure | undefined {
  let cause: unknown = err instanceof WorkflowFailedError ? err.cause : undefined;
  while (cause instanceof Error && !(cause instanceof ApplicationFailure)) cause = cause.cause;
  return cause instanceof ApplicationFailure ? cause : undefined;
}

test('defect 9.4: JobClient.submit refuses a 1 MiB email before anything starts', async () => {
  const input = { ...order(unique('o-mib')), customer: { id: 'c', email: `${'a'.repeat(1 << 20)}@example.com` } };
  await assert.rejects(h.jobs.submit('order.fulfill', input), InputTooLargeError);
  await assertNothingStarted(`order.fulfill:${input.orderId}`);
});

test('defect 9.4: a raw start over MAX_INPUT_BYTES fails at prepare as Validation and leaves no ledger record', async () => {
  const jobId = `test.blob:${unique('raw-blob')}`;
  const handle = await env.client.workflow.start(JOB_WORKFLOW_TYPE, {
    workflowId: jobId,
    taskQueue: h.taskQueue,
    args: [{ jobType: 'test.blob', input: { blob: 'x'.repeat(MAX_INPUT_BYTES) }, idempotencyKey: jobId.slice('test.blob:'.length), submittedBy: 'raw-tester' }],
  });
  await assert.rejects(jobOutcome(handle), (err: unknown) => {
    const failure = rootFailure(err);
    assert.equal(failure?.type, 'Validation');
    assert.match(failure?.message ?? '', /canonical JSON; the limit is 262144/);
    return true;
  });
  assert.equal(await h.ledger.getJobById(jobId), undefined);
});

test('defect 9.5: bad submit options are refused with the zod issues and start nothing', async () => {
  const cases: [string, Record<string, unknown>, string][] = [
    ['64 KiB submittedBy', { submittedBy: 'x'.repeat(64 * 1024) }, 'submittedBy'],
    ['blank submittedBy', { submittedBy: '   ' }, 'submittedBy'],
    ['control character in submittedBy', { submittedBy: 'alice\u0007bob' }, 'submittedBy'],
    ['null submittedBy', { submittedBy: null }, 'submittedBy'],
    ['oversized correlationId', { correlationId: 'c'.repeat(129) }, 'correlationId'],
    ['correlationId with a newline inside', { correlationId: 'a\nb' }, 'correlationId'],
    ['a number as the key', { key: 42 }, 'key'],
    ['a key with a space', { key: 'a b' }, 'key'],
    ['parentJobId, which only the workflow sets', { parentJobId: 'report.generate:r-1' }, ''],
  ];
  for (const [title, opts, path] of cases) {
    const recipientId = unique('opts');
    await assert.rejects(
      h.jobs.submit('greeting.send', { recipientId }, opts as never),
      (err: unknown) => {
        assert.ok(err instanceof InvalidSubmitOptionsError, `${title}: ${String(err)}`);
        assert.deepEqual(err.issues.map((i) => i.path.join('.')), [path], title);
        return true;
      },
    );
    await assertNothingStarted(`greeting.send:greet-${recipientId}-en`);
  }
});

test('defect 9.5: submittedBy and correlationId are trimmed before they reach the search attributes', async () => {
  const { jobId } = await h.jobs.submit('greeting.send', { recipientId: unique('trim') }, { submittedBy: '  alice  ', correlationId: ' corr-1\t' });
  const attrs = (await env.client.workflow.getHandle(jobId).describe()).typedSearchAttributes;
  assert.deepEqual([attrs.get(SA.SubmittedBy), attrs.get(SA.CorrelationId)], ['alice', 'corr-1']);
  await jobOutcome(env.client.workflow.getHandle(jobId));
});

test('defect 9.4: report.generate with a 125-character key is rejected before start: nothing in Temporal, nothing in the ledger', async () => {
  await assert.rejects(h.jobs.submit('report.generate', { reportId: unique('rep'), sections: ['a', 'b'] }, { key: LONG_KEY }), InvalidChildKeyError);
  await assertNothingStarted(`report.generate:${LONG_KEY}`);
});

test('defect 9.4: a raw start of report.generate with a 125-character key fails as Validation instead of leaving the parent stuck', async () => {
  const jobId = `report.generate:${LONG_KEY.slice(0, 124)}x`;
  const result = env.client.workflow.execute(JOB_WORKFLOW_TYPE, {
    workflowId: jobId,
    taskQueue: h.taskQueue,
    args: [{ jobType: 'report.generate', input: { reportId: unique('rep-raw'), sections: ['a'] }, idempotencyKey: jobId.slice('report.generate:'.length), submittedBy: 'raw-tester' }],
  });
  await assert.rejects(result, (err: unknown) => {
    const failure = rootFailure(err);
    assert.equal(failure?.type, 'Validation');
    assert.match(failure?.message ?? '', /invalid child key number 0/);
    return true;
  });
  assert.equal(await h.ledger.getJobById(jobId), undefined);
});

test('defect 9.4: JobClient.submit checks each child input against the child schema before the parent starts', async () => {
  const id = unique('parent');
  await assert.rejects(h.jobs.submit('test.parent', { id, titles: ['ok', 'far too long'] }), InvalidChildInputError);
  await assertNothingStarted(`test.parent:${id}`);
});

test('defect 9.4: a raw start whose child input breaks the child schema fails at prepare as Validation, starting no child', async () => {
  const id = unique('raw-parent');
  const jobId = `test.parent:${id}`;
  const result = env.client.workflow.execute(JOB_WORKFLOW_TYPE, {
    workflowId: jobId,
    taskQueue: h.taskQueue,
    args: [{ jobType: 'test.parent', input: { id, titles: ['ok', 'far too long'] }, idempotencyKey: id, submittedBy: 'raw-tester' }],
  });
  await assert.rejects(result, (err: unknown) => {
    const failure = rootFailure(err);
    assert.equal(failure?.type, 'Validation');
    assert.match(failure?.message ?? '', /children\.1/);
    return true;
  });
  await assertNothingStarted(`test.child:${id}.part-0`);
});

test('defect 9.5: operator identities follow the same bounds as submitters; reasons refuse control characters', () => {
  const ok = OperatorActionInput.safeParse({ action: 'retry', operator: '  alice@ops  ', reason: 'line one\nline two' });
  assert.ok(ok.success);
  assert.equal(ok.data.operator, 'alice@ops');
  for (const bad of [
    { action: 'retry', operator: 'x'.repeat(129), reason: 'too long an identity' },
    { action: 'retry', operator: 'alice\u0007', reason: 'bell in the identity' },
    { action: 'retry', operator: 'alice', reason: 'escape \u001b[31m in the reason' },
    { action: 'retry', operator: 'alice', reason: 'an extra field', extra: true },
  ]) {
    assert.equal(OperatorActionInput.safeParse(bad).success, false, JSON.stringify(bad));
  }
});
