/**
 * `jobledger dashboard [--port P] [--archive DIR]`: connects like every CLI command (configuration from
 * the environment), opens the breaker store the workers share (to show circuit states), starts the
 * dashboard on 127.0.0.1, prints its URL and serves until SIGINT or SIGTERM, then closes everything it
 * opened. It refuses to start (exit 2) without JOBLEDGER_DASHBOARD_TOKENS or with a bad port.
 */
import { ExitCode, parseCommand, print, UsageError, type Command, type Output } from '../../core/commands';
import { loadConfig } from '../../core/config';
import { withDashboardSources } from './open';
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
  return withDashboardSources(config, 'jobledger-dashboard', values.archive, async (sources, logger) => {
    const server = await startDashboard({ ...sources, tokens, port, logger });
    print(output, { url: server.url, port: server.port }, `dashboard on ${server.url} (sign in with a JOBLEDGER_DASHBOARD_TOKENS token; Ctrl-C stops it)`);
    const signal = await stopRequested();
    logger.info({ signal }, 'dashboard stopping');
    await server.stop();
    return ExitCode.ok;
  });
}

export const dashboardCommand: Command = {
  name: 'dashboard',
  args: '[--port P] [--archive DIR] [--json]',
  summary: 'serve the operations dashboard on 127.0.0.1 (figures per job type, the dead letter with actions, health) until Ctrl-C',
  run: runDashboard,
};
