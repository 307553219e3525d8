/**
 * The `audit` commands for operators and auditors: verify an archive, print a job's inclusion proof,
 * prune old payloads, create a signing key. `auditCommand(argv, out)` takes the arguments after
 * `audit` and returns the exit code: 0 success (archive intact), 1 verification failed or the archive is
 * damaged (the first problem is printed), 2 bad usage, 4 job not in the archive. Everything is printed
 * through `out`; `--json` prints one JSON value. Also runnable on its own: `tsx audit/cli.ts verify DIR`.
 *
 * Hook for more commands: `registerAuditCommand('export', { usage, run })`. The export of closed jobs
 * from Temporal (which calls `appendLeaves`) is meant to register itself that way, from its own module.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import {
  AUDIT_KEY_ENV,
  JobNotInArchiveError,
  generateKeyPair,
  proveInclusion,
  pruneArchive,
  publicKeyFrom,
  signerFrom,
  verifyArchive,
  type Checkpoint,
} from './archive';

export const AuditExit = { ok: 0, failed: 1, usage: 2, notFound: 4 } as const;

/** Bad usage: the command prints the message and the usage, and exits 2. */
export class AuditUsageError extends Error {
  override readonly name = 'AuditUsageError';
}

export interface AuditSubcommand {
  /** The synopsis, starting with the command's name, e.g. `export --dir DIR [--since DATE]`. */
  usage: string;
  /** What the command does, in a few words, for the usage text. */
  summary: string;
  /** Runs with the arguments after the subcommand's name and resolves to the exit code. Throw AuditUsageError for bad usage. */
  run(argv: string[], out: (text: string) => void): Promise<number>;
}

const commands = new Map<string, AuditSubcommand>();

/** Adds a subcommand to `auditCommand` (the hook for `export`). Names are unique. */
export function registerAuditCommand(name: string, command: AuditSubcommand): void {
  if (commands.has(name)) throw new Error(`audit command '${name}' is already registered`);
  commands.set(name, command);
}

function usage(): string {
  const lines = [...commands.values()].map((c) => `  ${c.usage.padEnd(68)} ${c.summary}`);
  return `usage: audit <command> [options]\n\ncommands:\n${lines.join('\n')}\n`;
}

function parse(argv: string[], options: Record<string, { type: 'string' | 'boolean' }>) {
  return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
}

async function readArgumentFile(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new AuditUsageError(`cannot read the ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

function requireString(value: string | boolean | undefined, flag: string, command: string): string {
  if (typeof value !== 'string' || value === '') throw new AuditUsageError(`${command} needs --${flag}`);
  return value;
}

registerAuditCommand('verify', {
  usage: 'verify DIR [--trusted-checkpoint FILE] [--public-key FILE] [--json]',
  summary: 'check the whole archive',
  async run(argv, out) {
    const { values, positionals } = parse(argv, {
      'trusted-checkpoint': { type: 'string' },
      'public-key': { type: 'string' },
      json: { type: 'boolean' },
    });
    if (positionals.length !== 1) throw new AuditUsageError('verify needs exactly one archive directory');
    const dir = positionals[0]!;
    let publicKey;
    if (typeof values['public-key'] === 'string') {
      const text = await readArgumentFile(values['public-key'], 'public key file');
      try {
        publicKey = publicKeyFrom(text);
      } catch (err) {
        throw new AuditUsageError(`${values['public-key']}: ${(err as Error).message}`);
      }
    } else if (process.env[AUDIT_KEY_ENV]) {
      publicKey = (await signerFrom()).publicKey;
    } else {
      throw new AuditUsageError(`verify needs --public-key FILE (or ${AUDIT_KEY_ENV} to use the signing key's public half)`);
    }
    let trustedCheckpoint: Checkpoint | undefined;
    if (typeof values['trusted-checkpoint'] === 'string') {
      const text = await readArgumentFile(values['trusted-checkpoint'], 'trusted checkpoint');
      try {
        trustedCheckpoint = JSON.parse(text) as Checkpoint;
      } catch {
        throw new AuditUsageError(`${values['trusted-checkpoint']} is not JSON`);
      }
    }
    const result = await verifyArchive(dir, { publicKey, ...(trustedCheckpoint !== undefined && { trustedCheckpoint }) });
    if (values.json) out(JSON.stringify(result));
    else if (result.ok) out(`audit archive ${dir} is intact: ${result.treeSize} leaves, root ${result.root}`);
    else out(`audit archive ${dir} FAILED verification: ${result.problem}`);
    return result.ok ? AuditExit.ok : AuditExit.failed;
  },
});

registerAuditCommand('prove', {
  usage: 'prove <jobId> --dir DIR [--json]',
  summary: "print a job's inclusion proof against the latest checkpoint",
  async run(argv, out) {
    const { values, positionals } = parse(argv, { dir: { type: 'string' }, json: { type: 'boolean' } });
    if (positionals.length !== 1) throw new AuditUsageError('prove needs exactly one job id');
    const proof = await proveInclusion(requireString(values.dir, 'dir', 'prove'), positionals[0]!);
    out(values.json ? JSON.stringify(proof) : JSON.stringify(proof, null, 2));
    return AuditExit.ok;
  },
});

registerAuditCommand('prune', {
  usage: 'prune --dir DIR --before DATE [--json]',
  summary: 'drop payloads of jobs closed before DATE (ISO 8601)',
  async run(argv, out) {
    const { values, positionals } = parse(argv, { dir: { type: 'string' }, before: { type: 'string' }, json: { type: 'boolean' } });
    if (positionals.length > 0) throw new AuditUsageError('prune takes no positional arguments');
    const dir = requireString(values.dir, 'dir', 'prune');
    const text = requireString(values.before, 'before', 'prune');
    const before = new Date(text);
    if (!/^\d{4}-\d{2}-\d{2}(T.*)?$/.test(text) || Number.isNaN(before.getTime())) {
      throw new AuditUsageError(`--before ${JSON.stringify(text)} is not an ISO 8601 date`);
    }
    const pruned = await pruneArchive(dir, { before });
    out(values.json ? JSON.stringify({ pruned, before: before.toISOString() }) : `pruned the payloads of ${pruned} leaves closed before ${before.toISOString()}`);
    return AuditExit.ok;
  },
});

registerAuditCommand('keygen', {
  usage: 'keygen --dir DIR [--json]',
  summary: 'create a signing key pair (audit-key.pem, audit-key.pub.pem)',
  async run(argv, out) {
    const { values, positionals } = parse(argv, { dir: { type: 'string' }, json: { type: 'boolean' } });
    if (positionals.length > 0) throw new AuditUsageError('keygen takes no positional arguments');
    const keys = await generateKeyPair(requireString(values.dir, 'dir', 'keygen'));
    out(
      values.json
        ? JSON.stringify(keys)
        : `key ${keys.keyId}\n  private: ${keys.privateKeyFile} (keep it secret; or put it in ${AUDIT_KEY_ENV})\n  public:  ${keys.publicKeyFile}`,
    );
    return AuditExit.ok;
  },
});

/** Runs `audit <argv...>` and resolves to the exit code. */
export async function auditCommand(argv: string[], out: (text: string) => void): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    out(usage());
    return name === undefined ? AuditExit.usage : AuditExit.ok;
  }
  const command = commands.get(name);
  if (!command) {
    out(`unknown audit command '${name}'\n${usage()}`);
    return AuditExit.usage;
  }
  try {
    return await command.run(rest, out);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (err instanceof AuditUsageError || code?.startsWith('ERR_PARSE_ARGS')) {
      out(`${(err as Error).message}\n${usage()}`);
      return AuditExit.usage;
    }
    if (err instanceof JobNotInArchiveError) {
      out(err.message);
      return AuditExit.notFound;
    }
    out(`audit ${name} failed: ${(err as Error).message}`);
    return AuditExit.failed;
  }
}

if (require.main === module) {
  void auditCommand(process.argv.slice(2), (text) => console.log(text)).then((code) => {
    process.exitCode = code;
  });
}
