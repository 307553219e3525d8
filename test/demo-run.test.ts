/**
 * A full demo run (examples/demo.ts against a dev server): every job line of its log parses against the
 * fixed log schema, no seeded PII value appears anywhere in the log, one job can be followed by its
 * job_id from the client through the workflow to its activities, each case prints the outcome it should
 * (the approved and the rejected large orders, the list-form order, the compensated and the abandoned
 * orders closed as Failed workflows, which are exactly the run's Failed workflows), and reconcile is clean
 * afterwards.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { OUTCOME_FAILURE_TYPES } from '../common/constants';
import { SA } from '../common/searchAttributes';
import { formatReport, reconcile } from '../client/reconcile';
import { JobLogLine } from '../core/logschema';
import { openLedger } from '../ledger';
import { run } from './helpers/run';
import { freePort, startDevServer, tempDir, unique } from './helpers/servers';
import { waitForCount } from './helpers/visibility';

let env: TestWorkflowEnvironment;
let lines: Record<string, unknown>[];
let demoOutput: string;
let ledgerPath: string;

before(async () => {
  env = await startDevServer();
  const dir = tempDir();
  const logPath = join(dir, 'demo.log');
  const r = await run(process.execPath, ['--import', 'tsx', 'examples/demo.ts'], {
    TEMPORAL_ADDRESS: env.address,
    JOBLEDGER_TASK_QUEUE: unique('demo-tq'),
    JOBLEDGER_LEDGER_PATH: (ledgerPath = join(dir, 'ledger.db')),
    JOBLEDGER_BREAKER_PATH: join(dir, 'breakers.db'),
    JOBLEDGER_DEMO_LOG: logPath,
    JOBLEDGER_METRICS_PORT: String(await freePort()),
    JOBLEDGER_TRACING: 'console',
  }, 240_000);
  assert.equal(r.code, 0, r.stderr);
  demoOutput = r.stdout;
  lines = readFileSync(logPath, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
});
after(async () => {
  await env?.teardown();
});

test('every job line of a demo run parses against the log schema', () => {
  const jobLines = lines.filter((l) => 'job_id' in l);
  assert.ok(jobLines.length >= 50, `${jobLines.length} job lines`);
  for (const line of jobLines) {
    const parsed = JobLogLine.safeParse(line);
    assert.ok(parsed.success, `${JSON.stringify(line)}\n${parsed.error?.message}`);
  }
});

test('no seeded PII value appears in the demo log', () => {
  const emails = [...demoOutput.matchAll(/order\.(?:fulfill|sequential):(ord-[a-z0-9]+-\d)/g)].map((m) => `${m[1]}@example.com`);
  assert.ok(emails.length >= 5, 'the demo submitted orders with customer emails');
  const text = JSON.stringify(lines);
  for (const email of emails) assert.ok(!text.includes(email), `${email} is not logged`);
});

test('one job can be followed by its job_id from the client through the workflow to its activities, and into its trace', () => {
  const jobId = /(order\.fulfill:ord-[a-z0-9]+-1)\b/.exec(demoOutput)![1]!;
  const own = lines.filter((l) => l.job_id === jobId);
  assert.ok(own.some((l) => l.service === 'jobledger-demo' && l.msg === 'job submitted'), 'client line');
  assert.ok(own.some((l) => l.sdkComponent === 'workflow' && l.msg === 'job started'), 'workflow line');
  assert.ok(own.some((l) => l.step === 'charge-payment' && l.msg === 'step completed'), 'activity line');
  assert.ok(own.some((l) => l.sdkComponent === 'workflow' && l.msg === 'job closed' && l.status === 'Completed'), 'closing line');
  // The same job in the trace: its log lines carry one trace id (a later duplicate submission is a trace
  // of its own), and the exported spans use it.
  const traceIds = new Set(own.filter((l) => l.outcome !== 'deduplicated').map((l) => l.trace_id));
  assert.equal(traceIds.size, 1, `one trace id on every line of the job: ${[...traceIds].join(', ')}`);
  const [traceId] = [...traceIds] as string[];
  assert.match(traceId!, /^[0-9a-f]{32}$/);
  assert.ok(demoOutput.includes(`traceId: '${traceId}'`), 'the console exporter printed spans of that trace');
});

test('after the demo, reconcile finds Temporal and the ledger in agreement, and flags an injected discrepancy', async () => {
  const ledger = openLedger(ledgerPath);
  try {
    const clean = await reconcile({ client: env.client, ledger, settleMs: 5_000 });
    assert.deepEqual(clean.discrepancies, [], formatReport(clean));
    // The order whose receipt was refused and the one the manager rejected.
    assert.ok(clean.rows.some((r) => r.jobType === 'order.fulfill' && r.status === 'Compensated' && r.temporal === 2 && r.ledger === 2), formatReport(clean));
    const jobId = /(order\.fulfill:ord-[a-z0-9]+-3)\b/.exec(demoOutput)![1]!;
    await ledger.updateJobStatus(jobId, 'Completed');
    const broken = await reconcile({ client: env.client, ledger });
    assert.equal(broken.ok, false);
    assert.ok(broken.discrepancies.some((d) => d.jobType === 'order.fulfill' && d.status === 'Compensated'), formatReport(broken));
  } finally {
    await ledger.close();
  }
});

/** The run's id, from the demo's first line. */
function runId(): string {
  return /jobledger demo \(run ([a-z0-9]+)\)/.exec(demoOutput)![1]!;
}

/** The outcome line the demo printed for a job: `<jobId>  deduplicated=false  status=...`. */
function outcomeLine(jobId: string): string {
  const line = demoOutput.split('\n').find((l) => l.trim().startsWith(`${jobId}  deduplicated=false  status=`));
  assert.ok(line, `the demo printed an outcome for ${jobId}:\n${demoOutput}`);
  return line.trim();
}

/** The failure type a job's workflow closed with, or undefined when it completed. */
async function closingFailureType(jobId: string): Promise<string | undefined> {
  const err = await env.client.workflow.getHandle(jobId).result().then(() => undefined, (e: unknown) => e);
  if (err === undefined) return undefined;
  assert.ok(err instanceof WorkflowFailedError && err.cause instanceof ApplicationFailure, `${jobId}: ${String(err)}`);
  return err.cause.type ?? undefined;
}

test('each new case prints its outcome: approved, rejected and compensated, the list form completed', async () => {
  const run = runId();
  const approved = `order.fulfill:ord-${run}-6`;
  assert.match(demoOutput, new RegExp(`demo-manager: approve \\("[^"]+"\\)  =  npm run -s jobledger -- approve '${approved}' --operator demo-manager`));
  assert.match(outcomeLine(approved), /status=Completed {2}workflow=COMPLETED \(approved by demo-manager\)$/);

  const rejected = `order.fulfill:ord-${run}-7`;
  assert.match(outcomeLine(rejected), /status=Compensated {2}workflow=FAILED \(compensated: release-inventory; BusinessRule at manager-approval: .*rejected by demo-manager/);

  const sequential = `order.sequential:ord-${run}-8`;
  assert.match(outcomeLine(sequential), /status=Completed {2}workflow=COMPLETED$/);
  const description = await env.client.workflow.getHandle(sequential).describe();
  assert.equal(description.type, 'order.sequential', 'the list form runs as its own workflow type');

  for (const jobId of [approved, rejected]) {
    assert.equal((await env.client.workflow.getHandle(jobId).describe()).type, 'order.fulfill');
  }
  assert.equal(await closingFailureType(approved), undefined);
  assert.equal(await closingFailureType(rejected), OUTCOME_FAILURE_TYPES.Compensated);
});

test('the compensated, the rejected and the abandoned orders are exactly the Failed workflows, and the demo links to that view', async () => {
  const run = runId();
  const expected = {
    [`order.fulfill:ord-${run}-3`]: 'Compensated',
    [`order.fulfill:ord-${run}-5`]: 'Abandoned',
    [`order.fulfill:ord-${run}-7`]: 'Compensated',
  } as const;
  for (const [jobId, status] of Object.entries(expected)) {
    assert.match(outcomeLine(jobId), new RegExp(`status=${status} {2}workflow=FAILED`));
    const description = await env.client.workflow.getHandle(jobId).describe();
    assert.equal(description.status.name, 'FAILED', jobId);
    assert.equal(description.typedSearchAttributes.get(SA.JobStatus), status, jobId);
    assert.equal(await closingFailureType(jobId), OUTCOME_FAILURE_TYPES[status], jobId);
  }
  assert.equal(await waitForCount(env.client, 'ExecutionStatus="Failed"', 3), 3);
  const failed: string[] = [];
  for await (const execution of env.client.workflow.list({ query: 'ExecutionStatus="Failed"' })) failed.push(execution.workflowId);
  assert.deepEqual(failed.sort(), Object.keys(expected).sort(), 'the Failed workflows of the run');

  // The link the Web UI itself writes when its "Failed" count is clicked, and the JobStatus examples.
  assert.match(demoOutput, /\/namespaces\/default\/workflows\?query=%60ExecutionStatus%60%3D%22Failed%22\n/);
  assert.ok(demoOutput.includes(`/workflows?query=${encodeURIComponent('JobStatus="Compensated"')}`));
  assert.ok(demoOutput.includes(`/workflows?query=${encodeURIComponent('JobStatus="AwaitingApproval"')}`));
});
