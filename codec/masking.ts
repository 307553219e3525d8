/**
 * PII masking for the codec server's viewers. `piiPathsOf` reads a zod 4 schema and lists the JSON
 * paths of the fields marked `.meta({ pii: true })`. `maskPii` returns a copy of a JSON value with
 * the values at those paths replaced by `"***"`. A path is a list of property names; `*` stands for
 * every element of an array (or every value of a record).
 */
import { z } from 'zod';

import { MASK } from '../common/masking';

/** What a masked value is replaced with (common/masking.ts, which also masks free text: `maskText`). */
export { MASK };

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
