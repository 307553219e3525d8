/**
 * The keyring of the payload encryption codec: named AES-256 keys and the id of the one new payloads
 * are encrypted with. It is parsed with zod from `JOBLEDGER_CODEC_KEYS`. Rotation works by adding a
 * key and pointing `current` at it. Old payloads name their key id, so they still decrypt as long as
 * their key stays in the ring. Errors never include key material.
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';

/** Length of an AES-256 key in bytes. */
export const KEY_BYTES = 32;

/** The configuration of the keyring is missing or invalid. `issues` is zod's issue list (no key bytes in it). */
export class CodecConfigError extends Error {
  override readonly name = 'CodecConfigError';
  constructor(
    message: string,
    readonly issues: z.core.$ZodIssue[],
  ) {
    super(`${message}: ${issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; ')}`);
  }
}

/** A payload names a key id the keyring does not hold (removed too early, or another keyring). */
export class UnknownKeyIdError extends Error {
  override readonly name = 'UnknownKeyIdError';
  constructor(
    readonly keyId: string,
    readonly knownKeyIds: string[],
  ) {
    super(`payload was encrypted with key '${keyId}', which is not in the keyring (known: ${knownKeyIds.join(', ') || '(none)'})`);
  }
}

const KeyId = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'key ids are 1-64 characters of A-Z a-z 0-9 . _ -');

/** A standard base64 string that decodes to exactly 32 bytes. */
const Key = z
  .base64('expected a base64 string')
  .transform((text) => Buffer.from(text, 'base64'))
  .refine((bytes) => bytes.length === KEY_BYTES, `expected ${KEY_BYTES} bytes (AES-256) once base64-decoded`);

/** Shape of `JOBLEDGER_CODEC_KEYS`: `{ "current": "k2", "keys": { "k1": "<base64>", "k2": "<base64>" } }`. */
export const KeyringConfig = z
  .object({
    /** Id of the key new payloads are encrypted with. Must be one of `keys`. */
    current: KeyId,
    /** Every key that may still be needed to decrypt, by id. */
    keys: z.record(KeyId, Key),
  })
  .refine((config) => Object.hasOwn(config.keys, config.current), {
    message: 'current must name one of the keys',
    path: ['current'],
  });
export type KeyringConfigInput = z.input<typeof KeyringConfig>;

export class Keyring {
  private readonly keys: ReadonlyMap<string, Buffer>;

  constructor(
    /** Id of the key used to encrypt new payloads. */
    readonly currentId: string,
    keys: Record<string, Buffer>,
  ) {
    this.keys = new Map(Object.entries(keys));
    if (!this.keys.has(currentId)) throw new UnknownKeyIdError(currentId, this.ids());
  }

  /** The key that encrypts new payloads. */
  current(): { id: string; key: Buffer } {
    return { id: this.currentId, key: this.get(this.currentId) };
  }

  /** The key with this id; `UnknownKeyIdError` when the ring does not hold it. */
  get(id: string): Buffer {
    const key = this.keys.get(id);
    if (!key) throw new UnknownKeyIdError(id, this.ids());
    return key;
  }

  ids(): string[] {
    return [...this.keys.keys()];
  }
}

/**
 * A configuration value given as JSON text or already parsed. Text that is not JSON throws
 * `CodecConfigError` saying what was `expected`, never echoing the (secret) text itself.
 */
export function jsonConfig(config: string | unknown, source: string, expected: string): unknown {
  if (typeof config !== 'string') return config;
  try {
    return JSON.parse(config);
  } catch {
    throw new CodecConfigError(`${source} is not valid JSON`, [{ code: 'custom', path: [], message: `expected ${expected}`, input: undefined }]);
  }
}

/**
 * Builds a keyring from its configuration: the JSON text of `JOBLEDGER_CODEC_KEYS`, or the object
 * itself. Throws `CodecConfigError` (with the zod issues) when it is not valid JSON or not a valid keyring.
 */
export function parseKeyring(config: string | unknown, source = 'JOBLEDGER_CODEC_KEYS'): Keyring {
  const value = jsonConfig(config, source, 'a JSON object { "current": ..., "keys": { ... } }');
  const parsed = KeyringConfig.safeParse(value);
  if (!parsed.success) throw new CodecConfigError(`${source} is not a valid keyring`, parsed.error.issues);
  return new Keyring(parsed.data.current, parsed.data.keys);
}

/** The keyring of this process, from `JOBLEDGER_CODEC_KEYS`; `CodecConfigError` when it is unset or invalid. */
export function keyringFromEnv(env: NodeJS.ProcessEnv = process.env): Keyring {
  const text = env.JOBLEDGER_CODEC_KEYS;
  if (text === undefined || text.trim() === '') {
    throw new CodecConfigError('JOBLEDGER_CODEC_KEYS is not set', [
      { code: 'custom', path: [], message: 'set it to { "current": "<id>", "keys": { "<id>": "<base64 of 32 bytes>" } }', input: undefined },
    ]);
  }
  return parseKeyring(text);
}

/** A fresh random key, base64-encoded, for configuration files and tests. */
export function generateKey(): string {
  return randomBytes(KEY_BYTES).toString('base64');
}
