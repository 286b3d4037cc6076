import { test } from 'node:test'
import assert from 'node:assert/strict'
import { keccak256 as viemKeccak, concat, toHex, type Hex } from 'viem'
import { buildSortedTree, hashSortedPair, merkleLevels, merkleSiblings, processSortedProof, sortedTreeProof } from './merkle.js'
import { bytesToHex, hexToBytes } from './bytes.js'

const leaf = (n: number, i: number) => hexToBytes(viemKeccak(toHex(`leaf${n}:${i}`)))

test('merkleLevels: pairs (2i, 2i+1), an odd last node carried up unchanged; merkleSiblings skips carried levels', () => {
  // A non-commutative node (keccak of left ‖ right) shows the order; 5 leaves: [a b c d e] → [ab cd e] → [abcd e] → [abcde].
  const node = (l: Uint8Array, r: Uint8Array) => hexToBytes(viemKeccak(concat([bytesToHex(l), bytesToHex(r)])))
  const ls = Array.from({ length: 5 }, (_, i) => leaf(5, i))
  const levels = merkleLevels(ls, node)
  assert.deepEqual(levels.map((l) => l.length), [5, 3, 2, 1])
  assert.equal(levels[1][2], ls[4])
  assert.deepEqual(levels[3][0], node(node(node(ls[0], ls[1]), node(ls[2], ls[3])), ls[4]))
  assert.deepEqual(merkleSiblings(levels, 4), [levels[2][0]])
  assert.deepEqual(merkleSiblings(levels, 2), [ls[3], levels[1][0], ls[4]])
  assert.throws(() => merkleLevels([], node), RangeError)
})

test('sorted-pairs tree: OZ commutative keccak pairs; every proof leads to the root, a wrong one does not', () => {
  const a = leaf(2, 0), b = leaf(2, 1)
  const [lo, hi] = Buffer.compare(a, b) <= 0 ? [a, b] : [b, a]
  assert.equal(bytesToHex(hashSortedPair(a, b)), viemKeccak(concat([bytesToHex(lo), bytesToHex(hi)]) as Hex))
  assert.deepEqual(hashSortedPair(b, a), hashSortedPair(a, b))
  for (let n = 1; n <= 17; n++) {
    const ls = Array.from({ length: n }, (_, i) => leaf(n, i))
    const tree = buildSortedTree(ls)
    for (let i = 0; i < n; i++) assert.deepEqual(processSortedProof(ls[i], sortedTreeProof(tree, i)), tree.root)
    if (n > 1) assert.notDeepEqual(processSortedProof(ls[0], sortedTreeProof(tree, 1)), tree.root)
  }
})
