/**
 * Masking that workflow code may use too (no zod, no I/O): the mask, and free text (a failure message) masked
 * like the input. `maskPii` (codec/masking.ts) masks the input's PII fields; `maskedValues` lists what it hid,
 * and `maskText` hides those values, and every email address, in text.
 */

/** What a masked value is replaced with. */
export const MASK = '***';

/** Email addresses: masked in free text (a provider's error message, say) whether or not the input holds them. */
const EMAIL_ADDRESS = /[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/g;
/** Shorter values are not masked in free text: they would hide ordinary words. */
const MIN_TEXT_VALUE_LENGTH = 3;

/**
 * The values that masking hid: the strings and numbers of `raw` wherever `masked` (its `maskPii` copy) holds
 * `"***"`. `maskText` hides them in free text too.
 */
export function maskedValues(raw: unknown, masked: unknown): string[] {
  if (masked === MASK && raw !== MASK) return leaves(raw);
  if (Array.isArray(raw) && Array.isArray(masked)) return raw.flatMap((element, i) => maskedValues(element, masked[i]));
  if (isRecord(raw) && isRecord(masked)) return Object.keys(raw).flatMap((key) => maskedValues(raw[key], masked[key]));
  return [];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function leaves(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (typeof value === 'number' || typeof value === 'bigint') return [String(value)];
  if (Array.isArray(value)) return value.flatMap(leaves);
  if (isRecord(value)) return Object.values(value).flatMap(leaves);
  return [];
}

/**
 * Free text (a failure message) masked like the input: each of `values` (see `maskedValues`) of at least
 * three characters, and every email address, becomes `"***"`.
 */
export function maskText(text: string, values: readonly string[]): string {
  const longestFirst = [...new Set(values)].filter((v) => v.length >= MIN_TEXT_VALUE_LENGTH).sort((a, b) => b.length - a.length);
  let result = text;
  for (const value of longestFirst) result = result.split(value).join(MASK);
  return result.replace(EMAIL_ADDRESS, MASK);
}
