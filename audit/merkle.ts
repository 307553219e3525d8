/**
 * Merkle tree hashing as defined by RFC 9162 (Certificate Transparency v2), section 2.1: leaf hashes,
 * the tree head (MTH) of any number of leaves, inclusion and consistency proofs, and the stand-alone
 * verifiers of section 2.1.3.2 and 2.1.4.2. Hashes are 32-byte SHA-256 digests. The proof builders take
 * the full list of leaf hashes and throw on bad arguments; the verifiers need no tree, return a boolean
 * and never throw, whatever they are given. Positions here are 0-based, as in the RFC.
 *
 * A note on what a proof binds: an inclusion or consistency proof ties a leaf (or an old root) to a
 * root; it is the signed checkpoint that ties that root to a tree size. Always take the size and the
 * root from the same signed checkpoint.
 */
import { createHash } from 'node:crypto';

/** Length in bytes of every hash in the tree. */
export const HASH_SIZE = 32;

const LEAF_PREFIX = Uint8Array.of(0x00);
const NODE_PREFIX = Uint8Array.of(0x01);

function sha256(...parts: Uint8Array[]): Buffer {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return hash.digest();
}

/** Leaf hash: SHA-256(0x00 || leaf bytes). A string is hashed as its UTF-8 bytes. */
export function leafHash(bytes: Uint8Array | string): Buffer {
  return sha256(LEAF_PREFIX, typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes);
}

/** Interior node hash: SHA-256(0x01 || left || right). */
export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  return sha256(NODE_PREFIX, left, right);
}

/** The largest power of two strictly smaller than n (n >= 2): where the RFC splits a tree of n leaves. */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** MTH of leafHashes[start, end), end > start. */
function subtreeRoot(leafHashes: readonly Uint8Array[], start: number, end: number): Buffer {
  if (end - start === 1) return Buffer.from(leafHashes[start]!);
  const k = splitPoint(end - start);
  return nodeHash(subtreeRoot(leafHashes, start, start + k), subtreeRoot(leafHashes, start + k, end));
}

/** The tree head (MTH) of the given leaf hashes. The empty tree's head is SHA-256 of the empty string. */
export function rootOf(leafHashes: readonly Uint8Array[]): Buffer {
  return leafHashes.length === 0 ? sha256() : subtreeRoot(leafHashes, 0, leafHashes.length);
}

/**
 * The tree heads of several prefixes of one list of leaf hashes (size -> root), in a single pass: the
 * pass keeps the roots of the perfect subtrees that make up the prefix read so far, largest first.
 */
export function prefixRoots(leafHashes: readonly Uint8Array[], sizes: Iterable<number>): Map<number, Buffer> {
  const wanted = new Set(sizes);
  const roots = new Map<number, Buffer>();
  if (wanted.has(0)) roots.set(0, rootOf([]));
  const stack: { hash: Buffer; leaves: number }[] = [];
  leafHashes.forEach((hash, i) => {
    let node: { hash: Buffer; leaves: number } = { hash: Buffer.from(hash), leaves: 1 };
    while (stack.length > 0 && stack[stack.length - 1]!.leaves === node.leaves) {
      const left = stack.pop()!;
      node = { hash: nodeHash(left.hash, node.hash), leaves: left.leaves * 2 };
    }
    stack.push(node);
    if (wanted.has(i + 1)) {
      let root = stack[stack.length - 1]!.hash;
      for (let j = stack.length - 2; j >= 0; j--) root = nodeHash(stack[j]!.hash, root);
      roots.set(i + 1, root);
    }
  });
  return roots;
}

/** PATH(m, D[start:end]) of RFC 9162 section 2.1.3.1. */
function auditPath(m: number, leafHashes: readonly Uint8Array[], start: number, end: number): Buffer[] {
  if (end - start === 1) return [];
  const k = splitPoint(end - start);
  if (m < k) return [...auditPath(m, leafHashes, start, start + k), subtreeRoot(leafHashes, start + k, end)];
  return [...auditPath(m - k, leafHashes, start + k, end), subtreeRoot(leafHashes, start, start + k)];
}

/** The inclusion proof (audit path) of the leaf at 0-based `index` in the tree of all `leafHashes`. */
export function inclusionProof(index: number, leafHashes: readonly Uint8Array[]): Buffer[] {
  if (!Number.isSafeInteger(index) || index < 0 || index >= leafHashes.length) {
    throw new RangeError(`leaf index ${index} is outside a tree of ${leafHashes.length} leaves`);
  }
  return auditPath(index, leafHashes, 0, leafHashes.length);
}

/** SUBPROOF(m, D[start:end], complete) of RFC 9162 section 2.1.4.1. */
function subproof(m: number, leafHashes: readonly Uint8Array[], start: number, end: number, complete: boolean): Buffer[] {
  const n = end - start;
  if (m === n) return complete ? [] : [subtreeRoot(leafHashes, start, end)];
  const k = splitPoint(n);
  if (m <= k) return [...subproof(m, leafHashes, start, start + k, complete), subtreeRoot(leafHashes, start + k, end)];
  return [...subproof(m - k, leafHashes, start + k, end, false), subtreeRoot(leafHashes, start, start + k)];
}

/**
 * The consistency proof that the tree of the first `oldSize` leaves is a prefix of the tree of all
 * `leafHashes`. Needs 1 <= oldSize <= leafHashes.length; equal sizes give an empty proof.
 */
export function consistencyProof(oldSize: number, leafHashes: readonly Uint8Array[]): Buffer[] {
  if (!Number.isSafeInteger(oldSize) || oldSize < 1 || oldSize > leafHashes.length) {
    throw new RangeError(`old size ${oldSize} is not between 1 and the tree size ${leafHashes.length}`);
  }
  return subproof(oldSize, leafHashes, 0, leafHashes.length, true);
}

function isHash(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array && value.length === HASH_SIZE;
}

function isProof(value: unknown): value is Uint8Array[] {
  return Array.isArray(value) && value.every(isHash);
}

function isSize(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

function sameHash(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

const isOdd = (n: number) => n % 2 === 1;
const isPowerOfTwo = (n: number) => {
  let k = 1;
  while (k < n) k *= 2;
  return k === n;
};
const half = (n: number) => Math.floor(n / 2);

export interface InclusionCheck {
  leafHash: Uint8Array;
  /** 0-based position of the leaf. */
  index: number;
  treeSize: number;
  proof: readonly Uint8Array[];
  root: Uint8Array;
}

/** RFC 9162 section 2.1.3.2: does `proof` show the leaf at `index` is in the tree of `treeSize` with `root`? */
export function verifyInclusion(check: InclusionCheck): boolean {
  try {
    const { leafHash: hash, index, treeSize, proof, root } = check;
    if (!isHash(hash) || !isHash(root) || !isProof(proof) || !isSize(index) || !isSize(treeSize)) return false;
    if (index >= treeSize) return false;
    let fn = index;
    let sn = treeSize - 1;
    let r: Uint8Array = hash;
    for (const p of proof) {
      if (sn === 0) return false;
      if (isOdd(fn) || fn === sn) {
        r = nodeHash(p, r);
        while (!isOdd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      } else {
        r = nodeHash(r, p);
      }
      fn = half(fn);
      sn = half(sn);
    }
    return sn === 0 && sameHash(r, root);
  } catch {
    return false;
  }
}

export interface ConsistencyCheck {
  oldSize: number;
  newSize: number;
  oldRoot: Uint8Array;
  newRoot: Uint8Array;
  proof: readonly Uint8Array[];
}

/**
 * RFC 9162 section 2.1.4.2: does `proof` show the tree of `oldSize` with `oldRoot` is a prefix of the
 * tree of `newSize` with `newRoot`? Needs 1 <= oldSize <= newSize, as the RFC does; equal sizes need an
 * empty proof and equal roots.
 */
export function verifyConsistency(check: ConsistencyCheck): boolean {
  try {
    const { oldSize, newSize, oldRoot, newRoot, proof } = check;
    if (!isHash(oldRoot) || !isHash(newRoot) || !isProof(proof) || !isSize(oldSize) || !isSize(newSize)) return false;
    if (oldSize < 1 || oldSize > newSize) return false;
    if (oldSize === newSize) return proof.length === 0 && sameHash(oldRoot, newRoot);
    if (proof.length === 0) return false;
    // A power-of-two old tree is a complete subtree of the new one; its root starts the path.
    const path = isPowerOfTwo(oldSize) ? [oldRoot, ...proof] : [...proof];
    let fn = oldSize - 1;
    let sn = newSize - 1;
    while (isOdd(fn)) {
      fn = half(fn);
      sn = half(sn);
    }
    let fr: Uint8Array = path[0]!;
    let sr: Uint8Array = path[0]!;
    for (const c of path.slice(1)) {
      if (sn === 0) return false;
      if (isOdd(fn) || fn === sn) {
        fr = nodeHash(c, fr);
        sr = nodeHash(c, sr);
        while (!isOdd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      } else {
        sr = nodeHash(sr, c);
      }
      fn = half(fn);
      sn = half(sn);
    }
    return sn === 0 && sameHash(fr, oldRoot) && sameHash(sr, newRoot);
  } catch {
    return false;
  }
}
