/**
 * The operator's view of jobs, checked end to end: a dev server with its Web UI, completed
 * `greeting.send` jobs run by a worker and raw `jobWorkflow` starts left pending on a task queue no worker
 * polls. Headless Chromium opens the Web UI's workflow list filtered by the custom search attributes and
 * the test asserts exactly the expected job ids are shown; `listJobs` (client/list.ts) must return the
 * same jobs, and each of its links must open the job's page. Screenshots go to artifacts/webui/.
 * Skipped only when /usr/bin/chromium is absent and JOBLEDGER_REQUIRE_BROWSER is unset.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Page } from 'playwright-core';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { listJobs, buildJobQuery, type ListedJob } from '../client/list';
import { JOB_WORKFLOW_TYPE, JobStatus } from '../common/constants';
import { SA } from '../common/searchAttributes';
import { greetingJob } from '../examples/jobs/greeting';
import { browserSkipReason, launchBrowser, screenshot, type BrowserSession } from './helpers/browser';
import { createHarness, type Harness } from './helpers/harness';
import { ROOT, startDevServerWithUi, unique } from './helpers/servers';
import { waitForCount } from './helpers/visibility';
import { jobOutcome } from '../client/outcome';

const SHOTS = join(ROOT, 'artifacts/webui');
/** One row of the Web UI's workflow table (Temporal UI 2.x). */
const ROW = 'tr[data-testid="workflows-summary-configurable-table-row"]';
/** The workflow id heading of a workflow's page. */
const HEADING = '[data-testid="workflow-id-heading"]';

const skip = browserSkipReason();

let env: TestWorkflowEnvironment;
let h: Harness | undefined;
let running: Promise<void> | undefined;
let browser: BrowserSession | undefined;
let uiUrl: string;
const namespace = 'default';

/** The jobs this file creates, by what they should match. */
const ids = {
  completedGreetings: [] as string[],
  pendingGreeting: '',
  orders: [] as string[],
};

before(async () => {
  ({ env, uiUrl } = await startDevServerWithUi());
  h = await createHarness(env, [greetingJob]);
  running = h.worker.run();
  if (!skip) browser = await launchBrowser();

  // Three greetings that run to completion on the worker.
  for (let i = 0; i < 3; i++) {
    const { jobId } = await h.jobs.submit('greeting.send', { recipientId: unique('webui') });
    ids.completedGreetings.push(jobId);
  }
  await Promise.all(ids.completedGreetings.map((id) => jobOutcome(env.client.workflow.getHandle(id))));

  // Raw starts on a queue nobody polls: they stay open with the search attributes they started with.
  const idleQueue = unique('idle');
  const startIdle = async (workflowId: string, jobType: string, status: string, step?: string) => {
    await env.client.workflow.start(JOB_WORKFLOW_TYPE, {
      workflowId,
      taskQueue: idleQueue,
      args: [{ jobType, input: {}, submittedBy: 'webui-test' }],
      typedSearchAttributes: [
        { key: SA.JobType, value: jobType },
        { key: SA.JobStatus, value: status },
        ...(step ? [{ key: SA.JobStep, value: step }] : []),
      ],
    });
    return workflowId;
  };
  ids.pendingGreeting = await startIdle(`greeting.send:${unique('pending')}`, 'greeting.send', JobStatus.Submitted);
  for (let i = 0; i < 2; i++) ids.orders.push(await startIdle(`order.fulfill:${unique('order')}`, 'order.fulfill', JobStatus.Running, 'charge'));

  await waitForUi(uiUrl);
});

after(async () => {
  try {
    await browser?.close();
  } finally {
    try {
      if (running) {
        h?.worker.shutdown();
        await running;
      }
    } finally {
      try {
        await h?.ledger.close();
      } finally {
        await env?.teardown();
      }
    }
  }
});

function all(): string[] {
  return [...ids.completedGreetings, ids.pendingGreeting, ...ids.orders];
}

function sorted(values: Iterable<string>): string[] {
  return [...values].sort();
}

async function waitForUi(url: string): Promise<void> {
  let last: unknown;
  for (let i = 0; i < 100; i++) {
    try {
      const res = await fetch(url);
      if (res.ok) return;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`the Web UI at ${url} did not answer: ${String(last)}`);
}

/** Polls visibility until `query` counts `expected` executions, and fails if it never does. */
async function settle(query: string, expected: number): Promise<void> {
  assert.equal(await waitForCount(env.client, query, expected), expected, `visibility count for ${query}`);
}

/**
 * Opens the Web UI's workflow list for `query`, waits for the table to hold `expectedRows` rows (or gives
 * up after 20 s and reports what it shows), saves a screenshot and returns the workflow ids in the rows,
 * read from each row's link to its workflow page.
 */
async function shownIds(page: Page, query: string, expectedRows: number, shot: string): Promise<string[]> {
  await page.goto(`${uiUrl}/namespaces/${namespace}/workflows?query=${encodeURIComponent(query)}`);
  const rows = page.locator(ROW);
  await rows.first().waitFor({ timeout: 20_000 }).catch(() => undefined);
  // Then until the count is right; on timeout the assertions below report what the page shows instead.
  for (let i = 0; i < 100 && (await rows.count()) !== expectedRows; i++) await page.waitForTimeout(200);
  await screenshot(page, join(SHOTS, shot));
  const hrefs = await rows.evaluateAll((rows) =>
    rows.map((row) => row.querySelector('a[href*="/workflows/"]')?.getAttribute('href') ?? ''),
  );
  return hrefs.map((href) => {
    const match = /\/workflows\/([^/?#]+)/.exec(href);
    assert.ok(match, `a table row without a workflow link (href ${JSON.stringify(href)})`);
    return decodeURIComponent(match[1]!);
  });
}

/** Asserts the page shows exactly `expected` in its table, each id visible as text, and none of the others. */
async function assertShowsExactly(page: Page, query: string, expected: string[], shot: string): Promise<void> {
  await settle(query, expected.length);
  const shown = await shownIds(page, query, expected.length, shot);
  assert.deepEqual(sorted(shown), sorted(expected), `job ids in the Web UI table for ${query} (screenshot ${shot})`);
  for (const id of expected) {
    assert.ok(await page.getByRole('link', { name: id, exact: true }).first().isVisible(), `${id} is visible for ${query}`);
  }
  for (const id of all().filter((x) => !expected.includes(x))) {
    assert.equal(await page.getByText(id, { exact: true }).count(), 0, `${id} is not shown for ${query}`);
  }
}

test('the Web UI filtered by JobType shows exactly the jobs of that type', { skip, timeout: 120_000 }, async () => {
  const page = await browser!.newPage();
  try {
    await assertShowsExactly(page, 'JobType="greeting.send"', [...ids.completedGreetings, ids.pendingGreeting], 'by-type-greeting.png');
    await assertShowsExactly(page, 'JobType="order.fulfill"', ids.orders, 'by-type-order.png');
  } finally {
    await page.close();
  }
});

test('the Web UI filtered by JobType and JobStatus shows exactly the matching jobs', { skip, timeout: 120_000 }, async () => {
  const page = await browser!.newPage();
  try {
    await assertShowsExactly(page, 'JobType="greeting.send" AND JobStatus="Completed"', ids.completedGreetings, 'by-type-and-status.png');
    await assertShowsExactly(page, 'JobType="greeting.send" AND JobStatus="Submitted"', [ids.pendingGreeting], 'by-type-and-status-submitted.png');
  } finally {
    await page.close();
  }
});

test('buildJobQuery AND-combines the filters, escapes values and parenthesizes the free query', () => {
  assert.equal(buildJobQuery({}), '');
  assert.equal(buildJobQuery({ type: 'a.b' }), 'JobType = "a.b"');
  assert.equal(
    buildJobQuery({ type: 'x"y\\z', status: 'Running', query: ' JobStep="a" OR JobStep="b" ' }),
    'JobType = "x\\"y\\\\z" AND JobStatus = "Running" AND (JobStep="a" OR JobStep="b")',
  );
  assert.equal(buildJobQuery({ query: '   ' }), '');
});

test('listJobs filters by type, status and query, reads the search attributes and links each job', { timeout: 120_000 }, async () => {
  const greetings = [...ids.completedGreetings, ids.pendingGreeting];
  await settle('JobType="greeting.send"', greetings.length);
  await settle('JobStatus="Completed"', ids.completedGreetings.length);
  await settle('JobType="order.fulfill" AND JobStatus="Running"', ids.orders.length);
  const list = (opts: { type?: string; status?: string; query?: string; limit?: number }) =>
    listJobs(env.client, { ...opts, uiUrl, namespace });
  const idsOf = (jobs: ListedJob[]) => sorted(jobs.map((j) => j.jobId));

  const byType = await list({ type: 'greeting.send' });
  assert.deepEqual(idsOf(byType), sorted(greetings));
  assert.ok(byType.every((j) => j.jobType === 'greeting.send'));

  const byStatus = await list({ status: 'Completed' });
  assert.deepEqual(idsOf(byStatus), sorted(ids.completedGreetings));
  for (const job of byStatus) {
    assert.equal(job.status, 'Completed');
    assert.equal(job.step, 'deliver', 'the last step a completed greeting ran');
    assert.ok(job.closeTime && Date.parse(job.closeTime) >= Date.parse(job.startTime), `${job.jobId} has a close time after its start`);
    assert.equal(job.url, `${uiUrl}/namespaces/${namespace}/workflows/${encodeURIComponent(job.jobId)}`);
  }

  const pending = await list({ type: 'greeting.send', status: 'Submitted' });
  assert.deepEqual(idsOf(pending), [ids.pendingGreeting]);
  assert.equal(pending[0]!.closeTime, undefined, 'an open job has no close time');
  assert.ok(!Number.isNaN(Date.parse(pending[0]!.startTime)));

  const orders = await list({ type: 'order.fulfill', status: 'Running' });
  assert.deepEqual(idsOf(orders), sorted(ids.orders));
  assert.ok(orders.every((j) => j.step === 'charge'));

  assert.deepEqual(idsOf(await list({ query: 'JobStep="charge" OR JobStatus="Submitted"' })), sorted([...ids.orders, ids.pendingGreeting]));
  assert.deepEqual(idsOf(await list({ type: 'greeting.send', query: 'JobStep="charge" OR JobStatus="Submitted"' })), [ids.pendingGreeting]);
  // Values are escaped, so a filter value cannot widen the query (unescaped, this one would match every job).
  assert.deepEqual(await list({ type: 'x" OR JobType != "' }), []);
  assert.deepEqual(await list({ status: 'x\\" OR JobStatus != "' }), []);
  assert.deepEqual(await list({ type: 'no.such.type' }), []);
  assert.deepEqual(idsOf(await list({})), sorted(all()));

  assert.equal((await list({ type: 'greeting.send', limit: 2 })).length, 2);
  await assert.rejects(list({ limit: 0 }), RangeError);
});

test('each listJobs url opens the job page in the Web UI', { skip, timeout: 120_000 }, async () => {
  await settle('JobStatus="Completed"', ids.completedGreetings.length);
  const jobs = [...(await listJobs(env.client, { status: 'Completed', uiUrl, namespace, limit: 1 })), ...(await listJobs(env.client, { type: 'order.fulfill', uiUrl, namespace, limit: 1 }))];
  assert.equal(jobs.length, 2);
  const page = await browser!.newPage();
  try {
    for (const [i, job] of jobs.entries()) {
      await page.goto(job.url);
      const heading = page.locator(HEADING);
      try {
        await heading.filter({ hasText: job.jobId }).waitFor({ timeout: 20_000 });
      } finally {
        await screenshot(page, join(SHOTS, `job-page-${i + 1}.png`));
      }
      assert.equal((await heading.innerText()).trim(), job.jobId, `the page at ${job.url} is the job's page`);
      assert.ok(page.url().startsWith(`${uiUrl}/namespaces/${namespace}/workflows/${encodeURIComponent(job.jobId)}`), page.url());
    }
  } finally {
    await page.close();
  }
});
