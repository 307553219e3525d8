/**
 * Turns a raw submission (type, input, optional key) into the job's identity: the parsed input, the
 * idempotency key, the input hash and the job id. It bounds the submission as a whole (canonical JSON of
 * the input at most `MAX_INPUT_BYTES`) and checks the keys of any child jobs the definition fans out, so
 * nothing is started that would fail later. The client calls it before starting anything; the workflow's
 * prepare step calls it again, so a job started by hand gets the same checks.
 */
import type { z } from 'zod';
import { childKey, IDEMPOTENCY_KEY_PATTERN, IDEMPOTENCY_KEY_RULE, jobIdFor, MAX_INPUT_BYTES } from '../common/constants';
import { canonicalJson, sha256Hex } from '../core/canonical';
import type { JobDefinition } from './define';

/** The input does not match the job type's schema. Carries zod's issue list. */
export class JobValidationError extends Error {
  override readonly name: string = 'JobValidationError';
  constructor(
    readonly jobType: string,
    readonly issues: z.core.$ZodIssue[],
  ) {
    super(
      `invalid input for ${jobType}: ` +
        issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; '),
    );
  }
}

/**
 * The input is larger than `MAX_INPUT_BYTES` as canonical JSON (UTF-8 bytes). A `JobValidationError` with
 * one zod-style `too_big` issue at the root, so callers that handle invalid input handle this too.
 */
export class InputTooLargeError extends JobValidationError {
  override readonly name: string = 'InputTooLargeError';
  constructor(
    jobType: string,
    readonly bytes: number,
  ) {
    super(jobType, [
      {
        code: 'too_big',
        origin: 'input',
        maximum: MAX_INPUT_BYTES,
        inclusive: true,
        path: [],
        message: `the input is ${bytes} bytes as canonical JSON; the limit is ${MAX_INPUT_BYTES}`,
      } as z.core.$ZodIssue,
    ]);
  }
}

/** The input of child job `index` does not match the child job type's schema. Issue paths start `children.<index>`. */
export class InvalidChildInputError extends JobValidationError {
  override readonly name: string = 'InvalidChildInputError';
  constructor(
    jobType: string,
    readonly childJobType: string,
    readonly childIndex: number,
    childIssues: z.core.$ZodIssue[],
  ) {
    super(jobType, childIssues.map((issue) => ({ ...issue, path: ['children', childIndex, ...issue.path] })));
  }
}

/** The idempotency key is not a string, is empty, too long or uses characters outside `[A-Za-z0-9._:@-]`. */
export class InvalidIdempotencyKeyError extends Error {
  override readonly name: string = 'InvalidIdempotencyKeyError';
  constructor(
    readonly key: unknown,
    what = 'idempotency key',
  ) {
    super(
      `invalid ${what} (${typeof key === 'string' ? `${key.length} chars` : `a ${typeof key}, not a string`}): ` +
        `keys are ${IDEMPOTENCY_KEY_RULE}`,
    );
  }
}

/**
 * A child job's derived key `<key>.part-<index>` is not a valid idempotency key: the parent's key leaves no
 * room for the suffix. Nothing is started; submit the parent under a shorter key.
 */
export class InvalidChildKeyError extends InvalidIdempotencyKeyError {
  override readonly name: string = 'InvalidChildKeyError';
  constructor(
    readonly parentKey: string,
    readonly childIndex: number,
  ) {
    super(childKey(parentKey, childIndex), `child key number ${childIndex} derived from key '${parentKey}'`);
  }
}

export interface ResolvedSubmission {
  jobId: string;
  jobType: string;
  idempotencyKey: string;
  inputHash: string;
  input: unknown;
}

/** Where child job types are looked up; `JobRegistry` is one. */
export interface DefinitionLookup {
  find(jobType: string): JobDefinition | undefined;
}

/**
 * Validates a submission and derives its identity. Throws `InputTooLargeError`, `JobValidationError`,
 * `InvalidIdempotencyKeyError`, `InvalidChildKeyError` or (when `definitions` knows the child job type)
 * `InvalidChildInputError`.
 */
export function resolveSubmission(
  definition: JobDefinition,
  rawInput: unknown,
  explicitKey?: unknown,
  definitions?: DefinitionLookup,
): ResolvedSubmission {
  // Bounded before zod sees it, and again after parsing (defaults and transforms can add to it).
  canonicalWithinLimit(definition.type, rawInput);
  const parsed = definition.input.safeParse(rawInput);
  if (!parsed.success) throw new JobValidationError(definition.type, parsed.error.issues);
  const input = parsed.data;
  const inputHash = sha256Hex(canonicalWithinLimit(definition.type, input));
  const idempotencyKey: unknown = explicitKey ?? definition.key?.(input) ?? inputHash;
  if (typeof idempotencyKey !== 'string' || !IDEMPOTENCY_KEY_PATTERN.test(idempotencyKey)) throw new InvalidIdempotencyKeyError(idempotencyKey);
  if (definition.children) checkChildren(definition, input, idempotencyKey, definitions);
  return { jobId: jobIdFor(definition.type, idempotencyKey), jobType: definition.type, idempotencyKey, inputHash, input };
}

/** The canonical JSON of `value`; `InputTooLargeError` past the limit, `JobValidationError` if it is not JSON at all. */
function canonicalWithinLimit(jobType: string, value: unknown): string {
  let text: string;
  try {
    text = canonicalJson(value);
  } catch (err) {
    // Non-finite numbers, BigInts, cycles: nothing Temporal could store either.
    throw new JobValidationError(jobType, [{ code: 'custom', path: [], message: `the input is not JSON: ${(err as Error).message}` } as z.core.$ZodIssue]);
  }
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_INPUT_BYTES) throw new InputTooLargeError(jobType, bytes);
  return text;
}

/**
 * Every child's derived key must be valid, and each child's input must fit its schema when the type is known
 * (and so on down, for children that fan out in turn).
 */
function checkChildren(definition: JobDefinition, input: unknown, key: string, definitions: DefinitionLookup | undefined): void {
  const children = definition.children!;
  const inputs = children.inputs(input);
  const childDefinition = definitions?.find(children.jobType);
  inputs.forEach((childInput, index) => {
    if (!IDEMPOTENCY_KEY_PATTERN.test(childKey(key, index))) throw new InvalidChildKeyError(key, index);
    if (!childDefinition) return;
    const parsed = childDefinition.input.safeParse(childInput);
    if (!parsed.success) throw new InvalidChildInputError(definition.type, children.jobType, index, parsed.error.issues);
    if (childDefinition.children) checkChildren(childDefinition, parsed.data, childKey(key, index), definitions);
  });
}
