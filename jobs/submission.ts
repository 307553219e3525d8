/**
 * Turns a raw submission (type, input, optional key) into the job's identity: the parsed input, the
 * idempotency key, the input hash and the job id. The client calls it before starting anything; the
 * workflow's prepare step calls it again, so a job started by hand gets the same checks.
 */
import type { z } from 'zod';
import { IDEMPOTENCY_KEY_PATTERN, jobIdFor } from '../common/constants';
import { hashOf } from '../core/canonical';
import type { JobDefinition } from './define';

/** The input does not match the job type's schema. Carries zod's issue list. */
export class JobValidationError extends Error {
  override readonly name = 'JobValidationError';
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

/** The idempotency key is empty, too long or uses characters outside `[A-Za-z0-9._:@-]`. */
export class InvalidIdempotencyKeyError extends Error {
  override readonly name = 'InvalidIdempotencyKeyError';
  constructor(readonly key: string) {
    super(
      `invalid idempotency key (${key.length} chars): keys are 1-128 characters of A-Z a-z 0-9 . _ : @ -, ` +
        `starting with a letter or digit`,
    );
  }
}

export interface ResolvedSubmission {
  jobId: string;
  jobType: string;
  idempotencyKey: string;
  inputHash: string;
  input: unknown;
}

export function resolveSubmission(definition: JobDefinition, rawInput: unknown, explicitKey?: string): ResolvedSubmission {
  const parsed = definition.input.safeParse(rawInput);
  if (!parsed.success) throw new JobValidationError(definition.type, parsed.error.issues);
  const input = parsed.data;
  const inputHash = hashOf(input);
  const idempotencyKey = explicitKey ?? definition.key?.(input) ?? inputHash;
  if (!IDEMPOTENCY_KEY_PATTERN.test(idempotencyKey)) throw new InvalidIdempotencyKeyError(idempotencyKey);
  return { jobId: jobIdFor(definition.type, idempotencyKey), jobType: definition.type, idempotencyKey, inputHash, input };
}
