/**
 * Admission checks: a job definition must satisfy organisational policy before a worker or client may run
 * it. `checkDefinitions` lists every violation (input schema and PII classification, bounded strict input
 * schemas, bounded retries and timeouts, idempotency keys on side effects, compensations, no PII in search
 * attributes or keys, unique well-formed names); `assertAdmissible` throws an `AdmissionError` carrying that list. The checks read the
 * definitions only: nothing is run.
 */
import { z } from 'zod';
import { JOB_TYPE_PATTERN } from '../common/constants';
import { piiPathsOf } from '../codec/masking';
import type { JobDefinition, StepDefinition } from './define';

export const RULES = [
  'input-schema-missing',
  'input-schema-not-object',
  'version-invalid',
  'field-unclassified',
  'string-unbounded',
  'array-unbounded',
  'record-unbounded',
  'object-not-strict',
  'retry-unbounded',
  'timeout-missing',
  'side-effect-without-key',
  'reversible-without-compensation',
  'pii-in-search-attribute',
  'pii-in-key',
  'duplicate-type',
  'duplicate-step',
  'name-invalid',
] as const;
export type RuleId = (typeof RULES)[number];

/**
 * One broken rule. `path` says where in the definition: an input field's dotted path (`customer.email`,
 * `items.*.sku`, `*` for array elements and record values), `steps.<name>`, `steps.<name>.compensate`,
 * `searchAttributes.<Name>`, `key` or `type`.
 */
export type Violation = { jobType: string; version: number; rule: RuleId; path?: string; message: string };

export const TYPE_NAME = JOB_TYPE_PATTERN;
export const STEP_NAME = /^[a-z][a-z0-9-]*$/;

/** Fields of definitions that `define.ts` does not type yet; read untyped until it does. */



export class AdmissionError extends Error {
  override name = 'AdmissionError';
  constructor(readonly violations: readonly Violation[]) {
    super(`job definitions are not admissible (${violations.length} violation${violations.length === 1 ? '' : 's'}):\n${formatViolations(violations)}`);
  }
}

/** Throws an `AdmissionError` listing every violation, if there is any. */
export function assertAdmissible(definitions: readonly JobDefinition[]): void {
  const violations = checkDefinitions(definitions);
  if (violations.length > 0) throw new AdmissionError(violations);
}

/** One line per violation: `- order.fulfill v1 [field-unclassified] amount: ...`. */
export function formatViolations(violations: readonly Violation[]): string {
  return violations.map((v) => `- ${v.jobType} v${v.version} [${v.rule}]${v.path ? ` ${v.path}` : ''}: ${v.message}`).join('\n');
}

/** Every policy violation of the definitions, in definition order. An empty list means all are admissible. */
export function checkDefinitions(definitions: readonly JobDefinition[]): Violation[] {
  const violations: Violation[] = [];
  const seenTypes = new Set<string>();
  for (const definition of definitions) {
    const report = (rule: RuleId, path: string | undefined, message: string) =>
      violations.push({ jobType: definition.type, version: definition.version, rule, ...(path !== undefined && { path }), message });
    if (seenTypes.has(definition.type)) report('duplicate-type', 'type', `job type '${definition.type}' is defined more than once`);
    seenTypes.add(definition.type);
    checkJob(definition, report);
  }
  return violations;
}

type Report = (rule: RuleId, path: string | undefined, message: string) => void;

function checkJob(definition: JobDefinition, report: Report): void {
  if (!TYPE_NAME.test(definition.type)) report('name-invalid', 'type', `type '${definition.type}' must be lower-case words joined by dots, e.g. order.fulfill`);
  if (!Number.isInteger(definition.version) || definition.version < 1) report('version-invalid', undefined, `version ${definition.version} must be a positive integer`);
  const piiPaths = checkInput(definition.input, report);
  checkSteps(definition.steps ?? [], report);
  if (piiPaths) {
    checkSearchAttributes(definition, piiPaths, report);
    checkKey(definition.key, piiPaths, report);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Input schema: a zod object whose every leaf field says whether it is PII.

const WRAPPERS = new Set(['optional', 'nullable', 'default', 'prefault', 'nonoptional', 'readonly', 'catch']);

/** The PII paths of the input, or undefined if there is no usable schema. */
function checkInput(input: unknown, report: Report): string[][] | undefined {
  if (!(input instanceof z.ZodType)) {
    report('input-schema-missing', 'input', 'the input schema is missing (it must be a zod object)');
    return undefined;
  }
  if (input._zod.def.type !== 'object') {
    report('input-schema-not-object', 'input', `the input schema is a zod ${input._zod.def.type}, not a zod object`);
    return undefined;
  }
  const unclassified = new Set<string>();
  for (const [key, field] of Object.entries((input._zod.def as z.core.$ZodObjectDef).shape)) collectUnclassified(field, [key], false, unclassified);
  for (const path of unclassified) report('field-unclassified', path, `field '${path}' has no .meta({ pii: true | false })`);
  const unbounded = new Map<string, { rule: RuleId; path: string; message: string }>();
  collectUnbounded(input, [], unbounded);
  for (const { rule, path, message } of unbounded.values()) report(rule, path, message);
  return piiPathsOf(input);
}

function piiMark(schema: z.core.$ZodType): boolean | undefined {
  const pii = z.globalRegistry.get(schema)?.pii;
  return typeof pii === 'boolean' ? pii : undefined;
}

/**
 * Adds the dotted path of every unclassified leaf under `schema`. A mark may sit on the field or on any of
 * its wrappers (optional, nullable, default...). `pii: true` covers the whole field (it is masked whole).
 * `pii: false` on an array, record or union covers its elements, but not the properties of an object
 * inside it: each property carries its own mark, so a property added later cannot slip through.
 */
function collectUnclassified(schema: z.core.$ZodType, path: string[], markedAbove: boolean, out: Set<string>): void {
  let inner = schema;
  let mark = piiMark(inner);
  while (WRAPPERS.has(inner._zod.def.type)) {
    inner = (inner._zod.def as z.core.$ZodOptionalDef).innerType;
    mark ??= piiMark(inner);
  }
  if (mark === true) return;
  const marked = markedAbove || mark === false;
  const def = inner._zod.def;
  switch (def.type) {
    case 'object':
      for (const [key, field] of Object.entries((def as z.core.$ZodObjectDef).shape)) collectUnclassified(field, [...path, key], false, out);
      return;
    case 'array':
      return collectUnclassified((def as z.core.$ZodArrayDef).element, [...path, '*'], marked, out);
    case 'record':
      return collectUnclassified((def as z.core.$ZodRecordDef).valueType, [...path, '*'], marked, out);
    case 'union':
      for (const option of (def as z.core.$ZodUnionDef).options) collectUnclassified(option, path, marked, out);
      return;
    case 'intersection':
      collectUnclassified((def as z.core.$ZodIntersectionDef).left, path, marked, out);
      collectUnclassified((def as z.core.$ZodIntersectionDef).right, path, marked, out);
      return;
    case 'pipe':
      return collectUnclassified((def as z.core.$ZodPipeDef).in, path, marked, out);
    default: {
      // A leaf. An array of strings is reported as `tags`, not `tags.*`.
      if (marked) return;
      out.add(withoutTrailingStars(path).join('.'));
    }
  }
}

/** Checks that set a maximum length (strings, arrays) or size (sets). */
const MAXIMUM_CHECKS = new Set(['max_length', 'length_equals', 'max_size', 'size_equals']);

function hasMaximum(schema: z.core.$ZodType): boolean {
  return (schema._zod.def.checks ?? []).some((check) => MAXIMUM_CHECKS.has(check._zod.def.check));
}

/**
 * Adds a violation for every string without a maximum length, array or set without a maximum size, record
 * or map with open keys, and object that is not strict (unknown fields must be rejected, not silently
 * dropped), keyed by rule and path. The root object's path is `input`; `*` stands for elements and values.
 * `z.unknown()` and `z.any()` are not flagged: the whole input is still bounded (`MAX_INPUT_BYTES`).
 */
function collectUnbounded(schema: z.core.$ZodType, path: string[], out: Map<string, { rule: RuleId; path: string; message: string }>): void {
  let inner = schema;
  while (WRAPPERS.has(inner._zod.def.type)) inner = (inner._zod.def as z.core.$ZodOptionalDef).innerType;
  const def = inner._zod.def;
  const where = path.join('.') || 'input';
  const add = (rule: RuleId, message: string) => out.set(`${rule} ${where}`, { rule, path: where, message });
  switch (def.type) {
    case 'string':
      if (!hasMaximum(inner)) add('string-unbounded', `string '${where}' has no maximum length; add .max(n)`);
      return;
    case 'array':
      if (!hasMaximum(inner)) add('array-unbounded', `array '${where}' has no maximum size; add .max(n)`);
      return collectUnbounded((def as z.core.$ZodArrayDef).element, [...path, '*'], out);
    case 'set':
      if (!hasMaximum(inner)) add('array-unbounded', `set '${where}' has no maximum size; add .max(n)`);
      return collectUnbounded((def as z.core.$ZodSetDef).valueType, [...path, '*'], out);
    case 'record':
    case 'map': {
      const { keyType, valueType } = def as z.core.$ZodRecordDef | z.core.$ZodMapDef;
      if (!['enum', 'literal'].includes(keyType._zod.def.type)) {
        add('record-unbounded', `${def.type} '${where}' accepts any key; use an enum or literal key, or an array with .max(n)`);
      }
      return collectUnbounded(valueType, [...path, '*'], out);
    }
    case 'object': {
      const { shape, catchall } = def as z.core.$ZodObjectDef;
      if (catchall?._zod.def.type !== 'never') add('object-not-strict', `object '${where}' is not strict; unknown fields are dropped or kept instead of rejected: use z.strictObject`);
      for (const [key, field] of Object.entries(shape)) collectUnbounded(field, [...path, key], out);
      return;
    }
    case 'tuple': {
      const { items, rest } = def as z.core.$ZodTupleDef;
      items.forEach((item, i) => collectUnbounded(item, [...path, String(i)], out));
      if (rest) add('array-unbounded', `tuple '${where}' has a rest element; its size has no maximum`);
      return;
    }
    case 'union':
      for (const option of (def as z.core.$ZodUnionDef).options) collectUnbounded(option, path, out);
      return;
    case 'intersection':
      collectUnbounded((def as z.core.$ZodIntersectionDef).left, path, out);
      collectUnbounded((def as z.core.$ZodIntersectionDef).right, path, out);
      return;
    case 'pipe':
      return collectUnbounded((def as z.core.$ZodPipeDef).in, path, out);
    default:
      return;
  }
}

function withoutTrailingStars(path: readonly string[]): string[] {
  let end = path.length;
  while (end > 0 && path[end - 1] === '*') end--;
  return path.slice(0, end);
}

// ---------------------------------------------------------------------------------------------------------
// Steps: names, bounded retries, timeouts on downstream calls, idempotency keys, compensations.

/**
 * Heuristic for "passes `ctx.stepKey` downstream": the function's source text mentions
 * `stepKey`, or calls the project's `call(...)` / `callProvider(...)` helpers, which send it as the
 * `Idempotency-Key` header. It reads source text, so it can be fooled both ways (a comment mentioning the
 * key, a helper under another name); it catches the common mistake of a downstream call without a key.
 */
const USES_IDEMPOTENCY_KEY = /\bstepKey\b|\b(?:call|callProvider)\s*(?:<[^>]*>)?\s*\(/;

function usesIdempotencyKey(run: unknown): boolean {
  return typeof run === 'function' && USES_IDEMPOTENCY_KEY.test(run.toString());
}

function checkSteps(steps: readonly StepDefinition<unknown>[], report: Report): void {
  const names = new Set<string>();
  const checkName = (name: string, path: string, what: string) => {
    if (!STEP_NAME.test(name)) report('name-invalid', path, `${what} name '${name}' must match ${STEP_NAME}`);
    if (names.has(name)) report('duplicate-step', path, `${what} name '${name}' is used more than once in the job (steps and compensations share one namespace)`);
    names.add(name);
  };

  for (const step of steps) {
    const path = `steps.${step.name}`;
    checkName(step.name, path, 'step');
    checkRetry(step, path, report);
    if (step.dependency !== undefined) {
      if (step.startToCloseTimeout === undefined) report('timeout-missing', path, `step calls '${step.dependency}' but sets no startToCloseTimeout`);
      if (!usesIdempotencyKey(step.run)) report('side-effect-without-key', path, `step calls '${step.dependency}' without ctx.stepKey`);
    }
    if (step.reversible === true && !step.compensate) report('reversible-without-compensation', path, 'step is marked reversible but declares no compensate');

    const compensation = step.compensate;
    if (compensation) {
      const compensationPath = `${path}.compensate`;
      checkName(compensation.name, compensationPath, 'compensation');
      // Compensations have a fixed, bounded retry policy (COMPENSATION_RETRY) and no timeout fields of their own.
      if (compensation.dependency !== undefined && !usesIdempotencyKey(compensation.run)) {
        report('side-effect-without-key', compensationPath, `compensation '${compensation.name}' calls '${compensation.dependency}' without ctx.stepKey`);
      }
    }
  }
}

/**
 * Retries must be bounded. Omitted `maxAttempts` takes the bounded default. 0 and Infinity mean "retry
 * forever" to Temporal and are accepted only with an explicit `scheduleToCloseTimeout` (an expiry across
 * all attempts); a negative or fractional count is never valid.
 */
function checkRetry(step: StepDefinition<unknown>, path: string, report: Report): void {
  const attempts = step.retry?.maxAttempts;
  if (attempts === undefined || (Number.isInteger(attempts) && attempts >= 1)) return;
  const forever = attempts === 0 || attempts === Number.POSITIVE_INFINITY;
  if (forever && step.scheduleToCloseTimeout !== undefined) return;
  report(
    'retry-unbounded',
    path,
    forever
      ? `retry.maxAttempts ${attempts} retries forever; use a whole number >= 1 or set scheduleToCloseTimeout`
      : `retry.maxAttempts ${attempts} must be a whole number >= 1`,
  );
}

// ---------------------------------------------------------------------------------------------------------
// Integrity: PII never reaches search attributes (visible to every operator) or the key (in the job id).

/** True if one path is the other or lies inside it: a mapping of `customer` exposes `customer.email`. */
function overlaps(a: readonly string[], b: readonly string[]): boolean {
  const n = Math.min(a.length, b.length);
  return a.slice(0, n).every((segment, i) => segment === b[i] || segment === '*' || b[i] === '*');
}

function checkSearchAttributes(definition: JobDefinition, piiPaths: string[][], report: Report): void {
  for (const [attribute, inputPath] of Object.entries(definition.searchAttributes ?? {})) {
    const pii = piiPaths.find((piiPath) => overlaps(inputPath.split('.'), piiPath));
    if (pii) report('pii-in-search-attribute', `searchAttributes.${attribute}`, `search attribute ${attribute} is fed from '${inputPath}', which holds PII field '${pii.join('.')}'`);
  }
}

/**
 * Heuristic: the key function's source text must not name a PII field (the last named segment of its path,
 * e.g. `email`). Running the key on a synthetic input would be more precise but needs valid sample data for
 * every schema. A false alarm (the word in a string literal) is cheap to fix; a key built from PII through a
 * helper is missed.
 */
function checkKey(key: unknown, piiPaths: string[][], report: Report): void {
  if (typeof key !== 'function') return;
  const source = key.toString();
  for (const piiPath of piiPaths) {
    const field = withoutTrailingStars(piiPath).at(-1);
    if (field && new RegExp(`\\b${escapeRegExp(field)}\\b`).test(source)) {
      report('pii-in-key', 'key', `the key function reads PII field '${piiPath.join('.')}'; the key is part of the job id`);
    }
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
