/**
 * One scenario's world, built fresh and torn down completely: a temp dir, the Temporal dev server (child
 * process), the sandbox providers (in process, so effects can be counted and faults set), a pool of
 * worker processes sharing one ledger file, and JobClients with their own connections. `close()` stops
 * every process by PID, closes every connection and removes the temp dir (after copying the logs
 * elsewhere when asked); it is also registered as a cleanup for SIGINT.
 */
import { cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectJobClient, type ConnectedJobClient } from '../../client/connect';
import { loadConfig } from '../../core/config';
import { createLogger } from '../../core/logging';
import { jobs as EXAMPLE_JOBS } from '../../examples/jobs';
import { startSandbox, type Sandbox } from '../../examples/sandbox';
import { mulberry32 } from '../../examples/sandbox/provider';
import { DevServer } from './devserver';
import { onCleanup } from './processes';
import { cleanBaseEnv, WorkerPool } from './workers';
import { isPostgresUrl } from '../../ledger';
import { startPostgres, type RunningPostgres } from '../helpers/postgres';

/** The circuit-breaker file every worker of the pool shares (JOBLEDGER_BREAKER_PATH), under the env's dir. */
const BREAKER_FILE = 'breakers.db';

export interface ChaosEnvOptions {
  /** Seed of the scenario's PRNG (`env.random`). */
  seed: number;
  /** `separate`: the ledger and breakers in a throwaway PostgreSQL server, each worker in a directory of its own. */
  hosts?: 'separate';
  /** Progress lines (stderr on the command line, silent in tests). Default: none. */
  log?: (line: string) => void;
}

export class ChaosEnv {
  readonly events: { atMs: number; what: string }[] = [];
  readonly startedAt = Date.now();
  /** Seeded PRNG in [0, 1): kill timing and victims are reproducible for a seed. */
  readonly random: () => number;
  private readonly clients: ConnectedJobClient[] = [];
  private unregister: () => void = () => {};
  private closed = false;

  private constructor(
    readonly dir: string,
    readonly server: DevServer,
    readonly sandbox: Sandbox,
    /** The driver's connection: checks, describes and reconcile use it. */
    readonly main: ConnectedJobClient,
    readonly workers: WorkerPool,
    readonly taskQueue: string,
    /** The ledger: a SQLite file path, or a PostgreSQL URL when the hosts are separate. */
    readonly ledgerPath: string,
    private readonly options: ChaosEnvOptions,
    private readonly postgres?: RunningPostgres,
  ) {
    this.random = mulberry32(options.seed);
    this.clients.push(main);
  }

  static async open(options: ChaosEnvOptions): Promise<ChaosEnv> {
    const dir = mkdtempSync(join(tmpdir(), 'jobledger-chaos-'));
    const logDir = join(dir, 'logs');
    mkdirSync(logDir);
    const parts: { server?: DevServer; sandbox?: Sandbox; main?: ConnectedJobClient; postgres?: RunningPostgres } = {};
    try {
      parts.server = await DevServer.start(logDir);
      parts.sandbox = await startSandbox({ dir: join(dir, 'sandbox'), seed: options.seed });
      const taskQueue = 'chaos';
      const separate = options.hosts === 'separate';
      if (separate) parts.postgres = await startPostgres({ logFile: join(logDir, 'postgres.log') });
      const ledgerPath = parts.postgres?.url ?? join(dir, 'ledger.db');
      parts.main = await connectClient(parts.server.address, taskQueue, ledgerPath);
      // Separate hosts share the PostgreSQL ledger and breakers; one host shares its files.
      const stores: Record<string, string> = parts.postgres
        ? { JOBLEDGER_LEDGER_URL: parts.postgres.url, JOBLEDGER_BREAKER_URL: parts.postgres.url }
        : { JOBLEDGER_LEDGER_PATH: ledgerPath, JOBLEDGER_BREAKER_PATH: join(dir, BREAKER_FILE) };
      const workerEnv = {
        TEMPORAL_ADDRESS: parts.server.address,
        TEMPORAL_NAMESPACE: 'default',
        JOBLEDGER_TASK_QUEUE: taskQueue,
        ...stores,
        JOBLEDGER_SERVICE_PAYMENTS_URL: parts.sandbox.urls.payments,
        JOBLEDGER_SERVICE_INVENTORY_URL: parts.sandbox.urls.inventory,
        JOBLEDGER_SERVICE_EMAIL_URL: parts.sandbox.urls.email,
        JOBLEDGER_METRICS_PORT: '0',
        JOBLEDGER_TRACING: 'none',
        LOG_LEVEL: 'warn',
      };
      let note: (what: string) => void = () => {};
      const workers = new WorkerPool({ env: workerEnv, logDir, client: parts.main.client, taskQueue, note: (what) => note(what), ...(separate && { hostsDir: join(dir, 'hosts') }) });
      const env = new ChaosEnv(dir, parts.server, parts.sandbox, parts.main, workers, taskQueue, ledgerPath, options, parts.postgres);
      note = (what) => env.note(what);
      env.unregister = onCleanup(() => env.close());
      return env;
    } catch (err) {
      await parts.main?.close().catch(() => {});
      await parts.sandbox?.stop().catch(() => {});
      await parts.server?.stop().catch(() => {});
      await parts.postgres?.stop().catch(() => {});
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** A further JobClient with its own Temporal connection and ledger handle (closed by `close()`). */
  async newJobClient(): Promise<ConnectedJobClient> {
    const connected = await connectClient(this.server.address, this.taskQueue, this.ledgerPath);
    this.clients.push(connected);
    return connected;
  }

  /** The environment of a `jobledger` CLI process in this world: its server, task queue and ledger. */
  cliEnv(submittedBy: string): NodeJS.ProcessEnv {
    return {
      ...cleanBaseEnv(),
      TEMPORAL_ADDRESS: this.server.address,
      TEMPORAL_NAMESPACE: 'default',
      JOBLEDGER_TASK_QUEUE: this.taskQueue,
      ...ledgerSetting(this.ledgerPath),
      JOBLEDGER_SUBMITTED_BY: submittedBy,
      LOG_LEVEL: 'error',
    };
  }

  /** The breaker state file the workers share, to watch the circuits from the driver. */
  get breakerPath(): string {
    return join(this.dir, BREAKER_FILE);
  }

  /** Records a timeline event (and prints it as progress). */
  note(what: string): void {
    const atMs = Date.now() - this.startedAt;
    this.events.push({ atMs, what });
    this.options.log?.(`${(atMs / 1000).toFixed(1).padStart(6)}s  ${what}`);
  }

  /** A random integer in [min, max]. */
  between(min: number, max: number): number {
    return min + Math.floor(this.random() * (max - min + 1));
  }

  /** Stops workers, clients, providers and the server; copies the logs to `keepLogsIn` if given; removes the temp dir. */
  async close(keepLogsIn?: string): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.unregister();
    await this.workers.stopAll();
    await Promise.allSettled(this.clients.map((c) => c.close()));
    await this.sandbox.stop().catch(() => {});
    await this.server.stop();
    await this.postgres?.stop();
    if (keepLogsIn) {
      mkdirSync(keepLogsIn, { recursive: true });
      cpSync(join(this.dir, 'logs'), keepLogsIn, { recursive: true });
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The variable that names `ledger`: a PostgreSQL URL or a SQLite path. */
function ledgerSetting(ledger: string): Record<string, string> {
  return isPostgresUrl(ledger) ? { JOBLEDGER_LEDGER_URL: ledger } : { JOBLEDGER_LEDGER_PATH: ledger };
}

async function connectClient(address: string, taskQueue: string, ledger: string): Promise<ConnectedJobClient> {
  const config = loadConfig({
    TEMPORAL_ADDRESS: address,
    TEMPORAL_NAMESPACE: 'default',
    JOBLEDGER_TASK_QUEUE: taskQueue,
    ...ledgerSetting(ledger),
    JOBLEDGER_SUBMITTED_BY: 'chaos-driver',
    LOG_LEVEL: 'silent',
  });
  return connectJobClient(config, { definitions: EXAMPLE_JOBS, logger: createLogger({ level: 'silent', name: 'chaos-driver' }) });
}
