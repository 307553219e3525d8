/**
 * Processes a test starts (workers, the CLI) and reads: stdout split into lines as they arrive, JSON log
 * lines found by message, and a record of every PID started so that the test can stop exactly those.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { ROOT } from './servers';

/** Every process started through `startProcess` (and any the test adds, e.g. a worker found by its own log line), by PID. */
export const started = new Set<number>();

export interface Proc {
  child: ChildProcess;
  /** Stdout, split into lines as they arrive. */
  lines: string[];
  /** Resolves with the exit code (null if killed by a signal) once the process ended and its stdout closed. */
  exited: Promise<number | null>;
  /** Resolves when the process itself ended, even if a process it left behind still holds its stdout. */
  ended: Promise<void>;
}

export function startProcess(command: string, args: string[], extraEnv: NodeJS.ProcessEnv): Proc {
  const child = spawn(command, args, { cwd: ROOT, env: { ...process.env, ...extraEnv }, stdio: ['ignore', 'pipe', 'inherit'] });
  started.add(child.pid!);
  const lines: string[] = [];
  let partial = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    const parts = (partial + chunk.toString('utf8')).split('\n');
    partial = parts.pop()!;
    lines.push(...parts);
  });
  const exited = new Promise<number | null>((resolve) =>
    child.on('close', (code) => {
      if (partial) lines.push(partial);
      resolve(code);
    }),
  );
  const ended = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { child, lines, exited, ended };
}

export function parsed(lines: string[]): Record<string, any>[] {
  return lines.map((line) => JSON.parse(line) as Record<string, any>);
}

/** The parsed line with this message, once it has been written. */
export function line(proc: Proc, msg: string): Record<string, any> | undefined {
  for (const text of proc.lines) {
    if (!text.includes(msg)) continue;
    const entry = JSON.parse(text) as Record<string, any>;
    if (entry.msg === msg) return entry;
  }
  return undefined;
}

export async function until<T>(what: string, probe: () => T | undefined, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = probe();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A worker process: `npm run -s worker` (viaNpm) or `node --import tsx workers/main.ts`, with `env` over this process's environment. */
export function startWorkerProcess(viaNpm: boolean, env: NodeJS.ProcessEnv): Proc {
  return viaNpm ? startProcess('npm', ['run', '-s', 'worker'], env) : startProcess(process.execPath, ['--import', 'tsx', 'workers/main.ts'], env);
}

/** Waits for the worker's `worker started` line (and records the worker's own PID); fails if the process exits first. */
export async function workerStarted(proc: Proc, timeoutMs = 120_000): Promise<Record<string, any>> {
  let exited = false;
  void proc.ended.then(() => (exited = true));
  const entry = await until(
    'worker started',
    () => {
      const startedLine = line(proc, 'worker started');
      if (!startedLine && exited) throw new Error(`worker exited before it started:\n${proc.lines.join('\n')}`);
      return startedLine;
    },
    timeoutMs,
  );
  if (typeof entry.pid === 'number') started.add(entry.pid);
  return entry;
}

/** SIGTERM to every process started here that is still alive; SIGKILL to those left after `graceMs`. */
export async function stopStarted(graceMs = 15_000): Promise<void> {
  for (const pid of started) if (alive(pid)) process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while ([...started].some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  for (const pid of started) if (alive(pid)) process.kill(pid, 'SIGKILL');
  started.clear();
}
