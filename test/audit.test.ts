/**
 * The audit archive: RFC 9162 hashing against published vectors and a naive recursive reference, proof
 * verifiers against a hostile prover, and the archive format end to end through `jobledger audit` (intact,
 * each kind of tampering named, incremental append, pruning, inclusion proofs, keys). No servers needed.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import {
  ArchiveBusyError,
  ArchiveCorruptError,
  appendLeaves,
  checkpointText,
  generateKeyPair,
  keyIdOf,
  proveInclusion,
  pruneArchive,
  signerFrom,
  verifyArchive,
  verifyInclusionProof,
  type AuditEntry,
  type AuditSigner,
  type Checkpoint,
} from '../audit/archive';
import { main } from '../client/cli';
import {
  consistencyProof,
  inclusionProof,
  leafHash,
  prefixRoots,
  rootOf,
  verifyConsistency,
  verifyInclusion,
} from '../audit/merkle';
import { canonicalJson, hashOf } from '../core/canonical';

// ---------------------------------------------------------------------------------------------------
// A naive reference, transcribed from the RFC's recursive definitions (over leaf data, with slices).

const sha = (...parts: Uint8Array[]) => createHash('sha256').update(Buffer.concat(parts)).digest();
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

function refSplit(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}
function refMth(d: Buffer[]): Buffer {
  if (d.length === 0) return sha();
  if (d.length === 1) return sha(Buffer.from([0]), d[0]!);
  const k = refSplit(d.length);
  return sha(Buffer.from([1]), refMth(d.slice(0, k)), refMth(d.slice(k)));
}
function refPath(m: number, d: Buffer[]): Buffer[] {
  if (d.length === 1) return [];
  const k = refSplit(d.length);
  return m < k ? [...refPath(m, d.slice(0, k)), refMth(d.slice(k))] : [...refPath(m - k, d.slice(k)), refMth(d.slice(0, k))];
}
function refSubproof(m: number, d: Buffer[], complete: boolean): Buffer[] {
  if (m === d.length) return complete ? [] : [refMth(d)];
  const k = refSplit(d.length);
  return m <= k
    ? [...refSubproof(m, d.slice(0, k), complete), refMth(d.slice(k))]
    : [...refSubproof(m - k, d.slice(k), false), refMth(d.slice(0, k))];
}

/** The eight leaves of the Certificate Transparency reference tests, and the published roots. */
const CT_DATA = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'].map((h) => Buffer.from(h, 'hex'));
const CT_ROOTS = [
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];

/** Distinct leaf data for bigger trees. */
const data = (n: number) => Array.from({ length: n }, (_, i) => Buffer.from(`leaf-${i}`));
const hashesOf = (d: Buffer[]) => d.map((x) => leafHash(x));

test('RFC 9162 vectors: the empty tree is SHA-256 of the empty string, one leaf is SHA-256(0x00 || data)', () => {
  assert.equal(hex(rootOf([])), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  assert.equal(hex(leafHash(Buffer.alloc(0))), CT_ROOTS[0]);
  assert.equal(hex(rootOf([leafHash(Buffer.from('x'))])), hex(sha(Buffer.from([0]), Buffer.from('x'))));
});

test('RFC 9162 vectors: roots of sizes 1..8 match the published values and the naive reference', () => {
  const hashes = hashesOf(CT_DATA);
  for (let n = 1; n <= 8; n++) {
    assert.equal(hex(rootOf(hashes.slice(0, n))), CT_ROOTS[n - 1], `size ${n}`);
    assert.equal(hex(refMth(CT_DATA.slice(0, n))), CT_ROOTS[n - 1], `reference, size ${n}`);
  }
});

test('RFC 9162 vectors: inclusion and consistency proofs for sizes 1..8 equal the naive reference', () => {
  const hashes = hashesOf(CT_DATA);
  // Two published audit paths of the 8-leaf tree.
  assert.deepEqual(inclusionProof(0, hashes).map(hex), [
    '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
    '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
    '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
  ]);
  assert.deepEqual(inclusionProof(5, hashes).map(hex), [
    'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
    'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  ]);
  for (let n = 1; n <= 8; n++) {
    const d = CT_DATA.slice(0, n);
    for (let i = 0; i < n; i++) assert.deepEqual(inclusionProof(i, hashes.slice(0, n)).map(hex), refPath(i, d).map(hex), `path ${i} of ${n}`);
    for (let m = 1; m <= n; m++) assert.deepEqual(consistencyProof(m, hashes.slice(0, n)).map(hex), refSubproof(m, d, true).map(hex), `proof ${m}..${n}`);
  }
});

test('inclusion proofs verify for every index of every size 1..33, and match the reference', () => {
  let checked = 0;
  for (let n = 1; n <= 33; n++) {
    const d = data(n);
    const hashes = hashesOf(d);
    const root = rootOf(hashes);
    assert.equal(hex(root), hex(refMth(d)));
    for (let i = 0; i < n; i++) {
      const proof = inclusionProof(i, hashes);
      assert.deepEqual(proof.map(hex), refPath(i, d).map(hex));
      assert.equal(verifyInclusion({ leafHash: hashes[i]!, index: i, treeSize: n, proof, root }), true, `leaf ${i} of ${n}`);
      checked++;
    }
  }
  assert.equal(checked, (33 * 34) / 2);
});

test('consistency proofs verify for all pairs 1 <= m <= n <= 20, and match the reference', () => {
  let checked = 0;
  for (let n = 1; n <= 20; n++) {
    const d = data(n);
    const hashes = hashesOf(d);
    for (let m = 1; m <= n; m++) {
      const proof = consistencyProof(m, hashes);
      assert.deepEqual(proof.map(hex), refSubproof(m, d, true).map(hex));
      const ok = verifyConsistency({ oldSize: m, newSize: n, oldRoot: rootOf(hashes.slice(0, m)), newRoot: rootOf(hashes), proof });
      assert.equal(ok, true, `${m} -> ${n}`);
      checked++;
    }
  }
  assert.equal(checked, (20 * 21) / 2);
});

test('prefixRoots gives the root of every prefix in one pass', () => {
  const hashes = hashesOf(data(33));
  const roots = prefixRoots(hashes, Array.from({ length: 34 }, (_, i) => i));
  for (let n = 0; n <= 33; n++) assert.equal(hex(roots.get(n)!), hex(rootOf(hashes.slice(0, n))), `size ${n}`);
});

// ---------------------------------------------------------------------------------------------------
// Hostile prover

const flipBit = (b: Uint8Array, bit: number) => {
  const copy = Buffer.from(b);
  copy[bit >> 3]! ^= 1 << (bit & 7);
  return copy;
};
const OTHER = leafHash(Buffer.from('not in any tree'));
const MAX_N = 12;

/** Every (index, size) of trees up to MAX_N leaves, with the honest proof and the root of every size. */
function inclusionCases() {
  const hashes = hashesOf(data(MAX_N + 4));
  const roots = Array.from({ length: hashes.length + 1 }, (_, n) => rootOf(hashes.slice(0, n)));
  const cases = [];
  for (let n = 1; n <= MAX_N; n++) {
    for (let i = 0; i < n; i++) {
      cases.push({ leafHash: hashes[i]!, index: i, treeSize: n, proof: inclusionProof(i, hashes.slice(0, n)), root: roots[n]!, roots });
    }
  }
  return cases;
}

function consistencyCases() {
  const hashes = hashesOf(data(MAX_N + 4));
  const roots = Array.from({ length: hashes.length + 1 }, (_, n) => rootOf(hashes.slice(0, n)));
  const cases = [];
  for (let n = 1; n <= MAX_N; n++) {
    for (let m = 1; m <= n; m++) {
      cases.push({ oldSize: m, newSize: n, oldRoot: roots[m]!, newRoot: roots[n]!, proof: consistencyProof(m, hashes.slice(0, n)), roots });
    }
  }
  return cases;
}

/** Asserts that every variant fails and that at least one variant was tried. */
function assertAllFail<T>(variants: Iterable<T>, verify: (v: T) => boolean, what: string): number {
  let tried = 0;
  for (const v of variants) {
    tried++;
    assert.equal(verify(v), false, `${what}: ${JSON.stringify(v, (_k, x) => (x?.type === 'Buffer' ? hex(Buffer.from(x.data)) : x))}`);
  }
  assert.ok(tried > 0, `${what}: no variant tried`);
  return tried;
}

test('hostile inclusion proof: a single-bit flip in any proof node fails', (t) => {
  let rejected = 0;
  const variants = inclusionCases().flatMap((c) =>
    c.proof.flatMap((_, j) => Array.from({ length: 256 }, (_, bit) => ({ ...c, proof: c.proof.map((p, k) => (k === j ? flipBit(p, bit) : p)) }))),
  );
  rejected += assertAllFail(variants, verifyInclusion, 'flipped node');
  t.diagnostic(`${rejected} corrupted proofs rejected`);
});

test('hostile inclusion proof: a single-bit flip in the leaf hash or in the root fails', (t) => {
  let rejected = 0;
  const cases = inclusionCases();
  rejected += assertAllFail(cases.flatMap((c) => Array.from({ length: 256 }, (_, bit) => ({ ...c, leafHash: flipBit(c.leafHash, bit) }))), verifyInclusion, 'flipped leaf');
  rejected += assertAllFail(cases.flatMap((c) => Array.from({ length: 256 }, (_, bit) => ({ ...c, root: flipBit(c.root, bit) }))), verifyInclusion, 'flipped root');
  t.diagnostic(`${rejected} corrupted proofs rejected`);
});

test('hostile inclusion proof: a wrong index fails (every other index, negative, too big, fractional, NaN)', (t) => {
  let rejected = 0;
  const bad = [-1, 2 ** 53, Number.MAX_SAFE_INTEGER, 0.5, Number.NaN, Infinity];
  const variants = inclusionCases().flatMap((c) => [
    ...Array.from({ length: c.treeSize + 2 }, (_, j) => j).filter((j) => j !== c.index).map((index) => ({ ...c, index })),
    ...bad.map((index) => ({ ...c, index })),
  ]);
  rejected += assertAllFail(variants, verifyInclusion, 'wrong index');
  t.diagnostic(`${rejected} corrupted proofs rejected`);
});

test('hostile inclusion proof: a wrong tree size fails against that size\'s root, and a wrong root fails', (t) => {
  let rejected = 0;
  // The size and the root come together from a signed checkpoint, so a proof for one tree is checked
  // against another size's genuine root.
  const cases = inclusionCases();
  const sizes = cases.flatMap((c) =>
    [...Array.from({ length: MAX_N + 4 }, (_, k) => k + 1), 0, -1, 2 ** 53].filter((n) => n !== c.treeSize).map((treeSize) => ({ ...c, treeSize, root: c.roots[treeSize] ?? c.root })),
  );
  rejected += assertAllFail(sizes, verifyInclusion, 'wrong size');
  const roots = cases.flatMap((c) => [...c.roots.filter((_, n) => n !== c.treeSize), OTHER].map((root) => ({ ...c, root })));
  rejected += assertAllFail(roots, verifyInclusion, 'wrong root');
  t.diagnostic(`${rejected} corrupted proofs rejected`);
});

test('hostile inclusion proof: an added node, a removed node, a truncated path or a reordered path fails', (t) => {
  let rejected = 0;
  const cases = inclusionCases();
  const added = cases.flatMap((c) =>
    Array.from({ length: c.proof.length + 1 }, (_, at) => [OTHER, c.leafHash, c.root].map((extra) => ({ ...c, proof: [...c.proof.slice(0, at), extra, ...c.proof.slice(at)] }))).flat(),
  );
  rejected += assertAllFail(added, verifyInclusion, 'added node');
  const removed = cases.flatMap((c) => c.proof.map((_, at) => ({ ...c, proof: c.proof.filter((_, k) => k !== at) })));
  rejected += assertAllFail(removed, verifyInclusion, 'removed node');
  const truncated = cases.flatMap((c) => Array.from({ length: c.proof.length }, (_, keep) => ({ ...c, proof: c.proof.slice(0, keep) })));
  rejected += assertAllFail(truncated, verifyInclusion, 'truncated');
  const reordered = cases.filter((c) => c.proof.length >= 2).map((c) => ({ ...c, proof: [...c.proof].reverse() }));
  rejected += assertAllFail(reordered, verifyInclusion, 'reordered');
  t.diagnostic(`${rejected} corrupted proofs rejected`);
});

test('hostile inclusion proof: garbage input is rejected without throwing', () => {
  const c = inclusionCases()[20]!;
  const garbage: unknown[] = [
    undefined,
    null,
    {},
    { ...c, proof: undefined },
    { ...c, proof: 'deadbeef' },
    { ...c, proof: [Buffer.alloc(31)] },
    { ...c, proof: [...c.proof, Buffer.alloc(33)] },
    { ...c, proof: [...c.proof.slice(0, -1), hex(c.proof.at(-1)!)] },
    { ...c, leafHash: Buffer.alloc(0) },
    { ...c, leafHash: hex(c.leafHash) },
    { ...c, root: Buffer.alloc(64) },
    { ...c, root: null },
    { ...c, treeSize: '12' },
    { ...c, index: '3' },
    { ...c, proof: Array.from({ length: 100 }, () => OTHER) },
    { ...c, treeSize: 0, index: 0, proof: [] },
  ];
  for (const g of garbage) assert.equal(verifyInclusion(g as never), false);
});

test('hostile consistency proof: a single-bit flip in any node, the old root or the new root fails', (t) => {
  let rejected = 0;
  const cases = consistencyCases();
  const nodes = cases.flatMap((c) =>
    c.proof.flatMap((_, j) => Array.from({ length: 256 }, (_, bit) => ({ ...c, proof: c.proof.map((p, k) => (k === j ? flipBit(p, bit) : p)) }))),
  );
  rejected += assertAllFail(nodes, verifyConsistency, 'flipped node');
  rejected += assertAllFail(cases.flatMap((c) => Array.from({ length: 256 }, (_, bit) => ({ ...c, oldRoot: flipBit(c.oldRoot, bit) }))), verifyConsistency, 'flipped old root');
  rejected += assertAllFail(cases.flatMap((c) => Array.from({ length: 256 }, (_, bit) => ({ ...c, newRoot: flipBit(c.newRoot, bit) }))), verifyConsistency, 'flipped new root');
  t.diagnostic(`${rejected} corrupted proofs rejected`);
});

test('hostile consistency proof: wrong old or new sizes (with their genuine roots) and wrong roots fail', (t) => {
  let rejected = 0;
  const cases = consistencyCases();
  const all = Array.from({ length: MAX_N + 5 }, (_, k) => k - 1); // -1 .. MAX_N + 3
  const oldSizes = cases.flatMap((c) => all.filter((m) => m !== c.oldSize).map((oldSize) => ({ ...c, oldSize, oldRoot: c.roots[oldSize] ?? c.oldRoot })));
  rejected += assertAllFail(oldSizes, verifyConsistency, 'wrong old size');
  const newSizes = cases.flatMap((c) => all.filter((n) => n !== c.newSize).map((newSize) => ({ ...c, newSize, newRoot: c.roots[newSize] ?? c.newRoot })));
  rejected += assertAllFail(newSizes, verifyConsistency, 'wrong new size');
  const oldRoots = cases.flatMap((c) => [...c.roots.filter((r) => !r.equals(c.oldRoot)), OTHER].map((oldRoot) => ({ ...c, oldRoot })));
  rejected += assertAllFail(oldRoots, verifyConsistency, 'wrong old root');
  const newRoots = cases.flatMap((c) => [...c.roots.filter((r) => !r.equals(c.newRoot)), OTHER].map((newRoot) => ({ ...c, newRoot })));
  rejected += assertAllFail(newRoots, verifyConsistency, 'wrong new root');
  t.diagnostic(`${rejected} corrupted proofs rejected`);
});

test('hostile consistency proof: an added node, a removed node, a truncated or reordered proof fails', (t) => {
  let rejected = 0;
  const cases = consistencyCases();
  const added = cases.flatMap((c) =>
    Array.from({ length: c.proof.length + 1 }, (_, at) => [OTHER, c.oldRoot, c.newRoot].map((extra) => ({ ...c, proof: [...c.proof.slice(0, at), extra, ...c.proof.slice(at)] }))).flat(),
  );
  rejected += assertAllFail(added, verifyConsistency, 'added node');
  const removed = cases.flatMap((c) => c.proof.map((_, at) => ({ ...c, proof: c.proof.filter((_, k) => k !== at) })));
  rejected += assertAllFail(removed, verifyConsistency, 'removed node');
  const truncated = cases.flatMap((c) => Array.from({ length: c.proof.length }, (_, keep) => ({ ...c, proof: c.proof.slice(0, keep) })));
  rejected += assertAllFail(truncated, verifyConsistency, 'truncated');
  const reordered = cases.filter((c) => c.proof.length >= 2).map((c) => ({ ...c, proof: [...c.proof].reverse() }));
  rejected += assertAllFail(reordered, verifyConsistency, 'reordered');
  t.diagnostic(`${rejected} corrupted proofs rejected`);
});

test('hostile consistency proof: garbage input is rejected without throwing', () => {
  const c = consistencyCases().find((x) => x.oldSize === 3 && x.newSize === 7)!;
  const garbage: unknown[] = [
    undefined,
    {},
    { ...c, proof: null },
    { ...c, proof: [Buffer.alloc(31)] },
    { ...c, proof: c.proof.map(hex) },
    { ...c, oldRoot: 'x' },
    { ...c, newRoot: Buffer.alloc(16) },
    { ...c, oldSize: 8, newSize: 7 },
    { ...c, oldSize: -3 },
    { ...c, newSize: 2 ** 60 },
    { ...c, oldSize: 0, proof: [] },
    { ...c, proof: Array.from({ length: 200 }, () => OTHER) },
  ];
  for (const g of garbage) assert.equal(verifyConsistency(g as never), false);
});

// ---------------------------------------------------------------------------------------------------
// The archive

const tempDirs: string[] = [];
after(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'jobledger-audit-'));
  tempDirs.push(dir);
  return dir;
}

function entry(i: number): AuditEntry {
  return {
    jobId: `order.fulfill:o-${i}`,
    runId: `run-${i}`,
    closedAt: new Date(Date.UTC(2024, 0, i, 12)).toISOString(),
    payload: { status: i % 4 === 0 ? 'Compensated' : 'Completed', steps: ['reserve', 'charge', 'ship'], secret: `payload-secret-${i}` },
  };
}
const entries = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, k) => entry(from + k));

interface Fixture {
  root: string;
  dir: string;
  publicKeyFile: string;
  privateKeyFile: string;
  signer: AuditSigner;
}

/** A fresh archive of 12 leaves signed in three batches (checkpoints of sizes 5, 9 and 12). */
async function fixture(batches: [number, number][] = [[1, 5], [6, 9], [10, 12]]): Promise<Fixture> {
  const root = tempDir();
  const keys = await generateKeyPair(join(root, 'keys'));
  const signer = await signerFrom({ keyFile: keys.privateKeyFile });
  const dir = join(root, 'archive');
  for (const [from, to] of batches) await appendLeaves(dir, entries(from, to), signer);
  return { root, dir, publicKeyFile: keys.publicKeyFile, privateKeyFile: keys.privateKeyFile, signer };
}

/** `jobledger audit <argv...>` in this process; `text` is what it printed, results and errors. */
async function run(argv: string[]): Promise<{ code: number; text: string }> {
  let text = '';
  const code = await main(['audit', ...argv], { stdout: (s) => (text += s), stderr: (s) => (text += s) });
  return { code, text };
}

async function verifyCli(f: Fixture, ...extra: string[]) {
  return run(['verify', '--archive', f.dir, '--public-key', f.publicKeyFile, ...extra]);
}

const leafFile = (f: Fixture, n: number) => join(f.dir, 'leaves', `${String(n).padStart(12, '0')}.json`);
const checkpointFile = (f: Fixture, n: number) => join(f.dir, 'checkpoints', `${String(n).padStart(6, '0')}.json`);
const readJson = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
const readAs = <T>(path: string) => JSON.parse(readFileSync(path, 'utf8')) as T;
const writeCanonical = (path: string, value: unknown) => writeFileSync(path, `${canonicalJson(value)}\n`);

test('archive: an intact archive verifies (exit 0) and reports its size and root', async () => {
  const f = await fixture();
  const r = await verifyCli(f);
  assert.equal(r.code, 0, r.text);
  assert.match(r.text, /intact: 12 leaves/);
  const json = await verifyCli(f, '--json');
  const result = JSON.parse(json.text);
  assert.equal(result.ok, true);
  assert.equal(result.treeSize, 12);
  assert.equal(result.root, readAs<Checkpoint>(checkpointFile(f, 3)).rootHash);
  assert.deepEqual(readdirSync(join(f.dir, 'checkpoints')), ['000001.json', '000002.json', '000003.json']);
});

test('tampering: a modified leaf is named (payload edit) or its checkpoint is named (hashed field edit)', async () => {
  const f = await fixture();
  const leaf = readJson(leafFile(f, 7));
  writeCanonical(leafFile(f, 7), { ...leaf, payload: { ...(leaf.payload as object), status: 'Failed' } });
  const r = await verifyCli(f);
  assert.equal(r.code, 1);
  assert.match(r.text, /leaf 7 \(leaves\/000000000007\.json\) has a payload that does not match its payloadHash/);

  const g = await fixture();
  const payload = { refunded: true };
  writeCanonical(leafFile(g, 7), { ...readJson(leafFile(g, 7)), runId: 'run-forged', payload, payloadHash: hashOf(payload) });
  const s = await run(['verify', '--archive', g.dir, '--public-key', g.publicKeyFile, '--json']);
  assert.equal(s.code, 1);
  const result = JSON.parse(s.text);
  assert.equal(result.checkpoint, 'checkpoints/000002.json', s.text);
  assert.match(result.problem, /does not match leaves 1\.\.9; a leaf in 6\.\.9/);
});

test('tampering: a deleted leaf is named', async () => {
  const f = await fixture();
  rmSync(leafFile(f, 4));
  const r = await verifyCli(f);
  assert.equal(r.code, 1);
  assert.match(r.text, /leaf 4 \(leaves\/000000000004\.json\) is missing/);
});

test('tampering: an inserted leaf is detected, whether it shifts the others or is appended', async () => {
  const f = await fixture();
  // A careful forger: shift leaves 6..12 up by one, fixing their index fields, and insert a new leaf 6.
  for (let n = 12; n >= 6; n--) writeCanonical(leafFile(f, n + 1), { ...readJson(leafFile(f, n)), index: n + 1 });
  const forged = { ...entry(99), closedAt: new Date(Date.UTC(2024, 0, 6)).toISOString(), payload: null, payloadHash: hashOf(null) };
  writeCanonical(leafFile(f, 6), { index: 6, ...forged });
  const r = await verifyCli(f);
  assert.equal(r.code, 1);
  assert.match(r.text, /checkpoint checkpoints\/000002\.json has a root that does not match leaves 1\.\.9; a leaf in 6\.\.9/);

  const g = await fixture();
  writeCanonical(leafFile(g, 13), { index: 13, ...forged });
  const s = await verifyCli(g);
  assert.equal(s.code, 1);
  assert.match(s.text, /leaf 13 .*is not covered by any signed checkpoint/);
});

test('tampering: reordered leaves are named (raw swap) or their checkpoint is (index fields fixed)', async () => {
  const f = await fixture();
  const two = readFileSync(leafFile(f, 2));
  renameSync(leafFile(f, 3), leafFile(f, 2));
  writeFileSync(leafFile(f, 3), two);
  const r = await verifyCli(f);
  assert.equal(r.code, 1);
  assert.match(r.text, /leaf 2 .*has index 3/);

  const g = await fixture();
  const a = readJson(leafFile(g, 2));
  const b = readJson(leafFile(g, 3));
  writeCanonical(leafFile(g, 2), { ...b, index: 2 });
  writeCanonical(leafFile(g, 3), { ...a, index: 3 });
  const s = await verifyCli(g);
  assert.equal(s.code, 1);
  assert.match(s.text, /checkpoint checkpoints\/000001\.json has a root that does not match leaves 1\.\.5/);
});

test('tampering: truncation is named (the checkpoint and the first missing leaf)', async () => {
  const f = await fixture();
  rmSync(leafFile(f, 12));
  rmSync(leafFile(f, 11));
  const r = await run(['verify', '--archive', f.dir, '--public-key', f.publicKeyFile, '--json']);
  assert.equal(r.code, 1);
  const result = JSON.parse(r.text);
  assert.equal(result.checkpoint, 'checkpoints/000003.json');
  assert.equal(result.leaf, 11);
  assert.match(result.problem, /covers 12 leaves but only 10 exist: leaf 11 is missing/);
});

test('tampering: rollback to an older checkpoint is caught with a trusted checkpoint', async () => {
  const f = await fixture();
  const trustedFile = join(f.root, 'trusted.json');
  writeFileSync(trustedFile, readFileSync(checkpointFile(f, 3)));
  // Roll back to the state of checkpoint 2: self-consistent, so only the trusted copy can tell.
  rmSync(checkpointFile(f, 3));
  for (const n of [10, 11, 12]) rmSync(leafFile(f, n));
  const index = readAs<Record<string, number>>(join(f.dir, 'index.json'));
  writeCanonical(join(f.dir, 'index.json'), Object.fromEntries(Object.entries(index).filter(([, n]) => n <= 9)));
  assert.equal((await verifyCli(f)).code, 0, 'without a trusted checkpoint a clean rollback is invisible');
  const r = await verifyCli(f, '--trusted-checkpoint', trustedFile);
  assert.equal(r.code, 1);
  assert.match(r.text, /rollback: the trusted checkpoint covers 12 leaves, but the latest checkpoint checkpoints\/000002\.json covers only 9/);
});

test('tampering: rewritten history re-signed with the real key is caught by an older trusted checkpoint', async () => {
  const f = await fixture();
  const trusted = readAs<Checkpoint>(checkpointFile(f, 2));
  // Someone with the key rebuilds the archive from leaf 3 on, with different content.
  const g = join(f.root, 'rewritten');
  await appendLeaves(g, [entry(1), entry(2), { ...entry(3), payload: null }, ...entries(4, 12)], f.signer);
  const r = await verifyArchive(g, { publicKey: f.signer.publicKey, trustedCheckpoint: trusted });
  assert.equal(r.ok, false);
  assert.ok(!r.ok && r.checkpoint === 'trusted' && /history rewritten: leaves 1\.\.9/.test(r.problem), JSON.stringify(r));
  assert.equal((await verifyArchive(f.dir, { publicKey: f.signer.publicKey, trustedCheckpoint: trusted })).ok, true);
});

test('tampering: a forged or replaced signature names the checkpoint', async () => {
  const f = await fixture();
  const attacker = generateKeyPairSync('ed25519').privateKey;
  const cp = readAs<Checkpoint>(checkpointFile(f, 2));
  const forged = { ...cp, treeSize: cp.treeSize, signature: sign(null, Buffer.from(checkpointText(cp)), attacker).toString('base64') };
  writeCanonical(checkpointFile(f, 2), forged);
  const r = await verifyCli(f);
  assert.equal(r.code, 1);
  assert.match(r.text, /checkpoint checkpoints\/000002\.json has a signature that does not verify/);

  const g = await fixture();
  const other = await signerFrom({ keyFile: (await generateKeyPair(join(g.root, 'other'))).privateKeyFile });
  const cp3 = readAs<Checkpoint>(checkpointFile(g, 3));
  const unsigned = { treeSize: cp3.treeSize, rootHash: cp3.rootHash, timestamp: cp3.timestamp, keyId: other.keyId };
  writeCanonical(checkpointFile(g, 3), { ...unsigned, signature: other.sign(checkpointText(unsigned)) });
  const s = await verifyCli(g);
  assert.equal(s.code, 1);
  assert.match(s.text, new RegExp(`checkpoint checkpoints/000003\\.json is signed by key ${other.keyId}, not by the given key ${g.signer.keyId}`));
});

test('tampering: a correctly signed checkpoint that does not match its tree is named', async () => {
  const f = await fixture();
  const cp = readAs<Checkpoint>(checkpointFile(f, 2));
  const unsigned = { treeSize: cp.treeSize, rootHash: createHash('sha256').update('another tree').digest('hex'), timestamp: cp.timestamp, keyId: cp.keyId };
  writeCanonical(checkpointFile(f, 2), { ...unsigned, signature: f.signer.sign(checkpointText(unsigned)) });
  const r = await verifyCli(f);
  assert.equal(r.code, 1);
  assert.match(r.text, /checkpoint checkpoints\/000002\.json has a root that does not match leaves 1\.\.9/);
});

test('tampering: checkpoints out of size order, a missing checkpoint and a bad index.json are named', async () => {
  const f = await fixture();
  const two = readFileSync(checkpointFile(f, 2));
  writeFileSync(checkpointFile(f, 2), readFileSync(checkpointFile(f, 3)));
  writeFileSync(checkpointFile(f, 3), two);
  const r = await verifyCli(f);
  assert.equal(r.code, 1);
  assert.match(r.text, /checkpoint checkpoints\/000003\.json has treeSize 9, smaller than the 12/);

  const g = await fixture();
  rmSync(checkpointFile(g, 2));
  assert.match((await verifyCli(g)).text, /checkpoint checkpoints\/000002\.json is missing/);

  const h = await fixture();
  const index = readAs<Record<string, number>>(join(h.dir, 'index.json'));
  writeCanonical(join(h.dir, 'index.json'), { ...index, [entry(3).jobId]: 4 });
  const s = await verifyCli(h);
  assert.equal(s.code, 1);
  assert.match(s.text, /index\.json does not map jobId "order\.fulfill:o-3" to its leaf 3/);
});

test('incremental append adds only new jobs and signs a checkpoint only when something was added', async () => {
  const root = tempDir();
  const signer = await signerFrom({ keyFile: (await generateKeyPair(join(root, 'keys'))).privateKeyFile });
  const dir = join(root, 'archive');
  const first = await appendLeaves(dir, entries(1, 5), signer);
  assert.deepEqual([first.added, first.treeSize, first.checkpoint?.treeSize], [5, 5, 5]);
  const second = await appendLeaves(dir, [...entries(3, 8), entry(8)], signer);
  assert.deepEqual([second.added, second.treeSize, second.checkpoint?.treeSize], [3, 8, 8]);
  const third = await appendLeaves(dir, entries(1, 8), signer);
  assert.deepEqual([third.added, third.treeSize], [0, 8]);
  assert.deepEqual(third.checkpoint, second.checkpoint, 'no new checkpoint when nothing was added');
  assert.deepEqual(readdirSync(join(dir, 'checkpoints')), ['000001.json', '000002.json']);
  const ids = readdirSync(join(dir, 'leaves')).map((name) => readAs<{ jobId: string }>(join(dir, 'leaves', name)).jobId);
  assert.deepEqual(ids, entries(1, 8).map((e) => e.jobId));
  assert.deepEqual(readJson(join(dir, 'index.json')), Object.fromEntries(ids.map((id, i) => [id, i + 1])));
  assert.equal((await verifyArchive(dir, { publicKey: signer.publicKey })).ok, true);
  await assert.rejects(appendLeaves(dir, [{ ...entry(9), closedAt: 'not a date' }], signer), /entries\[0\]: closedAt is not a date/);
});

test('append recovers from an interrupted append and refuses to extend a damaged archive', async () => {
  const f = await fixture();
  // An append that wrote leaf 13 and died before signing.
  writeCanonical(leafFile(f, 13), { index: 13, ...entry(13), closedAt: entry(13).closedAt as string, payloadHash: hashOf(entry(13).payload) });
  assert.equal((await verifyCli(f)).code, 1);
  const result = await appendLeaves(f.dir, [entry(13), entry(14)], f.signer);
  assert.deepEqual([result.discarded, result.added, result.treeSize], [1, 2, 14]);
  assert.equal((await verifyCli(f)).code, 0);

  rmSync(leafFile(f, 3));
  await assert.rejects(appendLeaves(f.dir, [entry(15)], f.signer), (err: unknown) => err instanceof ArchiveCorruptError && err.detail.leaf === 3);
});

test('append takes a lock: a live holder makes it fail, a dead holder\'s lock is taken over', async () => {
  const f = await fixture();
  const lock = join(f.dir, '.lock');
  writeFileSync(lock, `${(await import('node:os')).hostname()} ${process.pid}\n`);
  await assert.rejects(appendLeaves(f.dir, [entry(13)], f.signer), ArchiveBusyError);
  const dead = spawnSync(process.execPath, ['-e', '']).pid;
  writeFileSync(lock, `${(await import('node:os')).hostname()} ${dead}\n`);
  assert.equal((await appendLeaves(f.dir, [entry(13)], f.signer)).added, 1);
  assert.deepEqual(readdirSync(f.dir).filter((n) => n.startsWith('.')), [], 'no lock or temporary file left behind');
});

test('prune drops old payloads, keeps their hashes, and the archive still verifies', async () => {
  const f = await fixture();
  const before = new Date(Date.UTC(2024, 0, 8)); // leaves 1..7 closed earlier
  const r = await run(['prune', '--archive', f.dir, '--before', before.toISOString()]);
  assert.equal(r.code, 0, r.text);
  assert.match(r.text, /pruned the payloads of 7 leaves/);
  for (let n = 1; n <= 12; n++) {
    const leaf = readJson(leafFile(f, n));
    const text = readFileSync(leafFile(f, n), 'utf8');
    if (n <= 7) {
      assert.equal(leaf.payload, null);
      assert.equal(leaf.payloadHash, hashOf(entry(n).payload));
      assert.ok(!text.includes(`payload-secret-${n}"`), `leaf ${n} still holds payload data`);
    } else {
      assert.ok(text.includes(`payload-secret-${n}"`), `leaf ${n} lost its payload`);
    }
  }
  assert.equal((await verifyCli(f)).code, 0);
  assert.equal(await pruneArchive(f.dir, { before }), 0, 'pruning again changes nothing');
  const proof = await proveInclusion(f.dir, entry(2).jobId);
  assert.deepEqual(verifyInclusionProof(proof, readFileSync(f.publicKeyFile, 'utf8')), { ok: true });
  assert.equal((await run(['prune', '--archive', f.dir, '--before', 'last tuesday'])).code, 2);
  assert.equal((await run(['prune', '--archive', f.dir, '--before', '2024-13-45'])).code, 2);
});

test('an inclusion proof from `prove` verifies stand-alone and fails after a bit flip in any of its parts', async () => {
  const f = await fixture();
  const publicKey = readFileSync(f.publicKeyFile, 'utf8');
  const r = await run(['prove', entry(6).jobId, '--archive', f.dir, '--json']);
  assert.equal(r.code, 0, r.text);
  const proof = JSON.parse(r.text);
  assert.deepEqual([proof.jobId, proof.index, proof.treeSize, proof.proof.length], [entry(6).jobId, 6, 12, 4]);
  assert.deepEqual(verifyInclusionProof(proof, publicKey), { ok: true });
  rmSync(f.dir, { recursive: true }); // stand-alone: the archive is not needed

  const flipHex = (h: string, bit: number) => flipBit(Buffer.from(h, 'hex'), bit).toString('hex');
  const flipBase64 = (s: string, bit: number) => flipBit(Buffer.from(s, 'base64'), bit).toString('base64');
  const corrupted = [
    ...proof.proof.flatMap((_: string, j: number) => [0, 77, 255].map((bit) => ({ ...proof, proof: proof.proof.map((h: string, k: number) => (k === j ? flipHex(h, bit) : h)) }))),
    ...[0, 100, 255].map((bit) => ({ ...proof, leafHash: flipHex(proof.leafHash, bit) })),
    ...[0, 100, 255].map((bit) => ({ ...proof, checkpoint: { ...proof.checkpoint, rootHash: flipHex(proof.checkpoint.rootHash, bit) } })),
    ...[0, 300, 511].map((bit) => ({ ...proof, checkpoint: { ...proof.checkpoint, signature: flipBase64(proof.checkpoint.signature, bit) } })),
    { ...proof, leaf: { ...proof.leaf, runId: 'run-x' } },
    { ...proof, jobId: entry(5).jobId },
    { ...proof, index: 5 },
    { ...proof, treeSize: 13 },
    { ...proof, proof: proof.proof.slice(1) },
  ];
  for (const c of corrupted) assert.equal(verifyInclusionProof(c, publicKey).ok, false, JSON.stringify(c));
  const otherKey = generateKeyPairSync('ed25519').publicKey;
  assert.equal(verifyInclusionProof(proof, otherKey).ok, false);
  for (const g of [undefined, null, 'x', {}, { ...proof, proof: 'x' }]) assert.equal(verifyInclusionProof(g, publicKey).ok, false);
});

test('signing keys: from a file or JOBLEDGER_AUDIT_KEY (PEM or base64 DER); keyId is SHA-256 of the raw key; the private key never leaks', async () => {
  const root = tempDir();
  const keygen = await run(['keygen', '--key-dir', join(root, 'keys'), '--json']);
  assert.equal(keygen.code, 0, keygen.text);
  const keys = JSON.parse(keygen.text);
  const pem = readFileSync(keys.privateKeyFile, 'utf8');
  assert.equal(readdirSync(join(root, 'keys')).sort().join(','), 'audit-key.pem,audit-key.pub.pem');
  assert.equal((await run(['keygen', '--key-dir', join(root, 'keys')])).code, 1, 'refuses to overwrite');
  const fromFile = await signerFrom({ keyFile: keys.privateKeyFile });
  const raw = Buffer.from(fromFile.publicKey.export({ format: 'jwk' }).x!, 'base64url');
  assert.equal(fromFile.keyId, createHash('sha256').update(raw).digest('hex').slice(0, 16));
  assert.equal(keys.keyId, fromFile.keyId);
  assert.equal(keyIdOf(fromFile.publicKey), fromFile.keyId);

  const der = (await import('node:crypto')).createPrivateKey(pem).export({ format: 'der', type: 'pkcs8' }).toString('base64');
  const saved = process.env.JOBLEDGER_AUDIT_KEY;
  try {
    for (const value of [pem, der]) {
      process.env.JOBLEDGER_AUDIT_KEY = value;
      assert.equal((await signerFrom()).keyId, fromFile.keyId);
    }
    process.env.JOBLEDGER_AUDIT_KEY = 'not a key';
    await assert.rejects(signerFrom(), (err: Error) => /JOBLEDGER_AUDIT_KEY does not hold a readable private key/.test(err.message) && !err.message.includes('not a key'));
    delete process.env.JOBLEDGER_AUDIT_KEY;
    await assert.rejects(signerFrom(), /no audit signing key/);
  } finally {
    if (saved === undefined) delete process.env.JOBLEDGER_AUDIT_KEY;
    else process.env.JOBLEDGER_AUDIT_KEY = saved;
  }

  const dir = join(root, 'archive');
  await appendLeaves(dir, entries(1, 3), fromFile);
  const secret = pem.split('\n').slice(1, -2).join('');
  const everything = [
    keygen.text,
    JSON.stringify(fromFile),
    String((await import('node:util')).inspect(fromFile, { depth: 5 })),
    ...readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => readFileSync(join(e.parentPath, e.name), 'utf8')),
    (await run(['verify', '--archive', dir, '--public-key', keys.publicKeyFile])).text,
  ].join('\n');
  assert.ok(!everything.includes(secret) && !everything.includes(der) && !everything.includes('PRIVATE KEY'));
});

test('cli: bad usage exits 2, an unknown job exits 4, verify falls back to JOBLEDGER_AUDIT_KEY', async () => {
  const f = await fixture();
  assert.equal((await run([])).code, 2);
  assert.equal((await run(['frobnicate'])).code, 2);
  assert.equal((await run(['verify'])).code, 2);
  assert.equal((await run(['verify', '--archive', f.dir, '--bogus'])).code, 2);
  assert.equal((await run(['verify', '--archive', f.dir, '--public-key', join(f.root, 'missing.pem')])).code, 2);
  assert.equal((await run(['prove', entry(1).jobId])).code, 2);
  assert.equal((await run(['prune', '--archive', f.dir])).code, 2);
  assert.equal((await run(['keygen'])).code, 2);
  // One spelling of the archive directory: --archive DIR (not a positional DIR, not --dir).
  const positional = await run(['verify', f.dir, '--public-key', f.publicKeyFile]);
  assert.equal(positional.code, 2);
  assert.match(positional.text, /unexpected argument[^]*usage: jobledger audit verify --archive DIR/);
  assert.equal((await run(['prove', entry(1).jobId, '--dir', f.dir])).code, 2);
  const help = await run(['--help']);
  assert.equal(help.code, 0);
  assert.deepEqual(help.text.match(/^ {2}audit \w+/gm), ['  audit export', '  audit keygen', '  audit verify', '  audit prove', '  audit prune']);
  const missing = await run(['prove', 'order.fulfill:nope', '--archive', f.dir]);
  assert.equal(missing.code, 4);
  assert.match(missing.text, /not in the audit archive/);
  const saved = process.env.JOBLEDGER_AUDIT_KEY;
  try {
    delete process.env.JOBLEDGER_AUDIT_KEY;
    assert.equal((await run(['verify', '--archive', f.dir])).code, 2);
    process.env.JOBLEDGER_AUDIT_KEY = readFileSync(f.privateKeyFile, 'utf8');
    assert.equal((await run(['verify', '--archive', f.dir])).code, 0);
  } finally {
    if (saved === undefined) delete process.env.JOBLEDGER_AUDIT_KEY;
    else process.env.JOBLEDGER_AUDIT_KEY = saved;
  }
});
