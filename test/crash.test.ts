/**
 * A worker process killed with SIGKILL after the payments provider applied the charge but before the
 * ledger recorded the step's completion: after a new worker starts, the order completes with exactly one
 * applied charge, because the retried step sends the same Idempotency-Key. Run for both forms of the order
 * job: `order.fulfill` (workflow code) and `order.sequential` (the list form). The workers are real
 * processes (workers/main.ts) that load the example jobs through JOBLEDGER_JOBS_MODULE and bundle their
 * workflows themselves. Run once with a SQLite ledger (JOBLEDGER_LEDGER_PATH) and once with a PostgreSQL
 * one (JOBLEDGER_LEDGER_URL in the workers' environment).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { JobClient } from '../client/jobs';
import { orderFulfillJob, orderSequentialJob } from '../examples/jobs/order';
import { JobRegistry } from '../jobs/registry';
import { openLedger, type Ledger } from '../ledger';
import type { Sandbox } from '../examples/sandbox';
import { order } from './fixtures/orders';
import { effectCount, withSandbox } from './helpers/sandbox';
import { ledgerBackends } from './helpers/ledger-backends';
import { ROOT, startDevServer, testLogger, unique } from './helpers/servers';

let env: TestWorkflowEnvironment;
let sandbox: Sandbox;
let ledger: Ledger;
let workerEnv: NodeJS.ProcessEnv;
const workers: ChildProcess[] = [];

function startWorker(identity: string, taskQueue: string): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'workers/main.ts'], {
    cwd: ROOT,
    env: { ...process.env, ...workerEnv, JOBLEDGER_TASK_QUEUE: taskQueue, JOBLEDGER_WORKER_IDENTITY: identity },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  workers.push(child);
  return child;
}

function running(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** Stops a worker with SIGTERM (a clean shutdown) and waits for it to exit. */
async function stopWorker(child: ChildProcess): Promise<void> {
  if (!running(child)) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const BACKENDS = ledgerBackends();
let baseEnv: NodeJS.ProcessEnv;

before(async () => {
  env = await startDevServer();
  sandbox = await withSandbox();
  baseEnv = {
    TEMPORAL_ADDRESS: env.address,
    JOBLEDGER_JOBS_MODULE: 'examples/jobs/index.ts',
    JOBLEDGER_SERVICE_PAYMENTS_URL: sandbox.urls.payments,
    JOBLEDGER_SERVICE_INVENTORY_URL: sandbox.urls.inventory,
    JOBLEDGER_SERVICE_EMAIL_URL: sandbox.urls.email,
    LOG_LEVEL: 'warn',
    JOBLEDGER_METRICS_PORT: '0',
  };
});
after(async () => {
  await Promise.all(workers.map(stopWorker));
  await sandbox?.stop();
  await env?.teardown();
});

for (const backend of BACKENDS) {
  describe(backend.name, () => {
    before(async () => {
      const target = await backend.newTarget();
      ledger = openLedger(target);
      const where = backend.name === 'postgres' ? { JOBLEDGER_LEDGER_URL: target } : { JOBLEDGER_LEDGER_PATH: target };
      workerEnv = { ...baseEnv, ...where };
    });
    after(async () => {
      await Promise.all(workers.map(stopWorker));
      await ledger?.close();
    });

    for (const job of [orderFulfillJob, orderSequentialJob]) {
      test(`${job.type}: SIGKILL between the applied charge and the ledger completion still leaves exactly one charge`, async () => {
        const orderId = unique('ord-crash');
        // A task queue of its own, so that no worker of another test takes the job's tasks.
        const taskQueue = unique('crash-tq');
        const jobs = new JobClient({
          client: env.client,
          registry: new JobRegistry([job]),
          ledger,
          taskQueue,
          logger: testLogger(),
          submittedBy: 'crash-test',
        });
        // The provider commits the charge, then waits before answering: the window in which the worker dies.
        sandbox.payments.setFaults({ delayAfterApplyMs: 5_000 });
        const first = startWorker('worker-a', taskQueue);
        const { jobId } = await jobs.submit(job.type, order(orderId));
        await until('the applied charge', () => (effectCount(sandbox, 'payments', 'charge', orderId) === 1 ? true : undefined));
        first.kill('SIGKILL');
        await new Promise((r) => first.once('exit', r));
        sandbox.payments.setFaults({});
        const step = await ledger.getStep(`${jobId}/charge-payment`);
        assert.equal(step?.state, 'IN_PROGRESS', 'the ledger had not recorded the completion when the worker died');
        assert.equal(step?.owner, 'worker-a');

        const second = startWorker('worker-b', taskQueue);
        try {
          const result = await jobs.outcome(jobId);
          assert.equal(result.status, 'Completed');
          assert.equal(effectCount(sandbox, 'payments', 'charge', orderId), 1, 'exactly one applied charge');
          const chargeCalls = sandbox.payments.listCalls().filter((c) => c.idempotencyKey === `${jobId}/charge-payment`);
          assert.ok(chargeCalls.length >= 2, 'the charge was sent again after the crash');
          assert.ok(chargeCalls.some((c) => c.replayed), 'and the provider answered it from its idempotency store');
          const completed = await ledger.getStep(`${jobId}/charge-payment`);
          assert.deepEqual([completed?.state, completed?.owner], ['COMPLETED', 'worker-b']);
        } finally {
          await stopWorker(second);
        }
      });
    }
  });
}
