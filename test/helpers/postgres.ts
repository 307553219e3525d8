/**
 * A throwaway PostgreSQL cluster for tests, benchmarks and local use: `initdb` into a fresh temporary
 * directory, `postgres` listening on 127.0.0.1 at a free port (its unix socket inside that directory),
 * trust authentication for the local superuser `jobledger`, and a database `jobledger`. When this process
 * runs as root the cluster runs as uid/gid 65534 (nobody), because initdb and postgres refuse root.
 * `stop()` stops the server by the PID this helper started and removes the directory.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from './servers';

export interface RunningPostgres {
  /** `postgresql://jobledger@127.0.0.1:<port>/jobledger`, for JOBLEDGER_LEDGER_URL. */
  url: string;
  /** The data directory (and socket directory), removed by `stop()`. */
  dir: string;
  /** PID of the postgres server process this helper started. */
  pid: number;
  /** Creates a fresh empty database and returns its URL (for tests that need a ledger of their own). */
  createDatabase(name?: string): Promise<string>;
  /** Stops the server (fast shutdown, SIGINT to its PID), waits for it to exit, and removes the directory. */
  stop(): Promise<void>;
}

/** No PostgreSQL server binaries were found. */
export class PostgresNotInstalledError extends Error {
  constructor() {
    super('PostgreSQL is not installed: no initdb on PATH or under /usr/lib/postgresql/*/bin (run `npm run setup`)');
    this.name = 'PostgresNotInstalledError';
  }
}

/** The directory holding `initdb` and `postgres`: PATH first, then Debian's /usr/lib/postgresql/<version>/bin (newest). */
export function postgresBinDir(): string {
  const fromPath = spawnSync('sh', ['-c', 'command -v initdb'], { encoding: 'utf8' }).stdout.trim();
  if (fromPath) return join(fromPath, '..');
  const base = '/usr/lib/postgresql';
  const versions = existsSync(base) ? readdirSync(base).filter((v) => existsSync(join(base, v, 'bin', 'initdb'))) : [];
  versions.sort((a, b) => Number(b) - Number(a));
  if (versions[0] === undefined) throw new PostgresNotInstalledError();
  return join(base, versions[0], 'bin');
}

/** Whom the cluster runs as: this user, or nobody (65534) when this process is root. */
function clusterUser(): { uid: number; gid: number } | undefined {
  return process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : undefined;
}

const USER = 'jobledger';
let databases = 0;

export interface StartPostgresOptions {
  /**
   * Turn off fsync and synchronous commit: fine for a throwaway test cluster, not for measuring.
   * Default: true.
   */
  fast?: boolean;
  /** Where the server's log goes. Default: discarded. */
  logFile?: string;
  /** Leave the server running when this process exits (for `scripts/postgres.ts start`). Default: false. */
  detached?: boolean;
}

/** Starts a throwaway cluster and waits until it accepts connections and has the database `jobledger`. */
export async function startPostgres(options: StartPostgresOptions = {}): Promise<RunningPostgres> {
  const bin = postgresBinDir();
  const user = clusterUser();
  const dir = mkdtempSync(join(tmpdir(), 'jobledger-pg-'));
  const data = join(dir, 'data');
  if (user) chownSync(dir, user.uid, user.gid);
  const init = spawnSync(join(bin, 'initdb'), ['-D', data, '-U', USER, '-A', 'trust', '-E', 'UTF8', '--no-locale', '--no-sync'], {
    encoding: 'utf8',
    ...user,
  });
  if (init.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed (exit ${init.status ?? init.signal}): ${init.error?.message ?? init.stderr}`);
  }
  const port = await freePort();
  const settings = ['-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${dir}`, '-c', 'max_connections=200'];
  if (options.fast ?? true) settings.push('-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off');
  const { openSync } = await import('node:fs');
  const log = options.logFile ? openSync(options.logFile, 'a') : 'ignore';
  const server: ChildProcess = spawn(join(bin, 'postgres'), ['-D', data, '-p', String(port), ...settings], {
    stdio: ['ignore', log, log],
    detached: options.detached ?? false,
    ...user,
  });
  const pid = server.pid;
  if (pid === undefined) throw new Error('postgres did not start');
  const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()));
  let running = true;
  void exited.then(() => (running = false));
  // If this process ends without stop(), the server it started goes with it.
  const killOnExit = () => {
    if (running) process.kill(pid, 'SIGQUIT');
  };
  if (!options.detached) process.once('exit', killOnExit);
  else server.unref();

  const url = `postgresql://${USER}@127.0.0.1:${port}/`;
  const stop = async () => {
    process.removeListener('exit', killOnExit);
    if (running) {
      process.kill(pid, 'SIGINT');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForConnections(`${url}postgres`, () => running, 30_000);
    await adminQuery(`${url}postgres`, `CREATE DATABASE ${USER}`);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    url: `${url}${USER}`,
    dir,
    pid,
    stop,
    createDatabase: async (name = `jobledger_${process.pid}_${++databases}`) => {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a plain database name: ${name}`);
      await adminQuery(`${url}postgres`, `CREATE DATABASE ${name}`);
      return `${url}${name}`;
    },
  };
}

async function adminQuery(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** Tries to connect every 100 ms until the server answers, it exits, or `timeoutMs` passes. */
async function waitForConnections(url: string, alive: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
    try {
      await client.connect();
      await client.end();
      return;
    } catch (err) {
      await client.end().catch(() => undefined);
      if (!alive()) throw new Error('postgres exited before accepting connections');
      if (Date.now() > deadline) throw new Error(`postgres did not accept connections within ${timeoutMs} ms: ${(err as Error).message}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
