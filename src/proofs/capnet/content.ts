/**
 * Content chunking and the publisher's Merkle tree over plaintext chunks (SHA-256, domain-separated, with proofs).
 *
 * - Content is cut into `chunkSize`-byte chunks; the last one may be shorter. Its real length follows from the
 *   manifest's `contentLength`; for encryption and the puzzle it is zero-padded to `chunkSize` ({@link padChunk}).
 * - leaf(i) = sha256(0x00 || u32be(i) || chunk_i) over the *unpadded* chunk; node = sha256(0x01 || left || right).
 *   An odd node at the end of a level is carried up unchanged. The index in the leaf stops chunk reordering; the
 *   0x00/0x01 prefixes stop a node being passed off as a leaf (second-preimage). The tree shape is
 *   src/crypto/merkle.ts's, shared with microcash's batch tree (another node rule: see there).
 *
 * @example
 * ```ts
 * import { describeContent, verifyMerkleProof } from './content.js'
 * const { manifest, chunks, tree } = describeContent(new Uint8Array(100_000), 32 * 1024)
 * verifyMerkleProof(manifest.merkleRoot, chunks[2], tree.proof(2)) // true
 * ```
 */
import { merkleLevels, merkleSiblings } from '../../crypto/merkle.js'
import { sha256Parts } from '../../crypto/sha256.js'
import { u32be, bytesEqual, abytes, aint } from './hash.js'

const LEAF_PREFIX = new Uint8Array([0x00])
const NODE_PREFIX = new Uint8Array([0x01])
/** Largest chunk count a manifest may describe (indices are u32). */
export const CAPNET_MAX_CHUNKS = 2 ** 32 - 1

/** What a publisher announces about an object; clients check every chunk against `merkleRoot`. */
export interface ContentManifest {
  /** Root of the Merkle tree over the plaintext (unpadded) chunks. */
  merkleRoot: Uint8Array
  /** Total content bytes. */
  contentLength: number
  /** Bytes per chunk (the last chunk may be shorter). */
  chunkSize: number
  /** ceil(contentLength / chunkSize). */
  chunkCount: number
}

/** Inclusion proof of one chunk. `siblings` go from the leaf level up; levels where the node is carried have none. */
export interface MerkleProof {
  index: number
  leafCount: number
  siblings: Uint8Array[]
}

/**
 * Cuts `content` into chunks of `chunkSize` bytes (views, no copy); the last may be shorter; empty content gives [].
 *
 * @example
 * ```ts
 * chunkContent(new Uint8Array(10), 4).map((c) => c.length) // [4, 4, 2]
 * ```
 */
export function chunkContent(content: Uint8Array, chunkSize: number): Uint8Array[] {
  abytes(content, 'content')
  aint(chunkSize, 'chunkSize', 1, 2 ** 31)
  const out: Uint8Array[] = []
  for (let off = 0; off < content.length; off += chunkSize) out.push(content.subarray(off, Math.min(off + chunkSize, content.length)))
  return out
}

/**
 * Zero-pads a chunk to `chunkSize` (returns the chunk itself when already full).
 *
 * @example
 * ```ts
 * padChunk(new Uint8Array([1]), 4) // Uint8Array [1, 0, 0, 0]
 * ```
 */
export function padChunk(chunk: Uint8Array, chunkSize: number): Uint8Array {
  abytes(chunk, 'chunk')
  if (chunk.length === chunkSize) return chunk
  if (chunk.length > chunkSize) throw new RangeError(`chunk is ${chunk.length} bytes, more than chunkSize ${chunkSize}`)
  const out = new Uint8Array(chunkSize)
  out.set(chunk)
  return out
}

/**
 * Real (unpadded) length of chunk `index` of an object.
 *
 * @example
 * ```ts
 * chunkLength({ contentLength: 10, chunkSize: 4, chunkCount: 3 }, 2) // 2
 * ```
 */
export function chunkLength(m: Pick<ContentManifest, 'contentLength' | 'chunkSize' | 'chunkCount'>, index: number): number {
  aint(index, 'chunk index', 0, m.chunkCount)
  return Math.min(m.chunkSize, m.contentLength - index * m.chunkSize)
}

/** Leaf hash of chunk `index`: sha256(0x00 || u32be(index) || chunk). */
export function merkleLeaf(index: number, chunk: Uint8Array): Uint8Array {
  return sha256Parts(LEAF_PREFIX, u32be(index), chunk)
}

function merkleNode(left: Uint8Array, right: Uint8Array): Uint8Array {
  return sha256Parts(NODE_PREFIX, left, right)
}

/**
 * A Merkle tree over chunks, all levels kept so that proofs cost no hashing.
 *
 * @example
 * ```ts
 * const tree = new ChunkMerkleTree([a, b, c]); const proof = tree.proof(1) // verifyMerkleProof(tree.root, b, proof) === true
 * ```
 */
export class ChunkMerkleTree {
  readonly leafCount: number
  readonly #levels: Uint8Array[][]

  constructor(chunks: readonly Uint8Array[]) {
    if (chunks.length === 0) throw new RangeError('a Merkle tree needs at least one chunk')
    if (chunks.length > CAPNET_MAX_CHUNKS) throw new RangeError(`at most ${CAPNET_MAX_CHUNKS} chunks`)
    this.#levels = merkleLevels(chunks.map((c, i) => merkleLeaf(i, abytes(c, `chunks[${i}]`))), merkleNode)
    this.leafCount = chunks.length
  }

  /** The root (32 bytes). */
  get root(): Uint8Array {
    return this.#levels[this.#levels.length - 1][0]
  }

  /** Inclusion proof of chunk `index`. */
  proof(index: number): MerkleProof {
    aint(index, 'index', 0, this.leafCount)
    return { index, leafCount: this.leafCount, siblings: merkleSiblings(this.#levels, index) }
  }
}

/**
 * Merkle root over chunks.
 *
 * @example
 * ```ts
 * merkleRoot(chunkContent(bytes, 1024)).length // 32
 * ```
 */
export function merkleRoot(chunks: readonly Uint8Array[]): Uint8Array {
  return new ChunkMerkleTree(chunks).root
}

/**
 * Inclusion proof of chunk `index` (builds the tree; use {@link ChunkMerkleTree} for many proofs).
 *
 * @example
 * ```ts
 * const proof = merkleProof(chunks, 3) // { index: 3, leafCount: chunks.length, siblings: [...] }
 * ```
 */
export function merkleProof(chunks: readonly Uint8Array[], index: number): MerkleProof {
  return new ChunkMerkleTree(chunks).proof(index)
}

/**
 * Checks that `chunk` is chunk `proof.index` of the object with Merkle root `root`. Returns false on any bad or
 * malformed input; never throws.
 *
 * @example
 * ```ts
 * verifyMerkleProof(manifest.merkleRoot, chunk, proof) // true or false
 * ```
 */
export function verifyMerkleProof(root: Uint8Array, chunk: Uint8Array, proof: MerkleProof): boolean {
  try {
    // Stryker disable ConditionalExpression,LogicalOperator,EqualityOperator: equivalent: the catch-all below returns the same false for whatever this guard stops (docs/testing.md)
    if (!(root instanceof Uint8Array) || root.length !== 32 || !(chunk instanceof Uint8Array)) return false
    if (typeof proof !== 'object' || proof === null || !Array.isArray(proof.siblings)) return false
    const { index, leafCount, siblings } = proof
    if (!Number.isInteger(leafCount) || leafCount < 1 || leafCount > CAPNET_MAX_CHUNKS) return false
    if (!Number.isInteger(index) || index < 0 || index >= leafCount) return false
    // Stryker restore all
    let h = merkleLeaf(index, chunk)
    let idx = index
    let count = leafCount
    let used = 0
    while (count > 1) {
      const sib = idx ^ 1
      if (sib < count) {
        const s = siblings[used++]
        // Stryker disable next-line ConditionalExpression,LogicalOperator: equivalent: the catch-all below returns the same false for whatever this guard stops (docs/testing.md)
        if (!(s instanceof Uint8Array) || s.length !== 32) return false
        h = idx & 1 ? merkleNode(s, h) : merkleNode(h, s)
      }
      idx >>= 1
      count = Math.ceil(count / 2)
    }
    return used === siblings.length && bytesEqual(h, root)
  } catch {
    return false
  }
}

/**
 * Chunks, Merkle tree and manifest of an object, in one pass.
 *
 * @example
 * ```ts
 * const { manifest } = describeContent(bytes, 256 * 1024)
 * ```
 */
export function describeContent(content: Uint8Array, chunkSize: number): { manifest: ContentManifest; chunks: Uint8Array[]; tree: ChunkMerkleTree } {
  const chunks = chunkContent(content, chunkSize)
  const tree = new ChunkMerkleTree(chunks)
  return { manifest: { merkleRoot: tree.root, contentLength: content.length, chunkSize, chunkCount: chunks.length }, chunks, tree }
}
