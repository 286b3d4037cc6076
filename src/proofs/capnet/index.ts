/**
 * CAPnet delivery puzzles: proofs that a client really downloaded every chunk of a bundle from n different caches
 * (protocols.md §4; docs/capnet.md).
 *
 * @example
 * ```ts
 * import { describeContent, createBundle, serveChunk, deriveOuterKey, peelOuterLayer, solveBundle, openBundle, verifySolution } from './src/proofs/capnet/index.js'
 * const content = describeContent(video, 128 * 1024)
 * const { bundle, record } = createBundle({ content, chunkIndices: [0, 1, 2, 3], caches, requestId, publisherSecret, rng })
 * // caches serve E_out(E_in(chunk)); the client peels the outer layers, solves, opens:
 * const { secret } = solveBundle({ bundle, innerChunks })
 * const chunks = openBundle({ bundle, innerChunks, secret })
 * verifySolution(bundle.puzzle, secret) // what each cache checks before counting the service as delivered
 * ```
 */
export { CapnetError, CapnetParamsError, PuzzleUnsolvableError, CapnetOpenError, ChunkIntegrityError } from './errors.js'
export {
  CAPNET_DEFAULT_PARAMS, CAPNET_ROUNDS_MIN, CAPNET_PIECE_SIZE_MIN, CAPNET_PIECE_SIZE_MAX, CAPNET_CACHES_MAX, CAPNET_ROUNDS_MAX, CAPNET_CHUNK_SIZE_MAX,
  PuzzleParamsSchema, parsePuzzleParams, piecesPerChunk, chainLength, expectedSolveHashes, type PuzzleParams,
} from './params.js'
// The Rng generators are src/crypto/rng.ts's; re-exported while callers move to souk/crypto.
export { seededRng, systemRng, randomBelow, type Rng } from '../../crypto/rng.js'
export { sha256 } from '../../crypto/sha256.js'
export {
  chunkContent, padChunk, chunkLength, describeContent, merkleLeaf, merkleRoot, merkleProof, verifyMerkleProof, ChunkMerkleTree,
  CAPNET_MAX_CHUNKS, type ContentManifest, type MerkleProof,
} from './content.js'
export {
  CAPNET_KEY_BYTES, CAPNET_REQUEST_ID_MIN, CAPNET_REQUEST_ID_MAX, deriveOuterKey, deriveInnerKey, layerIv, encryptLayer, decryptLayer,
  createInnerPieceSource, sealInnerKeys, openInnerKeys, sealCacheTicket, openCacheTicket, secretCommitment, verifySecretCommitment,
  type Layer, type LayerSpec, type PieceSource,
} from './keys.js'
export {
  generatePuzzle, solvePuzzle, solvePuzzleParallel, verifySolution, verifySecretAgainstGoal, toChallenge, lastStepSlot,
  type Puzzle, type PuzzleChallenge, type PuzzleSolution, type GeneratePuzzleParameters, type SolvePuzzleParameters,
  type SolvePuzzleParallelParameters, type PuzzleSolverPool, type StartSearch,
} from './puzzle.js'
export {
  CAPNET_BUNDLE_VERSION, createBundle, serveChunk, peelOuterLayer, solveBundle, openBundle, parseBundle, BundleSchema,
  type Bundle, type BundleEntry, type BundleRecord, type CacheAssignment, type CreateBundleParameters,
} from './bundle.js'
