/**
 * The application's jobs, for the processes jobledger ships (`npm run worker`, the CLI, the codec server):
 * the module named by `JOBLEDGER_JOBS_MODULE` exports `jobs`, its job definitions, and, when some of them are
 * written as workflow code, `workflowsPath`, the workflow bundle's entry that registers them (see
 * `workflows/index.ts`), and optionally `effects`, where `jobledger reconcile` counts its jobs' downstream
 * effects (jobs/effects.ts). A project that builds its own worker passes its definitions directly instead.
 */
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { JobDefinition } from './define';
import type { EffectSource, EffectSources } from './effects';

export interface JobApp {
  jobs: readonly JobDefinition[];
  /** Entry of the workflow bundle. Default: jobledger's own (list-form jobs only). */
  workflowsPath?: string;
  /** The effect sources `jobledger reconcile` checks, from the configured downstream services. Default none. */
  effects?: EffectSources;
}

/** `JOBLEDGER_JOBS_MODULE` names no module, a module that cannot be loaded, or one without a `jobs` list. */
export class JobsModuleError extends Error {
  override readonly name = 'JobsModuleError';
}

/** Loads the jobs module (a path relative to the working directory, or absolute). No path: no jobs. */
export async function loadJobApp(modulePath: string | undefined): Promise<JobApp> {
  if (modulePath === undefined) return { jobs: [] };
  const file = isAbsolute(modulePath) ? modulePath : resolve(process.cwd(), modulePath);
  let loaded: { jobs?: unknown; workflowsPath?: unknown; effects?: unknown };
  try {
    loaded = (await import(pathToFileURL(file).href)) as typeof loaded;
  } catch (err) {
    throw new JobsModuleError(`JOBLEDGER_JOBS_MODULE=${modulePath} could not be loaded: ${err instanceof Error ? err.message : String(err)}`);
  }
  const { jobs, workflowsPath, effects } = loaded;
  if (!Array.isArray(jobs) || !jobs.every((job) => typeof (job as { type?: unknown })?.type === 'string')) {
    throw new JobsModuleError(`JOBLEDGER_JOBS_MODULE=${modulePath} must export \`jobs\`, a list of job definitions`);
  }
  if (workflowsPath !== undefined && typeof workflowsPath !== 'string') {
    throw new JobsModuleError(`JOBLEDGER_JOBS_MODULE=${modulePath}: \`workflowsPath\` must be a path`);
  }
  if (effects !== undefined && typeof effects !== 'function') {
    throw new JobsModuleError(`JOBLEDGER_JOBS_MODULE=${modulePath}: \`effects\` must be a function from the configured services to effect sources`);
  }
  return {
    jobs: jobs as JobDefinition[],
    ...(workflowsPath !== undefined && { workflowsPath }),
    ...(effects !== undefined && { effects: (services) => effectSourcesFrom(modulePath, effects(services)) }),
  };
}

/** What a jobs module's `effects` returned, checked: a list of effect sources. */
function effectSourcesFrom(modulePath: string, value: unknown): EffectSource[] {
  const isSource = (source: unknown): source is EffectSource =>
    typeof source === 'object' &&
    source !== null &&
    'jobType' in source &&
    typeof source.jobType === 'string' &&
    'name' in source &&
    typeof source.name === 'string' &&
    'count' in source &&
    typeof source.count === 'function';
  if (!Array.isArray(value) || !value.every(isSource)) throw new JobsModuleError(`JOBLEDGER_JOBS_MODULE=${modulePath}: \`effects\` must return a list of effect sources`);
  return value;
}
