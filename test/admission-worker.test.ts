/**
 * Admission at the door: the worker refuses to start when a definition breaks policy, naming it, and
 * `jobledger lint` passes the shipped definitions.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { z } from 'zod';
import { NativeConnection } from '@temporalio/worker';
import { AdmissionError } from '../jobs/admission';
import { defineJob, type JobDefinition } from '../jobs/define';
import { openLedger } from '../ledger';
import { createJobWorker } from '../workers/worker';
import { cli } from './helpers/run';
import { tempDir, testLogger } from './helpers/servers';
import { join } from 'node:path';

test('the worker refuses to start with a definition that breaks policy, and names it', async () => {
  const bad = defineJob({
    type: 'billing.unsafe',
    version: 1,
    input: z.object({ cardNumber: z.string() }),
    steps: [{ name: 'charge', dependency: 'payments', run: async () => 'charged' }],
  });
  const ledger = openLedger(join(tempDir(), 'ledger.db'));
  try {
    await assert.rejects(
      createJobWorker({
        connection: undefined as unknown as NativeConnection, // never reached: admission runs first
        taskQueue: 'never-used',
        definitions: [bad],
        ledger,
        logger: testLogger(),
      }),
      (err: unknown) => {
        assert.ok(err instanceof AdmissionError);
        assert.match(err.message, /billing\.unsafe/);
        assert.deepEqual(err.violations.map((v) => v.rule).sort(), ['field-unclassified', 'object-not-strict', 'side-effect-without-key', 'string-unbounded', 'timeout-missing']);
        return true;
      },
    );
  } finally {
    await ledger.close();
  }
});

test('jobledger lint passes the shipped definitions', async () => {
  const r = await cli(['lint', '--json'], {});
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { ok: true, violations: [] });
});
