import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { createHash } from 'node:crypto'
import { chunkContent, padChunk, chunkLength, describeContent, merkleRoot, merkleProof, verifyMerkleProof, ChunkMerkleTree, type MerkleProof } from './content.js'

const sha = (...parts: Uint8Array[]) => { const h = createHash('sha256'); for (const p of parts) h.update(p); return new Uint8Array(h.digest()) }
const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b }

/** Reference model: recursive tree, odd last node carried up. */
function refRoot(chunks: Uint8Array[]): Uint8Array {
  let level: Uint8Array[] = chunks.map((c, i) => sha(new Uint8Array([0]), u32(i), c))
  while (level.length > 1) {
    const next: Uint8Array[] = []
    for (let i = 0; i < level.length; i += 2) next.push(i + 1 < level.length ? sha(new Uint8Array([1]), level[i], level[i + 1]) : level[i])
    level = next
  }
  return level[0]
}

test('chunkContent cuts into chunkSize pieces, last shorter; empty gives none', () => {
  assert.deepEqual(chunkContent(new Uint8Array(10), 4).map((c) => c.length), [4, 4, 2])
  assert.deepEqual(chunkContent(new Uint8Array(8), 4).map((c) => c.length), [4, 4])
  assert.deepEqual(chunkContent(new Uint8Array(0), 4), [])
  assert.throws(() => chunkContent(new Uint8Array(3), 0), RangeError)
  assert.throws(() => chunkContent('abc' as unknown as Uint8Array, 4), TypeError)
})

test('padChunk zero-pads and chunkLength recovers the real length', () => {
  assert.deepEqual([...padChunk(new Uint8Array([7]), 4)], [7, 0, 0, 0])
  assert.throws(() => padChunk(new Uint8Array(5), 4), RangeError)
  const m = { contentLength: 10, chunkSize: 4, chunkCount: 3 }
  assert.deepEqual([0, 1, 2].map((i) => chunkLength(m, i)), [4, 4, 2])
  assert.throws(() => chunkLength(m, 3), RangeError)
})

test('merkle root matches the reference model and a one-chunk root is its leaf', () => {
  const c = [new Uint8Array([1, 2]), new Uint8Array([3]), new Uint8Array([4, 5, 6])]
  assert.deepEqual(merkleRoot(c), refRoot(c))
  assert.deepEqual(merkleRoot([c[0]]), sha(new Uint8Array([0]), u32(0), c[0]))
  assert.throws(() => merkleRoot([]), RangeError)
  // Swapping chunks changes the root (the index is in the leaf).
  assert.notDeepEqual(merkleRoot([c[1], c[0]]), merkleRoot([c[0], c[1]]))
})

test('property: every proof verifies; a tampered chunk, sibling, index or root fails', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 1, maxLength: 600 }), fc.integer({ min: 1, max: 64 }), fc.nat(), fc.nat(), (bytes, chunkSize, pick, flip) => {
      const { manifest, chunks, tree } = describeContent(bytes, chunkSize)
      assert.deepEqual(manifest.merkleRoot, refRoot(chunks))
      const i = pick % chunks.length
      const proof = tree.proof(i)
      assert.equal(verifyMerkleProof(manifest.merkleRoot, chunks[i], proof), true)
      const bad = new Uint8Array(chunks[i])
      bad[flip % bad.length] ^= 1 << (flip % 8)
      assert.equal(verifyMerkleProof(manifest.merkleRoot, bad, proof), false)
      if (proof.siblings.length > 0) {
        const s = proof.siblings.map((x) => new Uint8Array(x))
        s[flip % s.length][flip % 32] ^= 1
        assert.equal(verifyMerkleProof(manifest.merkleRoot, chunks[i], { ...proof, siblings: s }), false)
        assert.equal(verifyMerkleProof(manifest.merkleRoot, chunks[i], { ...proof, siblings: proof.siblings.slice(1) }), false)
        assert.equal(verifyMerkleProof(manifest.merkleRoot, chunks[i], { ...proof, siblings: [...proof.siblings, proof.siblings[0]] }), false)
      }
      if (chunks.length > 1) {
        const j = (i + 1) % chunks.length
        assert.equal(verifyMerkleProof(manifest.merkleRoot, chunks[i], { ...proof, index: j }), false)
      }
      const root = new Uint8Array(manifest.merkleRoot)
      root[0] ^= 0x80
      assert.equal(verifyMerkleProof(root, chunks[i], proof), false)
    }),
    { numRuns: 200 },
  )
})

test('merkleProof equals the tree proof; verifyMerkleProof never throws on garbage', () => {
  const chunks = chunkContent(new Uint8Array(1000).map((_, i) => i), 64)
  assert.deepEqual(merkleProof(chunks, 5), new ChunkMerkleTree(chunks).proof(5))
  const root = merkleRoot(chunks)
  const junk: unknown[] = [null, undefined, 1, 'x', {}, { index: 0 }, { index: -1, leafCount: 16, siblings: [] }, { index: 0, leafCount: 2 ** 40, siblings: [] }, { index: 0, leafCount: 16, siblings: [null, 1] }, { index: 1.5, leafCount: 16, siblings: [] }]
  for (const p of junk) assert.equal(verifyMerkleProof(root, chunks[0], p as MerkleProof), false)
  assert.equal(verifyMerkleProof(null as unknown as Uint8Array, chunks[0], merkleProof(chunks, 0)), false)
  assert.equal(verifyMerkleProof(root, null as unknown as Uint8Array, merkleProof(chunks, 0)), false)
})
