/**
 * Mutation test of the audit archive: a 50-leaf archive with eight checkpoints (some payloads pruned)
 * is copied afresh for each of 1,200 random mutations drawn from a seeded PRNG, and `verifyArchive`
 * (holding a trusted copy of the latest checkpoint) must flag every one. Mutations cover raw byte
 * flips as well as careful forgeries that keep every file well-formed and index.json consistent.
 * A draw that leaves the bytes unchanged is drawn again and not counted.
 */
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, test } from 'node:test';
import {
  appendLeaves,
  checkpointText,
  generateKeyPair,
  pruneArchive,
  signerFrom,
  verifyArchive,
  type AuditEntry,
  type Checkpoint,
} from '../audit/archive';
import { canonicalJson, hashOf } from '../core/canonical';

const SEED = 0x5eed1e;
const MUTATIONS = 1200;
const BATCHES = [8, 5, 11, 1, 7, 9, 4, 5]; // 50 leaves, checkpoints at 8, 13, 24, 25, 32, 41, 45, 50

/** mulberry32: a small seeded PRNG, so a failing draw can be replayed. */
function prng(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  return { int, pick: <T>(items: readonly T[]) => items[int(items.length)]!, between: (lo: number, hi: number) => lo + int(hi - lo + 1) };
}
const rand = prng(SEED);

let base: string;
let scratch: string;
let publicKey: KeyObject;
let trusted: Checkpoint;
const attackerKey = generateKeyPairSync('ed25519').privateKey;

function entry(i: number): AuditEntry {
  return {
    jobId: i % 7 === 0 ? `invoice.send:inv-${i}` : `order.fulfill:o-${i}`,
    runId: `0190c4f2-${String(i).padStart(4, '0')}-7000-8000-${createHash('sha256').update(String(i)).digest('hex').slice(0, 12)}`,
    closedAt: new Date(Date.UTC(2024, 2, 1) + i * 3_600_000).toISOString(),
    payload:
      i % 5 === 0
        ? null
        : { status: i % 3 === 0 ? 'Compensated' : 'Completed', steps: [{ name: 'charge', attempts: (i % 4) + 1 }], note: `naïve café ${i}`, amount: i * 12.5 },
  };
}

after(() => rmSync(join(base, '..'), { recursive: true, force: true }));

before(async () => {
  // Copies are cheap on tmpfs (/dev/shm) and slow on some disks; use it when there is one.
  const root = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'jobledger-audit-mutation-'));
  base = join(root, 'base');
  scratch = join(root, 'scratch');
  const signer = await signerFrom({ keyFile: (await generateKeyPair(join(root, 'keys'))).privateKeyFile });
  publicKey = signer.publicKey;
  let next = 1;
  for (const size of BATCHES) {
    await appendLeaves(base, Array.from({ length: size }, () => entry(next++)), signer);
  }
  await pruneArchive(base, { before: new Date(Date.UTC(2024, 2, 1) + 10.5 * 3_600_000) }); // leaves 1..10
  const checkpoints = readdirSync(join(base, 'checkpoints')).sort();
  trusted = readJson(join(base, 'checkpoints', checkpoints.at(-1)!)) as unknown as Checkpoint;
});

// ---------------------------------------------------------------------------------------------------
// File helpers for the forger

const leafPath = (d: string, n: number) => join(d, 'leaves', `${String(n).padStart(12, '0')}.json`);
const checkpointPath = (d: string, n: number) => join(d, 'checkpoints', `${String(n).padStart(6, '0')}.json`);
const countFiles = (d: string, sub: string) => readdirSync(join(d, sub)).length;
const readJson = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
const writeCanonical = (path: string, value: unknown) => writeFileSync(path, `${canonicalJson(value)}\n`);

function flipByte(path: string): string {
  const bytes = readFileSync(path);
  const at = rand.int(bytes.length);
  const bit = rand.int(8);
  bytes[at]! ^= 1 << bit;
  writeFileSync(path, bytes);
  return `byte ${at} bit ${bit}`;
}

/** What a careful forger does after moving leaves around: rewrite index.json to match. */
function rebuildIndex(d: string): void {
  const map: Record<string, number> = {};
  for (let n = 1; existsSync(leafPath(d, n)); n++) map[readJson(leafPath(d, n)).jobId as string] = n;
  writeCanonical(join(d, 'index.json'), map);
}

function newLeaf(index: number): Record<string, unknown> {
  const e = entry(1000 + rand.int(1000));
  const payload = { forged: true, n: rand.int(100) };
  return { index, jobId: e.jobId, runId: e.runId, closedAt: e.closedAt, payload, payloadHash: hashOf(payload) };
}

/** A fingerprint of every file under the directory, to spot a draw that changed nothing. */
function fingerprint(d: string): string {
  const hash = createHash('sha256');
  const files = readdirSync(d, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
    .sort();
  for (const file of files) hash.update(relative(d, file)).update('\0').update(readFileSync(file)).update('\0');
  return hash.digest('hex');
}

// ---------------------------------------------------------------------------------------------------
// Mutation kinds: each changes the archive in `d` and says what it did

const kinds: Record<string, (d: string) => string> = {
  'flip a byte in a leaf file': (d) => {
    const n = rand.between(1, countFiles(d, 'leaves'));
    return `leaf ${n} ${flipByte(leafPath(d, n))}`;
  },
  'flip a byte in a checkpoint file': (d) => {
    const n = rand.between(1, countFiles(d, 'checkpoints'));
    return `checkpoint ${n} ${flipByte(checkpointPath(d, n))}`;
  },
  'flip a byte in index.json': (d) => `index.json ${flipByte(join(d, 'index.json'))}`,
  'delete a leaf file': (d) => {
    const n = rand.between(1, countFiles(d, 'leaves'));
    rmSync(leafPath(d, n));
    return `leaf ${n}`;
  },
  'delete a leaf and renumber the rest': (d) => {
    const count = countFiles(d, 'leaves');
    const n = rand.between(1, count);
    for (let k = n; k < count; k++) writeCanonical(leafPath(d, k), { ...readJson(leafPath(d, k + 1)), index: k });
    rmSync(leafPath(d, count));
    rebuildIndex(d);
    return `leaf ${n}`;
  },
  'insert a leaf file': (d) => {
    const count = countFiles(d, 'leaves');
    const n = rand.between(1, count);
    for (let k = count; k >= n; k--) writeCanonical(leafPath(d, k + 1), { ...readJson(leafPath(d, k)), index: k + 1 });
    writeCanonical(leafPath(d, n), newLeaf(n));
    rebuildIndex(d);
    return `at ${n}`;
  },
  'append a leaf file': (d) => {
    const n = countFiles(d, 'leaves') + 1;
    writeCanonical(leafPath(d, n), newLeaf(n));
    rebuildIndex(d);
    return `leaf ${n}`;
  },
  'swap two leaf files': (d) => {
    const count = countFiles(d, 'leaves');
    const [a, b] = [rand.between(1, count), rand.between(1, count)];
    const temp = join(d, 'swap.tmp');
    renameSync(leafPath(d, a), temp);
    renameSync(leafPath(d, b), leafPath(d, a));
    renameSync(temp, leafPath(d, b));
    return `leaves ${a} and ${b}`;
  },
  'swap two leaves and fix their index fields': (d) => {
    const count = countFiles(d, 'leaves');
    const [a, b] = [rand.between(1, count), rand.between(1, count)];
    const [leafA, leafB] = [readJson(leafPath(d, a)), readJson(leafPath(d, b))];
    writeCanonical(leafPath(d, a), { ...leafB, index: a });
    writeCanonical(leafPath(d, b), { ...leafA, index: b });
    rebuildIndex(d);
    return `leaves ${a} and ${b}`;
  },
  'truncate the leaves': (d) => {
    const count = countFiles(d, 'leaves');
    const k = rand.between(1, 12);
    for (let n = count; n > count - k; n--) rmSync(leafPath(d, n));
    rebuildIndex(d);
    return `last ${k}`;
  },
  'roll back to an earlier checkpoint': (d) => {
    const checkpoints = countFiles(d, 'checkpoints');
    const keep = rand.between(1, checkpoints - 1);
    const size = readJson(checkpointPath(d, keep)).treeSize as number;
    for (let n = checkpoints; n > keep; n--) rmSync(checkpointPath(d, n));
    for (let n = countFiles(d, 'leaves'); n > size; n--) rmSync(leafPath(d, n));
    rebuildIndex(d);
    return `to checkpoint ${keep} (${size} leaves)`;
  },
  'drop the latest checkpoint': (d) => {
    const n = countFiles(d, 'checkpoints');
    rmSync(checkpointPath(d, n));
    return `checkpoint ${n}`;
  },
  'alter a checkpoint field': (d) => {
    const n = rand.between(1, countFiles(d, 'checkpoints'));
    const cp = readJson(checkpointPath(d, n));
    const field = rand.pick(['treeSize', 'rootHash', 'timestamp', 'keyId']);
    const altered = {
      treeSize: (cp.treeSize as number) + rand.pick([-1, 1, 2, 7]),
      rootHash: createHash('sha256').update(String(rand.int(1e9))).digest('hex'),
      timestamp: new Date(Date.parse(cp.timestamp as string) + rand.between(1, 1e8)).toISOString(),
      keyId: createHash('sha256').update(String(rand.int(1e9))).digest('hex').slice(0, 16),
    }[field];
    writeCanonical(checkpointPath(d, n), { ...cp, [field]: altered });
    return `checkpoint ${n} ${field}`;
  },
  'replace a checkpoint signature': (d) => {
    const count = countFiles(d, 'checkpoints');
    const n = rand.between(1, count);
    const cp = readJson(checkpointPath(d, n)) as unknown as Checkpoint;
    const how = rand.pick(['random', 'another checkpoint', 'attacker key']);
    const other = readJson(checkpointPath(d, ((n + rand.between(0, count - 2)) % count) + 1)).signature as string;
    const signature =
      how === 'random'
        ? Buffer.from(Array.from({ length: 64 }, () => rand.int(256))).toString('base64')
        : how === 'another checkpoint'
          ? other
          : sign(null, Buffer.from(checkpointText(cp)), attackerKey).toString('base64');
    writeCanonical(checkpointPath(d, n), { ...cp, signature });
    return `checkpoint ${n} (${how})`;
  },
  'edit a leaf index field': (d) => {
    const n = rand.between(1, countFiles(d, 'leaves'));
    const index = rand.pick([n - 1, n + 1, n + rand.between(2, 60), 1]);
    writeCanonical(leafPath(d, n), { ...readJson(leafPath(d, n)), index });
    return `leaf ${n} -> ${index}`;
  },
  'edit an index.json entry': (d) => {
    const map = readJson(join(d, 'index.json'));
    const jobId = rand.pick(Object.keys(map));
    const edits: Record<string, () => void> = {
      renumber: () => (map[jobId] = rand.between(1, 60)),
      remove: () => delete map[jobId],
      add: () => (map[`forged:${rand.int(1000)}`] = rand.between(1, 50)),
    };
    const how = rand.pick(Object.keys(edits));
    edits[how]!();
    writeCanonical(join(d, 'index.json'), map);
    return `${how} ${jobId}`;
  },
  'edit a hashed leaf field': (d) => {
    const n = rand.between(1, countFiles(d, 'leaves'));
    const leaf = readJson(leafPath(d, n));
    const field = rand.pick(['jobId', 'runId', 'closedAt', 'payload']);
    if (field === 'closedAt') leaf.closedAt = new Date(Date.parse(leaf.closedAt as string) - rand.between(1, 1e7)).toISOString();
    else if (field === 'payload') {
      leaf.payload = { status: 'Completed', rewritten: rand.int(1000) };
      leaf.payloadHash = hashOf(leaf.payload); // a forger keeps the payload hash consistent
    } else leaf[field] = `${leaf[field] as string}-x`;
    writeCanonical(leafPath(d, n), leaf);
    return `leaf ${n} ${field}`;
  },
};

test('the untouched archive and a fresh copy of it verify, with and without the trusted checkpoint', async () => {
  assert.deepEqual(await verifyArchive(base, { publicKey }), { ok: true, treeSize: 50, root: trusted.rootHash });
  assert.equal((await verifyArchive(base, { publicKey, trustedCheckpoint: trusted })).ok, true);
  const copy = join(scratch, 'untouched');
  cpSync(base, copy, { recursive: true });
  assert.equal((await verifyArchive(copy, { publicKey, trustedCheckpoint: trusted })).ok, true);
  assert.equal(countFiles(base, 'checkpoints'), BATCHES.length);
  rmSync(copy, { recursive: true });
});

test(`${MUTATIONS} random mutations (seed ${SEED}) are all detected`, async (t) => {
  const names = Object.keys(kinds);
  const tally = new Map(names.map((name) => [name, { applied: 0, detected: 0, withoutTrusted: 0 }]));
  const missed: string[] = [];
  const missedWithoutTrusted = new Set<string>();
  let applied = 0;
  let redrawn = 0;
  const started = Date.now();
  while (applied < MUTATIONS) {
    const kind = rand.pick(names);
    const work = join(scratch, `m${applied}`);
    cpSync(base, work, { recursive: true });
    const unchanged = fingerprint(work);
    const what = kinds[kind]!(work);
    if (fingerprint(work) === unchanged) {
      redrawn++;
      rmSync(work, { recursive: true });
      continue;
    }
    applied++;
    const row = tally.get(kind)!;
    row.applied++;
    const result = await verifyArchive(work, { publicKey, trustedCheckpoint: trusted });
    if (result.ok) missed.push(`#${applied} ${kind}: ${what}`);
    else row.detected++;
    // For the record: what the archive alone (no trusted checkpoint) catches.
    if (!(await verifyArchive(work, { publicKey })).ok) row.withoutTrusted++;
    else missedWithoutTrusted.add(kind);
    rmSync(work, { recursive: true });
  }
  const detected = [...tally.values()].reduce((sum, row) => sum + row.detected, 0);
  const withoutTrusted = [...tally.values()].reduce((sum, row) => sum + row.withoutTrusted, 0);
  const summary = [
    `audit mutation test (seed ${SEED}): detected ${detected} of ${applied} mutations (${((100 * detected) / applied).toFixed(1)}%), ` +
      `${redrawn} no-op draws redrawn, ${((Date.now() - started) / 1000).toFixed(1)}s`,
    `  without the trusted checkpoint: ${withoutTrusted} of ${applied}`,
    ...[...tally].map(([name, row]) => `  ${name.padEnd(44)} ${row.detected}/${row.applied} (no trusted: ${row.withoutTrusted})`),
  ];
  for (const line of summary) t.diagnostic(line);
  assert.deepEqual(missed, []);
  assert.equal(detected, applied);
  assert.ok(applied >= 1000);
  for (const row of tally.values()) assert.ok(row.applied > 0, 'every kind was drawn');
  // Only a clean rollback needs the trusted checkpoint; the archive alone catches everything else.
  assert.deepEqual([...missedWithoutTrusted], [...missedWithoutTrusted].filter((k) => k === 'roll back to an earlier checkpoint'));
});
