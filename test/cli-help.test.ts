/**
 * The README lists exactly the CLI's commands. Its command block (the ```bash block after the sentence
 * naming `npm run -s jobledger -- --help`) holds one `npm run -s jobledger -- <synopsis>` line per
 * command; `--help`, rendered from the command table, prints one synopsis per command. The two sets must
 * be equal, audit commands included: a command added to the table and not to the README (or the other
 * way round) fails here. No server is needed.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { cli } from './helpers/run';
import { ROOT } from './helpers/servers';

const PREFIX = 'npm run -s jobledger -- ';
const MARKER = '`npm run -s jobledger -- --help` prints the same list';

/** The synopses in the README's command block; every line of the block must be a jobledger command. */
function readmeSynopses(readme: string): string[] {
  const at = readme.indexOf(MARKER);
  assert.ok(at >= 0, `README.md no longer says ${MARKER} before its command list`);
  const block = /```bash\n([^]*?)```/.exec(readme.slice(at));
  assert.ok(block?.[1], 'README.md has no ```bash block after the command-list sentence');
  return block[1]
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      assert.ok(line.startsWith(PREFIX), `a line of the README's command block is not a jobledger command: ${line}`);
      // A synopsis never holds '#': what follows one is a comment.
      return line.slice(PREFIX.length).replace(/#.*$/, '').trim();
    });
}

/** The synopses `--help` prints: in its `commands:` section, each line that starts with two spaces and a word. */
function helpSynopses(help: string): string[] {
  const section = help.split('\ncommands:\n')[1];
  assert.ok(section, `--help has no commands: section:\n${help}`);
  return section
    .split('\n\n')[0]!
    .split('\n')
    .filter((line) => /^ {2}\S/.test(line))
    .map((line) => line.trim().split(/ {2,}/)[0]!);
}

/** The synopses only one side lists. */
function compare(readme: string[], help: string[]): { onlyInHelp: string[]; onlyInReadme: string[] } {
  return { onlyInHelp: help.filter((s) => !readme.includes(s)), onlyInReadme: readme.filter((s) => !help.includes(s)) };
}

async function helpText(): Promise<string> {
  const r = await cli(['--help'], {});
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

test('--help lists every command of the table, approve, reject and the audit commands included', async () => {
  const synopses = helpSynopses(await helpText());
  for (const name of ['submit', 'dlq retry', 'dlq list', 'approve', 'reject', 'reconcile', 'audit export', 'audit keygen', 'audit verify', 'audit prove', 'audit prune']) {
    assert.ok(
      synopses.some((s) => s === name || s.startsWith(`${name} `)),
      `--help does not list '${name}':\n${synopses.join('\n')}`,
    );
  }
  assert.ok(synopses.includes('approve <jobId> --operator ID --reason TEXT [--json]'), synopses.join('\n'));
  assert.ok(synopses.includes('reject <jobId> --operator ID --reason TEXT [--json]'), synopses.join('\n'));
  // One spelling of the archive directory.
  const archive = synopses.filter((s) => /DIR/.test(s) && !s.startsWith('audit keygen'));
  assert.ok(archive.length >= 5 && archive.every((s) => s.includes('--archive DIR')), archive.join('\n'));
  assert.ok(synopses.every((s) => !/--dir\b|--out\b/.test(s)), synopses.join('\n'));
});

test("the README's command block lists exactly the commands --help prints", async () => {
  const readme = readmeSynopses(readFileSync(join(ROOT, 'README.md'), 'utf8'));
  const help = helpSynopses(await helpText());
  assert.ok(help.length >= 20, `only ${help.length} commands parsed from --help`);
  assert.deepEqual(compare(readme, help), { onlyInHelp: [], onlyInReadme: [] });
  assert.equal(new Set(readme).size, readme.length, `the README lists a command twice:\n${readme.join('\n')}`);
  assert.equal(new Set(help).size, help.length, `--help lists a command twice:\n${help.join('\n')}`);
});

test('self-check: the comparison catches a command missing on either side', async () => {
  const text = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const help = await helpText();
  const withoutApprove = text.replace(/^npm run -s jobledger -- approve .*\n/m, '');
  assert.notEqual(withoutApprove, text);
  assert.deepEqual(compare(readmeSynopses(withoutApprove), helpSynopses(help)).onlyInHelp, ['approve <jobId> --operator ID --reason TEXT [--json]']);
  const withExtra = help.replace('\ncommands:\n', '\ncommands:\n  frobnicate <jobId>                 a command the README does not list\n');
  assert.deepEqual(compare(readmeSynopses(text), helpSynopses(withExtra)).onlyInHelp, ['frobnicate <jobId>']);
  assert.throws(() => readmeSynopses(text.replace(`${PREFIX}types [--json]`, 'jobledger types [--json]')), /not a jobledger command/);
});
