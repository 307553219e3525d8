/**
 * Downstream services are configured generically: every `JOBLEDGER_SERVICE_<NAME>_URL` configures service
 * `<name>`; a value that is not a URL is refused by `loadConfig` naming its variable, so the worker does not
 * start (exit 2); a step asking for a service the worker lacks fails with a permanent Configuration failure
 * naming the variable to set.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { ApplicationFailure } from '@temporalio/activity';
import { MockActivityEnvironment } from '@temporalio/testing';
import { z } from 'zod';
import { createActivities } from '../activities';
import { ServiceNotConfiguredError } from '../activities/failures';
import { ErrorClass } from '../common/errors';
import type { StepArgs } from '../common/types';
import { loadConfig, serviceUrl, serviceVariable, servicesFrom } from '../core/config';
import { PinoSdkLogger } from '../core/logging';
import { activityTypeFor, defineJob } from '../jobs/define';
import { JobRegistry } from '../jobs/registry';
import { openLedger } from '../ledger';
import { ROOT, tempDir, testLogger } from './helpers/servers';

test('every JOBLEDGER_SERVICE_<NAME>_URL configures service <name>, lower-cased', () => {
  const env = {
    JOBLEDGER_SERVICE_PAYMENTS_URL: 'http://127.0.0.1:4010',
    JOBLEDGER_SERVICE_FRAUD_CHECK_URL: 'https://fraud.example/v1/',
    JOBLEDGER_TASK_QUEUE: 'q',
    JOBLEDGER_SERVICE_URL: 'http://no-name.example',
  };
  const services = servicesFrom(env);
  assert.deepEqual(services, { payments: 'http://127.0.0.1:4010', fraud_check: 'https://fraud.example/v1/' });
  assert.equal(serviceVariable('payments'), 'JOBLEDGER_SERVICE_PAYMENTS_URL');
  // A name is found by its variable too: `fraud-check` is configured by JOBLEDGER_SERVICE_FRAUD_CHECK_URL.
  assert.equal(serviceUrl(services, 'fraud-check'), 'https://fraud.example/v1/');
  assert.equal(serviceUrl(services, 'payments'), 'http://127.0.0.1:4010');
  assert.equal(serviceUrl(services, 'email'), undefined);
  assert.equal(serviceUrl(services, 'constructor'), undefined);
  assert.deepEqual(servicesFrom({}), {});
  assert.doesNotThrow(() => loadConfig(env));
});

test('a service variable that is not an http(s) URL is a zod issue naming the variable', () => {
  const refused = (env: NodeJS.ProcessEnv, variables: string[]) =>
    assert.throws(
      () => loadConfig(env),
      (err: unknown) => {
        assert.ok(err instanceof z.ZodError);
        assert.deepEqual(err.issues.map((issue) => issue.path.join('.')), variables);
        for (const variable of variables) assert.match(err.message, new RegExp(variable));
        return true;
      },
    );
  refused({ JOBLEDGER_SERVICE_PAYMENTS_URL: 'payments.internal:8080' }, ['JOBLEDGER_SERVICE_PAYMENTS_URL']);
  refused({ JOBLEDGER_SERVICE_EMAIL_URL: 'ftp://mail.example' }, ['JOBLEDGER_SERVICE_EMAIL_URL']);
  // Reported together with the other settings' issues.
  refused({ LOG_LEVEL: 'loud', JOBLEDGER_SERVICE_PAYMENTS_URL: '' }, ['LOG_LEVEL', 'JOBLEDGER_SERVICE_PAYMENTS_URL']);
  assert.throws(() => servicesFrom({ JOBLEDGER_SERVICE_PAYMENTS_URL: 'nope' }), /JOBLEDGER_SERVICE_PAYMENTS_URL/);
});

test('a worker with a service variable that is not a URL refuses to start with exit 2, naming it', () => {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith('JOBLEDGER_')) env[name] = value;
  const worker = spawnSync(process.execPath, ['--import', 'tsx', 'workers/main.ts'], {
    cwd: ROOT,
    env: { ...env, JOBLEDGER_SERVICE_PAYMENTS_URL: 'payments.internal', JOBLEDGER_LEDGER_PATH: join(tempDir(), 'ledger.db') },
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(worker.status, 2, worker.stderr);
  assert.match(worker.stderr, /JOBLEDGER_SERVICE_PAYMENTS_URL/);
});

test("ctx.service('payments') on a worker without it fails once, permanently, naming JOBLEDGER_SERVICE_PAYMENTS_URL", async (t) => {
  const job = defineJob({
    type: 'test.needs-payments',
    version: 1,
    input: z.strictObject({ id: z.string().meta({ pii: false }) }),
    key: (input) => input.id,
    steps: [{ name: 'charge', run: async ({ service }) => ({ url: service('payments') }) }],
  });
  const ledger = openLedger(join(tempDir(), 'ledger.db'));
  t.after(() => ledger.close());
  const activities = createActivities({ registry: new JobRegistry([job]), ledger, logger: testLogger(), services: {} });
  const charge = activities[activityTypeFor(job.type, 'charge')] as (args: StepArgs) => Promise<unknown>;
  const args: StepArgs = { jobId: 'test.needs-payments:a', jobType: job.type, step: 'charge', idempotencyKey: 'a', input: { id: 'a' }, results: {} };
  const env = new MockActivityEnvironment({ attempt: 1, startToCloseTimeoutMs: 10_000 }, { logger: new PinoSdkLogger(testLogger()) });
  await assert.rejects(env.run(charge, args), (err: unknown) => {
    assert.ok(err instanceof ApplicationFailure);
    assert.equal(err.type, ErrorClass.Configuration);
    assert.equal(err.nonRetryable, true);
    assert.match(err.message, /downstream service 'payments' is not configured on this worker: set JOBLEDGER_SERVICE_PAYMENTS_URL/);
    assert.ok(err.cause instanceof ServiceNotConfiguredError);
    assert.equal(err.cause.variable, 'JOBLEDGER_SERVICE_PAYMENTS_URL');
    return true;
  });
});
