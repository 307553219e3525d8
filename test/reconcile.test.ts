/**
 * `reconcile` on the real dev server with the sandbox providers and a real ledger. A small demo-like run
 * (three fulfilled orders, one compensated, one greeting) reconciles clean; a ledger row changed behind
 * the ledger's back and a charge made outside any job are each reported; the effects of any job type are
 * counted through an EffectSource; an archive export reconciles clean, a job closed after it is "not yet
 * archived", and pruned leaves still count.
 */
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import Database from 'better-sqlite3';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { appendLeaves, generateKeyPair, pruneArchive, signerFrom } from '../audit/archive';
import { closedJobEntries } from '../client/audit-export';
import { lastReconcileVerdict } from '../client/health';
import { reconcile, formatReport, type ReconcileReport, type ReconcileSources } from '../client/reconcile';
import type { JobResult } from '../common/types';
import type { AppliedEffect, EffectSource } from '../jobs/effects';
import { greetingJob } from '../examples/jobs/greeting';
import { orderFulfillJob } from '../examples/jobs/order';
import type { Sandbox } from '../examples/sandbox';
import { sandboxEffects } from '../examples/sandbox/effects';
import { order } from './fixtures/orders';
import { startHarness, type RunningHarness } from './helpers/harness';
import { cli } from './helpers/run';
import { withSandbox } from './helpers/sandbox';
import { startDevServer, tempDir, unique } from './helpers/servers';
import { waitForCount } from './helpers/visibility';
import { jobOutcome } from '../client/outcome';

let env: TestWorkflowEnvironment;
let sandbox: Sandbox;
let h: RunningHarness;
let compensatedJobId: string;
/** The sandbox providers as the order job's effect sources. */
let effects: EffectSource[];
/** Before the first job of this file. */
let startedAt: Date;

async function runJob(jobType: string, input: unknown): Promise<JobResult> {
  const { jobId } = await h.jobs.submit(jobType, input);
  return jobOutcome(env.client.workflow.getHandle(jobId));
}

/** Waits until visibility shows `closed` closed jobs, then reconciles (retrying while visibility settles). */
async function reconcileAfter(closed: number, extra: Partial<ReconcileSources> = {}): Promise<ReconcileReport> {
  assert.equal(await waitForCount(env.client, 'JobType IS NOT NULL AND ExecutionStatus != "Running"', closed), closed);
  return reconcile({ client: h.client, ledger: h.ledger, effects, settleMs: 10_000, ...extra });
}

function row(report: ReconcileReport, jobType: string, status: string) {
  return report.rows.find((r) => r.jobType === jobType && r.status === status);
}

/** The count of one effect kind in a report. */
function netOf(report: ReconcileReport, kind: string) {
  return report.effects?.flatMap((e) => e.kinds).find((k) => k.kind === kind);
}

before(async () => {
  env = await startDevServer();
  sandbox = await withSandbox();
  effects = sandboxEffects(sandbox.urls);
  startedAt = new Date();
  h = await startHarness(env, [orderFulfillJob, greetingJob], { services: sandbox.urls });

  // The demo-like run: three fulfilled orders, one compensated (its receipt is refused), one greeting.
  for (let i = 0; i < 3; i++) assert.equal((await runJob('order.fulfill', order(unique('ord')))).status, 'Completed');
  sandbox.email.setFaults({ failNext: { count: 1, status: 400 } });
  const refused = await runJob('order.fulfill', order(unique('ord-comp')));
  sandbox.email.setFaults({});
  assert.equal(refused.status, 'Compensated');
  compensatedJobId = refused.jobId;
  assert.equal((await runJob('greeting.send', { recipientId: unique('r') })).status, 'Completed');
});

after(async () => {
  await h?.stop();
  await sandbox?.stop();
  await env?.teardown();
});

test('after a demo-like run, reconcile is clean and counts exactly what was run', async () => {
  const report = await reconcileAfter(5);
  assert.deepEqual(report.discrepancies, [], formatReport(report));
  assert.equal(report.ok, true);
  assert.deepEqual(
    report.rows.map((r) => [r.jobType, r.status, r.temporal, r.ledger]),
    [
      ['greeting.send', 'Completed', 1, 1],
      ['order.fulfill', 'Completed', 3, 3],
      ['order.fulfill', 'Compensated', 1, 1],
    ],
  );
  const orders = { jobType: 'order.fulfill', completed: 3, mayHoldEffects: 0 };
  assert.deepEqual(report.effects, [
    { source: 'payments', ...orders, kinds: [{ kind: 'charge', net: 3, detail: '4 charges, 1 fully refunded', unattributed: [] }] },
    { source: 'inventory', ...orders, kinds: [{ kind: 'reserve', net: 3, detail: '4 reservations, 1 released', unattributed: [] }] },
    { source: 'email', ...orders, kinds: [{ kind: 'email', net: 3, detail: '3 sent', unattributed: [] }] },
  ]);
  assert.match(formatReport(report), /OK: the sources agree/);
});

test('jobledger reconcile counts the effects the jobs module names, at the services configured', async () => {
  const base = { TEMPORAL_ADDRESS: env.address, JOBLEDGER_LEDGER_PATH: join(h.dir, 'ledger.db'), JOBLEDGER_TASK_QUEUE: h.taskQueue, LOG_LEVEL: 'silent' };
  const services = {
    JOBLEDGER_SERVICE_PAYMENTS_URL: sandbox.urls.payments,
    JOBLEDGER_SERVICE_INVENTORY_URL: sandbox.urls.inventory,
    JOBLEDGER_SERVICE_EMAIL_URL: sandbox.urls.email,
  };
  const r = await cli(['reconcile', '--json'], { ...base, ...services, JOBLEDGER_SUBMITTED_BY: 'reconcile-test' });
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const report: ReconcileReport = JSON.parse(r.stdout);
  // Its verdict is in the ledger, for the dashboard: when, what it found, who ran it and where.
  const verdict = await lastReconcileVerdict(h.ledger);
  assert.deepEqual(
    verdict && { checkedAt: verdict.checkedAt, ok: verdict.ok, rows: verdict.rows, discrepancies: verdict.discrepancies, checkedBy: verdict.checkedBy, host: verdict.host },
    { checkedAt: report.checkedAt, ok: true, rows: report.rows.length, discrepancies: 0, checkedBy: 'reconcile-test', host: hostname() },
  );
  assert.deepEqual(
    report.effects?.map((e) => [e.jobType, e.source, e.completed, ...e.kinds.map((k) => `${k.kind} ${k.net}`)]),
    [
      ['order.fulfill', 'payments', 3, 'charge 3'],
      ['order.fulfill', 'inventory', 3, 'reserve 3'],
      ['order.fulfill', 'email', 3, 'email 3'],
      ['order.sequential', 'payments', 0, 'charge 0'],
      ['order.sequential', 'inventory', 0, 'reserve 0'],
      ['order.sequential', 'email', 0, 'email 0'],
    ],
  );
  // Only the services configured are asked: without them, no effects are counted.
  const without = await cli(['reconcile', '--json'], base);
  assert.equal(without.code, 0, without.stderr + without.stdout);
  assert.deepEqual(JSON.parse(without.stdout).effects, []);
});

test('a ledger job row changed to Completed behind the ledger is reported under order.fulfill Completed and Compensated', async () => {
  const db = new Database(join(h.dir, 'ledger.db'));
  try {
    assert.equal(db.prepare(`UPDATE jobs SET status = 'Completed' WHERE job_id = ?`).run(compensatedJobId).changes, 1);
    const report = await reconcile({ client: h.client, ledger: h.ledger, effects });
    assert.equal(report.ok, false);
    const ledgerIssues = report.discrepancies.filter((d) => d.kind === 'ledger');
    assert.deepEqual(
      ledgerIssues.map((d) => [d.jobType, d.status, d.expected, d.actual]),
      [
        ['order.fulfill', 'Completed', 3, 4],
        ['order.fulfill', 'Compensated', 1, 0],
      ],
    );
    assert.equal(report.discrepancies.length, 2, formatReport(report));
    assert.match(formatReport(report), /ledger order\.fulfill \/ Completed: expected 3, found 4/);
  } finally {
    db.prepare(`UPDATE jobs SET status = 'Compensated' WHERE job_id = ?`).run(compensatedJobId);
    db.close();
  }
  assert.equal((await reconcile({ client: h.client, ledger: h.ledger, effects })).ok, true);
});

test('an extra charge applied directly to the payments provider is reported as a charge discrepancy', async () => {
  const post = async (path: string, body: unknown) => {
    const response = await fetch(`${sandbox.urls.payments}${path}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Idempotency-Key': unique('manual') },
      body: JSON.stringify(body),
    });
    assert.equal(response.status, 200);
    return (await response.json()) as { id: string };
  };
  const charge = await post('/charges', { orderId: unique('manual-order'), customerId: 'cus_1', amount: 100, currency: 'EUR' });
  const report = await reconcile({ client: h.client, ledger: h.ledger, effects });
  assert.equal(report.ok, false);
  assert.deepEqual(
    report.discrepancies.map((d) => [d.kind, d.jobType, d.source, d.effect, d.expected, d.actual]),
    [['effects', 'order.fulfill', 'payments', 'charge', 3, 4]],
    formatReport(report),
  );
  assert.equal(netOf(report, 'charge')?.unattributed.length, 1);
  assert.match(report.discrepancies[0]!.detail, /applied outside any order\.fulfill job/);

  // Refunding it in full nets it out again.
  await post('/refunds', { chargeId: charge.id, amount: 100 });
  assert.equal((await reconcile({ client: h.client, ledger: h.ledger, effects })).ok, true);
});

test('the effects of any job type are counted through an EffectSource; keys no job applied are named', async () => {
  const greetings = (await h.ledger.listJobs()).filter((j) => j.jobType === 'greeting.send').map((j) => j.jobId);
  assert.equal(greetings.length, 1);
  /** A mailer that records one greeting per job, plus `extra` greetings. */
  const mailer = (extra: AppliedEffect[]): EffectSource => ({
    jobType: 'greeting.send',
    name: 'mailer',
    count: async (scope) => {
      const sent = [...greetings.map((jobId) => ({ idempotencyKey: `${jobId}/send`, appliedAt: new Date() })), ...extra];
      const counted = sent.filter((effect) => scope.includes(effect));
      return [{ kind: 'greeting', net: counted.length, keys: counted.map((effect) => effect.idempotencyKey) }];
    },
  });
  const clean = await reconcile({ client: h.client, ledger: h.ledger, effects: [mailer([])] });
  assert.equal(clean.ok, true, formatReport(clean));
  assert.deepEqual(clean.effects, [
    { source: 'mailer', jobType: 'greeting.send', completed: 1, mayHoldEffects: 0, kinds: [{ kind: 'greeting', net: 1, unattributed: [] }] },
  ]);

  // One greeting sent by hand now, one long before --since, one by an order job (another type's effect):
  // only the first is counted for greeting.send, and it is named.
  const byHand = { idempotencyKey: 'by-hand/send', appliedAt: new Date().toISOString() };
  const longAgo = { idempotencyKey: 'long-ago/send', appliedAt: 0 };
  const byAnOrder = { idempotencyKey: `${compensatedJobId}/send`, appliedAt: new Date() };
  const report = await reconcile({ client: h.client, ledger: h.ledger, effects: [mailer([byHand, longAgo, byAnOrder])], since: startedAt });
  assert.deepEqual(
    report.discrepancies.map((d) => [d.kind, d.jobType, d.source, d.effect, d.expected, d.actual]),
    [['effects', 'greeting.send', 'mailer', 'greeting', 1, 2]],
    formatReport(report),
  );
  assert.match(report.discrepancies[0]!.detail, /applied outside any greeting\.send job: by-hand\/send$/);
  assert.match(formatReport(report), /effects at mailer \(greeting\.send\): 1 Completed; net greeting 2/);
});

test('an archive export reconciles clean; a job closed after it is reported as not yet archived, and pruned leaves still count', async () => {
  const keyDir = tempDir('jobledger-reconcile-key-');
  const archiveDir = join(tempDir('jobledger-reconcile-archive-'), 'archive');
  const { privateKeyFile } = await generateKeyPair(keyDir);
  const signer = await signerFrom({ keyFile: privateKeyFile });
  const entries = await closedJobEntries(h.client, h.ledger);
  assert.equal(entries.length, 5);
  assert.equal((await appendLeaves(archiveDir, entries, signer)).added, 5);

  const exported = await reconcileAfter(5, { archiveDir });
  assert.deepEqual(exported.discrepancies, [], formatReport(exported));
  assert.deepEqual(
    exported.rows.map((r) => [r.jobType, r.status, r.temporal, r.archive, r.notYetArchived]),
    [
      ['greeting.send', 'Completed', 1, 1, 0],
      ['order.fulfill', 'Completed', 3, 3, 0],
      ['order.fulfill', 'Compensated', 1, 1, 0],
    ],
  );

  assert.equal((await runJob('greeting.send', { recipientId: unique('late') })).status, 'Completed');
  const later = await reconcileAfter(6, { archiveDir });
  assert.equal(later.ok, true, formatReport(later));
  assert.deepEqual(row(later, 'greeting.send', 'Completed'), {
    jobType: 'greeting.send',
    status: 'Completed',
    temporal: 2,
    ledger: 2,
    archive: 1,
    notYetArchived: 1,
  });
  assert.match(formatReport(later), /NOT YET ARCHIVED/);

  assert.equal(await pruneArchive(archiveDir, { before: new Date(Date.now() + 60_000) }), 5);
  const pruned = await reconcileAfter(6, { archiveDir });
  assert.equal(pruned.ok, true, formatReport(pruned));
  assert.deepEqual(pruned.archive?.pruned, { 'order.fulfill': 4, 'greeting.send': 1 });
  assert.equal(row(pruned, 'order.fulfill', 'Completed')?.archive, 0);
});

test('--since limits every source to the jobs started since then', async () => {
  const since = new Date();
  assert.equal((await runJob('order.fulfill', order(unique('ord-since')))).status, 'Completed');
  const report = await reconcileAfter(7, { since });
  assert.equal(report.ok, true, formatReport(report));
  assert.deepEqual(
    report.rows.map((r) => [r.jobType, r.status, r.temporal, r.ledger]),
    [['order.fulfill', 'Completed', 1, 1]],
  );
  assert.equal(netOf(report, 'charge')?.net, 1);
  assert.equal(netOf(report, 'email')?.net, 1);
});
