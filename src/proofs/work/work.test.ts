/**
 * src/proofs/work: the tree, the challenges and the verdicts against an independent reference (viem's keccak and ABI
 * encoding, a recursive tree over padded leaves) and against WorkMarket on the embedded chain (its `leafOf`,
 * `verifyLeaf` and `verdictDigest`), plus fast-check properties: every path of every batch verifies, any change to
 * the leaf, a sibling, the position or the depth makes it fail, challenges stay in the batch and match the spec's
 * formula, verdicts recover to their signer only.
 */
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { concat, encodeAbiParameters, encodePacked, keccak256, toHex, type Address, type Hex } from 'viem'
import { privateKeyToAddress } from 'viem/accounts'
import * as C from '../../../artifacts/contracts.js'
import { createChain } from '../../chain/index.js'
import { deployContract } from '../../chain/deploy.js'
import {
  InsufficientDeterrenceError, WorkProofError, batchDepth, buildWorkTree, challengeCount, challengedUnit, challengedUnits, missProbability, recoverVerdictSigner,
  signVerdict, verdictDigest, verifyVerdict, verifyWorkPath, verifyWorkUnit, workLeaf, workNode, workPath, workRoot, workTreeFromLeaves, workTreeLeaf,
} from './index.js'

const ZERO = `0x${'00'.repeat(32)}` as Hex
const h = (s: string) => keccak256(toHex(s))
const units = (tag: string, first: number, n: number) => Array.from({ length: n }, (_, i) => ({ inputHash: h(`${tag}:in:${first + i}`), outputHash: h(`${tag}:out:${first + i}`) }))
/** The spec's leaf and a recursive tree, written from the spec with viem only. */
const refLeaf = (u: number, a: Hex, b: Hex) => keccak256(encodePacked(['uint8', 'uint32', 'bytes32', 'bytes32'], [0, u, a, b]))
const refNode = (l: Hex, r: Hex) => keccak256(concat(['0x01', l, r]))
function refRoot(leaves: Hex[]): Hex {
  let d = 0
  while (2 ** d < leaves.length) d++
  let lv = [...leaves, ...Array(2 ** d - leaves.length).fill(ZERO)]
  while (lv.length > 1) lv = Array.from({ length: lv.length / 2 }, (_, i) => refNode(lv[2 * i]!, lv[2 * i + 1]!))
  return lv[0]!
}

test('leaf, node and root equal the spec written with viem; a batch of one unit has its leaf as root', () => {
  const us = units('t', 9, 13)
  assert.equal(workLeaf(9, us[0]!.inputHash, us[0]!.outputHash), refLeaf(9, us[0]!.inputHash, us[0]!.outputHash))
  assert.equal(workNode(us[0]!.inputHash, us[1]!.outputHash), refNode(us[0]!.inputHash, us[1]!.outputHash))
  for (const n of [1, 2, 3, 5, 8, 13]) {
    const sub = us.slice(0, n)
    assert.equal(workRoot(9, sub), refRoot(sub.map((u, i) => refLeaf(9 + i, u.inputHash, u.outputHash))), `n = ${n}`)
  }
  const one = buildWorkTree(4, us.slice(0, 1))
  assert.equal(one.depth, 0)
  assert.equal(one.root, workLeaf(4, us[0]!.inputHash, us[0]!.outputHash))
  assert.deepEqual(workPath(one, 0), [])
  assert.equal(buildWorkTree(9, us).root, workTreeFromLeaves(9, us.map((u, i) => workLeaf(9 + i, u.inputHash, u.outputHash))).root)
})

test('inline asserts and typed errors: bad sizes and units are refused by name; verify never throws', () => {
  assert.throws(() => batchDepth(0), WorkProofError)
  assert.throws(() => batchDepth(2 ** 20 + 1), (e: unknown) => e instanceof WorkProofError && e.reason === 'bad-size')
  assert.equal(batchDepth(2 ** 20), 20)
  assert.throws(() => workLeaf(-1, ZERO, ZERO), RangeError)
  assert.throws(() => workLeaf(1.5, ZERO, ZERO), TypeError)
  assert.throws(() => workLeaf(0, '0x12' as Hex, ZERO), RangeError)
  assert.throws(() => workLeaf(0, 7 as unknown as Hex, ZERO), TypeError)
  assert.throws(() => buildWorkTree(2 ** 32 - 1, units('x', 0, 2)), (e: unknown) => e instanceof WorkProofError && e.reason === 'bad-unit')
  assert.throws(() => workPath(buildWorkTree(0, units('x', 0, 3)), 3), RangeError)
  assert.equal(verifyWorkPath('0x12' as Hex, 0, 1, ZERO, []), false)
  assert.equal(verifyWorkPath(ZERO, 5, 2, ZERO, [ZERO]), false)
  assert.equal(verifyWorkPath(ZERO, 0, 0, ZERO, []), false)
  assert.throws(() => challengedUnits(ZERO, ZERO, 0, 0, 4, 0), RangeError)
  const e = new InsufficientDeterrenceError(160n, 30n)
  assert.deepEqual([e.required, e.given, e.code], [160n, 30n, 'WORK_INSUFFICIENT_DETERRENCE'])
})

test('property: every path of every batch verifies, and a changed leaf, sibling, position or depth fails', () => {
  fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 31 }), fc.integer({ min: 1, max: 300 }), fc.nat(), fc.nat(), (first, count, p, flip) => {
    const us = units(`p${first}`, first, count)
    const t = buildWorkTree(first, us)
    const pos = p % count
    const leaf = workTreeLeaf(t, pos)
    const path = workPath(t, pos)
    assert.equal(path.length, t.depth)
    assert.ok(verifyWorkPath(t.root, pos, count, leaf, path))
    assert.ok(verifyWorkUnit({ root: t.root, first, count, unit: first + pos, ...us[pos]!, path }))
    assert.ok(!verifyWorkUnit({ root: t.root, first, count, unit: first + pos, inputHash: us[pos]!.outputHash, outputHash: us[pos]!.outputHash, path }))
    if (count > 1) {
      assert.ok(!verifyWorkPath(t.root, (pos + 1 + (flip % (count - 1))) % count, count, leaf, path), 'another position')
      const j = flip % path.length
      const bad = [...path]
      bad[j] = keccak256(bad[j]!)
      assert.ok(!verifyWorkPath(t.root, pos, count, leaf, bad), 'a changed sibling')
      assert.ok(!verifyWorkPath(t.root, pos, count, leaf, path.slice(1)), 'a path one short')
      assert.ok(!verifyWorkPath(t.root, pos, count, leaf, [...path, path[0]!]), 'a path one long')
    }
  }), { numRuns: 200 })
})

test('property: challenges follow keccak256(abi.encode(seed, jobId, batch, i)) % count from first, k = min(checks, count)', () => {
  fc.assert(fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.integer({ min: 0, max: 2 ** 40 }), fc.integer({ min: 0, max: 2 ** 31 }), fc.integer({ min: 1, max: 2 ** 20 }), fc.integer({ min: 1, max: 64 }),
    (seedBytes, batch, first, count, k) => {
      const seed = toHex(seedBytes), jobId = h(`job${batch}`)
      const got = challengedUnits(seed, jobId, batch, first, count, k)
      assert.equal(got.length, challengeCount(k, count))
      got.forEach((u, i) => {
        const ref = first + Number(BigInt(keccak256(encodeAbiParameters([{ type: 'bytes32' }, { type: 'bytes32' }, { type: 'uint256' }, { type: 'uint256' }], [seed, jobId, BigInt(batch), BigInt(i)]))) % BigInt(count))
        assert.equal(u, ref)
        assert.equal(challengedUnit(seed, jobId, BigInt(batch), first, count, i), u)
        assert.ok(u >= first && u < first + count)
      })
    }), { numRuns: 100 })
  assert.equal(missProbability({ count: 100, skipped: 10, k: 2 }), 0.81)
})

test('property: a verdict recovers to its signer only; another job, batch, unit or output does not', async () => {
  const domain = { chainId: 31337, verifyingContract: '0x00000000000000000000000000000000000000aa' as Address }
  await fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: 2 ** 30 }), fc.nat(), fc.nat(), async (k, batch, unit) => {
    const key = toHex(BigInt(k), { size: 32 })
    const v = { jobId: h(`j${k}`), batch, unit, output: h(`o${unit}`) }
    const sig = await signVerdict(key, domain, v)
    const me = privateKeyToAddress(key)
    assert.ok(verifyVerdict(domain, v, sig, me))
    for (const w of [{ ...v, jobId: h('other') }, { ...v, batch: batch + 1 }, { ...v, unit: unit + 1 }, { ...v, output: h('x') }]) assert.ok(!verifyVerdict(domain, w, sig, me))
    assert.ok(!verifyVerdict({ ...domain, chainId: 1 }, v, sig, me))
    assert.equal(recoverVerdictSigner(domain, v, '0x1234').ok, false)
  }), { numRuns: 20 })
})

test('vectors: WorkMarket computes the same leaves, path checks and verdict digests', async () => {
  const chain = await createChain({ kind: 'embedded', accounts: 2 })
  after(() => chain.close())
  const market = await deployContract(chain, chain.devKeys[0]!, C.WorkMarketAbi, C.WorkMarketBytecode, ['0x00000000000000000000000000000000000000aa'])
  const read = <T>(fn: string, args: unknown[]) => chain.public.readContract({ address: market, abi: C.WorkMarketAbi, functionName: fn, args } as never) as Promise<T>
  for (const [first, count] of [[0, 1], [3, 2], [77, 7], [1000, 64], [2 ** 31, 129]] as const) {
    const us = units('v', first, count)
    const t = buildWorkTree(first, us)
    for (const pos of new Set([0, count - 1, count >> 1])) {
      assert.equal(await read<Hex>('leafOf', [BigInt(first + pos), us[pos]!.inputHash, us[pos]!.outputHash]), workTreeLeaf(t, pos))
      assert.equal(await read<boolean>('verifyLeaf', [t.root, BigInt(first), BigInt(count), BigInt(first + pos), us[pos]!.inputHash, us[pos]!.outputHash, workPath(t, pos)]), true)
    }
  }
  const domain = { chainId: chain.chainId, verifyingContract: market }
  for (const v of [{ jobId: h('a'), batch: 0n, unit: 0n, output: h('b') }, { jobId: h('c'), batch: 2n ** 40n, unit: 2n ** 32n - 1n, output: ZERO }]) {
    assert.equal(await read<Hex>('verdictDigest', [v.jobId, v.batch, v.unit, v.output]), verdictDigest(domain, v))
  }
})

test('a 2^20-unit batch builds within seconds and its deepest paths verify', () => {
  const n = 2 ** 20
  const us = Array.from({ length: n }, (_, i) => ({ inputHash: toHex(BigInt(i) + 1n, { size: 32 }), outputHash: toHex(BigInt(i) * 7n + 3n, { size: 32 }) }))
  const t0 = performance.now()
  const t = buildWorkTree(0, us)
  const ms = performance.now() - t0
  console.log(`work tree: 2^20 units in ${Math.round(ms)} ms`)
  assert.equal(t.depth, 20)
  for (const pos of [0, n - 1, 123_457]) assert.ok(verifyWorkPath(t.root, pos, n, workTreeLeaf(t, pos), workPath(t, pos)))
  assert.ok(ms < 60_000)
})
