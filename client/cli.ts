/**
 * `jobledger`: the operator and engineer CLI (`npm run -s jobledger -- <command>`).
 *
 * Exit codes: 0 success; 1 unexpected failure; 2 bad usage or invalid input (nothing was started);
 * 3 idempotency conflict; 4 job not found. Results go to stdout (JSON with `--json`); logs and errors go
 * to stderr.
 */
import { parseArgs } from 'node:util';
import { WorkflowNotFoundError } from '@temporalio/client';
import { loadConfig } from '../core/config';
import { createLogger } from '../core/logging';
import { DEFAULT_JOBS } from '../jobs';
import { UnknownJobTypeError } from '../jobs/registry';
import { InvalidIdempotencyKeyError, JobValidationError } from '../jobs/submission';
import { connectJobClient } from './connect';
import { IdempotencyConflictError, MissingSubmitterError } from './jobs';

const USAGE = `usage: jobledger <command> [options]

commands:
  types [--json]                                   list the registered job types and versions
  submit <type> --input '<json>' [--key K] [--submitted-by ID] [--correlation-id C] [--json]
                                                   submit a job (deduplicated by its idempotency key)
  status <jobId> [--json]                          show a job's status
`;

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export const ExitCode = { ok: 0, failure: 1, invalid: 2, conflict: 3, notFound: 4 } as const;

type Output = { json: boolean; out: (text: string) => void };

function print(output: Output, value: unknown, human: string): void {
  output.out(output.json ? JSON.stringify(value) : human);
}

function parseInput(text: string | undefined): unknown {
  if (text === undefined) throw new UsageError('--input is required');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--input is not valid JSON: ${(err as Error).message}`);
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
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
}

async function run(argv: string[], output: Output): Promise<number> {
  const { values, positionals } = command(argv);
  output.json = values.json ?? false;
  const [name, ...rest] = positionals;
  if (values.help || !name) {
    output.out(USAGE);
    return name || values.help ? ExitCode.ok : ExitCode.invalid;
  }
  if (name === 'types') {
    const types = DEFAULT_JOBS.map((d) => ({ type: d.type, version: d.version }));
    print(output, types, types.map((t) => `${t.type}\tv${t.version}`).join('\n'));
    return ExitCode.ok;
  }
  if (name !== 'submit' && name !== 'status') throw new UsageError(`unknown command '${name}'`);
  const [target] = rest;
  if (!target) throw new UsageError(`${name} needs a ${name === 'submit' ? 'job type' : 'job id'}`);
  const config = loadConfig();
  const input = name === 'submit' ? parseInput(values.input) : undefined;
  const logger = createLogger({ level: config.LOG_LEVEL, name: 'jobledger-cli' }, process.stderr);
  const connected = await connectJobClient(config, { logger });
  try {
    if (name === 'submit') {
      const result = await connected.jobs.submit(target, input, {
        ...(values.key !== undefined && { key: values.key }),
        ...(values['submitted-by'] !== undefined && { submittedBy: values['submitted-by'] }),
        ...(values['correlation-id'] !== undefined && { correlationId: values['correlation-id'] }),
      });
      const link = `${config.TEMPORAL_UI_URL}/namespaces/${config.TEMPORAL_NAMESPACE}/workflows/${encodeURIComponent(result.jobId)}`;
      print(output, result, `${result.deduplicated ? 'existing job' : 'submitted'} ${result.jobId}\n  ${link}`);
    } else {
      const status = await connected.jobs.status(target);
      print(output, status, `${status.jobId}\t${status.jobType}\t${status.status}${status.step ? `\t${status.step}` : ''}`);
    }
    return ExitCode.ok;
  } finally {
    await connected.close();
  }
}

/** Maps an error to its exit code and a one-object description (zod issues included). */
export function describeError(err: unknown): { code: number; body: Record<string, unknown> } {
  const base = { error: err instanceof Error ? err.name : 'Error', message: err instanceof Error ? err.message : String(err) };
  if (err instanceof JobValidationError) return { code: ExitCode.invalid, body: { ...base, issues: err.issues } };
  if (
    err instanceof UsageError ||
    err instanceof InvalidIdempotencyKeyError ||
    err instanceof UnknownJobTypeError ||
    err instanceof MissingSubmitterError ||
    (err instanceof Error && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS'))
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
