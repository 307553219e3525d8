/**
 * `npm run worker`: one job worker in the foreground, configured from the environment (see
 * core/config.ts). SDK logs, workflow logs and activity logs all leave as pino JSON lines on stdout.
 * Stops cleanly on SIGINT or SIGTERM.
 */
import { loadConfig } from '../core/config';
import { createLogger } from '../core/logging';
import { installRuntime, workerFromConfig } from './worker';

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger({ level: config.LOG_LEVEL, name: 'jobledger-worker' });
  installRuntime(config, logger);
  const { worker, close } = await workerFromConfig(config, logger);
  try {
    logger.info(
      { task_queue: config.JOBLEDGER_TASK_QUEUE, address: config.TEMPORAL_ADDRESS, metrics: config.JOBLEDGER_METRICS_PORT > 0 ? `http://127.0.0.1:${config.JOBLEDGER_METRICS_PORT}/metrics` : 'off' },
      'worker started',
    );
    await worker.run();
    logger.info('worker stopped');
  } finally {
    await close();
  }
}

main().catch((err) => {
  process.stderr.write(`worker failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
