/**
 * The demo behind `npm run demo`: with the dev server already up (temporal-dev.sh), it starts the
 * sandbox providers and a worker, submits a set of jobs that show each guarantee (a duplicate, a
 * conflict, invalid input, a retry that succeeds, a compensation, a dead letter resolved by an operator,
 * a manager's approval and a rejection, the list form of the order), prints the outcome of each with
 * `jobs.outcome` (a job that does not complete is an outcome, and its workflow closes as Failed) and
 * where to look in the Web UI, then stops the worker and the providers. Logs go to .jobledger/demo.log
 * as JSON lines.
 */
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import pino from 'pino';
import { Runtime } from '@temporalio/worker';
import { connectJobClient } from '../client/connect';
import { IdempotencyConflictError, type JobClient, type OperatorActionInput, type SubmitResult } from '../client/jobs';
import { JobStatus } from '../common/constants';
import type { JobResult } from '../common/types';
import { loadConfig } from '../core/config';
import { JobValidationError } from '../jobs/submission';
import { JOBS_MODULE } from './jobs';
import { createLogger } from '../core/logging';
import { APPROVAL_THRESHOLD, type OrderInput } from './jobs/order';
import { startSandbox, type Sandbox } from './sandbox';
import { installRuntime, workerFromConfig } from '../workers/worker';

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
  /** Once the job waits for its approval: approve or reject it as a manager would from the CLI. */
  decision?: OperatorActionInput;
  /** The submission is expected to be refused (conflict, invalid input): nothing runs. */
  refused?: boolean;
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

/** Polls the job's `JobStatus` until it is `status`; fails after 60 s. */
async function waitForStatus(jobs: JobClient, jobId: string, status: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if ((await jobs.status(jobId)).status === status) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${jobId} did not reach JobStatus ${status} within 60 s`);
}

/** Waits for the job to park, shows its diagnosis, then acts on it (what `jobledger dlq <action>` does). */
async function resolveWhenParked(jobs: JobClient, jobId: string, action: OperatorActionInput, sandbox: Sandbox, out: (line: string) => void): Promise<void> {
  await waitForStatus(jobs, jobId, JobStatus.DeadLettered);
  const failure = await jobs.diagnose(jobId);
  out(`    dead-lettered at ${failure?.step}: ${failure?.errorClass} (${failure?.message}); hint: ${failure?.hint}`);
  sandbox.email.setFaults({});
  await jobs.act(jobId, action);
  out(`    operator ${action.operator}: ${action.action} ("${action.reason}")  =  npm run -s jobledger -- dlq ${action.action} '${jobId}' --operator ${action.operator} --reason '...'`);
}

/** Waits until the job waits for its approval, then decides it (what `jobledger approve|reject` does). */
async function decideApproval(jobs: JobClient, jobId: string, decision: OperatorActionInput, out: (line: string) => void): Promise<void> {
  await waitForStatus(jobs, jobId, JobStatus.AwaitingApproval);
  out(`    ${JobStatus.AwaitingApproval} at ${(await jobs.status(jobId)).step}`);
  await jobs.act(jobId, decision);
  out(`    ${decision.operator}: ${decision.action} ("${decision.reason}")  =  npm run -s jobledger -- ${decision.action} '${jobId}' --operator ${decision.operator} --reason '...'`);
}

/** What the outcome line adds to the status: the compensations, the error, the approver. */
function outcomeDetails(outcome: JobResult): string {
  const details: string[] = [];
  if (outcome.compensated?.length) details.push(`compensated: ${outcome.compensated.join(', ')}`);
  if (outcome.error) details.push(`${outcome.error.errorClass ?? 'error'} at ${outcome.error.step}: ${outcome.error.message}`);
  const result = outcome.result;
  if (typeof result === 'object' && result !== null && 'approvedBy' in result && typeof result.approvedBy === 'string') {
    details.push(`approved by ${result.approvedBy}`);
  }
  return details.length ? ` (${details.join('; ')})` : '';
}

async function main(): Promise<void> {
  const config = loadConfig({ ...process.env, JOBLEDGER_JOBS_MODULE: JOBS_MODULE, JOBLEDGER_SUBMITTED_BY: process.env.JOBLEDGER_SUBMITTED_BY ?? 'demo-script' });
  const stateDir = join(ROOT, '.jobledger');
  mkdirSync(stateDir, { recursive: true });
  const logPath = config.JOBLEDGER_DEMO_LOG;
  mkdirSync(dirname(logPath), { recursive: true });
  const logger = createLogger({ level: 'info', name: 'jobledger-demo' }, pino.destination({ dest: logPath, sync: true }));
  await installRuntime(config, logger);

  const run = Date.now().toString(36);
  const sandbox = await startSandbox({ dir: join(stateDir, 'sandbox', run) });
  const { worker, close } = await workerFromConfig(config, logger, { services: sandbox.urls });
  const running = worker.run();
  const client = await connectJobClient(config, { logger, metrics: Runtime.instance().metricMeter });
  const link = (jobId: string) => `${config.TEMPORAL_UI_URL}/namespaces/${config.TEMPORAL_NAMESPACE}/workflows/${encodeURIComponent(jobId)}`;

  const cases: DemoCase[] = [
    { title: 'order fulfilled', type: 'order.fulfill', input: order(`ord-${run}-1`) },
    { title: 'same order again (duplicate)', type: 'order.fulfill', input: order(`ord-${run}-1`) },
    { title: 'same order id, other amount (conflict)', type: 'order.fulfill', input: order(`ord-${run}-1`, { amount: 1 }), refused: true },
    { title: 'invalid input', type: 'order.fulfill', input: { orderId: `ord-${run}-bad`, amount: -5 }, refused: true },
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
    {
      title: "large order waits for a manager's approval, then an operator approves it",
      type: 'order.fulfill',
      input: order(`ord-${run}-6`, { amount: APPROVAL_THRESHOLD + 25_000 }),
      decision: { action: 'approve', operator: 'demo-manager', reason: 'customer is known, within budget' },
    },
    {
      title: 'large order rejected by the manager: compensated',
      type: 'order.fulfill',
      input: order(`ord-${run}-7`, { amount: APPROVAL_THRESHOLD + 90_000 }),
      decision: { action: 'reject', operator: 'demo-manager', reason: 'over the customer credit limit' },
    },
    { title: 'order in list form (order.sequential): reserve, charge, receipt', type: 'order.sequential', input: order(`ord-${run}-8`) },
    { title: 'greeting sent', type: 'greeting.send', input: { recipientId: `user-${run}` } },
    { title: 'report fanned out as 3 child jobs', type: 'report.generate', input: { reportId: `rep-${run}`, sections: ['summary', 'sales', 'outlook'] } },
  ];

  const out = (line: string) => process.stdout.write(`${line}\n`);

  /** Submits one case, resolves it as its operator or manager would, and prints its outcome. */
  async function runCase(demo: DemoCase): Promise<void> {
    let submitted: SubmitResult;
    try {
      submitted = await client.jobs.submit(demo.type, demo.input, demo.key ? { key: demo.key } : {});
    } catch (err) {
      // Only the refusals this demo shows are expected; anything else ends the demo.
      if (!demo.refused || !(err instanceof IdempotencyConflictError || err instanceof JobValidationError)) throw err;
      out(`    rejected: ${err.name}: ${err.message}`);
      return;
    }
    if (demo.refused) throw new Error(`${demo.title}: the submission was expected to be refused, but ${submitted.jobId} was accepted`);
    if (demo.operator) await resolveWhenParked(client.jobs, submitted.jobId, demo.operator, sandbox, out);
    if (demo.decision) await decideApproval(client.jobs, submitted.jobId, demo.decision, out);
    const outcome = await client.jobs.outcome(submitted.jobId);
    const { workflowStatus } = await client.jobs.status(submitted.jobId);
    out(`    ${submitted.jobId}  deduplicated=${submitted.deduplicated}  status=${outcome.status}  workflow=${workflowStatus}${outcomeDetails(outcome)}`);
    out(`    ${link(submitted.jobId)}`);
  }

  out(`\njobledger demo (run ${run}) on ${config.TEMPORAL_ADDRESS}, task queue ${config.JOBLEDGER_TASK_QUEUE}\n`);
  try {
    for (const demo of cases) {
      demo.arm?.(sandbox);
      out(`- ${demo.title}`);
      try {
        await runCase(demo);
      } finally {
        sandbox.payments.setFaults({});
        sandbox.email.setFaults({});
      }
    }
    const stats = { payments: sandbox.payments.stats(), inventory: sandbox.inventory.stats(), email: sandbox.email.stats() };
    out(`\nDownstream effects applied in this run: charges=${stats.payments.byKind.charge}, refunds=${stats.payments.byKind.refund}, ` +
      `reservations=${stats.inventory.byKind.reserve}, releases=${stats.inventory.byKind.release}, emails=${stats.email.byKind.email}`);
    const list = `${config.TEMPORAL_UI_URL}/namespaces/${config.TEMPORAL_NAMESPACE}/workflows`;
    const filtered = (query: string) => `${list}?query=${encodeURIComponent(query)}`;
    out(`\nWeb UI, workflow list (the Type column shows each job's type: order.fulfill, order.sequential, greeting.send, ...):`);
    out(`  ${list}`);
    // The query as the Web UI writes it when its "Failed" status count is clicked: the attribute name in
    // backticks, the whole query URL-encoded in `?query=`. (The UI's "Failures" tab is another view: running
    // workflows whose workflow tasks fail.)
    out(`Failed workflows (compensated, rejected and abandoned jobs close as Failed; the list's "Failed" count opens the same view):`);
    out(`  ${filtered('`ExecutionStatus`="Failed"')}`);
    out(`Filtered by the job's own status:`);
    out(`  ${filtered('JobStatus="Compensated"')}`);
    out(`  ${filtered('JobStatus="AwaitingApproval"')}   (orders waiting for a manager; this run decided both of its own)`);
    out(`  ${filtered('WorkflowType="order.fulfill"')}`);
    out(`CLI:    temporal workflow list --query 'ExecutionStatus="Failed"'   (after: eval "$(./temporal-dev.sh env)")`);
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
