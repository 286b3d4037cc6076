/**
 * Souk's Merkle trees. One tree shape — pairs (2i, 2i+1) per level, an odd last node carried up unchanged, proofs
 * as sibling paths that skip carried levels — and two node rules, kept apart on purpose because each is fixed by
 * its verifier and changing either would change every root already signed or published:
 *
 * - **Sorted keccak pairs** (`hashSortedPair`, `buildSortedTree`, `processSortedProof`): OpenZeppelin's
 *   `MerkleProof` with `Hashes.commutativeKeccak256`, as contracts/ConcurrentLottery.sol verifies microcash batches.
 *   Pairs are hashed in ascending order, so a proof needs no index; the leaves are hashed by the caller (EIP-712
 *   struct hashes). Vectors: test/vectors/microcash.json.
 * - **Positional, domain-separated SHA-256** (CAPnet's chunk tree: `merkleLeaf`, `merkleNode`, `verifyMerkleProof`
 *   in src/proofs/capnet/content.ts over `merkleLevels` / `merkleSiblings`): leaf = sha256(0x00 ‖ u32be(i) ‖ chunk),
 *   node = sha256(0x01 ‖ left ‖ right) in tree order, so a proof is checked with the leaf's index and the leaf count
 *   and also fixes the chunk's position. Off chain only (no Solidity verifier); its leaf and node rules stay with
 *   CAPnet because they are part of its puzzle format.
 *
 * @example
 * ```ts
 * import { buildSortedTree, sortedTreeProof, processSortedProof } from './merkle.js'
 * const tree = buildSortedTree(leaves)                                // leaves: 32-byte hashes
 * processSortedProof(leaves[2], sortedTreeProof(tree, 2))             // equals tree.root
 * ```
 */
import { keccak256 } from './keccak.js'

/** Hashes two 32-byte nodes into their parent. */
export type MerkleNodeHash = (left: Uint8Array, right: Uint8Array) => Uint8Array

export interface MerkleTree {
  root: Uint8Array
  /** levels[0] = leaves, last level = [root]. */
  levels: Uint8Array[][]
}

/** Every level of the tree over `leaves` (at least one): pairs (2i, 2i+1), an odd last node moves up unchanged. */
export function merkleLevels(leaves: Uint8Array[], node: MerkleNodeHash): Uint8Array[][] {
  if (leaves.length === 0) throw new RangeError('a Merkle tree needs at least one leaf')
  const levels: Uint8Array[][] = [leaves]
  let cur = leaves
  while (cur.length > 1) {
    const next: Uint8Array[] = []
    for (let i = 0; i < cur.length; i += 2) next.push(i + 1 < cur.length ? node(cur[i], cur[i + 1]) : cur[i])
    levels.push(next)
    cur = next
  }
  return levels
}

/** The sibling path of leaf `index`, leaf level first; a level where the node is carried up adds none. */
export function merkleSiblings(levels: readonly Uint8Array[][], index: number): Uint8Array[] {
  const out: Uint8Array[] = []
  let i = index
  for (let l = 0; l < levels.length - 1; l++) {
    const level = levels[l]
    const sib = i ^ 1
    if (sib < level.length) out.push(level[sib])
    i >>= 1
  }
  return out
}

// ---------------------------------------------------------------- sorted keccak pairs (OpenZeppelin MerkleProof)
const pairBuf = new Uint8Array(64)
/** OZ `Hashes.commutativeKeccak256`: keccak of the two nodes in ascending order. */
export function hashSortedPair(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (Buffer.compare(a, b) <= 0) {
    pairBuf.set(a, 0)
    pairBuf.set(b, 32)
  } else {
    pairBuf.set(b, 0)
    pairBuf.set(a, 32)
  }
  return keccak256(pairBuf)
}

/** The sorted-pairs tree over already-hashed `leaves` (what `processSortedProof` / OZ `processProof` verify). */
export function buildSortedTree(leaves: Uint8Array[]): MerkleTree {
  const levels = merkleLevels(leaves, hashSortedPair)
  return { root: levels[levels.length - 1][0], levels }
}

/** The proof of leaf `index` of a sorted-pairs tree (what OZ `MerkleProof.processProof` consumes). */
export function sortedTreeProof(tree: MerkleTree, index: number): Uint8Array[] {
  return merkleSiblings(tree.levels, index)
}

/** OZ `MerkleProof.processProof`: the root that `leaf` and `proof` lead to. */
export function processSortedProof(leaf: Uint8Array, proof: readonly Uint8Array[]): Uint8Array {
  let cur = leaf
  for (const p of proof) cur = hashSortedPair(cur, p)
  return cur
}
