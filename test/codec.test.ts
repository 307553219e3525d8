/**
 * Tests of the payload encryption codec: the keyring and its configuration errors, AES-GCM round
 * trips, tamper detection, key rotation, the SDK's own converter helpers running payloads and failures
 * through the codec, and the PII paths and masking used by the codec server. No server is needed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import {
  decodeFromPayloadsAtIndex,
  decodeOptionalFailureToOptionalError,
  encodeErrorToFailure,
  encodeToPayloads,
  loadDataConverter,
} from '@temporalio/common/lib/internal-non-workflow';
import { temporal } from '@temporalio/proto';
import { z } from 'zod';
import {
  ENCRYPTED_ENCODING,
  EncryptionCodec,
  PayloadDecryptionError,
  UnencryptedPayloadError,
  dataConverterOptions,
  dataConverterWithEncryption,
  isEncrypted,
} from '../codec/codec';
import { dataConverterFrom, loadConfig } from '../core/config';
import { CodecConfigError, Keyring, UnknownKeyIdError, generateKey, keyringFromEnv, parseKeyring } from '../codec/keys';
import { MASK, maskPii, piiPathsOf } from '../codec/masking';
import { OrderInput } from '../examples/jobs/order';

const K1 = generateKey();
const K2 = generateKey();

const ORDER = {
  orderId: 'o-1',
  customer: { id: 'c-7', email: 'ann.lee@example.com' },
  items: [{ sku: 'sku-1' }, { sku: 'sku-2' }],
};

const ExampleSchema = z.object({
  orderId: z.string(),
  customer: z.object({ id: z.string(), email: z.email().meta({ pii: true }) }),
  items: z.array(z.object({ sku: z.string() })),
});

function text(bytes: Uint8Array | null | undefined): string {
  return Buffer.from(bytes ?? new Uint8Array()).toString('utf8');
}

function codecWith(current: string, keys: Record<string, string>): EncryptionCodec {
  return new EncryptionCodec(parseKeyring({ current, keys }));
}

test('keyring: parses the JSON text of JOBLEDGER_CODEC_KEYS and the object itself', () => {
  const fromText = parseKeyring(JSON.stringify({ current: 'k2', keys: { k1: K1, k2: K2 } }));
  const fromObject = parseKeyring({ current: 'k2', keys: { k1: K1, k2: K2 } });
  for (const keyring of [fromText, fromObject]) {
    assert.equal(keyring.currentId, 'k2');
    assert.deepEqual(keyring.ids().sort(), ['k1', 'k2']);
    assert.deepEqual(keyring.current().key, Buffer.from(K2, 'base64'));
    assert.deepEqual(keyring.get('k1'), Buffer.from(K1, 'base64'));
  }
  const fromEnv = keyringFromEnv({ JOBLEDGER_CODEC_KEYS: JSON.stringify({ current: 'k1', keys: { k1: K1 } }) });
  assert.equal(fromEnv.currentId, 'k1');
});

test('keyring: bad configuration throws CodecConfigError with the zod issues and no key material', () => {
  const shortKey = Buffer.alloc(16, 7).toString('base64');
  const cases: Array<{ config: unknown; path: string }> = [
    { config: '{not json', path: '' },
    { config: { current: 'k3', keys: { k1: K1 } }, path: 'current' },
    { config: { current: 'k1', keys: { k1: shortKey } }, path: 'keys.k1' },
    { config: { current: 'k1', keys: { k1: 'not base64!' } }, path: 'keys.k1' },
    { config: { keys: { k1: K1 } }, path: 'current' },
    { config: { current: 'k1' }, path: 'keys' },
    { config: [], path: '' },
  ];
  for (const { config, path } of cases) {
    assert.throws(
      () => parseKeyring(config),
      (err: unknown) => {
        assert.ok(err instanceof CodecConfigError, `${JSON.stringify(config)} gives a CodecConfigError`);
        assert.equal(err.name, 'CodecConfigError');
        assert.ok(err.issues.length > 0);
        assert.ok(
          err.issues.some((issue) => issue.path.join('.') === path),
          `issue at '${path}' in ${JSON.stringify(err.issues)}`,
        );
        assert.ok(!err.message.includes(shortKey) && !err.message.includes(K1), 'the message holds no key material');
        return true;
      },
    );
  }
  assert.throws(() => keyringFromEnv({}), CodecConfigError);
});

test('codec: encode then decode gives back the original payload, marked binary/encrypted with the key id', async () => {
  const codec = codecWith('k2', { k1: K1, k2: K2 });
  const original = defaultPayloadConverter.toPayload(ORDER);
  const [encoded] = await codec.encode([original]);
  assert.ok(encoded);
  assert.equal(text(encoded.metadata?.encoding), ENCRYPTED_ENCODING);
  assert.equal(text(encoded.metadata?.['encryption-key-id']), 'k2');
  assert.deepEqual(Object.keys(encoded.metadata ?? {}).sort(), ['encoding', 'encryption-key-id']);
  assert.ok(isEncrypted(encoded));

  const [decoded] = await codec.decode([encoded]);
  assert.ok(decoded);
  assert.equal(text(decoded.metadata?.encoding), 'json/plain');
  assert.deepEqual(Buffer.from(decoded.data!), Buffer.from(original.data!));
  assert.deepEqual(defaultPayloadConverter.fromPayload(decoded), ORDER);

  // data = iv (12) || ciphertext || tag (16), and the plaintext is the serialized Payload.
  const serialized = temporal.api.common.v1.Payload.encode(original).finish();
  assert.equal(encoded.data!.length, 12 + serialized.length + 16);
  assert.deepEqual(await codec.encode([]), []);
});

test('codec: the ciphertext does not contain the plaintext bytes, and each encoding uses a fresh IV', async () => {
  const codec = codecWith('k1', { k1: K1 });
  const original = defaultPayloadConverter.toPayload(ORDER);
  const [first] = await codec.encode([original]);
  const [second] = await codec.encode([original]);
  const data = Buffer.from(first!.data!);
  for (const clear of [Buffer.from(original.data!), Buffer.from(ORDER.customer.email), Buffer.from('json/plain'), Buffer.from('o-1')]) {
    assert.equal(data.indexOf(clear), -1, `ciphertext must not contain '${clear.toString('utf8').slice(0, 40)}'`);
  }
  assert.notDeepEqual(Buffer.from(first!.data!.subarray(0, 12)), Buffer.from(second!.data!.subarray(0, 12)), 'IVs differ');
  assert.notDeepEqual(Buffer.from(first!.data!), Buffer.from(second!.data!));
});

test('codec: tampered or truncated ciphertext fails to decode with PayloadDecryptionError (GCM authentication)', async () => {
  const codec = codecWith('k1', { k1: K1 });
  const [encoded] = await codec.encode([defaultPayloadConverter.toPayload(ORDER)]);
  const length = encoded!.data!.length;
  // One flipped byte in the IV, in the ciphertext, and in the tag.
  for (const index of [3, 12 + 5, length - 1]) {
    const data = Buffer.from(encoded!.data!);
    data[index]! ^= 0x01;
    await assert.rejects(codec.decode([{ ...encoded!, data }]), PayloadDecryptionError, `byte ${index} flipped`);
  }
  await assert.rejects(codec.decode([{ ...encoded!, data: encoded!.data!.subarray(0, 20) }]), PayloadDecryptionError);
  // The same key id but other key bytes: also an authentication failure.
  await assert.rejects(codecWith('k1', { k1: K2 }).decode([encoded!]), PayloadDecryptionError);
});

test('codec: rotation: a payload encoded with k1 still decodes after current becomes k2, and new payloads use k2', async () => {
  const before = codecWith('k1', { k1: K1 });
  const after = codecWith('k2', { k1: K1, k2: K2 });
  const oldValue = { note: 'written before rotation' };
  const newValue = { note: 'written after rotation' };

  const [old] = await before.encode([defaultPayloadConverter.toPayload(oldValue)]);
  assert.equal(text(old!.metadata?.['encryption-key-id']), 'k1');
  const [fresh] = await after.encode([defaultPayloadConverter.toPayload(newValue)]);
  assert.equal(text(fresh!.metadata?.['encryption-key-id']), 'k2');

  const decoded = await after.decode([old!, fresh!]);
  assert.deepEqual(decoded.map((payload) => defaultPayloadConverter.fromPayload(payload)), [oldValue, newValue]);
  // A process still on the old ring cannot read the new payload, and says which key it lacks.
  await assert.rejects(before.decode([fresh!]), (err: unknown) => err instanceof UnknownKeyIdError && err.keyId === 'k2');
});

test('codec: an unknown key id is an UnknownKeyIdError naming the id', async () => {
  const [encoded] = await codecWith('k9', { k9: K1 }).encode([defaultPayloadConverter.toPayload('hello')]);
  await assert.rejects(codecWith('k1', { k1: K1 }).decode([encoded!]), (err: unknown) => {
    assert.ok(err instanceof UnknownKeyIdError);
    assert.equal(err.name, 'UnknownKeyIdError');
    assert.equal(err.keyId, 'k9');
    assert.deepEqual(err.knownKeyIds, ['k1']);
    return true;
  });
  assert.throws(() => new Keyring('k2', { k1: Buffer.from(K1, 'base64') }), UnknownKeyIdError);
});

test('defect 9.8: decode refuses payloads that are not encrypted (UnencryptedPayloadError naming the setting); allowPlaintext lets them through', async () => {
  const keyring = parseKeyring({ current: 'k1', keys: { k1: K1 } });
  const plain: Payload[] = [
    defaultPayloadConverter.toPayload({ a: 1 }),
    defaultPayloadConverter.toPayload(new Uint8Array([1, 2, 3])),
    defaultPayloadConverter.toPayload(undefined),
  ];
  const strict = new EncryptionCodec(keyring);
  for (const payload of plain) {
    await assert.rejects(strict.decode([payload]), (err: unknown) => {
      assert.ok(err instanceof UnencryptedPayloadError);
      assert.equal(err.name, 'UnencryptedPayloadError');
      assert.equal(err.encoding, text(payload.metadata?.encoding));
      assert.match(err.message, /JOBLEDGER_CODEC_ALLOW_PLAINTEXT=true/);
      return true;
    });
  }
  // One clear payload among encrypted ones is enough to refuse the batch, through the SDK's helpers too.
  const [encrypted] = await strict.encode([defaultPayloadConverter.toPayload(ORDER)]);
  await assert.rejects(strict.decode([encrypted!, plain[0]!]), UnencryptedPayloadError);
  await assert.rejects(decodeFromPayloadsAtIndex(loadDataConverter(dataConverterOptions(keyring)), 0, [plain[0]!]), UnencryptedPayloadError);

  // The migration opt-out: clear payloads pass unchanged, encrypted ones still decrypt.
  const lenient = new EncryptionCodec(keyring, { allowPlaintext: true });
  const decoded = await lenient.decode([...plain, encrypted!]);
  plain.forEach((payload, i) => assert.equal(decoded[i], payload));
  assert.deepEqual(defaultPayloadConverter.fromPayload(decoded[3]!), ORDER);

  // The setting, parsed once through the configuration schema: off by default.
  const keys = JSON.stringify({ current: 'k1', keys: { k1: K1 } });
  const codecOf = (env: NodeJS.ProcessEnv) => dataConverterFrom(loadConfig(env))!.payloadCodecs![0] as EncryptionCodec;
  assert.equal(codecOf({ JOBLEDGER_CODEC_KEYS: keys }).allowPlaintext, false);
  assert.equal(codecOf({ JOBLEDGER_CODEC_KEYS: keys, JOBLEDGER_CODEC_ALLOW_PLAINTEXT: 'true' }).allowPlaintext, true);
  assert.throws(() => loadConfig({ JOBLEDGER_CODEC_KEYS: keys, JOBLEDGER_CODEC_ALLOW_PLAINTEXT: 'sometimes' }), (err: unknown) => {
    assert.ok(err instanceof z.ZodError);
    assert.deepEqual(err.issues[0]?.path, ['JOBLEDGER_CODEC_ALLOW_PLAINTEXT']);
    return true;
  });
});

test('codec: the SDK converter helpers run payloads through the codec (JSON, binary, undefined) and back', async () => {
  const keyring = parseKeyring({ current: 'k1', keys: { k1: K1 } });
  assert.ok(dataConverterWithEncryption(keyring).payloadCodecs[0] instanceof EncryptionCodec);
  const converter = loadDataConverter(dataConverterOptions(keyring));

  const values = [ORDER, new Uint8Array([9, 8, 7]), undefined, 'plain string'] as const;
  const payloads = await encodeToPayloads(converter, ...values);
  assert.equal(payloads?.length, values.length);
  for (const payload of payloads!) {
    assert.ok(isEncrypted(payload));
    assert.equal(text(payload.metadata?.['encryption-key-id']), 'k1');
    assert.ok(!text(payload.data).includes('ann.lee'));
  }
  for (const [index, value] of values.entries()) {
    assert.deepEqual(await decodeFromPayloadsAtIndex(converter, index, payloads), value);
  }
});

test('codec: with dataConverterOptions, failure messages and stack traces are encrypted too', async () => {
  const keyring = parseKeyring({ current: 'k1', keys: { k1: K1 } });
  const converter = loadDataConverter(dataConverterOptions(keyring));
  const secret = 'card declined for ann.lee@example.com';

  const failure = await encodeErrorToFailure(converter, new Error(secret));
  assert.equal(failure.message, 'Encoded failure');
  assert.equal(failure.stackTrace, '');
  assert.ok(failure.encodedAttributes && isEncrypted(failure.encodedAttributes));
  const wire = Buffer.from(temporal.api.failure.v1.Failure.encode(failure).finish());
  assert.equal(wire.indexOf(Buffer.from('ann.lee')), -1, 'the serialized failure holds no clear text');

  const error = await decodeOptionalFailureToOptionalError(converter, failure);
  assert.equal(error?.message, secret);
  assert.match(error?.stack ?? '', /codec\.test\.ts/);

  // Without the failure converter, the message would be in clear text: that is why both are exported.
  const codecOnly = loadDataConverter(dataConverterWithEncryption(keyring));
  assert.equal((await encodeErrorToFailure(codecOnly, new Error(secret))).message, secret);
});

test('piiPathsOf: the example schema gives [["customer","email"]], and so does order.fulfill', () => {
  assert.deepEqual(piiPathsOf(ExampleSchema), [['customer', 'email']]);
  assert.deepEqual(piiPathsOf(OrderInput), [['customer', 'email']]);
  assert.deepEqual(piiPathsOf(z.object({ a: z.string().meta({ pii: false }) })), []);
});

test('piiPathsOf: looks through nested objects, optional/nullable/default wrappers, arrays and records', () => {
  const schema = z.object({
    orderId: z.string(),
    // meta inside the wrapper, and meta on the wrapper itself
    phone: z.string().meta({ pii: true }).optional(),
    fax: z.string().optional().meta({ pii: true }),
    shipping: z
      .object({
        name: z.string().meta({ pii: true }),
        address: z.object({ street: z.string().meta({ pii: true }), country: z.string() }).nullable(),
      })
      .default({ name: 'n/a', address: null }),
    items: z.array(z.object({ sku: z.string(), giftNote: z.string().meta({ pii: true }).optional() })),
    contacts: z.record(z.string(), z.object({ email: z.email().meta({ pii: true }) })),
    // a whole object marked PII is one path; its own fields are not listed
    billing: z.object({ iban: z.string().meta({ pii: true }), bic: z.string() }).meta({ pii: true }),
  });
  assert.deepEqual(piiPathsOf(schema), [
    ['phone'],
    ['fax'],
    ['shipping', 'name'],
    ['shipping', 'address', 'street'],
    ['items', '*', 'giftNote'],
    ['contacts', '*', 'email'],
    ['billing'],
  ]);
});

test('maskPii: masks the PII paths with "***", leaves the rest intact and the input unmodified', () => {
  const value = {
    ...ORDER,
    items: [{ sku: 'sku-1', giftNote: 'for Ann' }, { sku: 'sku-2' }],
    billing: { iban: 'DE00', bic: 'X' },
  };
  const before = structuredClone(value);
  const masked = maskPii(value, [['customer', 'email'], ['items', '*', 'giftNote'], ['billing'], ['absent', 'field']]);
  assert.deepEqual(masked, {
    orderId: 'o-1',
    customer: { id: 'c-7', email: MASK },
    items: [{ sku: 'sku-1', giftNote: MASK }, { sku: 'sku-2' }],
    billing: MASK,
  });
  assert.deepEqual(value, before, 'the input is not modified');
  assert.equal(MASK, '***');

  // With the paths read from the schema.
  assert.deepEqual(maskPii(ORDER, piiPathsOf(ExampleSchema)), { ...ORDER, customer: { id: 'c-7', email: '***' } });
  // Values that do not have the shape of the paths pass through.
  assert.equal(maskPii('text', [['customer', 'email']]), 'text');
  assert.deepEqual(maskPii({ customer: null }, [['customer', 'email']]), { customer: null });
  assert.deepEqual(maskPii({ items: 'none' }, [['items', '*', 'sku']]), { items: 'none' });
});
