/**
 * The tamper-evident audit archive: an append-only directory with one JSON file per closed job (a leaf
 * of a Merkle tree hashed as in RFC 9162, see ./merkle) and Ed25519-signed checkpoints of that tree.
 * Whoever holds the public key can check that no record was changed, removed, inserted or reordered,
 * and that the archive still extends a checkpoint they kept from before. A leaf's hash covers the hash
 * of its payload rather than the payload, so old payloads can be pruned and the tree still verifies.
 *
 * Layout of an archive directory (every file is canonical JSON, see core/canonical, plus a newline; the
 * verifier accepts nothing else, so any changed byte is noticed):
 *
 *   leaves/000000000001.json   { closedAt, index, jobId, payload, payloadHash, runId }
 *   checkpoints/000001.json    { keyId, rootHash, signature, timestamp, treeSize }
 *   index.json                 { "<jobId>": <leaf index>, ... }
 *
 * Leaf and checkpoint numbers start at 1, and leaf N sits at position N - 1 of the tree. The bytes
 * hashed for a leaf are the canonical JSON of { index, jobId, runId, closedAt, payloadHash }, where
 * payloadHash is the SHA-256 (hex) of the payload's canonical JSON. A checkpoint's signature is over
 * `checkpointText` of its other fields.
 */
import {
  KeyObject,
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  sign as cryptoSign,
  verify as cryptoVerify,
} from 'node:crypto';
import { mkdir, open, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { canonicalJson, hashOf, sha256Hex } from '../core/canonical';
import { consistencyProof, inclusionProof, leafHash, prefixRoots, rootOf, verifyConsistency, verifyInclusion } from './merkle';

/** Environment variable `signerFrom` reads the signing key from: PEM (PKCS8), or base64 of the DER. */
export const AUDIT_KEY_ENV = 'JOBLEDGER_AUDIT_KEY';
/** File names written by `generateKeyPair`. */
export const PRIVATE_KEY_FILE = 'audit-key.pem';
export const PUBLIC_KEY_FILE = 'audit-key.pub.pem';

const LEAVES = 'leaves';
const CHECKPOINTS = 'checkpoints';
const INDEX = 'index.json';
const LOCK = '.lock';
const LEAF_DIGITS = 12;
const CHECKPOINT_DIGITS = 6;
const CHECKPOINT_HEADER = 'jobledger-audit-checkpoint/v1';
/** How many leaf files are read in parallel. */
const READ_AHEAD = 32;

// ---------------------------------------------------------------------------------------------------
// Records and their strict schemas

/** One closed job handed to `appendLeaves`. */
export interface AuditEntry {
  jobId: string;
  runId: string;
  /** When the job closed: a Date or anything `new Date()` reads. Stored as UTC ISO-8601 (toISOString). */
  closedAt: Date | string;
  /** What to keep about the job (a JSON object), or null. Stored as its JSON form. */
  payload: Record<string, unknown> | null;
}

/** The content of a leaf file. */
export interface LeafRecord {
  index: number;
  jobId: string;
  runId: string;
  closedAt: string;
  payload: Record<string, unknown> | null;
  payloadHash: string;
}

/** The fields of a leaf that its hash covers. */
export type HashedLeaf = Omit<LeafRecord, 'payload'>;

/** The content of a checkpoint file. */
export interface Checkpoint {
  treeSize: number;
  /** Root of the first treeSize leaves, hex. */
  rootHash: string;
  timestamp: string;
  /** First 16 hex digits of the SHA-256 of the raw 32-byte Ed25519 public key. */
  keyId: string;
  /** Base64 Ed25519 signature of `checkpointText(this)`. */
  signature: string;
}

const hex64 = z.string().regex(/^[0-9a-f]{64}$/, 'not 64 lowercase hex digits');
const isoInstant = z.string().refine((s) => {
  const time = new Date(s);
  return !Number.isNaN(time.getTime()) && time.toISOString() === s;
}, 'not a UTC ISO-8601 timestamp as toISOString writes it');
const signature = z.string().refine((s) => {
  const bytes = Buffer.from(s, 'base64');
  return bytes.length === 64 && bytes.toString('base64') === s;
}, 'not the base64 of a 64-byte signature');

const hashedLeafFields = {
  index: z.number().int().min(1),
  jobId: z.string().min(1),
  runId: z.string().min(1),
  closedAt: isoInstant,
  payloadHash: hex64,
};
const LeafSchema = z.strictObject({ ...hashedLeafFields, payload: z.record(z.string(), z.unknown()).nullable() });
const CheckpointSchema = z.strictObject({
  treeSize: z.number().int().min(1),
  rootHash: hex64,
  timestamp: isoInstant,
  keyId: z.string().regex(/^[0-9a-f]{16}$/, 'not 16 lowercase hex digits'),
  signature,
});
const InclusionProofSchema = z.strictObject({
  jobId: z.string().min(1),
  index: z.number().int().min(1),
  treeSize: z.number().int().min(1),
  leafHash: hex64,
  leaf: z.strictObject(hashedLeafFields),
  proof: z.array(hex64).max(64),
  checkpoint: CheckpointSchema,
});

function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || 'value'}: ${i.message}`).join('; ');
}

/** The exact text of a file holding `value` (`known`: see canonicalJson). */
function fileText(value: unknown, known?: ReadonlyMap<object, string>): string {
  return `${canonicalJson(value, known)}\n`;
}

/** Parses a file that must be canonical JSON matching `schema`; returns the value or what is wrong. */
function parseStrict<T>(bytes: Buffer, schema: z.ZodType<T>): { value: T } | { problem: string } {
  const parsed = parseJson(bytes, schema);
  if ('problem' in parsed) return parsed;
  const problem = canonicalProblem(bytes, parsed.raw);
  return problem ? { problem } : { value: parsed.value };
}

function parseJson<T>(bytes: Buffer, schema: z.ZodType<T>): { value: T; raw: unknown } | { problem: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(bytes.toString('utf8'));
  } catch {
    return { problem: 'is not valid JSON' };
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) return { problem: `is malformed (${describeIssues(parsed.error)})` };
  return { value: parsed.data, raw };
}

/** What keeps `bytes` from being the canonical file of `raw`, or undefined. */
function canonicalProblem(bytes: Buffer, raw: unknown, known?: ReadonlyMap<object, string>): string | undefined {
  try {
    return Buffer.from(fileText(raw, known), 'utf8').equals(bytes) ? undefined : 'is not in canonical form';
  } catch {
    return 'holds a number JSON cannot round-trip';
  }
}

/**
 * Parses a leaf file and checks its payload against payloadHash. The payload's canonical text is made
 * once: it is both what payloadHash covers and part of the file's canonical text (verify reads every
 * history through here).
 */
function parseLeaf(bytes: Buffer): { value: LeafRecord } | { problem: string } {
  const parsed = parseJson(bytes, LeafSchema);
  if ('problem' in parsed) return parsed;
  const rawPayload = (parsed.raw as { payload: object | null }).payload;
  let known: Map<object, string> | undefined;
  if (rawPayload !== null) {
    let payloadText: string;
    try {
      payloadText = canonicalJson(rawPayload);
    } catch {
      return { problem: 'holds a number JSON cannot round-trip' };
    }
    if (sha256Hex(payloadText) !== parsed.value.payloadHash) return { problem: 'has a payload that does not match its payloadHash' };
    known = new Map([[rawPayload, payloadText]]);
  }
  const problem = canonicalProblem(bytes, parsed.raw, known);
  return problem ? { problem } : { value: parsed.value };
}

/** The bytes hashed into the tree for a leaf. */
export function leafBytes(leaf: HashedLeaf): Buffer {
  const { index, jobId, runId, closedAt, payloadHash } = leaf;
  return Buffer.from(canonicalJson({ index, jobId, runId, closedAt, payloadHash }), 'utf8');
}

/** The text a checkpoint's signature covers: one field per line under a version header. */
export function checkpointText(c: Omit<Checkpoint, 'signature'>): string {
  return `${CHECKPOINT_HEADER}\ntreeSize ${c.treeSize}\nrootHash ${c.rootHash}\ntimestamp ${c.timestamp}\nkeyId ${c.keyId}\n`;
}

// ---------------------------------------------------------------------------------------------------
// Keys

/** Signs checkpoints. The private key stays inside the closure: it is not a property, so it cannot be logged. */
export interface AuditSigner {
  readonly keyId: string;
  readonly publicKey: KeyObject;
  /** Base64 Ed25519 signature of the UTF-8 text. */
  sign(text: string): string;
}

export interface SignerOptions {
  /** PEM (PKCS8) file holding the Ed25519 private key. Wins over the environment. Default: none. */
  keyFile?: string;
  /** Environment variable to read the key from when there is no keyFile. Default: JOBLEDGER_AUDIT_KEY. */
  envVar?: string;
}

/** The id of an Ed25519 public key: the first 16 hex digits of the SHA-256 of its raw 32 bytes. */
export function keyIdOf(key: KeyObject): string {
  const raw = Buffer.from(publicKeyFrom(key).export({ format: 'jwk' }).x ?? '', 'base64url');
  return createHash('sha256').update(raw).digest('hex').slice(0, 16);
}

/** An Ed25519 public key from a KeyObject (a private one gives its public half), PEM text, or base64 SPKI DER. */
export function publicKeyFrom(input: KeyObject | string): KeyObject {
  let key: KeyObject;
  try {
    if (input instanceof KeyObject) key = input.type === 'private' ? createPublicKey(input) : input;
    else if (input.includes('-----BEGIN')) key = createPublicKey(input);
    else key = createPublicKey({ key: Buffer.from(input.trim(), 'base64'), format: 'der', type: 'spki' });
  } catch {
    throw new TypeError('the audit public key cannot be read (expected PEM or base64 SPKI DER)');
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new TypeError('the audit public key is not an Ed25519 key');
  return key;
}

function privateKeyFrom(text: string, source: string): KeyObject {
  let key: KeyObject;
  try {
    const trimmed = text.trim();
    key = trimmed.startsWith('-----BEGIN')
      ? createPrivateKey(trimmed)
      : createPrivateKey({ key: Buffer.from(trimmed, 'base64'), format: 'der', type: 'pkcs8' });
  } catch {
    // Never echo the text: it is (or is meant to be) a private key.
    throw new Error(`${source} does not hold a readable private key (PEM PKCS8, or base64 of the DER)`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`${source} holds a ${key.asymmetricKeyType} key, not Ed25519`);
  return key;
}

function signerOf(privateKey: KeyObject): AuditSigner {
  const publicKey = createPublicKey(privateKey);
  return {
    keyId: keyIdOf(publicKey),
    publicKey,
    sign: (text) => cryptoSign(null, Buffer.from(text, 'utf8'), privateKey).toString('base64'),
  };
}

/** Loads the Ed25519 signing key from `keyFile`, or else from the environment variable. */
export async function signerFrom(options: SignerOptions = {}): Promise<AuditSigner> {
  if (options.keyFile !== undefined) {
    return signerOf(privateKeyFrom(await readFile(options.keyFile, 'utf8'), `key file ${options.keyFile}`));
  }
  const envVar = options.envVar ?? AUDIT_KEY_ENV;
  const text = process.env[envVar];
  if (!text) throw new Error(`no audit signing key: set ${envVar} or pass keyFile`);
  return signerOf(privateKeyFrom(text, `environment variable ${envVar}`));
}

/**
 * Creates a new Ed25519 key pair in `dir`: `audit-key.pem` (PKCS8, mode 0600) and `audit-key.pub.pem`
 * (SPKI). Refuses to overwrite either file.
 */
export async function generateKeyPair(dir: string): Promise<{ keyId: string; privateKeyFile: string; publicKeyFile: string }> {
  await mkdir(dir, { recursive: true });
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const privateKeyFile = join(dir, PRIVATE_KEY_FILE);
  const publicKeyFile = join(dir, PUBLIC_KEY_FILE);
  await writeFile(privateKeyFile, privateKey.export({ format: 'pem', type: 'pkcs8' }), { flag: 'wx', mode: 0o600 });
  try {
    await writeFile(publicKeyFile, publicKey.export({ format: 'pem', type: 'spki' }), { flag: 'wx' });
  } catch (err) {
    await rm(privateKeyFile, { force: true });
    throw err;
  }
  return { keyId: keyIdOf(publicKey), privateKeyFile, publicKeyFile };
}

/** Why a checkpoint's signature is not acceptable under `key`, or undefined when it is. */
function signatureProblem(c: Checkpoint, key: KeyObject, keyId: string): string | undefined {
  if (c.keyId !== keyId) return `is signed by key ${c.keyId}, not by the given key ${keyId}`;
  try {
    if (cryptoVerify(null, Buffer.from(checkpointText(c), 'utf8'), key, Buffer.from(c.signature, 'base64'))) return undefined;
  } catch {
    // fall through: an unverifiable signature is a bad one
  }
  return 'has a signature that does not verify';
}

// ---------------------------------------------------------------------------------------------------
// Errors

/** The outcome of `verifyArchive` when something is wrong: the first problem found. */
export interface ArchiveProblem {
  ok: false;
  problem: string;
  /** The 1-based number of the leaf at fault, when one leaf can be named. */
  leaf?: number;
  /** The checkpoint at fault (`checkpoints/000003.json`, or `trusted`), when one can be named. */
  checkpoint?: string;
}

/** Thrown by writers and `proveInclusion` when the archive fails its checks. */
export class ArchiveCorruptError extends Error {
  override readonly name = 'ArchiveCorruptError';
  constructor(readonly detail: ArchiveProblem) {
    super(`audit archive is damaged: ${detail.problem}`);
  }
}

export class JobNotInArchiveError extends Error {
  override readonly name = 'JobNotInArchiveError';
  constructor(readonly jobId: string) {
    super(`job ${JSON.stringify(jobId)} is not in the audit archive`);
  }
}

/** Another writer holds the archive's lock file. */
export class ArchiveBusyError extends Error {
  override readonly name = 'ArchiveBusyError';
}

// ---------------------------------------------------------------------------------------------------
// Files

const numbered = (n: number, digits: number) => `${String(n).padStart(digits, '0')}.json`;
const leafPath = (n: number) => `${LEAVES}/${numbered(n, LEAF_DIGITS)}`;
const checkpointPath = (n: number) => `${CHECKPOINTS}/${numbered(n, CHECKPOINT_DIGITS)}`;

function errorCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

async function isDirectory(path: string): Promise<boolean> {
  return stat(path).then((s) => s.isDirectory(), () => false);
}

/** The numbers of `sub`'s files in order, or the first name that is not a well-formed numbered file. */
async function listNumbered(dir: string, sub: string, digits: number): Promise<{ numbers: number[] } | { unexpected: string }> {
  let names: string[];
  try {
    names = await readdir(join(dir, sub));
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return { numbers: [] };
    throw err;
  }
  const numbers: number[] = [];
  for (const name of names.sort()) {
    const n = Number(/^(\d+)\.json$/.exec(name)?.[1]);
    if (!Number.isSafeInteger(n) || n < 1 || name !== numbered(n, digits)) return { unexpected: `${sub}/${name}` };
    numbers.push(n);
  }
  return { numbers: numbers.sort((a, b) => a - b) };
}

async function readBytes(dir: string, relPath: string): Promise<Buffer | { problem: string }> {
  try {
    return await readFile(join(dir, relPath));
  } catch (err) {
    return { problem: `cannot be read (${errorCode(err) ?? String(err)})` };
  }
}

/** Writes a file through a temporary file, fsync and rename, so a reader never sees half of it. */
async function writeAtomic(dir: string, relPath: string, text: string): Promise<void> {
  const temp = join(dir, `.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
  try {
    const handle = await open(temp, 'wx');
    try {
      await handle.writeFile(text);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, join(dir, relPath));
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}

/**
 * Runs `work` holding `dir/.lock`. A lock left by a dead process on this host is taken over; any other
 * held lock is an ArchiveBusyError.
 */
async function withLock<T>(dir: string, work: () => Promise<T>): Promise<T> {
  const path = join(dir, LOCK);
  const take = () =>
    writeFile(path, `${hostname()} ${process.pid}\n`, { flag: 'wx' }).then(
      () => true,
      (err: unknown) => {
        if (errorCode(err) === 'EEXIST') return false;
        throw err;
      },
    );
  if (!(await take())) {
    if (!(await isStaleLock(path))) throw new ArchiveBusyError(`${path} is held by another writer`);
    await rm(path, { force: true });
    if (!(await take())) throw new ArchiveBusyError(`${path} is held by another writer`);
  }
  try {
    return await work();
  } finally {
    await rm(path, { force: true });
  }
}

async function isStaleLock(path: string): Promise<boolean> {
  const [host, pid] = (await readFile(path, 'utf8').catch(() => '')).trim().split(' ');
  if (host !== hostname()) return false; // cannot see processes on other hosts
  try {
    process.kill(Number(pid), 0);
    return false;
  } catch (err) {
    return errorCode(err) === 'ESRCH';
  }
}

// ---------------------------------------------------------------------------------------------------
// Reading and checking an archive

/** A checkpoint and its file, relative to the archive directory (`checkpoints/000001.json`). */
export interface StoredCheckpoint {
  path: string;
  checkpoint: Checkpoint;
}

/** A leaf as kept in memory while checking: the payload itself is dropped once its hash is checked. */
interface LoadedLeaf extends HashedLeaf {
  hasPayload: boolean;
}

interface ArchiveState {
  leaves: LoadedLeaf[];
  /** Leaf hashes, in tree order. */
  hashes: Buffer[];
  checkpoints: StoredCheckpoint[];
}

const problem = (text: string, where: { leaf?: number; checkpoint?: string } = {}): ArchiveProblem => ({
  ok: false,
  problem: text,
  ...where,
});

/** Reads every leaf, checking numbering, format, index field, payload hash and jobId uniqueness. */
async function readLeaves(dir: string): Promise<Pick<ArchiveState, 'leaves' | 'hashes'> | ArchiveProblem> {
  const listed = await listNumbered(dir, LEAVES, LEAF_DIGITS);
  if ('unexpected' in listed) return problem(`unexpected file ${listed.unexpected} among the leaves`);
  const leaves: LoadedLeaf[] = [];
  const hashes: Buffer[] = [];
  const seen = new Map<string, number>();
  let batch: Promise<(Buffer | { problem: string })[]> = Promise.resolve([]);
  for (const [i, n] of listed.numbers.entries()) {
    // Files are read READ_AHEAD at a time in parallel, and checked one by one in order.
    if (i % READ_AHEAD === 0) batch = Promise.all(listed.numbers.slice(i, i + READ_AHEAD).map((m) => readBytes(dir, leafPath(m))));
    const expected = i + 1;
    const at = (text: string) => problem(`leaf ${expected} (${leafPath(expected)}) ${text}`, { leaf: expected });
    if (n !== expected) return at('is missing');
    const bytes = (await batch)[i % READ_AHEAD]!;
    if ('problem' in bytes) return at(bytes.problem);
    const parsed = parseLeaf(bytes);
    if ('problem' in parsed) return at(parsed.problem);
    const leaf = parsed.value;
    if (leaf.index !== n) return at(`has index ${leaf.index}, not the ${n} of its file name`);
    const earlier = seen.get(leaf.jobId);
    if (earlier !== undefined) return at(`repeats the jobId ${JSON.stringify(leaf.jobId)} of leaf ${earlier}`);
    seen.set(leaf.jobId, n);
    const { payload, ...hashed } = leaf;
    leaves.push({ ...hashed, hasPayload: payload !== null });
    hashes.push(leafHash(leafBytes(leaf)));
  }
  return { leaves, hashes };
}

/** Reads every checkpoint file in order, checking numbering and format only. */
async function readCheckpoints(dir: string): Promise<StoredCheckpoint[] | ArchiveProblem> {
  const listed = await listNumbered(dir, CHECKPOINTS, CHECKPOINT_DIGITS);
  if ('unexpected' in listed) return problem(`unexpected file ${listed.unexpected} among the checkpoints`);
  const stored: StoredCheckpoint[] = [];
  for (const [i, n] of listed.numbers.entries()) {
    const path = checkpointPath(i + 1);
    if (n !== i + 1) return problem(`checkpoint ${path} is missing`, { checkpoint: path });
    const bytes = await readBytes(dir, path);
    const parsed = 'problem' in bytes ? bytes : parseStrict(bytes, CheckpointSchema);
    if ('problem' in parsed) return problem(`checkpoint ${path} ${parsed.problem}`, { checkpoint: path });
    stored.push({ path, checkpoint: parsed.value });
  }
  return stored;
}

/**
 * The latest checkpoint of the archive in `dir`, read without checking its signature or the leaves (that
 * is `verifyArchive`): undefined when the archive has none yet (or the directory holds no archive), an
 * ArchiveProblem when the latest checkpoint file is misnamed or malformed.
 */
export async function latestCheckpoint(dir: string): Promise<StoredCheckpoint | undefined | ArchiveProblem> {
  const listed = await listNumbered(dir, CHECKPOINTS, CHECKPOINT_DIGITS);
  if ('unexpected' in listed) return problem(`unexpected file ${listed.unexpected} among the checkpoints`);
  const n = listed.numbers.at(-1);
  if (n === undefined) return undefined;
  const path = checkpointPath(n);
  const bytes = await readBytes(dir, path);
  const parsed = 'problem' in bytes ? bytes : parseStrict(bytes, CheckpointSchema);
  if ('problem' in parsed) return problem(`checkpoint ${path} ${parsed.problem}`, { checkpoint: path });
  return { path, checkpoint: parsed.value };
}

/**
 * Reads the archive and checks everything that must hold at every moment: the leaves (see readLeaves),
 * and for each checkpoint its signature, its size order, and its root against the leaves. Leaves past
 * the latest checkpoint are allowed here; `verifyArchive` rejects them, `appendLeaves` discards them.
 */
async function loadArchive(dir: string, key: KeyObject): Promise<ArchiveState | ArchiveProblem> {
  const read = await readLeaves(dir);
  if ('problem' in read) return read;
  const checkpoints = await readCheckpoints(dir);
  if ('problem' in checkpoints) return checkpoints;
  const { leaves, hashes } = read;
  const sizes = checkpoints.map((s) => s.checkpoint.treeSize).filter((size) => size <= leaves.length);
  const roots = prefixRoots(hashes, sizes);
  const keyId = keyIdOf(key);
  let previous = 0;
  for (const { path, checkpoint } of checkpoints) {
    const at = (text: string, leaf?: number) => problem(`checkpoint ${path} ${text}`, { checkpoint: path, ...(leaf ? { leaf } : {}) });
    const bad = signatureProblem(checkpoint, key, keyId);
    if (bad) return at(bad);
    const { treeSize } = checkpoint;
    if (treeSize < previous) return at(`has treeSize ${treeSize}, smaller than the ${previous} of the checkpoint before it`);
    if (treeSize > leaves.length) {
      return at(`covers ${treeSize} leaves but only ${leaves.length} exist: leaf ${leaves.length + 1} is missing (truncated)`, leaves.length + 1);
    }
    if (roots.get(treeSize)?.toString('hex') !== checkpoint.rootHash) {
      // Earlier checkpoints matched, so the change is after the last of them (or in this checkpoint).
      const where = previous < treeSize ? `; a leaf in ${previous + 1}..${treeSize} was changed, inserted, removed or moved` : '';
      return at(`has a root that does not match leaves 1..${treeSize}${where}`);
    }
    previous = treeSize;
  }
  return { leaves, hashes, checkpoints };
}

function indexText(leaves: readonly HashedLeaf[]): string {
  return fileText(Object.fromEntries(leaves.map((leaf) => [leaf.jobId, leaf.index])));
}

async function checkIndex(dir: string, leaves: readonly HashedLeaf[]): Promise<ArchiveProblem | undefined> {
  const bytes = await readBytes(dir, INDEX);
  if ('problem' in bytes) return problem(`${INDEX} ${bytes.problem}`);
  if (bytes.equals(Buffer.from(indexText(leaves), 'utf8'))) return undefined;
  let map: unknown;
  try {
    map = JSON.parse(bytes.toString('utf8'));
  } catch {
    return problem(`${INDEX} is not valid JSON`);
  }
  const wrong = leaves.find((l) => !map || typeof map !== 'object' || !Object.hasOwn(map, l.jobId) || (map as Record<string, unknown>)[l.jobId] !== l.index);
  if (wrong) return problem(`${INDEX} does not map jobId ${JSON.stringify(wrong.jobId)} to its leaf ${wrong.index}`, { leaf: wrong.index });
  return problem(`${INDEX} does not match the leaves (extra entries or not canonical)`);
}

/** Checks the archive extends `trusted`, a checkpoint the verifier kept from an earlier run. */
function checkTrusted(trusted: unknown, state: ArchiveState, key: KeyObject): ArchiveProblem | undefined {
  const at = (text: string, where: { checkpoint?: string; leaf?: number } = { checkpoint: 'trusted' }) => problem(text, where);
  const parsed = CheckpointSchema.safeParse(trusted);
  if (!parsed.success) return at(`the trusted checkpoint is malformed (${describeIssues(parsed.error)})`);
  const bad = signatureProblem(parsed.data, key, keyIdOf(key));
  if (bad) return at(`the trusted checkpoint ${bad}`);
  const { treeSize, rootHash } = parsed.data;
  const size = state.leaves.length;
  if (treeSize > size) {
    const latest = state.checkpoints.at(-1)!.path;
    return at(`rollback: the trusted checkpoint covers ${treeSize} leaves, but the latest checkpoint ${latest} covers only ${size}`, {
      checkpoint: latest,
    });
  }
  const consistent = verifyConsistency({
    oldSize: treeSize,
    newSize: size,
    oldRoot: Buffer.from(rootHash, 'hex'),
    newRoot: rootOf(state.hashes),
    proof: consistencyProof(treeSize, state.hashes),
  });
  if (!consistent) {
    return at(`history rewritten: leaves 1..${treeSize} no longer hash to the root of the trusted checkpoint`);
  }
  return undefined;
}

export interface VerifyOptions {
  /** The Ed25519 public key that signs the checkpoints: a KeyObject, or PEM (SPKI) text. Required. */
  publicKey: KeyObject | string;
  /**
   * A checkpoint kept from an earlier verification (or from an inclusion proof). The archive must be a
   * consistent extension of it, which catches rollback, truncation below it and rewritten history.
   * Default: none.
   */
  trustedCheckpoint?: Checkpoint;
}

export type VerifyResult = { ok: true; treeSize: number; root: string } | ArchiveProblem;

/**
 * Checks the whole archive and reports the first problem. Leaves are checked in order, then
 * checkpoints in order, then that the latest checkpoint covers every leaf, then index.json, then the
 * trusted checkpoint. Throws only for an unusable public key. It takes no lock: check a quiescent
 * archive or a copy, since leaves being appended are uncovered until their checkpoint is written.
 */
export async function verifyArchive(dir: string, options: VerifyOptions): Promise<VerifyResult> {
  const key = publicKeyFrom(options.publicKey);
  if (!(await isDirectory(dir))) return problem(`${dir} is not a directory`);
  const state = await loadArchive(dir, key);
  if ('problem' in state) return state;
  const latest = state.checkpoints.at(-1);
  if (!latest) return problem('the archive has no signed checkpoint');
  const covered = latest.checkpoint.treeSize;
  if (covered < state.leaves.length) {
    return problem(`leaf ${covered + 1} (${leafPath(covered + 1)}) is not covered by any signed checkpoint; the latest, ${latest.path}, covers ${covered}`, {
      leaf: covered + 1,
      checkpoint: latest.path,
    });
  }
  const indexProblem = await checkIndex(dir, state.leaves);
  if (indexProblem) return indexProblem;
  if (options.trustedCheckpoint !== undefined) {
    const trustedProblem = checkTrusted(options.trustedCheckpoint, state, key);
    if (trustedProblem) return trustedProblem;
  }
  return { ok: true, treeSize: state.leaves.length, root: rootOf(state.hashes).toString('hex') };
}

// ---------------------------------------------------------------------------------------------------
// Writing

function draftOf(entry: AuditEntry, position: number): Omit<LeafRecord, 'index'> {
  const where = `entries[${position}]`;
  if (typeof entry.jobId !== 'string' || entry.jobId === '') throw new TypeError(`${where}: jobId must be a non-empty string`);
  if (typeof entry.runId !== 'string' || entry.runId === '') throw new TypeError(`${where}: runId must be a non-empty string`);
  const closedAt = new Date(entry.closedAt);
  if (Number.isNaN(closedAt.getTime())) throw new TypeError(`${where}: closedAt is not a date`);
  let payload: Record<string, unknown> | null = null;
  if (entry.payload !== null) {
    try {
      payload = JSON.parse(JSON.stringify(entry.payload)) as Record<string, unknown>;
    } catch {
      throw new TypeError(`${where}: payload cannot be written as JSON`);
    }
    if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) throw new TypeError(`${where}: payload must be a JSON object or null`);
  }
  return { jobId: entry.jobId, runId: entry.runId, closedAt: closedAt.toISOString(), payload, payloadHash: hashOf(payload) };
}

export interface AppendResult {
  /** How many entries became new leaves (entries whose jobId was already present are skipped). */
  added: number;
  treeSize: number;
  /** The checkpoint now covering the whole tree: a new one if anything was added; null for an empty archive. */
  checkpoint: Checkpoint | null;
  /** Unsigned leaves left by an interrupted append, removed before appending (their jobs can be appended again). */
  discarded: number;
}

/**
 * Appends the entries whose jobId is not in the archive yet, in order, then signs a checkpoint of the
 * new tree. Creates the archive if `dir` does not exist. Refuses (ArchiveCorruptError) to extend an
 * archive that fails its checks under the signer's key, so a damaged archive is never re-signed.
 * Each file is written atomically; the order is leaves, checkpoint, index.json.
 */
export async function appendLeaves(dir: string, entries: readonly AuditEntry[], signer: AuditSigner): Promise<AppendResult> {
  const drafts = entries.map(draftOf);
  await mkdir(join(dir, LEAVES), { recursive: true });
  await mkdir(join(dir, CHECKPOINTS), { recursive: true });
  return withLock(dir, async () => {
    const state = await loadArchive(dir, signer.publicKey);
    if ('problem' in state) throw new ArchiveCorruptError(state);
    const latest = state.checkpoints.at(-1);
    const signedSize = latest?.checkpoint.treeSize ?? 0;
    // Leaves past the latest checkpoint come from an append that stopped before it signed. No verifier
    // accepts them and the caller was not told they were added, so they go.
    for (let n = state.leaves.length; n > signedSize; n--) await rm(join(dir, leafPath(n)));
    const discarded = state.leaves.length - signedSize;
    const leaves = state.leaves.slice(0, signedSize);
    const hashes = state.hashes.slice(0, signedSize);
    const known = new Set(leaves.map((leaf) => leaf.jobId));
    let added = 0;
    for (const draft of drafts) {
      if (known.has(draft.jobId)) continue;
      const leaf: LeafRecord = { index: leaves.length + 1, ...draft };
      await writeAtomic(dir, leafPath(leaf.index), fileText(leaf));
      leaves.push({ ...leaf, hasPayload: leaf.payload !== null });
      hashes.push(leafHash(leafBytes(leaf)));
      known.add(leaf.jobId);
      added++;
    }
    let checkpoint = latest?.checkpoint ?? null;
    if (added > 0) {
      const unsigned = { treeSize: leaves.length, rootHash: rootOf(hashes).toString('hex'), timestamp: new Date().toISOString(), keyId: signer.keyId };
      checkpoint = { ...unsigned, signature: signer.sign(checkpointText(unsigned)) };
      await writeAtomic(dir, checkpointPath(state.checkpoints.length + 1), fileText(checkpoint));
    }
    const index = indexText(leaves);
    const current = await readFile(join(dir, INDEX), 'utf8').catch(() => undefined);
    if (current !== index) await writeAtomic(dir, INDEX, index);
    return { added, treeSize: leaves.length, checkpoint, discarded };
  });
}

export interface PruneOptions {
  /** Payloads of leaves that closed strictly before this moment are dropped. Required. */
  before: Date;
}

/**
 * Replaces the payload with null in every leaf that closed before `options.before`, keeping its
 * payloadHash, so the tree and every checkpoint still verify. Returns how many leaves were pruned.
 * Refuses (ArchiveCorruptError) if a leaf fails its checks, so tampered payloads are not erased.
 */
export async function pruneArchive(dir: string, options: PruneOptions): Promise<number> {
  const cutoff = options.before instanceof Date ? options.before.getTime() : Number.NaN;
  if (Number.isNaN(cutoff)) throw new RangeError('prune needs a valid `before` date');
  if (!(await isDirectory(dir))) throw new Error(`${dir} is not a directory`);
  return withLock(dir, async () => {
    const read = await readLeaves(dir);
    if ('problem' in read) throw new ArchiveCorruptError(read);
    let pruned = 0;
    for (const leaf of read.leaves) {
      if (!leaf.hasPayload || Date.parse(leaf.closedAt) >= cutoff) continue;
      const { hasPayload: _, ...hashed } = leaf;
      await writeAtomic(dir, leafPath(leaf.index), fileText({ ...hashed, payload: null }));
      pruned++;
    }
    return pruned;
  });
}

// ---------------------------------------------------------------------------------------------------
// Inclusion proofs

/** Everything needed to check, without the archive, that a job's record is in a signed tree. */
export interface InclusionProof {
  jobId: string;
  /** The leaf's 1-based number in the archive; its position in the tree is index - 1. */
  index: number;
  treeSize: number;
  /** SHA-256(0x00 || leafBytes(leaf)), hex. */
  leafHash: string;
  /** The hashed fields of the leaf, which tie leafHash to jobId (and a payload to payloadHash). */
  leaf: HashedLeaf;
  /** The RFC 9162 audit path, hex. */
  proof: string[];
  /** The latest checkpoint; the path leads to its root. */
  checkpoint: Checkpoint;
}

/**
 * The inclusion proof of `jobId` against the latest checkpoint. Throws JobNotInArchiveError if the job
 * has no leaf, and ArchiveCorruptError if the leaves fail their checks or do not match the checkpoint.
 * It does not check signatures (no key is needed); `verifyInclusionProof` does.
 */
export async function proveInclusion(dir: string, jobId: string): Promise<InclusionProof> {
  const read = await readLeaves(dir);
  if ('problem' in read) throw new ArchiveCorruptError(read);
  const checkpoints = await readCheckpoints(dir);
  if ('problem' in checkpoints) throw new ArchiveCorruptError(checkpoints);
  const leaf = read.leaves.find((l) => l.jobId === jobId);
  if (!leaf) throw new JobNotInArchiveError(jobId);
  const latest = checkpoints.at(-1);
  if (!latest || latest.checkpoint.treeSize < leaf.index) {
    throw new ArchiveCorruptError(problem(`leaf ${leaf.index} of job ${JSON.stringify(jobId)} is not covered by a signed checkpoint`, { leaf: leaf.index }));
  }
  const { checkpoint, path } = latest;
  const hashes = read.hashes.slice(0, checkpoint.treeSize);
  if (hashes.length !== checkpoint.treeSize || rootOf(hashes).toString('hex') !== checkpoint.rootHash) {
    throw new ArchiveCorruptError(problem(`checkpoint ${path} does not match the leaves`, { checkpoint: path }));
  }
  const { hasPayload: _, ...hashed } = leaf;
  return {
    jobId,
    index: leaf.index,
    treeSize: checkpoint.treeSize,
    leafHash: read.hashes[leaf.index - 1]!.toString('hex'),
    leaf: hashed,
    proof: inclusionProof(leaf.index - 1, hashes).map((h) => h.toString('hex')),
    checkpoint,
  };
}

/**
 * Checks an inclusion proof on its own: the checkpoint's signature under `publicKey`, that the leaf
 * fields hash to leafHash and name the same job and index, and the audit path up to the checkpoint's
 * root. Never throws.
 */
export function verifyInclusionProof(proof: unknown, publicKey: KeyObject | string): { ok: true } | { ok: false; problem: string } {
  try {
    const parsed = InclusionProofSchema.safeParse(proof);
    if (!parsed.success) return { ok: false, problem: `the proof is malformed (${describeIssues(parsed.error)})` };
    const p = parsed.data;
    const key = publicKeyFrom(publicKey);
    const bad = signatureProblem(p.checkpoint, key, keyIdOf(key));
    if (bad) return { ok: false, problem: `the checkpoint ${bad}` };
    if (p.treeSize !== p.checkpoint.treeSize) return { ok: false, problem: 'treeSize differs from the checkpoint' };
    if (p.leaf.jobId !== p.jobId || p.leaf.index !== p.index) return { ok: false, problem: 'the leaf names another job or index' };
    if (leafHash(leafBytes(p.leaf)).toString('hex') !== p.leafHash) return { ok: false, problem: 'leafHash is not the hash of the leaf' };
    const included = verifyInclusion({
      leafHash: Buffer.from(p.leafHash, 'hex'),
      index: p.index - 1,
      treeSize: p.treeSize,
      proof: p.proof.map((h) => Buffer.from(h, 'hex')),
      root: Buffer.from(p.checkpoint.rootHash, 'hex'),
    });
    return included ? { ok: true } : { ok: false, problem: 'the audit path does not lead to the checkpoint root' };
  } catch (err) {
    return { ok: false, problem: `the proof cannot be checked (${(err as Error).message})` };
  }
}
