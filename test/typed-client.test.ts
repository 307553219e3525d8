/**
 * The typed client: `jobs.submit(orderFulfillJob, input)` type-checks the input against the job's schema
 * and `jobs.outcome(orderFulfillJob, id)` has the result type of its workflow. The `@ts-expect-error` lines
 * below are checked by `tsc` (scripts/test.sh type-checks the tests before running them): if the wrong
 * call ever type-checked, the unused directive would fail the type check. The tests also compile the same
 * calls without the directive and assert that tsc reports them, and that at run time the wrong input is
 * refused before anything starts.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { JobClient } from '../client/jobs';
import { orderFulfillJob, type OrderResult } from '../examples/jobs/order';
import { JobRegistry } from '../jobs/registry';
import { JobValidationError } from '../jobs/submission';
import { checkSubmission } from '../client/jobs';
import { order } from './fixtures/orders';
import { run } from './helpers/run';
import { ROOT } from './helpers/servers';

/** Never called: its body exists to be type-checked. */
export async function typedCalls(jobs: JobClient): Promise<void> {
  // @ts-expect-error an object that is not an order is not an order.fulfill input
  await jobs.submit(orderFulfillJob, { wrong: 1 });
  // @ts-expect-error amount must be a number
  await jobs.submit(orderFulfillJob, { ...order('o-1'), amount: '12.00' });
  await jobs.submit(orderFulfillJob, order('o-1'));
  const outcome = await jobs.outcome(orderFulfillJob, 'order.fulfill:o-1');
  const result: OrderResult | undefined = outcome.result;
  // @ts-expect-error the result has no such field
  void result?.noSuchField;
}

test('submit(orderFulfillJob, { wrong: 1 }) does not type-check: tsc reports it without the directive', async () => {
  const dir = mkdtempSync(join(ROOT, '.jobledger-typecheck-'));
  try {
    const file = join(dir, 'wrong.ts');
    writeFileSync(
      file,
      [
        "import type { JobClient } from '../client/jobs';",
        "import { orderFulfillJob } from '../examples/jobs/order';",
        'export async function wrong(jobs: JobClient): Promise<void> {',
        '  await jobs.submit(orderFulfillJob, { wrong: 1 });',
        '}',
        '',
      ].join('\n'),
    );
    const r = await run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '--noEmit', '--strict', '--skipLibCheck', '--module', 'esnext', '--moduleResolution', 'bundler', '--target', 'es2022', '--types', 'node', file]);
    assert.notEqual(r.code, 0, 'the wrong input type-checked');
    // No overload takes it: the definition form wants an order, the string form wants a job type name.
    assert.match(r.stdout, /wrong\.ts\(4,\d+\): error TS2769: No overload matches this call/);
    assert.match(r.stdout, /Overload 1 of 2, '\(job: JobDefinition<ZodObject<\{ orderId: ZodString/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('at run time the same wrong input is refused with the zod issues before anything starts', () => {
  assert.throws(
    () => checkSubmission(new JobRegistry([orderFulfillJob]), orderFulfillJob.type, { wrong: 1 }, { submittedBy: 'typed-test' }),
    (err: unknown) => err instanceof JobValidationError && err.issues.some((issue) => issue.path[0] === 'orderId'),
  );
});
