/**
 * The schema of a job log line: one JSON object per line, pino's fields plus the fixed job fields of
 * common/logfields.ts. Tests parse every line of a demo run against it.
 */
import { z } from 'zod';

export const JobLogLine = z.object({
  level: z.number().int(),
  time: z.iso.datetime(),
  msg: z.string(),
  job_id: z.string().min(1),
  parent_job_id: z.string().nullable(),
  job_type: z.string().min(1),
  step: z.string().nullable(),
  attempt_number: z.number().int().positive().nullable(),
  status: z.string().nullable(),
  outcome: z.string().nullable(),
  correlation_id: z.string().nullable(),
  trace_id: z.string().nullable(),
});
export type JobLogLine = z.infer<typeof JobLogLine>;
