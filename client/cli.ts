/**
 * `jobledger`: the operator and engineer CLI (`npm run -s jobledger -- <command>`).
 *
 * Exit codes: 0 success; 1 unexpected failure; 2 bad usage or invalid input (nothing was started);
 * 3 idempotency conflict; 4 job not found. Results go to stdout (JSON with `--json`); logs and errors go
 * to stderr.
 */
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { WorkflowNotFoundError } from '@temporalio/client';
import { loadJobApp } from '../jobs/app';
import { checkDefinitions, formatViolations } from '../jobs/admission';
import { JobRegistry, UnknownJobTypeError } from '../jobs/registry';
import { InvalidIdempotencyKeyError, JobValidationError } from '../jobs/submission';
import { auditCommand } from '../audit/cli';
import './audit-export';
import { withJobClient } from './connect';
import { formatJobs, listJobs } from './list';
import { formatReport, reconcile } from './reconcile';
import { DEAD_LETTER_ACTIONS, type FailureContext, type OperatorActionKind } from '../common/types';
import { MAX_INPUT_BYTES } from '../common/constants';
import { checkSubmission, IdempotencyConflictError, InvalidSubmitOptionsError, MissingSubmitterError, OperatorActionRejectedError } from './jobs';
import { loadConfig } from '../core/config';

const USAGE = `usage: jobledger <command> [options]

commands:
  types [--json]                                   list the registered job types and versions
  lint [--json]                                    check every job definition against policy (exit 1 on violations)
  submit <type> --input '<json>'|@FILE|- [--key K] [--submitted-by ID] [--correlation-id C] [--json]
                                                   submit a job (deduplicated by its idempotency key); the input
                                                   is inline JSON, @FILE reads a file, - reads stdin; at most
                                                   ${MAX_INPUT_BYTES} bytes as canonical JSON
  status <jobId> [--json]                          show a job's status
  dlq list [--type T] [--json]                     jobs parked in the dead letter
  dlq retry|skip|compensate|abandon <jobId> --operator ID --reason TEXT [--json]
                                                   resolve a dead-lettered job (recorded with identity and reason)
  cancel|terminate <jobId> --operator ID --reason TEXT
                                                   stop a job; identity and reason go to the ledger trail
  diagnose <jobId> [--json]                        the failure context: step, class, root cause, masked input,
                                                   recent events, remediation hint and runbook link
  list [--type T] [--status S] [--query Q] [--limit N] [--json]
                                                   find jobs by search attributes, with Web UI links
  reconcile [--since T] [--archive DIR] [--json]   compare Temporal, the ledger, provider effects and the archive
                                                   (exit 1 on discrepancies)
  audit export|verify|prove|prune|keygen ...       the tamper-evident archive (\`jobledger audit\` for details)
`;

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export const ExitCode = { ok: 0, failure: 1, invalid: 2, conflict: 3, notFound: 4 } as const;

type Output = { json: boolean; out: (text: string) => void };

function print(output: Output, value: unknown, human: string): void {
  output.out(output.json ? JSON.stringify(value) : human);
}

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

function command(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      json: { type: 'boolean', default: false },
      input: { type: 'string' },
      key: { type: 'string' },
      'submitted-by': { type: 'string' },
      'correlation-id': { type: 'string' },
      operator: { type: 'string' },
      reason: { type: 'string' },
      type: { type: 'string' },
      status: { type: 'string' },
      query: { type: 'string' },
      limit: { type: 'string' },
      since: { type: 'string' },
      archive: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
}

async function run(argv: string[], output: Output): Promise<number> {
  // The archive commands parse their own options.
  if (argv[0] === 'audit') return auditCommand(argv.slice(1), output.out);
  const { values, positionals } = command(argv);
  output.json = values.json ?? false;
  const [name, ...rest] = positionals;
  if (values.help || !name) {
    output.out(USAGE);
    return name || values.help ? ExitCode.ok : ExitCode.invalid;
  }
  const { jobs } = await loadJobApp(loadConfig().JOBLEDGER_JOBS_MODULE);
  if (name === 'lint') {
    const violations = checkDefinitions(jobs);
    const ok = `${jobs.length} job definitions, all admissible`;
    print(output, { ok: violations.length === 0, violations }, violations.length === 0 ? ok : formatViolations(violations));
    return violations.length === 0 ? ExitCode.ok : ExitCode.failure;
  }
  if (name === 'types') {
    const types = jobs.map((d) => ({ type: d.type, version: d.version }));
    print(output, types, types.map((t) => `${t.type}\tv${t.version}`).join('\n'));
    return ExitCode.ok;
  }
  if (!['submit', 'status', 'dlq', 'diagnose', 'list', 'reconcile', 'cancel', 'terminate'].includes(name)) throw new UsageError(`unknown command '${name}'`);
  if (name === 'list') return list(values, output);
  if (name === 'reconcile') return reconcileCommand(values, output);
  const [target, dlqJob] = rest;
  if (!target) throw new UsageError(`${name} needs ${name === 'submit' ? 'a job type' : name === 'dlq' ? 'a subcommand' : 'a job id'}`);
  if (name === 'dlq' && target !== 'list' && !(DEAD_LETTER_ACTIONS as readonly string[]).includes(target)) {
    throw new UsageError(`unknown dlq subcommand '${target}'`);
  }
  if (name === 'dlq' && target !== 'list' && !dlqJob) throw new UsageError(`dlq ${target} needs a job id`);
  const input = name === 'submit' ? await readInput(values.input, process.stdin) : undefined;
  const submitOptions = {
    ...(values.key !== undefined && { key: values.key }),
    ...(values['submitted-by'] !== undefined && { submittedBy: values['submitted-by'] }),
    ...(values['correlation-id'] !== undefined && { correlationId: values['correlation-id'] }),
  };
  // Bad input is reported (exit 2) before connecting, whether or not Temporal is reachable.
  if (name === 'submit') checkSubmission(new JobRegistry(jobs), target, input, submitOptions, loadConfig().JOBLEDGER_SUBMITTED_BY);
  return withJobClient(async (connected, config) => {
    if (name === 'submit') {
      const result = await connected.jobs.submit(target, input, submitOptions);
      const link = `${config.TEMPORAL_UI_URL}/namespaces/${config.TEMPORAL_NAMESPACE}/workflows/${encodeURIComponent(result.jobId)}`;
      print(output, result, `${result.deduplicated ? 'existing job' : 'submitted'} ${result.jobId}\n  ${link}`);
    } else if (name === 'dlq' && target === 'list') {
      const parked = await connected.jobs.deadLettered(values.type);
      print(output, parked, parked.map((j) => `${j.jobId}\t${j.jobType}\t${j.step ?? ''}\t${j.errorClass ?? ''}`).join('\n') || '(none)');
    } else if (name === 'dlq') {
      const result = await connected.jobs.act(dlqJob!, {
        action: target as OperatorActionKind,
        operator: values.operator ?? '',
        reason: values.reason ?? '',
      });
      print(output, { jobId: dlqJob, ...result }, `${dlqJob}: ${result.action} accepted`);
    } else if (name === 'cancel' || name === 'terminate') {
      await connected.jobs.stop(target, name, { operator: values.operator ?? '', reason: values.reason ?? '' });
      print(output, { jobId: target, action: name, accepted: true }, `${target}: ${name} sent`);
    } else if (name === 'diagnose') {
      const context = await connected.jobs.diagnose(target);
      print(output, { jobId: target, failure: context }, context ? formatFailure(target, context) : `${target}: no failure recorded`);
    } else {
      const status = await connected.jobs.status(target);
      print(output, status, `${status.jobId}\t${status.jobType}\t${status.status}${status.step ? `\t${status.step}` : ''}`);
    }
    return ExitCode.ok;
  });
}

function formatFailure(jobId: string, f: FailureContext): string {
  const cause = Object.entries(f.rootCause).map(([k, v]) => `${k}=${v}`).join(' ') || '-';
  return [
    `${jobId}: ${f.phase} '${f.step}' failed${f.attempt ? ` on attempt ${f.attempt}` : ''}`,
    `  class:      ${f.errorClass}`,
    `  message:    ${f.message}`,
    `  root cause: ${cause}`,
    `  input:      ${JSON.stringify(f.input)}`,
    `  hint:       ${f.hint}`,
    `  runbook:    ${f.runbook}`,
    '  recent events:',
    ...f.events.map((e) => `    ${e.at} ${e.status}${e.step ? ` ${e.step}` : ''}${e.note ? ` (${e.note})` : ''}`),
  ].join('\n');
}

async function list(values: ReturnType<typeof command>['values'], output: Output): Promise<number> {
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

async function reconcileCommand(values: ReturnType<typeof command>['values'], output: Output): Promise<number> {
  const since = values.since === undefined ? undefined : new Date(values.since);
  if (since && Number.isNaN(since.getTime())) throw new UsageError(`--since is not a date: ${values.since}`);
  return withJobClient(async (connected, config) => {
    const { JOBLEDGER_PAYMENTS_URL: payments, JOBLEDGER_INVENTORY_URL: inventory, JOBLEDGER_EMAIL_URL: email } = config;
    const report = await reconcile({
      client: connected.client,
      ledger: connected.ledger,
      namespace: config.TEMPORAL_NAMESPACE,
      ...(payments && inventory && email && { providers: { payments, inventory, email } }),
      ...(values.archive !== undefined && { archiveDir: values.archive }),
      ...(since && { since }),
      settleMs: 5_000,
    });
    print(output, report, formatReport(report));
    return report.ok ? ExitCode.ok : ExitCode.failure;
  });
}

/** Maps an error to its exit code and a one-object description (zod issues included). */
export function describeError(err: unknown): { code: number; body: Record<string, unknown> } {
  // node's parseArgs throws a TypeError with an ERR_PARSE_ARGS_* code: to the user that is bad usage.
  const badArguments = err instanceof Error && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS');
  const base = { error: badArguments ? 'UsageError' : err instanceof Error ? err.name : 'Error', message: err instanceof Error ? err.message : String(err) };
  if (err instanceof JobValidationError) return { code: ExitCode.invalid, body: { ...base, issues: err.issues } };
  if (err instanceof OperatorActionRejectedError || err instanceof InvalidSubmitOptionsError) return { code: ExitCode.invalid, body: { ...base, issues: err.issues } };
  if (
    err instanceof UsageError ||
    err instanceof InvalidIdempotencyKeyError ||
    err instanceof UnknownJobTypeError ||
    err instanceof MissingSubmitterError ||
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
  if (err instanceof WorkflowNotFoundError) return { code: ExitCode.notFound, body: base };
  return { code: ExitCode.failure, body: base };
}

export async function main(argv: string[]): Promise<number> {
  const output: Output = { json: argv.includes('--json'), out: (text) => process.stdout.write(`${text}\n`) };
  try {
    return await run(argv, output);
  } catch (err) {
    const { code, body } = describeError(err);
    process.stderr.write(output.json ? `${JSON.stringify(body)}\n` : `error: ${body.message}\n${'issues' in body ? `${JSON.stringify(body.issues, null, 2)}\n` : ''}`);
    return code;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
