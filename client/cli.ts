/**
 * `jobledger`: the operator and engineer CLI (`npm run -s jobledger -- <command>`). `COMMANDS` is its one
 * command table, the audit commands included: `--help`, usage errors and dispatch come from it, and the
 * README lists the same commands (test/cli-help.test.ts checks that).
 *
 * Exit codes: 0 success; 1 unexpected failure; 2 bad usage or invalid input (nothing was started);
 * 3 idempotency conflict; 4 job not found. Results go to stdout (JSON with `--json`); logs and errors go
 * to stderr.
 */
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { ScheduleNotFoundError, WorkflowNotFoundError } from '@temporalio/client';
import type { z } from 'zod';
import { loadJobApp } from '../jobs/app';
import { checkDefinitions, formatViolations } from '../jobs/admission';
import { JobRegistry, UnknownJobTypeError } from '../jobs/registry';
import { InvalidIdempotencyKeyError, JobValidationError } from '../jobs/submission';
import { JobNotInArchiveError } from '../audit/archive';
import { AUDIT_COMMANDS } from '../audit/cli';
import { auditExportCommand } from './audit-export';
import { SCHEDULE_COMMANDS } from './schedule-cli';
import { InvalidScheduleRequestError } from './schedules';
import { InvalidScheduleError } from '../jobs/schedule';
import { withJobClient } from './connect';
import { doctorCommand } from './doctor';
import { dashboardCommand } from './dashboard/command';
import { reportCommand } from './report';
import { JobBlockedError } from './blocked';
import { formatBlockedDiagnosis, formatFailure, formatStatus } from './diagnosis';
import { formatJobs, listJobs } from './list';
import { formatReport, reconcile } from './reconcile';
import { recordReconcileVerdict, verdictOf } from './health';
import { APPROVAL_DECISIONS, DEAD_LETTER_ACTIONS, type FailureContext, type OperatorActionKind } from '../common/types';
import { MAX_INPUT_BYTES } from '../common/constants';
import {
  checkSubmission,
  IdempotencyConflictError,
  InvalidSubmitOptionsError,
  MissingSubmitterError,
  OperatorActionInput,
  OperatorActionRejectedError,
  OperatorIdentity,
} from './jobs';
import { loadConfig, servicesFrom } from '../core/config';
import { ConfigError } from '../core/cluster';
import { ExitCode, UsageError, commandUsage, findCommand, isBadArguments, parseCommand, print, requireOptions, type Command, type Output } from '../core/commands';

/**
 * The most text `--input @FILE` or `--input -` reads: room for indentation around the limit that counts,
 * `MAX_INPUT_BYTES` of canonical JSON (checked on submit).
 */
const MAX_INPUT_TEXT_BYTES = 4 * MAX_INPUT_BYTES;

/** Reads `stream` to the end as UTF-8, refusing more than `MAX_INPUT_TEXT_BYTES`. */
async function readCapped(stream: Readable, source: string): Promise<string> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  try {
    for await (const chunk of stream) {
      bytes += (chunk as Buffer).length;
      if (bytes > MAX_INPUT_TEXT_BYTES) {
        stream.destroy();
        throw new UsageError(`--input ${source} is larger than ${MAX_INPUT_TEXT_BYTES} bytes; a submission is at most ${MAX_INPUT_BYTES} bytes of canonical JSON`);
      }
      chunks.push(chunk as Buffer);
    }
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`cannot read --input ${source}: ${(err as Error).message}`);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The submit input: inline JSON, `@FILE` (a file's content) or `-` (stdin). */
async function readInput(value: string | undefined, stdin: Readable): Promise<unknown> {
  if (value === undefined) throw new UsageError('--input is required');
  let source = 'value';
  let text = value;
  if (value === '-') {
    source = '- (stdin)';
    text = await readCapped(stdin, source);
  } else if (value.startsWith('@')) {
    const path = value.slice(1);
    if (!path) throw new UsageError('--input @FILE needs a file name');
    source = `@${path}`;
    text = await readCapped(createReadStream(path), source);
  }
  try {
    return JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (err) {
    throw new UsageError(`--input ${source} is not valid JSON: ${(err as Error).message}`);
  }
}

/** The application's job definitions (the module `JOBLEDGER_JOBS_MODULE` names). */
async function applicationJobs() {
  return (await loadJobApp(loadConfig().JOBLEDGER_JOBS_MODULE)).jobs;
}

async function submit(argv: string[], output: Output): Promise<number> {
  const { values, args: [jobType] } = parseCommand(
    argv,
    { input: { type: 'string' }, key: { type: 'string' }, 'submitted-by': { type: 'string' }, 'correlation-id': { type: 'string' } },
    ['<type>'],
  );
  const jobs = await applicationJobs();
  const input = await readInput(values.input, process.stdin);
  const submitOptions = {
    ...(values.key !== undefined && { key: values.key }),
    ...(values['submitted-by'] !== undefined && { submittedBy: values['submitted-by'] }),
    ...(values['correlation-id'] !== undefined && { correlationId: values['correlation-id'] }),
  };
  // Bad input is reported (exit 2) before connecting, whether or not Temporal is reachable.
  checkSubmission(new JobRegistry(jobs), jobType, input, submitOptions, loadConfig().JOBLEDGER_SUBMITTED_BY);
  return withJobClient(async (connected, config) => {
    const result = await connected.jobs.submit(jobType, input, submitOptions);
    const link = `${config.TEMPORAL_UI_URL}/namespaces/${config.TEMPORAL_NAMESPACE}/workflows/${encodeURIComponent(result.jobId)}`;
    print(output, result, `${result.deduplicated ? 'existing job' : 'submitted'} ${result.jobId}\n  ${link}`);
    return ExitCode.ok;
  });
}

const OPERATOR_OPTIONS = { operator: { type: 'string' }, reason: { type: 'string' } } as const;
const OPERATOR_FLAGS = ['operator', 'reason'];
const OPERATOR_ARGS = '<jobId> --operator ID --reason TEXT [--json]';

/** Checks an operator's identity and reason (both given) before anything connects: a refusal exits 2 with zod's issues. */
function operatorInput<S extends z.ZodType>(jobId: string, schema: S, value: unknown): z.output<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new OperatorActionRejectedError(jobId, parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '), parsed.error.issues);
  }
  return parsed.data;
}

/** `dlq <action>`, `approve` and `reject`: the operator Update, recorded with the operator's identity and reason. */
function operatorCommand(name: string, action: OperatorActionKind, summary: string): Command {
  return {
    name,
    args: OPERATOR_ARGS,
    summary,
    async run(argv, output) {
      const { values, args: [jobId] } = parseCommand(argv, OPERATOR_OPTIONS, ['<jobId>']);
      requireOptions(values, OPERATOR_FLAGS);
      const input = operatorInput(jobId, OperatorActionInput, { action, operator: values.operator, reason: values.reason });
      return withJobClient(async (connected) => {
        const accepted = await connected.jobs.act(jobId, input);
        print(
          output,
          { jobId, ...accepted, operator: input.operator, reason: input.reason },
          `${jobId}: ${accepted.action} accepted (operator ${input.operator}: ${input.reason})`,
        );
        return ExitCode.ok;
      });
    },
  };
}

/** `cancel` and `terminate`: identity and reason go to the ledger trail. */
function stopCommand(how: 'cancel' | 'terminate', summary: string): Command {
  return {
    name: how,
    args: OPERATOR_ARGS,
    summary,
    async run(argv, output) {
      const { values, args: [jobId] } = parseCommand(argv, OPERATOR_OPTIONS, ['<jobId>']);
      requireOptions(values, OPERATOR_FLAGS);
      const identity = operatorInput(jobId, OperatorIdentity, { operator: values.operator, reason: values.reason });
      return withJobClient(async (connected) => {
        await connected.jobs.stop(jobId, how, identity);
        print(output, { jobId, action: how, accepted: true }, `${jobId}: ${how} sent`);
        return ExitCode.ok;
      });
    },
  };
}

const DEAD_LETTER_SUMMARIES: Record<(typeof DEAD_LETTER_ACTIONS)[number], string> = {
  retry: 'run a dead-lettered job\'s failed step again (its attempts start over)',
  skip: "go on past a dead-lettered job's failed step (its effect was done by hand)",
  compensate: "undo a dead-lettered job's completed steps, newest first",
  abandon: 'end a dead-lettered job as it is',
};

const APPROVAL_SUMMARIES: Record<(typeof APPROVAL_DECISIONS)[number], string> = {
  approve: 'approve a job waiting in job.approval: it goes on',
  reject: 'reject a job waiting in job.approval: it compensates its completed steps',
};

/** The whole CLI, one entry per command. The README's command list matches it (test/cli-help.test.ts). */
const COMMANDS: readonly Command[] = [
  {
    name: 'types',
    args: '[--json]',
    summary: 'list the registered job types and versions',
    async run(argv, output) {
      parseCommand(argv, {}, []);
      const types = (await applicationJobs()).map((d) => ({ type: d.type, version: d.version }));
      print(output, types, types.map((t) => `${t.type}\tv${t.version}`).join('\n'));
      return ExitCode.ok;
    },
  },
  {
    name: 'lint',
    args: '[--json]',
    summary: 'check every job definition against policy (exit 1 on violations)',
    async run(argv, output) {
      parseCommand(argv, {}, []);
      const jobs = await applicationJobs();
      const violations = checkDefinitions(jobs);
      const ok = `${jobs.length} job definition${jobs.length === 1 ? '' : 's'}, all admissible`;
      print(output, { ok: violations.length === 0, violations }, violations.length === 0 ? ok : formatViolations(violations));
      return violations.length === 0 ? ExitCode.ok : ExitCode.failure;
    },
  },
  {
    name: 'submit',
    args: '<type> --input JSON|@FILE|- [--key K] [--submitted-by ID] [--correlation-id C] [--json]',
    summary: `submit a job, deduplicated by its key; the input is inline JSON, @FILE or - (stdin), at most ${MAX_INPUT_BYTES} bytes of canonical JSON`,
    run: submit,
  },
  {
    name: 'status',
    args: '<jobId> [--json]',
    summary: "show a job's status",
    async run(argv, output) {
      const { args: [jobId] } = parseCommand(argv, {}, ['<jobId>']);
      return withJobClient(async (connected) => {
        const status = await connected.jobs.status(jobId);
        print(output, status, formatStatus(status));
        return ExitCode.ok;
      });
    },
  },
  {
    name: 'list',
    args: '[--type T] [--status S] [--query Q] [--limit N] [--json]',
    summary: 'find jobs by search attributes, with Web UI links',
    run: list,
  },
  {
    name: 'diagnose',
    args: '<jobId> [--json]',
    summary: 'the failure context: step, class, root cause, masked input, dead-letter episodes, events, hint, runbook; or why a job is blocked',
    async run(argv, output) {
      const { args: [jobId] } = parseCommand(argv, {}, ['<jobId>']);
      return withJobClient(async (connected) => {
        try {
          const context = await connected.jobs.diagnose(jobId);
          print(output, { jobId, failure: context }, context ? formatFailure(jobId, context) : `${jobId}: no failure recorded`);
        } catch (err) {
          if (!(err instanceof JobBlockedError)) throw err;
          print(output, { jobId, failure: null, blocked: err.block }, formatBlockedDiagnosis(jobId, err.block));
        }
        return ExitCode.ok;
      });
    },
  },
  {
    name: 'dlq list',
    args: '[--type T] [--json]',
    summary: 'the jobs parked in the dead letter',
    async run(argv, output) {
      const { values } = parseCommand(argv, { type: { type: 'string' } }, []);
      return withJobClient(async (connected) => {
        const parked = await connected.jobs.deadLettered(values.type);
        print(output, parked, parked.map((j) => `${j.jobId}\t${j.jobType}\t${j.step ?? ''}\t${j.errorClass ?? ''}`).join('\n') || '(none)');
        return ExitCode.ok;
      });
    },
  },
  ...DEAD_LETTER_ACTIONS.map((action) => operatorCommand(`dlq ${action}`, action, DEAD_LETTER_SUMMARIES[action])),
  ...APPROVAL_DECISIONS.map((decision) => operatorCommand(decision, decision, APPROVAL_SUMMARIES[decision])),
  stopCommand('cancel', 'cancel a job: it records its end as Abandoned'),
  stopCommand('terminate', 'terminate a job at once, with the reason in its history'),
  {
    name: 'reconcile',
    args: '[--since T] [--archive DIR] [--json]',
    summary: 'compare Temporal, the ledger, provider effects and the archive (exit 1 on discrepancies)',
    run: (argv, output) => reconcileCommand(reconcileOptions(argv), output),
  },
  ...SCHEDULE_COMMANDS,
  doctorCommand,
  dashboardCommand,
  reportCommand,
  auditExportCommand,
  ...AUDIT_COMMANDS,
];

async function run(argv: string[], output: Output): Promise<number> {
  const request = findCommand(COMMANDS, argv);
  if ('help' in request) {
    output.out(request.help);
    return ExitCode.ok;
  }
  try {
    return await request.command.run(request.argv, output);
  } catch (err) {
    // Bad usage of a known command: show that command's usage with the message.
    if ((err instanceof UsageError && err.usage === undefined) || isBadArguments(err)) throw new UsageError(err.message, commandUsage(request.command));
    throw err;
  }
}

async function list(argv: string[], output: Output): Promise<number> {
  const { values } = parseCommand(argv, { type: { type: 'string' }, status: { type: 'string' }, query: { type: 'string' }, limit: { type: 'string' } }, []);
  const limit = values.limit === undefined ? undefined : Number(values.limit);
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) throw new UsageError('--limit must be a positive integer');
  return withJobClient(async (connected, config) => {
    const jobs = await listJobs(connected.client, {
      ...(values.type !== undefined && { type: values.type }),
      ...(values.status !== undefined && { status: values.status }),
      ...(values.query !== undefined && { query: values.query }),
      ...(limit !== undefined && { limit }),
      uiUrl: config.TEMPORAL_UI_URL,
      namespace: config.TEMPORAL_NAMESPACE,
    });
    print(output, jobs, formatJobs(jobs));
    return ExitCode.ok;
  });
}

function reconcileOptions(argv: string[]) {
  return parseCommand(argv, { since: { type: 'string' }, archive: { type: 'string' } }, []).values;
}

async function reconcileCommand(values: ReturnType<typeof reconcileOptions>, output: Output): Promise<number> {
  const since = values.since === undefined ? undefined : new Date(values.since);
  if (since && Number.isNaN(since.getTime())) throw new UsageError(`--since is not a date: ${values.since}`);
  return withJobClient(async (connected, config) => {
    // The jobs module says where its jobs' effects are counted, from the services configured (JOBLEDGER_SERVICE_<NAME>_URL).
    const app = await loadJobApp(config.JOBLEDGER_JOBS_MODULE);
    const effects = app.effects?.(servicesFrom(process.env));
    const report = await reconcile({
      client: connected.client,
      ledger: connected.ledger,
      namespace: config.TEMPORAL_NAMESPACE,
      ...(effects && { effects }),
      ...(values.archive !== undefined && { archiveDir: values.archive }),
      ...(since && { since }),
      settleMs: 5_000,
    });
    // The verdict goes to the ledger, where a dashboard on any host reads the last one (client/health.ts).
    await recordReconcileVerdict(connected.ledger, verdictOf(report, { ...(config.JOBLEDGER_SUBMITTED_BY !== undefined && { checkedBy: config.JOBLEDGER_SUBMITTED_BY }) }));
    print(output, report, formatReport(report));
    return report.ok ? ExitCode.ok : ExitCode.failure;
  });
}

/** Maps an error to its exit code and a one-object description (zod issues included). */
export function describeError(err: unknown): { code: number; body: Record<string, unknown> } {
  const badArguments = isBadArguments(err);
  const base = { error: badArguments ? 'UsageError' : err instanceof Error ? err.name : 'Error', message: err instanceof Error ? err.message : String(err) };
  if (err instanceof JobValidationError) return { code: ExitCode.invalid, body: { ...base, issues: err.issues } };
  if (err instanceof OperatorActionRejectedError || err instanceof InvalidSubmitOptionsError) return { code: ExitCode.invalid, body: { ...base, issues: err.issues } };
  if (
    err instanceof UsageError ||
    err instanceof InvalidIdempotencyKeyError ||
    err instanceof InvalidScheduleRequestError ||
    err instanceof InvalidScheduleError ||
    err instanceof UnknownJobTypeError ||
    err instanceof MissingSubmitterError ||
    err instanceof ConfigError ||
    badArguments
  ) {
    return { code: ExitCode.invalid, body: base };
  }
  if (err instanceof IdempotencyConflictError) {
    return {
      code: ExitCode.conflict,
      body: { ...base, jobId: err.jobId, existingInputHash: err.existingInputHash, submittedInputHash: err.submittedInputHash },
    };
  }
  if (err instanceof WorkflowNotFoundError || err instanceof JobNotInArchiveError || err instanceof ScheduleNotFoundError) return { code: ExitCode.notFound, body: base };
  return { code: ExitCode.failure, body: base };
}

/** Where `main` writes: stdout for results, stderr for errors (and the usage that goes with them). */
export interface Streams {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

const PROCESS_STREAMS: Streams = { stdout: (text) => process.stdout.write(text), stderr: (text) => process.stderr.write(text) };

/** Runs `jobledger <argv...>` and resolves to the exit code. */
export async function main(argv: string[], streams: Streams = PROCESS_STREAMS): Promise<number> {
  const output: Output = { json: argv.includes('--json'), out: (text) => streams.stdout(`${text}\n`) };
  try {
    return await run(argv, output);
  } catch (err) {
    const { code, body } = describeError(err);
    const usage = err instanceof UsageError && err.usage !== undefined ? err.usage : '';
    streams.stderr(output.json ? `${JSON.stringify(body)}\n` : `error: ${body.message}\n${'issues' in body ? `${JSON.stringify(body.issues, null, 2)}\n` : ''}${usage}`);
    return code;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
