/**
 * `jobledger report --html` on the real dev server, with the example order job and the sandbox providers.
 * A known workload (two orders completed, one of them after a retried charge; one compensated; one parked
 * in the dead letter), a recorded reconcile verdict and a signed audit checkpoint; then the CLI writes the
 * report. The file holds the workload's figures, the parked job, the health lines, and references nothing
 * outside itself but the Temporal Web UI; headless Chromium opens it from disk with no other request, and
 * a 1280x800 screenshot goes to artifacts/report/.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { appendLeaves, generateKeyPair, signerFrom } from '../audit/archive';
import { recordReconcileVerdict, verdictOf, type RecordedVerdict } from '../client/health';
import { jobOutcome } from '../client/outcome';
import { reconcile } from '../client/reconcile';
import { jobStateQuery } from '../common/messages';
import { orderFulfillJob } from '../examples/jobs/order';
import type { Sandbox } from '../examples/sandbox';
import { order } from './fixtures/orders';
import { browserSkipReason, launchBrowser } from './helpers/browser';
import { startHarness, type RunningHarness } from './helpers/harness';
import { cli } from './helpers/run';
import { withSandbox } from './helpers/sandbox';
import { ROOT, startDevServer, tempDir, unique } from './helpers/servers';

const UI_URL = 'http://127.0.0.1:8233';
const SHOT = join(ROOT, 'artifacts', 'report', 'report-1280x800.png');

/** The `data-figure` values of the report's first figure set (all job types), by key. */
function figures(html: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const m of html.matchAll(/data-figure="([^"]+)" data-value="([^"]*)"/g)) if (!found.has(m[1]!)) found.set(m[1]!, m[2]!);
  return found;
}

/** The cells of the job-types row of `jobType`, by column. */
function typeRow(html: string, jobType: string): Map<string, string> {
  const row = new RegExp(`<tr data-job-type="${jobType.replace('.', '\\.')}">(.*?)</tr>`).exec(html)?.[1] ?? '';
  return new Map([...row.matchAll(/data-col="([^"]+)">([^<]*)</g)].map((m) => [m[1]!, m[2]!]));
}

test('report refuses a bad window or a missing --html before connecting (exit 2)', async () => {
  const noServer = { TEMPORAL_ADDRESS: '127.0.0.1:1', LOG_LEVEL: 'silent' };
  const badWindow = await cli(['report', '--html', join(tempDir(), 'r.html'), '--window', '2h'], noServer);
  assert.equal(badWindow.code, 2, badWindow.stderr);
  assert.match(badWindow.stderr, /--window must be one of 15m, 1h, 24h, 7d, not "2h"/);
  const noFile = await cli(['report', '--window', '1h'], noServer);
  assert.equal(noFile.code, 2, noFile.stderr);
  assert.match(noFile.stderr, /--html is required/);
});

describe('a report of a known workload', () => {
  let env: TestWorkflowEnvironment;
  let sandbox: Sandbox;
  let h: RunningHarness;
  let parkedJobId: string;
  let verdict: RecordedVerdict;
  let html: string;
  let file: string;

  before(async () => {
    env = await startDevServer();
    sandbox = await withSandbox();
    h = await startHarness(env, [orderFulfillJob], { services: sandbox.urls });
    const run = async (orderId: string) => (await jobOutcome(env.client.workflow.getHandle((await h.jobs.submit('order.fulfill', order(orderId))).jobId))).status;

    assert.equal(await run(unique('ord')), 'Completed');
    sandbox.payments.setFaults({ failNext: { count: 1, status: 503, type: 'service_unavailable' } });
    assert.equal(await run(unique('ord-retried')), 'Completed', 'the charge is retried once, then the order completes');
    sandbox.payments.setFaults({});
    sandbox.email.setFaults({ failNext: { count: 1, status: 400 } });
    assert.equal(await run(unique('ord-comp')), 'Compensated');
    sandbox.email.setFaults({});
    sandbox.inventory.setFaults({ failNext: { count: 1, status: 409, type: 'stock_locked' } });
    parkedJobId = (await h.jobs.submit('order.fulfill', order(unique('ord-park')))).jobId;
    const deadline = Date.now() + 60_000;
    while ((await env.client.workflow.getHandle(parkedJobId).query(jobStateQuery)).status !== 'DeadLettered') {
      if (Date.now() > deadline) throw new Error(`${parkedJobId} did not park`);
      await new Promise((r) => setTimeout(r, 200));
    }
    sandbox.inventory.setFaults({});

    verdict = await recordReconcileVerdict(h.ledger, verdictOf(await reconcile({ client: h.client, ledger: h.ledger, settleMs: 10_000 }), { checkedBy: 'report-test' }));
    const archive = join(tempDir(), 'archive');
    const keys = await generateKeyPair(join(tempDir(), 'keys'));
    await appendLeaves(archive, [{ jobId: 'order.fulfill:archived-1', runId: 'run-1', closedAt: new Date(), payload: { status: 'Completed' } }], await signerFrom({ keyFile: keys.privateKeyFile }));

    file = join(tempDir(), 'incident.html');
    const r = await cli(['report', '--html', file, '--window', '1h', '--archive', archive], {
      TEMPORAL_ADDRESS: env.address,
      TEMPORAL_UI_URL: UI_URL,
      JOBLEDGER_LEDGER_PATH: join(h.dir, 'ledger.db'),
      JOBLEDGER_BREAKER_PATH: join(tempDir(), 'breakers.db'),
      JOBLEDGER_TASK_QUEUE: h.taskQueue,
      LOG_LEVEL: 'silent',
    });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /wrote .*incident\.html: 3 jobs closed in the last 1h, success 66\.7 %/);
    html = readFileSync(file, 'utf8');
  });

  after(async () => {
    await h?.stop();
    await sandbox?.stop();
    await env?.teardown();
  });

  test('the file holds the workload: 4 submitted, 2 completed, 1 compensated, 1 dead-lettered, 1 retried attempt', () => {
    const f = figures(html);
    assert.equal(f.get('submitted'), '4');
    assert.equal(f.get('closed'), '3');
    assert.equal(f.get('Completed'), '2');
    assert.equal(f.get('Compensated'), '1');
    assert.equal(f.get('Abandoned'), '0');
    assert.equal(f.get('Failed'), '0');
    assert.equal(Number(f.get('success-rate')), 2 / 3);
    assert.equal(f.get('dead-lettered'), '1');
    assert.equal(f.get('retried'), '1');
    assert.equal(f.get('latency-count'), '3');
    assert.notEqual(f.get('p50'), '');
    assert.equal(f.get('live-DeadLettered'), '1');
    assert.equal(f.get('live-Running'), '0');
    assert.deepEqual(Object.fromEntries(typeRow(html, 'order.fulfill')), {
      submitted: '4',
      closed: '3',
      Completed: '2',
      Compensated: '1',
      Abandoned: '0',
      Failed: '0',
      success: '66.7 %',
      p50: typeRow(html, 'order.fulfill').get('p50'),
      p95: typeRow(html, 'order.fulfill').get('p95'),
      p99: typeRow(html, 'order.fulfill').get('p99'),
      retried: '1',
      'dead-lettered': '1',
      errors: typeRow(html, 'order.fulfill').get('errors'),
    });
    assert.match(html, /<tr data-error-class="DependencyUnavailable"><td>DependencyUnavailable<\/td><td class="num" data-value="1">/);
    assert.match(html, /<tr data-error-class="BusinessRule">/);
  });

  test('the dead letter lists the parked job as `dlq list` does, with its class, diagnosis and Web UI link', async () => {
    assert.match(html, /data-figure="dead-letter-count" data-value="1"/);
    const row = new RegExp(`<tr data-job-id="${parkedJobId.replace(/[.]/g, '\\.')}">(.*?)</tr>`).exec(html)?.[1];
    assert.ok(row, 'the parked job has a row');
    assert.ok(row.includes(`href="${UI_URL}/namespaces/default/workflows/${encodeURIComponent(parkedJobId)}"`), row);
    const [listed] = await h.jobs.deadLettered();
    assert.equal(listed?.jobId, parkedJobId);
    assert.ok(row.includes(`<td>${listed.step}</td><td>BusinessRule</td>`), row);
    assert.match(row, /step failed \(attempt 1\): inventory \/reservations failed with 409 \(stock_locked\)/);
  });

  test('the health lines show the last reconcile verdict, the audit checkpoint and the workers', () => {
    const health = (key: string) => new RegExp(`<dd data-health="${key}">(.*?)</dd>`).exec(html)?.[1] ?? '';
    assert.ok(health('reconcile').includes(`${verdict.checkedAt}`) && health('reconcile').includes('by report-test on'), health('reconcile'));
    assert.match(health('checkpoint'), /<span class="dot ok"><\/span>1 leaves, signed /);
    assert.match(health('workers'), /<span class="dot ok"><\/span>1 workflow and 1 activity pollers on /);
  });

  test('nothing is referenced outside the file but the Web UI: no script, no stylesheet link, no image', () => {
    assert.doesNotMatch(html, /<script|<link|<img|<iframe|src=|url\(|@import/i);
    const urls = [...html.matchAll(/https?:\/\/[^\s"'<>)]+/g)].map((m) => m[0]);
    assert.ok(urls.length >= 2, 'the Web UI links are there');
    assert.deepEqual(urls.filter((u) => !u.startsWith(`${UI_URL}/namespaces/`)), []);
  });

  test('headless Chromium opens it from disk with no other request; screenshot at 1280x800', { skip: browserSkipReason(), timeout: 60_000 }, async () => {
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage({ width: 1280, height: 800 });
      const requests: string[] = [];
      page.on('request', (request) => void requests.push(request.url()));
      const url = pathToFileURL(file).href;
      await page.goto(url);
      assert.deepEqual(requests, [url]);
      assert.equal(await page.locator('[data-figure="success-rate"]').innerText(), '66.7 %');
      const chart = page.locator('svg[aria-label="closed jobs per minute"]');
      assert.equal(await chart.isVisible(), true);
      const closedPerBin = (await chart.getAttribute('data-closed'))?.split(',').map(Number) ?? [];
      assert.equal(closedPerBin.reduce((a, b) => a + b, 0), 3, 'the chart holds the 3 closed jobs');
      assert.equal(await chart.locator('rect[height]:not([height="0.0"])').count(), closedPerBin.filter((n) => n > 0).length);
      mkdirSync(dirname(SHOT), { recursive: true });
      await page.screenshot({ path: SHOT });
    } finally {
      await browser.close();
    }
  });
});
