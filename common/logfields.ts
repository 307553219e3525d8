/**
 * The fixed fields of every job-related log line, whatever writes it (client, workflow, activity). Fields
 * that do not apply are null, never missing, so a line always parses against the same schema
 * (core/logschema.ts). `trace_id` stays null until tracing is wired in. Workflow-safe: plain data only.
 */
export interface JobLogFields {
  job_id: string;
  parent_job_id: string | null;
  job_type: string;
  step: string | null;
  attempt_number: number | null;
  status: string | null;
  outcome: string | null;
  correlation_id: string | null;
  trace_id: string | null;
}

export function jobLogFields(fields: Partial<JobLogFields> & Pick<JobLogFields, 'job_id' | 'job_type'>): JobLogFields {
  return {
    parent_job_id: null,
    step: null,
    attempt_number: null,
    status: null,
    outcome: null,
    correlation_id: null,
    trace_id: null,
    ...fields,
  };
}

/** The fields of a job line that do not change while one step or submission runs (pino child bindings). */
export function jobLogBindings(fields: Parameters<typeof jobLogFields>[0]): Omit<JobLogFields, 'status' | 'outcome'> {
  const { status: _status, outcome: _outcome, ...bindings } = jobLogFields(fields);
  return bindings;
}
