/**
 * What every scenario of `npm run bench` shares: percentiles of latencies, interleaved rounds with the
 * median of their ratio (the machine is noisy, so two sides are compared only within one run, taking turns),
 * the JSON file each scenario writes under artifacts/bench/, and the row each run adds to the runs table
 * of docs/BENCHMARKS.md (date, commit, machine, command, each scenario's headline).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';

export const ROOT = resolve(__dirname, '..');
export const OUT_DIR = join(ROOT, 'artifacts', 'bench');
export const BENCHMARKS_MD = join(ROOT, 'docs', 'BENCHMARKS.md');

/** What a scenario hands back to the runner: one line for the runs table, and where its JSON went. */
export interface BenchSummary {
  headline: string;
  file?: string;
}

/** A scenario of `npm run bench`: runs, prints its own summary, writes its JSON, returns its headline. */
export type Bench = () => Promise<BenchSummary | void>;

export interface Latency {
  n: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
}

export function round(n: number, digits = 1): number {
  return Number(n.toFixed(digits));
}

/** The q-quantile (0..1) of values already sorted ascending: the nearest rank. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** p50, p99, max and mean of latencies in milliseconds. */
export function latency(valuesMs: readonly number[], digits = 2): Latency {
  const sorted = [...valuesMs].sort((a, b) => a - b);
  const mean = sorted.reduce((s, v) => s + v, 0) / Math.max(1, sorted.length);
  return { n: sorted.length, p50Ms: round(quantile(sorted, 0.5), digits), p99Ms: round(quantile(sorted, 0.99), digits), maxMs: round(sorted.at(-1) ?? Number.NaN, digits), meanMs: round(mean, digits) };
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * Runs each side once per round, `rounds` times, taking turns (the first side first in odd rounds, last in
 * even ones, so a drift of the machine hits both alike). Returns each round's figures by side.
 */
export async function interleaved<S extends string, R>(rounds: number, sides: Record<S, (round: number) => Promise<R>>): Promise<Array<Record<S, R>>> {
  const names = Object.keys(sides) as S[];
  const results: Array<Record<S, R>> = [];
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? names : [...names].reverse();
    const figures = {} as Record<S, R>;
    for (const name of order) figures[name] = await sides[name](r);
    results.push(figures);
  }
  return results;
}

/** Runs `task(i)` for i in [0, n) with at most `concurrency` in flight, in index order. */
export async function pool(n: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < n) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(n, concurrency) }, lane));
}

/** A positive integer from the environment (for quick trials), else the default. */
export function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer, got '${raw}'`);
  return n;
}

/** Writes a scenario's figures to artifacts/bench/<name>.json; returns the path. */
export function writeResult(name: string, result: unknown): string {
  mkdirSync(OUT_DIR, { recursive: true });
  const file = join(OUT_DIR, `${name}.json`);
  writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
  return file;
}

/** The machine and code a run measured. */
export function environment(): { date: string; commit: string; machine: string; node: string } {
  const git = (...args: string[]) => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim();
  let commit = 'unknown';
  try {
    commit = git('rev-parse', '--short', 'HEAD');
    if (git('status', '--porcelain', '--untracked-files=no') !== '') commit += '+changes';
  } catch {
    // not a git checkout: the commit stays unknown
  }
  const memGiB = Math.round(totalmem() / 2 ** 30);
  return { date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC', commit, machine: `${cpus().length} cores, ${memGiB} GiB`, node: process.version };
}

export const RUNS_HEADING = '## Runs';
const RUNS_HEADER = ['| date | commit | machine | command | scenario | headline |', '| --- | --- | --- | --- | --- | --- |'];

/**
 * Adds one row per scenario of this run to the runs table of docs/BENCHMARKS.md (under `## Runs`, made
 * when missing, right after the introduction), after the table's last row. `env`: the date, commit and
 * machine as they were when the run started. Default: now.
 */
export function recordRun(command: string, rows: ReadonlyArray<{ scenario: string; headline: string }>, env = environment()): void {
  const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const lines = rows.map((r) => `| ${env.date} | ${env.commit} | ${env.machine} | \`${cell(command)}\` | ${r.scenario} | ${cell(r.headline)} |`);
  const text = readFileSync(BENCHMARKS_MD, 'utf8').split('\n');
  let at = text.indexOf(RUNS_HEADING);
  if (at < 0) {
    const firstSection = text.findIndex((l, i) => i > 0 && l.startsWith('## '));
    at = firstSection < 0 ? text.length : firstSection;
    text.splice(at, 0, RUNS_HEADING, '', 'Every `npm run bench` adds one row per scenario it ran (bench/lib.ts `recordRun`).', '', ...RUNS_HEADER, '');
  }
  let end = text.indexOf(RUNS_HEADER[1]!, at);
  if (end < 0) {
    text.splice(at + 1, 0, '', ...RUNS_HEADER);
    end = at + 3;
  }
  while (end + 1 < text.length && text[end + 1]!.startsWith('|')) end++;
  text.splice(end + 1, 0, ...lines);
  writeFileSync(BENCHMARKS_MD, text.join('\n'));
}
