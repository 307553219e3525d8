/**
 * Names of jobledger's own metrics. They are served on the same Prometheus endpoint as the SDK's metrics
 * (the worker Runtime's), with job_type, status, step and error_class labels. Plain values, so workflows
 * can import them; workflow metrics are not emitted again on replay.
 */
export const Metric = {
  /** Counter: submissions seen by a client, by job_type and outcome (started or deduplicated). */
  jobsSubmitted: 'jobledger_jobs_submitted',
  /** Counter: jobs whose workflow started, by job_type. */
  jobsStarted: 'jobledger_jobs_started',
  /** Counter: jobs that reached a terminal status, by job_type and status. */
  jobsClosed: 'jobledger_jobs_closed',
  /** Histogram (ms): time from start to terminal status, by job_type and status. */
  jobDuration: 'jobledger_job_duration_ms',
  /** Counter: jobs parked in the dead letter, by job_type and error_class. */
  jobsDeadLettered: 'jobledger_jobs_dead_lettered',
  /** Counter: step attempts, by job_type, step, outcome and error_class. */
  stepAttempts: 'jobledger_step_attempts',
  /** Counter: step claims answered from the ledger (already completed), by job_type and step. */
  ledgerHits: 'jobledger_ledger_hits',
  /** Gauge: circuit state by dependency: 0 closed, 1 half-open, 2 open. */
  circuitState: 'jobledger_circuit_state',
} as const;

export const CIRCUIT_STATE_VALUE: Record<string, number> = { closed: 0, 'half-open': 1, open: 2 };
