/**
 * Child processes the chaos suite starts, tracked by PID so that each one is stopped by the suite itself:
 * `kill` (SIGKILL, the injected crash), `terminate` (SIGTERM, then SIGKILL after a grace period) and
 * `stopAll`. Cleanups registered with `onCleanup` (environments, temp dirs) run on `runCleanups`, which
 * the command line calls on SIGINT/SIGTERM; a last-resort `exit` hook SIGKILLs any child still alive.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';

export interface Tracked {
  name: string;
  pid: number;
  child: ChildProcess;
  /** Resolves when the process has exited (with its code or signal). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** True once the suite sent it a signal, so an exit is not "unexpected". */
  stopping: boolean;
}

const live = new Set<Tracked>();
const cleanups = new Set<() => Promise<void>>();

export function isAlive(t: Tracked): boolean {
  return t.child.exitCode === null && t.child.signalCode === null;
}

/** Starts `command` (as `uid`/`gid` when given), stdout and stderr appended to `logFile`. Throws if it cannot be spawned. */
export function startProcess(
  name: string,
  command: string,
  args: string[],
  options: { env: NodeJS.ProcessEnv; cwd: string; logFile: string; uid?: number; gid?: number },
): Tracked {
  const log = openSync(options.logFile, 'a');
  let child: ChildProcess;
  try {
    const user = options.uid === undefined ? {} : { uid: options.uid, gid: options.gid ?? options.uid };
    child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', log, log], ...user });
  } finally {
    closeSync(log); // the child holds its own copy
  }
  if (child.pid === undefined) throw new Error(`could not start ${name} (${command})`);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', () => resolve({ code: null, signal: null }));
  });
  const tracked: Tracked = { name, pid: child.pid, child, exited, stopping: false };
  live.add(tracked);
  void exited.then(() => live.delete(tracked));
  return tracked;
}

/** SIGKILL by PID and wait for the exit. */
export async function kill(t: Tracked): Promise<void> {
  t.stopping = true;
  if (isAlive(t)) process.kill(t.pid, 'SIGKILL');
  await t.exited;
}

/** SIGTERM by PID, wait up to `graceMs` (default 15000) for the exit, then SIGKILL. Says whether it had to. */
export async function terminate(t: Tracked, graceMs = 15_000): Promise<{ escalated: boolean }> {
  t.stopping = true;
  if (!isAlive(t)) return { escalated: false };
  process.kill(t.pid, 'SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const timedOut = await Promise.race([
    t.exited.then(() => false),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), graceMs))),
  ]);
  clearTimeout(timer);
  if (!timedOut) return { escalated: false };
  await kill(t);
  return { escalated: true };
}

/** Registers a cleanup to run on `runCleanups`; returns a function that unregisters it. */
export function onCleanup(fn: () => Promise<void>): () => void {
  cleanups.add(fn);
  return () => cleanups.delete(fn);
}

/** Runs every registered cleanup (each once), then SIGKILLs any tracked process still alive. */
export async function runCleanups(): Promise<void> {
  const pending = [...cleanups];
  cleanups.clear();
  await Promise.allSettled(pending.map((fn) => fn()));
  await Promise.allSettled([...live].map((t) => kill(t)));
}

process.once('exit', () => {
  for (const t of live) if (isAlive(t)) process.kill(t.pid, 'SIGKILL');
});
