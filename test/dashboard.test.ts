/**
 * The operations dashboard end to end: a real dev server and worker run a known workload (test.flaky: 4
 * completed, 3 of their attempts failed and retried; test.saga: 2 parked in the dead letter; test.saga-due:
 * 2 parked that compensate when their parking time runs out), `startDashboard` serves it, and headless
 * Chromium signs in. The page's numbers must match the workload exactly (percentiles within one histogram
 * bucket of those measured from Temporal's start and close times); an operator retries one parked job from
 * the page, which then completes in Temporal with the operator and reason in its history and ledger
 * trail, and the page shows it; a viewer token gets no action buttons and its POST is refused; no token
 * is refused. `jobledger dashboard` itself prints its URL and refuses to start without tokens.
 * Screenshots at 1280x800 go to artifacts/dashboard/.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Page } from 'playwright-core';
import { LATENCY_BUCKETS_MS, latencyBucketOf } from '../client/dashboard/figures';
import { startDashboard, type DashboardServer } from '../client/dashboard/server';
import { recordReconcileVerdict } from '../client/health';
import { jobOutcome } from '../client/outcome';
import { MemoryBreakerStore, initialRecord } from '../resilience';
import { AttemptLog, flakyJob, sagaJob } from './fixtures/jobs';
import { browserSkipReason, launchBrowser, type BrowserSession } from './helpers/browser';
import { startHarness, type RunningHarness } from './helpers/harness';
import { startProcess, stopStarted, until } from './helpers/process';
import { cli } from './helpers/run';
import { ROOT, startDevServer, unique } from './helpers/servers';
import { waitForCount } from './helpers/visibility';

const SHOTS = join(ROOT, 'artifacts/dashboard');
const VIEWPORT = { width: 1280, height: 800 };
const OPERATOR_TOKEN = 'operator-token-0123456789';
const VIEWER_TOKEN = 'viewer-token-0123456789ab';
const UI_URL = 'http://127.0.0.1:8233';
const skip = browserSkipReason();

let env: TestWorkflowEnvironment;
let h: RunningHarness;
let dashboard: DashboardServer;
let browser: BrowserSession | undefined;
const attempts = new AttemptLog();
const breakers = new MemoryBreakerStore();

/** The workload, as submitted: job ids by what they should end as. */
const workload = {
  flaky: [] as string[],
  flakyFailures: [0, 0, 1, 2],
  parked: [] as string[],
  compensated: [] as string[],
};

before(async () => {
  env = await startDevServer();
  h = await startHarness(env, [
    flakyJob(attempts, { initialInterval: '100ms', maxAttempts: 5 }),
    sagaJob(attempts),
    sagaJob(attempts, { timeout: '1s', onTimeout: 'compensate' }, 'test.saga-due'),
  ]);
  for (const failures of workload.flakyFailures) workload.flaky.push((await h.jobs.submit('test.flaky', { id: unique('flaky'), failures })).jobId);
  for (let i = 0; i < 2; i++) workload.parked.push((await h.jobs.submit('test.saga', { id: unique('park'), failures: 1, secret: 'pii-1' })).jobId);
  for (let i = 0; i < 2; i++) workload.compensated.push((await h.jobs.submit('test.saga-due', { id: unique('due'), failures: 1, secret: 'pii-2' })).jobId);
  for (const id of workload.flaky) assert.equal((await jobOutcome(env.client.workflow.getHandle(id))).status, 'Completed');
  for (const id of workload.compensated) assert.equal((await jobOutcome(env.client.workflow.getHandle(id))).status, 'Compensated');
  assert.equal(await waitForCount(env.client, 'JobType="test.saga" AND JobStatus="DeadLettered" AND ExecutionStatus="Running"', 2), 2, 'two jobs parked');
  // One breaker state on record, for the health panel.
  breakers.compareAndSet('payments', 0, { ...initialRecord(), state: 'open', failures: 5, openedAt: Date.now(), version: 1 });
  dashboard = await startDashboard({
    client: env.client,
    jobs: h.jobs,
    ledger: h.ledger,
    namespace: env.namespace ?? 'default',
    taskQueue: h.taskQueue,
    uiUrl: UI_URL,
    breakers,
    tokens: { [OPERATOR_TOKEN]: 'operator', [VIEWER_TOKEN]: 'viewer' },
  });
  if (!skip) browser = await launchBrowser();
  mkdirSync(SHOTS, { recursive: true });
});

after(async () => {
  await browser?.close();
  await dashboard?.stop();
  await stopStarted();
  await h?.stop();
  await env?.teardown();
});

/** Polls `read` until it deep-equals `expected` (or 30 s pass), then asserts on the last value read. */
async function eventually<T>(what: string, read: () => Promise<T>, expected: T, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: T = await read();
  while (!isDeepEqual(last, expected) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 500));
    last = await read();
  }
  assert.deepEqual(last, expected, what);
}

function isDeepEqual(a: unknown, b: unknown): boolean {
  try {
    assert.deepEqual(a, b);
    return true;
  } catch {
    return false;
  }
}

async function signIn(token: string): Promise<Page> {
  assert.ok(browser);
  const page = await browser.newPage(VIEWPORT);
  await page.goto(dashboard.url);
  await page.fill('[data-testid="token"]', token);
  await page.click('[data-testid="sign-in"]');
  await page.waitForSelector('#main:not([hidden])');
  return page;
}

/** A number from a `data-value` attribute; null when the page shows none ('–'). */
function numberOf(raw: string | null): number | null {
  return raw === null || raw === '' ? null : Number(raw);
}

/** The numbers the page shows for one job type (or '*'), read from the figure cards. */
async function pageFigures(page: Page, jobType: string) {
  await page.selectOption('[data-testid="job-type"]', jobType);
  const value = async (key: string) => numberOf(await page.locator(`[data-figure="${key}"]`).getAttribute('data-value'));
  const errors: Record<string, number> = {};
  for (const row of await page.locator('#errors tr[data-error-class]').all()) {
    errors[(await row.getAttribute('data-error-class')) ?? ''] = Number(await row.locator('[data-value]').getAttribute('data-value'));
  }
  const closedPerBin = ((await page.locator('[data-testid="chart"]').getAttribute('data-closed')) ?? '').split(',').map(Number);
  return {
    submitted: await value('submitted'),
    closed: await value('closed'),
    Completed: await value('Completed'),
    Compensated: await value('Compensated'),
    Abandoned: await value('Abandoned'),
    Failed: await value('Failed'),
    successRate: numberOf(await page.locator('[data-testid="success-rate"]').getAttribute('data-value')),
    retried: await value('retried'),
    deadLettered: await value('dead-lettered'),
    live: {
      Running: await value('live-Running'),
      Retrying: await value('live-Retrying'),
      Compensating: await value('live-Compensating'),
      DeadLettered: await value('live-DeadLettered'),
    },
    errors,
    charted: closedPerBin.reduce((a, b) => a + b, 0),
    percentiles: { p50: await value('p50'), p95: await value('p95'), p99: await value('p99'), count: await value('latency-count') },
  };
}

/** Submission-to-close times of these jobs as Temporal saw them (start to close of each execution). */
async function temporalLatencies(jobIds: readonly string[]): Promise<number[]> {
  return Promise.all(
    jobIds.map(async (id) => {
      const d = await env.client.workflow.getHandle(id).describe();
      assert.ok(d.closeTime, `${id} closed`);
      return d.closeTime.getTime() - d.startTime.getTime();
    }),
  );
}

/** The nearest-rank percentile's bucket index, from exact durations. */
function expectedBucket(durations: readonly number[], p: number): number {
  const sorted = [...durations].sort((a, b) => a - b);
  return latencyBucketOf(sorted[Math.ceil(p * sorted.length) - 1] ?? 0);
}

function assertWithinOneBucket(shownMs: number | null, durations: readonly number[], p: number, what: string): void {
  assert.ok(shownMs !== null, `${what}: a percentile is shown`);
  const shown = LATENCY_BUCKETS_MS.indexOf(shownMs);
  assert.ok(shown >= 0, `${what}: ${shownMs} ms is a bucket bound`);
  const expected = expectedBucket(durations, p);
  assert.ok(Math.abs(shown - expected) <= 1, `${what}: shown bucket ${shown} (≤ ${shownMs} ms), Temporal's ${expected} (≤ ${LATENCY_BUCKETS_MS[expected]} ms)`);
}

async function errorClassOfParkedJobs(): Promise<string> {
  const parked = await h.jobs.deadLettered('test.saga');
  const classes = new Set(parked.map((j) => j.errorClass));
  assert.equal(classes.size, 1, `one error class among the parked jobs: ${[...classes].join(', ')}`);
  const [errorClass] = classes;
  assert.ok(errorClass);
  return errorClass;
}

test('no token, or an unknown one, is refused; a viewer may read but not act', { skip: false }, async () => {
  const state = await fetch(new URL('/api/state', dashboard.url));
  assert.equal(state.status, 401);
  assert.equal(state.headers.get('www-authenticate'), 'Bearer');
  const wrong = await fetch(new URL('/api/state', dashboard.url), { headers: { Authorization: 'Bearer not-a-configured-token-at-all' } });
  assert.equal(wrong.status, 401);
  const body = JSON.stringify({ jobId: workload.parked[0], action: 'abandon', operator: 'mallory', reason: 'no token' });
  const anonymousPost = await fetch(new URL('/api/actions', dashboard.url), { method: 'POST', body, headers: { 'Content-Type': 'application/json' } });
  assert.equal(anonymousPost.status, 401);
  const viewerRead = await fetch(new URL('/api/state', dashboard.url), { headers: { Authorization: `Bearer ${VIEWER_TOKEN}` } });
  assert.equal(viewerRead.status, 200);
  const viewerPost = await fetch(new URL('/api/actions', dashboard.url), {
    method: 'POST',
    body,
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${VIEWER_TOKEN}` },
  });
  assert.equal(viewerPost.status, 403);
  // Neither refused request touched the job.
  assert.equal((await h.jobs.status(workload.parked[0]!)).status, 'DeadLettered');
});

test("the page's numbers match the workload exactly, percentiles within one bucket of Temporal's", { skip }, async () => {
  const page = await signIn(OPERATOR_TOKEN);
  const parkedClass = await errorClassOfParkedJobs();
  const zeroLive = { Running: 0, Retrying: 0, Compensating: 0, DeadLettered: 0 };
  const pick = async (jobType: string) => {
    const { percentiles: _p, ...rest } = await pageFigures(page, jobType);
    return rest;
  };
  await eventually('test.flaky', () => pick('test.flaky'), {
    submitted: 4, closed: 4, Completed: 4, Compensated: 0, Abandoned: 0, Failed: 0, successRate: 1,
    retried: 3, deadLettered: 0, live: zeroLive, errors: { DependencyUnavailable: 3 }, charted: 4,
  });
  await eventually('test.saga', () => pick('test.saga'), {
    submitted: 2, closed: 0, Completed: 0, Compensated: 0, Abandoned: 0, Failed: 0, successRate: null,
    retried: 0, deadLettered: 2, live: { ...zeroLive, DeadLettered: 2 }, errors: { [parkedClass]: 2 }, charted: 0,
  });
  await eventually('test.saga-due', () => pick('test.saga-due'), {
    submitted: 2, closed: 2, Completed: 0, Compensated: 2, Abandoned: 0, Failed: 0, successRate: 0,
    retried: 0, deadLettered: 2, live: zeroLive, errors: { [parkedClass]: 2 }, charted: 2,
  });
  await eventually('all job types', () => pick('*'), {
    submitted: 8, closed: 6, Completed: 4, Compensated: 2, Abandoned: 0, Failed: 0, successRate: 4 / 6,
    retried: 3, deadLettered: 4, live: { ...zeroLive, DeadLettered: 2 }, errors: { DependencyUnavailable: 3, [parkedClass]: 4 }, charted: 6,
  });

  for (const [jobType, ids] of [['test.flaky', workload.flaky], ['test.saga-due', workload.compensated], ['*', [...workload.flaky, ...workload.compensated]]] as const) {
    const durations = await temporalLatencies(ids);
    const { percentiles } = await pageFigures(page, jobType);
    assert.equal(percentiles.count, ids.length, `${jobType}: every closed job measured`);
    assertWithinOneBucket(percentiles.p50, durations, 0.5, `${jobType} p50`);
    assertWithinOneBucket(percentiles.p95, durations, 0.95, `${jobType} p95`);
    assertWithinOneBucket(percentiles.p99, durations, 0.99, `${jobType} p99`);
  }

  // Another window: the same jobs, in 28 bins of 6 hours.
  await page.click('[data-window="7d"]');
  await eventually('the 7 d window', async () => {
    const f = await pageFigures(page, '*');
    const bins = ((await page.locator('[data-testid="chart"]').getAttribute('data-closed')) ?? '').split(',').length;
    return { closed: f.closed, submitted: f.submitted, charted: f.charted, bins };
  }, { closed: 6, submitted: 8, charted: 6, bins: 28 });
  await page.click('[data-window="15m"]');

  // The job-type table and the links to the Web UI: each type's list filtered by type and close time.
  const link = await page.locator('#types tr[data-job-type="test.flaky"] a').getAttribute('href');
  assert.ok(link?.startsWith(`${UI_URL}/namespaces/default/workflows?query=`), link ?? '');
  const query = new URL(link ?? '').searchParams.get('query') ?? '';
  assert.match(query, /^JobType="test\.flaky" AND CloseTime>="\d{4}-\d\d-\d\dT[\d:.]+Z"$/);
  const jobLink = await page.locator(`#dead-letter tr[data-job-id="${workload.parked[0]}"] a`).getAttribute('href');
  assert.equal(jobLink, `${UI_URL}/namespaces/default/workflows/${encodeURIComponent(workload.parked[0]!)}`);

  // Health: this worker polls the queue, the open breaker, nothing recorded yet for audit and reconcile.
  await page.selectOption('[data-testid="job-type"]', '*');
  const health = (key: string) => page.locator(`[data-health="${key}"]`);
  assert.equal(await health('workers').getAttribute('data-status'), 'ok');
  assert.match((await health('workers').textContent()) ?? '', new RegExp(`polling ${h.taskQueue}`));
  assert.match((await health('breakers').textContent()) ?? '', /payments: open/);
  assert.equal(await health('checkpoint').getAttribute('data-status'), 'none');
  assert.match((await health('reconcile').textContent()) ?? '', /not yet recorded/);
  // A reconcile verdict recorded in the ledger (as `jobledger reconcile` records it) appears on the next refresh.
  await recordReconcileVerdict(h.ledger, {
    checkedAt: new Date().toISOString(), ok: false, rows: 6, discrepancies: 1, byKind: { ledger: 1 }, checkedBy: 'erin@ops', host: 'ops-host',
  });
  await page.waitForSelector('[data-health="reconcile"][data-status="bad"]', { timeout: 15_000 });
  assert.match((await health('reconcile').textContent()) ?? '', /^1 discrepancy \(ledger 1\), .* by erin@ops on ops-host$/);
  await page.screenshot({ path: join(SHOTS, 'operator.png') });
  await page.locator('[data-testid="health"]').scrollIntoViewIfNeeded();
  await page.screenshot({ path: join(SHOTS, 'operator-dead-letter-health.png') });
  await page.screenshot({ path: join(SHOTS, 'operator-full-page.png'), fullPage: true });
  await page.close();
});

test('an operator retries a parked job from the page: it completes, with the operator and reason in its history and ledger trail', { skip }, async () => {
  const page = await signIn(OPERATOR_TOKEN);
  const jobId = workload.parked[0]!;
  const row = page.locator(`#dead-letter tr[data-job-id="${jobId}"]`);
  await row.waitFor();
  assert.equal(await row.locator('button[data-action]').count(), 4, 'retry, skip, compensate, abandon');
  await row.locator('button[data-action="retry"]').click();
  await page.fill('[data-testid="action-operator"]', 'dana@ops');
  await page.fill('[data-testid="action-reason"]', 'confirmation service is back');
  await page.screenshot({ path: join(SHOTS, 'action-dialog.png') });
  await page.click('[data-testid="action-confirm"]');

  const result = await jobOutcome(env.client.workflow.getHandle(jobId));
  assert.equal(result.status, 'Completed');
  // The Update in history carries the operator and the reason, as `jobledger dlq retry` sends them.
  const history = await env.client.workflow.getHandle(jobId).fetchHistory();
  const updates = (history.events ?? [])
    .map((e) => e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.args?.payloads?.[0])
    .filter((p): p is Payload => p !== undefined && p !== null)
    .map((p) => defaultPayloadConverter.fromPayload(p));
  assert.deepEqual(updates, [{ action: 'retry', operator: 'dana@ops', reason: 'confirmation service is back' }]);
  const trail = await h.ledger.events({ jobId });
  const acted = trail.find((e) => e.kind === 'operator.retry');
  assert.ok(acted, `operator.retry in the ledger trail: ${trail.map((e) => e.kind).join(', ')}`);
  assert.deepEqual({ ...(acted.data as object) }, { operator: 'dana@ops', reason: 'confirmation service is back', step: 'confirm' });

  // The page follows: the row leaves the dead letter, the type counts one completion and one parked job.
  await row.waitFor({ state: 'detached', timeout: 30_000 });
  await eventually('test.saga after the retry', async () => {
    const f = await pageFigures(page, 'test.saga');
    return { Completed: f.Completed, closed: f.closed, live: f.live.DeadLettered, successRate: f.successRate };
  }, { Completed: 1, closed: 1, live: 1, successRate: 1 });
  await page.selectOption('[data-testid="job-type"]', '*');
  await page.screenshot({ path: join(SHOTS, 'after-retry.png') });
  await page.close();
});

test('a viewer sees the figures and the dead letter without action buttons', { skip }, async () => {
  const page = await signIn(VIEWER_TOKEN);
  const row = page.locator(`#dead-letter tr[data-job-id="${workload.parked[1]}"]`);
  await row.waitFor();
  assert.equal(await page.locator('#dead-letter button').count(), 0, 'no buttons for a viewer');
  assert.equal(await page.locator('[data-testid="role"]').getAttribute('data-role'), 'viewer');
  assert.equal((await pageFigures(page, 'test.flaky')).Completed, 4);
  await page.selectOption('[data-testid="job-type"]', '*');
  await page.screenshot({ path: join(SHOTS, 'viewer.png') });
  await page.close();
});

test('a wrong token on the sign-in form is refused and shows no data', { skip }, async () => {
  assert.ok(browser);
  const page = await browser.newPage(VIEWPORT);
  await page.goto(dashboard.url);
  await page.fill('[data-testid="token"]', 'wrong-token-wrong-token');
  await page.click('[data-testid="sign-in"]');
  await page.waitForSelector('[data-testid="sign-in-error"]:has-text("refused")');
  assert.equal(await page.locator('#main').isHidden(), true);
  await page.screenshot({ path: join(SHOTS, 'sign-in-refused.png') });
  await page.close();
});

test('jobledger dashboard prints its URL and serves the page; without tokens it refuses to start (exit 2)', async () => {
  const address = env.address;
  const common = { TEMPORAL_ADDRESS: address, JOBLEDGER_TASK_QUEUE: h.taskQueue, JOBLEDGER_LEDGER_PATH: join(h.dir, 'ledger.db'), JOBLEDGER_BREAKER_PATH: join(h.dir, 'breakers.db') };
  const refused = await cli(['dashboard', '--port', '0'], { ...common, JOBLEDGER_DASHBOARD_TOKENS: '' });
  assert.equal(refused.code, 2, refused.stderr);
  assert.match(refused.stderr, /JOBLEDGER_DASHBOARD_TOKENS/);
  const badPort = await cli(['dashboard', '--port', 'x'], { ...common, JOBLEDGER_DASHBOARD_TOKENS: JSON.stringify({ [VIEWER_TOKEN]: 'viewer' }) });
  assert.equal(badPort.code, 2, badPort.stderr);

  const proc = startProcess(process.execPath, ['--import', 'tsx', 'client/cli.ts', 'dashboard', '--json'], {
    ...common,
    JOBLEDGER_JOBS_MODULE: 'examples/jobs/index.ts',
    JOBLEDGER_DASHBOARD_TOKENS: JSON.stringify({ [VIEWER_TOKEN]: 'viewer' }),
  });
  const printed = await until('the dashboard URL', () => proc.lines.find((l) => l.includes('"url"')), 60_000);
  const { url } = JSON.parse(printed) as { url: string };
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  assert.equal((await fetch(url)).status, 200);
  assert.equal((await fetch(new URL('/assets/uPlot.iife.min.js', url))).status, 200);
  assert.equal((await fetch(new URL('/api/state', url))).status, 401);
  const state = await fetch(new URL('/api/state?window=1h', url), { headers: { Authorization: `Bearer ${VIEWER_TOKEN}` } });
  assert.equal(state.status, 200);
  const body = (await state.json()) as { role: string; state: { figures: { total: { outcomes: { Completed: number } } } } };
  assert.equal(body.role, 'viewer');
  assert.ok(body.state.figures.total.outcomes.Completed >= 4, 'the same ledger, read by the CLI process');
  proc.child.kill('SIGTERM');
  assert.equal(await proc.exited, 0);
});
