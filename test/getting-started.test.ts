/**
 * docs/GETTING-STARTED.md cannot rot. Its code blocks that start with `// file: app/<name>` are written into a
 * fresh folder of the checkout (`.guide-*`, in place of `app/`), then:
 * - they type-check with the project's settings, and test/fixtures/guide/ holds the same job;
 * - its `npx jobledger lint` passes over them;
 * - its commands, run as written (`app/` read as that folder), take the job end to end on a real dev server
 *   with a worker started by `npm run worker`: submit from the CLI and again (deduplicated), from code
 *   (`app/submit.ts`), list, the dead letter (dlq list, diagnose, abandon), and `status` after each;
 * - its time-skipping test passes, run on its own with the guide's one command.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { after, before, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { SA } from '../common/searchAttributes';
import { jobOutcome } from '../client/outcome';
import { startMailStub, type MailStub } from './fixtures/guide/mail-stub';
import { startWorkerProcess, stopStarted, workerStarted } from './helpers/process';
import { run, type RunResult } from './helpers/run';
import { freePort, ROOT, startDevServer, tempDir, unique } from './helpers/servers';

const GUIDE_TEXT = readFileSync(join(ROOT, 'docs/GETTING-STARTED.md'), 'utf8');
const FIXTURE_DIR = join(ROOT, 'test/fixtures/guide');

/** The guide's files by name (the block without its `// file:` line), and its shell commands in order. */
function readGuide(text: string): { files: Map<string, string>; commands: string[] } {
  const files = new Map<string, string>();
  const commands: string[] = [];
  for (const [, lang, body] of text.matchAll(/^```(\w+)\n([\s\S]*?)^```$/gm)) {
    if (lang === 'ts') {
      const [first, ...rest] = (body ?? '').split('\n');
      const name = /^\/\/ file: app\/(\S+)$/.exec(first ?? '')?.[1];
      if (name) files.set(name, rest.join('\n'));
    } else if (lang === 'bash') {
      // One command a line; a trailing `# ...` is a comment.
      for (const raw of (body ?? '').split('\n')) {
        const command = raw.replace(/\s+#\s.*$/, '').trim();
        if (command) commands.push(command);
      }
    }
  }
  return { files, commands };
}

const guide = readGuide(GUIDE_TEXT);
/** The README's example job (its block marked `// file: app/invoice.ts`), the same way. */
const readme = readGuide(readFileSync(join(ROOT, 'README.md'), 'utf8'));
/** The folder that stands for the guide's `app/`: beside jobledger's folders, as `app/` would be. */
const dir = mkdtempSync(join(ROOT, '.guide-'));
const app = basename(dir);
/** Every command of the guide, with whether this test ran it (or did its work itself, as for long-running ones). */
const ran = new Map(guide.commands.map((command) => [command, false]));

/** The guide's command matching `pattern` (exactly one), marked as run. */
function command(pattern: RegExp): string {
  const found = guide.commands.filter((c) => pattern.test(c));
  assert.equal(found.length, 1, `one command of the guide matches ${pattern}: ${JSON.stringify(found)}`);
  ran.set(found[0]!, true);
  return found[0]!;
}

/** Runs one of the guide's commands as written, from the top of the checkout, with `app/` read as the test's folder. */
function sh(text: string, env: NodeJS.ProcessEnv): Promise<RunResult> {
  return run('bash', ['-c', text.replaceAll('app/', `${app}/`)], env, 180_000);
}

let devEnv: TestWorkflowEnvironment | undefined;
let mail: MailStub | undefined;
/** The environment of every command: the guide's `export` line, then what this test started. */
let env: NodeJS.ProcessEnv;

before(async () => {
  for (const [name, text] of guide.files) writeFileSync(join(dir, name), text);
  // The README's job beside them, under other names (the two define the same job type), with a jobs module.
  writeFileSync(join(dir, 'readme-invoice.ts'), readme.files.get('invoice.ts') ?? '');
  writeFileSync(join(dir, 'readme-jobs.ts'), "import { invoiceJob } from './readme-invoice';\n\nexport const jobs = [invoiceJob];\n");
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ extends: '../tsconfig.json', files: [...guide.files.keys(), 'readme-invoice.ts', 'readme-jobs.ts'] }));
  devEnv = await startDevServer();
  mail = await startMailStub();
  const exported = Object.fromEntries(
    command(/^export JOBLEDGER_JOBS_MODULE=/)
      .replace(/^export /, '')
      .split(/\s+/)
      .map((pair) => pair.split('=', 2).map((part) => part.replaceAll('app/', `${app}/`))),
  );
  env = {
    ...exported,
    JOBLEDGER_SERVICE_MAIL_URL: mail.url,
    TEMPORAL_ADDRESS: devEnv.address,
    TEMPORAL_UI_URL: 'http://127.0.0.1:8233',
    JOBLEDGER_TASK_QUEUE: unique('guide'),
    JOBLEDGER_LEDGER_PATH: join(tempDir(), 'ledger.db'),
    JOBLEDGER_BREAKER_PATH: join(tempDir(), 'breakers.db'),
    JOBLEDGER_METRICS_PORT: '0',
    LOG_LEVEL: 'warn',
  };
});

after(async () => {
  await stopStarted();
  await mail?.close();
  await devEnv?.teardown();
  rmSync(dir, { recursive: true, force: true });
});

test("the guide names its files, and every one type-checks with the project settings (the README's example too)", async () => {
  assert.deepEqual([...readme.files.keys()], ['invoice.ts'], "the README's example is marked as a file");
  assert.deepEqual([...guide.files.keys()].sort(), ['index.ts', 'invoice.test.ts', 'invoice.ts', 'mail-stub.ts', 'submit.ts', 'workflows.ts']);
  const r = await run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '--noEmit', '-p', join(dir, 'tsconfig.json')], {}, 180_000);
  assert.equal(r.code, 0, r.stdout + r.stderr);
});

test("test/fixtures/guide/ holds the guide's job, imports aside", () => {
  const fixtures = readdirSync(FIXTURE_DIR).sort();
  assert.deepEqual(fixtures, ['index.ts', 'invoice.ts', 'mail-stub.ts', 'workflows.ts']);
  for (const name of fixtures) {
    const [header, ...rest] = readFileSync(join(FIXTURE_DIR, name), 'utf8').split('\n');
    assert.match(header!, new RegExp(`^// The job of docs/GETTING-STARTED.md: its app/${name.replace('.', '\\.')}`));
    assert.equal(rest.join('\n'), guide.files.get(name)!.replaceAll("from '../", "from '../../../"), name);
  }
});

test("the guide's `npx jobledger lint` passes over its job", async () => {
  const r = await sh(command(/^npx jobledger lint$/), env);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(r.stdout, '1 job definition, all admissible\n');
});

test("the README's example passes `jobledger lint`", async () => {
  const r = await sh('npx jobledger lint', { ...env, JOBLEDGER_JOBS_MODULE: `${app}/readme-jobs.ts` });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(r.stdout, '1 job definition, all admissible\n');
});

/** The job's `JobStatus` search attribute once it is `status` (60 s at most). */
async function waitForStatus(jobId: string, status: string): Promise<void> {
  const handle = devEnv!.client.workflow.getHandle(jobId);
  let last: string | undefined;
  for (let i = 0; i < 300; i++) {
    last = (await handle.describe()).typedSearchAttributes.get(SA.JobStatus);
    if (last === status) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.fail(`${jobId} is ${last}, not ${status}`);
}

test("the guide's commands run its job end to end: CLI and SDK submissions, the Web UI link, the dead letter", async () => {
  // Done already, or stood for: the packages are installed, and startDevServer() stands for
  // `./temporal-dev.sh up` (test/temporal-dev.test.ts tests that script).
  command(/^npm install/);
  command(/^\.\/temporal-dev\.sh up$/);
  const help = await sh(command(/^npx jobledger --help$/), env);
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /^usage: jobledger <command>/);

  // The guide's stub command prints where it listens (on a port of the test's choosing here); the test's
  // own copy of the stub (the fixture) then serves the job, so that the test can see what was sent.
  const stubPort = await freePort();
  const stub = spawn('bash', ['-c', command(/^npx tsx app\/mail-stub\.ts$/).replaceAll('app/', `${app}/`)], {
    cwd: ROOT,
    env: { ...process.env, MAIL_STUB_PORT: String(stubPort) },
    stdio: ['ignore', 'pipe', 'inherit'],
    detached: true, // its own process group: npx, tsx and node stop together
  });
  try {
    const [printed] = (await once(createInterface({ input: stub.stdout }), 'line')) as [string];
    assert.equal(printed, `mail stub listening: export JOBLEDGER_SERVICE_MAIL_URL=http://127.0.0.1:${stubPort}`);
  } finally {
    process.kill(-stub.pid!, 'SIGTERM');
  }

  // `npm run worker`, as the guide says, with the guide's exports.
  command(/^npm run worker$/);
  await workerStarted(startWorkerProcess(true, { ...env, LOG_LEVEL: 'info' }));

  const first = await sh(command(/^npx jobledger submit invoice\.send .*inv-1001/), env);
  assert.equal(first.code, 0, first.stderr);
  assert.equal(first.stdout, 'submitted invoice.send:inv-1001\n  http://127.0.0.1:8233/namespaces/default/workflows/invoice.send%3Ainv-1001\n');
  const outcome = await jobOutcome<{ messageId: string }>(devEnv!.client.workflow.getHandle('invoice.send:inv-1001'));
  assert.equal(outcome.status, 'Completed', JSON.stringify(outcome));
  assert.deepEqual(outcome.result, { messageId: 'msg-1' });
  const status = await sh(command(/^npx jobledger status invoice\.send:inv-1001$/), env);
  assert.equal(status.stdout, 'invoice.send:inv-1001\tinvoice.send\tCompleted\trecord-delivery\n', status.stderr);
  // "Submit the same input again": the existing job, and no second email.
  const again = await sh(guide.commands.find((c) => c.includes('inv-1001') && c.includes('submit'))!, env);
  assert.equal(again.stdout.split('\n')[0], 'existing job invoice.send:inv-1001', again.stderr);
  assert.deepEqual([...mail!.sent.keys()], ['invoice.send:inv-1001/send-email'], 'one email, sent with the step key');

  const sdk = await sh(command(/^npx tsx app\/submit\.ts$/), env);
  assert.equal(sdk.code, 0, sdk.stderr);
  assert.equal(sdk.stdout, 'submitted invoice.send:inv-1002\ninvoice.send:inv-1002 Completed msg-2\n');

  const list = await sh(command(/^npx jobledger list --type invoice\.send$/), env);
  assert.equal(list.code, 0, list.stderr);
  for (const id of ['inv-1001', 'inv-1002']) assert.match(list.stdout, new RegExp(`/workflows/invoice\\.send%3A${id}`), list.stdout);

  const refused = await sh(command(/^npx jobledger submit invoice\.send .*inv-1003/), env);
  assert.equal(refused.code, 0, refused.stderr);
  await waitForStatus('invoice.send:inv-1003', 'DeadLettered');
  const parked = await sh(command(/^npx jobledger dlq list$/), env);
  assert.match(parked.stdout, /^invoice\.send:inv-1003\tinvoice\.send\tsend-email\tBusinessRule$/m, parked.stdout + parked.stderr);
  const diagnosis = await sh(command(/^npx jobledger diagnose invoice\.send:inv-1003$/), env);
  assert.equal(diagnosis.code, 0, diagnosis.stderr);
  assert.match(diagnosis.stdout, /class: +BusinessRule/);
  assert.match(diagnosis.stdout, /"email":"\*\*\*"/, 'the guide says the email is masked');
  assert.doesNotMatch(diagnosis.stdout, /ada@example\.invalid/);
  const abandon = await sh(command(/^npx jobledger dlq abandon invoice\.send:inv-1003 /), env);
  assert.equal(abandon.code, 0, abandon.stderr);
  assert.match(abandon.stdout, /^invoice\.send:inv-1003: abandon accepted \(operator you@example\.com: /);
  await waitForStatus('invoice.send:inv-1003', 'Abandoned');
  const ended = await sh(command(/^npx jobledger status invoice\.send:inv-1003$/), env);
  assert.match(ended.stdout, /^invoice\.send:inv-1003\tinvoice\.send\tAbandoned(\t[a-z-]+)?\n$/, ended.stderr);
});

test("the guide's time-skipping test passes, run on its own with the guide's one command", async () => {
  // Not as a subtest of this run: the nested runner reports to its own stdout, as in a terminal.
  const r = await sh(command(/^node --import tsx --test app\/invoice\.test\.ts$/), { NODE_TEST_CONTEXT: undefined });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^# pass 1$/m, r.stdout);
  assert.match(r.stdout, /^# fail 0$/m);
});

test('every command of the guide is run by this test, but for npm install and temporal-dev.sh up (done or stood for)', () => {
  assert.deepEqual([...ran].filter(([, done]) => !done).map(([c]) => c), []);
});
