/**
 * The Grafana dashboard (grafana/jobledger.json) against a real worker: a `workers/main.ts` process on the
 * dev server, with the example jobs and the sandbox providers, runs a small workload (orders completed, one
 * compensated, one parked in the dead letter after its receipt's 5 attempts get 503s, which also opens the
 * email circuit). Every metric name that the dashboard's PromQL queries (panels and template variables)
 * use must be a sample in that worker's /metrics scrape; the same check finds a synthetic name missing.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { JobClient } from '../client/jobs';
import { jobStateQuery } from '../common/messages';
import { JOBS_MODULE } from '../examples/jobs';
import { orderFulfillJob } from '../examples/jobs/order';
import type { Sandbox } from '../examples/sandbox';
import { JobRegistry } from '../jobs/registry';
import { openLedger, type Ledger } from '../ledger';
import { order } from './fixtures/orders';
import { startWorkerProcess, stopStarted, workerStarted } from './helpers/process';
import { withSandbox } from './helpers/sandbox';
import { freePort, ROOT, startDevServer, tempDir, testLogger, unique } from './helpers/servers';

const DASHBOARD = join(ROOT, 'grafana', 'jobledger.json');

let env: TestWorkflowEnvironment;
let sandbox: Sandbox;
let ledger: Ledger;
let metricsUrl: string;

/** The sample names of a Prometheus text exposition (histograms as their _bucket, _sum and _count series). */
function sampleNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const name = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[\s{]/.exec(line)?.[1];
    if (name) names.add(name);
  }
  return names;
}

const PROMQL_KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset', 'inf', 'nan']);

/**
 * The metric names a PromQL expression selects: identifiers that are not functions or aggregations (followed
 * by `(`), keywords, label names (inside `{}` or after by/without/on/ignoring/group_*), strings, durations or
 * Grafana variables.
 */
export function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\$\{?\w+\}?/g, ' ');
  const names = new Set<string>();
  for (const m of bare.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\()?/g)) {
    const [, name, call] = m;
    if (!call && !PROMQL_KEYWORDS.has(name!.toLowerCase())) names.add(name!);
  }
  return [...names];
}

interface Panel {
  id: number;
  title: string;
  type: string;
  datasource?: { type: string; uid: string };
  targets?: { expr: string; refId: string }[];
  panels?: Panel[];
}
interface Dashboard {
  title: string;
  uid: string;
  panels: Panel[];
  templating: { list: { name: string; type: string; query: unknown }[] };
}

/** Every PromQL expression of the dashboard, with where it is: panel targets and `label_values(metric, label)` variables. */
function queries(dashboard: Dashboard): { where: string; expr: string }[] {
  const found: { where: string; expr: string }[] = [];
  const visit = (panels: Panel[]) => {
    for (const panel of panels) {
      for (const target of panel.targets ?? []) found.push({ where: `panel "${panel.title}" ${target.refId}`, expr: target.expr });
      visit(panel.panels ?? []);
    }
  };
  visit(dashboard.panels);
  for (const variable of dashboard.templating.list) {
    if (variable.type !== 'query') continue;
    const text = typeof variable.query === 'string' ? variable.query : (variable.query as { query: string }).query;
    const inner = /^label_values\((.*),\s*\w+\)$/.exec(text)?.[1];
    found.push({ where: `variable $${variable.name}`, expr: inner ?? text });
  }
  return found;
}

/** The queries' metric names that the scrape does not have, as `name (where)`. */
function missingMetrics(dashboard: Dashboard, scraped: Set<string>): string[] {
  return queries(dashboard).flatMap(({ where, expr }) => metricNames(expr).filter((name) => !scraped.has(name)).map((name) => `${name} (${where})`));
}

function loadDashboard(): Dashboard {
  return JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;
}

describe('a worker that has run jobs', () => {
  before(async () => {
    env = await startDevServer();
    sandbox = await withSandbox();
    const dir = tempDir();
    const taskQueue = unique('grafana-tq');
    const port = await freePort();
    const ledgerPath = join(dir, 'ledger.db');
    const worker = startWorkerProcess(false, {
      TEMPORAL_ADDRESS: env.address,
      JOBLEDGER_TASK_QUEUE: taskQueue,
      JOBLEDGER_LEDGER_PATH: ledgerPath,
      JOBLEDGER_BREAKER_PATH: join(dir, 'breakers.db'),
      JOBLEDGER_METRICS_PORT: String(port),
      JOBLEDGER_JOBS_MODULE: JOBS_MODULE,
      JOBLEDGER_SERVICE_PAYMENTS_URL: sandbox.urls.payments,
      JOBLEDGER_SERVICE_INVENTORY_URL: sandbox.urls.inventory,
      JOBLEDGER_SERVICE_EMAIL_URL: sandbox.urls.email,
      LOG_LEVEL: 'info',
    });
    metricsUrl = String((await workerStarted(worker)).metrics);
    ledger = openLedger(ledgerPath);
    const jobs = new JobClient({ client: env.client, registry: new JobRegistry([orderFulfillJob]), ledger, taskQueue, logger: testLogger(), submittedBy: 'grafana-test' });

    // Two orders completed, one compensated (its receipt refused), one parked (its receipt's 5 attempts get 503s).
    for (let i = 0; i < 2; i++) assert.equal((await jobs.outcome((await jobs.submit('order.fulfill', order(unique('ord')))).jobId)).status, 'Completed');
    sandbox.email.setFaults({ failNext: { count: 1, status: 400 } });
    assert.equal((await jobs.outcome((await jobs.submit('order.fulfill', order(unique('ord-comp')))).jobId)).status, 'Compensated');
    sandbox.email.setFaults({ failNext: { count: 5, status: 503, type: 'service_unavailable' } });
    const parked = await jobs.submit('order.fulfill', order(unique('ord-park')));
    const handle = env.client.workflow.getHandle(parked.jobId);
    const deadline = Date.now() + 90_000;
    while ((await handle.query(jobStateQuery)).status !== 'DeadLettered') {
      if (Date.now() > deadline) throw new Error(`${parked.jobId} did not park`);
      await new Promise((r) => setTimeout(r, 250));
    }
    sandbox.email.setFaults({});
  });

  after(async () => {
    await stopStarted();
    await ledger?.close();
    await sandbox?.stop();
    await env?.teardown();
  });

  async function scrape(): Promise<string> {
    const response = await fetch(metricsUrl);
    assert.equal(response.status, 200);
    return response.text();
  }

  test('every metric the Grafana dashboard queries is in a real worker /metrics scrape', async () => {
    const text = await scrape();
    mkdirSync(join(ROOT, 'artifacts', 'grafana'), { recursive: true });
    writeFileSync(join(ROOT, 'artifacts', 'grafana', 'worker-metrics.txt'), text);
    const scraped = sampleNames(text);
    const dashboard = loadDashboard();
    const all = queries(dashboard);
    assert.ok(all.length >= 10, `the dashboard has ${all.length} queries`);
    const used = new Set(all.flatMap((q) => metricNames(q.expr)));
    for (const name of ['jobledger_jobs_closed', 'jobledger_job_duration_ms_bucket', 'jobledger_step_attempts', 'jobledger_jobs_dead_lettered', 'jobledger_circuit_state']) {
      assert.ok(used.has(name), `the dashboard queries ${name}`);
    }
    assert.deepEqual(missingMetrics(dashboard, scraped), []);
  });

  test('the check finds a query naming a metric the worker does not serve', async () => {
    const scraped = sampleNames(await scrape());
    const dashboard = loadDashboard();
    const broken: Dashboard = {
      ...dashboard,
      panels: [
        ...dashboard.panels,
        { id: 999, title: 'synthetic', type: 'timeseries', targets: [{ refId: 'A', expr: 'sum by (job_type) (rate(jobledger_jobs_vanished{job_type=~"$job_type"}[$__rate_interval])) / sum(rate(jobledger_jobs_closed[5m]))' }] },
      ],
    };
    assert.deepEqual(missingMetrics(broken, scraped), ['jobledger_jobs_vanished (panel "synthetic" A)']);
  });
});

test('metricNames reads metric names, not functions, labels, keywords or variables', () => {
  assert.deepEqual(
    metricNames('histogram_quantile(0.95, sum by (le, job_type) (rate(jobledger_job_duration_ms_bucket{job_type=~"$job_type", status!="x"}[$__rate_interval])))'),
    ['jobledger_job_duration_ms_bucket'],
  );
  assert.deepEqual(metricNames('max without (instance) (jobledger_circuit_state) > bool 1 or on(dependency) up'), ['jobledger_circuit_state', 'up']);
});

test('the dashboard is well formed: unique panel ids, every panel on the datasource variable', () => {
  const dashboard = loadDashboard();
  const ids = dashboard.panels.map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
  assert.equal(dashboard.uid, 'jobledger');
  assert.ok(dashboard.templating.list.some((v) => v.name === 'datasource' && v.type === 'datasource'));
  for (const panel of dashboard.panels.filter((p) => p.type !== 'row')) {
    assert.deepEqual(panel.datasource, { type: 'prometheus', uid: '${datasource}' }, `panel "${panel.title}"`);
    assert.ok((panel.targets ?? []).length > 0, `panel "${panel.title}" has queries`);
  }
});
