/*
 * The dashboard page: signs in with a token kept in this tab's sessionStorage (sent as a Bearer header,
 * never in a URL), polls /api/state for the chosen window every few seconds and renders it. Operators get
 * the dead-letter buttons; each opens a form for their identity and reason and posts to /api/actions.
 * Text is always set through textContent, never parsed as HTML.
 */
'use strict';

const POLL_MS = 3000;
const TOKEN_KEY = 'jobledger.dashboard.token';
const OPERATOR_KEY = 'jobledger.dashboard.operator';
const OUTCOMES = ['Completed', 'Compensated', 'Abandoned', 'Failed'];
const LIVE = ['Running', 'Retrying', 'Compensating', 'DeadLettered'];
const ACTIONS = ['retry', 'skip', 'compensate', 'abandon'];

const view = { window: '15m', jobType: '*', role: null, state: null, chart: null, timer: null, pending: null };

const $ = (id) => document.getElementById(id);

/** An element with attributes (data-*, class, ...) and children (strings become text). */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'text') node.textContent = String(value);
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

function formatMs(ms) {
  if (ms === null || ms === undefined) return '–';
  if (!Number.isFinite(ms)) return '> 7 d';
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${+(ms / 1000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${+(ms / 60_000).toFixed(1)} min`;
  if (ms < 86_400_000) return `${+(ms / 3_600_000).toFixed(1)} h`;
  return `${+(ms / 86_400_000).toFixed(1)} d`;
}

function formatAge(ms) {
  if (ms === null || ms === undefined) return '–';
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

function formatRate(rate) {
  return rate === null || rate === undefined ? '–' : `${(rate * 100).toFixed(1)} %`;
}

/** A `<dt>name</dt><dd data-figure=key data-value=value>shown</dd>` pair per entry. */
function fillCounts(dl, entries) {
  dl.replaceChildren(
    ...entries.flatMap(([key, label, value, shown]) => [
      el('dt', { text: label }),
      el('dd', { 'data-figure': key, 'data-value': value === null ? '' : value, text: shown ?? (value === null ? '–' : value) }),
    ]),
  );
}

// ---- signing in ----

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

function showSignIn(message) {
  clearTimeout(view.timer);
  $('main').hidden = true;
  $('sign-in').hidden = false;
  $('sign-out').hidden = true;
  $('role').textContent = '';
  delete document.body.dataset.role;
  $('sign-in-error').textContent = message || '';
  $('token').focus();
}

$('sign-in-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const value = $('token').value.trim();
  if (!value) return;
  sessionStorage.setItem(TOKEN_KEY, value);
  $('token').value = '';
  refresh();
});

$('sign-out').addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN_KEY);
  showSignIn('Signed out.');
});

// ---- loading ----

async function api(path, init = {}) {
  const response = await fetch(path, { ...init, headers: { ...(init.headers || {}), Authorization: `Bearer ${token()}` } });
  const body = await response.json().catch(() => ({}));
  return { status: response.status, body };
}

async function refresh() {
  clearTimeout(view.timer);
  if (!token()) return showSignIn();
  try {
    const { status, body } = await api(`/api/state?window=${encodeURIComponent(view.window)}`);
    if (status === 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      return showSignIn('That token was refused.');
    }
    if (status !== 200) throw new Error(body.message || `HTTP ${status}`);
    view.role = body.role;
    view.state = body.state;
    render();
  } catch (err) {
    $('problems').hidden = false;
    $('problems').textContent = `Could not load the dashboard: ${err.message}`;
  }
  view.timer = setTimeout(refresh, POLL_MS);
}

for (const button of document.querySelectorAll('[data-window]')) {
  button.addEventListener('click', () => {
    view.window = button.dataset.window;
    for (const other of document.querySelectorAll('[data-window]')) other.classList.toggle('on', other === button);
    refresh();
  });
}

$('job-type').addEventListener('change', () => {
  view.jobType = $('job-type').value;
  render();
});

// ---- rendering ----

function selectedFigures(figures) {
  if (view.jobType === '*') return figures.total;
  return figures.jobTypes.find((t) => t.jobType === view.jobType) || null;
}

function render() {
  const { state, role } = view;
  $('sign-in').hidden = true;
  $('main').hidden = false;
  $('sign-out').hidden = false;
  $('role').textContent = role === 'operator' ? 'operator' : 'viewer (read only)';
  $('role').dataset.role = role;
  document.body.dataset.role = role;

  const problems = [state.liveProblem && `Live counts unavailable: ${state.liveProblem}`].filter(Boolean);
  $('problems').hidden = problems.length === 0;
  $('problems').textContent = problems.join(' · ');

  renderTypeSelect(state.figures);
  const figures = selectedFigures(state.figures);
  const link = state.links.byJobType[view.jobType];
  $('ui-link').hidden = !link;
  if (link) $('ui-link').href = link;
  if (figures) renderFigures(figures, state.figures);
  renderTypes(state);
  renderDeadLetter(state.deadLetter);
  renderHealth(state.health);
  $('footer').textContent = `Updated ${new Date(state.generatedAt).toLocaleTimeString()} · ledger events read up to #${state.figures.cursor} · refreshes every ${POLL_MS / 1000} s`;
  document.body.dataset.cursor = String(state.figures.cursor);
}

function renderTypeSelect(figures) {
  const select = $('job-type');
  const wanted = ['*', ...figures.jobTypes.map((t) => t.jobType)];
  const have = [...select.options].map((o) => o.value);
  if (wanted.join('\n') !== have.join('\n')) {
    select.replaceChildren(...wanted.map((t) => el('option', { value: t, text: t === '*' ? 'all job types' : t })));
  }
  if (!wanted.includes(view.jobType)) view.jobType = '*';
  select.value = view.jobType;
}

function renderFigures(f, all) {
  $('success-rate').textContent = formatRate(f.successRate);
  $('success-rate').className = `big ${f.successRate === null ? '' : f.successRate >= 0.99 ? 'good' : f.successRate >= 0.9 ? 'fair' : 'poor'}`;
  $('success-rate').dataset.value = f.successRate === null ? '' : String(f.successRate);
  fillCounts($('outcomes'), OUTCOMES.map((s) => [s, s, f.outcomes[s]]));
  fillCounts($('latency'), [
    ['p50', 'p50', f.latency.p50Ms, `≤ ${formatMs(f.latency.p50Ms)}`],
    ['p95', 'p95', f.latency.p95Ms, `≤ ${formatMs(f.latency.p95Ms)}`],
    ['p99', 'p99', f.latency.p99Ms, `≤ ${formatMs(f.latency.p99Ms)}`],
    ['latency-count', 'jobs measured', f.latency.count],
  ]);
  $('percentile-method').textContent = 'Histogram buckets 10, 20, 50 ms … 7 d; each percentile is the upper bound of the bucket holding its nearest rank (see below).';
  $('method-full').textContent = `Percentiles: ${all.percentileMethod}`;
  fillCounts($('live'), LIVE.map((s) => [`live-${s}`, s, f.live ? f.live[s] : null]));
  fillCounts($('window-counts'), [
    ['submitted', 'Submitted', f.submitted],
    ['closed', 'Closed', f.closed],
    ['retried', 'Retried attempts', f.retriedAttempts],
    ['dead-lettered', 'Dead-lettered', f.deadLettered],
  ]);
  const errors = Object.entries(f.errors).sort((a, b) => b[1] - a[1]);
  $('errors').tBodies[0].replaceChildren(
    ...(errors.length === 0
      ? [el('tr', {}, el('td', { class: 'note', text: 'No failed attempts in this window.' }))]
      : errors.map(([cls, n]) => el('tr', { 'data-error-class': cls }, el('td', { text: cls }), el('td', { class: 'num', 'data-value': n, text: n })))),
  );
  renderChart(f.throughput);
}

function renderChart(t) {
  const container = $('chart');
  const data = [t.binStarts.map((ms) => ms / 1000), t.perMinute];
  const width = Math.max(300, container.clientWidth || 560);
  container.dataset.closed = t.closed.join(',');
  if (typeof uPlot === 'undefined') {
    container.textContent = 'chart library not loaded';
    return;
  }
  if (view.chart && view.chart.width === width && view.chart.bins === t.binStarts.length) {
    view.chart.setData(data);
    return;
  }
  if (view.chart) view.chart.destroy();
  container.replaceChildren();
  const bars = uPlot.paths && uPlot.paths.bars ? uPlot.paths.bars({ size: [0.8, 60] }) : undefined;
  view.chart = new uPlot(
    {
      width,
      height: 190,
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      // Half a bin of room on each side, so the first and last bars are drawn whole.
      scales: { x: { time: true, range: (u, min, max) => [min - t.binMs / 2000, max + t.binMs / 2000] }, y: { range: (u, min, max) => [0, Math.max(1, max * 1.15)] } },
      axes: [{ stroke: '#52606d', grid: { stroke: '#eef1f4' } }, { stroke: '#52606d', grid: { stroke: '#eef1f4' }, size: 44 }],
      series: [{}, { label: 'closed / min', stroke: '#2f6fde', fill: 'rgba(47,111,222,0.35)', width: 1, ...(bars && { paths: bars }), points: { show: false } }],
    },
    data,
    container,
  );
  view.chart.bins = t.binStarts.length;
}

function renderTypes(state) {
  const rows = state.figures.jobTypes.map((t) =>
    el(
      'tr',
      { 'data-job-type': t.jobType, class: t.jobType === view.jobType ? 'selected' : undefined },
      el('td', {}, el('button', { type: 'button', class: 'linkish', text: t.jobType, onclick: () => { view.jobType = t.jobType; render(); } })),
      el('td', { class: 'num', 'data-col': 'submitted', text: t.submitted }),
      el('td', { class: 'num', 'data-col': 'closed', text: t.closed }),
      el('td', { class: 'num', 'data-col': 'success', text: formatRate(t.successRate) }),
      el('td', { class: 'num', 'data-col': 'p95', text: t.latency.p95Ms === null ? '–' : `≤ ${formatMs(t.latency.p95Ms)}` }),
      el('td', { class: 'num', 'data-col': 'retried', text: t.retriedAttempts }),
      el('td', { class: 'num', 'data-col': 'running', text: t.live ? t.live.Running : '–' }),
      el('td', { class: 'num', 'data-col': 'dead-lettered', text: t.live ? t.live.DeadLettered : '–' }),
      el('td', {}, el('a', { href: state.links.byJobType[t.jobType], target: '_blank', rel: 'noopener', text: 'jobs ↗' })),
    ),
  );
  $('types').tBodies[0].replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', { colspan: 9, class: 'note', text: 'No jobs recorded yet.' }))]));
}

function renderDeadLetter(probe) {
  const body = $('dead-letter').tBodies[0];
  const operator = view.role === 'operator';
  $('dead-letter').classList.toggle('no-actions', !operator);
  if (!probe.ok) {
    body.replaceChildren(el('tr', {}, el('td', { colspan: 6, class: 'error', text: `Cannot list the dead letter: ${probe.problem}` })));
    return;
  }
  $('dead-letter-count').textContent = `${probe.value.length} parked`;
  $('dead-letter-empty').hidden = probe.value.length > 0;
  body.replaceChildren(
    ...probe.value.map((row) => {
      const d = row.diagnosis;
      const applicable = d && d.actions ? d.actions : ACTIONS;
      const diagnosis = d
        ? el('div', {}, el('div', { text: `${d.phase} failed${d.attempt ? ` (attempt ${d.attempt})` : ''}: ${d.message}` }), el('div', { class: 'note', text: d.hint }))
        : el('span', { class: 'note', text: row.diagnosisProblem ? `diagnosis unavailable: ${row.diagnosisProblem}` : 'no failure recorded' });
      const pending = view.pending === row.jobId;
      const actions = operator
        ? el(
            'td',
            { class: 'actions' },
            ...ACTIONS.map((action) =>
              el('button', {
                type: 'button',
                'data-action': action,
                disabled: pending || !applicable.includes(action),
                title: applicable.includes(action) ? `${action} this job` : `${action} does not apply at this phase`,
                text: action,
                onclick: () => openAction(row, action),
              }),
            ),
          )
        : null;
      return el(
        'tr',
        { 'data-job-id': row.jobId },
        el('td', {}, el('a', { href: row.url, target: '_blank', rel: 'noopener', text: row.jobId }), el('div', { class: 'note', text: row.jobType })),
        el('td', { text: row.step || '–' }),
        el('td', { text: row.errorClass || '–' }),
        el('td', { title: row.since || '', text: formatAge(row.ageMs) }),
        el('td', { class: 'diagnosis' }, diagnosis),
        actions,
      );
    }),
  );
}

function healthLine(key, label, status, text) {
  return [el('dt', { text: label }), el('dd', { 'data-health': key, 'data-status': status }, el('span', { class: `dot ${status}` }), text)];
}

function renderHealth(h) {
  const lines = [];
  if (h.workers.ok) {
    const { workflow, activity } = h.workers.value;
    const ids = [...new Set([...workflow, ...activity])];
    const ok = workflow.length > 0 && activity.length > 0;
    lines.push(healthLine('workers', 'Workers', ok ? 'ok' : 'bad', ok ? `${ids.length} polling ${h.taskQueue}: ${ids.join(', ')}` : `no ${workflow.length === 0 ? 'workflow' : 'activity'} poller on ${h.taskQueue}`));
  } else lines.push(healthLine('workers', 'Workers', 'bad', `cannot describe ${h.taskQueue}: ${h.workers.problem}`));

  if (h.breakers === null) lines.push(healthLine('breakers', 'Circuit breakers', 'none', 'no breaker store configured'));
  else if (!h.breakers.ok) lines.push(healthLine('breakers', 'Circuit breakers', 'bad', h.breakers.problem));
  else if (h.breakers.value.length === 0) lines.push(healthLine('breakers', 'Circuit breakers', 'ok', 'no dependency has tripped a breaker yet'));
  else {
    const open = h.breakers.value.filter((b) => b.state !== 'closed');
    const text = h.breakers.value.map((b) => `${b.dependency}: ${b.state}${b.state === 'closed' ? '' : ` since ${new Date(b.openedAt).toLocaleTimeString()}`}`).join(' · ');
    lines.push(healthLine('breakers', 'Circuit breakers', open.length ? 'warn' : 'ok', text));
  }

  const c = h.checkpoint;
  if (c === null) lines.push(healthLine('checkpoint', 'Audit checkpoint', 'none', 'not yet recorded here: start the dashboard with --archive DIR'));
  else if (c.state === 'none') lines.push(healthLine('checkpoint', 'Audit checkpoint', 'warn', `none yet in ${c.dir}`));
  else if (c.state === 'unreadable') lines.push(healthLine('checkpoint', 'Audit checkpoint', 'bad', `${c.dir}: ${c.problem}`));
  else lines.push(healthLine('checkpoint', 'Audit checkpoint', 'ok', `${c.treeSize} leaves, ${formatAge(c.ageMs)} old (${c.timestamp})`));

  if (!h.reconcile.ok) lines.push(healthLine('reconcile', 'Last reconcile', 'bad', h.reconcile.problem));
  else if (h.reconcile.value === null) lines.push(healthLine('reconcile', 'Last reconcile', 'none', 'not yet recorded: jobledger reconcile has not run against this ledger'));
  else {
    const v = h.reconcile.value;
    const kinds = Object.entries(v.byKind).map(([k, n]) => `${k} ${n}`).join(', ');
    const text = v.ok ? `agreed on ${v.rows} rows` : `${v.discrepancies} ${v.discrepancies === 1 ? 'discrepancy' : 'discrepancies'} (${kinds})`;
    lines.push(healthLine('reconcile', 'Last reconcile', v.ok ? 'ok' : 'bad', `${text}, ${v.checkedAt} by ${v.checkedBy} on ${v.host}`));
  }
  $('health').replaceChildren(...lines.flat());
}

// ---- actions ----

let acting = null;

function openAction(row, action) {
  acting = { jobId: row.jobId, action };
  $('action-title').textContent = `${action[0].toUpperCase()}${action.slice(1)} ${row.jobId}`;
  $('action-job').textContent = `${row.jobType} · parked at ${row.step || '?'} · ${row.errorClass || ''}`;
  $('action-operator').value = localStorage.getItem(OPERATOR_KEY) || '';
  $('action-reason').value = '';
  $('action-error').textContent = '';
  $('action-dialog').showModal();
  ($('action-operator').value ? $('action-reason') : $('action-operator')).focus();
}

$('action-cancel').addEventListener('click', () => $('action-dialog').close());

$('action-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  if (!acting) return;
  const operator = $('action-operator').value;
  const reason = $('action-reason').value;
  $('action-confirm').disabled = true;
  try {
    const { status, body } = await api('/api/actions', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ ...acting, operator, reason }),
    });
    if (status === 401) return showSignIn('That token was refused.');
    if (status !== 200) {
      $('action-error').textContent = body.message || `HTTP ${status}`;
      return;
    }
    localStorage.setItem(OPERATOR_KEY, operator.trim());
    view.pending = acting.jobId;
    $('action-dialog').close();
    refresh();
  } finally {
    $('action-confirm').disabled = false;
  }
});

refresh();
