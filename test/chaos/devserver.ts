/**
 * The Temporal CLI dev server as a real child process, the way temporal-dev.sh runs it: on a SQLite file,
 * bound to 127.0.0.1, headless, with the project's search attributes registered. Its gRPC, HTTP and
 * metrics ports are chosen once, so `stop()` then `start()` brings the same server back on the same
 * file and ports (the server-restart fault).
 */
import { execFile, execFileSync } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ALL_SEARCH_ATTRIBUTES } from '../../common/searchAttributes';
import { startProcess, terminate, type Tracked } from './processes';

const run = promisify(execFile);

export const ROOT = join(__dirname, '../..');

/** Path of the `temporal` CLI through the project's one resolver (scripts/resolve-temporal.sh cli). */
export function resolveTemporalCli(): string {
  return execFileSync(join(ROOT, 'scripts/resolve-temporal.sh'), ['cli'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

/** A free TCP port on 127.0.0.1 (probed, then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no free port'))));
    });
  });
}

/** The CLI's name for a search attribute type. */
function cliType(type: string): string {
  const names: Record<string, string> = { KEYWORD: 'Keyword', INT: 'Int', TEXT: 'Text', BOOL: 'Bool', DOUBLE: 'Double', DATETIME: 'Datetime', KEYWORD_LIST: 'KeywordList' };
  const name = names[type];
  if (!name) throw new Error(`no dev-server type for search attribute type ${type}`);
  return name;
}

export class DevServer {
  private process: Tracked | undefined;

  private constructor(
    private readonly cli: string,
    private readonly args: string[],
    private readonly logFile: string,
    /** gRPC address, `127.0.0.1:<port>`. */
    readonly address: string,
  ) {}

  /** Picks free ports, starts the server on `<dir>/temporal.sqlite` and waits until it is healthy. */
  static async start(dir: string): Promise<DevServer> {
    const cli = resolveTemporalCli();
    const [port, httpPort, metricsPort] = [await freePort(), await freePort(), await freePort()];
    const args = [
      'server', 'start-dev',
      '--db-filename', join(dir, 'temporal.sqlite'),
      '--ip', '127.0.0.1',
      '--port', String(port),
      '--http-port', String(httpPort),
      '--metrics-port', String(metricsPort),
      '--headless',
      '--log-format', 'json',
      '--log-level', 'error',
      ...ALL_SEARCH_ATTRIBUTES.flatMap((key) => ['--search-attribute', `${key.name}=${cliType(key.type)}`]),
    ];
    const server = new DevServer(cli, args, join(dir, 'temporal-server.log'), `127.0.0.1:${port}`);
    await server.start();
    return server;
  }

  get running(): boolean {
    return this.process !== undefined;
  }

  get pid(): number | undefined {
    return this.process?.pid;
  }

  /** Starts the process (same file, same ports) and waits until it is healthy (at most 60 s). */
  async start(): Promise<void> {
    if (this.process) throw new Error('the dev server is already running');
    const started = startProcess('temporal-dev-server', this.cli, this.args, { env: process.env, cwd: ROOT, logFile: this.logFile });
    this.process = started;
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      if (started.child.exitCode !== null || started.child.signalCode !== null) {
        this.process = undefined;
        throw new Error(`the dev server exited during start (log: ${this.logFile})`);
      }
      if (await this.healthy()) return;
      await new Promise((r) => setTimeout(r, 200));
    }
    await this.stop();
    throw new Error(`the dev server was not healthy within 60 s (log: ${this.logFile})`);
  }

  /** SIGTERM, then waits for the exit (SIGKILL after 30 s). Says whether SIGKILL was needed. */
  async stop(): Promise<{ escalated: boolean }> {
    const current = this.process;
    if (!current) return { escalated: false };
    this.process = undefined;
    return terminate(current, 30_000);
  }

  private async healthy(): Promise<boolean> {
    try {
      await run(this.cli, ['operator', 'cluster', 'health', '--address', this.address], { timeout: 5_000 });
      return true;
    } catch {
      return false;
    }
  }
}
