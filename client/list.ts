/**
 * Finding jobs: turns operator filters (job type, job status, a free visibility query) into one Temporal
 * visibility query, lists the matching executions and reads each job's custom search attributes, with a
 * link to the job's page in the Temporal Web UI. Visibility is eventually consistent, so a job submitted
 * a moment ago may not be listed yet.
 */
import type { Client } from '@temporalio/client';
import { SA } from '../common/searchAttributes';

export interface ListJobsOptions {
  /** Exact `JobType`. */
  type?: string;
  /** Exact `JobStatus` (Submitted, Running, Completed, ...). */
  status?: string;
  /** Any further visibility query, AND-combined in parentheses, e.g. `JobStep="charge"`. */
  query?: string;
  /** Base URL of the Web UI, e.g. `http://127.0.0.1:8233`. */
  uiUrl: string;
  namespace: string;
  /** At most this many jobs (default 100). */
  limit?: number;
}

export interface ListedJob {
  jobId: string;
  jobType?: string;
  status?: string;
  step?: string;
  startTime: string;
  closeTime?: string;
  url: string;
}

export const DEFAULT_LIST_LIMIT = 100;

/**
 * A visibility string literal: double-quoted, with backslashes and double quotes escaped, so a value can
 * never change the query's structure. (The dev server's SQLite visibility store passes the escapes through
 * to SQLite, so there a value containing `"` or `\` matches nothing; this project's job types and
 * statuses contain neither.)
 */
export function quoteVisibilityValue(value: string): string {
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** The visibility query for the filters; empty when there are none (every execution in the namespace). */
export function buildJobQuery(opts: Pick<ListJobsOptions, 'type' | 'status' | 'query'>): string {
  const clauses: string[] = [];
  if (opts.type !== undefined) clauses.push(`${SA.JobType.name} = ${quoteVisibilityValue(opts.type)}`);
  if (opts.status !== undefined) clauses.push(`${SA.JobStatus.name} = ${quoteVisibilityValue(opts.status)}`);
  const extra = opts.query?.trim();
  if (extra) clauses.push(`(${extra})`);
  return clauses.join(' AND ');
}

/** The Web UI page of one job. */
export function jobUrl(uiUrl: string, namespace: string, jobId: string): string {
  return `${uiUrl.replace(/\/+$/, '')}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(jobId)}`;
}

export async function listJobs(client: Client, opts: ListJobsOptions): Promise<ListedJob[]> {
  const limit = opts.limit ?? DEFAULT_LIST_LIMIT;
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`limit must be a positive integer, got ${limit}`);
  const query = buildJobQuery(opts);
  const jobs: ListedJob[] = [];
  for await (const execution of client.workflow.list({ ...(query && { query }), pageSize: Math.min(limit, 1000) })) {
    const attrs = execution.typedSearchAttributes;
    const jobType = attrs.get(SA.JobType);
    const status = attrs.get(SA.JobStatus);
    const step = attrs.get(SA.JobStep);
    jobs.push({
      jobId: execution.workflowId,
      ...(jobType !== undefined && { jobType }),
      ...(status !== undefined && { status }),
      ...(step !== undefined && { step }),
      startTime: execution.startTime.toISOString(),
      ...(execution.closeTime && { closeTime: execution.closeTime.toISOString() }),
      url: jobUrl(opts.uiUrl, opts.namespace, execution.workflowId),
    });
    if (jobs.length >= limit) break;
  }
  return jobs;
}

/** One line per job for the CLI's human output: id, type, status, step, start, close, link. */
export function formatJobs(jobs: readonly ListedJob[]): string {
  if (jobs.length === 0) return '(none)';
  return jobs
    .map((j) => [j.jobId, j.jobType ?? '-', j.status ?? '-', j.step ?? '-', j.startTime, j.closeTime ?? '-', j.url].join('\t'))
    .join('\n');
}
