/**
 * PII masking for the codec server's viewers. `piiPathsOf` reads a zod 4 schema and lists the JSON
 * paths of the fields marked `.meta({ pii: true })`. `maskPii` returns a copy of a JSON value with
 * the values at those paths replaced by `"***"`. A path is a list of property names; `*` stands for
 * every element of an array (or every value of a record).
 */
import { z } from 'zod';

/** What a masked value is replaced with. */
export const MASK = '***';

/** One JSON path, e.g. `["customer", "email"]` or `["items", "*", "note"]`. */
export type JsonPath = readonly string[];

/** A copy of `value` with every value at one of `piiPaths` replaced by `"***"`. The input is not modified. */
export function maskPii<T>(value: T, piiPaths: readonly JsonPath[]): T {
  let result: unknown = value;
  for (const path of piiPaths) result = maskAt(result, path);
  return result as T;
}

function maskAt(value: unknown, path: JsonPath): unknown {
  if (path.length === 0) return MASK;
  const [head, ...rest] = path as [string, ...string[]];
  if (Array.isArray(value)) {
    if (head !== '*') return value;
    return value.map((element) => maskAt(element, rest));
  }
  if (value === null || typeof value !== 'object') return value;
  const record = value as Record<string, unknown>;
  if (head === '*') {
    return Object.fromEntries(Object.entries(record).map(([key, inner]) => [key, maskAt(inner, rest)]));
  }
  if (!Object.hasOwn(record, head) || record[head] === undefined) return value;
  return { ...record, [head]: maskAt(record[head], rest) };
}

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

function isPii(schema: z.core.$ZodType): boolean {
  return z.globalRegistry.get(schema)?.pii === true;
}

/**
 * The paths of the fields marked `.meta({ pii: true })` in a zod 4 schema. Looks through objects,
 * arrays and records (as `*`), optional, nullable, default, readonly and catch wrappers, unions,
 * intersections and pipes. A field marked PII is masked whole, so its own fields are not listed.
 * Lazy (recursive) schemas are not followed.
 */
export function piiPathsOf(schema: z.core.$ZodType): string[][] {
  const found = new Map<string, string[]>();
  collect(schema, [], found);
  return [...found.values()];
}

function collect(schema: z.core.$ZodType, path: string[], found: Map<string, string[]>): void {
  if (isPii(schema)) {
    found.set(JSON.stringify(path), path);
    return;
  }
  const def = schema._zod.def;
  switch (def.type) {
    case 'object':
      for (const [key, field] of Object.entries((def as z.core.$ZodObjectDef).shape)) collect(field, [...path, key], found);
      return;
    case 'array':
      collect((def as z.core.$ZodArrayDef).element, [...path, '*'], found);
      return;
    case 'record':
      collect((def as z.core.$ZodRecordDef).valueType, [...path, '*'], found);
      return;
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'nonoptional':
    case 'readonly':
    case 'catch':
      collect((def as z.core.$ZodOptionalDef).innerType, path, found);
      return;
    case 'union':
      for (const option of (def as z.core.$ZodUnionDef).options) collect(option, path, found);
      return;
    case 'intersection':
      collect((def as z.core.$ZodIntersectionDef).left, path, found);
      collect((def as z.core.$ZodIntersectionDef).right, path, found);
      return;
    case 'pipe':
      collect((def as z.core.$ZodPipeDef).in, path, found);
      collect((def as z.core.$ZodPipeDef).out, path, found);
      return;
    default:
      return;
  }
}
