/**
 * Admission checks: the shipped jobs are admissible, and each policy rule catches one deliberately bad
 * definition with exactly one violation at the expected path. No servers needed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { AdmissionError, assertAdmissible, checkDefinitions, formatViolations, RULES, type RuleId } from '../jobs/admission';
import type { JobDefinition, StepDefinition } from '../jobs/define';
import { greetingJob } from '../examples/jobs/greeting';
import { jobs as EXAMPLE_JOBS } from '../examples/jobs/index';

const Input = z.strictObject({
  id: z.string().max(64).meta({ pii: false }),
  customer: z.strictObject({ id: z.string().max(64).meta({ pii: false }), email: z.email().max(254).meta({ pii: true }) }),
});

const localStep: StepDefinition<unknown> = { name: 'local', run: async () => ({}) };
const remoteStep: StepDefinition<unknown> = {
  name: 'remote',
  dependency: 'payments',
  startToCloseTimeout: '10s',
  run: async (ctx) => ({ sentWith: ctx.stepKey }),
  compensate: { name: 'undo-remote', dependency: 'payments', run: async (ctx) => ({ sentWith: ctx.stepKey }) },
};

/** An admissible definition, with some of its fields replaced. */
function job(overrides: Partial<JobDefinition> & Record<string, unknown> = {}): JobDefinition {
  return { type: 'test.job', version: 1, input: Input, key: (input) => (input as { id: string }).id, steps: [localStep, remoteStep], ...overrides };
}

function step(overrides: Partial<StepDefinition<unknown>> & Record<string, unknown>): StepDefinition<unknown> {
  return { ...localStep, ...overrides };
}

function found(definitions: JobDefinition[]): { rule: RuleId; path: string | undefined }[] {
  return checkDefinitions(definitions).map((v) => ({ rule: v.rule, path: v.path }));
}

test('the shipped greeting job is admissible', () => {
  assert.deepEqual(checkDefinitions([greetingJob]), []);
});

test('every shipped job is admissible', () => {
  const violations = checkDefinitions(EXAMPLE_JOBS);
  assert.deepEqual(violations, [], formatViolations(violations));
});

test('the base definition of these tests is admissible', () => {
  assert.deepEqual(checkDefinitions([job()]), []);
});

const BAD: { title: string; definitions: JobDefinition[]; rule: RuleId; path?: string }[] = [
  { title: 'no input schema', definitions: [job({ input: undefined })], rule: 'input-schema-missing', path: 'input' },
  { title: 'input is not an object', definitions: [job({ input: z.string().max(9).meta({ pii: false }) })], rule: 'input-schema-not-object', path: 'input' },
  { title: 'version 0', definitions: [job({ version: 0 })], rule: 'version-invalid' },
  { title: 'fractional version', definitions: [job({ version: 1.5 })], rule: 'version-invalid' },
  { title: 'unclassified top-level field', definitions: [job({ input: Input.extend({ note: z.string().max(9).optional() }) })], rule: 'field-unclassified', path: 'note' },
  {
    title: 'unclassified nested field',
    definitions: [job({ input: Input.extend({ address: z.strictObject({ city: z.string().max(9) }).meta({ pii: false }) }) })],
    rule: 'field-unclassified',
    path: 'address.city',
  },
  {
    title: 'unclassified field in an array of objects',
    definitions: [job({ input: Input.extend({ items: z.array(z.strictObject({ sku: z.string().max(9).meta({ pii: false }), qty: z.number() })).max(9) }) })],
    rule: 'field-unclassified',
    path: 'items.*.qty',
  },
  { title: 'unclassified array of strings', definitions: [job({ input: Input.extend({ tags: z.array(z.string().max(9)).max(9) }) })], rule: 'field-unclassified', path: 'tags' },
  {
    title: 'pii mark that is not a boolean',
    definitions: [job({ input: Input.extend({ phone: z.string().max(9).meta({ pii: 'yes' }) }) })],
    rule: 'field-unclassified',
    path: 'phone',
  },
  { title: 'maxAttempts 0', definitions: [job({ steps: [step({ retry: { maxAttempts: 0 } })] })], rule: 'retry-unbounded', path: 'steps.local' },
  { title: 'maxAttempts Infinity', definitions: [job({ steps: [step({ retry: { maxAttempts: Infinity } })] })], rule: 'retry-unbounded', path: 'steps.local' },
  {
    title: 'fractional maxAttempts, even with an expiry',
    definitions: [job({ steps: [step({ retry: { maxAttempts: 2.5 }, scheduleToCloseTimeout: '1m' })] })],
    rule: 'retry-unbounded',
    path: 'steps.local',
  },
  {
    title: 'downstream call without startToCloseTimeout',
    definitions: [job({ steps: [{ ...remoteStep, startToCloseTimeout: undefined }] })],
    rule: 'timeout-missing',
    path: 'steps.remote',
  },
  {
    title: 'downstream call without the idempotency key',
    definitions: [job({ steps: [{ ...remoteStep, run: async () => fetch('http://payments.invalid/charges', { method: 'POST' }) }] })],
    rule: 'side-effect-without-key',
    path: 'steps.remote',
  },
  {
    title: 'downstream compensation without the idempotency key',
    definitions: [job({ steps: [{ ...remoteStep, compensate: { name: 'undo-remote', dependency: 'payments', run: async () => ({}) } }] })],
    rule: 'side-effect-without-key',
    path: 'steps.remote.compensate',
  },
  { title: 'reversible step without compensation', definitions: [job({ steps: [step({ reversible: true })] })], rule: 'reversible-without-compensation', path: 'steps.local' },
  {
    title: 'search attribute fed from a PII field',
    definitions: [job({ searchAttributes: { CustomerEmail: 'customer.email' } })],
    rule: 'pii-in-search-attribute',
    path: 'searchAttributes.CustomerEmail',
  },
  {
    title: 'search attribute fed from an object holding a PII field',
    definitions: [job({ searchAttributes: { Customer: 'customer' } })],
    rule: 'pii-in-search-attribute',
    path: 'searchAttributes.Customer',
  },
  { title: 'key reads a PII field', definitions: [job({ key: (input) => (input as z.infer<typeof Input>).customer.email })], rule: 'pii-in-key', path: 'key' },
  { title: 'the same type twice', definitions: [job(), job({ version: 2 })], rule: 'duplicate-type', path: 'type' },
  { title: 'the same step name twice', definitions: [job({ steps: [localStep, remoteStep, localStep] })], rule: 'duplicate-step', path: 'steps.local' },
  {
    title: 'a compensation named like a step',
    definitions: [job({ steps: [localStep, { ...remoteStep, compensate: { ...remoteStep.compensate!, name: 'local' } }] })],
    rule: 'duplicate-step',
    path: 'steps.remote.compensate',
  },
  { title: 'type without a dot', definitions: [job({ type: 'order' })], rule: 'name-invalid', path: 'type' },
  { title: 'type in upper case', definitions: [job({ type: 'Order.Fulfill' })], rule: 'name-invalid', path: 'type' },
  { title: 'step name with an underscore', definitions: [job({ steps: [step({ name: 'charge_payment' })] })], rule: 'name-invalid', path: 'steps.charge_payment' },
];

/** Input bounds: every string, array and object of an input is bounded and strict. */
const UNBOUNDED: typeof BAD = [
  {
    title: 'a string without a maximum length (the 1 MiB email)',
    definitions: [job({ input: Input.extend({ customer: z.strictObject({ id: z.string().max(64).meta({ pii: false }), email: z.email().meta({ pii: true }) }) }) })],
    rule: 'string-unbounded',
    path: 'customer.email',
  },
  {
    title: 'an array without a maximum size',
    definitions: [job({ input: Input.extend({ tags: z.array(z.string().max(9)).meta({ pii: false }) }) })],
    rule: 'array-unbounded',
    path: 'tags',
  },
  {
    title: 'a record with open keys',
    definitions: [job({ input: Input.extend({ labels: z.record(z.string().max(9), z.string().max(9)).meta({ pii: false }) }) })],
    rule: 'record-unbounded',
    path: 'labels',
  },
  {
    title: 'a nested object that drops unknown fields',
    definitions: [job({ input: Input.extend({ address: z.object({ city: z.string().max(9).meta({ pii: false }) }) }) })],
    rule: 'object-not-strict',
    path: 'address',
  },
  {
    title: 'an input object that drops unknown fields',
    definitions: [job({ input: z.object(Input.shape) })],
    rule: 'object-not-strict',
    path: 'input',
  },
];

for (const { title, definitions, rule, path } of BAD) {
  test(`${rule}: ${title}`, () => {
    assert.deepEqual(found(definitions), [{ rule, path }]);
  });
}

for (const { title, definitions, rule, path } of UNBOUNDED) {
  test(`defect 9.4: admission rule ${rule} catches ${title}`, () => {
    assert.deepEqual(found(definitions), [{ rule, path }]);
  });
}

test('every rule has a bad definition above', () => {
  assert.deepEqual(new Set([...BAD, ...UNBOUNDED].map((c) => c.rule)), new Set(RULES));
});

test('admissible variants: marks on wrappers, PII objects, bounded collections, unbounded retries with an expiry, the call helper', () => {
  const input = Input.extend({
    note: z.string().max(9).optional().meta({ pii: false }),
    nickname: z.string().max(9).meta({ pii: false }).nullable(),
    tags: z.array(z.string().max(9)).max(9).meta({ pii: false }),
    codes: z.array(z.string().length(3).meta({ pii: false })).length(2),
    address: z.strictObject({ street: z.string().max(99), city: z.string().max(99) }).meta({ pii: true }),
    lines: z.array(z.strictObject({ sku: z.string().max(9).meta({ pii: false }) })).max(9),
    flags: z.set(z.enum(['a', 'b'])).max(2).meta({ pii: false }),
    scores: z.record(z.enum(['low', 'high']), z.number()).meta({ pii: false }),
  });
  const callProvider = async (_url: string, options: { stepKey: string }) => options;
  const definition = job({
    input,
    steps: [
      step({ name: 'forever-until-expiry', retry: { maxAttempts: Infinity }, scheduleToCloseTimeout: '1h' }),
      { name: 'via-helper', dependency: 'email', startToCloseTimeout: '5s', run: async (ctx) => callProvider('http://email.invalid', ctx) },
      step({ name: 'reversible', reversible: true, compensate: { name: 'undo', run: async () => ({}) } }),
    ],
    searchAttributes: { CustomerId: 'customer.id' },
  });
  assert.deepEqual(checkDefinitions([definition]), []);
});

test('violations carry the job type and version; several are all reported', () => {
  const violations = checkDefinitions([job({ type: 'bad', version: 0, steps: [step({ retry: { maxAttempts: 0 } })] })]);
  assert.deepEqual(
    violations.map((v) => [v.jobType, v.version, v.rule, v.path]),
    [
      ['bad', 0, 'name-invalid', 'type'],
      ['bad', 0, 'version-invalid', undefined],
      ['bad', 0, 'retry-unbounded', 'steps.local'],
    ],
  );
});

test('assertAdmissible throws an AdmissionError naming the job type, rule and path', () => {
  assert.doesNotThrow(() => assertAdmissible([greetingJob, job()]));
  const bad = job({ type: 'invoice.send', steps: [{ ...remoteStep, startToCloseTimeout: undefined }] });
  assert.throws(
    () => assertAdmissible([greetingJob, bad]),
    (err: unknown) => {
      assert.ok(err instanceof AdmissionError);
      assert.equal(err.name, 'AdmissionError');
      assert.deepEqual(err.violations.map((v) => v.rule), ['timeout-missing']);
      assert.match(err.message, /invoice\.send v1 \[timeout-missing\] steps\.remote/);
      assert.doesNotMatch(err.message, /greeting\.send/);
      return true;
    },
  );
});

test('formatViolations prints one line per violation', () => {
  const text = formatViolations(checkDefinitions([job({ version: 0, searchAttributes: { Email: 'customer.email' } })]));
  assert.deepEqual(text.split('\n'), [
    '- test.job v0 [version-invalid]: version 0 must be a positive integer',
    "- test.job v0 [pii-in-search-attribute] searchAttributes.Email: search attribute Email is fed from 'customer.email', which holds PII field 'customer.email'",
  ]);
});
