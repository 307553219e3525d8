/**
 * Failure lines keep their error: class, message and cause, whether an error is logged under pino's `err`
 * or the SDK's `error`, directly or as SDK log metadata through PinoSdkLogger (how the worker logs
 * "Activity failed").
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { createLogger, PinoSdkLogger } from '../core/logging';

function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  const logger = createLogger({ level: 'info', name: 'log-errors' }, stream);
  return { logger, entries: () => lines.map((l) => JSON.parse(l) as Record<string, any>) };
}

test('defect 9.7: failure lines carry the error class, message and cause, not "error":{}', () => {
  const { logger, entries } = capture();
  const root = new TypeError('socket hang up');
  const failure = ApplicationFailure.create({ message: 'payments unreachable', type: 'DependencyUnavailable', cause: root });
  new PinoSdkLogger(logger).warn('Activity failed', { error: failure, durationMs: 12 });
  logger.error({ err: new RangeError('bad amount', { cause: 'amount < 0' }) }, 'step failed');
  logger.info({ err: 'only a message' }, 'plain value');

  const [sdk, pinoErr, plain] = entries();
  assert.equal(sdk!.msg, 'Activity failed');
  assert.equal(sdk!.error.type, 'ApplicationFailure');
  assert.equal(sdk!.error.failure_type, 'DependencyUnavailable');
  assert.equal(sdk!.error.message, 'payments unreachable');
  assert.equal(sdk!.error.cause.type, 'TypeError');
  assert.equal(sdk!.error.cause.message, 'socket hang up');
  assert.match(sdk!.error.stack, /payments unreachable/);
  assert.equal(sdk!.durationMs, 12);

  assert.equal(pinoErr!.err.type, 'RangeError');
  assert.equal(pinoErr!.err.message, 'bad amount');
  assert.equal(pinoErr!.err.cause, 'amount < 0');
  assert.equal(plain!.err, 'only a message');
});
