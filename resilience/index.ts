/**
 * Resilience helpers for activities: jittered retry delays (backoff.ts) and a per-dependency circuit
 * breaker (breaker.ts) whose state can be shared by the worker processes of one host (breaker-store.ts).
 */
export { jitterBounds, jitteredDelayMs, parseRetryAfter, retryAfterDelayMs, type BackoffOptions, type JitteredDelayOptions } from './backoff';
export {
  BreakerContentionError,
  CircuitBreaker,
  CircuitOpenError,
  type CallDecision,
  type CircuitBreakerOptions,
  type RunOptions,
  type TransitionListener,
} from './breaker';
export {
  BreakerState,
  MemoryBreakerStore,
  SqliteBreakerStore,
  initialRecord,
  type BreakerRecord,
  type BreakerListing,
  type BreakerStore,
  type SqliteBreakerStoreOptions,
} from './breaker-store';
export { openBreakerStore, type OpenBreakerStore } from './open-store';
