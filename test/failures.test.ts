/**
 * The failure classifier reads what a step throws by its shape, whatever client threw it: HTTP statuses
 * with Retry-After (plain objects, fetch `Response`s, header records), real fetch and socket failures,
 * timeouts from `AbortSignal.timeout`, zod errors, and errors wrapped in a `cause`.
 */
import assert from 'node:assert/strict';
import { createServer, get, type Server } from 'node:http';
import { test } from 'node:test';
import { z } from 'zod';
import { classify, toApplicationFailure } from '../activities/failures';
import { ERROR_CLASSES, ErrorClass } from '../common/errors';
import { listenOnLoopback } from '../core/net';

/** Runs `fn` and returns what it threw. */
async function thrownBy(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

/** A server on 127.0.0.1 for one test, closed after it. */
async function serve(t: { after: (fn: () => Promise<void>) => void }, server: Server): Promise<number> {
  const port = await listenOnLoopback(server);
  t.after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return port;
}

test('a plain object with status 503 and a Retry-After header is a transient DependencyUnavailable that waits as asked', () => {
  const err = { status: 503, headers: { 'Retry-After': '7' }, dependency: 'payments' };
  assert.deepEqual(classify(err), { errorClass: ErrorClass.DependencyUnavailable, dependency: 'payments', httpStatus: 503, retryAfterMs: 7000 });
  const failure = toApplicationFailure(err);
  assert.equal(failure.type, ErrorClass.DependencyUnavailable);
  assert.equal(failure.nonRetryable, false);
  assert.equal(failure.nextRetryDelay, 7000);
  assert.deepEqual(failure.details?.[0], { errorClass: ErrorClass.DependencyUnavailable, dependency: 'payments', httpStatus: 503, hint: ERROR_CLASSES.DependencyUnavailable.hint, runbook: ERROR_CLASSES.DependencyUnavailable.runbook });
});

test('Retry-After is read from retryAfterMs, retryAfter (seconds or HTTP date) and a fetch Response', () => {
  assert.equal(classify({ statusCode: 429, retryAfterMs: 1500 }).retryAfterMs, 1500);
  assert.equal(classify({ status: 429, retryAfter: 4 }).retryAfterMs, 4000);
  const inTenSeconds = new Date(Date.now() + 10_000).toUTCString();
  const fromDate = classify({ status: 429, retryAfter: inTenSeconds }).retryAfterMs!;
  assert.ok(fromDate > 8000 && fromDate <= 10_000, `${fromDate}`);
  const response = new Response(null, { status: 429, headers: { 'Retry-After': '3' } });
  assert.deepEqual(classify(Object.assign(new Error('rate limited'), { response })), {
    errorClass: ErrorClass.RateLimited,
    httpStatus: 429,
    retryAfterMs: 3000,
  });
  assert.equal(classify({ response: { statusCode: 503, headers: { 'retry-after': '2' } } }).retryAfterMs, 2000);
});

test('4xx answers are permanent in the taxonomy classes; a 409 is a business conflict unless it names the idempotency key', () => {
  const cases: [object, ErrorClass, boolean][] = [
    [{ status: 400 }, ErrorClass.Validation, true],
    [{ status: 422 }, ErrorClass.Validation, true],
    [{ status: 401 }, ErrorClass.PermissionDenied, true],
    [{ status: 404 }, ErrorClass.NotFound, true],
    [{ status: 410 }, ErrorClass.NotFound, true],
    [{ status: 402 }, ErrorClass.BusinessRule, true],
    [{ status: 409 }, ErrorClass.BusinessRule, true],
    [{ status: 409, code: 'idempotency_error' }, ErrorClass.StepInProgress, false],
    [{ status: 409, type: 'idempotency_error' }, ErrorClass.StepInProgress, false],
    [{ status: 408 }, ErrorClass.Timeout, false],
    [{ status: 504 }, ErrorClass.Timeout, false],
  ];
  for (const [err, errorClass, nonRetryable] of cases) {
    const failure = toApplicationFailure(Object.assign(new Error('answered'), err), { attempt: 1 });
    assert.deepEqual([failure.type, failure.nonRetryable], [errorClass, nonRetryable], JSON.stringify(err));
  }
});

test('a number that is not an HTTP error status (an exit status, a 2xx) is not read as one', () => {
  assert.equal(classify(Object.assign(new Error('child exited'), { status: 137 })).errorClass, ErrorClass.Internal);
  assert.equal(classify({ status: 200 }).errorClass, ErrorClass.Internal);
  assert.equal(classify({ status: '503' }).errorClass, ErrorClass.Internal);
});

test('a real fetch to a closed 127.0.0.1 port is a transient DependencyUnavailable', async () => {
  const server = createServer();
  const port = await listenOnLoopback(server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  const err = await thrownBy(() => fetch(`http://127.0.0.1:${port}/charges`));
  assert.ok(err instanceof TypeError && err.message === 'fetch failed', String(err));
  assert.equal(classify(err).errorClass, ErrorClass.DependencyUnavailable);
  assert.equal(toApplicationFailure(err).nonRetryable, false);
});

test('a connection reset by the server (Node ECONNRESET) is a transient DependencyUnavailable', async (t) => {
  const server = createServer((req) => req.socket.destroy());
  const port = await serve(t, server);
  const err = await new Promise<unknown>((resolve) => {
    get(`http://127.0.0.1:${port}/`, () => resolve(new Error('answered'))).on('error', resolve);
  });
  assert.ok(err instanceof Error && 'code' in err && err.code === 'ECONNRESET', String(err));
  assert.equal(classify(err).errorClass, ErrorClass.DependencyUnavailable);
  // The same reset seen through fetch: a `fetch failed` whose cause is undici's socket error.
  const viaFetch = await thrownBy(() => fetch(`http://127.0.0.1:${port}/`));
  assert.equal(classify(viaFetch).errorClass, ErrorClass.DependencyUnavailable);
});

test('a fetch aborted by AbortSignal.timeout is a transient Timeout; an abort is one too', async (t) => {
  const server = createServer(() => {}); // never answers
  const port = await serve(t, server);
  const err = await thrownBy(() => fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(50) }));
  assert.ok(err instanceof Error && err.name === 'TimeoutError', String(err));
  assert.equal(classify(err).errorClass, ErrorClass.Timeout);
  assert.equal(toApplicationFailure(err).nonRetryable, false);

  const controller = new AbortController();
  const aborted = thrownBy(() => fetch(`http://127.0.0.1:${port}/`, { signal: controller.signal }));
  controller.abort();
  assert.equal(classify(await aborted).errorClass, ErrorClass.Timeout);
  assert.equal(classify(Object.assign(new Error('connect timed out'), { code: 'UND_ERR_CONNECT_TIMEOUT' })).errorClass, ErrorClass.Timeout);
});

test('a ZodError from parsing is a permanent Validation failure, by class or by shape', () => {
  const err = (() => {
    try {
      z.object({ amount: z.number().positive() }).parse({ amount: -1 });
    } catch (e) {
      return e;
    }
    throw new Error('expected the parse to throw');
  })();
  assert.equal(classify(err).errorClass, ErrorClass.Validation);
  const failure = toApplicationFailure(err, { attempt: 1 });
  assert.deepEqual([failure.type, failure.nonRetryable], [ErrorClass.Validation, true]);
  // Another copy of zod, or any error that lists its issues.
  assert.equal(classify(Object.assign(new Error('bad'), { name: 'ZodError' })).errorClass, ErrorClass.Validation);
  assert.equal(classify(Object.assign(new Error('bad'), { issues: [{ path: ['amount'], message: 'too small' }] })).errorClass, ErrorClass.Validation);
});

test('a wrapped error is classified by its cause; an unknown error stays Internal', () => {
  const wrapped = new Error('charge failed', { cause: Object.assign(new Error('HTTP 404'), { statusCode: 404, dependency: 'payments' }) });
  assert.deepEqual(classify(wrapped), { errorClass: ErrorClass.NotFound, dependency: 'payments', httpStatus: 404 });
  assert.equal(classify(new Error('outer', { cause: Object.assign(new Error('reset'), { code: 'ECONNRESET' }) })).errorClass, ErrorClass.DependencyUnavailable);
  assert.equal(classify(new TypeError('fetch failed', { cause: new Error('unrecognised') })).errorClass, ErrorClass.DependencyUnavailable);
  assert.equal(classify(new TypeError('boom')).errorClass, ErrorClass.Internal);
  assert.equal(classify('a string').errorClass, ErrorClass.Internal);
  assert.equal(classify(null).errorClass, ErrorClass.Internal);
});
