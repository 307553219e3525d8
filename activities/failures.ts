/**
 * The one mapping from thrown errors to the error taxonomy (common/errors.ts). Every step failure leaves
 * its activity as an `ApplicationFailure` whose type is the class name, non-retryable for permanent
 * classes, with root-cause details (dependency, HTTP status) and the remediation hint.
 *
 * jobledger's own errors are known by class. Whatever else a step throws is classified by its shape, so
 * any HTTP client, fetch, Node's sockets and zod are understood without importing them:
 * - an HTTP error status (400..599) in `status`, `statusCode` or `response.status` / `response.statusCode`,
 *   with the wait a 429 or 503 asks for in `retryAfterMs` (ms), `retryAfter` (seconds or an HTTP date) or
 *   a `Retry-After` header in `headers` or `response.headers`; a 409 whose `errorType`, `type` or `code`
 *   is `idempotency_error` means another request with the same Idempotency-Key is in progress;
 * - a zod error (named `ZodError`, or any error with an `issues` list): Validation;
 * - an `AbortError` or `TimeoutError` (an `AbortSignal.timeout` firing): Timeout;
 * - a Node or undici network `code` (ECONNRESET, ECONNREFUSED, UND_ERR_SOCKET, ...): DependencyUnavailable,
 *   or Timeout for the timeout codes;
 * - fetch's `TypeError: fetch failed`: classified by its `cause`, else DependencyUnavailable.
 * A wrapped error is classified by the first error of its `cause` chain that is recognised; a string
 * `dependency` on that error names the dependency in the failure's details.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { ERROR_CLASSES, ErrorClass } from '../common/errors';
import type { StepRetryPlan } from '../common/types';
import { JobValidationError } from '../jobs/submission';
import { LedgerUnavailableError, StepInProgressError, StepInputConflictError } from '../ledger';
import { CircuitOpenError, jitteredDelayMs, parseRetryAfter, retryAfterDelayMs } from '../resilience';

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

/** What `classify` found out about a thrown value. */
export interface Classification {
  errorClass: ErrorClass;
  dependency?: string;
  httpStatus?: number;
  /** How long the dependency asked us to wait (Retry-After), or the open circuit's cool-down, in ms. */
  retryAfterMs?: number;
}

/** Node and undici error codes of a call that got no answer in time. */
const TIMEOUT_CODES: ReadonlySet<string> = new Set(['ETIMEDOUT', 'ESOCKETTIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

/**
 * Node and undici error codes of a call that got no usable answer: the dependency is down, unreachable or
 * dropped the connection. ENOTFOUND is among them: a host name that does not resolve is as often a DNS
 * outage as a typo, and transient failures are retried a bounded number of times anyway.
 */
const NETWORK_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
]);

/** How many errors of a `cause` chain are looked at. */
const MAX_CAUSES = 8;

/** `value[key]` when `value` is an object, else undefined: how the shapes of thrown values are read. */
function field(value: unknown, key: string): unknown {
  return typeof value === 'object' && value !== null ? Reflect.get(value, key) : undefined;
}

function stringField(value: unknown, key: string): string | undefined {
  const found = field(value, key);
  return typeof found === 'string' ? found : undefined;
}

const isErrorStatus = (value: unknown): value is number => typeof value === 'number' && Number.isInteger(value) && value >= 400 && value <= 599;

/** The HTTP error status a thrown value carries, if any. */
function httpStatusOf(err: unknown): number | undefined {
  const response = field(err, 'response');
  const candidates = [field(err, 'status'), field(err, 'statusCode'), field(response, 'status'), field(response, 'statusCode')];
  return candidates.find(isErrorStatus);
}

/** A header from a fetch `Headers` or a plain object of headers (any case). */
function headerOf(headers: unknown, name: string): string | undefined {
  if (headers instanceof Headers) return headers.get(name) ?? undefined;
  if (typeof headers !== 'object' || headers === null) return undefined;
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === name && (typeof value === 'string' || typeof value === 'number')) return String(value);
  }
  return undefined;
}

/** The wait an HTTP error asks for, in ms: `retryAfterMs`, `retryAfter` (seconds or HTTP date) or a Retry-After header. */
function retryAfterOf(err: unknown): number | undefined {
  const ms = field(err, 'retryAfterMs');
  if (typeof ms === 'number' && Number.isFinite(ms) && ms >= 0) return ms;
  const retryAfter = field(err, 'retryAfter');
  if (typeof retryAfter === 'number' || typeof retryAfter === 'string') return parseRetryAfter(retryAfter);
  return parseRetryAfter(headerOf(field(err, 'headers'), 'retry-after') ?? headerOf(field(field(err, 'response'), 'headers'), 'retry-after'));
}

function classOfStatus(status: number, errorType: string | undefined): ErrorClass {
  if (status === 429) return ErrorClass.RateLimited;
  if (status === 408 || status === 504) return ErrorClass.Timeout;
  if (status === 401 || status === 403) return ErrorClass.PermissionDenied;
  if (status === 404 || status === 410) return ErrorClass.NotFound;
  if (status === 402) return ErrorClass.BusinessRule;
  // Stripe's (and the IETF draft's) answer to a request whose Idempotency-Key another request still holds.
  if (status === 409) return errorType === 'idempotency_error' ? ErrorClass.StepInProgress : ErrorClass.BusinessRule;
  if (status >= 500) return ErrorClass.DependencyUnavailable;
  return ErrorClass.Validation;
}

const isErrorClass = (type: string | undefined | null): type is ErrorClass => typeof type === 'string' && Object.hasOwn(ERROR_CLASSES, type);

/** jobledger's own errors, by class. */
function ownClass(err: unknown): Classification | undefined {
  if (err instanceof CircuitOpenError) return { errorClass: ErrorClass.CircuitOpen, dependency: err.dependency, retryAfterMs: err.retryInMs };
  if (err instanceof JobValidationError) return { errorClass: ErrorClass.Validation };
  if (err instanceof StepInProgressError) return { errorClass: ErrorClass.StepInProgress };
  if (err instanceof ServiceNotConfiguredError) return { errorClass: ErrorClass.Configuration, dependency: err.service };
  // The ledger is a dependency like any other: a missing, replaced or locked file is transient.
  if (err instanceof LedgerUnavailableError) return { errorClass: ErrorClass.DependencyUnavailable, dependency: 'ledger' };
  if (err instanceof StepInputConflictError) return { errorClass: ErrorClass.IdempotencyConflict };
  if (err instanceof ApplicationFailure && isErrorClass(err.type)) return { errorClass: err.type };
  return undefined;
}

/** Anything else, by its shape (see the top of this file). */
function classOfShape(err: unknown): Classification | undefined {
  const dependency = stringField(err, 'dependency');
  const withDependency = (errorClass: ErrorClass): Classification => ({ errorClass, ...(dependency !== undefined && { dependency }) });
  const status = httpStatusOf(err);
  if (status !== undefined) {
    const errorType = stringField(err, 'errorType') ?? stringField(err, 'type') ?? stringField(err, 'code');
    const retryAfterMs = retryAfterOf(err);
    return { ...withDependency(classOfStatus(status, errorType)), httpStatus: status, ...(retryAfterMs !== undefined && { retryAfterMs }) };
  }
  const name = stringField(err, 'name');
  if (name === 'ZodError' || (err instanceof Error && Array.isArray(field(err, 'issues')))) return { errorClass: ErrorClass.Validation };
  if (name === 'TimeoutError' || name === 'AbortError') return withDependency(ErrorClass.Timeout);
  const code = stringField(err, 'code');
  if (code !== undefined && TIMEOUT_CODES.has(code)) return withDependency(ErrorClass.Timeout);
  if (code !== undefined && NETWORK_CODES.has(code)) return withDependency(ErrorClass.DependencyUnavailable);
  return undefined;
}

/** The taxonomy class of any thrown value. */
export function classify(err: unknown): Classification {
  let fetchFailed = false;
  let current = err;
  for (let depth = 0; depth < MAX_CAUSES && current !== undefined && current !== null; depth++) {
    const found = ownClass(current) ?? classOfShape(current);
    if (found) return found;
    // fetch rejects every network failure with this TypeError; its cause says which, when it can be read.
    fetchFailed ||= current instanceof TypeError && current.message === 'fetch failed';
    current = field(current, 'cause');
  }
  return { errorClass: fetchFailed ? ErrorClass.DependencyUnavailable : ErrorClass.Internal };
}

/** How much a Retry-After or circuit cool-down is stretched at most, as a fraction of it (see toApplicationFailure). */
export const WAIT_SPREAD = 0.25;

/** Where a failure happened, to fill in its details and pick its retry delay. */
export interface FailureScope {
  attempt?: number;
  /** State of the dependency's circuit breaker after the failure. */
  circuit?: string;
  /** The dependency the step declares: the failure's dependency when the error itself names none. */
  dependency?: string;
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
    ...((dependency ?? scope.dependency) !== undefined && { dependency: dependency ?? scope.dependency }),
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
