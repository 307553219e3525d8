/**
 * The example jobs: what `npm run worker`, the CLI and the codec server of this repository load through
 * `JOBLEDGER_JOBS_MODULE=examples/jobs/index.ts` (the contract: export `jobs`, and `workflowsPath` for jobs
 * written as workflow code; see jobs/app.ts).
 */
import { join } from 'node:path';
import type { JobDefinition } from '../../jobs/define';
import { greetingJob } from './greeting';
import { orderFulfillJob, orderSequentialJob } from './order';
import { reportGenerateJob, reportSectionJob } from './report';

export const jobs: readonly JobDefinition[] = [orderFulfillJob, orderSequentialJob, greetingJob, reportGenerateJob, reportSectionJob];

/** The workflow bundle entry that registers `order.fulfill`'s workflow code. */
export const workflowsPath = join(__dirname, '../workflows.ts');

/** This module's path, for processes started with `JOBLEDGER_JOBS_MODULE`. */
export const JOBS_MODULE = __filename;

/** Where `jobledger reconcile` counts the jobs' effects (see jobs/app.ts). */
export { effects } from './effects';
