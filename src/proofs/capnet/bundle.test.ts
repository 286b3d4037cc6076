import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  describeContent, createBundle, serveChunk, deriveOuterKey, peelOuterLayer, solveBundle, openBundle, parseBundle, verifySolution,
  openInnerKeys, seededRng, PuzzleUnsolvableError, CapnetOpenError, ChunkIntegrityError, CapnetError, type Bundle, type CacheAssignment,
} from './index.js'

const chunkSize = 4096
const rng = seededRng('bundle.test')
const video = rng(9 * chunkSize + 123) // 10 chunks, the last one short
const content = describeContent(video, chunkSize)
const caches: CacheAssignment[] = ['cache-a', 'cache-b', 'cache-c', 'cache-d'].map((cacheId) => ({ cacheId, cacheSecret: rng(32) }))
const publisherSecret = rng(32)
const params = { rounds: 2, pieceSize: 16 }

function deliver(bundle: Bundle, requestId: Uint8Array, outerKeyOf = (i: number) => deriveOuterKey(caches[i].cacheSecret, requestId, bundle.entries[i].chunkIndex)) {
  return bundle.entries.map((e, i) => {
    const served = serveChunk({ chunk: content.chunks[e.chunkIndex], chunkSize, cacheSecret: caches[i].cacheSecret, requestId, chunkIndex: e.chunkIndex, cacheTicket: e.cacheTicket })
    return peelOuterLayer(served, outerKeyOf(i), requestId, e.chunkIndex)
  })
}

test('round trip: content -> bundle -> two-layer serve -> solve -> decrypt is byte-exact', () => {
  const out = new Uint8Array(video.length)
  // Three requests cover all 10 chunks (the last with 2 slots), the short last chunk included.
  const requests = [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
  for (const chunkIndices of requests) {
    const requestId = rng(16)
    const cs = caches.slice(0, chunkIndices.length)
    const { bundle, record } = createBundle({ content, chunkIndices, caches: cs, requestId, publisherSecret, params, rng })
    assert.deepEqual(parseBundle(bundle), bundle)
    const inner = deliver(bundle, requestId)
    const sol = solveBundle({ bundle, innerChunks: inner })
    assert.equal(verifySolution(bundle.puzzle, sol.secret), true, 'cache-side check')
    assert.equal(verifySolution(record.puzzle, sol.secret), true, 'publisher-side check')
    const plain = openBundle({ bundle, innerChunks: inner, secret: sol.secret })
    chunkIndices.forEach((ci, i) => out.set(plain[i], ci * chunkSize))
    assert.deepEqual(openInnerKeys(bundle.sealedInnerKeys, sol.secret, requestId), record.innerKeys)
  }
  assert.deepEqual(out, video)
})

test('the bundle carries no secret: wrong secret or wrong outer key gets nothing', () => {
  const requestId = rng(16)
  const { bundle, record } = createBundle({ content, chunkIndices: [9, 2, 5, 0], caches, requestId, publisherSecret, params, rng })
  const json = JSON.stringify(bundle, (_k, v) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v))
  assert.ok(!json.includes(Buffer.from(record.puzzle.secret).toString('hex')))
  for (const k of record.innerKeys) assert.ok(!json.includes(Buffer.from(k).toString('hex')))
  const inner = deliver(bundle, requestId)
  assert.throws(() => openBundle({ bundle, innerChunks: inner, secret: rng(32) }), CapnetOpenError)
  assert.equal(verifySolution(bundle.puzzle, rng(32)), false)
  // Cache c never released its outer key: the client used a guess.
  const badInner = deliver(bundle, requestId, (i) => (i === 2 ? rng(32) : deriveOuterKey(caches[i].cacheSecret, requestId, bundle.entries[i].chunkIndex)))
  assert.throws(() => solveBundle({ bundle, innerChunks: badInner }), PuzzleUnsolvableError)
})

test('collusion: a cache and client sharing everything of that cache still need every honest cache\'s chunk', () => {
  const requestId = rng(16)
  const { bundle } = createBundle({ content, chunkIndices: [1, 3, 5, 7], caches, requestId, publisherSecret, params, rng })
  const inner = deliver(bundle, requestId)
  // Cache a colludes: the client has its chunk, its keys, the plaintext of every chunk (from an earlier download),
  // but does not download honest cache d's chunk this time. Plaintext is no substitute for the inner-encrypted bytes.
  const chunks = inner.slice()
  chunks[3] = content.chunks[bundle.entries[3].chunkIndex]
  assert.throws(() => solveBundle({ bundle, innerChunks: chunks }), PuzzleUnsolvableError)
})

test('a tampered manifest root is caught chunk by chunk', () => {
  const requestId = rng(16)
  const { bundle } = createBundle({ content, chunkIndices: [0, 1], caches: caches.slice(0, 2), requestId, publisherSecret, params, rng })
  const inner = deliver(bundle, requestId)
  const { secret } = solveBundle({ bundle, innerChunks: inner })
  const root = new Uint8Array(bundle.manifest.merkleRoot)
  root[0] ^= 1
  assert.throws(() => openBundle({ bundle: { ...bundle, manifest: { ...bundle.manifest, merkleRoot: root } }, innerChunks: inner, secret }), ChunkIntegrityError)
})

test('a cache cannot serve with another cache\'s ticket; bundles need distinct caches and chunks', () => {
  const requestId = rng(16)
  const { bundle } = createBundle({ content, chunkIndices: [0, 1], caches: caches.slice(0, 2), requestId, publisherSecret, params, rng })
  const e = bundle.entries[0]
  assert.throws(() => serveChunk({ chunk: content.chunks[0], chunkSize, cacheSecret: caches[1].cacheSecret, requestId, chunkIndex: 0, cacheTicket: e.cacheTicket }), CapnetOpenError)
  assert.throws(() => createBundle({ content, chunkIndices: [0, 1], caches: [caches[0], caches[0]], requestId, publisherSecret, rng }), (x: unknown) => x instanceof CapnetError && x.code === 'CAPNET_DUPLICATE_CACHE')
  assert.throws(() => createBundle({ content, chunkIndices: [0, 0], caches: caches.slice(0, 2), requestId, publisherSecret, rng }), (x: unknown) => x instanceof CapnetError && x.code === 'CAPNET_DUPLICATE_CHUNK')
  assert.throws(() => createBundle({ content, chunkIndices: [0, 99], caches: caches.slice(0, 2), requestId, publisherSecret, rng }), RangeError)
})

test('parseBundle rejects malformed bundles with readable reasons', () => {
  const requestId = rng(16)
  const { bundle } = createBundle({ content, chunkIndices: [0, 1, 2], caches: caches.slice(0, 3), requestId, publisherSecret, params, rng })
  const bad: [unknown, RegExp][] = [
    [{ ...bundle, version: 2 }, /version/],
    [{ ...bundle, puzzle: { ...bundle.puzzle, goal: new Uint8Array(5) } }, /expected 32 bytes at `puzzle.goal`/],
    [{ ...bundle, entries: bundle.entries.slice(1) }, /cachesPerRequest must equal entries.length/],
    [{ ...bundle, entries: bundle.entries.map((x) => ({ ...x, cacheId: 'same' })) }, /different caches/],
    [{ ...bundle, sealedInnerKeys: bundle.sealedInnerKeys.subarray(1) }, /sealedInnerKeys has the wrong length/],
    [{ ...bundle, puzzle: { ...bundle.puzzle, params: { ...bundle.puzzle.params, pieceSize: 3 } } }, /pieceSize must be in/],
    [null, /Invalid bundle/],
  ]
  for (const [input, re] of bad) assert.throws(() => parseBundle(input), (e: unknown) => e instanceof CapnetError && e.code === 'CAPNET_BAD_BUNDLE' && re.test(e.message), String(re))
})
