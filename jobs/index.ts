/** The job definitions this project ships: what `npm run worker` and the CLI know by default. */
import type { JobDefinition } from './define';
import { greetingJob } from './greeting';

export const DEFAULT_JOBS: readonly JobDefinition[] = [greetingJob as JobDefinition];
