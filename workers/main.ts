/**
 * `npm run worker`: one job worker in the foreground, configured from the environment (see
 * core/config.ts). Stdout is JSON lines only: SDK logs (the core's included), workflow logs and activity
 * logs all leave through pino. Stops cleanly on SIGINT or SIGTERM (npm execs this process, so the signal
 * npm forwards reaches it), and also when npm itself dies. Exits 1 if it stopped because its ledger
 * failed the health check (see workers/worker.ts) or could not start.
 */
import type { Worker } from '@temporalio/worker';
import { loadConfig } from '../core/config';
import { ConfigError } from '../core/cluster';
import { createLogger, type Logger } from '../core/logging';
import { installRuntime, workerFromConfig } from './worker';

/** How often the worker looks whether npm, its parent, is still there, in ms. */
const PARENT_CHECK_MS = 1_000;

/**
 * Under npm (which sets npm_lifecycle_event), stops the worker once its parent is gone, e.g. npm killed
 * with SIGKILL: the worker never outlives `npm run worker`. Started directly, a worker ignores its parent.
 */
function stopWithParent(worker: Worker, logger: Logger): void {
  if (!process.env.npm_lifecycle_event) return;
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    logger.warn({ parent_pid: parent }, 'parent process exited; stopping the worker');
    if (worker.getState() === 'RUNNING') worker.shutdown();
  }, PARENT_CHECK_MS);
  timer.unref();
}

async function main(logger: Logger, config: ReturnType<typeof loadConfig>): Promise<number> {
  const metrics = await installRuntime(config, logger);
  // The Runtime stops listening after the first signal; a second one (a terminal's Ctrl-C reaches both npm
  // and the worker, and npm forwards it again) must not kill the worker in the middle of its shutdown.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => logger.info({ signal }, 'stop requested'));
  const configured = await workerFromConfig(config, logger);
  const { worker } = configured;
  try {
    stopWithParent(worker, logger);
    logger.info(
      {
        pid: process.pid,
        task_queue: config.JOBLEDGER_TASK_QUEUE,
        address: config.TEMPORAL_ADDRESS,
        metrics,
      },
      'worker started',
    );
    await worker.run();
    const failure = configured.failure();
    logger.info({ pid: process.pid, outcome: failure ? 'unhealthy' : 'stopped' }, 'worker stopped');
    return failure ? 1 : 0;
  } finally {
    await configured.close();
  }
}

let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig();
} catch (err) {
  process.stderr.write(`worker failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(2);
}
const logger = createLogger({ level: config.LOG_LEVEL, name: 'jobledger-worker' });
main(logger, config).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    logger.fatal({ err }, 'worker failed');
    // Bad configuration found after loading (a TLS file gone, say) exits 2 like the configuration's own checks.
    logger.flush(() => process.exit(err instanceof ConfigError ? 2 : 1));
  },
);
