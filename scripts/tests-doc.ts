/**
 * Writes docs/TESTS.md from one `npm test` run recorded by scripts/json-reporter.mjs: every test case of
 * every file with its outcome and duration, and the run's summary. Usage:
 * `JOBLEDGER_TEST_RECORD=/tmp/run.jsonl npm test`, then `npx tsx scripts/tests-doc.ts /tmp/run.jsonl`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

interface Case {
  file: string | null;
  name: string;
  outcome: 'pass' | 'fail' | 'skip';
  ms: number;
}

/** The test cases and summary figures of a recorded run (one JSON object a line). */
export function parseRecord(text: string): { cases: Case[]; summary: Record<string, number> } {
  const cases: Case[] = [];
  const summary: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const entry = JSON.parse(line) as Case | { summary: string; value: number };
    if ('summary' in entry) summary[entry.summary] = entry.value;
    else cases.push(entry);
  }
  return { cases, summary };
}

function main(): void {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { date: { type: 'string' } } });
  const [recordPath] = positionals;
  if (!recordPath) throw new Error('usage: tsx scripts/tests-doc.ts RUN.jsonl [--date YYYY-MM-DD]');
  const { cases, summary } = parseRecord(readFileSync(recordPath, 'utf8'));
  if (cases.length === 0) throw new Error(`${recordPath} holds no test case`);
  const date = values.date ?? new Date().toISOString().slice(0, 10);
  const escape = (text: string) => text.replace(/\|/g, '\\|');
  const lines = [
    '# Test cases and their observed outcomes',
    '',
    "Every test case in `test/`, with the outcome and duration observed in one run of `npm test` (the README's",
    "test command, which `.ci/run` runs) on the 2-core development machine, " + `${date}, written by`,
    '`scripts/tests-doc.ts` from that run. Tests run against real servers: the Temporal CLI dev server',
    '(`createLocal`), the Java time-skipping test server, SQLite, the sandbox HTTP providers, worker and CLI',
    'processes, and headless Chromium for the Web UI.',
    '',
    `Summary: tests ${summary.tests ?? cases.length}, pass ${summary.pass ?? 0}, fail ${summary.fail ?? 0}, skipped ${summary.skipped ?? 0}, duration_ms ${Math.round(summary.duration_ms ?? 0)}`,
    '',
    '| file | test case | outcome | ms |',
    '|---|---|---|---:|',
    ...cases.map((c) => `| ${c.file ? basename(c.file) : '?'} | ${escape(c.name)} | ${c.outcome} | ${c.ms} |`),
    '',
  ];
  const out = join(resolve(__dirname, '..'), 'docs/TESTS.md');
  writeFileSync(out, lines.join('\n'));
  process.stdout.write(`${out}: ${cases.length} test cases\n`);
}

if (require.main === module) main();
