/**
 * Canonical JSON and hashing. Two inputs that mean the same thing (same keys in another order, 1 and 1.0)
 * produce the same text and so the same SHA-256, which is what input hashes and default idempotency keys
 * are built from.
 */
import { createHash } from 'node:crypto';

/**
 * JSON with object keys sorted at every level and numbers in JavaScript's shortest round-trip form.
 * `known` holds texts already made for some of the objects inside `value` (by identity), so a part that
 * is both hashed on its own and written inside a larger value is made once.
 */
export function canonicalJson(value: unknown, known?: ReadonlyMap<object, string>): string {
  return value === undefined ? 'null' : write(value, known);
}

/** One value's canonical text, appended to one string in loops: this runs over whole histories. */
function write(value: unknown, known: ReadonlyMap<object, string> | undefined): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError('non-finite number in input');
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object': {
      if (value === null) return 'null';
      const made = known?.get(value);
      if (made !== undefined) return made;
      if (Array.isArray(value)) {
        let text = '[';
        for (let i = 0; i < value.length; i++) {
          if (i > 0) text += ',';
          const item: unknown = value[i];
          text += item === undefined ? 'null' : write(item, known);
        }
        return `${text}]`;
      }
      const record = value as Record<string, unknown>;
      let text = '{';
      for (const key of sortedKeys(record)) {
        const item = record[key];
        if (item === undefined) continue;
        if (text.length > 1) text += ',';
        text += quotedKey(key) + write(item, known);
      }
      return `${text}}`;
    }
    default:
      return JSON.stringify(value);
  }
}

/** The object's own keys in code-unit order (the order `<` gives); most objects already come sorted. */
function sortedKeys(record: Record<string, unknown>): string[] {
  const keys = Object.keys(record);
  for (let i = 1; i < keys.length; i++) if (keys[i - 1]! > keys[i]!) return keys.sort();
  return keys;
}

/** Keys repeat across a history (eventId, eventTime, ...): each one's quoted form is made once. */
const quotedKeys = new Map<string, string>();
const QUOTED_KEYS_MAX = 10_000;

function quotedKey(key: string): string {
  let quoted = quotedKeys.get(key);
  if (quoted === undefined) {
    quoted = `${JSON.stringify(key)}:`;
    if (quotedKeys.size < QUOTED_KEYS_MAX) quotedKeys.set(key, quoted);
  }
  return quoted;
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** SHA-256 of the canonical JSON of a value. */
export function hashOf(value: unknown): string {
  return sha256Hex(canonicalJson(value));
}
