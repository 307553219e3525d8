/**
 * C5, hostile inputs. Deterministic hostile submissions (chaos/hostile-inputs.ts) go through three
 * channels: the SDK (JobClient.submit, every case), the CLI as child processes (a sample, big inputs
 * through `--input @FILE` and `--input -`, plus texts that are not JSON), and raw starts of `jobWorkflow`
 * that bypass the client (the Temporal SDK client, and a few through the `temporal` binary). The SDK and
 * the CLI must refuse every one before anything starts: a typed error (with its issues) or exit 2 with a
 * message, and then no workflow exists and the ledger holds nothing. Each raw start must close at once as
 * FAILED with a `Validation` failure, without a failed workflow task or a retried activity. No provider
 * sees a call, and Object.prototype stays clean.
 */
import { execFile, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure, TemporalFailure } from '@temporalio/common';
import { JOB_WORKFLOW_TYPE } from '../../../common/constants';
import { SA } from '../../../common/searchAttributes';
import { InvalidSubmitOptionsError, MissingSubmitterError } from '../../../client/jobs';
import { UnknownJobTypeError } from '../../../jobs/registry';
import { jobs as EXAMPLE_JOBS } from '../../../examples/jobs';
import { InvalidIdempotencyKeyError, JobValidationError } from '../../../jobs/submission';
import { ROOT, resolveTemporalCli } from '../devserver';
import type { ChaosEnv } from '../env';
import { BAD_JSON_TEXTS, HOSTILE_KINDS, hostileCases, rawStart, type HostileCase } from '../hostile-inputs';
import type { ChaosScenario, InvariantResult } from '../scenario';
import { paced, sleep } from '../workload';
import { jobOutcome } from '../../../client/outcome';

type C5Params = {
  /** Hostile cases generated; every one goes through the SDK. */
  inputs: number;
  /** CLI processes: a sample of the cases plus some texts that are not JSON. */
  cli: number;
  /** CLI processes at once. */
  cliParallel: number;
  /** Raw starts through the Temporal SDK client. */
  raw: number;
  /** Raw starts through the `temporal workflow start` binary. */
  rawCli: number;
  /** A raw start must be closed this long after it started. */
  rawCloseLimitMs: number;
  settleMs: number;
};

/** The error classes a refused submission may carry; the first two carry zod's issue list. */
const TYPED_ERRORS = [JobValidationError, InvalidSubmitOptionsError, InvalidIdempotencyKeyError, UnknownJobTypeError, MissingSubmitterError] as const;
/** Texts above this size go to the CLI through `--input @FILE` or `--input -` (argv cannot carry them). */
const INLINE_LIMIT = 60_000;

const tally = (values: string[]) => values.reduce<Record<string, number>>((acc, v) => ((acc[v] = (acc[v] ?? 0) + 1), acc), {});
const listCounts = (counts: Record<string, number>) => Object.entries(counts).map(([k, n]) => `${k} ${n}`).join(', ') || 'none';
const examples = (items: string[], n = 5) => `${items.slice(0, n).join('; ')}${items.length > n ? `; ... (${items.length} in all)` : ''}`;
const unpairedSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Runs `fn` over `items`, at most `limit` at once. */
async function eachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

/** Draws `count` items from `pool` with the seeded PRNG, every kind first, then at random. */
function sample(env: ChaosEnv, pool: HostileCase[], count: number, first: HostileCase[] = []): HostileCase[] {
  const chosen = new Set<HostileCase>(first.slice(0, count));
  for (const kind of HOSTILE_KINDS) {
    if (chosen.size >= count) break;
    const ofKind = pool.filter((c) => c.kind === kind && !chosen.has(c));
    if (ofKind.length > 0) chosen.add(ofKind[Math.floor(env.random() * ofKind.length)]!);
  }
  const rest = pool.filter((c) => !chosen.has(c));
  while (chosen.size < count && rest.length > 0) chosen.add(rest.splice(Math.floor(env.random() * rest.length), 1)[0]!);
  return [...chosen];
}

/** What the SDK answered one case. */
interface SdkOutcome {
  c: HostileCase;
  error?: string;
  problem?: string;
}

async function viaSdk(env: ChaosEnv, c: HostileCase): Promise<SdkOutcome> {
  try {
    const result = await env.main.jobs.submit(c.jobType as string, c.input(), c.options as never);
    return { c, problem: `accepted: ${result.jobId} (deduplicated ${result.deduplicated})` };
  } catch (err) {
    const name = err instanceof Error ? err.name : typeof err;
    if (!TYPED_ERRORS.some((type) => err instanceof type)) return { c, error: name, problem: `untyped ${name}: ${String((err as Error)?.message ?? err).slice(0, 200)}` };
    if (!(err as Error).message) return { c, error: name, problem: `${name} without a message` };
    if (err instanceof JobValidationError || err instanceof InvalidSubmitOptionsError) {
      const issues = err.issues as { message?: unknown }[];
      if (!Array.isArray(issues) || issues.length === 0 || issues.some((i) => typeof i.message !== 'string' || !i.message)) {
        return { c, error: name, problem: `${name} without a usable issue list` };
      }
    }
    return { c, error: name };
  }
}

/** One CLI submission: what was sent and how the process ended. */
interface CliRun {
  label: string;
  jobType: string;
  mode: 'inline' | '@file' | 'stdin';
  bytes: number;
  code: number | null;
  error?: string;
  message?: string;
  stdout: string;
  ms: number;
}

/** The CLI flag of a submit option (an unknown option becomes an unknown flag). */
const flagOf = (name: string) => `--${name === 'key' ? 'key' : name.replace(/[A-Z]/g, (ch) => `-${ch.toLowerCase()}`)}`;

async function viaCli(env: ChaosEnv, label: string, jobType: string, text: string, options: Record<string, unknown>, mode: CliRun['mode'], file: string): Promise<CliRun> {
  const args = ['--import', 'tsx', 'client/cli.ts', 'submit', jobType, '--input'];
  if (mode === 'inline') args.push(text);
  else if (mode === '@file') {
    writeFileSync(file, text);
    args.push(`@${file}`);
  } else args.push('-');
  for (const [name, value] of Object.entries(options)) args.push(flagOf(name), String(value));
  args.push('--json');
  const started = Date.now();
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: env.cliEnv('chaos-cli'),
    stdio: [mode === 'stdin' ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  if (mode === 'stdin') {
    child.stdin!.on('error', () => {}); // the CLI stops reading past its cap
    child.stdin!.end(text);
  }
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const code = await new Promise<number | null>((resolve) => child.once('close', (exitCode) => resolve(exitCode)));
  clearTimeout(timer);
  const last = stderr.trim().split('\n').at(-1) ?? '';
  let body: { error?: string; message?: string } = {};
  try {
    body = JSON.parse(last) as typeof body;
  } catch {
    body = { message: last };
  }
  return { label, jobType, mode, bytes: Buffer.byteLength(text), code, ...(body.error && { error: body.error }), ...(body.message && { message: body.message }), stdout: stdout.trim(), ms: Date.now() - started };
}

/** The ApplicationFailure at the end of a failure's cause chain (the workflow's, or the prepare activity's). */
function applicationFailureOf(err: unknown): ApplicationFailure | undefined {
  let at: unknown = err instanceof WorkflowFailedError ? err.cause : err;
  for (let depth = 0; depth < 5 && at; depth++) {
    if (at instanceof ApplicationFailure) return at;
    at = at instanceof TemporalFailure ? at.cause : undefined;
  }
  return undefined;
}

/** A raw start and what became of it. */
interface RawOutcome {
  workflowId: string;
  via: 'sdk' | 'temporal-cli';
  what: string;
  problem?: string;
  closeMs?: number;
  failureType?: string;
}

async function checkRaw(env: ChaosEnv, workflowId: string, via: RawOutcome['via'], what: string, closeLimitMs: number): Promise<RawOutcome> {
  const handle = env.main.client.workflow.getHandle(workflowId);
  const outcome: RawOutcome = { workflowId, via, what };
  // Bounded by an abort, so no long poll outlives the check (and the connection).
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), closeLimitMs + 30_000);
  const failed = await env.main.client.connection
    .withAbortSignal(abort.signal, () => jobOutcome(handle))
    .then(() => 'completed' as const, (err: unknown) => (abort.signal.aborted ? ('timeout' as const) : err));
  clearTimeout(timer);
  if (failed === 'completed' || failed === 'timeout') return { ...outcome, problem: failed === 'completed' ? 'the workflow completed' : 'not closed in time' };
  const failure = applicationFailureOf(failed);
  outcome.failureType = failure?.type ?? (failed instanceof Error ? failed.name : 'unknown');
  const problems: string[] = [];
  if (failure?.type !== 'Validation' || !failure.nonRetryable) problems.push(`failure ${outcome.failureType}${failure?.nonRetryable ? '' : ' (retryable)'}: ${(failure?.message ?? String(failed)).slice(0, 160)}`);
  const description = await handle.describe();
  outcome.closeMs = (description.closeTime?.getTime() ?? Infinity) - description.startTime.getTime();
  if (description.status.name !== 'FAILED') problems.push(`workflow ${description.status.name}`);
  if (!(outcome.closeMs <= closeLimitMs)) problems.push(`closed after ${outcome.closeMs} ms`);
  const jobStatus = description.typedSearchAttributes.get(SA.JobStatus);
  const errorClass = description.typedSearchAttributes.get(SA.ErrorClass);
  if (jobStatus !== 'Failed' || errorClass !== 'Validation') problems.push(`JobStatus ${jobStatus ?? '(unset)'}, ErrorClass ${errorClass ?? '(unset)'}`);
  const events = (await handle.fetchHistory()).events ?? [];
  const taskFailures = events.filter((e) => e.workflowTaskFailedEventAttributes).length;
  // Local activity markers only: a patch marker (the search-attribute batch's) records a code version, not work.
  const markers = events.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity').length;
  const activities = events.filter((e) => e.activityTaskScheduledEventAttributes).length;
  if (taskFailures > 0) problems.push(`${taskFailures} WorkflowTaskFailed events`);
  if (markers > 1 || activities > 0) problems.push(`${markers} local activity markers, ${activities} activities: the rejection was retried`);
  return problems.length ? { ...outcome, problem: problems.join(', ') } : outcome;
}

export const c5HostileInputs: ChaosScenario<C5Params> = {
  id: 'C5',
  title: 'hostile inputs through the CLI, the SDK and raw workflow starts: refused before start, or failed at once as Validation',
  // The structural checks (no WorkflowTaskFailed, one prepare attempt) prove "at once"; the time limit only
  // catches a retry with backoff, with room for 200 raw starts arriving together on a 2-core machine.
  full: { inputs: 1200, cli: 40, cliParallel: 2, raw: 200, rawCli: 5, rawCloseLimitMs: 10_000, settleMs: 60_000 },
  smoke: { inputs: 150, cli: 8, cliParallel: 2, raw: 20, rawCli: 2, rawCloseLimitMs: 10_000, settleMs: 60_000 },

  async run(env, p) {
    const seed = Math.floor(env.random() * 2 ** 31);
    const cases = hostileCases(seed, p.inputs);
    env.note(`${cases.length} hostile cases generated (generator seed ${seed})`);
    const [worker] = env.workers.start(1);
    await env.workers.waitReady([worker!]);
    env.note('1 worker ready');

    // 1. The SDK, every case.
    const sdkStart = Date.now();
    const sdk: SdkOutcome[] = [];
    await eachLimited(cases, 8, async (c) => {
      sdk.push(await viaSdk(env, c));
    });
    const sdkMs = Date.now() - sdkStart;
    env.note(`SDK: ${sdk.length} submissions answered in ${sdkMs} ms`);

    // 2. The CLI: the big ones through @FILE and stdin, every kind, some texts that are not JSON.
    const badJson = Math.min(BAD_JSON_TEXTS.length, Math.max(1, Math.round(p.cli / 8)));
    const cliPool = cases.filter((c) => c.cli && Object.values(c.options).every((v) => !unpairedSurrogate.test(String(v))));
    const big = cliPool.filter((c) => c.bytes > 1_048_576).slice(0, 2);
    const mid = cliPool.filter((c) => c.bytes > INLINE_LIMIT && c.bytes <= 1_048_576).slice(0, 1);
    const cliCases = sample(env, cliPool, p.cli - badJson, [...big, ...mid]);
    let streamed = 0;
    const cliJobs = [
      ...cliCases.map((c, i) => {
        const text = c.text()!;
        const mode: CliRun['mode'] = text.length > INLINE_LIMIT ? (streamed++ % 2 === 0 ? '@file' : 'stdin') : i % 4 === 3 ? (i % 8 === 3 ? '@file' : 'stdin') : 'inline';
        return () => viaCli(env, `${c.n} ${c.kind}: ${c.what}`, c.jobType as string, text, c.options, mode, join(env.dir, `c5-input-${c.n}.json`));
      }),
      ...BAD_JSON_TEXTS.slice(0, badJson).map(([what, text], i) => () =>
        viaCli(env, `bad JSON: ${what}`, 'order.fulfill', text, {}, i % 2 === 0 ? 'inline' : 'stdin', join(env.dir, `c5-text-${i}.json`))),
    ];
    const cli: CliRun[] = [];
    const cliStart = Date.now();
    await paced(cliJobs, 0, p.cliParallel, async (job) => {
      cli.push(await job());
    });
    const cliMs = Date.now() - cliStart;
    env.note(`CLI: ${cli.length} processes in ${cliMs} ms`);

    // 3. Nothing started: no workflow at all in the namespace, nothing in the ledger.
    await sleep(1_000);
    const workflowsBeforeRaw = (await env.main.client.workflow.count()).count;
    const startedIds: string[] = [];
    if (workflowsBeforeRaw > 0) for await (const w of env.main.client.workflow.list()) startedIds.push(`${w.workflowId} (${w.status.name})`);
    const ledgerJobs = (await env.main.ledger.listJobs()).length;
    const ledgerEvents = (await env.main.ledger.events()).length;

    // 4. Raw starts, bypassing the client: the Temporal SDK client, then the temporal binary.
    const used = new Set<string>();
    const distinct = (c: HostileCase) => {
      const { workflowId } = rawStart(c);
      if (used.has(workflowId)) return false;
      used.add(workflowId);
      return true;
    };
    const rawPool = cases.filter((c) => c.raw);
    const rawCases = sample(env, rawPool, p.raw).filter(distinct);
    const rawCliCases = sample(env, rawPool.filter((c) => !rawCases.includes(c) && c.bytes < 20_000 && Object.values(c.options).every((v) => typeof v !== 'string' || v.length < 20_000)), p.rawCli).filter(distinct);
    const raw: RawOutcome[] = [];
    const refusedAtStart: string[] = [];
    const rawStarted: { workflowId: string; via: RawOutcome['via']; what: string }[] = [];
    await eachLimited(rawCases, 4, async (c) => {
      const { workflowId, args } = rawStart(c);
      try {
        await env.main.client.workflow.start(JOB_WORKFLOW_TYPE, { workflowId, taskQueue: env.taskQueue, args: [args] });
        rawStarted.push({ workflowId, via: 'sdk', what: `${c.n} ${c.kind}: ${c.what}` });
      } catch (err) {
        refusedAtStart.push(`${workflowId}: ${(err as Error).message?.slice(0, 160)}`);
      }
    });
    const temporal = resolveTemporalCli();
    for (const c of rawCliCases) {
      const { workflowId, args } = rawStart(c, 'c5-rawcli');
      try {
        await promisify(execFile)(temporal, [
          'workflow', 'start', '--address', env.server.address, '--namespace', 'default',
          '--type', JOB_WORKFLOW_TYPE, '--task-queue', env.taskQueue, '--workflow-id', workflowId, '--input', JSON.stringify(args),
        ], { timeout: 30_000 });
        rawStarted.push({ workflowId, via: 'temporal-cli', what: `${c.n} ${c.kind}: ${c.what}` });
      } catch (err) {
        refusedAtStart.push(`${workflowId} (temporal binary): ${(err as Error).message?.slice(0, 160)}`);
      }
    }
    env.note(`raw: ${rawStarted.length} started (${rawCliCases.length} through the temporal binary), ${refusedAtStart.length} refused at start`);
    await eachLimited(rawStarted, 8, async (s) => {
      raw.push(await checkRaw(env, s.workflowId, s.via, s.what, p.rawCloseLimitMs));
    });
    env.note(`raw: ${raw.length} checked`);

    const accepted = [...rawStarted.map((s) => s.workflowId), ...sdk.filter((o) => o.problem?.startsWith('accepted')).map((o) => o.problem!.split(' ')[1]!)];
    const sdkBad = sdk.filter((o) => o.problem);
    // A shipped type refused as unknown means the CLI did not load the jobs module: the refusal proves nothing.
    const shippedTypes = EXAMPLE_JOBS.map((job) => job.type);
    const cliBad = cli.filter((r) => r.code !== 2 || !r.message || r.stdout !== '' || (r.error === 'UnknownJobTypeError' && shippedTypes.includes(r.jobType)));
    const rawBad = raw.filter((o) => o.problem);
    const maxClose = Math.max(0, ...raw.map((o) => o.closeMs ?? 0));
    const modes = tally(cli.map((r) => r.mode));

    const checks = async (): Promise<InvariantResult[]> => {
      const effects = [env.sandbox.payments, env.sandbox.inventory, env.sandbox.email].reduce((n, provider) => n + provider.listEffects().length, 0);
      const calls = [env.sandbox.payments, env.sandbox.inventory, env.sandbox.email].reduce((n, provider) => n + provider.listCalls().length, 0);
      const running = (await env.main.client.workflow.count('ExecutionStatus = "Running"')).count;
      const polluted = ['polluted', 'isAdmin'].filter((name) => name in {});
      return [
        {
          name: 'sdk-refuses-with-typed-errors',
          ok: sdkBad.length === 0 && sdk.length === cases.length,
          detail: sdkBad.length === 0
            ? `${sdk.length} submissions refused before start in ${sdkMs} ms: ${listCounts(tally(sdk.map((o) => o.error!)))}`
            : `${sdkBad.length} of ${sdk.length} not refused with a typed error: ${examples(sdkBad.map((o) => `#${o.c.n} ${o.c.kind} (${o.c.what}): ${o.problem}`))}`,
        },
        {
          name: 'cli-exits-2-with-a-message',
          ok: cliBad.length === 0 && cli.length === cliJobs.length,
          detail: cliBad.length === 0
            ? `${cli.length} CLI processes (${listCounts(modes)}; largest ${Math.max(...cli.map((r) => r.bytes))} bytes) exited 2 with a message in ${cliMs} ms: ${listCounts(tally(cli.map((r) => r.error ?? '(text)')))}`
            : `${cliBad.length} of ${cli.length} did not exit 2 with a message: ${examples(cliBad.map((r) => `${r.label} [${r.mode}, ${r.bytes} bytes]: exit ${r.code}, ${r.error ?? ''} ${(r.message ?? '').slice(0, 120)}${r.stdout ? `, stdout ${r.stdout.slice(0, 120)}` : ''}`))}`,
        },
        {
          name: 'nothing-started-by-refused-submissions',
          ok: workflowsBeforeRaw === 0 && ledgerJobs === 0 && ledgerEvents === 0,
          detail: `after the SDK and CLI submissions: ${workflowsBeforeRaw} workflows in the namespace${startedIds.length ? ` (${examples(startedIds)})` : ''}, ${ledgerJobs} ledger job records, ${ledgerEvents} ledger events`,
        },
        {
          name: 'raw-starts-fail-at-once-as-validation',
          ok: rawBad.length === 0 && refusedAtStart.length === 0 && raw.length === rawCases.length + rawCliCases.length && raw.length > 0,
          detail: rawBad.length === 0 && refusedAtStart.length === 0
            ? `${raw.length} raw starts (${raw.filter((o) => o.via === 'temporal-cli').length} through the temporal binary) FAILED with a non-retryable Validation failure, JobStatus Failed, no WorkflowTaskFailed, at most one local activity attempt; closed within ${maxClose} ms (limit ${p.rawCloseLimitMs})`
            : `${rawBad.length} of ${raw.length} wrong${refusedAtStart.length ? `, ${refusedAtStart.length} refused at start (${examples(refusedAtStart, 3)})` : ''}: ${examples(rawBad.map((o) => `${o.workflowId} [${o.via}] ${o.what}: ${o.problem}`))}`,
        },
        {
          name: 'no-effects-no-retries',
          ok: effects === 0 && calls === 0 && running === 0,
          detail: `${effects} provider effects, ${calls} provider calls, ${running} workflows still running`,
        },
        {
          name: 'prototype-intact',
          ok: polluted.length === 0,
          detail: polluted.length === 0 ? 'Object.prototype has no polluted/isAdmin property after every case' : `Object.prototype polluted: ${polluted.join(', ')}`,
        },
      ];
    };

    return {
      workload: `${cases.length} hostile cases (${HOSTILE_KINDS.length} kinds, seed ${seed}) through the SDK; ${cli.length} through the CLI (${listCounts(modes)}); ${raw.length} raw starts (${rawCliCases.length} through the temporal binary)`,
      faults: 'hostile inputs: over 2 MB, wrong types, odd unicode, __proto__/constructor keys, control characters, deep nesting, huge and NaN-like numbers, unknown fields and options, bad keys, bad and oversized submitter ids, unknown job types',
      accepted,
      observed: {
        cases: cases.length,
        sdkRefused: sdk.length - sdkBad.length,
        sdkMs,
        cliRuns: cli.length,
        cliExit2: cli.filter((r) => r.code === 2).length,
        cliMeanMs: Math.round(cli.reduce((a, r) => a + r.ms, 0) / Math.max(1, cli.length)),
        rawStarts: raw.length,
        rawValidation: raw.filter((o) => o.failureType === 'Validation').length,
        rawMaxCloseMs: maxClose,
        sdkErrors: tally(sdk.map((o) => o.error ?? 'accepted')),
      },
      checks,
    };
  },
};
