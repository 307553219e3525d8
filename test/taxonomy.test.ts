/**
 * The error taxonomy and its one mapping: HTTP statuses, network failures, zod errors and ledger errors
 * land in the right class; permanent classes are non-retryable; every class has a RUNBOOK.md section.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { z } from 'zod';
import { classify, toApplicationFailure } from '../activities/failures';
import { ERROR_CLASSES, ErrorClass } from '../common/errors';
import { StepInProgressError } from '../ledger';
import { ProviderHttpError, ProviderUnavailableError } from '../examples/sandbox/client';
import { ROOT } from './helpers/servers';

const http = (status: number, errorType?: string, retryAfterMs?: number) =>
  new ProviderHttpError({ status, provider: 'payments', path: '/charges', message: `HTTP ${status}`, errorType, retryAfterMs });

test('HTTP statuses map to their classes', () => {
  const cases: [ProviderHttpError, ErrorClass][] = [
    [http(400), 'Validation'],
    [http(422), 'Validation'],
    [http(401), 'PermissionDenied'],
    [http(403), 'PermissionDenied'],
    [http(404), 'NotFound'],
    [http(402), 'BusinessRule'],
    [http(409, 'out_of_stock'), 'BusinessRule'],
    [http(409, 'idempotency_error'), 'StepInProgress'],
    [http(429, undefined, 3000), 'RateLimited'],
    [http(408), 'Timeout'],
    [http(504), 'Timeout'],
    [http(500), 'DependencyUnavailable'],
    [http(503), 'DependencyUnavailable'],
  ];
  for (const [err, expected] of cases) assert.equal(classify(err).errorClass, expected, `HTTP ${err.status} ${err.errorType ?? ''}`);
});

test('network failures, zod errors, ledger contention and unknown errors map to their classes', () => {
  assert.equal(classify(new ProviderUnavailableError('email', '/emails', new Error('ECONNRESET'), false)).errorClass, 'DependencyUnavailable');
  assert.equal(classify(new ProviderUnavailableError('email', '/emails', new Error('aborted'), true)).errorClass, 'Timeout');
  assert.equal(classify(z.string().safeParse(1).error).errorClass, 'Validation');
  assert.equal(classify(new StepInProgressError('k', { identity: 'w', attempt: 1 }, Date.now())).errorClass, 'StepInProgress');
  assert.equal(classify(new TypeError('boom')).errorClass, 'Internal');
});

test('permanent classes become non-retryable failures whose type is the class name', () => {
  for (const [err, type, nonRetryable] of [
    [http(400), 'Validation', true],
    [http(404), 'NotFound', true],
    [http(403), 'PermissionDenied', true],
    [http(402), 'BusinessRule', true],
    [http(503), 'DependencyUnavailable', false],
    [new Error('x'), 'Internal', false],
  ] as const) {
    const failure = toApplicationFailure(err, { attempt: 1 });
    assert.deepEqual([failure.type, failure.nonRetryable], [type, nonRetryable]);
    assert.equal(ERROR_CLASSES[type].kind === 'permanent', nonRetryable);
  }
  const rateLimited = toApplicationFailure(http(429, undefined, 3000), { attempt: 2 });
  assert.equal(rateLimited.type, 'RateLimited');
  assert.equal(rateLimited.nonRetryable, false);
  assert.equal(rateLimited.nextRetryDelay, 3000);
  assert.deepEqual((rateLimited.details?.[0] as { attempt: number }).attempt, 2);
});

test('every error class has its RUNBOOK.md section', () => {
  const runbook = readFileSync(join(ROOT, 'RUNBOOK.md'), 'utf8');
  const anchors = new Set([...runbook.matchAll(/^## (.+)$/gm)].map((m) => m[1]!.toLowerCase().replace(/[^a-z0-9 -]/g, '').replace(/ /g, '-')));
  for (const [name, info] of Object.entries(ERROR_CLASSES)) {
    assert.ok(anchors.has(info.runbook.replace('RUNBOOK.md#', '')), `section for ${name}`);
  }
  for (const situation of ['dead-letter-permanent-failure-with-nothing-to-compensate', 'dead-letter-retries-exhausted', 'dead-letter-compensation-failed', 'dead-letter-parking-timeout']) {
    assert.ok(anchors.has(situation), situation);
  }
});
