/**
 * `jobledger dashboard [--port P] [--archive DIR]`: connects like every CLI command (configuration from
 * the environment), opens the breaker store the workers share (to show circuit states), starts the
 * dashboard on 127.0.0.1, prints its URL and serves until SIGINT or SIGTERM, then closes everything it
 * opened. It refuses to start (exit 2) without JOBLEDGER_DASHBOARD_TOKENS or with a bad port.
 */
import { ExitCode, parseCommand, print, UsageError, type Command, type Output } from '../../core/commands';
import { createLogger } from '../../core/logging';
import { breakerTarget, loadConfig } from '../../core/config';
import { openBreakerStore } from '../../resilience';
import { connectJobClient } from '../connect';
import { startDashboard } from './server';

/** Resolves when the process is asked to stop (SIGINT or SIGTERM). */
function stopRequested(): Promise<string> {
  return new Promise((resolve) => {
    const on = (signal: string) => () => resolve(signal);
    process.once('SIGINT', on('SIGINT'));
    process.once('SIGTERM', on('SIGTERM'));
  });
}

async function runDashboard(argv: string[], output: Output): Promise<number> {
  const { values } = parseCommand(argv, { port: { type: 'string' }, archive: { type: 'string' } }, []);
  const port = values.port === undefined ? 0 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError('--port must be an integer from 0 to 65535 (0: a free port)');
  const config = loadConfig();
  const tokens = config.JOBLEDGER_DASHBOARD_TOKENS;
  if (tokens === undefined) {
    throw new UsageError('JOBLEDGER_DASHBOARD_TOKENS is not set: give it {"<token of 16+ characters>": "viewer" | "operator"}');
  }
  const logger = createLogger({ level: config.LOG_LEVEL, name: 'jobledger-dashboard' }, process.stderr);
  const connected = await connectJobClient(config, { logger });
  const breakers = await openBreakerStore(breakerTarget(config), (err) => logger.warn({ err }, 'circuit breaker states not read from PostgreSQL; retrying'));
  try {
    const server = await startDashboard({
      client: connected.client,
      jobs: connected.jobs,
      ledger: connected.ledger,
      namespace: config.TEMPORAL_NAMESPACE,
      taskQueue: config.JOBLEDGER_TASK_QUEUE,
      uiUrl: config.TEMPORAL_UI_URL,
      breakers,
      ...(values.archive !== undefined && { archiveDir: values.archive }),
      tokens,
      port,
      logger,
    });
    print(output, { url: server.url, port: server.port }, `dashboard on ${server.url} (sign in with a JOBLEDGER_DASHBOARD_TOKENS token; Ctrl-C stops it)`);
    const signal = await stopRequested();
    logger.info({ signal }, 'dashboard stopping');
    await server.stop();
    return ExitCode.ok;
  } finally {
    await breakers.close();
    await connected.close();
  }
}

export const dashboardCommand: Command = {
  name: 'dashboard',
  args: '[--port P] [--archive DIR] [--json]',
  summary: 'serve the operations dashboard on 127.0.0.1 (figures per job type, the dead letter with actions, health) until Ctrl-C',
  run: runDashboard,
};
