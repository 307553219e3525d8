/**
 * A circuit breaker per dependency name (e.g. "payments"). After `failureThreshold` consecutive failures
 * the circuit opens and calls fail fast for `coolDownMs`; then it half-opens and lets a few trial calls
 * through: enough successful trials close it again, a failed trial re-opens it. The state lives in a
 * `BreakerStore`, written by compare-and-set, so breakers in several worker processes on one host share
 * one circuit per dependency when they use the same `SqliteBreakerStore` file (hosts do not share).
 *
 * Only transient dependency failures should count (the dependency is down, timing out, refusing load);
 * a permanent error such as a 404 or a validation error means the dependency answered. The breaker does
 * not classify errors: callers decide what they report with `onFailure`, or pass `isFailure` to `run`.
 *
 * Transitions happen lazily, when a call reports or asks: there are no timers. In particular an open
 * circuit becomes half-open at the first `beforeCall` after its cool-down.
 */
import { BreakerState, initialRecord, MemoryBreakerStore, type BreakerRecord, type BreakerStore } from './breaker-store';

export interface CircuitBreakerOptions {
  /** Consecutive failures while closed that open the circuit. Integer >= 1. Default: 5. */
  failureThreshold?: number;
  /**
   * How long an open circuit fails fast before it half-opens, in ms. Also how long a half-open trial may
   * stay unreported before its slot is given to a new trial (its process may have died). Default: 30_000.
   */
  coolDownMs?: number;
  /** Trial calls allowed in flight at once while half-open. Integer >= 1. Default: 1. */
  halfOpenMaxCalls?: number;
  /**
   * How soon a call refused while half-open (the trial slots are taken) should ask again, in ms: the
   * trial usually reports within one call, so a refused call need not wait out a whole cool-down. At
   * most the rest of the trial window. Default: 1_000.
   */
  halfOpenRetryMs?: number;
  /** Successful trial calls while half-open that close the circuit. Integer >= 1. Default: 1. */
  successThreshold?: number;
  /**
   * Where the state lives. Default: a new `MemoryBreakerStore` (this breaker only). Processes sharing a
   * `SqliteBreakerStore` file should use the same options.
   */
  store?: BreakerStore;
  /** The clock, in ms since epoch. Default: `Date.now`. */
  now?: () => number;
  /** Which errors thrown inside `run` count as failures; the others count as successes. Default: every error. */
  isFailure?: (err: unknown) => boolean;
  /** How many times a write is retried when another breaker wrote the same record first. Default: 20. */
  maxCasAttempts?: number;
}

export interface RunOptions {
  /** Overrides the breaker's `isFailure` for this call. */
  isFailure?: (err: unknown) => boolean;
}

export type CallDecision = { allowed: true } | { allowed: false; retryInMs: number };

export type TransitionListener = (dependency: string, from: BreakerState, to: BreakerState) => void;

/**
 * Thrown by `run` when the circuit refuses the call. Meant to be classified as the `CircuitOpen` error class
 * (common/errors.ts), retried after `retryInMs`.
 */
export class CircuitOpenError extends Error {
  override readonly name = 'CircuitOpenError';

  constructor(
    readonly dependency: string,
    /** How long until the circuit may let calls through again, in ms. */
    readonly retryInMs: number,
  ) {
    super(`circuit for ${dependency} is open; retry in ${retryInMs} ms`);
  }
}

/** Thrown when a state update lost the compare-and-set race `maxCasAttempts` times in a row. */
export class BreakerContentionError extends Error {
  override readonly name = 'BreakerContentionError';

  constructor(
    readonly dependency: string,
    readonly attempts: number,
  ) {
    super(`circuit breaker state for ${dependency} could not be updated after ${attempts} attempts`);
  }
}

/** What a decision function returns: the new record to store (none: no write) and the caller's result. */
interface Step<R> {
  next?: Omit<BreakerRecord, 'version'>;
  result: R;
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`circuit breaker: ${name} must be an integer >= 1, got ${value}`);
  return value;
}

export class CircuitBreaker {
  private readonly failureThreshold: number;
  private readonly coolDownMs: number;
  private readonly halfOpenRetryMs: number;
  private readonly halfOpenMaxCalls: number;
  private readonly successThreshold: number;
  private readonly maxCasAttempts: number;
  private readonly store: BreakerStore;
  private readonly now: () => number;
  private readonly isFailure: (err: unknown) => boolean;
  private readonly listeners = new Set<TransitionListener>();

  constructor(options: CircuitBreakerOptions = {}) {
    this.failureThreshold = positiveInteger('failureThreshold', options.failureThreshold ?? 5);
    this.halfOpenMaxCalls = positiveInteger('halfOpenMaxCalls', options.halfOpenMaxCalls ?? 1);
    this.successThreshold = positiveInteger('successThreshold', options.successThreshold ?? 1);
    this.maxCasAttempts = positiveInteger('maxCasAttempts', options.maxCasAttempts ?? 20);
    this.coolDownMs = options.coolDownMs ?? 30_000;
    if (!Number.isFinite(this.coolDownMs) || this.coolDownMs < 0) {
      throw new RangeError(`circuit breaker: coolDownMs must be a number >= 0, got ${this.coolDownMs}`);
    }
    this.halfOpenRetryMs = options.halfOpenRetryMs ?? 1_000;
    if (!Number.isFinite(this.halfOpenRetryMs) || this.halfOpenRetryMs < 0) {
      throw new RangeError(`circuit breaker: halfOpenRetryMs must be a number >= 0, got ${this.halfOpenRetryMs}`);
    }
    this.store = options.store ?? new MemoryBreakerStore();
    this.now = options.now ?? Date.now;
    this.isFailure = options.isFailure ?? (() => true);
  }

  /**
   * Calls `listener(dependency, from, to)` after every transition this breaker makes (not those made by
   * other processes sharing the store). Errors thrown by a listener are reported as process warnings and
   * otherwise ignored. Returns a function that removes the listener.
   */
  onTransition(listener: TransitionListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The stored state of the dependency's circuit ("closed" if it has none yet). */
  state(dependency: string): BreakerState {
    return this.store.get(dependency)?.state ?? BreakerState.Closed;
  }

  /**
   * Asks whether a call to the dependency may go ahead. Closed: yes. Open: no, with the remaining
   * cool-down, until the cool-down has passed, then the circuit half-opens and this call is its first
   * trial. Half-open: yes while fewer than `halfOpenMaxCalls` trials are in flight. Every allowed call must
   * be followed by `onSuccess` or `onFailure`.
   */
  beforeCall(dependency: string): CallDecision {
    return this.update(dependency, (r, now): Step<CallDecision> => {
      if (r.state === BreakerState.Closed) return { result: { allowed: true } };
      // Open, or half-open with a trial window: both started at openedAt.
      const elapsed = Math.max(0, now - (r.openedAt ?? now));
      if (r.state === BreakerState.Open) {
        if (elapsed < this.coolDownMs) return { result: { allowed: false, retryInMs: this.coolDownMs - elapsed } };
        return {
          next: { ...r, state: BreakerState.HalfOpen, successes: 0, openedAt: now, halfOpenInFlight: 1 },
          result: { allowed: true },
        };
      }
      if (r.halfOpenInFlight < this.halfOpenMaxCalls) {
        return { next: { ...r, halfOpenInFlight: r.halfOpenInFlight + 1 }, result: { allowed: true } };
      }
      if (elapsed >= this.coolDownMs) {
        // The trials in flight never reported back: start a new trial window with this call.
        return { next: { ...r, openedAt: now, halfOpenInFlight: 1 }, result: { allowed: true } };
      }
      return { result: { allowed: false, retryInMs: Math.min(this.halfOpenRetryMs, this.coolDownMs - elapsed) } };
    });
  }

  /**
   * Reports that a call succeeded. Closed: resets the consecutive failure count. Half-open: counts a
   * successful trial and closes the circuit after `successThreshold` of them. Open: ignored (a call that
   * started before the circuit opened).
   */
  onSuccess(dependency: string): void {
    this.update(dependency, (r): Step<void> => {
      if (r.state === BreakerState.Closed) {
        return { next: r.failures > 0 ? { ...r, failures: 0 } : undefined, result: undefined };
      }
      if (r.state === BreakerState.Open) return { result: undefined };
      const successes = r.successes + 1;
      if (successes >= this.successThreshold) {
        return { next: initialRecord(), result: undefined };
      }
      return { next: { ...r, successes, halfOpenInFlight: Math.max(0, r.halfOpenInFlight - 1) }, result: undefined };
    });
  }

  /**
   * Reports that a call failed in a way that should count against the dependency (a transient dependency
   * failure, as the caller judges). Closed: opens the circuit at `failureThreshold` consecutive failures.
   * Half-open: a failed trial re-opens it for another cool-down. Open: ignored.
   */
  onFailure(dependency: string): void {
    this.update(dependency, (r, now): Step<void> => {
      const open = { ...r, state: BreakerState.Open, successes: 0, openedAt: now, halfOpenInFlight: 0 };
      if (r.state === BreakerState.Closed) {
        const failures = r.failures + 1;
        return { next: failures >= this.failureThreshold ? { ...open, failures } : { ...r, failures }, result: undefined };
      }
      if (r.state === BreakerState.HalfOpen) return { next: open, result: undefined };
      return { result: undefined };
    });
  }

  /**
   * Runs `fn` through the breaker: throws `CircuitOpenError` without calling it if the circuit refuses,
   * otherwise reports its outcome. A thrown error for which `isFailure` is false counts as a success (the
   * dependency answered) and is rethrown like any other.
   */
  async run<T>(dependency: string, fn: () => T | Promise<T>, options: RunOptions = {}): Promise<T> {
    const decision = this.beforeCall(dependency);
    if (!decision.allowed) throw new CircuitOpenError(dependency, decision.retryInMs);
    let result: T;
    try {
      result = await fn();
    } catch (err) {
      const isFailure = options.isFailure ?? this.isFailure;
      if (isFailure(err)) this.onFailure(dependency);
      else this.onSuccess(dependency);
      throw err;
    }
    this.onSuccess(dependency);
    return result;
  }

  /**
   * Reads the record, lets `decide` compute the next one, and writes it by compare-and-set; when another
   * breaker wrote first, starts over from the fresh record, at most `maxCasAttempts` times.
   */
  private update<R>(dependency: string, decide: (record: BreakerRecord, now: number) => Step<R>): R {
    for (let attempt = 1; attempt <= this.maxCasAttempts; attempt++) {
      const current = this.store.get(dependency) ?? initialRecord();
      const { next, result } = decide(current, this.now());
      if (!next) return result;
      if (this.store.compareAndSet(dependency, current.version, { ...next, version: current.version + 1 })) {
        if (next.state !== current.state) this.emit(dependency, current.state, next.state);
        return result;
      }
    }
    throw new BreakerContentionError(dependency, this.maxCasAttempts);
  }

  private emit(dependency: string, from: BreakerState, to: BreakerState): void {
    for (const listener of this.listeners) {
      try {
        listener(dependency, from, to);
      } catch (err) {
        process.emitWarning(`circuit breaker transition listener failed: ${String(err)}`);
      }
    }
  }
}
