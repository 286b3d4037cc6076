import { test } from 'node:test'
import assert from 'node:assert/strict'
import * as capnet from './index.js'

test('public exports (snapshot: a change here is an API change)', () => {
  assert.deepEqual(Object.keys(capnet).sort(), [
    'BundleSchema', 'CAPNET_BUNDLE_VERSION', 'CAPNET_CACHES_MAX', 'CAPNET_CHUNK_SIZE_MAX', 'CAPNET_DEFAULT_PARAMS', 'CAPNET_KEY_BYTES',
    'CAPNET_MAX_CHUNKS', 'CAPNET_PIECE_SIZE_MAX', 'CAPNET_PIECE_SIZE_MIN', 'CAPNET_REQUEST_ID_MAX', 'CAPNET_REQUEST_ID_MIN', 'CAPNET_ROUNDS_MAX',
    'CAPNET_ROUNDS_MIN', 'CapnetError', 'CapnetOpenError', 'CapnetParamsError', 'ChunkIntegrityError', 'ChunkMerkleTree', 'PuzzleParamsSchema',
    'PuzzleUnsolvableError', 'chainLength', 'chunkContent', 'chunkLength', 'createBundle', 'createInnerPieceSource', 'decryptLayer',
    'deriveInnerKey', 'deriveOuterKey', 'describeContent', 'encryptLayer', 'expectedSolveHashes', 'generatePuzzle', 'lastStepSlot', 'layerIv',
    'merkleLeaf', 'merkleProof', 'merkleRoot', 'openBundle', 'openCacheTicket', 'openInnerKeys', 'padChunk', 'parseBundle', 'parsePuzzleParams',
    'peelOuterLayer', 'piecesPerChunk', 'randomBelow', 'sealCacheTicket', 'sealInnerKeys', 'secretCommitment', 'seededRng', 'serveChunk', 'sha256',
    'solveBundle', 'solvePuzzle', 'solvePuzzleParallel', 'systemRng', 'toChallenge', 'verifyMerkleProof', 'verifySecretAgainstGoal', 'verifySecretCommitment',
    'verifySolution',
  ])
})

test('errors extend SoukError with stable codes', async () => {
  const { SoukError } = await import('../../core/errors.js')
  const e = new capnet.PuzzleUnsolvableError({ startsTried: 4, hashesComputed: 32 })
  assert.ok(e instanceof SoukError && e instanceof capnet.CapnetError)
  assert.equal(e.code, 'CAPNET_PUZZLE_UNSOLVABLE')
  assert.match(e.message, /Fix: Check that every chunk/)
})
