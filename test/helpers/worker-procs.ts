/**
 * Worker processes for the cluster tests (doctor, metrics port): `npm run -s worker` or `node workers/main.ts`
 * started with a test's environment, their JSON stdout lines kept, and a stop that ends exactly the
 * processes started here, by PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { ROOT } from './servers';

export interface WorkerProc {
  child: ChildProcess;
  lines: string[];
  exited: Promise<number | null>;
}

/** Every PID started here, and worker PIDs found through their `worker started` line. */
const pids = new Set<number>();

export function startWorkerProcess(viaNpm: boolean, env: NodeJS.ProcessEnv): WorkerProc {
  const [command, args] = viaNpm ? ['npm', ['run', '-s', 'worker']] : [process.execPath, ['--import', 'tsx', 'workers/main.ts']];
  const child = spawn(command, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  if (child.pid !== undefined) pids.add(child.pid);
  const lines: string[] = [];
  let partial = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    const parts = (partial + chunk.toString('utf8')).split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts);
  });
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, lines, exited };
}

/** The parsed JSON line with message `msg`, once written. */
export function logLine(proc: WorkerProc, msg: string): Record<string, unknown> | undefined {
  for (const text of proc.lines) {
    if (!text.includes(msg)) continue;
    const entry: unknown = JSON.parse(text);
    if (typeof entry === 'object' && entry !== null && 'msg' in entry && entry.msg === msg) return { ...entry };
  }
  return undefined;
}

/** Waits for the worker's `worker started` line (and remembers its PID); fails if the process exits first. */
export async function workerStarted(proc: WorkerProc, timeoutMs = 120_000): Promise<Record<string, unknown>> {
  let exited = false;
  void proc.exited.then(() => (exited = true));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const started = logLine(proc, 'worker started');
    if (started) {
      if (typeof started.pid === 'number') pids.add(started.pid);
      return started;
    }
    if (exited) throw new Error(`worker exited before it started:\n${proc.lines.join('\n')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('timed out waiting for worker started');
}

/** SIGTERM to every process started here that is still alive; SIGKILL to those left after `graceMs`. */
export async function stopWorkerProcesses(graceMs = 15_000): Promise<void> {
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while ([...pids].some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
  pids.clear();
}
