import { test } from 'node:test'
import { deploySouk } from '../deploy.js'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { hashTypedData, keccak256, toHex, type Address, type Hex } from 'viem'
import { createChain } from '../../chain/chain.js'

import { ConcurrentLotteryAbi, deployConcurrentLottery } from './contract.js'
import {
  microcashDomain, ticketHash, ticketDigest, batchDigest, buildTree, proofOf, processProof, winnerRank, winnersOf, permute, drawKey,
  type MicroTicket,
} from './ticket.js'
import { generate } from '../../../test/vectors/microcash.gen.js'
import { signDigest, recoverDigest, addressOf, SECP256K1_N, writeWord, bytesToHex, hexToBytes } from '../../crypto/index.js'
import { secp256k1 } from '@noble/curves/secp256k1.js'

const vectors = JSON.parse(readFileSync(new URL('../../../test/vectors/microcash.json', import.meta.url), 'utf8')) as ReturnType<typeof generate> & Record<string, unknown>

test('shared vectors: the file matches what the generator produces now', () => {
  assert.deepEqual(JSON.parse(JSON.stringify(generate())), vectors)
})

test('EIP-712 digests equal viem hashTypedData', () => {
  const d = vectors.domain
  const t = vectors.tickets[0]
  const viemDigest = hashTypedData({
    domain: { name: d.name, version: d.version, chainId: d.chainId, verifyingContract: d.verifyingContract as Address },
    types: { Ticket: [{ name: 'escrowId', type: 'uint256' }, { name: 'server', type: 'address' }, { name: 'seq', type: 'uint256' }, { name: 'round', type: 'uint256' }, { name: 'salt', type: 'bytes32' }] },
    primaryType: 'Ticket',
    message: { escrowId: BigInt(t.escrowId), server: t.server as Address, seq: BigInt(t.seq), round: BigInt(t.round), salt: t.salt as Hex },
  })
  assert.equal(viemDigest, t.ticketDigest)
  const b = vectors.batch
  const viemBatch = hashTypedData({
    domain: { name: d.name, version: d.version, chainId: d.chainId, verifyingContract: d.verifyingContract as Address },
    types: { TicketBatch: [{ name: 'escrowId', type: 'uint256' }, { name: 'root', type: 'bytes32' }] },
    primaryType: 'TicketBatch',
    message: { escrowId: 1n, root: b.root as Hex },
  })
  assert.equal(viemBatch, b.batchDigest)
})

test('Solidity computes the same hashes, digests, Merkle roots and draw ranks (shared vectors)', async () => {
  const chain = await createChain({ kind: 'embedded', accounts: 2 })
  try {
    const d = await deploySouk(chain, chain.devKeys[0])
    const lottery = await deployConcurrentLottery(chain, chain.devKeys[0], d.token)
    const read = (functionName: string, args: unknown[]) => chain.public.readContract({ address: lottery, abi: ConcurrentLotteryAbi, functionName, args } as never) as Promise<unknown>
    const domain = microcashDomain(chain.chainId, lottery)
    for (const t of vectors.tickets) {
      const args = [BigInt(t.escrowId), t.server, BigInt(t.seq), BigInt(t.round), t.salt]
      assert.equal(await read('ticketHash', args), t.ticketHash)
      const mt: MicroTicket = { escrowId: BigInt(t.escrowId), server: t.server as Address, seq: t.seq, round: t.round, salt: t.salt as Hex }
      assert.equal(await read('ticketDigest', args), bytesToHex(ticketDigest(domain, mt)))
    }
    const root = hexToBytes(vectors.batch.root)
    assert.equal(await read('batchDigest', [1n, vectors.batch.root]), bytesToHex(batchDigest(domain, 1n, root)))
    for (const r of vectors.ranks) {
      assert.equal(await read('winnerRank', [r.seed, BigInt(r.escrowId), BigInt(r.round), BigInt(r.seq), BigInt(r.ticketsPerRound)]), BigInt(r.rank), JSON.stringify(r))
    }
  } finally {
    await chain.close()
  }
})

test('Merkle proofs: every leaf of trees of 1..33 leaves proves to the root; a wrong leaf does not', () => {
  for (let n = 1; n <= 33; n++) {
    const leaves = Array.from({ length: n }, (_, i) => hexToBytes(keccak256(toHex(`leaf${n}:${i}`))))
    const tree = buildTree(leaves)
    for (let i = 0; i < n; i++) assert.deepEqual(processProof(leaves[i], proofOf(tree, i)), tree.root)
    if (n > 1) assert.notDeepEqual(processProof(leaves[0], proofOf(tree, 1)), tree.root)
  }
})

test('draw: π is a bijection, so every draw has exactly W winners', () => {
  for (const n of [2, 3, 7, 64, 100, 1000, 4097]) {
    const key = drawKey(keccak256(toHex(`k${n}`)), 1n, 5)
    const seen = new Set<number>()
    for (let s = 0; s < n; s++) {
      const r = permute(key, s, n)
      assert.ok(r >= 0 && r < n)
      seen.add(r)
    }
    assert.equal(seen.size, n)
    const W = Math.max(1, Math.floor(n / 5))
    const w = winnersOf(keccak256(toHex(`k${n}`)), 1n, 5, n, W)
    assert.equal(new Set(w).size, W)
    for (const s of w) assert.ok(winnerRank(keccak256(toHex(`k${n}`)), 1n, 5, s, n) < W)
  }
})

test('draw: over many draws each sequence number wins with frequency W/N (chi-square, fixed seed)', () => {
  const N = 32
  const W = 4
  const draws = 1500
  const wins = new Array<number>(N).fill(0)
  for (let d = 0; d < draws; d++) {
    const seed = keccak256(toHex(`chi-square:${d}`))
    for (const s of winnersOf(seed, 3n, d, N, W)) wins[s]++
  }
  const expected = (draws * W) / N
  const chi2 = wins.reduce((a, o) => a + (o - expected) ** 2 / expected, 0)
  // 31 degrees of freedom: the 0.999 quantile is 61.1. (Binomial per cell, slightly under-dispersed vs chi-square.)
  assert.ok(chi2 < 61.1, `chi2 = ${chi2.toFixed(1)}`)
  assert.equal(wins.reduce((a, b) => a + b, 0), draws * W)
})

test('signatures: native sign/recover round trip, agree with noble, reject high-s and bad v', () => {
  const key = hexToBytes(keccak256(toHex('signer')))
  const addr = addressOf(key)
  for (let i = 0; i < 20; i++) {
    const digest = hexToBytes(keccak256(toHex(`msg${i}`)))
    const sig = signDigest(digest, key)
    const rec = recoverDigest(digest, sig)
    assert.deepEqual(rec, { ok: true, address: addr })
    // noble (pure JS) produces the same deterministic RFC 6979 signature.
    const nob = secp256k1.sign(digest, key, { prehash: false, format: 'compact' })
    assert.equal(Buffer.from(nob).toString('hex'), Buffer.from(sig.subarray(0, 64)).toString('hex'))
    // The high-s twin of the same signature is refused.
    const hi = new Uint8Array(sig)
    const s = BigInt(bytesToHex(sig.subarray(32, 64)))
    writeWord(hi, 32, SECP256K1_N - s)
    hi[64] = sig[64] === 27 ? 28 : 27
    assert.deepEqual(recoverDigest(digest, hi), { ok: false, reason: 'non-canonical-signature' })
    const badV = new Uint8Array(sig)
    badV[64] = 1
    assert.equal(recoverDigest(digest, badV).ok, false)
  }
  assert.equal(recoverDigest(new Uint8Array(32), new Uint8Array(65)).ok, false)
})
