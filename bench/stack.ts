/**
 * What the Temporal scenarios run on: a CLI dev server (SQLite file in a temp dir, 127.0.0.1, every custom
 * search attribute), the process's SDK Runtime with Prometheus metrics on a free port and logs as pino JSON
 * to a file (info level), and a jobledger worker with everything a user would turn on: the SQLite ledger,
 * search attributes, logs, metrics, and payload encryption (the codec) on client and worker. `plain()`
 * adds a plain Temporal worker and client (no codec) on the same server, for B1.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Runtime, Worker, type WorkerOptions } from '@temporalio/worker';
import { JobClient } from '../client/jobs';
import { dataConverterOptions } from '../codec/codec';
import { generateKey, parseKeyring } from '../codec/keys';
import { ALL_SEARCH_ATTRIBUTES } from '../common/searchAttributes';
import { createLogger, PinoSdkLogger, type Logger } from '../core/logging';
import { JobRegistry } from '../jobs/registry';
import { openLedger, type Ledger } from '../ledger';
import { freePort, resolveExecutable } from '../test/helpers/servers';
import { createJobWorker } from '../workers/worker';
import { BENCH_JOBS, listJob } from './jobs';
import { pool } from './lib';
import * as plainActivities from './plain-activities';

export const BENCH_WORKFLOWS_PATH = require.resolve('./workflows');

let runtimeLogger: Logger | undefined;
/** Installs the process's SDK Runtime once: logs to `<dir>/bench.log`, metrics on a free port. */
async function benchRuntime(dir: string): Promise<Logger> {
  if (runtimeLogger) return runtimeLogger;
  const logger = createLogger({ level: 'info', name: 'bench' }, pino.destination({ dest: join(dir, 'bench.log'), sync: false }));
  const port = await freePort();
  Runtime.install({ logger: new PinoSdkLogger(logger), telemetryOptions: { metrics: { prometheus: { bindAddress: `127.0.0.1:${port}` } } } });
  runtimeLogger = logger;
  return logger;
}

export interface Stack {
  env: TestWorkflowEnvironment;
  /** The encrypting client the JobClient submits through. */
  client: Client;
  jobs: JobClient;
  ledger: Ledger;
  logger: Logger;
  taskQueue: string;
  dir: string;
  /** A plain Temporal worker (no codec, no ledger) and client on the same server, on their own task queue. */
  plain(): Promise<{ client: Client; taskQueue: string }>;
  /**
   * A second jobledger worker running the workflow code of another checkout (`root`: a copy of an earlier
   * commit with this bench/workflows.ts and bench/jobs.ts in it), same ledger, codec and settings, on its own
   * task queue, and the JobClient that submits to it: a before/after comparison in one run.
   */
  earlier(root: string): Promise<JobClient>;
  stop(): Promise<void>;
}

/** Worker options both sides get: the SDK's defaults unless the bench is told otherwise. */
export type WorkerTuning = Partial<Pick<WorkerOptions, 'maxConcurrentActivityTaskExecutions' | 'maxConcurrentWorkflowTaskExecutions' | 'maxCachedWorkflows' | 'reuseV8Context'>>;

export async function startStack(tuning: WorkerTuning = {}): Promise<Stack> {
  const dir = mkdtempSync(join(tmpdir(), 'jobledger-bench-'));
  const logger = await benchRuntime(dir);
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: resolveExecutable('cli'),
      ip: '127.0.0.1',
      dbFilename: join(dir, 'temporal.db'),
      searchAttributes: ALL_SEARCH_ATTRIBUTES,
      log: { format: 'json', level: 'error' },
    },
  });
  const dataConverter = dataConverterOptions(parseKeyring({ current: 'bench', keys: { bench: generateKey() } }));
  const taskQueue = 'bench-jobledger';
  const ledger = openLedger(join(dir, 'ledger.db'));
  const worker = await createJobWorker({
    connection: env.nativeConnection,
    taskQueue,
    definitions: BENCH_JOBS,
    ledger,
    logger,
    dataConverter,
    workflowsPath: BENCH_WORKFLOWS_PATH,
    extra: tuning,
  });
  const running: Array<{ worker: Worker; done: Promise<void> }> = [{ worker, done: worker.run() }];
  const client = new Client({ connection: env.connection, dataConverter });
  const jobs = new JobClient({ client, registry: new JobRegistry(BENCH_JOBS), ledger, taskQueue, logger, submittedBy: 'bench', metrics: Runtime.instance().metricMeter });
  const plain = async () => {
    const plainQueue = 'bench-plain';
    const plainWorker = await Worker.create({ connection: env.nativeConnection, taskQueue: plainQueue, workflowsPath: BENCH_WORKFLOWS_PATH, activities: plainActivities, ...tuning });
    running.push({ worker: plainWorker, done: plainWorker.run() });
    return { client: new Client({ connection: env.connection }), taskQueue: plainQueue };
  };
  const earlier = async (root: string) => {
    const earlierQueue = 'bench-earlier';
    const earlierWorker = await createJobWorker({
      connection: env.nativeConnection,
      taskQueue: earlierQueue,
      definitions: BENCH_JOBS,
      ledger,
      logger,
      dataConverter,
      workflowsPath: join(root, 'bench', 'workflows.ts'),
      extra: tuning,
    });
    running.push({ worker: earlierWorker, done: earlierWorker.run() });
    return new JobClient({ client, registry: new JobRegistry(BENCH_JOBS), ledger, taskQueue: earlierQueue, logger, submittedBy: 'bench', metrics: Runtime.instance().metricMeter });
  };
  const stop = async () => {
    for (const r of running) r.worker.shutdown();
    await Promise.allSettled(running.map((r) => r.done));
    await ledger.close();
    await env.teardown();
    rmSync(dir, { recursive: true, force: true });
  };
  return { env, client, jobs, ledger, logger, taskQueue, dir, plain, earlier, stop };
}

/** How many events of each type one workflow's history holds, and the total. */
export async function historyShape(client: Client, workflowId: string): Promise<{ events: number; byType: Record<string, number> }> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const byType: Record<string, number> = {};
  for (const event of history.events ?? []) {
    const name = (temporal.api.enums.v1.EventType[event.eventType ?? 0] ?? 'unknown').replace(/^EVENT_TYPE_/, '');
    byType[name] = (byType[name] ?? 0) + 1;
  }
  return { events: history.events?.length ?? 0, byType };
}

/**
 * Runs `n` `bench.list` jobs to their end: `submitters` concurrent submitters, each submitting a job and
 * waiting for its result before the next. Returns the wall time and the job ids.
 */
export async function runJobs(stack: Stack, n: number, submitters: number, prefix: string): Promise<{ ms: number; jobIds: string[] }> {
  const jobIds: string[] = [];
  const t0 = performance.now();
  await pool(n, submitters, async (i) => {
    const { jobId } = await stack.jobs.submit(listJob, { id: `${prefix}-${i}` });
    await stack.client.workflow.getHandle(jobId).result();
    jobIds[i] = jobId;
  });
  return { ms: performance.now() - t0, jobIds };
}

/** CPU time (user + system, ms) of this process's child processes (the dev server), from /proc; 0 where there is no /proc. */
export function childCpuMs(): number {
  let ticks = 0;
  let pids: string[] = [];
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return 0;
  }
  for (const pid of pids) {
    try {
      // Fields after the command name (which may hold spaces): state ppid ... utime(14) stime(15).
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === process.pid) ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // the process ended meanwhile
    }
  }
  return ticks * 10; // USER_HZ is 100 on Linux
}

/** CPU time (user + system, ms) of this process: the workers, the clients and the ledger. */
export function ownCpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}
