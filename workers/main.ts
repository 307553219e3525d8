/**
 * `npm run worker`: one job worker in the foreground, configured from the environment (see
 * core/config.ts). SDK logs, workflow logs and activity logs all leave as pino JSON lines on stdout.
 * Stops cleanly on SIGINT or SIGTERM.
 */
import { NativeConnection, Runtime } from '@temporalio/worker';
import { dataConverterFrom, loadConfig, servicesFrom } from '../core/config';
import { createLogger, PinoSdkLogger } from '../core/logging';
import { DEFAULT_JOBS } from '../jobs';
import { openLedger } from '../ledger';
import { createJobWorker, openBreaker } from './worker';

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger({ level: config.LOG_LEVEL, name: 'jobledger-worker' });
  Runtime.install({
    logger: new PinoSdkLogger(logger),
    ...(config.JOBLEDGER_METRICS_PORT > 0 && {
      telemetryOptions: { metrics: { prometheus: { bindAddress: `127.0.0.1:${config.JOBLEDGER_METRICS_PORT}` } } },
    }),
  });
  const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
  const ledger = openLedger(config.JOBLEDGER_LEDGER_PATH);
  const breakers = openBreaker(config.JOBLEDGER_BREAKER_PATH, logger);
  try {
    const worker = await createJobWorker({
      connection,
      namespace: config.TEMPORAL_NAMESPACE,
      taskQueue: config.JOBLEDGER_TASK_QUEUE,
      definitions: DEFAULT_JOBS,
      ledger,
      logger,
      services: servicesFrom(config),
      breaker: breakers.breaker,
      ...(dataConverterFrom(config) && { dataConverter: dataConverterFrom(config)! }),
      ...(config.JOBLEDGER_WORKER_IDENTITY !== undefined && { identity: config.JOBLEDGER_WORKER_IDENTITY }),
    });
    logger.info(
      { task_queue: config.JOBLEDGER_TASK_QUEUE, address: config.TEMPORAL_ADDRESS, metrics: config.JOBLEDGER_METRICS_PORT > 0 ? `http://127.0.0.1:${config.JOBLEDGER_METRICS_PORT}/metrics` : 'off' },
      'worker started',
    );
    await worker.run();
    logger.info('worker stopped');
  } finally {
    breakers.close();
    await ledger.close();
    await connection.close();
  }
}

main().catch((err) => {
  process.stderr.write(`worker failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
