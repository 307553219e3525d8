/**
 * The payload encryption codec: AES-256-GCM over the whole serialized Payload (metadata and data), so
 * Temporal stores and shows only ciphertext. An encrypted payload has the metadata
 * `encoding: binary/encrypted` and `encryption-key-id: <id>`, and its data is iv (12 bytes) ||
 * ciphertext || GCM tag (16 bytes). `EncryptionCodec.decode` refuses payloads that are not encrypted
 * (`UnencryptedPayloadError`), so a client without the keys cannot feed clear text to a worker that
 * expects ciphertext; `allowPlaintext` (`JOBLEDGER_CODEC_ALLOW_PLAINTEXT=true`) lets them through while
 * history written before encryption was turned on is still replayed.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { DataConverter, Payload, PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import type { Keyring } from './keys';

export const ENCODING_KEY = 'encoding';
export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const KEY_ID_KEY = 'encryption-key-id';

const CIPHER = 'aes-256-gcm';
const IV_BYTES = 12;
const TAG_BYTES = 16;

const ProtoPayload = temporal.api.common.v1.Payload;

/** Absolute path of the module that exports the `failureConverter` used with encryption. */
export const FAILURE_CONVERTER_PATH = require.resolve('./failure-converter');

/** An encrypted payload could not be decrypted: it was altered, truncated or encrypted with another key of the same id. */
export class PayloadDecryptionError extends Error {
  override readonly name = 'PayloadDecryptionError';
  constructor(
    readonly keyId: string,
    reason: string,
  ) {
    super(`cannot decrypt payload encrypted with key '${keyId}': ${reason}`);
  }
}

function metadataText(payload: Payload, key: string): string | undefined {
  const value = payload.metadata?.[key];
  return value ? Buffer.from(value).toString('utf8') : undefined;
}

/**
 * A payload that should have been encrypted is not: it was written by a client or tool without the codec
 * (e.g. `temporal workflow start` without `--codec-endpoint`), or before encryption was turned on.
 */
export class UnencryptedPayloadError extends Error {
  override readonly name = 'UnencryptedPayloadError';
  constructor(readonly encoding: string | undefined) {
    super(
      `refusing a payload that is not encrypted (encoding '${encoding ?? '(none)'}'): with JOBLEDGER_CODEC_KEYS set, every payload must be ` +
        `'${ENCRYPTED_ENCODING}'. Send it through a jobledger client or the codec server (--codec-endpoint); to accept clear text ` +
        'while history from before encryption is replayed, set JOBLEDGER_CODEC_ALLOW_PLAINTEXT=true',
    );
  }
}

/**
 * An encrypted payload reached a process that has no `JOBLEDGER_CODEC_KEYS`: its client encrypts and it does
 * not (two terminals with different settings, say). Without this error the SDK fails with "Unknown encoding".
 */
export class MissingCodecKeysError extends Error {
  override readonly name = 'MissingCodecKeysError';
  constructor(readonly keyId: string | undefined) {
    super(
      `cannot decode a payload encrypted with key '${keyId ?? '(none)'}': JOBLEDGER_CODEC_KEYS is not set in this process. ` +
        'Give it the same JOBLEDGER_CODEC_KEYS as the client that wrote the payload (or run every client and worker without it)',
    );
  }
}

/**
 * The codec of a process without `JOBLEDGER_CODEC_KEYS`: payloads stay clear text, and an encrypted payload is
 * refused with `MissingCodecKeysError`, which names the setting, instead of the SDK's "Unknown encoding".
 */
export class ClearTextCodec implements PayloadCodec {
  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads;
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    for (const payload of payloads) if (isEncrypted(payload)) throw new MissingCodecKeysError(metadataText(payload, KEY_ID_KEY));
    return payloads;
  }
}

/** The error classes of a payload that cannot be decoded, and the setting that decides each. */
export const DECODING_ERRORS = {
  MissingCodecKeysError: 'JOBLEDGER_CODEC_KEYS',
  UnencryptedPayloadError: 'JOBLEDGER_CODEC_KEYS',
  UnknownKeyIdError: 'JOBLEDGER_CODEC_KEYS',
  PayloadDecryptionError: 'JOBLEDGER_CODEC_KEYS',
} as const;
export type DecodingErrorClass = keyof typeof DECODING_ERRORS;

/** Whether an error class (an error's name) is one of `DECODING_ERRORS`. */
export function isDecodingError(name: string | undefined): name is DecodingErrorClass {
  return name !== undefined && Object.hasOwn(DECODING_ERRORS, name);
}

/** Options of `EncryptionCodec`. */
export interface EncryptionCodecOptions {
  /**
   * Let `decode` pass payloads that are not encrypted through unchanged, instead of throwing
   * `UnencryptedPayloadError`. Only for migrating to encryption. Default false.
   */
  allowPlaintext?: boolean;
}

/** True when the payload was produced by this codec. */
export function isEncrypted(payload: Payload): boolean {
  return metadataText(payload, ENCODING_KEY) === ENCRYPTED_ENCODING;
}

/** The `encoding` metadata of a payload, e.g. `json/plain`, or undefined. */
export function encodingOf(payload: Payload): string | undefined {
  return metadataText(payload, ENCODING_KEY);
}

export function encryptPayload(payload: Payload, keyring: Keyring): Payload {
  const { id, key } = keyring.current();
  const plaintext = ProtoPayload.encode(payload).finish();
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv(CIPHER, key, iv);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return {
    metadata: {
      [ENCODING_KEY]: Buffer.from(ENCRYPTED_ENCODING),
      [KEY_ID_KEY]: Buffer.from(id),
    },
    data: Buffer.concat([iv, ciphertext, cipher.getAuthTag()]),
  };
}

/**
 * The original payload of an encrypted one; other payloads are returned as they are.
 * Throws `UnknownKeyIdError` or `PayloadDecryptionError`.
 */
export function decryptPayload(payload: Payload, keyring: Keyring): Payload {
  if (!isEncrypted(payload)) return payload;
  const keyId = metadataText(payload, KEY_ID_KEY);
  if (!keyId) throw new PayloadDecryptionError('(none)', `metadata '${KEY_ID_KEY}' is missing`);
  const key = keyring.get(keyId);
  const data = Buffer.from(payload.data ?? new Uint8Array());
  if (data.length < IV_BYTES + TAG_BYTES) throw new PayloadDecryptionError(keyId, 'data is too short');
  const iv = data.subarray(0, IV_BYTES);
  const tag = data.subarray(data.length - TAG_BYTES);
  const ciphertext = data.subarray(IV_BYTES, data.length - TAG_BYTES);
  let plaintext: Buffer;
  try {
    const decipher = createDecipheriv(CIPHER, key, iv);
    decipher.setAuthTag(tag);
    plaintext = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  } catch {
    throw new PayloadDecryptionError(keyId, 'authentication failed (altered data or wrong key)');
  }
  let original: temporal.api.common.v1.Payload;
  try {
    original = ProtoPayload.decode(plaintext);
  } catch {
    throw new PayloadDecryptionError(keyId, 'the decrypted data is not a serialized Payload');
  }
  const decoded: Payload = { metadata: original.metadata, data: original.data };
  if (original.externalPayloads?.length) decoded.externalPayloads = original.externalPayloads;
  return decoded;
}

/**
 * A `PayloadCodec` that encrypts with the keyring's current key and decrypts with the key each payload
 * names. `decode` throws `UnknownKeyIdError` or `PayloadDecryptionError` for a payload it cannot decrypt,
 * and `UnencryptedPayloadError` for one that is not encrypted (unless `allowPlaintext`).
 */
export class EncryptionCodec implements PayloadCodec {
  readonly allowPlaintext: boolean;

  constructor(
    readonly keyring: Keyring,
    options: EncryptionCodecOptions = {},
  ) {
    this.allowPlaintext = options.allowPlaintext ?? false;
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => encryptPayload(payload, this.keyring));
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      if (!isEncrypted(payload) && !this.allowPlaintext) throw new UnencryptedPayloadError(encodingOf(payload));
      return decryptPayload(payload, this.keyring);
    });
  }
}

/**
 * The data converter option that encrypts payloads: `{ payloadCodecs: [new EncryptionCodec(keyring)] }`.
 * Give the same keyring to the client and the worker. This alone leaves failure messages and stack
 * traces in clear text; they are encoded (and so encrypted) only when the failure converter is created
 * with `encodeCommonAttributes: true` (`new DefaultFailureConverter({ encodeCommonAttributes: true })`).
 * Use `dataConverterOptions` to get both.
 */
export function dataConverterWithEncryption(keyring: Keyring, options: EncryptionCodecOptions = {}): { payloadCodecs: PayloadCodec[] } {
  return { payloadCodecs: [new EncryptionCodec(keyring, options)] };
}

/**
 * The full data converter for client and worker: the encryption codec plus `failureConverterPath`
 * pointing at `codec/failure-converter.ts`, whose `DefaultFailureConverter({ encodeCommonAttributes: true })`
 * moves failure messages and stack traces into encoded attributes, so they are encrypted too.
 * A worker that uses a prebuilt workflow bundle must pass the same `failureConverterPath` to
 * `bundleWorkflowCode`.
 */
export function dataConverterOptions(keyring: Keyring, options: EncryptionCodecOptions = {}): DataConverter {
  return { ...dataConverterWithEncryption(keyring, options), failureConverterPath: FAILURE_CONVERTER_PATH };
}
