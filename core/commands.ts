/**
 * The machinery of jobledger's command line: one table of commands (client/cli.ts holds it, the audit
 * commands included), each with its name, its arguments, a one-line summary and its handler. `--help`,
 * the usage shown with a usage error, and dispatch all come from that table.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** The CLI's exit codes. */
export const ExitCode = { ok: 0, failure: 1, invalid: 2, conflict: 3, notFound: 4 } as const;

/** Bad usage: exit 2, nothing was started. `usage` is the part of the help text to show with it. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  constructor(
    message: string,
    readonly usage?: string,
  ) {
    super(message);
  }
}

/** Where a command prints its result: JSON with `--json`, else text for people. */
export interface Output {
  json: boolean;
  out: (text: string) => void;
}

export function print(output: Output, value: unknown, human: string): void {
  output.out(output.json ? JSON.stringify(value) : human);
}

export interface Command {
  /** The words that select it: `status`, `dlq retry`, `audit verify`. */
  name: string;
  /** What follows the name, as `--help` shows it: `<jobId> [--json]`. */
  args: string;
  /** What it does, in one line. */
  summary: string;
  /** Runs with the arguments after the name and resolves to the exit code. Throws UsageError for bad usage. */
  run(argv: string[], output: Output): Promise<number>;
}

/** The command's synopsis: its name and its arguments. */
export function synopsis(command: Command): string {
  return command.args ? `${command.name} ${command.args}` : command.name;
}

const SUMMARY_COLUMN = 50;
const EXIT_CODES = 'exit codes: 0 success, 1 failure, 2 bad usage or invalid input (nothing was started), 3 idempotency conflict, 4 not found';

/** The help text of `commands`: one line each (the summary goes on the next line after a long synopsis). */
export function helpText(commands: readonly Command[]): string {
  const lines = commands.map((command) => {
    const text = synopsis(command);
    const gap = text.length < SUMMARY_COLUMN ? ' '.repeat(SUMMARY_COLUMN - text.length) : `\n${' '.repeat(SUMMARY_COLUMN + 2)}`;
    return `  ${text}${gap}${command.summary}`;
  });
  return `usage: jobledger <command> [options]\n\ncommands:\n${lines.join('\n')}\n\n${EXIT_CODES}\n`;
}

/** The usage line of one command, shown with its usage errors. */
export function commandUsage(command: Command): string {
  return `usage: jobledger ${synopsis(command)}\n  ${command.summary}\n`;
}

const HELP_FLAGS = ['--help', '-h'];

/** What `argv` asks for: a command and the arguments after its name, or help (the text to print). */
export type Request = { command: Command; argv: string[] } | { help: string };

/**
 * Finds the command `argv` names by its first words. `--help` (alone, after a group's name like `audit`,
 * or after a command) asks for help. Anything else is a UsageError that shows the commands it could mean.
 */
export function findCommand(commands: readonly Command[], argv: string[]): Request {
  const [first, second] = argv;
  if (first === undefined) throw new UsageError('a command is required', helpText(commands));
  if (HELP_FLAGS.includes(first)) return { help: helpText(commands) };
  const command = commands.find((c) => c.name.split(' ').every((word, i) => argv[i] === word));
  if (command) {
    const rest = argv.slice(command.name.split(' ').length);
    return rest.some((arg) => HELP_FLAGS.includes(arg)) ? { help: commandUsage(command) } : { command, argv: rest };
  }
  const group = commands.filter((c) => c.name.startsWith(`${first} `));
  if (group.length === 0) throw new UsageError(`unknown command '${first}'`, helpText(commands));
  const groupHelp = helpText(group);
  if (second !== undefined && HELP_FLAGS.includes(second)) return { help: groupHelp };
  throw new UsageError(second === undefined ? `${first} needs a command` : `unknown command '${first} ${second}'`, groupHelp);
}

/** node's parseArgs throws a TypeError with an ERR_PARSE_ARGS_* code: to the user that is bad usage. */
export function isBadArguments(err: unknown): err is Error {
  return err instanceof Error && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS');
}

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * Parses the arguments after a command's name: its `options` (and `--json`, which every command takes)
 * and exactly the positional arguments named in `names`, returned in that order.
 */
export function parseCommand<O extends Options, const P extends readonly string[]>(argv: string[], options: O, names: P) {
  const { values, positionals } = parseArgs({ args: argv, options: { ...options, json: { type: 'boolean' } }, allowPositionals: true, strict: true });
  if (positionals.length < names.length) throw new UsageError(`missing ${names.slice(positionals.length).join(' ')}`);
  if (positionals.length > names.length) throw new UsageError(`unexpected argument '${positionals[names.length]}'`);
  // One string per name, as just checked.
  return { values, args: positionals as { [K in keyof P]: string } };
}

/** The value of a required option, `--flag`. */
export function required(value: string | undefined, flag: string): string {
  requireOptions({ [flag]: value }, [flag]);
  return value ?? '';
}

/**
 * Refuses the command when any of these options is missing or empty: one plain line naming them
 * (`--reason is required`, `--operator and --reason are required`), before their values are checked.
 */
export function requireOptions(values: Readonly<Record<string, unknown>>, flags: readonly string[]): void {
  const missing = flags.filter((flag) => values[flag] === undefined || values[flag] === '').map((flag) => `--${flag}`);
  if (missing.length > 0) throw new UsageError(`${missing.join(' and ')} ${missing.length === 1 ? 'is' : 'are'} required`);
}
