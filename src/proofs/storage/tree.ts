/**
 * The storage market's Merkle tree, as `contracts/StorageMarket.sol` verifies it.
 *
 * Spec (souk.storage v1):
 * - Data is cut into 32-byte leaves (the last one zero-padded). A tree over `n` leaves has depth
 *   `d = ceil(log2 n)` (0 for one leaf) and is padded on the right to `2^d` leaves of 32 zero bytes.
 * - Nodes are 20 bytes: `leaf(x) = keccak256(0x00 ‖ x)[0:20]`, `node(l, r) = keccak256(0x01 ‖ l ‖ r)[0:20]`. The prefix
 *   byte separates leaves from inner nodes (so no inner node passes for a leaf). 20-byte nodes cut a proof's calldata
 *   by 37% against 32-byte ones (calldata, priced by EIP-7623's floor, is most of a proof's gas); they keep 160-bit
 *   second-preimage resistance, which is what answering a challenge without the leaf would need. Collisions (80-bit)
 *   would only let whoever builds the tree commit to two openings: in a deal the client computes the root from its own
 *   data and the provider checks it on upload, so neither gains by it (docs/storage.md § Security).
 * - A multi-proof for a set of leaf positions: the positions sorted and deduplicated, their 32-byte leaves in that
 *   order, and the sibling nodes not computable from them, level by level from the leaves up and left to right within
 *   a level. At each level a position whose sibling is also in the set takes no sibling from the proof.
 *
 * @example
 * ```ts
 * import { buildStorageTree, multiProof, verifyMultiProof } from './tree.js'
 * const tree = buildStorageTree(leafCount(data.length), (i) => dataLeaf(data, i))
 * const p = multiProof(tree, [5, 1, 5, 900])
 * verifyMultiProof({ root: tree.root, depth: tree.depth, positions: [5, 1, 5, 900], ...p }) // true
 * ```
 */
import { keccak256 } from '../../crypto/keccak.js'
import { StorageProofError } from './errors.js'

/** Bytes of data per leaf. */
export const LEAF_BYTES = 32
/** Bytes of an inner node (and of a root). */
export const NODE_BYTES = 20
/** Deepest tree the verifier accepts: 2^40 leaves (32 TiB in one tree). */
export const MAX_DEPTH = 40

const buf65 = new Uint8Array(1 + LEAF_BYTES)
const buf41 = new Uint8Array(1 + 2 * NODE_BYTES)
buf41[0] = 1

/** The 20-byte node of a 32-byte leaf. */
export function leafNode(leaf: Uint8Array): Uint8Array {
  if (leaf.length !== LEAF_BYTES) throw new StorageProofError('bad-leaf', `a leaf is ${LEAF_BYTES} bytes, got ${leaf.length}`)
  buf65[0] = 0
  buf65.set(leaf, 1)
  return head(keccak256(buf65))
}

/** The parent of two 20-byte nodes. */
export function parentNode(left: Uint8Array, right: Uint8Array): Uint8Array {
  buf41.set(left, 1)
  buf41.set(right, 1 + NODE_BYTES)
  return head(keccak256(buf41))
}

/** The first 20 bytes of a hash, as a plain Uint8Array view (the native keccak returns Buffers). */
const head = (h: Uint8Array): Uint8Array => new Uint8Array(h.buffer, h.byteOffset, NODE_BYTES)

/** ZERO[h]: the root of a subtree of height h over zero leaves (padding). */
const ZERO: Uint8Array[] = [leafNode(new Uint8Array(LEAF_BYTES))]
for (let h = 1; h <= MAX_DEPTH; h++) ZERO.push(parentNode(ZERO[h - 1], ZERO[h - 1]))
export const zeroSubtreeRoot = (height: number): Uint8Array => ZERO[height]

/** Leaves needed for `bytes` bytes of data (at least one). */
export const leafCount = (bytes: number): number => Math.max(1, Math.ceil(bytes / LEAF_BYTES))

/** Depth of a tree over `n` leaves. */
export function treeDepth(n: number): number {
  if (!Number.isSafeInteger(n) || n < 1) throw new StorageProofError('bad-size', `a tree needs a whole number of leaves >= 1, got ${n}`)
  const d = n === 1 ? 0 : Math.ceil(Math.log2(n))
  if (d > MAX_DEPTH) throw new StorageProofError('bad-size', `${n} leaves need depth ${d}, above the verifier's ${MAX_DEPTH}`)
  return d
}

/** Leaf `i` of `data` (zero-padded past its end). */
export function dataLeaf(data: Uint8Array, i: number): Uint8Array {
  const start = i * LEAF_BYTES
  if (start + LEAF_BYTES <= data.length) return data.subarray(start, start + LEAF_BYTES)
  const out = new Uint8Array(LEAF_BYTES)
  if (start < data.length) out.set(data.subarray(start))
  return out
}

export interface StorageTree {
  /** Leaves actually present (positions >= n are zero padding). */
  readonly n: number
  readonly depth: number
  readonly root: Uint8Array
  /** levels[h]: the nodes at height h, packed 20 bytes each (only the non-padding ones). */
  readonly levels: readonly Uint8Array[]
  /** The leaf at a position (the provider's data, re-read or re-encoded on demand). */
  leaf(i: number): Uint8Array
}

/** Builds the tree over `n` leaves given by `leaf(i)`; keeps every level (20 bytes a leaf, ~40 bytes a leaf in all). */
export function buildStorageTree(n: number, leaf: (i: number) => Uint8Array): StorageTree {
  const depth = treeDepth(n)
  let cur = new Uint8Array(n * NODE_BYTES)
  for (let i = 0; i < n; i++) cur.set(leafNode(leaf(i)), i * NODE_BYTES)
  const levels = [cur]
  for (let h = 0; h < depth; h++) {
    const count = cur.length / NODE_BYTES
    const next = new Uint8Array(Math.ceil(count / 2) * NODE_BYTES)
    for (let i = 0; i < count; i += 2) {
      const l = cur.subarray(i * NODE_BYTES, (i + 1) * NODE_BYTES)
      const r = i + 1 < count ? cur.subarray((i + 1) * NODE_BYTES, (i + 2) * NODE_BYTES) : ZERO[h]
      next.set(parentNode(l, r), (i / 2) * NODE_BYTES)
    }
    levels.push(next)
    cur = next
  }
  return { n, depth, root: levels[depth].slice(0, NODE_BYTES), levels, leaf }
}

/** Node at height h, position p (a padding node if past the stored ones). */
function nodeAt(t: StorageTree, h: number, p: number): Uint8Array {
  const lv = t.levels[h]
  return p * NODE_BYTES < lv.length ? lv.subarray(p * NODE_BYTES, (p + 1) * NODE_BYTES) : ZERO[h]
}

/** Sorted, deduplicated positions; each checked to be inside a tree of `2^depth` leaves. */
export function normalizePositions(positions: readonly number[], depth: number): number[] {
  const out = [...new Set(positions)].sort((a, b) => a - b)
  for (const p of out) if (!Number.isSafeInteger(p) || p < 0 || p >= 2 ** depth) throw new StorageProofError('bad-position', `position ${p} is outside a tree of depth ${depth}`)
  return out
}

export interface MultiProof {
  /** The 32-byte leaves at the sorted, deduplicated positions, concatenated. */
  leaves: Uint8Array
  /** The sibling nodes, 20 bytes each, in verification order. */
  siblings: Uint8Array
}

/** A multi-proof of the leaves at `positions` (any order, repeats allowed). */
export function multiProof(t: StorageTree, positions: readonly number[]): MultiProof {
  const ps = normalizePositions(positions, t.depth)
  const leaves = new Uint8Array(ps.length * LEAF_BYTES)
  ps.forEach((p, i) => leaves.set(p < t.n ? t.leaf(p) : new Uint8Array(LEAF_BYTES), i * LEAF_BYTES))
  const sib: Uint8Array[] = []
  let cur = ps
  for (let h = 0; h < t.depth; h++) {
    const next: number[] = []
    for (let i = 0; i < cur.length; i++) {
      const p = cur[i]
      if ((p & 1) === 0 && cur[i + 1] === p + 1) i++ // both children known
      else sib.push(nodeAt(t, h, p ^ 1))
      next.push(p >> 1)
    }
    cur = next
  }
  const siblings = new Uint8Array(sib.length * NODE_BYTES)
  sib.forEach((s, i) => siblings.set(s, i * NODE_BYTES))
  return { leaves, siblings }
}

/** How many siblings a multi-proof of `positions` carries (for sizing gas without building a tree). */
export function multiProofSiblingCount(positions: readonly number[], depth: number): number {
  let cur = normalizePositions(positions, depth)
  let count = 0
  for (let h = 0; h < depth; h++) {
    const next: number[] = []
    for (let i = 0; i < cur.length; i++) {
      if ((cur[i] & 1) === 0 && cur[i + 1] === cur[i] + 1) i++
      else count++
      next.push(cur[i] >> 1)
    }
    cur = next
  }
  return count
}

/** Recomputes the root from a multi-proof; false on any mismatch (wrong sizes, wrong nodes, wrong leaves). */
export function verifyMultiProof(o: { root: Uint8Array; depth: number; positions: readonly number[]; leaves: Uint8Array; siblings: Uint8Array }): boolean {
  let ps: number[]
  try { ps = normalizePositions(o.positions, o.depth) } catch { return false }
  if (o.leaves.length !== ps.length * LEAF_BYTES || o.siblings.length % NODE_BYTES !== 0 || o.root.length !== NODE_BYTES) return false
  let nodes = ps.map((_, i) => leafNode(o.leaves.subarray(i * LEAF_BYTES, (i + 1) * LEAF_BYTES)))
  let cur = ps
  let s = 0
  const take = () => {
    if (s + NODE_BYTES > o.siblings.length) return undefined
    const x = o.siblings.subarray(s, s + NODE_BYTES)
    s += NODE_BYTES
    return x
  }
  for (let h = 0; h < o.depth; h++) {
    const next: number[] = [], nextNodes: Uint8Array[] = []
    for (let i = 0; i < cur.length; i++) {
      const p = cur[i]
      let parent: Uint8Array
      if ((p & 1) === 0 && cur[i + 1] === p + 1) { parent = parentNode(nodes[i], nodes[i + 1]); i++ } else {
        const sib = take()
        if (!sib) return false
        parent = (p & 1) === 0 ? parentNode(nodes[i], sib) : parentNode(sib, nodes[i])
      }
      next.push(p >> 1)
      nextNodes.push(parent)
    }
    cur = next
    nodes = nextNodes
  }
  if (s !== o.siblings.length) return false
  return equal(nodes[0], o.root)
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
