/**
 * The demo behind `npm run demo`: with the dev server already up (temporal-dev.sh), it starts the
 * sandbox providers and a worker, submits a set of jobs that show each guarantee (a duplicate, a
 * conflict, invalid input, a retry that succeeds, a compensation, a permanent failure), prints the
 * outcome of each and where to look in the Web UI, then stops the worker and the providers. Logs go to
 * .jobledger/demo.log as JSON lines.
 */
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import pino from 'pino';
import { Runtime } from '@temporalio/worker';
import { connectJobClient } from '../client/connect';
import type { JobClient, OperatorActionInput } from '../client/jobs';
import { loadConfig } from '../core/config';
import { JOBS_MODULE } from './jobs';
import { createLogger } from '../core/logging';
import type { OrderInput } from './jobs/order';
import { startSandbox, type Sandbox } from './sandbox';
import { installRuntime, workerFromConfig } from '../workers/worker';
import { jobOutcome } from '../client/outcome';

const ROOT = join(__dirname, '..');

interface DemoCase {
  title: string;
  type: string;
  input: unknown;
  key?: string;
  /** Arms a provider fault just before this case is submitted. */
  arm?: (sandbox: Sandbox) => void;
  /** Once the job is dead-lettered: clear the faults and resolve it as this operator would from the CLI. */
  operator?: OperatorActionInput;
}

function order(orderId: string, overrides: Partial<OrderInput> = {}): OrderInput {
  return {
    orderId,
    customer: { id: `cus-${orderId}`, email: `${orderId}@example.com` },
    items: [{ sku: 'SKU-RED-MUG', qty: 2 }],
    amount: 2599,
    currency: 'EUR',
    ...overrides,
  };
}

/** Waits for the job to park, shows its diagnosis, then acts on it (what `jobledger dlq <action>` does). */
async function resolveWhenParked(jobs: JobClient, jobId: string, action: OperatorActionInput, sandbox: Sandbox, out: (line: string) => void): Promise<void> {
  for (let i = 0; i < 300 && (await jobs.status(jobId)).status !== 'DeadLettered'; i++) await new Promise((r) => setTimeout(r, 200));
  const failure = await jobs.diagnose(jobId);
  out(`    dead-lettered at ${failure?.step}: ${failure?.errorClass} (${failure?.message}); hint: ${failure?.hint}`);
  sandbox.email.setFaults({});
  await jobs.act(jobId, action);
  out(`    operator ${action.operator}: ${action.action} ("${action.reason}")  =  npm run -s jobledger -- dlq ${action.action} '${jobId}' --operator ${action.operator} --reason '...'`);
}

async function main(): Promise<void> {
  const config = loadConfig({ ...process.env, JOBLEDGER_JOBS_MODULE: JOBS_MODULE, JOBLEDGER_SUBMITTED_BY: process.env.JOBLEDGER_SUBMITTED_BY ?? 'demo-script' });
  const stateDir = join(ROOT, '.jobledger');
  mkdirSync(stateDir, { recursive: true });
  const logPath = config.JOBLEDGER_DEMO_LOG;
  mkdirSync(dirname(logPath), { recursive: true });
  const logger = createLogger({ level: 'info', name: 'jobledger-demo' }, pino.destination({ dest: logPath, sync: true }));
  installRuntime(config, logger);

  const run = Date.now().toString(36);
  const sandbox = await startSandbox({ dir: join(stateDir, 'sandbox', run) });
  const { worker, close } = await workerFromConfig(config, logger, { services: sandbox.urls });
  const running = worker.run();
  const client = await connectJobClient(config, { logger, metrics: Runtime.instance().metricMeter });
  const link = (jobId: string) => `${config.TEMPORAL_UI_URL}/namespaces/${config.TEMPORAL_NAMESPACE}/workflows/${encodeURIComponent(jobId)}`;

  const cases: DemoCase[] = [
    { title: 'order fulfilled', type: 'order.fulfill', input: order(`ord-${run}-1`) },
    { title: 'same order again (duplicate)', type: 'order.fulfill', input: order(`ord-${run}-1`) },
    { title: 'same order id, other amount (conflict)', type: 'order.fulfill', input: order(`ord-${run}-1`, { amount: 1 }) },
    { title: 'invalid input', type: 'order.fulfill', input: { orderId: `ord-${run}-bad`, amount: -5 } },
    {
      title: 'payments rate-limited once, then succeeds',
      type: 'order.fulfill',
      input: order(`ord-${run}-2`),
      arm: (s) => s.payments.setFaults({ rateLimit: { count: 1, retryAfterSec: 1 } }),
    },
    {
      title: 'receipt refused for good: compensated',
      type: 'order.fulfill',
      input: order(`ord-${run}-3`),
      arm: (s) => s.email.setFaults({ failNext: { count: 1, status: 400, type: 'invalid_recipient' } }),
    },
    {
      title: 'email service down for good: dead-lettered, then an operator retries it',
      type: 'order.fulfill',
      input: order(`ord-${run}-4`),
      arm: (s) => s.email.setFaults({ failNext: { count: 20, status: 503 } }),
      operator: { action: 'retry', operator: 'demo-operator', reason: 'email provider is back' },
    },
    {
      title: 'out of stock: dead-lettered, then an operator abandons it',
      type: 'order.fulfill',
      input: order(`ord-${run}-5`, { items: [{ sku: 'OUT-BLUE-MUG', qty: 1 }] }),
      operator: { action: 'abandon', operator: 'demo-operator', reason: 'customer was told, order cancelled' },
    },
    { title: 'greeting sent', type: 'greeting.send', input: { recipientId: `user-${run}` } },
    { title: 'report fanned out as 3 child jobs', type: 'report.generate', input: { reportId: `rep-${run}`, sections: ['summary', 'sales', 'outlook'] } },
  ];

  const out = (line: string) => process.stdout.write(`${line}\n`);
  out(`\njobledger demo (run ${run}) on ${config.TEMPORAL_ADDRESS}, task queue ${config.JOBLEDGER_TASK_QUEUE}\n`);
  try {
    for (const demo of cases) {
      demo.arm?.(sandbox);
      out(`- ${demo.title}`);
      try {
        const submitted = await client.jobs.submit(demo.type, demo.input, demo.key ? { key: demo.key } : {});
        if (demo.operator) await resolveWhenParked(client.jobs, submitted.jobId, demo.operator, sandbox, out);
        const result = (await jobOutcome(client.client.workflow.getHandle(submitted.jobId)).catch(() => undefined)) as
          | { status: string; compensated?: string[] }
          | undefined;
        const status = result?.status ?? (await client.jobs.status(submitted.jobId)).status;
        const extra = result?.compensated ? ` (compensated: ${result.compensated.join(', ')})` : '';
        out(`    ${submitted.jobId}  deduplicated=${submitted.deduplicated}  status=${status}${extra}\n    ${link(submitted.jobId)}`);
      } catch (err) {
        out(`    rejected: ${(err as Error).name}: ${(err as Error).message}`);
      } finally {
        sandbox.payments.setFaults({});
        sandbox.email.setFaults({});
      }
    }
    const stats = { payments: sandbox.payments.stats(), inventory: sandbox.inventory.stats(), email: sandbox.email.stats() };
    out(`\nDownstream effects applied in this run: charges=${stats.payments.byKind.charge}, refunds=${stats.payments.byKind.refund}, ` +
      `reservations=${stats.inventory.byKind.reserve}, releases=${stats.inventory.byKind.release}, emails=${stats.email.byKind.email}`);
    const query = encodeURIComponent('JobType="order.fulfill"');
    out(`\nWeb UI: ${config.TEMPORAL_UI_URL}/namespaces/${config.TEMPORAL_NAMESPACE}/workflows?query=${query}`);
    out(`  or filter by status, e.g. JobStatus="Compensated", in the Web UI's search box.`);
    out(`CLI:    temporal workflow list --query 'JobType="order.fulfill"'   (after: eval "$(./temporal-dev.sh env)")`);
    out(`Logs:   ${logPath}`);
    out(`The dev server keeps running; stop it with ./temporal-dev.sh down\n`);
  } finally {
    worker.shutdown();
    await running;
    await client.close();
    await close();
    await sandbox.stop();
  }
}

main().catch((err) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
