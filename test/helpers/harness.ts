/**
 * A worker plus a JobClient on a test environment, with their own task queue and ledger file, so each
 * test is isolated. The workflow bundle is built once per test run by scripts/test.sh and reused.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Runtime, type Worker } from '@temporalio/worker';
import { JobClient } from '../../client/jobs';
import type { Logger } from '../../core/logging';
import type { JobDefinition } from '../../jobs/define';
import { JobRegistry } from '../../jobs/registry';
import { openLedger, type Ledger, type OpenLedgerOptions } from '../../ledger';
import type { Tracing } from '../../core/tracing';
import type { CircuitBreaker } from '../../resilience';
import { createJobWorker } from '../../workers/worker';
import { ROOT, tempDir, testLogger, unique } from './servers';

/** The tests' workflow bundle (test/fixtures/workflows.ts), built once per run by test/helpers/bundle-workflows.ts. */
export const BUNDLE = join(ROOT, '.jobledger/test/workflow-bundle.js');
/** Its entry: the example and test workflows, bundled by a worker itself when it needs its own bundle. */
export const TEST_WORKFLOWS_PATH = join(ROOT, 'test/fixtures/workflows.ts');

export interface Harness {
  /** The client the JobClient uses (encrypting when the harness has a data converter). */
  client: Client;
  taskQueue: string;
  ledger: Ledger;
  jobs: JobClient;
  worker: Worker;
  logger: Logger;
  dir: string;
}

export async function createHarness(
  env: TestWorkflowEnvironment,
  definitions: readonly JobDefinition[],
  options: {
    ledgerPath?: string;
    /** Options of the harness's ledger (e.g. a short busy timeout). */
    ledgerOptions?: OpenLedgerOptions;
    logger?: Logger;
    now?: () => number;
    services?: Record<string, string>;
    breaker?: CircuitBreaker;
    /** Encrypting converter: the worker then bundles its own workflows (with the failure converter). */
    dataConverter?: DataConverter;
    /** OpenTelemetry tracing for the worker and the client: the worker then bundles its own workflows. */
    tracing?: Tracing;
    /** The workflow bundle's entry of jobs written as code outside the tests' bundle (a jobs module's `workflowsPath`): the worker then bundles it itself. Default the tests' bundle. */
    workflowsPath?: string;
  } = {},
): Promise<Harness> {
  const logger = options.logger ?? testLogger();
  const dir = tempDir();
  const taskQueue = unique('tq');
  const ledger = openLedger(options.ledgerPath ?? join(dir, 'ledger.db'), { ...options.ledgerOptions, ...(options.now && { now: options.now }) });
  const worker = await createJobWorker({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    taskQueue,
    definitions,
    ledger,
    logger,
    ...(options.services && { services: options.services }),
    ...(options.breaker && { breaker: options.breaker }),
    ...(options.dataConverter && { dataConverter: options.dataConverter }),
    ...(options.tracing && { plugins: [options.tracing.plugin] }),
    workflowsPath: options.workflowsPath ?? TEST_WORKFLOWS_PATH,
    extra: existsSync(BUNDLE) && !options.workflowsPath && !options.dataConverter && !options.tracing ? { workflowBundle: { codePath: BUNDLE }, workflowsPath: undefined } : {},
  });
  const client =
    options.dataConverter || options.tracing
      ? new Client({
          connection: env.connection,
          namespace: env.namespace ?? 'default',
          ...(options.dataConverter && { dataConverter: options.dataConverter }),
          ...(options.tracing && { plugins: [options.tracing.plugin] }),
        })
      : env.client;
  const jobs = new JobClient({ metrics: Runtime.instance().metricMeter, client, registry: new JobRegistry(definitions), ledger, taskQueue, logger, submittedBy: 'test-suite' });
  return { client, taskQueue, ledger, jobs, worker, logger, dir };
}

/** A harness whose worker is already running. `stop()` shuts the worker down and closes the ledger. */
export interface RunningHarness extends Harness {
  stop(): Promise<void>;
}

export async function startHarness(
  env: TestWorkflowEnvironment,
  definitions: readonly JobDefinition[],
  options: Parameters<typeof createHarness>[2] = {},
): Promise<RunningHarness> {
  const h = await createHarness(env, definitions, options);
  const running = h.worker.run();
  return {
    ...h,
    stop: async () => {
      h.worker.shutdown();
      await running;
      await h.ledger.close();
    },
  };
}
