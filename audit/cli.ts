/**
 * The `audit` commands for operators and auditors: verify an archive, print a job's inclusion proof,
 * prune old payloads, create a signing key. They are entries of the CLI's command table (client/cli.ts,
 * which also adds `audit export` from client/audit-export.ts). Exit codes: 0 success (archive intact),
 * 1 verification failed or the archive is damaged (the first problem is printed), 2 bad usage, 4 job not
 * in the archive (`JobNotInArchiveError`). `--json` prints one JSON value.
 */
import { readFile } from 'node:fs/promises';
import { ExitCode, UsageError, parseCommand, print, required, type Command } from '../core/commands';
import { AUDIT_KEY_ENV, generateKeyPair, proveInclusion, pruneArchive, publicKeyFrom, signerFrom, verifyArchive, type Checkpoint } from './archive';

async function readArgumentFile(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read the ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

const verify: Command = {
  name: 'audit verify',
  args: '--archive DIR [--trusted-checkpoint FILE] [--public-key FILE] [--json]',
  summary: 'check the whole archive (exit 1 names the first bad leaf or checkpoint)',
  async run(argv, output) {
    const { values } = parseCommand(argv, { archive: { type: 'string' }, 'trusted-checkpoint': { type: 'string' }, 'public-key': { type: 'string' } }, []);
    const dir = required(values.archive, 'archive');
    let publicKey;
    if (values['public-key'] !== undefined) {
      const text = await readArgumentFile(values['public-key'], 'public key file');
      try {
        publicKey = publicKeyFrom(text);
      } catch (err) {
        throw new UsageError(`${values['public-key']}: ${(err as Error).message}`);
      }
    } else if (process.env[AUDIT_KEY_ENV]) {
      publicKey = (await signerFrom()).publicKey;
    } else {
      throw new UsageError(`--public-key FILE is required (or ${AUDIT_KEY_ENV} to use the signing key's public half)`);
    }
    let trustedCheckpoint: Checkpoint | undefined;
    if (values['trusted-checkpoint'] !== undefined) {
      const text = await readArgumentFile(values['trusted-checkpoint'], 'trusted checkpoint');
      try {
        trustedCheckpoint = JSON.parse(text) as Checkpoint;
      } catch {
        throw new UsageError(`${values['trusted-checkpoint']} is not JSON`);
      }
    }
    const result = await verifyArchive(dir, { publicKey, ...(trustedCheckpoint !== undefined && { trustedCheckpoint }) });
    print(
      output,
      result,
      result.ok ? `audit archive ${dir} is intact: ${result.treeSize} leaves, root ${result.root}` : `audit archive ${dir} FAILED verification: ${result.problem}`,
    );
    return result.ok ? ExitCode.ok : ExitCode.failure;
  },
};

const prove: Command = {
  name: 'audit prove',
  args: '<leafId> --archive DIR [--json]',
  summary: "print a job's inclusion proof against the latest checkpoint (leaf id: <jobId>@<runId>)",
  async run(argv, output) {
    const { values, args: [leafId] } = parseCommand(argv, { archive: { type: 'string' } }, ['<leafId>']);
    const proof = await proveInclusion(required(values.archive, 'archive'), leafId);
    print(output, proof, JSON.stringify(proof, null, 2));
    return ExitCode.ok;
  },
};

const prune: Command = {
  name: 'audit prune',
  args: '--archive DIR --before DATE [--json]',
  summary: 'drop the payloads of jobs closed before DATE (ISO 8601), keeping their hashes',
  async run(argv, output) {
    const { values } = parseCommand(argv, { archive: { type: 'string' }, before: { type: 'string' } }, []);
    const dir = required(values.archive, 'archive');
    const text = required(values.before, 'before');
    const before = new Date(text);
    if (!/^\d{4}-\d{2}-\d{2}(T.*)?$/.test(text) || Number.isNaN(before.getTime())) {
      throw new UsageError(`--before ${JSON.stringify(text)} is not an ISO 8601 date`);
    }
    const pruned = await pruneArchive(dir, { before });
    print(output, { pruned, before: before.toISOString() }, `pruned the payloads of ${pruned} leaves closed before ${before.toISOString()}`);
    return ExitCode.ok;
  },
};

const keygen: Command = {
  name: 'audit keygen',
  args: '--key-dir DIR [--json]',
  summary: 'create a signing key pair (audit-key.pem, audit-key.pub.pem) in DIR',
  async run(argv, output) {
    const { values } = parseCommand(argv, { 'key-dir': { type: 'string' } }, []);
    const keys = await generateKeyPair(required(values['key-dir'], 'key-dir'));
    print(
      output,
      keys,
      `key ${keys.keyId}\n  private: ${keys.privateKeyFile} (keep it secret; or put it in ${AUDIT_KEY_ENV})\n  public:  ${keys.publicKeyFile}`,
    );
    return ExitCode.ok;
  },
};

/** The archive's own commands (`audit export` needs Temporal and lives in client/audit-export.ts). */
export const AUDIT_COMMANDS: readonly Command[] = [keygen, verify, prove, prune];
