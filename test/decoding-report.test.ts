/**
 * The pieces behind issue 14's "no silent stuck jobs", without a server: a process without keys refuses an
 * encrypted payload with an error naming JOBLEDGER_CODEC_KEYS; the worker's report of decoding failures is
 * one line per error class and interval; the SDK's per-retry lines about them are recognised; each decoding
 * error class gets its setting and fix; free text is masked like the input.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { ApplicationFailure, defaultPayloadConverter } from '@temporalio/common';
import { classifyWorkflowTaskFailure } from '../client/blocked';
import { ClearTextCodec, encryptPayload, MissingCodecKeysError, UnencryptedPayloadError } from '../codec/codec';
import { generateKey, parseKeyring, UnknownKeyIdError } from '../codec/keys';
import { maskPii } from '../codec/masking';
import { maskedValues, maskText } from '../common/masking';
import { dataConverterFrom, loadConfig } from '../core/config';
import { createLogger } from '../core/logging';
import { DECODING_FAILURE_MESSAGE, DecodingFailureReporter, isDecodingFailureLine, reportingCodec } from '../workers/decoding';

const keyring = parseKeyring({ current: 'k7', keys: { k7: generateKey() } });

test('without JOBLEDGER_CODEC_KEYS, payloads pass as clear text and an encrypted one is refused naming the setting and its key id', async () => {
  const codec = dataConverterFrom(loadConfig({})).payloadCodecs?.[0];
  assert.ok(codec instanceof ClearTextCodec);
  const plain = defaultPayloadConverter.toPayload({ a: 1 });
  assert.deepEqual(await codec.encode([plain]), [plain]);
  assert.deepEqual(await codec.decode([plain]), [plain]);
  await assert.rejects(codec.decode([plain, encryptPayload(plain, keyring)]), (err: unknown) => {
    assert.ok(err instanceof MissingCodecKeysError);
    assert.equal(err.keyId, 'k7');
    assert.match(err.message, /^cannot decode a payload encrypted with key 'k7': JOBLEDGER_CODEC_KEYS is not set in this process/);
    return true;
  });
});

test('the worker reports a decoding failure once per class and interval, with the count since; other errors are not reported', async () => {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString('utf8')) as Record<string, unknown>);
      done();
    },
  });
  let now = 0;
  const reporter = new DecodingFailureReporter(createLogger({ level: 'info' }, sink), 60_000, () => now);
  const failing = reportingCodec(new ClearTextCodec(), reporter);
  const encrypted = encryptPayload(defaultPayloadConverter.toPayload('x'), keyring);
  // Thrown on with its class as the failure type, so that the workflow task's failure in history keeps it.
  const asFailure = (err: unknown) => err instanceof ApplicationFailure && err.type === 'MissingCodecKeysError' && err.cause instanceof MissingCodecKeysError;
  for (let i = 0; i < 5; i++) await assert.rejects(failing.decode([encrypted]), asFailure);
  reporter.report(new Error('not a decoding failure'));
  reporter.report(new UnencryptedPayloadError('json/plain'));
  now = 61_000;
  await assert.rejects(failing.decode([encrypted]), asFailure);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(
    lines.map((l) => [l.msg, l.level, l.error_class, l.setting, l.failures_since_last_report]),
    [
      [DECODING_FAILURE_MESSAGE, 50, 'MissingCodecKeysError', 'JOBLEDGER_CODEC_KEYS', undefined],
      [DECODING_FAILURE_MESSAGE, 50, 'UnencryptedPayloadError', 'JOBLEDGER_CODEC_KEYS', undefined],
      [DECODING_FAILURE_MESSAGE, 50, 'MissingCodecKeysError', 'JOBLEDGER_CODEC_KEYS', 4],
    ],
  );
});

test("the SDK's per-retry lines about a decoding failure are recognised (and dropped by the worker); others are kept", () => {
  assert.equal(isDecodingFailureLine({ error: new MissingCodecKeysError('k1') }), true);
  assert.equal(isDecodingFailureLine({ error: ApplicationFailure.create({ type: 'UnencryptedPayloadError', message: 'refusing...' }) }), true);
  assert.equal(isDecodingFailureLine({ error: ApplicationFailure.create({ type: 'DependencyUnavailable', message: 'down' }) }), false);
  assert.equal(isDecodingFailureLine({ failure: 'Failure { message: "...", stack_trace: "UnknownKeyIdError: payload was encrypted..." }' }), true);
  assert.equal(isDecodingFailureLine({ error: new Error('a bug in the workflow') }), false);
  assert.equal(isDecodingFailureLine({ failure: 'ReferenceError: x is not defined' }), false);
  assert.equal(isDecodingFailureLine(undefined), false);
});

test('a workflow task failure is classified: each decoding error names JOBLEDGER_CODEC_KEYS with its fix; the SDK\'s "Unknown encoding" counts as missing keys; others are workflow-task failures', () => {
  const missing = classifyWorkflowTaskFailure('MissingCodecKeysError', new MissingCodecKeysError('k1').message);
  assert.equal(missing.cause, 'decoding');
  assert.equal(missing.setting, 'JOBLEDGER_CODEC_KEYS');
  assert.match(missing.fix, /restart the workers with the same JOBLEDGER_CODEC_KEYS as the client/);
  assert.equal(missing.runbook, 'RUNBOOK.md#encryption');
  assert.deepEqual(classifyWorkflowTaskFailure('Error', 'Unknown encoding: binary/encrypted'), missing);
  assert.match(classifyWorkflowTaskFailure('UnencryptedPayloadError', '').fix, /JOBLEDGER_CODEC_ALLOW_PLAINTEXT=true/);
  assert.match(classifyWorkflowTaskFailure('UnknownKeyIdError', new UnknownKeyIdError('k0', ['k7']).message).fix, /lacks the key id/);
  assert.match(classifyWorkflowTaskFailure('PayloadDecryptionError', '').fix, /escalate/);
  const other = classifyWorkflowTaskFailure('ReferenceError', 'x is not defined');
  assert.equal(other.cause, 'workflow-task');
  assert.equal(other.setting, undefined);
});

test("free text is masked like the input: the input's PII values (3+ characters) and every email address", () => {
  const input = { id: 'o-1', customer: { name: 'Grace Hopper', email: 'grace@navy.example' }, items: [{ note: 'ring twice' }], lang: 'en' };
  const masked = maskPii(input, [['customer'], ['items', '*', 'note'], ['lang']]);
  const hidden = maskedValues(input, masked);
  assert.deepEqual(hidden.sort(), ['Grace Hopper', 'en', 'grace@navy.example', 'ring twice']);
  assert.equal(
    maskText('Grace Hopper <grace@navy.example> said "ring twice"; cc ops+alerts@mail.example.co.uk; order o-1 sent', hidden),
    '*** <***> said "***"; cc ***; order o-1 sent',
  );
});
