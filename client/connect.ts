/**
 * Builds a ready `JobClient` from configuration: the Temporal connection, the ledger (opened at first use)
 * and the registry of known job types. `close()` releases all of them.
 */
import { Client, Connection } from '@temporalio/client';
import type { MetricMeter } from '@temporalio/common';
import { dataConverterFrom, ledgerTarget, loadConfig, type Config } from '../core/config';
import { tracingFor } from '../core/tracing';
import { connectionOptionsFrom } from '../core/cluster';
import { createLogger, type Logger } from '../core/logging';
import type { JobDefinition } from '../jobs/define';
import { loadJobApp } from '../jobs/app';
import { JobRegistry } from '../jobs/registry';
import { openLedger, type Ledger } from '../ledger';
import { JobClient } from './jobs';

export interface ConnectedJobClient {
  jobs: JobClient;
  client: Client;
  ledger: Ledger;
  close(): Promise<void>;
}

export async function connectJobClient(
  config: Config,
  options: { definitions?: readonly JobDefinition[]; logger?: Logger; metrics?: MetricMeter } = {},
): Promise<ConnectedJobClient> {
  const connection = await Connection.connect(connectionOptionsFrom(config));
  const tracing = tracingFor(config.JOBLEDGER_TRACING, 'jobledger-client', config.JOBLEDGER_OTLP_URL);
  const client = new Client({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    dataConverter: dataConverterFrom(config),
    ...(tracing && { plugins: [tracing.plugin] }),
  });
  // Opened at first use: commands that need Temporal only (status, list) never touch the ledger file.
  const ledger = openLedger(ledgerTarget(config), { lazy: true });
  const jobs = new JobClient({
    client,
    registry: new JobRegistry(options.definitions ?? (await loadJobApp(config.JOBLEDGER_JOBS_MODULE)).jobs),
    ledger,
    taskQueue: config.JOBLEDGER_TASK_QUEUE,
    logger: options.logger ?? createLogger({ level: config.LOG_LEVEL, name: 'jobledger-client' }),
    ...(config.JOBLEDGER_SUBMITTED_BY !== undefined && { submittedBy: config.JOBLEDGER_SUBMITTED_BY }),
    ...(options.metrics && { metrics: options.metrics }),
  });
  return {
    jobs,
    client,
    ledger,
    close: async () => {
      await tracing?.shutdown();
      await ledger.close();
      await connection.close();
    },
  };
}

/**
 * Runs `fn` with a client built from the environment's configuration (logs to stderr, so stdout stays
 * the command's output) and closes it afterwards: what every CLI command that talks to Temporal needs.
 */
export async function withJobClient<T>(fn: (connected: ConnectedJobClient, config: Config) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const connected = await connectJobClient(config, { logger: createLogger({ level: config.LOG_LEVEL, name: 'jobledger-cli' }, process.stderr) });
  try {
    return await fn(connected, config);
  } finally {
    await connected.close();
  }
}
