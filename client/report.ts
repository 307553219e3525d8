/**
 * `jobledger report --html FILE [--window W] [--archive DIR]`: the dashboard's figures written as one
 * self-contained HTML file, for an incident review. The state is the dashboard's own (DashboardStateReader:
 * the same figures from the ledger's events, live counts from Temporal, the dead letter with diagnoses,
 * the health panel), rendered once: the dashboard's stylesheet is inlined, the throughput charts are
 * inline SVG, and there is no script. The only links are to the Temporal Web UI. Every figure carries a
 * `data-figure` attribute, as on the page, so a reader (or a test) can find it.
 */
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { loadConfig } from '../core/config';
import { ExitCode, parseCommand, print, required, UsageError, type Command, type Output } from '../core/commands';
import { withDashboardSources } from './dashboard/open';
import { DASHBOARD_WINDOWS, DashboardWindow, type JobTypeFigures, type ThroughputFigures } from './dashboard/figures';
import { DashboardStateReader, type DashboardState, type DeadLetterRow, type HealthPanel } from './dashboard/state';

const OUTCOMES = ['Completed', 'Compensated', 'Abandoned', 'Failed'] as const;
const LIVE = ['Running', 'Retrying', 'Compensating', 'DeadLettered'] as const;

/** Text made safe for HTML content and attribute values. */
function esc(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function formatMs(ms: number | null): string {
  if (ms === null) return '–';
  if (!Number.isFinite(ms)) return '> 7 d';
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${+(ms / 1000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${+(ms / 60_000).toFixed(1)} min`;
  if (ms < 86_400_000) return `${+(ms / 3_600_000).toFixed(1)} h`;
  return `${+(ms / 86_400_000).toFixed(1)} d`;
}

function formatRate(rate: number | null): string {
  return rate === null ? '–' : `${(rate * 100).toFixed(1)} %`;
}

const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');

/** A `<dt>`/`<dd>` pair whose `<dd>` carries the figure's key and raw value. */
function count(key: string, label: string, value: number | null, shown?: string): string {
  return `<dt>${esc(label)}</dt><dd data-figure="${esc(key)}" data-value="${value === null ? '' : esc(value)}">${esc(shown ?? (value === null ? '–' : value))}</dd>`;
}

/** Closed jobs per minute as an inline SVG bar chart, with the bins' times on the axis. */
function throughputSvg(t: ThroughputFigures, width = 560, height = 170): string {
  const left = 36;
  const bottom = 22;
  const plotW = width - left - 6;
  const plotH = height - bottom - 8;
  const max = Math.max(1, ...t.perMinute);
  const step = plotW / Math.max(1, t.perMinute.length);
  const bars = t.perMinute
    .map((v, i) => {
      const h = (v / max) * plotH;
      return `<rect x="${(left + i * step + step * 0.1).toFixed(1)}" y="${(8 + plotH - h).toFixed(1)}" width="${(step * 0.8).toFixed(1)}" height="${h.toFixed(1)}" fill="#2f6fde" fill-opacity="0.7"><title>${esc(`${iso(t.binStarts[i] ?? 0)}: ${t.closed[i] ?? 0} closed (${+v.toFixed(2)} / min)`)}</title></rect>`;
    })
    .join('');
  const time = (ms: number) => new Date(ms).toISOString().slice(11, 16);
  const ticks = [0, Math.floor(t.binStarts.length / 2), t.binStarts.length - 1]
    .filter((i, k, all) => all.indexOf(i) === k && t.binStarts[i] !== undefined)
    .map((i) => `<text x="${(left + i * step + step / 2).toFixed(1)}" y="${height - 6}" text-anchor="middle">${time(t.binStarts[i]!)}</text>`)
    .join('');
  return (
    `<svg viewBox="0 0 ${width} ${height}" width="100%" role="img" aria-label="closed jobs per minute" data-closed="${esc(t.closed.join(','))}" font-size="11" fill="#52606d">` +
    `<line x1="${left}" y1="${8 + plotH}" x2="${width - 6}" y2="${8 + plotH}" stroke="#cbd2d9"/>` +
    `<line x1="${left}" y1="8" x2="${width - 6}" y2="8" stroke="#eef1f4"/>` +
    `<text x="${left - 4}" y="12" text-anchor="end">${esc(+max.toFixed(2))}</text><text x="${left - 4}" y="${8 + plotH}" text-anchor="end">0</text>` +
    `${bars}${ticks}</svg>`
  );
}

function figuresCards(f: JobTypeFigures, percentileMethod: string): string {
  const errors = Object.entries(f.errors).sort((a, b) => b[1] - a[1]);
  return `<section class="cards">
<article class="card chart-card"><h2>Throughput <small>closed jobs per minute, bins of ${esc(formatMs(f.throughput.binMs))}</small></h2>${throughputSvg(f.throughput)}</article>
<article class="card"><h2>Success rate</h2><p class="big" data-figure="success-rate" data-value="${f.successRate ?? ''}">${esc(formatRate(f.successRate))}</p>
<dl class="counts">${OUTCOMES.map((s) => count(s, s, f.outcomes[s])).join('')}</dl></article>
<article class="card"><h2>Submission to close</h2><dl class="counts">${count('p50', 'p50', f.latency.p50Ms, `≤ ${formatMs(f.latency.p50Ms)}`)}${count('p95', 'p95', f.latency.p95Ms, `≤ ${formatMs(f.latency.p95Ms)}`)}${count('p99', 'p99', f.latency.p99Ms, `≤ ${formatMs(f.latency.p99Ms)}`)}${count('latency-count', 'jobs measured', f.latency.count)}</dl>
<p class="note">${esc(percentileMethod)}</p></article>
<article class="card"><h2>Live when written <small>Temporal</small></h2><dl class="counts">${LIVE.map((s) => count(`live-${s}`, s, f.live ? f.live[s] : null)).join('')}</dl></article>
<article class="card"><h2>In the window</h2><dl class="counts">${count('submitted', 'Submitted', f.submitted)}${count('closed', 'Closed', f.closed)}${count('retried', 'Retried attempts', f.retriedAttempts)}${count('dead-lettered', 'Dead-lettered', f.deadLettered)}</dl></article>
<article class="card"><h2>Errors by class <small>failed attempts</small></h2><table class="small-table" data-figure="errors"><tbody>${
    errors.length === 0
      ? '<tr><td class="note">No failed attempts in this window.</td></tr>'
      : errors.map(([cls, n]) => `<tr data-error-class="${esc(cls)}"><td>${esc(cls)}</td><td class="num" data-value="${n}">${n}</td></tr>`).join('')
  }</tbody></table></article>
</section>`;
}

function jobTypesTable(state: DashboardState): string {
  const rows = state.figures.jobTypes.map((t) => {
    const errors = Object.entries(t.errors).map(([cls, n]) => `${cls} ${n}`).join(', ') || '–';
    return `<tr data-job-type="${esc(t.jobType)}"><td>${esc(t.jobType)}</td><td class="num" data-col="submitted">${t.submitted}</td><td class="num" data-col="closed">${t.closed}</td>${OUTCOMES.map((s) => `<td class="num" data-col="${s}">${t.outcomes[s]}</td>`).join('')}<td class="num" data-col="success">${esc(formatRate(t.successRate))}</td><td class="num" data-col="p50">${t.latency.p50Ms === null ? '–' : `≤ ${esc(formatMs(t.latency.p50Ms))}`}</td><td class="num" data-col="p95">${t.latency.p95Ms === null ? '–' : `≤ ${esc(formatMs(t.latency.p95Ms))}`}</td><td class="num" data-col="p99">${t.latency.p99Ms === null ? '–' : `≤ ${esc(formatMs(t.latency.p99Ms))}`}</td><td class="num" data-col="retried">${t.retriedAttempts}</td><td class="num" data-col="dead-lettered">${t.deadLettered}</td><td data-col="errors">${esc(errors)}</td><td><a href="${esc(state.links.byJobType[t.jobType] ?? '')}">jobs ↗</a></td></tr>`;
  });
  return `<section class="card"><h2>Job types</h2><table data-figure="job-types"><thead><tr><th>Job type</th><th class="num">Submitted</th><th class="num">Closed</th>${OUTCOMES.map((s) => `<th class="num">${s}</th>`).join('')}<th class="num">Success</th><th class="num">p50</th><th class="num">p95</th><th class="num">p99</th><th class="num">Retried</th><th class="num">Dead-lettered</th><th>Errors by class</th><th>Web UI</th></tr></thead>
<tbody>${rows.length ? rows.join('\n') : '<tr><td colspan="15" class="note">No jobs recorded in the ledger.</td></tr>'}</tbody></table></section>`;
}

function formatAge(ms: number | null): string {
  if (ms === null) return '–';
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

function deadLetterTable(probe: DashboardState['deadLetter']): string {
  if (!probe.ok) return `<section class="card"><h2>Dead letter</h2><p class="error">Cannot list the dead letter: ${esc(probe.problem)}</p></section>`;
  const row = (r: DeadLetterRow) => {
    const d = r.diagnosis;
    const diagnosis = d
      ? `<div>${esc(`${d.phase} failed${d.attempt ? ` (attempt ${d.attempt})` : ''}: ${d.message}`)}</div><div class="note">${esc(d.hint)}</div>`
      : `<span class="note">${esc(r.diagnosisProblem ? `diagnosis unavailable: ${r.diagnosisProblem}` : 'no failure recorded')}</span>`;
    return `<tr data-job-id="${esc(r.jobId)}"><td><a href="${esc(r.url)}">${esc(r.jobId)}</a></td><td>${esc(r.step ?? '–')}</td><td>${esc(r.errorClass ?? '–')}</td><td title="${esc(r.since ?? '')}">${esc(formatAge(r.ageMs))}</td><td>${diagnosis}</td></tr>`;
  };
  return `<section class="card"><h2>Dead letter <small data-figure="dead-letter-count" data-value="${probe.value.length}">${probe.value.length} parked when written</small></h2>
<table data-figure="dead-letter"><thead><tr><th>Job</th><th>Step</th><th>Class</th><th>Parked</th><th>Diagnosis</th></tr></thead><tbody>${probe.value.length ? probe.value.map(row).join('\n') : '<tr><td colspan="5" class="note">No job is parked.</td></tr>'}</tbody></table></section>`;
}

function healthList(h: HealthPanel, now: number): string {
  const line = (key: string, label: string, level: 'ok' | 'warn' | 'bad' | 'none', text: string) =>
    `<dt>${esc(label)}</dt><dd data-health="${esc(key)}"><span class="dot ${level === 'none' ? '' : level}"></span>${esc(text)}</dd>`;
  const workers = h.workers.ok
    ? line(
        'workers',
        'Workers',
        h.workers.value.workflow.length > 0 && h.workers.value.activity.length > 0 ? 'ok' : 'bad',
        `${h.workers.value.workflow.length} workflow and ${h.workers.value.activity.length} activity pollers on ${h.taskQueue}${h.workers.value.workflow.length ? ` (${h.workers.value.workflow.join(', ')})` : ''}`,
      )
    : line('workers', 'Workers', 'bad', `cannot describe ${h.taskQueue}: ${h.workers.problem}`);
  let breakers = line('breakers', 'Circuit breakers', 'none', 'no breaker store configured');
  if (h.breakers && !h.breakers.ok) breakers = line('breakers', 'Circuit breakers', 'bad', `cannot read: ${h.breakers.problem}`);
  else if (h.breakers?.ok) {
    const open = h.breakers.value.filter((b) => b.state !== 'closed');
    const text = h.breakers.value.length === 0 ? 'no dependency has a breaker record' : h.breakers.value.map((b) => `${b.dependency} ${b.state}`).join(', ');
    breakers = line('breakers', 'Circuit breakers', open.length ? 'bad' : 'ok', text);
  }
  const c = h.checkpoint;
  let checkpoint = line('checkpoint', 'Audit checkpoint', 'none', 'no archive given (--archive DIR)');
  if (c?.state === 'none') checkpoint = line('checkpoint', 'Audit checkpoint', 'warn', `none yet in ${c.dir}`);
  if (c?.state === 'unreadable') checkpoint = line('checkpoint', 'Audit checkpoint', 'bad', `${c.dir}: ${c.problem}`);
  if (c?.state === 'checkpoint') checkpoint = line('checkpoint', 'Audit checkpoint', 'ok', `${c.treeSize} leaves, signed ${c.timestamp} (${formatAge(c.ageMs)} before this report)`);
  let reconcile: string;
  if (!h.reconcile.ok) reconcile = line('reconcile', 'Last reconcile', 'bad', `cannot read: ${h.reconcile.problem}`);
  else if (h.reconcile.value === null) reconcile = line('reconcile', 'Last reconcile', 'warn', 'never run against this ledger');
  else {
    const v = h.reconcile.value;
    const found = v.ok ? `the sources agree (${v.rows} rows)` : `${v.discrepancies} discrepancies over ${v.rows} rows`;
    reconcile = line('reconcile', 'Last reconcile', v.ok ? 'ok' : 'bad', `${found}, ${v.checkedAt} (${formatAge(now - Date.parse(v.checkedAt))} before this report) by ${v.checkedBy} on ${v.host}`);
  }
  return `<section class="card"><h2>Health <small>when written</small></h2><dl class="health">${workers}${breakers}${checkpoint}${reconcile}</dl></section>`;
}

/** The dashboard's stylesheet, inlined. */
function dashboardCss(): string {
  return readFileSync(join(__dirname, 'dashboard', 'page.css'), 'utf8');
}

/** The report's own layout over the dashboard's: the chart two columns wide, numbers kept on one line. */
const REPORT_CSS = `
.bar .meta { color: #cbd2d9; font-size: 13px; }
.cards { grid-template-columns: repeat(4, minmax(0, 1fr)); }
.cards .chart-card { grid-column: span 2; }
td.num, th.num { white-space: nowrap; }
@media print { .bar { position: static; } body { background: #fff; } }
`;

/** The report's HTML: one file, no script, no external resource. */
export function renderReport(state: DashboardState): string {
  const f = state.figures;
  const title = `jobledger report, ${f.window} to ${iso(f.to)}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>
${dashboardCss()}
${REPORT_CSS}
</style>
</head>
<body data-role="report" data-window="${esc(f.window)}" data-from="${f.from}" data-to="${f.to}" data-cursor="${f.cursor}">
<header class="bar"><h1>jobledger report</h1><span class="meta">window ${esc(f.window)}: ${esc(iso(f.from))} to ${esc(iso(f.to))}</span>
<a class="ui-link" href="${esc(state.links.byJobType['*'] ?? '')}">These jobs in the Temporal Web UI ↗</a></header>
<main>
${state.liveProblem ? `<p class="error">Live counts unavailable: ${esc(state.liveProblem)}</p>` : ''}
<h2>All job types</h2>
${figuresCards(f.total, f.percentileMethod)}
${jobTypesTable(state)}
${deadLetterTable(state.deadLetter)}
${healthList(state.health, state.generatedAt)}
<footer class="note">Written ${esc(iso(state.generatedAt))} from the ledger's events up to #${f.cursor} by <code>jobledger report</code>; the figures are the dashboard's (<code>jobledger dashboard</code>) for the same window.</footer>
</main>
</body>
</html>
`;
}

async function runReport(argv: string[], output: Output): Promise<number> {
  const { values } = parseCommand(argv, { html: { type: 'string' }, window: { type: 'string' }, archive: { type: 'string' } }, []);
  const file = resolve(required(values.html, 'html'));
  const window = DashboardWindow.safeParse(values.window ?? '24h');
  if (!window.success) throw new UsageError(`--window must be one of ${Object.keys(DASHBOARD_WINDOWS).join(', ')}, not ${JSON.stringify(values.window)}`);
  const config = loadConfig();
  return withDashboardSources(config, 'jobledger-report', values.archive, async (sources) => {
    const state = await new DashboardStateReader(sources).read(window.data);
    await writeFile(file, renderReport(state));
    const { total } = state.figures;
    print(
      output,
      { file, window: window.data, from: state.figures.from, to: state.figures.to, closed: total.closed, successRate: total.successRate, deadLetter: state.deadLetter.ok ? state.deadLetter.value.length : null },
      `wrote ${file}: ${total.closed} jobs closed in the last ${window.data}, success ${formatRate(total.successRate)}, p95 ≤ ${formatMs(total.latency.p95Ms)}`,
    );
    return ExitCode.ok;
  });
}

export const reportCommand: Command = {
  name: 'report',
  args: '--html FILE [--window 15m|1h|24h|7d] [--archive DIR] [--json]',
  summary: "write the dashboard's figures for a window (default 24h) as one self-contained HTML file, for an incident review",
  run: runReport,
};
