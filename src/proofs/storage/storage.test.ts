/**
 * src/proofs/storage: the tree against a plain reference (every node recomputed from the leaves), multi-proofs
 * accepted for every position set and refused for every single-bit change, challenge draws matching their spec,
 * replica encoding round trips and keeps replicas distinct, and the sizing formulas.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { keccak256 } from '../../crypto/keccak.js'
import { bytesToHex, hexToBytes } from '../../crypto/bytes.js'
import { encodeAbiParameters, keccak256 as viemKeccak } from 'viem'
import {
  buildStorageTree, challengePositions, challengesFor, dataLeaf, decodeReplicaLeaf, detectionProbability, deterringCollateral, leafCount, leafNode,
  multiProof, multiProofSiblingCount, NODE_BYTES, parentNode, replicatedLeaf, replicaLeaf, StorageProofError, treeDepth, verifyMultiProof, zeroSubtreeRoot,
} from './index.js'

/** The root by the book: pad to 2^d zero leaves, hash level by level. */
function referenceRoot(leaves: Uint8Array[]): Uint8Array {
  const d = treeDepth(leaves.length)
  let level = [...leaves.map(leafNode)]
  while (level.length < 2 ** d) level.push(leafNode(new Uint8Array(32)))
  while (level.length > 1) {
    const next: Uint8Array[] = []
    for (let i = 0; i < level.length; i += 2) next.push(parentNode(level[i], level[i + 1]))
    level = next
  }
  return level[0]
}

test('node rules: 20-byte keccak with a 0x00 / 0x01 prefix', () => {
  const x = new Uint8Array(32).fill(7)
  assert.deepEqual(leafNode(x), Uint8Array.from(keccak256(Uint8Array.from([0, ...x])).subarray(0, 20)))
  const a = new Uint8Array(20).fill(1), b = new Uint8Array(20).fill(2)
  assert.deepEqual(parentNode(a, b), Uint8Array.from(keccak256(Uint8Array.from([1, ...a, ...b])).subarray(0, 20)))
  assert.notDeepEqual(parentNode(a, b), parentNode(b, a))
  assert.deepEqual(zeroSubtreeRoot(1), parentNode(leafNode(new Uint8Array(32)), leafNode(new Uint8Array(32))))
  assert.throws(() => leafNode(new Uint8Array(31)), (e: unknown) => e instanceof StorageProofError && e.reason === 'bad-leaf')
})

test('sizes: leaves, depth and padding', () => {
  assert.equal(leafCount(0), 1)
  assert.equal(leafCount(33), 2)
  assert.deepEqual([1, 2, 3, 4, 5, 1024, 1025].map(treeDepth), [0, 1, 2, 2, 3, 10, 11])
  assert.throws(() => treeDepth(0), StorageProofError)
  assert.throws(() => treeDepth(2 ** 41), /above the verifier's 40/)
  const data = Uint8Array.from({ length: 40 }, (_, i) => i + 1)
  assert.deepEqual(dataLeaf(data, 1), Uint8Array.from([33, 34, 35, 36, 37, 38, 39, 40, ...new Array(24).fill(0)]))
  assert.deepEqual(dataLeaf(data, 5), new Uint8Array(32))
})

test('the tree equals the reference, and every multi-proof verifies; any changed byte, leaf, position or extra sibling fails', () => {
  fc.assert(fc.property(
    fc.integer({ min: 1, max: 70 }).chain((n) => fc.tuple(fc.constant(n), fc.uniqueArray(fc.integer({ min: 0, max: n - 1 }), { minLength: 1, maxLength: Math.min(n, 9) }), fc.integer({ min: 0, max: 2 ** 31 }))),
    ([n, positions, salt]) => {
      const leaves = Array.from({ length: n }, (_, i) => keccak256(Uint8Array.from([i & 255, i >> 8, salt & 255, (salt >> 8) & 255])))
      const t = buildStorageTree(n, (i) => leaves[i])
      assert.deepEqual(t.root, referenceRoot(leaves))
      const withRepeat = [...positions, positions[0]]
      const p = multiProof(t, withRepeat)
      assert.equal(p.siblings.length / NODE_BYTES, multiProofSiblingCount(withRepeat, t.depth))
      assert.ok(verifyMultiProof({ root: t.root, depth: t.depth, positions: withRepeat, ...p }))
      // One flipped bit anywhere in the proof.
      const all = new Uint8Array([...p.leaves, ...p.siblings])
      const bit = (salt % (all.length * 8))
      const flipped = all.slice(); flipped[bit >> 3] ^= 1 << (bit & 7)
      assert.equal(verifyMultiProof({ root: t.root, depth: t.depth, positions: withRepeat, leaves: flipped.subarray(0, p.leaves.length), siblings: flipped.subarray(p.leaves.length) }), false)
      // Another position set for the same proof.
      if (t.depth > 0) {
        const other = positions.map((x) => (x + 1) % 2 ** t.depth)
        if (JSON.stringify([...new Set(other)].sort((a, b) => a - b)) !== JSON.stringify([...new Set(positions)].sort((a, b) => a - b))) {
          assert.equal(verifyMultiProof({ root: t.root, depth: t.depth, positions: other, ...p }), false)
        }
      }
      // A trailing sibling, a missing one, a wrong depth.
      assert.equal(verifyMultiProof({ root: t.root, depth: t.depth, positions, ...multiProof(t, positions), siblings: new Uint8Array([...multiProof(t, positions).siblings, ...new Uint8Array(20)]) }), false)
      if (p.siblings.length > 0) assert.equal(verifyMultiProof({ root: t.root, depth: t.depth, positions: withRepeat, leaves: p.leaves, siblings: p.siblings.subarray(20) }), false)
      assert.equal(verifyMultiProof({ root: t.root, depth: t.depth + 1, positions: withRepeat, ...p }), false)
    },
  ), { numRuns: 150 })
})

test('multi-proofs share path nodes: 16 challenges in a depth-20 tree carry fewer siblings than 16 single paths', () => {
  const positions = challengePositions({ seed: new Uint8Array(32).fill(9), dealId: new Uint8Array(32).fill(3), period: 0, challenges: 16, totalLeaves: 2 ** 20 })
  const count = multiProofSiblingCount(positions, 20)
  // The top ~log2(16) = 4 levels are mostly shared: about 16 × (20 - 4) plus the few needed up there.
  assert.ok(count <= 16 * 20 - 16 * 3 && count >= 16 * (20 - 6), `siblings ${count}`)
  assert.equal(multiProofSiblingCount([0, 1, 2, 3], 2), 0)
  assert.equal(multiProofSiblingCount([0], 3), 3)
})

test('challenge positions are keccak256(abi.encode(seed, dealId, period, c)) mod totalLeaves', () => {
  const seed = bytesToHex(keccak256(Uint8Array.of(1)))
  const dealId = bytesToHex(keccak256(Uint8Array.of(2)))
  const got = challengePositions({ seed, dealId, period: 7, challenges: 5, totalLeaves: 1000 })
  const want = [0, 1, 2, 3, 4].map((c) => Number(BigInt(viemKeccak(encodeAbiParameters([{ type: 'bytes32' }, { type: 'bytes32' }, { type: 'uint256' }, { type: 'uint256' }], [seed, dealId, 7n, BigInt(c)]))) % 1000n))
  assert.deepEqual(got, want)
  assert.deepEqual(challengePositions({ seed: hexToBytes(seed), dealId: hexToBytes(dealId), period: 7n, challenges: 5, totalLeaves: 1000 }), got)
  assert.notDeepEqual(challengePositions({ seed, dealId, period: 8, challenges: 5, totalLeaves: 1000 }), got)
  assert.throws(() => challengePositions({ seed, dealId, period: 0, challenges: 0, totalLeaves: 10 }), (e: unknown) => e instanceof StorageProofError && e.reason === 'bad-params')
  assert.throws(() => challengePositions({ seed: '0x01', dealId, period: 0, challenges: 1, totalLeaves: 10 }), /32 bytes/)
})

test('replicas: each decodes to the data, replicas and deals differ, the all-replicas tree lays replica j at [j n, (j+1) n)', () => {
  const data = Uint8Array.from({ length: 200 }, (_, i) => (i * 31) & 255)
  const salt = keccak256(Uint8Array.of(5)), salt2 = keccak256(Uint8Array.of(6))
  const n = leafCount(data.length)
  for (let j = 0; j < 3; j++) for (let l = 0; l < n; l++) assert.deepEqual(decodeReplicaLeaf(replicaLeaf(data, salt, j, l), salt, j, l), dataLeaf(data, l))
  const tree = (s: Uint8Array, r: number) => buildStorageTree(r * n, (g) => replicatedLeaf(data, s, n, g))
  assert.notDeepEqual(tree(salt, 1).root, tree(salt2, 1).root, 'another deal, another dataset')
  assert.notDeepEqual(replicaLeaf(data, salt, 0, 3), replicaLeaf(data, salt, 1, 3), 'another replica, other bytes')
  assert.deepEqual(replicatedLeaf(data, salt, n, 2 * n + 4), replicaLeaf(data, salt, 2, 4))
  // A provider keeping only replica 0 cannot answer a challenge on replica 1 with those bytes.
  const t = tree(salt, 2)
  const p = multiProof(t, [n + 1])
  const cheat = { ...p, leaves: replicaLeaf(data, salt, 0, 1) }
  assert.equal(verifyMultiProof({ root: t.root, depth: t.depth, positions: [n + 1], ...cheat }), false)
})

test('sizing: challenges for a confidence, the detection probability, the deterring collateral', () => {
  assert.equal(challengesFor({ lostFraction: 0.01, confidence: 0.99, periods: 30 }), 16)
  assert.equal(challengesFor({ lostFraction: 0.01, confidence: 0.99 }), 459)
  assert.ok(Math.abs(detectionProbability({ lostFraction: 0.01, challenges: 16, periods: 30 }) - (1 - 0.99 ** 480)) < 1e-12)
  assert.ok(detectionProbability({ lostFraction: 0.01, challenges: 16, periods: 30 }) >= 0.99)
  // PDP's default: 5 challenges a day, 30 days.
  assert.ok(Math.abs(detectionProbability({ lostFraction: 0.01, challenges: 5, periods: 30 }) - 0.779) < 0.001)
  assert.equal(detectionProbability({ lostFraction: 0, challenges: 5 }), 0)
  const c = deterringCollateral({ lostFraction: 0.5, challenges: 1, periods: 1, storageCostPerPeriod: 1000n })
  assert.equal(c, 1000n) // saving 500, caught with probability 1/2
  assert.throws(() => challengesFor({ lostFraction: 0, confidence: 0.9 }), StorageProofError)
  assert.throws(() => deterringCollateral({ lostFraction: 0, challenges: 1, periods: 1, storageCostPerPeriod: 1n }), /nothing is ever detected/)
})
