/** The job definitions this project ships: what `npm run worker` and the CLI know by default. */
import type { JobDefinition } from './define';
import { greetingJob } from './greeting';
import { orderFulfillJob } from './order';
import { reportGenerateJob, reportSectionJob } from './report';

export const DEFAULT_JOBS: readonly JobDefinition[] = [
  orderFulfillJob as JobDefinition,
  greetingJob as JobDefinition,
  reportGenerateJob as JobDefinition,
  reportSectionJob as JobDefinition,
];
