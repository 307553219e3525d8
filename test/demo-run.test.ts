/**
 * A full demo run (examples/demo.ts against a dev server): every job line of its log parses against the
 * fixed log schema, no seeded PII value appears anywhere in the log, one job can be followed by its
 * job_id from the client through the workflow to its activities, and reconcile is clean afterwards.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { formatReport, reconcile } from '../client/reconcile';
import { JobLogLine } from '../core/logschema';
import { openLedger } from '../ledger';
import { run } from './helpers/run';
import { freePort, startDevServer, tempDir, unique } from './helpers/servers';

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
  const emails = [...demoOutput.matchAll(/order\.fulfill:(ord-[a-z0-9]+-\d)/g)].map((m) => `${m[1]}@example.com`);
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
    assert.ok(clean.rows.some((r) => r.jobType === 'order.fulfill' && r.status === 'Compensated' && r.temporal === 1 && r.ledger === 1));
    const jobId = /(order\.fulfill:ord-[a-z0-9]+-3)\b/.exec(demoOutput)![1]!;
    await ledger.updateJobStatus(jobId, 'Completed');
    const broken = await reconcile({ client: env.client, ledger });
    assert.equal(broken.ok, false);
    assert.ok(broken.discrepancies.some((d) => d.jobType === 'order.fulfill' && d.status === 'Compensated'), formatReport(broken));
  } finally {
    await ledger.close();
  }
});
