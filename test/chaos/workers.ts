/**
 * A pool of real worker processes (`node --import tsx workers/main.ts`), each with its own identity
 * (`chaos-w1`, `chaos-w2`...) written into the ledger's step leases, all on one task queue and one ledger
 * file. The environment is built from scratch: no inherited JOBLEDGER_* or TEMPORAL_* setting reaches a
 * worker. A worker is ready once Temporal lists its identity among the task queue's activity pollers.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { JOBS_MODULE } from '../../examples/jobs';
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { ROOT } from './devserver';
import { isAlive, kill, startProcess, terminate, type Tracked } from './processes';

export interface WorkerPoolOptions {
  /** Environment of every worker (addresses, task queue, ledger path, provider URLs). */
  env: Record<string, string>;
  /** Directory for the workers' log files. */
  logDir: string;
  /** Client used to see the task queue's pollers. */
  client: Client;
  taskQueue: string;
  /** Called for notable happenings (a worker exiting on its own). */
  note: (what: string) => void;
  /** A working directory of its own for each worker (a separate host), under this directory. Default: the repository. */
  hostsDir?: string;
}

export interface PoolWorker {
  identity: string;
  process: Tracked;
}

/** tsx's loader by path, so that a worker can start in any working directory. */
const TSX_LOADER = join(ROOT, 'node_modules/tsx/dist/loader.mjs');

/**
 * The parent's environment without the project's settings (and without node's test-runner marker), plus
 * the example jobs module every chaos process (worker or CLI) loads.
 */
export function cleanBaseEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { JOBLEDGER_JOBS_MODULE: JOBS_MODULE };
  for (const [name, value] of Object.entries(process.env)) {
    if (/^JOBLEDGER_/.test(name) || /^TEMPORAL_(ADDRESS|NAMESPACE|UI_URL|CLI)$/.test(name) || name === 'NODE_TEST_CONTEXT') continue;
    env[name] = value;
  }
  return env;
}

export class WorkerPool {
  private readonly workers: PoolWorker[] = [];
  private counter = 0;
  private closed = false;
  /** Workers that exited without being told to. */
  unexpectedExits = 0;

  constructor(private readonly options: WorkerPoolOptions) {}

  /** Starts `count` workers (not waiting for them to be ready), as another user when `as` is given. */
  start(count = 1, as?: { uid: number; gid: number }): PoolWorker[] {
    if (this.closed) throw new Error('the worker pool is closed');
    const started: PoolWorker[] = [];
    for (let i = 0; i < count; i++) {
      this.counter += 1;
      const identity = `chaos-w${this.counter}`;
      // As a separate host, the worker runs in a directory of its own, so it shares no file with another process.
      const cwd = this.options.hostsDir ? join(this.options.hostsDir, identity) : ROOT;
      mkdirSync(cwd, { recursive: true });
      const process = startProcess(identity, globalThis.process.execPath, ['--import', TSX_LOADER, join(ROOT, 'workers/main.ts')], {
        cwd,
        env: { ...cleanBaseEnv(), ...this.options.env, JOBLEDGER_WORKER_IDENTITY: identity },
        logFile: join(this.options.logDir, `${identity}.log`),
        ...as,
      });
      const worker = { identity, process };
      void process.exited.then(({ code, signal }) => {
        if (process.stopping) return;
        this.unexpectedExits += 1;
        this.options.note(`worker ${identity} (pid ${process.pid}) exited on its own: code ${code}, signal ${signal}`);
      });
      this.workers.push(worker);
      started.push(worker);
    }
    return started;
  }

  get started(): number {
    return this.counter;
  }

  live(): PoolWorker[] {
    return this.workers.filter((w) => isAlive(w.process));
  }

  byIdentity(identity: string): PoolWorker | undefined {
    return this.workers.find((w) => w.identity === identity);
  }

  /** SIGKILL (the crash) and wait for the exit. */
  async kill(worker: PoolWorker): Promise<void> {
    await kill(worker.process);
  }

  /** Waits until every given worker polls the task queue (at most `timeoutMs`, default 60 s); throws if one exits. */
  async waitReady(workers: PoolWorker[], timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const waiting = new Set(workers.map((w) => w.identity));
    while (waiting.size > 0) {
      for (const w of workers) {
        if (waiting.has(w.identity) && !isAlive(w.process)) throw new Error(`worker ${w.identity} exited before it was ready (log: ${this.logOf(w)})`);
      }
      for (const identity of await this.pollers()) waiting.delete(identity);
      if (waiting.size === 0) return;
      if (Date.now() > deadline) throw new Error(`workers not polling after ${timeoutMs} ms: ${[...waiting].join(', ')}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  logOf(worker: PoolWorker): string {
    return join(this.options.logDir, `${worker.identity}.log`);
  }

  /** SIGTERM every live worker (SIGKILL after 10 s); no worker starts afterwards. */
  async stopAll(): Promise<void> {
    this.closed = true;
    await Promise.all(this.workers.map((w) => terminate(w.process, 10_000)));
  }

  private async pollers(): Promise<string[]> {
    try {
      const response = await this.options.client.workflowService.describeTaskQueue({
        namespace: this.options.client.options.namespace,
        taskQueue: { name: this.options.taskQueue, kind: temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
        taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
      });
      return (response.pollers ?? []).map((p) => p.identity ?? '');
    } catch {
      return []; // server restarting: try again
    }
  }
}
