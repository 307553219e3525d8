/**
 * One workflow type per job type and job outcomes as workflow outcomes, seen in the Web UI. A worker runs
 * the example jobs against the sandbox providers: a completed `order.fulfill`, a completed `greeting.send`,
 * an `order.fulfill` whose receipt is refused for good (Compensated) and one that is out of stock, parked in
 * the dead letter and abandoned by an operator (Abandoned). Headless Chromium opens the workflow list
 * scoped to this test's task queue: the Type column names each job's type (artifacts/webui/type-column.png).
 * Clicking the list's "Failed" count opens the failed workflows, `ExecutionStatus="Failed"`: exactly the
 * compensated and the abandoned jobs (artifacts/webui/failures.png).
 * Skipped only when /usr/bin/chromium is absent and JOBLEDGER_REQUIRE_BROWSER is unset.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Page } from 'playwright-core';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { JobStatus } from '../common/constants';
import { orderFulfillJob } from '../examples/jobs/order';
import { greetingJob } from '../examples/jobs/greeting';
import type { Sandbox } from '../examples/sandbox';
import { order } from './fixtures/orders';
import { browserSkipReason, launchBrowser, screenshot, type BrowserSession } from './helpers/browser';
import { startHarness, type RunningHarness } from './helpers/harness';
import { withSandbox } from './helpers/sandbox';
import { ROOT, startDevServerWithUi, unique } from './helpers/servers';
import { waitForCount } from './helpers/visibility';

const SHOTS = join(ROOT, 'artifacts/webui');
/** One row of the Web UI's workflow table (Temporal UI 2.x). */
const ROW = 'tr[data-testid="workflows-summary-configurable-table-row"]';
/** The header cells of that table, one per column, named by their title. */
const HEADER = (title: string) => `th[data-testid="workflows-summary-table-header-cell-${title}"]`;
/** The list's count of failed workflows; clicking it filters the list by ExecutionStatus="Failed". */
const FAILED_COUNT = '[data-testid="workflow-status-Failed"]';

const skip = browserSkipReason();
const namespace = 'default';

let env: TestWorkflowEnvironment;
let sandbox: Sandbox | undefined;
let h: RunningHarness | undefined;
let browser: BrowserSession | undefined;
let uiUrl: string;

/** This test's jobs, by how they end. */
const ids = { completedOrder: '', completedGreeting: '', compensatedOrder: '', abandonedOrder: '' };

/** Polls the job's `JobStatus` until it is `status` (30 s at most). */
async function waitForStatus(jobId: string, status: string): Promise<void> {
  let last = '';
  for (let i = 0; i < 150; i++) {
    last = (await h!.jobs.status(jobId)).status;
    if (last === status) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.fail(`${jobId} is ${last}, not ${status}`);
}

before(async () => {
  ({ env, uiUrl } = await startDevServerWithUi());
  sandbox = await withSandbox();
  h = await startHarness(env, [orderFulfillJob, greetingJob], { services: sandbox.urls });
  if (!skip) browser = await launchBrowser();

  const completedOrder = await h.jobs.submit(orderFulfillJob, order(unique('ord-ok')));
  const greeting = await h.jobs.submit(greetingJob, { recipientId: unique('webui') });
  ids.completedOrder = completedOrder.jobId;
  ids.completedGreeting = greeting.jobId;
  assert.equal((await h.jobs.outcome(ids.completedOrder)).status, JobStatus.Completed);
  assert.equal((await h.jobs.outcome(ids.completedGreeting)).status, JobStatus.Completed);

  // The receipt is refused for good: the charge is refunded and the reservation released.
  sandbox.email.setFaults({ failNext: { count: 1, status: 400, type: 'invalid_recipient' } });
  ids.compensatedOrder = (await h.jobs.submit(orderFulfillJob, order(unique('ord-comp')))).jobId;
  assert.equal((await h.jobs.outcome(ids.compensatedOrder)).status, JobStatus.Compensated);
  sandbox.email.setFaults({});

  // Out of stock: parked in the dead letter until an operator abandons it.
  ids.abandonedOrder = (await h.jobs.submit(orderFulfillJob, order(unique('ord-out'), 'OUT-BLUE-MUG'))).jobId;
  await waitForStatus(ids.abandonedOrder, JobStatus.DeadLettered);
  await h.jobs.act(ids.abandonedOrder, { action: 'abandon', operator: 'webui-test', reason: 'out of stock, order cancelled' });
  assert.equal((await h.jobs.outcome(ids.abandonedOrder)).status, JobStatus.Abandoned);
});

after(async () => {
  try {
    await browser?.close();
  } finally {
    try {
      await h?.stop();
    } finally {
      try {
        await sandbox?.stop();
      } finally {
        await env?.teardown();
      }
    }
  }
});

/** This test's jobs only: everything its worker ran. */
function scope(): string {
  return `TaskQueue="${h!.taskQueue}"`;
}

/** Waits until the table shows `count` rows (20 s at most); the assertions then report what it shows. */
async function waitForRows(page: Page, count: number): Promise<void> {
  const rows = page.locator(ROW);
  await rows.first().waitFor({ timeout: 20_000 }).catch(() => undefined);
  for (let i = 0; i < 100 && (await rows.count()) !== count; i++) await page.waitForTimeout(200);
}

/** The text of the column titled `title` in each row, keyed by the row's Workflow ID cell. */
async function column(page: Page, title: string): Promise<Record<string, string>> {
  const indexOf = async (header: string) => {
    const index = await page.locator(HEADER(header)).evaluate((th) => [...th.parentElement!.children].indexOf(th));
    assert.ok(index >= 0, `the table has a ${header} column`);
    return index;
  };
  const idIndex = await indexOf('Workflow ID');
  const valueIndex = await indexOf(title);
  const cells = await page.locator(ROW).evaluateAll(
    (rows, [i, j]) => rows.map((row) => [row.children[i!]?.textContent?.trim() ?? '', row.children[j!]?.textContent?.trim() ?? '']),
    [idIndex, valueIndex],
  );
  return Object.fromEntries(cells);
}

test('the Web UI workflow list shows each job type in the Type column', { skip, timeout: 120_000 }, async () => {
  assert.equal(await waitForCount(env.client, scope(), 4), 4);
  const page = await browser!.newPage();
  try {
    await page.goto(`${uiUrl}/namespaces/${namespace}/workflows?query=${encodeURIComponent(scope())}`);
    await waitForRows(page, 4);
    await screenshot(page, join(SHOTS, 'type-column.png'));
    assert.deepEqual(await column(page, 'Type'), {
      [ids.completedOrder]: 'order.fulfill',
      [ids.completedGreeting]: 'greeting.send',
      [ids.compensatedOrder]: 'order.fulfill',
      [ids.abandonedOrder]: 'order.fulfill',
    });
  } finally {
    await page.close();
  }
});

test("the list's Failed count opens ExecutionStatus=\"Failed\": exactly the compensated and the abandoned jobs", { skip, timeout: 120_000 }, async () => {
  assert.equal(await waitForCount(env.client, `${scope()} AND ExecutionStatus="Failed"`, 2), 2);
  const page = await browser!.newPage();
  try {
    await page.goto(`${uiUrl}/namespaces/${namespace}/workflows?query=${encodeURIComponent(scope())}`);
    const failedCount = page.locator(FAILED_COUNT);
    await failedCount.waitFor({ timeout: 20_000 });
    assert.match(await failedCount.innerText(), /^2 failed$/i);
    await failedCount.click();
    // The UI ANDs the status into the list's query, each attribute name in backticks.
    await page.waitForURL((url) => url.searchParams.get('query') === `\`TaskQueue\`="${h!.taskQueue}" AND \`ExecutionStatus\`="Failed"`, { timeout: 20_000 });
    await waitForRows(page, 2);
    await screenshot(page, join(SHOTS, 'failures.png'));
    assert.deepEqual(await column(page, 'Status'), { [ids.compensatedOrder]: 'Failed', [ids.abandonedOrder]: 'Failed' });
  } finally {
    await page.close();
  }
});
