/**
 * The one mapping from thrown errors to the error taxonomy (common/errors.ts). Every step failure leaves
 * its activity as an `ApplicationFailure` whose type is the class name, non-retryable for permanent
 * classes, with root-cause details (dependency, HTTP status) and the remediation hint.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { ZodError } from 'zod';
import { ERROR_CLASSES, ErrorClass } from '../common/errors';
import type { StepRetryPlan } from '../common/types';
import { JobValidationError } from '../jobs/submission';
import { LedgerUnavailableError, StepInProgressError, StepInputConflictError } from '../ledger';
import { ProviderHttpError, ProviderUnavailableError } from '../examples/sandbox/client';
import { CircuitOpenError, jitteredDelayMs, retryAfterDelayMs } from '../resilience';

/** A step asked for a downstream service the worker was not given. Classified `Configuration`: permanent. */
export class ServiceNotConfiguredError extends Error {
  override readonly name = 'ServiceNotConfiguredError';
  constructor(
    readonly service: string,
    readonly variable: string,
  ) {
    super(`downstream service '${service}' is not configured on this worker: set ${variable}`);
  }
}

export interface FailureDetails {
  errorClass: ErrorClass;
  /** The dependency's circuit state when the step failed. */
  circuit?: string;
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
  if (err instanceof CircuitOpenError) return { errorClass: ErrorClass.CircuitOpen, dependency: err.dependency, retryAfterMs: err.retryInMs };
  if (err instanceof ZodError || err instanceof JobValidationError) return { errorClass: ErrorClass.Validation };
  if (err instanceof StepInProgressError) return { errorClass: ErrorClass.StepInProgress };
  if (err instanceof ServiceNotConfiguredError) return { errorClass: ErrorClass.Configuration, dependency: err.service };
  // The ledger is a dependency like any other: a missing, replaced or locked file is transient.
  if (err instanceof LedgerUnavailableError) return { errorClass: ErrorClass.DependencyUnavailable, dependency: 'ledger' };
  if (err instanceof StepInputConflictError) return { errorClass: ErrorClass.IdempotencyConflict };
  if (err instanceof ApplicationFailure && err.type && err.type in ERROR_CLASSES) return { errorClass: err.type as ErrorClass };
  return { errorClass: ErrorClass.Internal };
}

/** How much a Retry-After or circuit cool-down is stretched at most, as a fraction of it (see toApplicationFailure). */
export const WAIT_SPREAD = 0.25;

/** Where a failure happened, to fill in its details and pick its retry delay. */
export interface FailureScope {
  attempt?: number;
  /** State of the dependency's circuit breaker after the failure. */
  circuit?: string;
  /** The step's retry policy: with it, transient failures get a jittered `nextRetryDelay`. */
  retry?: StepRetryPlan;
}

/** The `ApplicationFailure` a step throws for `err`. */
export function toApplicationFailure(err: unknown, scope: FailureScope = {}): ApplicationFailure {
  const { errorClass, dependency, httpStatus, retryAfterMs } = classify(err);
  const info = ERROR_CLASSES[errorClass];
  const { attempt, retry } = scope;
  // Temporal's backoff has no jitter: transient failures carry their own jittered delay instead.
  const jittered =
    info.kind !== 'permanent' && retry && attempt !== undefined
      ? jitteredDelayMs({ attempt, initialIntervalMs: retry.initialIntervalMs, backoffCoefficient: retry.backoffCoefficient, maximumIntervalMs: retry.maximumIntervalMs })
      : undefined;
  // A wait the dependency asked for (Retry-After) or its open circuit imposes ends at the same moment for
  // every job that failed together: stretched by a random factor in [1, 1 + WAIT_SPREAD], they return spread out.
  const spreadWait = retryAfterMs === undefined ? undefined : Math.floor(retryAfterMs * (1 + WAIT_SPREAD * Math.random()));
  const nextRetryDelay = jittered === undefined ? retryAfterMs : retryAfterDelayMs(spreadWait, jittered);
  const details: FailureDetails = {
    errorClass,
    ...(attempt !== undefined && { attempt }),
    ...(dependency !== undefined && { dependency }),
    ...(scope.circuit !== undefined && { circuit: scope.circuit }),
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
    ...(nextRetryDelay !== undefined && { nextRetryDelay }),
    ...(err instanceof Error && { cause: err }),
  });
}
