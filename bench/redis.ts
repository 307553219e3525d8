/**
 * A throwaway redis-server for scenario b6: Debian's package (scripts/setup-redis.sh installs it when it is
 * missing), bound to 127.0.0.1 on a free port, its files in a temp directory, persistence off (`--save ''
 * --appendonly no`: the Temporal dev server it is compared with keeps its state in memory too), stopped by
 * its PID. Ready once it answers PING.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import { ROOT } from './lib';
import { freePort } from '../test/helpers/servers';

export interface RedisServer {
  port: number;
  pid: number;
  /** `redis-server --version`'s first words, for the record. */
  version: string;
  stop(): Promise<void>;
}

/** Installs redis-server if needed (apt-get, through scripts/setup-redis.sh) and starts one. */
export async function startRedis(): Promise<RedisServer> {
  execFileSync('bash', [join(ROOT, 'scripts/setup-redis.sh')], { stdio: ['ignore', 'ignore', 'inherit'] });
  const version = execFileSync('redis-server', ['--version'], { encoding: 'utf8' }).trim().split(' sha=')[0]!;
  const dir = mkdtempSync(join(tmpdir(), 'jobledger-redis-'));
  const port = await freePort();
  const child: ChildProcess = spawn(
    'redis-server',
    ['--bind', '127.0.0.1', '--port', String(port), '--dir', dir, '--save', '', '--appendonly', 'no', '--protected-mode', 'yes', '--loglevel', 'warning'],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (await answersPing(port)) return { port, pid: child.pid!, version, stop };
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`redis-server on 127.0.0.1:${port} did not answer PING within 15 s (exit code ${child.exitCode})`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** One inline PING over a fresh connection: true on `+PONG`, false on anything else (not listening yet). */
function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let reply = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('error', () => done(false));
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString('utf8');
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
    socket.once('connect', () => socket.write('PING\r\n'));
  });
}
