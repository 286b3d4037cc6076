/**
 * Bundles: one client request for n chunks of an object, each served by a different cache under two encryption
 * layers, plus the puzzle that makes the client fetch every one of them. The three roles:
 *
 * 1. Publisher: {@link createBundle} picks inner keys, seals each for its cache (cache ticket), builds the puzzle over
 *    the inner-encrypted chunks (lazily, R*n pieces only) and seals the inner keys under the puzzle secret.
 * 2. Cache i: {@link serveChunk} opens its ticket and serves E_out(E_in(chunk)); after the first payment message it
 *    releases k_out[i] = deriveOuterKey(cacheSecret, requestId, chunkIndex); it accepts the puzzle secret as proof
 *    of service ({@link verifySolution} against `bundle.puzzle.commitment`).
 * 3. Client: {@link peelOuterLayer} for each chunk, {@link solveBundle}, then {@link openBundle} to get the plaintext,
 *    each chunk checked against the publisher's Merkle root.
 *
 * @example
 * ```ts
 * const content = describeContent(video, 128 * 1024)
 * const { bundle } = createBundle({ content, chunkIndices: [0, 1, 2, 3], caches, requestId, publisherSecret, rng })
 * const served = bundle.entries.map((e, i) => serveChunk({ chunk: content.chunks[e.chunkIndex], chunkSize: 128 * 1024,
 *   cacheSecret: caches[i].cacheSecret, requestId, chunkIndex: e.chunkIndex, cacheTicket: e.cacheTicket }))
 * const inner = served.map((c, i) => peelOuterLayer(c, deriveOuterKey(caches[i].cacheSecret, requestId, bundle.entries[i].chunkIndex), requestId, bundle.entries[i].chunkIndex))
 * const { secret } = solveBundle({ bundle, innerChunks: inner })
 * const plain = openBundle({ bundle, innerChunks: inner, secret }) // plaintext chunks, Merkle-checked
 * ```
 */
import { z } from 'zod'
import { type ContentManifest, type MerkleProof, type ChunkMerkleTree, chunkLength, padChunk, verifyMerkleProof } from './content.js'
import {
  CAPNET_KEY_BYTES, CAPNET_REQUEST_ID_MAX, CAPNET_REQUEST_ID_MIN, createInnerPieceSource, deriveInnerKey, deriveOuterKey, encryptLayer, decryptLayer,
  openCacheTicket, openInnerKeys, sealCacheTicket, sealInnerKeys,
} from './keys.js'
import { generatePuzzle, solvePuzzle, type Puzzle, type PuzzleChallenge, type PuzzleSolution } from './puzzle.js'
import { parsePuzzleParams, type PuzzleParams, CAPNET_CACHES_MAX, PuzzleParamsSchema } from './params.js'
import { type Rng, abytes } from './hash.js'
import { CapnetError, ChunkIntegrityError } from './errors.js'

/** Bundle format version. */
export const CAPNET_BUNDLE_VERSION = 1

/** A hired cache, as the publisher knows it. */
export interface CacheAssignment {
  cacheId: string
  /** Shared with the cache at hiring; derives its outer keys and ticket keys. */
  cacheSecret: Uint8Array
}

/** One slot of a bundle: which chunk, which cache serves it, the cache's ticket, and the chunk's Merkle proof. */
export interface BundleEntry {
  chunkIndex: number
  cacheId: string
  /** The chunk's inner key sealed for that cache (forwarded by the client with its request). */
  cacheTicket: Uint8Array
  merkleProof: MerkleProof
}

/** What the publisher sends the client. Contains no secret. */
export interface Bundle {
  version: typeof CAPNET_BUNDLE_VERSION
  requestId: Uint8Array
  manifest: ContentManifest
  /** In slot order: slot j of the puzzle chain reads the chunk of entries[j mod n]. */
  entries: BundleEntry[]
  /** goal, difficulty and commitment = H(label || secret). */
  puzzle: PuzzleChallenge
  /** The n inner keys, AES-GCM-sealed under the puzzle secret with the request id as context. */
  sealedInnerKeys: Uint8Array
}

/** What the publisher keeps (to verify proofs of service). */
export interface BundleRecord {
  puzzle: Puzzle
  innerKeys: Uint8Array[]
}

/** Arguments of {@link createBundle}. */
export interface CreateBundleParameters {
  /** From describeContent: the manifest, the plaintext chunks and their Merkle tree. */
  content: { manifest: ContentManifest; chunks: readonly Uint8Array[]; tree: ChunkMerkleTree }
  /** Object chunk indices to deliver, one per cache, in slot order. */
  chunkIndices: readonly number[]
  /** The cache of each slot; all different. */
  caches: readonly CacheAssignment[]
  requestId: Uint8Array
  /** Publisher-only secret deriving inner keys. */
  publisherSecret: Uint8Array
  /** Difficulty; chunkSize defaults to the manifest's, cachesPerRequest to chunkIndices.length. */
  params?: Partial<Omit<PuzzleParams, 'chunkSize' | 'cachesPerRequest'>>
  /** Random bytes for the puzzle's secret start offset (see `GeneratePuzzleParameters.rng`). */
  rng: Rng
}

/**
 * Publisher: builds a bundle and its private record. Cost: n HMACs, n ticket seals, R*n hashes and R*n AES blocks.
 *
 * @example
 * ```ts
 * const { bundle, record } = createBundle({ content, chunkIndices: [8, 9, 10, 11], caches, requestId, publisherSecret, rng })
 * ```
 */
export function createBundle(args: CreateBundleParameters): { bundle: Bundle; record: BundleRecord } {
  const { content, chunkIndices, caches, requestId, publisherSecret } = args
  const n = chunkIndices.length
  const params = parsePuzzleParams({ ...args.params, chunkSize: content.manifest.chunkSize, cachesPerRequest: n })
  if (caches.length !== n) throw new RangeError(`caches (${caches.length}) must match chunkIndices (${n})`)
  if (new Set(caches.map((c) => c.cacheId)).size !== n) throw new CapnetError('Each chunk of a bundle must be served by a different cache', { code: 'CAPNET_DUPLICATE_CACHE' })
  if (new Set(chunkIndices).size !== n) throw new CapnetError('A bundle must not repeat a chunk', { code: 'CAPNET_DUPLICATE_CHUNK' })
  const plainChunks = chunkIndices.map((ci) => padChunk(content.chunks[ci] ?? missing(ci), params.chunkSize))
  const innerKeys = chunkIndices.map((ci) => deriveInnerKey(publisherSecret, requestId, ci))
  const source = createInnerPieceSource({ plainChunks, innerKeys, requestId, chunkIndices, pieceSize: params.pieceSize })
  const puzzle = generatePuzzle({ source, params, rng: args.rng })
  const entries = chunkIndices.map((ci, i) => ({
    chunkIndex: ci,
    cacheId: caches[i].cacheId,
    cacheTicket: sealCacheTicket(innerKeys[i], caches[i].cacheSecret, requestId, ci),
    merkleProof: content.tree.proof(ci),
  }))
  const bundle: Bundle = {
    version: CAPNET_BUNDLE_VERSION,
    requestId,
    manifest: content.manifest,
    entries,
    puzzle: { params: puzzle.params, goal: puzzle.goal, commitment: puzzle.commitment },
    sealedInnerKeys: sealInnerKeys(innerKeys, puzzle.secret, requestId),
  }
  return { bundle, record: { puzzle, innerKeys } }
}

function missing(ci: number): never {
  throw new RangeError(`chunk ${ci} is not in the content`)
}

/**
 * Cache: serves its chunk for a request as E_out(E_in(padded chunk)).
 * Throws {@link CapnetOpenError} if the ticket was not made for this cache, request and chunk.
 *
 * @example
 * ```ts
 * const bytes = serveChunk({ chunk, chunkSize, cacheSecret, requestId, chunkIndex: e.chunkIndex, cacheTicket: e.cacheTicket })
 * ```
 */
export function serveChunk(args: { chunk: Uint8Array; chunkSize: number; cacheSecret: Uint8Array; requestId: Uint8Array; chunkIndex: number; cacheTicket: Uint8Array }): Uint8Array {
  const { requestId, chunkIndex, cacheSecret } = args
  const innerKey = openCacheTicket(args.cacheTicket, cacheSecret, requestId, chunkIndex)
  const inner = encryptLayer(padChunk(args.chunk, args.chunkSize), { key: innerKey, requestId, chunkIndex, layer: 'inner' })
  innerKey.fill(0)
  const outerKey = deriveOuterKey(cacheSecret, requestId, chunkIndex)
  const out = encryptLayer(inner, { key: outerKey, requestId, chunkIndex, layer: 'outer' })
  outerKey.fill(0)
  return out
}

/**
 * Client: removes the outer layer of a served chunk with the outer key its cache released.
 *
 * @example
 * ```ts
 * const inner = peelOuterLayer(served, outerKey, bundle.requestId, entry.chunkIndex)
 * ```
 */
export function peelOuterLayer(served: Uint8Array, outerKey: Uint8Array, requestId: Uint8Array, chunkIndex: number): Uint8Array {
  return decryptLayer(served, { key: outerKey, requestId, chunkIndex, layer: 'outer' })
}

/**
 * Client: solves the bundle's puzzle over its inner-encrypted chunks (slot order).
 *
 * @example
 * ```ts
 * const { secret } = solveBundle({ bundle, innerChunks })
 * ```
 */
export function solveBundle(args: { bundle: Bundle; innerChunks: readonly Uint8Array[]; signal?: AbortSignal }): PuzzleSolution {
  return solvePuzzle({ innerChunks: args.innerChunks, challenge: args.bundle.puzzle, signal: args.signal })
}

/**
 * Client: opens the inner keys with the puzzle secret, removes the inner layer, strips padding and checks each
 * chunk against the manifest's Merkle root. Returns the plaintext chunks in slot order.
 * Throws {@link CapnetOpenError} for a wrong secret, {@link ChunkIntegrityError} for a chunk that fails its proof.
 *
 * @example
 * ```ts
 * const chunks = openBundle({ bundle, innerChunks, secret })
 * ```
 */
export function openBundle(args: { bundle: Bundle; innerChunks: readonly Uint8Array[]; secret: Uint8Array }): Uint8Array[] {
  const { bundle, innerChunks, secret } = args
  if (innerChunks.length !== bundle.entries.length) throw new RangeError(`expected ${bundle.entries.length} inner chunks, got ${innerChunks.length}`)
  const keys = openInnerKeys(bundle.sealedInnerKeys, secret, bundle.requestId)
  if (keys.length !== bundle.entries.length) throw new CapnetError('Sealed inner keys do not match the bundle entries', { code: 'CAPNET_BAD_BUNDLE' })
  return bundle.entries.map((e, i) => {
    const padded = decryptLayer(abytes(innerChunks[i], `innerChunks[${i}]`), { key: keys[i], requestId: bundle.requestId, chunkIndex: e.chunkIndex, layer: 'inner' })
    const plain = padded.subarray(0, chunkLength(bundle.manifest, e.chunkIndex))
    if (!padded.subarray(plain.length).every((b) => b === 0) || !verifyMerkleProof(bundle.manifest.merkleRoot, plain, e.merkleProof)) {
      throw new ChunkIntegrityError(e.chunkIndex)
    }
    return plain
  })
}

const bytes = (len?: number) =>
  z.custom<Uint8Array>((v) => v instanceof Uint8Array && (len === undefined || v.length === len), { error: len ? `expected ${len} bytes` : 'expected bytes' })

/** zod schema of a {@link Bundle} received from the network (run after a size cap). */
export const BundleSchema = z.object({
  version: z.literal(CAPNET_BUNDLE_VERSION),
  requestId: bytes().refine((v) => v.length >= CAPNET_REQUEST_ID_MIN && v.length <= CAPNET_REQUEST_ID_MAX, { error: 'requestId length out of range' }),
  manifest: z.object({
    merkleRoot: bytes(32),
    contentLength: z.number().int().min(0),
    chunkSize: z.number().int().min(1),
    chunkCount: z.number().int().min(1),
  }).refine((m) => m.chunkCount === Math.ceil(m.contentLength / m.chunkSize), { error: 'chunkCount must be ceil(contentLength / chunkSize)' }),
  entries: z.array(z.object({
    chunkIndex: z.number().int().min(0),
    cacheId: z.string().min(1).max(256),
    cacheTicket: bytes(12 + CAPNET_KEY_BYTES + 16),
    merkleProof: z.object({ index: z.number().int().min(0), leafCount: z.number().int().min(1), siblings: z.array(bytes(32)).max(32) }),
  })).min(1).max(CAPNET_CACHES_MAX),
  puzzle: z.object({ params: PuzzleParamsSchema, goal: bytes(32), commitment: bytes(32) }),
  sealedInnerKeys: bytes(),
}).check((ctx) => {
  const b = ctx.value
  const issue = (message: string) => ctx.issues.push({ code: 'custom', input: b, message })
  if (b.puzzle.params.cachesPerRequest !== b.entries.length) issue('puzzle.params.cachesPerRequest must equal entries.length')
  if (b.puzzle.params.chunkSize !== b.manifest.chunkSize) issue('puzzle.params.chunkSize must equal manifest.chunkSize')
  if (b.sealedInnerKeys.length !== 12 + 16 + CAPNET_KEY_BYTES * b.entries.length) issue('sealedInnerKeys has the wrong length')
  for (const e of b.entries) {
    if (e.chunkIndex >= b.manifest.chunkCount) issue(`entry chunkIndex ${e.chunkIndex} out of range`)
    if (e.merkleProof.index !== e.chunkIndex || e.merkleProof.leafCount !== b.manifest.chunkCount) issue(`merkle proof of chunk ${e.chunkIndex} does not match it`)
  }
  if (new Set(b.entries.map((e) => e.cacheId)).size !== b.entries.length) issue('entries must name different caches')
})

/**
 * Validates a bundle from the network. Throws {@link CapnetError} (code CAPNET_BAD_BUNDLE) listing the problems.
 *
 * @example
 * ```ts
 * const bundle = parseBundle(decoded)
 * ```
 */
export function parseBundle(input: unknown): Bundle {
  const r = BundleSchema.safeParse(input)
  if (r.success) return r.data as Bundle
  const issues = r.error.issues.map((i) => `${i.message}${i.path.length ? ` at \`${i.path.join('.')}\`` : ''}`)
  throw new CapnetError(`Invalid bundle - ${issues.join('; ')}`, { code: 'CAPNET_BAD_BUNDLE', details: { issues } })
}

