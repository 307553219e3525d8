/**
 * What `jobledger dashboard` and `jobledger report` read, opened the same way for both: the Temporal
 * client, the job client and the ledger (connected like every CLI command), and the breaker store the
 * workers share. `withDashboardSources` closes them all when `use` ends.
 */
import { breakerTarget, type Config } from '../../core/config';
import { createLogger, type Logger } from '../../core/logging';
import { openBreakerStore } from '../../resilience';
import { connectJobClient } from '../connect';
import type { DashboardSources } from './state';

export async function withDashboardSources<T>(
  config: Config,
  processName: string,
  archiveDir: string | undefined,
  use: (sources: DashboardSources, logger: Logger) => Promise<T>,
): Promise<T> {
  const logger = createLogger({ level: config.LOG_LEVEL, name: processName }, process.stderr);
  const connected = await connectJobClient(config, { logger });
  try {
    const breakers = await openBreakerStore(breakerTarget(config), (err) => logger.warn({ err }, 'circuit breaker states not read from PostgreSQL; retrying'));
    try {
      const sources: DashboardSources = {
        client: connected.client,
        jobs: connected.jobs,
        ledger: connected.ledger,
        namespace: config.TEMPORAL_NAMESPACE,
        taskQueue: config.JOBLEDGER_TASK_QUEUE,
        uiUrl: config.TEMPORAL_UI_URL,
        breakers,
        ...(archiveDir !== undefined && { archiveDir }),
      };
      return await use(sources, logger);
    } finally {
      await breakers.close();
    }
  } finally {
    await connected.close();
  }
}
