/**
 * Jittered exponential backoff for activity retries. Temporal's retry policy computes delays without
 * jitter, so jobs that fail together (a provider outage) would all retry at the same instant. An activity
 * therefore computes its own next delay with `jitteredDelayMs` and throws an `ApplicationFailure` with
 * `nextRetryDelay` set to it. The jitter is "equal jitter" with a lower bound: the exponential delay is
 * multiplied by a random factor in [1 - jitter, 1], so delays are spread out but still grow. When the
 * dependency sent a Retry-After, `retryAfterDelayMs` makes sure we never retry earlier than it asked.
 */

export interface BackoffOptions {
  /** The attempt that just failed, starting at 1 (Temporal's `Context.current().info.attempt`). Integer >= 1. */
  attempt: number;
  /** The delay after the first attempt, in ms. Must be > 0. */
  initialIntervalMs: number;
  /** Each further attempt multiplies the delay by this. Must be >= 1 (as in Temporal's retry policy). */
  backoffCoefficient: number;
  /** The exponential delay never exceeds this, in ms. Must be >= initialIntervalMs. */
  maximumIntervalMs: number;
  /**
   * How much of the delay may be taken away at random, as a fraction in [0, 1]: the delay is multiplied by
   * a factor in [1 - jitter, 1]. 0 gives the plain exponential delay. Default: 0.5.
   */
  jitter?: number;
}

export interface JitteredDelayOptions extends BackoffOptions {
  /** Source of randomness returning a number in [0, 1). Default: `Math.random`. */
  random?: () => number;
}

const DEFAULT_JITTER = 0.5;

function fail(message: string): never {
  throw new RangeError(`backoff: ${message}`);
}

function isFiniteNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

/** Checks the options and returns the capped exponential delay (before jitter) and the jitter fraction. */
function baseDelay(options: BackoffOptions): { baseMs: number; jitter: number } {
  const { attempt, initialIntervalMs, backoffCoefficient, maximumIntervalMs } = options;
  const jitter = options.jitter ?? DEFAULT_JITTER;
  if (!Number.isInteger(attempt) || attempt < 1) fail(`attempt must be an integer >= 1, got ${attempt}`);
  if (!isFiniteNumber(initialIntervalMs) || initialIntervalMs <= 0) {
    fail(`initialIntervalMs must be a positive number, got ${initialIntervalMs}`);
  }
  if (!isFiniteNumber(backoffCoefficient) || backoffCoefficient < 1) {
    fail(`backoffCoefficient must be a number >= 1, got ${backoffCoefficient}`);
  }
  if (!isFiniteNumber(maximumIntervalMs) || maximumIntervalMs < initialIntervalMs) {
    fail(`maximumIntervalMs must be a number >= initialIntervalMs (${initialIntervalMs}), got ${maximumIntervalMs}`);
  }
  if (!isFiniteNumber(jitter) || jitter < 0 || jitter > 1) fail(`jitter must be a number in [0, 1], got ${jitter}`);
  // For large attempts the power overflows to Infinity, which the cap turns back into maximumIntervalMs.
  const exponential = initialIntervalMs * backoffCoefficient ** (attempt - 1);
  return { baseMs: Math.min(exponential, maximumIntervalMs), jitter };
}

/**
 * The smallest and largest delay `jitteredDelayMs` can return for these options, in whole ms.
 * `maxMs` is the capped exponential delay; `minMs` is `maxMs` reduced by the jitter fraction.
 */
export function jitterBounds(options: BackoffOptions): { minMs: number; maxMs: number } {
  const { baseMs, jitter } = baseDelay(options);
  return { minMs: Math.floor(baseMs * (1 - jitter)), maxMs: Math.floor(baseMs) };
}

/**
 * The delay before the next attempt, in whole ms (rounded down): `initialIntervalMs` for attempt 1, times
 * `backoffCoefficient` for each further attempt, capped at `maximumIntervalMs`, then multiplied by a random
 * factor in [1 - jitter, 1]. Always within `jitterBounds(options)`.
 */
export function jitteredDelayMs(options: JitteredDelayOptions): number {
  const { baseMs, jitter } = baseDelay(options);
  const r = (options.random ?? Math.random)();
  if (!isFiniteNumber(r) || r < 0 || r > 1) fail(`random() must return a number in [0, 1), got ${r}`);
  return Math.floor(baseMs * (1 - jitter * r));
}

/**
 * The delay that honours a dependency's Retry-After: the larger of the two, so we never retry before the
 * dependency asked us to, and never sooner than our own backoff. `retryAfterMs` undefined means the
 * dependency sent none, and the jittered delay is returned as is.
 */
export function retryAfterDelayMs(retryAfterMs: number | undefined, jitteredMs: number): number {
  if (!isFiniteNumber(jitteredMs) || jitteredMs < 0) fail(`the jittered delay must be a number >= 0, got ${jitteredMs}`);
  if (retryAfterMs === undefined) return jitteredMs;
  if (!isFiniteNumber(retryAfterMs) || retryAfterMs < 0) fail(`retryAfterMs must be a number >= 0, got ${retryAfterMs}`);
  return Math.max(retryAfterMs, jitteredMs);
}

/**
 * A Retry-After value in ms: delta seconds (`"120"`, or a number of seconds) or an HTTP date (the time
 * left until it, never negative). Undefined when absent or not understood.
 */
export function parseRetryAfter(value: string | number | null | undefined, now = Date.now()): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value * 1000 : undefined;
  if (value === null || value === undefined || value.trim() === '') return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
