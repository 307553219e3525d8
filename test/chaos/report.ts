/**
 * What a chaos run leaves behind: a readable summary (each scenario with its faults, observed counts and
 * invariant verdicts, then one line per scenario), one JSON file per scenario run under
 * artifacts/chaos/, and on request a row per run appended to the table that ends docs/RELIABILITY.md.
 */
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './devserver';
import { artifactStem } from './run';
import type { ScenarioResult } from './scenario';

export const ARTIFACTS_DIR = join(ROOT, 'artifacts/chaos');
export const RELIABILITY_DOC = join(ROOT, 'docs/RELIABILITY.md');

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const counts = (value: unknown) =>
  value && typeof value === 'object' ? Object.entries(value as Record<string, number>).map(([k, n]) => `${k} ${n}`).join(', ') : String(value);

/** The observed counts in one line: statuses, effects, then the scenario's own counts. */
export function observedLine(result: ScenarioResult): string {
  const { statuses, effects, ...rest } = result.observed as { statuses?: unknown; effects?: unknown };
  const parts: string[] = [];
  if (statuses) parts.push(counts(statuses));
  if (effects) parts.push(`effects: ${counts(effects)}`);
  const own = Object.entries(rest).filter(([, v]) => typeof v === 'number' || typeof v === 'string');
  if (own.length) parts.push(own.map(([k, v]) => `${k} ${v}`).join(', '));
  return parts.join('; ');
}

/** The human summary printed at the end of a run. */
export function formatSummary(results: readonly ScenarioResult[]): string {
  const out: string[] = [];
  for (const r of results) {
    out.push(`${r.id}  ${r.ok ? 'PASSED' : 'FAILED'}  ${seconds(r.durationMs)}  ${r.title}`);
    out.push(`    workload: ${r.workload || '(not reached)'}`);
    out.push(`    faults:   ${r.faults || '(not reached)'}`);
    out.push(`    observed: ${observedLine(r) || '(nothing)'}`);
    if (r.logs) out.push(`    logs:     ${r.logs}`);
    const width = Math.max(...r.invariants.map((i) => i.name.length));
    for (const i of r.invariants) out.push(`    ${i.ok ? 'ok  ' : 'FAIL'}  ${i.name.padEnd(width)}  ${i.detail.split('\n')[0]}`);
    out.push('');
  }
  const header = ['SCENARIO', 'RESULT', 'INVARIANTS', 'DURATION'];
  const rows = results.map((r) => [r.id, r.ok ? 'passed' : 'FAILED', `${r.invariants.filter((i) => i.ok).length}/${r.invariants.length}`, seconds(r.durationMs)]);
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c]!.length)));
  for (const row of [header, ...rows]) out.push(row.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd());
  return out.join('\n');
}

/** Writes artifacts/chaos/<id>-<timestamp>.json and returns its path. */
export function writeArtifact(result: ScenarioResult): string {
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  const path = join(ARTIFACTS_DIR, `${artifactStem(result.id, result.startedAt)}.json`);
  writeFileSync(path, `${JSON.stringify(result, null, 2)}\n`);
  return path;
}

/** A table cell: one line, no pipes. */
const cell = (text: string) => text.replace(/\s*\n\s*/g, ' ').replace(/\|/g, '/');

/** Appends one row per result to the runs table at the end of docs/RELIABILITY.md. */
export function recordRows(results: readonly ScenarioResult[]): void {
  const text = readFileSync(RELIABILITY_DOC, 'utf8');
  const rows = results.map((r) => {
    const failed = r.invariants.filter((i) => !i.ok).map((i) => i.name);
    const verdict = r.ok ? `passed (${r.invariants.length}/${r.invariants.length} invariants)` : `FAILED: ${failed.join(', ')}`;
    return `| ${r.startedAt.slice(0, 10)} | ${r.commit} | ${r.id}${r.size === 'smoke' ? ' (smoke)' : ''} | ${cell(r.workload)} | ${cell(r.faults)} | ${cell(observedLine(r))}; ${seconds(r.durationMs)} | ${verdict} |`;
  });
  appendFileSync(RELIABILITY_DOC, `${text.endsWith('\n') ? '' : '\n'}${rows.join('\n')}\n`);
}
