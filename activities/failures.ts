/**
 * The one mapping from thrown errors to the error taxonomy (common/errors.ts). Every step failure leaves
 * its activity as an `ApplicationFailure` whose type is the class name, non-retryable for permanent
 * classes, with root-cause details (dependency, HTTP status) and the remediation hint.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { ZodError } from 'zod';
import { ERROR_CLASSES, ErrorClass } from '../common/errors';
import { JobValidationError } from '../jobs/submission';
import { StepInProgressError, StepInputConflictError } from '../ledger';
import { ProviderHttpError, ProviderUnavailableError } from '../sandbox/client';

export interface FailureDetails {
  errorClass: ErrorClass;
  /** The attempt that failed. */
  attempt?: number;
  dependency?: string;
  httpStatus?: number;
  hint: string;
  runbook: string;
}

function classOfStatus(err: ProviderHttpError): ErrorClass {
  const { status } = err;
  if (status === 429) return ErrorClass.RateLimited;
  if (status === 408 || status === 504) return ErrorClass.Timeout;
  if (status === 401 || status === 403) return ErrorClass.PermissionDenied;
  if (status === 404) return ErrorClass.NotFound;
  if (status === 402) return ErrorClass.BusinessRule;
  if (status === 409) return err.errorType === 'idempotency_error' ? ErrorClass.StepInProgress : ErrorClass.BusinessRule;
  if (status >= 500) return ErrorClass.DependencyUnavailable;
  return ErrorClass.Validation;
}

/** The taxonomy class of any thrown value. */
export function classify(err: unknown): { errorClass: ErrorClass; dependency?: string; httpStatus?: number; retryAfterMs?: number } {
  if (err instanceof ProviderHttpError) {
    return {
      errorClass: classOfStatus(err),
      dependency: err.provider,
      httpStatus: err.status,
      ...(err.retryAfterMs !== undefined && { retryAfterMs: err.retryAfterMs }),
    };
  }
  if (err instanceof ProviderUnavailableError) {
    return { errorClass: err.timedOut ? ErrorClass.Timeout : ErrorClass.DependencyUnavailable, dependency: err.provider };
  }
  if (err instanceof ZodError || err instanceof JobValidationError) return { errorClass: ErrorClass.Validation };
  if (err instanceof StepInProgressError) return { errorClass: ErrorClass.StepInProgress };
  if (err instanceof StepInputConflictError) return { errorClass: ErrorClass.IdempotencyConflict };
  if (err instanceof ApplicationFailure && err.type && err.type in ERROR_CLASSES) return { errorClass: err.type as ErrorClass };
  return { errorClass: ErrorClass.Internal };
}

/** The `ApplicationFailure` a step throws for `err`. */
export function toApplicationFailure(err: unknown, attempt?: number): ApplicationFailure {
  const { errorClass, dependency, httpStatus, retryAfterMs } = classify(err);
  const info = ERROR_CLASSES[errorClass];
  const details: FailureDetails = {
    errorClass,
    ...(attempt !== undefined && { attempt }),
    ...(dependency !== undefined && { dependency }),
    ...(httpStatus !== undefined && { httpStatus }),
    hint: info.hint,
    runbook: info.runbook,
  };
  const message = err instanceof Error ? err.message : String(err);
  return ApplicationFailure.create({
    message,
    type: errorClass,
    // Permanent classes never retry; an ApplicationFailure thrown as non-retryable keeps that choice.
    nonRetryable: info.kind === 'permanent' || (err instanceof ApplicationFailure && err.nonRetryable === true),
    details: [details],
    ...(retryAfterMs !== undefined && { nextRetryDelay: retryAfterMs }),
    ...(err instanceof Error && { cause: err }),
  });
}
