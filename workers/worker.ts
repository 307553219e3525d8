/**
 * Builds a job worker: the workflow bundle, one activity per step of the given definitions, and the
 * ledger behind them. Used by `npm run worker`, the demo and the tests, so all three run the same wiring.
 */
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities } from '../activities';
import type { Logger } from '../core/logging';
import type { JobDefinition } from '../jobs/define';
import { JobRegistry } from '../jobs/registry';
import type { Ledger } from '../ledger';

export interface JobWorkerOptions {
  connection: NativeConnection;
  /** Namespace. Default `default`. */
  namespace?: string;
  taskQueue: string;
  definitions: readonly JobDefinition[];
  ledger: Ledger;
  logger: Logger;
  /** Worker identity, also written into step leases. Default: the SDK's `<pid>@<host>`. */
  identity?: string;
  /** Base URLs of downstream services, by name, handed to steps. Default none. */
  services?: Readonly<Record<string, string>>;
  /** Extra worker options (bundles, concurrency) passed through. */
  extra?: Partial<WorkerOptions>;
}

export const WORKFLOWS_PATH = require.resolve('../workflows');

export async function createJobWorker(options: JobWorkerOptions): Promise<Worker> {
  const registry = new JobRegistry(options.definitions);
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace ?? 'default',
    taskQueue: options.taskQueue,
    workflowsPath: WORKFLOWS_PATH,
    activities: createActivities({
      registry,
      ledger: options.ledger,
      logger: options.logger,
      ...(options.services !== undefined && { services: options.services }),
      ...(options.identity !== undefined && { workerIdentity: options.identity }),
    }),
    ...(options.identity !== undefined && { identity: options.identity }),
    ...options.extra,
  });
}
