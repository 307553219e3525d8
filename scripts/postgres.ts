/**
 * A throwaway PostgreSQL cluster for local use (the ledger of several local workers, or a look at the
 * PostgreSQL backend): `start` runs one in the background (initdb into a temp dir, 127.0.0.1, a free port;
 * as uid 65534 when run as root) and prints the `export JOBLEDGER_LEDGER_URL=...` line; `url` prints that
 * line again; `stop` stops it by the PID recorded at start and removes its directory. State lives in
 * .jobledger/postgres.json. Run it through scripts/postgres.sh.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startPostgres } from '../test/helpers/postgres';

const ROOT = resolve(__dirname, '..');
const STATE = join(ROOT, '.jobledger', 'postgres.json');

interface State {
  pid: number;
  dir: string;
  url: string;
  log: string;
}

function readState(): State | undefined {
  if (!existsSync(STATE)) return undefined;
  return JSON.parse(readFileSync(STATE, 'utf8')) as State;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function main(command: string | undefined): Promise<number> {
  const state = readState();
  const running = state !== undefined && alive(state.pid);
  switch (command) {
    case 'start': {
      if (running) {
        console.error(`postgres already running (pid ${state.pid})`);
        console.log(`export JOBLEDGER_LEDGER_URL=${state.url}`);
        return 0;
      }
      mkdirSync(join(ROOT, '.jobledger'), { recursive: true });
      const log = join(ROOT, '.jobledger', 'postgres.log');
      const pg = await startPostgres({ detached: true, fast: false, logFile: log });
      writeFileSync(STATE, JSON.stringify({ pid: pg.pid, dir: pg.dir, url: pg.url, log } satisfies State, null, 2));
      console.error(`postgres running (pid ${pg.pid}, data ${pg.dir}, log ${log})`);
      console.log(`export JOBLEDGER_LEDGER_URL=${pg.url}`);
      return 0;
    }
    case 'url':
      if (!running) {
        console.error('postgres is not running: scripts/postgres.sh start');
        return 1;
      }
      console.log(`export JOBLEDGER_LEDGER_URL=${state.url}`);
      return 0;
    case 'stop': {
      if (state && running) {
        process.kill(state.pid, 'SIGINT'); // fast shutdown
        const deadline = Date.now() + 30_000;
        while (alive(state.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
        if (alive(state.pid)) {
          console.error(`postgres (pid ${state.pid}) did not stop within 30 s`);
          return 1;
        }
      }
      if (state) rmSync(state.dir, { recursive: true, force: true });
      rmSync(STATE, { force: true });
      console.error(state ? `postgres stopped (pid ${state.pid})` : 'postgres was not running');
      return 0;
    }
    default:
      console.error('usage: scripts/postgres.sh start|stop|url');
      return 2;
  }
}

main(process.argv[2]).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
