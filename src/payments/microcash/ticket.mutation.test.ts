/**
 * Fast, exact checks of src/payments/microcash/ticket.ts against the deployed ConcurrentLottery (its pure views
 * `ticketHash`, `ticketDigest`, `batchDigest`, `roundAt`, `drawBlockOf`, `winnerRank` through eth_call on the
 * embedded EVM) at the boundaries where an off-by-one or a wrong operator would make the server and the contract
 * disagree: the Feistel half-width at powers of 4, the cycle walk on domains that are not powers of 4, the
 * 2^32 domain edge, the range guard of `permute`, and the Merkle tree of 1, 2 and 3 leaves. One chain, a few seconds.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { encodeAbiParameters, keccak256 as vkeccak, concat, toHex, type Address, type Hex } from 'viem'
import { createChain } from '../../chain/chain.js'
import { deploySouk } from '../deploy.js'
import type { Chain } from '../../chain/types.js'
import { ConcurrentLotteryAbi, deployConcurrentLottery } from './contract.js'
import {
  microcashDomain, ticketHash, ticketDigest, batchDigest, buildTree, proofOf, processProof, hashPair, roundAt, drawBlockOf, drawKey,
  feistelHalfBits, permute, winnerRank, winnersOf, TICKET_TYPEHASH, BATCH_TYPEHASH, MICROCASH_DOMAIN_NAME, MICROCASH_DOMAIN_VERSION,
  type MicroTicket,
} from './ticket.js'
import { bytesToHex, hexToBytes } from '../../crypto/index.js'

const h = (s: string): Hex => vkeccak(toHex(s))
const MAX_U32 = 2 ** 32 - 1

let chain: Chain
let lottery: Address
/** eth_call of a pure/view function of the lottery. */
const call = <T>(functionName: string, args: unknown[]) =>
  chain.public.readContract({ address: lottery, abi: ConcurrentLotteryAbi, functionName, args } as never) as Promise<T>
/** The contract's rank of `seq` (as a number). */
const chainRank = async (seed: Hex, escrowId: bigint, round: number, seq: number, n: number) =>
  Number(await call<bigint>('winnerRank', [seed, escrowId, BigInt(round), BigInt(seq), BigInt(n)]))

before(async () => {
  chain = await createChain({ kind: 'embedded', accounts: 2 })
  const d = await deploySouk(chain, chain.devKeys[0]!)
  lottery = await deployConcurrentLottery(chain, chain.devKeys[0]!, d.token)
})
after(async () => { await chain.close() })

// ---------------------------------------------------------------- hashes and digests
const tickets: MicroTicket[] = [
  { escrowId: 1n, server: '0x00000000000000000000000000000000000000a1', seq: 0, round: 0, salt: h('salt:0') },
  { escrowId: 2n ** 256n - 1n, server: '0xFFfFfFffFFfffFFfFFfFFFFFffFFFffffFfFFFfF', seq: MAX_U32, round: 2 ** 40, salt: `0x${'ff'.repeat(32)}` },
  { escrowId: 7n, server: '0x5FbDB2315678afecb367f032d93F642f64180aa3', seq: 12345, round: 999, salt: `0x${'00'.repeat(32)}` },
]

test('ticketHash is the contract\'s struct hash for edge values of every field (and of its own type string)', async () => {
  assert.equal(bytesToHex(TICKET_TYPEHASH), h('Ticket(uint256 escrowId,address server,uint256 seq,uint256 round,bytes32 salt)'))
  for (const t of tickets) {
    const args = [t.escrowId, t.server, BigInt(t.seq), BigInt(t.round), t.salt]
    const expected = await call<Hex>('ticketHash', args)
    assert.equal(bytesToHex(ticketHash(t)), expected, JSON.stringify(t, (_k, v) => (typeof v === 'bigint' ? String(v) : v)))
    // The same hash written out as abi.encode (independent of ticket.ts's buffer layout).
    const enc = encodeAbiParameters(
      [{ type: 'bytes32' }, { type: 'uint256' }, { type: 'address' }, { type: 'uint256' }, { type: 'uint256' }, { type: 'bytes32' }],
      [bytesToHex(TICKET_TYPEHASH), ...args] as never,
    )
    assert.equal(bytesToHex(ticketHash(t)), vkeccak(enc))
  }
})

test('ticketHash depends on every field: changing any one of them changes the leaf', () => {
  const base = tickets[2]!
  const leaf = bytesToHex(ticketHash(base))
  const variants: MicroTicket[] = [
    { ...base, escrowId: base.escrowId + 1n }, { ...base, server: '0x5FbDB2315678afecb367f032d93F642f64180aa4' },
    { ...base, seq: base.seq + 1 }, { ...base, round: base.round + 1 }, { ...base, salt: h('other') },
  ]
  for (const v of variants) assert.notEqual(bytesToHex(ticketHash(v)), leaf)
  // A ticket hashed again after others gives the same leaf (the shared buffer carries nothing over).
  assert.equal(bytesToHex(ticketHash(base)), leaf)
})

test('ticketDigest and batchDigest are the contract\'s EIP-712 digests under its domain', async () => {
  assert.equal(MICROCASH_DOMAIN_NAME, 'Souk ConcurrentLottery')
  assert.equal(MICROCASH_DOMAIN_VERSION, '1')
  assert.equal(bytesToHex(BATCH_TYPEHASH), h('TicketBatch(uint256 escrowId,bytes32 root)'))
  const domain = microcashDomain(chain.chainId, lottery)
  for (const t of tickets) {
    const expected = await call<Hex>('ticketDigest', [t.escrowId, t.server, BigInt(t.seq), BigInt(t.round), t.salt])
    assert.equal(bytesToHex(ticketDigest(domain, t)), expected)
  }
  for (const [escrowId, root] of [[1n, h('root')], [2n ** 256n - 1n, `0x${'ff'.repeat(32)}`], [0n, `0x${'00'.repeat(32)}`]] as const) {
    const expected = await call<Hex>('batchDigest', [escrowId, root])
    assert.equal(bytesToHex(batchDigest(domain, escrowId, hexToBytes(root))), expected)
  }
  // Another contract address or chain is another domain: the digest differs.
  const t = tickets[0]!
  assert.notEqual(bytesToHex(ticketDigest(microcashDomain(chain.chainId + 1, lottery), t)), bytesToHex(ticketDigest(domain, t)))
})

// ---------------------------------------------------------------- Merkle tree
test('Merkle tree: one leaf is its own root with an empty proof; two and three leaves hash sorted pairs, the odd one carried up', () => {
  const [a, b, c] = ['a', 'b', 'c'].map((s) => hexToBytes(h(`leaf:${s}`))) as [Uint8Array, Uint8Array, Uint8Array]
  const sortedPair = (x: Uint8Array, y: Uint8Array) => vkeccak(Buffer.compare(x, y) <= 0 ? concat([bytesToHex(x), bytesToHex(y)]) : concat([bytesToHex(y), bytesToHex(x)]))
  const one = buildTree([a])
  assert.equal(bytesToHex(one.root), bytesToHex(a))
  assert.deepEqual(proofOf(one, 0), [])
  assert.equal(bytesToHex(processProof(a, [])), bytesToHex(a))
  const two = buildTree([a, b])
  assert.equal(bytesToHex(two.root), sortedPair(a, b))
  assert.equal(bytesToHex(hashPair(a, b)), bytesToHex(hashPair(b, a)), 'commutative, like OZ commutativeKeccak256')
  assert.deepEqual(proofOf(two, 0).map(bytesToHex), [bytesToHex(b)])
  const three = buildTree([a, b, c])
  assert.equal(bytesToHex(three.root), sortedPair(hexToBytes(sortedPair(a, b)), c))
  assert.deepEqual(proofOf(three, 2).map(bytesToHex), [sortedPair(a, b)], 'the carried leaf needs one sibling, not two')
  for (let i = 0; i < 3; i++) assert.equal(bytesToHex(processProof([a, b, c][i]!, proofOf(three, i))), bytesToHex(three.root))
  assert.notEqual(bytesToHex(processProof(c, proofOf(three, 0))), bytesToHex(three.root))
})

// ---------------------------------------------------------------- rounds
test('roundAt and drawBlockOf agree with the contract at round edges (last block of a round, first of the next)', async () => {
  for (const [block, L] of [[0, 1], [99, 100], [100, 100], [101, 100], [7, 3], [2 ** 40 + 5, 6]] as const) {
    const expected = Number(await call<bigint>('roundAt', [BigInt(block), BigInt(L)]))
    assert.equal(roundAt(block, L), expected, `roundAt(${block}, ${L})`)
    assert.equal(roundAt(BigInt(block), L), expected, 'a bigint block number gives the same round')
  }
  assert.equal(roundAt(99, 100), 0)
  assert.equal(roundAt(100, 100), 1)
  for (const [round, L, D] of [[0, 1, 1], [0, 10, 3], [5, 10, 3], [7, 4, 0], [1000, 64, 2]] as const) {
    const expected = Number(await call<bigint>('drawBlockOf', [BigInt(round), BigInt(L), BigInt(D)]))
    assert.equal(drawBlockOf(round, L, D), expected, `drawBlockOf(${round}, ${L}, ${D})`)
  }
  assert.equal(drawBlockOf(5, 10, 3), 62, 'round 5 of 10-block rounds ends at block 59; drawn 3 blocks later')
})

// ---------------------------------------------------------------- draws
test('drawKey is keccak256(abi.encode(seed, escrowId, round)), for a hex seed and a byte seed alike', () => {
  const seed = h('seed')
  const expected = vkeccak(encodeAbiParameters([{ type: 'bytes32' }, { type: 'uint256' }, { type: 'uint256' }], [seed, 2n ** 200n + 3n, 77n]))
  assert.equal(bytesToHex(drawKey(seed, 2n ** 200n + 3n, 77)), expected)
  assert.equal(bytesToHex(drawKey(hexToBytes(seed), 2n ** 200n + 3n, 77)), expected)
})

test('feistelHalfBits is the least h >= 1 with 4^h >= n, exact at powers of 4 and one past them', () => {
  const cases: [number, number][] = [[1, 1], [2, 1], [3, 1], [4, 1], [5, 2], [16, 2], [17, 3], [64, 3], [65, 4], [2 ** 30, 15], [2 ** 30 + 1, 16], [MAX_U32, 16], [2 ** 32, 16]]
  for (const [n, hb] of cases) assert.equal(feistelHalfBits(n), hb, `n = ${n}`)
})

test('permute refuses x < 0, x >= n and n > 2^32 with a RangeError naming x and n; accepts both ends of [0, n) at n = 2^32', () => {
  const key = drawKey(h('guard'), 1n, 1)
  assert.throws(() => permute(key, -1, 10), { name: 'RangeError', message: 'permute: need 0 <= x < n <= 2^32, got x=-1 n=10' })
  assert.throws(() => permute(key, 10, 10), { name: 'RangeError', message: 'permute: need 0 <= x < n <= 2^32, got x=10 n=10' })
  assert.throws(() => permute(key, 11, 10), RangeError)
  assert.throws(() => permute(key, 0, 0), RangeError)
  assert.throws(() => permute(key, 0, 2 ** 32 + 1), { name: 'RangeError', message: 'permute: need 0 <= x < n <= 2^32, got x=0 n=4294967297' })
  assert.throws(() => permute(key, Number.NaN, 10), RangeError)
  assert.equal(permute(key, 0, 1), 0, 'a domain of one maps 0 to 0 (after walking the cycle out of [1, 4))')
  for (const x of [0, MAX_U32]) assert.ok(permute(key, x, 2 ** 32) <= MAX_U32)
})

test('winnerRank equals the contract\'s for small domains, powers of 4 and their neighbours, and the 2^32 edge', async () => {
  const seeds = [h('rank:0'), h('rank:1'), h('rank:2')]
  const cases: [number, number][] = []
  for (const n of [1, 2, 3, 4, 5, 15, 16, 17]) for (let s = 0; s < n; s++) cases.push([n, s])
  for (const n of [63, 64, 65, 1000, 2 ** 20, 2 ** 30, 2 ** 30 + 1, MAX_U32, 2 ** 32]) for (const s of [0, 1, Math.floor(n / 2), n - 1]) cases.push([n, s])
  const got: [number, number, number, number][] = []
  const want: [number, number, number, number][] = []
  await Promise.all(seeds.flatMap((seed, k) => cases.map(async ([n, s]) => {
    const round = 5 + k
    got.push([k, n, s, winnerRank(seed, BigInt(k + 1), round, s, n)])
    want.push([k, n, s, await chainRank(seed, BigInt(k + 1), round, s, n)])
  })))
  const key = (x: [number, number, number, number]) => `${x[0]}:${x[1]}:${x[2]}`
  const sort = (a: [number, number, number, number][]) => [...a].sort((x, y) => (key(x) < key(y) ? -1 : key(x) > key(y) ? 1 : 0))
  assert.deepEqual(sort(got), sort(want))
})

test('permute is a bijection of [0, n) for every n up to 70 (no value escapes the domain during the cycle walk)', () => {
  const key = drawKey(h('bijection'), 9n, 3)
  for (let n = 1; n <= 70; n++) {
    const seen = new Set<number>()
    for (let x = 0; x < n; x++) {
      const r = permute(key, x, n)
      assert.ok(Number.isInteger(r) && r >= 0 && r < n, `π(${x}) = ${r} outside [0, ${n})`)
      seen.add(r)
    }
    assert.equal(seen.size, n, `n = ${n}`)
  }
})

test('winnersOf lists exactly the W sequence numbers the contract ranks below W, in rank order', async () => {
  for (const [N, W] of [[2, 1], [5, 2], [17, 8], [64, 5]] as const) {
    const seed = h(`winners:${N}`)
    const ranks = await Promise.all(Array.from({ length: N }, (_, s) => chainRank(seed, 4n, 11, s, N)))
    const expected = Array.from({ length: W }, (_, r) => ranks.indexOf(r))
    assert.deepEqual(winnersOf(seed, 4n, 11, N, W), expected, `N = ${N}, W = ${W}`)
    assert.deepEqual(winnersOf(hexToBytes(seed), 4n, 11, N, W), expected)
  }
})
