/**
 * The error taxonomy: a closed set of classes, each transient or permanent, with a remediation hint and
 * the anchor of its RUNBOOK.md section. The `ApplicationFailure` type of a classified failure is the class
 * name. Plain data, so workflows can read it too.
 */
export const ErrorClass = {
  Validation: 'Validation',
  IdempotencyConflict: 'IdempotencyConflict',
  NotFound: 'NotFound',
  PermissionDenied: 'PermissionDenied',
  BusinessRule: 'BusinessRule',
  Configuration: 'Configuration',
  DependencyUnavailable: 'DependencyUnavailable',
  Timeout: 'Timeout',
  RateLimited: 'RateLimited',
  CircuitOpen: 'CircuitOpen',
  StepInProgress: 'StepInProgress',
  Internal: 'Internal',
} as const;
export type ErrorClass = (typeof ErrorClass)[keyof typeof ErrorClass];

export interface ErrorClassInfo {
  kind: 'transient' | 'permanent' | 'unknown';
  hint: string;
  runbook: string;
}

export const ERROR_CLASSES: Record<ErrorClass, ErrorClassInfo> = {
  Validation: { kind: 'permanent', hint: 'Fix the input or the definition; retrying the same input cannot succeed.', runbook: 'RUNBOOK.md#validation' },
  IdempotencyConflict: { kind: 'permanent', hint: 'The key was used with another input: use a new key or resubmit the original input.', runbook: 'RUNBOOK.md#idempotencyconflict' },
  NotFound: { kind: 'permanent', hint: 'A referenced record does not exist downstream; check ids in the input.', runbook: 'RUNBOOK.md#notfound' },
  PermissionDenied: { kind: 'permanent', hint: 'Credentials or roles are missing downstream; fix access, then retry from the dead letter.', runbook: 'RUNBOOK.md#permissiondenied' },
  BusinessRule: { kind: 'permanent', hint: 'The downstream system refused the request on business grounds (e.g. out of stock).', runbook: 'RUNBOOK.md#businessrule' },
  Configuration: { kind: 'permanent', hint: 'The worker lacks a setting this step needs (the message names it): set it, restart the worker, then retry from the dead letter.', runbook: 'RUNBOOK.md#configuration' },
  DependencyUnavailable: { kind: 'transient', hint: 'A downstream service is failing or unreachable; retries continue with backoff.', runbook: 'RUNBOOK.md#dependencyunavailable' },
  Timeout: { kind: 'transient', hint: 'A call exceeded its deadline; check downstream latency.', runbook: 'RUNBOOK.md#timeout' },
  RateLimited: { kind: 'transient', hint: 'The downstream asked to slow down; the retry waits for its Retry-After.', runbook: 'RUNBOOK.md#ratelimited' },
  CircuitOpen: { kind: 'transient', hint: 'The breaker for this dependency is open; calls resume after its cool-down.', runbook: 'RUNBOOK.md#circuitopen' },
  StepInProgress: { kind: 'transient', hint: 'Another attempt holds this step; it is retried once the lease ends.', runbook: 'RUNBOOK.md#stepinprogress' },
  Internal: { kind: 'unknown', hint: 'An unexpected error: bounded retries, then the dead letter. Read the stack in history.', runbook: 'RUNBOOK.md#internal' },
};

/** Classes never retried by Temporal. */
export const PERMANENT_CLASSES: ErrorClass[] = (Object.keys(ERROR_CLASSES) as ErrorClass[]).filter(
  (c) => ERROR_CLASSES[c].kind === 'permanent',
);
