/**
 * The microcash server's checks, one behaviour each, against the real ConcurrentLottery on the embedded chain:
 * every rejection (reason, message and details), every boundary of the schedule, the draw margin, the redemption
 * policy (batch size, delay, expiry), the draw window, and every way a winner ends (redeemed, compensated, lost
 * with its reason). Kept fast (one chain for the file, only the token and the lottery deployed): it is the first
 * file the `microcash-server` mutation area runs (docs/testing.md).
 */
import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import type { Address, Hex } from 'viem'
import { ConcurrentLotteryAbi, ConcurrentLotteryBytecode, SoukTokenAbi, SoukTokenBytecode } from '../../../artifacts/contracts.js'
import { createChain } from '../../chain/chain.js'
import { deployContract, faucet } from '../../chain/deploy.js'
import { ChainError, ContractRevertError } from '../../chain/errors.js'
import { openDatabase, type Db } from '../../core/db.js'
import { memoryLogger } from '../../core/logger.js'
import { manualClock, systemClock } from '../../core/clock.js'
import { seededRng } from '../../crypto/rng.js'
import { bytesToHex, hexToBytes, signDigest } from '../../crypto/index.js'
import { PaymentRejectedError } from '../errors.js'
import { createEscrow, getEscrow, isPaidTo, proveDuplicate, recordDraw, redeemWinners, seedOf, withdrawEscrow, BURN_ADDRESS, type EscrowParams, type SignedTicket } from './contract.js'
import { createIssuer, createSequenceAllocator } from './issuer.js'
import { toWire } from './scheme.js'
import { createMicrocashServer, MAX_PROOF_LENGTH, MAX_TICKETS_PER_PAYMENT, MicrocashBodySchema, ticketExpectedValue, WireTicketSchema, type MicrocashServerOptions, type WireTicket } from './server.js'
import { batchDigest, buildTree, drawBlockOf, microcashDomain, proofOf, roundAt, ticketDigest, ticketHash, winnerRank, type MicroTicket } from './ticket.js'
import { openSqliteMicrocashServerStore, openSqliteSequenceStore } from './store.js'

const P: EscrowParams = { ticketValue: 1000n, ticketsPerRound: 64, winnersPerRound: 8, roundLengthBlocks: 4, drawDelayBlocks: 3, rounds: 40, redeemWindowBlocks: 100 }
const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n

const chain = await createChain({ kind: 'embedded', accounts: 10, seed: 'microcash-server-mutation' })
after(() => chain.close())
const [deployer, sponsorKey, otherKey, aKey, bKey, cKey, strangerKey] = chain.devKeys
const addr = (k: Hex) => chain.wallet(k).account.address
/** Ticket salts of every issuer here: one stream, so a twin issuer's tickets differ from the first's. */
const rng = seededRng('microcash-server-mut')
const token = await deployContract(chain, deployer, SoukTokenAbi, SoukTokenBytecode, ['Souk Test Coin', 'SOUK', 10n ** 30n])
const lottery = await deployContract(chain, deployer, ConcurrentLotteryAbi, ConcurrentLotteryBytecode, [token])
for (const k of [sponsorKey, otherKey]) await faucet(chain, deployer, token, addr(k), 10n ** 12n)
const domain = microcashDomain(chain.chainId, lottery)
const balanceOf = (a: Address) => chain.public.readContract({ address: token, abi: SoukTokenAbi, functionName: 'balanceOf', args: [a] })

const head = async () => Number(await chain.blockNumber())
async function mineTo(n: number) {
  const b = await head()
  assert.ok(n >= b, `the chain is at block ${b}, past ${n}`)
  if (n > b) await chain.dev!.mine(n - b)
}
/** Mines to the first block of the next round (the escrow then opens in that round with blocks to spare). */
const nextRound = async (L = P.roundLengthBlocks) => mineTo((roundAt(await head(), L) + 1) * L)

type Escrow = Awaited<ReturnType<typeof openEscrow>>
async function openEscrow(o: { params?: Partial<EscrowParams>; penalty?: bigint; key?: Hex } = {}) {
  const params = { ...P, ...o.params }
  const key = o.key ?? sponsorKey
  const id = await createEscrow(chain, key, { lottery, token, params, balance: params.ticketValue * BigInt(params.winnersPerRound * params.rounds), penalty: o.penalty ?? 0n })
  const e = await getEscrow(chain, lottery, id)
  const mk = () => createIssuer({ chainId: chain.chainId, lottery, escrowId: id, privateKey: key, rng, allocator: createSequenceAllocator(openSqliteSequenceStore(':memory:'), { ticketsPerRound: params.ticketsPerRound }) })
  const draw = (round: number) => drawBlockOf(round, params.roundLengthBlocks, params.drawDelayBlocks)
  /** `twin()`: a second issuer numbering from 0 again, i.e. a sponsor that issues every number twice. */
  return { id, e, params, key, owner: addr(key), issuer: mk(), twin: mk, draw }
}

/** A server with an in-memory store (or `db`) and a capturing logger. */
function server(key: Hex, opts: Partial<MicrocashServerOptions> & { db?: Db } = {}) {
  const logger = memoryLogger()
  const db: Db = opts.db ?? openDatabase(':memory:')
  return { ...createMicrocashServer({ chain, lottery, privateKey: key, store: openSqliteMicrocashServerStore(db), clock: systemClock(), logger, ...opts }), logger, db }
}
type Server = ReturnType<typeof server>
const warnings = (s: Server, msg: string) => s.logger.entries.filter((e) => e.level === 'warn' && e.scope === 'microcash:server' && e.msg === msg).map((e) => e.fields)

/** A single-signed ticket, signed by `key` (default: the escrow's owner). */
function single(E: Escrow, t: { round: number; seq: number; server: Address; salt?: Hex; key?: Hex }): WireTicket {
  const mt: MicroTicket = { escrowId: E.id, server: t.server, seq: t.seq, round: t.round, salt: t.salt ?? bytesToHex(new Uint8Array(32).fill(t.seq + 1)) }
  return { round: t.round, seq: t.seq, salt: mt.salt, batch: false, proof: [], sig: bytesToHex(signDigest(ticketDigest(domain, mt), hexToBytes(t.key ?? E.key))) }
}
/** The high-s twin of a canonical signature (valid ECDSA, refused by the contract and the server). */
function highS(sig: Hex): Hex {
  const s = SECP256K1_N - BigInt(`0x${sig.slice(66, 130)}`)
  return `${sig.slice(0, 66)}${s.toString(16).padStart(64, '0')}${sig.endsWith('1b') ? '1c' : '1b'}` as Hex
}
const flip = (h: Hex) => (h.slice(0, -1) + (h.endsWith('0') ? '1' : '0')) as Hex

async function rejects(p: Promise<unknown>, reason: string, message?: RegExp, details?: Record<string, unknown>) {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof PaymentRejectedError, String(e))
    assert.equal(e.reason, reason, e.message)
    if (message) assert.match(e.message, message)
    if (details) assert.deepEqual(e.details, details)
    return true
  })
}

/** The seed of `drawBlock` as the contract draws it. */
const seeds = new Map<number, Hex>()
async function seedAt(drawBlock: number) {
  if (!seeds.has(drawBlock)) seeds.set(drawBlock, (await chain.public.getBlock({ blockNumber: BigInt(drawBlock) })).hash!)
  return seeds.get(drawBlock)!
}
/** The tickets of `tickets` that win their draw. */
async function winners(E: Escrow, tickets: readonly SignedTicket[]) {
  const out: SignedTicket[] = []
  for (const t of tickets) if (winnerRank(await seedAt(E.draw(t.round)), E.id, t.round, t.seq, E.params.ticketsPerRound) < E.params.winnersPerRound) out.push(t)
  return out
}
/** Pays `s` the whole round `round` of `E` (every number: exactly W winners) in one payment; returns the tickets. */
async function payRound(s: Server, E: Escrow, round: number, issuer = E.issuer) {
  const ts = issuer.issueBundle(round, [{ server: s.address, count: E.params.ticketsPerRound }])
  await s.accept(E.owner, E.id, ts.map(toWire))
  return ts
}
const report = (r: Partial<Awaited<ReturnType<Server['settle']>>>) => ({ transactions: 0, gasUsed: 0n, received: 0n, settled: 0, pending: 0, compensated: 0, compensation: 0n, lost: [], ...r })

// ---------------------------------------------------------------- accept

test('the wire schema: integer round and seq >= 0, 32-byte hex salt and root, a 65-byte hex signature, at most 32 path nodes', () => {
  const h = (hex: string) => `0x${hex}`
  const h32 = h('ab'.repeat(32))
  const t = { round: 0, seq: 0, salt: h32, batch: true, proof: [h32], sig: h('1c'.repeat(65)), root: h32 }
  const ok = (x: unknown) => assert.equal(WireTicketSchema.safeParse(x).success, true, JSON.stringify(x))
  const bad = (x: unknown) => assert.equal(WireTicketSchema.safeParse(x).success, false, JSON.stringify(x))
  ok(t)
  ok({ ...t, root: undefined, proof: [] })
  ok({ ...t, round: 7, seq: 63, salt: h('0123456789'.repeat(6) + '0123'), root: h('abcdef'.repeat(10) + 'abcd'), sig: h('ABCDEF'.repeat(21) + 'ABCD') })
  ok({ ...t, proof: Array(MAX_PROOF_LENGTH).fill(h32) })
  assert.equal(MAX_PROOF_LENGTH, 32)
  bad({ ...t, proof: Array(MAX_PROOF_LENGTH + 1).fill(h32) })
  for (const v of [-1, 1.5]) { bad({ ...t, round: v }); bad({ ...t, seq: v }) }
  bad({ ...t, batch: 'yes' })
  for (const k of ['salt', 'root'] as const) {
    for (const v of [h('ab'.repeat(31) + 'a'), h('ab'.repeat(32) + 'a'), 'ab'.repeat(33), h('ab'.repeat(31) + 'zz'), ` ${h32}`, `${h32} `, `x${h32}`, `${h32}0`]) bad({ ...t, [k]: v })
  }
  bad({ ...t, proof: [h('ab'.repeat(31))] })
  for (const v of [h('1c'.repeat(64)), h('1c'.repeat(65) + '1'), h('1c'.repeat(64) + 'zz'), `${h('1c'.repeat(65))}0`, `0${h('1c'.repeat(65))}`, '1c'.repeat(66)]) bad({ ...t, sig: v })
  // A payment body: a positive escrow id and 1 to 64 tickets.
  const body = (escrowId: bigint, n: number) => MicrocashBodySchema.safeParse({ escrowId, tickets: Array(n).fill(t) }).success
  assert.equal(MAX_TICKETS_PER_PAYMENT, 64)
  assert.deepEqual([body(1n, 1), body(1n, 64), body(0n, 1), body(-1n, 1), body(1n, 0), body(1n, 65)], [true, true, false, false, false, false])
})

test('the expected value of a ticket is V·W/N, rounded down', () => {
  assert.equal(ticketExpectedValue({ ticketValue: 1000n, winnersPerRound: 8, ticketsPerRound: 64 }), 125n)
  assert.equal(ticketExpectedValue({ ticketValue: 1000n, winnersPerRound: 3, ticketsPerRound: 64 }), 46n)
  assert.equal(ticketExpectedValue({ ticketValue: 7n, winnersPerRound: 1, ticketsPerRound: 2 }), 3n)
})

test('accept credits EV per ticket, refuses a payment claiming more than its tickets are worth, and counts both', async () => {
  const E = await openEscrow()
  const s = server(aKey)
  const round = roundAt(await head(), 4)
  const ts = E.issuer.issueBundle(round, [{ server: s.address, count: 4 }]).map(toWire)
  // The payer's address in any case; a claim equal to the worth is fine.
  assert.deepEqual(await s.accept(E.owner.toLowerCase() as Address, E.id, ts.slice(0, 2), { amount: 250n }), { credited: 250n })
  await rejects(s.accept(E.owner, E.id, [ts[2]], { amount: 126n }), 'amount-too-low', /the tickets are worth less than the payment claims/, { claimed: 126n, worth: 125n })
  assert.deepEqual(await s.accept(E.owner, E.id, [ts[2]]), { credited: 125n }) // no claim
  await rejects(s.accept(E.owner, E.id, [ts[0]]), 'replayed', new RegExp(`ticket \\(round ${round}, seq 0\\) was already received`))
  assert.deepEqual(s.stats(), { payments: 2, credited: 375n, winning: 0, rejected: 2, settled: 0, received: 0n, transactions: 0, gasUsed: 0n })
})

test('the escrow must exist, belong to the payer and hold the least penalty the server asks', async () => {
  const E = await openEscrow({ penalty: 500n })
  const O = await openEscrow({ key: otherKey })
  const s = server(aKey, { minPenalty: 500n })
  const round = roundAt(await head(), 4)
  const t = (seq: number) => single(E, { round, seq, server: s.address })
  await rejects(s.accept(E.owner, 9999n, [t(0)]), 'params-mismatch', /escrow 9999 does not exist on this contract/)
  await rejects(s.accept(E.owner, O.id, [t(0)]), 'params-mismatch', new RegExp(`escrow ${O.id} belongs to ${O.owner}, not to the payer`))
  assert.deepEqual(await s.accept(E.owner, E.id, [t(0)]), { credited: 125n }) // penalty == minimum
  const strict = server(aKey, { minPenalty: 501n })
  await rejects(strict.accept(E.owner, E.id, [t(1)]), 'underfunded', /penalty deposit below the minimum/, { penalty: 500n, min: 501n })
  // No minimum set: any penalty, even none.
  assert.deepEqual(await server(aKey).accept(O.owner, O.id, [single(O, { round, seq: 0, server: s.address })]), { credited: 125n })
})

test('the schedule: sequence numbers below N, rounds from the start to the end of the escrow, none that has not begun', async () => {
  await nextRound()
  const E = await openEscrow({ params: { drawDelayBlocks: 40, rounds: 2 } })
  const s0 = E.e.startRound
  const a = server(aKey)
  const pay = (round: number, seq: number) => a.accept(E.owner, E.id, [single(E, { round, seq, server: a.address })])
  assert.equal(roundAt(await head(), 4), s0)
  await pay(s0, 63) // N - 1
  await rejects(pay(s0, 64), 'out-of-schedule', /sequence number 64 >= 64 tickets per round/)
  // The round before the escrow's first: begun long ago, its draw still far.
  await rejects(pay(s0 - 1, 0), 'out-of-schedule', new RegExp(`round ${s0 - 1} outside the escrow's rounds \\[${s0}, ${s0 + 2}\\)`))
  await pay(s0, 0)
  await rejects(pay(s0 + 1, 0), 'future-round', new RegExp(`round ${s0 + 1} has not begun \\(current ${s0}\\)`))
  await mineTo(4 * (s0 + 1))
  await pay(s0 + 1, 0) // the current round
  await mineTo(4 * (s0 + 2))
  await rejects(pay(s0 + 2, 0), 'out-of-schedule', new RegExp(`round ${s0 + 2} outside the escrow's rounds \\[${s0}, ${s0 + 2}\\)`))
  await pay(s0 + 1, 1) // the last round of the escrow
  assert.equal(a.stats().payments, 4)
})

test('the draw margin: a ticket is refused once its draw is drawMarginBlocks (default 2) or fewer blocks away', async () => {
  await nextRound()
  const E = await openEscrow({ params: { drawDelayBlocks: 40 } })
  const round = E.e.startRound
  const draw = E.draw(round)
  const a = server(aKey)
  const b = server(bKey, { drawMarginBlocks: 5 })
  const pay = (s: Server, seq: number) => s.accept(E.owner, E.id, [single(E, { round, seq, server: s.address })])
  await mineTo(draw - 6)
  await pay(b, 0)
  await mineTo(draw - 5)
  await rejects(pay(b, 1), 'expired', new RegExp(`round ${round} draws at block ${draw}; now ${draw - 5}`))
  await mineTo(draw - 3)
  await pay(a, 0)
  await mineTo(draw - 2)
  await rejects(pay(a, 1), 'expired', new RegExp(`round ${round} draws at block ${draw}; now ${draw - 2}`))
})

test('the block number is read through the chain cache for blockCacheMs (default: fresh)', async () => {
  await nextRound()
  const E = await openEscrow({ params: { drawDelayBlocks: 20 } })
  const round = E.e.startRound
  await mineTo(4 * (round + 1) - 1)
  await chain.blockNumber() // the cache now holds the last block of `round`
  await faucet(chain, deployer, token, addr(strangerKey), 1n) // one block: `round + 1` begins
  const t = (s: Server) => single(E, { round: round + 1, seq: 0, server: s.address })
  const stale = server(aKey, { blockCacheMs: 1e9 })
  await rejects(stale.accept(E.owner, E.id, [t(stale)]), 'future-round', new RegExp(`current ${round}\\)`))
  const fresh = server(bKey)
  await fresh.accept(E.owner, E.id, [t(fresh)])
})

test('single-signed tickets: no Merkle path, a canonical signature by the escrow owner over this server\'s ticket', async () => {
  const E = await openEscrow()
  const a = server(aKey)
  const round = roundAt(await head(), 4)
  const pay = (t: WireTicket) => a.accept(E.owner, E.id, [t])
  const t0 = single(E, { round, seq: 0, server: a.address })
  await rejects(pay({ ...t0, proof: [t0.salt] }), 'malformed', /a single-signed ticket carries no Merkle path/)
  await rejects(pay(single(E, { round, seq: 0, server: a.address, key: strangerKey })), 'bad-signature', /ticket not signed by the escrow owner/)
  await rejects(pay(single(E, { round, seq: 0, server: addr(cKey) })), 'bad-signature', /ticket not signed by the escrow owner/)
  await rejects(pay({ ...t0, sig: highS(t0.sig) }), 'non-canonical-signature', /ticket signature does not verify/)
  await pay(t0)
  assert.equal(a.stats().payments, 1)
  assert.equal(a.stats().rejected, 4)
})

test('batch tickets: the path leads to the claimed root, the root is signed by the escrow owner', async () => {
  const E = await openEscrow()
  const a = server(aKey)
  const round = roundAt(await head(), 4)
  const pay = (t: WireTicket) => a.accept(E.owner, E.id, [t])
  const bundle = E.issuer.issueBundle(round, [{ server: a.address, count: 4 }]).map(toWire)
  const t = bundle[0]
  await rejects(pay({ ...t, salt: flip(t.salt) }), 'bad-merkle-path', /the path does not lead to the claimed root/, { seq: t.seq })
  // Without a claimed root the path's end is checked by the signature.
  await rejects(pay({ ...t, salt: flip(t.salt), root: undefined }), 'bad-signature', /batch not signed by the escrow owner/)
  const forged = createIssuer({ chainId: chain.chainId, lottery, escrowId: E.id, privateKey: strangerKey, rng, allocator: createSequenceAllocator(openSqliteSequenceStore(':memory:'), { ticketsPerRound: 64 }) })
  await rejects(pay(toWire(forged.issueOne(round, a.address))), 'bad-signature')
  const fb = toWire(forged.issueBundle(round, [{ server: a.address, count: 2 }])[0])
  await rejects(pay(fb), 'bad-signature', /batch not signed by the escrow owner/, { signer: addr(strangerKey), owner: E.owner })
  await rejects(pay({ ...t, sig: highS(t.sig) }), 'non-canonical-signature', /batch signature does not verify/)
  // The claimed root in capitals, or none at all.
  await pay({ ...t, root: t.root!.toUpperCase().replace('0X', '0x') as Hex })
  await pay({ ...bundle[1], root: undefined })
  assert.equal(a.stats().payments, 2)
})

test('once a batch signature is known, every ticket\'s whole path must still lead to its signed root', async () => {
  const E = await openEscrow()
  const a = server(aKey)
  const round = roundAt(await head(), 4)
  const pay = (t: WireTicket) => a.accept(E.owner, E.id, [t])
  const P1 = E.issuer.issueBundle(round, [{ server: a.address, count: 8 }]).map(toWire)
  const P2 = E.issuer.issueBundle(round, [{ server: a.address, count: 8 }]).map(toWire)
  await pay(P1[0])
  await pay(P2[0]) // a second root: both stay known
  const signedRoot = /the path does not lead to the signed root/
  await rejects(pay({ ...P1[1], proof: P1[1].proof.map(flip), root: undefined }), 'bad-merkle-path', signedRoot, { seq: P1[1].seq })
  await rejects(pay({ ...P1[1], proof: [...P1[1].proof].reverse() }), 'bad-merkle-path', signedRoot)
  // A path whose first steps are proven nodes (P1[1]'s leaf is P1[0]'s sibling) and whose rest is junk: it would be
  // stored and redeemed as sent, and its redemption would revert for the whole escrow.
  await rejects(pay({ ...P1[1], proof: [P1[1].proof[0], flip(P1[1].proof[1]), P1[1].proof[2]] }), 'bad-merkle-path', signedRoot)
  await rejects(pay({ ...P1[1], proof: [] }), 'bad-merkle-path', signedRoot)
  await rejects(pay({ ...P1[1], proof: P1[1].proof.slice(0, 2) }), 'bad-merkle-path', signedRoot)
  await pay(P1[1])
  await pay(P2[1])
  assert.equal(a.stats().payments, 4)
})

test('a batch signature covers one escrow: another escrow\'s ticket in the same tree is not signed for', async () => {
  const X = await openEscrow()
  const Y = await openEscrow()
  const a = server(aKey)
  const round = roundAt(await head(), 4)
  // One tree holding tickets of X and of Y (same owner), signed for X only.
  const mts: MicroTicket[] = [0, 1, 2, 3].map((seq) => ({ escrowId: seq < 2 ? X.id : Y.id, server: a.address, seq, round, salt: bytesToHex(new Uint8Array(32).fill(seq + 9)) }))
  const tree = buildTree(mts.map(ticketHash))
  const sig = bytesToHex(signDigest(batchDigest(domain, X.id, tree.root), hexToBytes(X.key)))
  const w = mts.map((t, j): WireTicket => ({ round, seq: t.seq, salt: t.salt, batch: true, proof: proofOf(tree, j).map(bytesToHex), sig }))
  await a.accept(X.owner, X.id, [w[0]])
  await rejects(a.accept(Y.owner, Y.id, [w[2]]), 'bad-signature', /batch not signed by the escrow owner/)
  await a.accept(X.owner, X.id, [w[1]])
  assert.equal(a.stats().payments, 2)
})

test('a number issued twice to this server is refused as duplicate-sequence and kept as evidence; the payment stores nothing', async () => {
  const E = await openEscrow()
  const a = server(aKey)
  const round = roundAt(await head(), 4)
  const first = E.issuer.issueBundle(round, [{ server: a.address, count: 2 }])
  await a.accept(E.owner, E.id, first.map(toWire))
  // The same number again under another signature (the twin starts at 0), with a fresh ticket in front of it.
  const again = E.twin().issueOne(round, a.address)
  assert.equal(again.seq, 0)
  const fresh = single(E, { round, seq: 7, server: a.address })
  await rejects(a.accept(E.owner, E.id, [fresh, toWire(again)]), 'duplicate-sequence', new RegExp(`sequence number 0 of round ${round} was already issued to this server`))
  const strip = ({ root: _root, ...t }: SignedTicket) => t
  assert.deepEqual(a.evidence(), [{ escrowId: E.id, round, seq: 0, kind: 'reused', a: strip(first[0]), b: strip(again) }])
  assert.deepEqual(warnings(a, 'sequence number reused by the sponsor'), [{ escrowId: E.id.toString(), round, seq: 0 }])
  // The same salt re-signed alone is a reuse too, not a replay.
  await rejects(a.accept(E.owner, E.id, [single(E, { round, seq: 1, server: a.address, salt: first[1].salt })]), 'duplicate-sequence')
  // All or nothing: the fresh ticket of the refused payment was not stored.
  assert.deepEqual(await a.accept(E.owner, E.id, [fresh]), { credited: 125n })
  // Two tickets of one payment with the same number under one signature (different salts).
  const mts: MicroTicket[] = [1, 2].map((k) => ({ escrowId: E.id, server: a.address, seq: 9, round, salt: bytesToHex(new Uint8Array(32).fill(k)) }))
  const tree = buildTree(mts.map(ticketHash))
  const sig = bytesToHex(signDigest(batchDigest(domain, E.id, tree.root), hexToBytes(E.key)))
  const pair = mts.map((t, j): WireTicket => ({ round, seq: 9, salt: t.salt, batch: true, proof: proofOf(tree, j).map(bytesToHex), sig }))
  await rejects(a.accept(E.owner, E.id, pair), 'duplicate-sequence', new RegExp(`sequence number 9 of round ${round}`))
  assert.deepEqual(await a.accept(E.owner, E.id, [pair[1]]), { credited: 125n })
  assert.deepEqual(a.evidence().map((x) => [x.kind, x.seq]), [['reused', 0], ['reused', 1], ['reused', 9]])
  assert.deepEqual(a.stats(), { payments: 3, credited: 500n, winning: 0, rejected: 3, settled: 0, received: 0n, transactions: 0, gasUsed: 0n })
})

test('a withdrawn escrow is refused as expired; an escrow read is trusted for escrowCacheMs', async () => {
  await nextRound()
  const E = await openEscrow({ params: { rounds: 1, redeemWindowBlocks: 1, drawDelayBlocks: 20 } })
  const cached = server(aKey, { escrowCacheMs: 1e9 })
  const fresh = server(aKey, { escrowCacheMs: 0 })
  const dflt = server(aKey)
  const round = E.e.startRound
  for (const [i, s] of [cached, fresh, dflt].entries()) await s.accept(E.owner, E.id, [single(E, { round, seq: i, server: s.address })])
  await mineTo(E.e.expiryBlock)
  await withdrawEscrow(chain, E.key, lottery, E.id)
  // The default cache (1 s) has expired for sure after this wait; the 1e9 ms one has not.
  await new Promise((r) => setTimeout(r, 1100))
  const late = (s: Server, seq: number) => s.accept(E.owner, E.id, [single(E, { round, seq, server: s.address })])
  await rejects(late(fresh, 10), 'expired', new RegExp(`escrow ${E.id} was withdrawn`))
  await rejects(late(dflt, 11), 'expired', new RegExp(`escrow ${E.id} was withdrawn`))
  // The stale read does not know of the withdrawal: only the draw margin stops the ticket.
  await rejects(late(cached, 12), 'expired', new RegExp(`round ${round} draws at block ${E.draw(round)}; now `))
})

test('a store that cannot write rejects the payment with its own error, counts it rejected and credits nothing', async () => {
  await nextRound()
  const E = await openEscrow()
  const db = openDatabase(':memory:')
  const base = openSqliteMicrocashServerStore(db)
  let fail = true
  const store = { ...base, addTickets: (...a: Parameters<typeof base.addTickets>) => { if (fail) throw new Error('SQLITE_FULL: database or disk is full'); return base.addTickets(...a) } }
  const s = server(aKey, { store, db })
  const t = single(E, { round: E.e.startRound, seq: 0, server: s.address })
  await assert.rejects(s.accept(E.owner, E.id, [t]), (e: unknown) => e instanceof Error && !(e instanceof PaymentRejectedError) && /SQLITE_FULL/.test(e.message))
  assert.deepEqual(s.stats(), { payments: 0, credited: 0n, winning: 0, rejected: 1, settled: 0, received: 0n, transactions: 0, gasUsed: 0n })
  assert.deepEqual(db.prepare('select count(*) as n from microcash_tickets').get(), { n: 0 })
  // Nothing was half-stored: once the store works the same ticket is accepted, not refused as replayed.
  fail = false
  assert.deepEqual(await s.accept(E.owner, E.id, [t]), { credited: ticketExpectedValue(E.e) })
  assert.deepEqual([s.stats().payments, s.stats().rejected], [1, 1])
})

test('the escrow cache on a manual clock: a read is reused while younger than escrowCacheMs (default 1000 ms), read again at that age', async () => {
  await nextRound()
  const E = await openEscrow({ params: { rounds: 1, redeemWindowBlocks: 1, drawDelayBlocks: 20 } })
  const clock = manualClock(5_000)
  const dflt = server(aKey, { clock }), short = server(bKey, { clock, escrowCacheMs: 300 })
  const round = E.e.startRound
  for (const s of [dflt, short]) await s.accept(E.owner, E.id, [single(E, { round, seq: 0, server: s.address })]) // both read at 5000
  await mineTo(E.e.expiryBlock)
  await withdrawEscrow(chain, E.key, lottery, E.id)
  let seq = 1
  const late = (s: Server) => s.accept(E.owner, E.id, [single(E, { round, seq: seq++, server: s.address })])
  const stale = (s: Server) => rejects(late(s), 'expired', new RegExp(`round ${round} draws at block ${E.draw(round)}; now `))
  const withdrawn = (s: Server) => rejects(late(s), 'expired', new RegExp(`escrow ${E.id} was withdrawn`))
  clock.advance(299)
  await stale(short)
  clock.advance(1) // 5300: 300 ms old
  await withdrawn(short)
  await stale(dflt)
  clock.advance(699) // 5999
  await stale(dflt)
  clock.advance(1) // 6000: 1000 ms old
  await withdrawn(dflt)
})

// ---------------------------------------------------------------- settle

test('settle: tickets wait for their draw; after it exactly the W winners are redeemed in one transaction and paid V each', async () => {
  await nextRound()
  const E = await openEscrow()
  const a = server(aKey)
  const round = E.e.startRound
  const ts = await payRound(a, E, round)
  const draw = E.draw(round)
  await mineTo(draw) // the draw block is mined, its hash not yet usable
  assert.deepEqual(await a.settle({ force: true }), report({ pending: 64 }))
  await mineTo(draw + 1)
  const before = await balanceOf(a.address)
  const r = await a.settle({ force: true })
  assert.ok(r.gasUsed > 0n)
  assert.deepEqual(r, report({ transactions: 1, gasUsed: r.gasUsed, received: 8000n, settled: 8 }))
  assert.equal(await balanceOf(a.address), before + 8000n)
  for (const w of await winners(E, ts)) assert.equal(await isPaidTo(chain, lottery, E.id, round, w.seq, a.address), true)
  assert.deepEqual(a.stats(), { payments: 1, credited: 8000n, winning: 8, rejected: 0, settled: 8, received: 8000n, transactions: 1, gasUsed: r.gasUsed })
  assert.deepEqual(await a.settle({ force: true }), report({}))
  assert.deepEqual(a.losses(), [])
})

test('settle: single-signed winners are redeemed as single-ticket bundles', async () => {
  await nextRound()
  const E = await openEscrow()
  const a = server(aKey)
  const ts = Array.from({ length: 64 }, () => E.issuer.issueOne(E.e.startRound, a.address))
  await a.accept(E.owner, E.id, ts.map(toWire))
  await mineTo(E.draw(E.e.startRound) + 1)
  const r = await a.settle({ force: true })
  assert.deepEqual(r, report({ settled: 8, received: 8000n, transactions: 1, gasUsed: r.gasUsed }))
})

test('settle: maxTicketsPerTx splits a redemption into several transactions', async () => {
  await nextRound()
  const E = await openEscrow()
  const a = server(aKey, { maxTicketsPerTx: 3 })
  await payRound(a, E, E.e.startRound)
  await mineTo(E.draw(E.e.startRound) + 1)
  const before = await balanceOf(a.address)
  const r = await a.settle({ force: true })
  assert.deepEqual(r, report({ settled: 8, received: 8000n, transactions: 3, gasUsed: r.gasUsed }))
  assert.equal(await balanceOf(a.address), before + 8000n)
})

test('settle without force: winners wait for redeemBatch (default 16) of them, or one 128 blocks past its draw; waiting draws are recorded once', async () => {
  await nextRound()
  const EA = await openEscrow(), EB = await openEscrow(), EC = await openEscrow()
  const L = 4
  const r0 = roundAt(await head(), L)
  await nextRound()
  const r1 = r0 + 1
  const a = server(aKey), b = server(bKey, { redeemBatch: 8 }), c = server(cKey, { redeemBatch: 17 })
  await payRound(a, EA, r1)
  await payRound(b, EB, r1)
  await payRound(c, EC, r1)
  await nextRound()
  await payRound(c, EC, r1 + 1)
  const d1 = EA.draw(r1), d2 = EA.draw(r1 + 1)
  await mineTo(d1 + 1)
  // A: 8 winners < 16 wait; their draw is recorded before its hash leaves the 256-block window.
  assert.equal(await seedOf(chain, lottery, d1), undefined)
  const ra = await a.settle()
  assert.deepEqual(ra, report({ pending: 8, transactions: 1, gasUsed: ra.gasUsed }))
  assert.ok(ra.gasUsed > 0n)
  assert.ok(await seedOf(chain, lottery, d1))
  // B: 8 winners = redeemBatch: redeemed (the draw is recorded already: one transaction).
  const rb = await b.settle()
  assert.deepEqual(rb, report({ settled: 8, received: 8000n, transactions: 1, gasUsed: rb.gasUsed }))
  // C: 8 winners wait, 64 tickets of the next round are not drawn yet; nothing to record.
  assert.deepEqual(await c.settle(), report({ pending: 72 }))
  await mineTo(d2 + 1)
  const rc = await c.settle()
  assert.deepEqual(rc, report({ pending: 16, transactions: 1, gasUsed: rc.gasUsed })) // records d2
  assert.deepEqual(await a.settle(), report({ pending: 8 }))
  await mineTo(d1 + 128)
  assert.deepEqual(await c.settle(), report({ pending: 16 }))
  assert.deepEqual(await a.settle(), report({ pending: 8 }))
  await mineTo(d1 + 129)
  // One of C's winners is more than 128 blocks past its draw: all 16 go (those of d2 are younger).
  const rc2 = await c.settle()
  assert.deepEqual(rc2, report({ settled: 16, received: 16000n, transactions: 1, gasUsed: rc2.gasUsed }))
  const ra2 = await a.settle()
  assert.deepEqual(ra2, report({ settled: 8, received: 8000n, transactions: 1, gasUsed: ra2.gasUsed }))
  assert.equal(a.stats().winning, 8)
  assert.equal(c.stats().winning, 16)
})

test('settle without force: a round whose tickets all lost records nothing', async () => {
  // One winner in 64 per round, one ticket per round in 4 rounds: some round loses (all four win with p = 2^-24).
  await nextRound()
  const E = await openEscrow({ params: { winnersPerRound: 1 } })
  const a = server(aKey)
  const rounds: number[] = []
  const ts: SignedTicket[] = []
  for (let i = 0; i < 4; i++) {
    const round = roundAt(await head(), 4)
    const t = E.issuer.issueOne(round, a.address)
    await a.accept(E.owner, E.id, [toWire(t)])
    ts.push(t)
    rounds.push(round)
    await nextRound()
  }
  await mineTo(E.draw(rounds[3]) + 1)
  const won = await winners(E, ts)
  assert.ok(won.length < 4)
  const r = await a.settle()
  assert.deepEqual(r, report({ pending: won.length, transactions: won.length, gasUsed: r.gasUsed }))
  for (const t of ts) assert.equal(!!(await seedOf(chain, lottery, E.draw(t.round))), won.includes(t))
  assert.equal(a.stats().winning, won.length)
})

test('settle without force: winners are redeemed at once when the expiry is 2 × drawMarginBlocks or fewer blocks away', async () => {
  await nextRound()
  const E = await openEscrow({ params: { rounds: 1, redeemWindowBlocks: 20, drawDelayBlocks: 6 } })
  const a = server(aKey, { drawMarginBlocks: 3 })
  await payRound(a, E, E.e.startRound)
  await mineTo(E.e.expiryBlock - 8)
  const r1 = await a.settle() // classifies, records the draw (one block)
  assert.deepEqual(r1, report({ pending: 8, transactions: 1, gasUsed: r1.gasUsed }))
  assert.equal(await head(), E.e.expiryBlock - 7)
  assert.deepEqual(await a.settle(), report({ pending: 8 }))
  await mineTo(E.e.expiryBlock - 6)
  const r2 = await a.settle()
  assert.deepEqual(r2, report({ settled: 8, received: 8000n, transactions: 1, gasUsed: r2.gasUsed }))
})

test('settle: winners found at the expiry are lost as expired without a transaction; a chunk that would land after it too', async () => {
  // Rounds of 8 blocks: both escrows open in the same round and expire at the same block.
  await nextRound(8)
  const params = { roundLengthBlocks: 8, drawDelayBlocks: 10, rounds: 1, redeemWindowBlocks: 10 }
  const X = await openEscrow({ params }), Z = await openEscrow({ params })
  assert.equal(X.e.expiryBlock, Z.e.expiryBlock)
  const round = X.e.startRound
  const x = server(aKey, { maxTicketsPerTx: 4 }), z = server(bKey)
  await payRound(x, X, round)
  const tz = await payRound(z, Z, round)
  const expiry = X.e.expiryBlock
  await mineTo(expiry - 1)
  // One block before the expiry: the first chunk lands at the expiry block, the second would land after it.
  const rx = await x.settle({ force: true })
  const expired = (E: Escrow, seq: number) => ({ escrowId: E.id, round, seq, reason: 'expired' as const, value: 1000n, detail: `expiry block ${expiry}` })
  assert.equal(rx.settled, 4)
  assert.deepEqual(rx, { ...report({ settled: 4, received: 4000n, transactions: 1, gasUsed: rx.gasUsed, lost: rx.lost }), lostCount: 4, lostValue: 4000n })
  assert.deepEqual(rx.lost.map((l) => ({ ...l, seq: 0 })), [0, 1, 2, 3].map(() => expired(X, 0)))
  assert.equal(await head(), expiry)
  const rz = await z.settle({ force: true })
  const lost = (await winners(Z, tz)).map((t) => expired(Z, t.seq))
  assert.deepEqual(rz, { ...report({ lost }), lostCount: 8, lostValue: 8000n })
  assert.deepEqual(z.losses(), lost)
  assert.equal(z.stats().lostCount, 8)
  assert.deepEqual(warnings(z, 'winner lost'), lost.map((l) => ({ escrowId: Z.id.toString(), round, seq: l.seq, reason: 'expired', detail: l.detail })))
  assert.deepEqual(await z.settle({ force: true }), report({}))
  assert.deepEqual(await x.settle({ force: true }), report({}))
})

test('settle: a draw the next transaction can no longer read (256 blocks back) is lost as draw-seed-lost; at 255, or once recorded, it is drawn', async () => {
  await nextRound()
  const long = { redeemWindowBlocks: 600 }
  const E = await openEscrow({ params: { ...long, drawDelayBlocks: 8 } })
  const F = await openEscrow({ params: { ...long, drawDelayBlocks: 9 } })
  const G = await openEscrow({ params: { ...long, drawDelayBlocks: 10 } })
  const round = G.e.startRound
  assert.equal(E.e.startRound, round - 1) // E and F opened a round earlier; tickets of `round` are in all three
  const a = server(aKey), b = server(bKey), c = server(cKey)
  await payRound(a, E, round)
  await payRound(b, F, round)
  await payRound(c, G, round)
  const dE = E.draw(round), dF = F.draw(round), dG = G.draw(round)
  assert.deepEqual([dF, dG], [dE + 1, dE + 2])
  await mineTo(dG + 1)
  await recordDraw(chain, strangerKey, lottery, dG) // someone records G's draw
  await mineTo(dE + 256)
  const ra = await a.settle({ force: true })
  const lost = Array.from({ length: 64 }, (_, seq) => ({ escrowId: E.id, round, seq, reason: 'draw-seed-lost' as const, value: 125n, detail: `draw block ${dE}` }))
  assert.deepEqual(ra, { ...report({ lost }), lostCount: 64, lostValue: 8000n })
  assert.deepEqual(a.losses(), lost)
  assert.deepEqual(warnings(a, 'draw seed lost (nobody recorded it within 256 blocks)'), [{ escrowId: E.id.toString(), round, drawBlock: dE }])
  assert.deepEqual(await a.settle({ force: true }), report({}))
  // F's draw is 255 blocks back: still readable by the next block.
  const rb = await b.settle({ force: true })
  assert.deepEqual(rb, report({ settled: 8, received: 8000n, transactions: 1, gasUsed: rb.gasUsed }))
  await mineTo(dG + 300)
  const rc = await c.settle({ force: true })
  assert.deepEqual(rc, report({ settled: 8, received: 8000n, transactions: 1, gasUsed: rc.gasUsed }))
})

test('settle stops at an aborted signal, before classifying and before redeeming', async () => {
  await nextRound()
  const E = await openEscrow()
  const a = server(aKey)
  await payRound(a, E, E.e.startRound)
  await mineTo(E.draw(E.e.startRound) + 1)
  const ac = new AbortController()
  ac.abort()
  await assert.rejects(a.settle({ force: true, signal: ac.signal }), { name: 'AbortError' })
  assert.equal(a.stats().winning, 0)
  const r = await a.settle() // classifies now, records the draw
  assert.deepEqual(r, report({ pending: 8, transactions: 1, gasUsed: r.gasUsed }))
  await assert.rejects(a.settle({ force: true, signal: ac.signal }), { name: 'AbortError' })
  assert.equal(a.stats().settled, 0)
  const r2 = await a.settle({ force: true, signal: new AbortController().signal })
  assert.deepEqual(r2, report({ settled: 8, received: 8000n, transactions: 1, gasUsed: r2.gasUsed }))
})

test('settle: winners a stranger already redeemed for this server are received; the rest go in one transaction', async () => {
  await nextRound()
  const E = await openEscrow()
  const a = server(aKey)
  const ts = await payRound(a, E, E.e.startRound)
  await mineTo(E.draw(E.e.startRound) + 1)
  const won = await winners(E, ts)
  await redeemWinners(chain, strangerKey, lottery, E.id, a.address, won.slice(2, 5))
  const before = await balanceOf(a.address)
  const r = await a.settle({ force: true })
  assert.deepEqual(r, report({ settled: 8, received: 8000n, transactions: 1, gasUsed: r.gasUsed }))
  assert.equal(await balanceOf(a.address), before + 5000n)
  assert.deepEqual(a.evidence(), [])
  assert.deepEqual(await a.settle({ force: true }), report({})) // booked once
})

const strip = ({ root: _root, ...t }: SignedTicket) => t

test('numbers issued to two servers: the unpaid one proves each duplicate against the server paid for it, is compensated V, keeps the evidence', async () => {
  await nextRound()
  const E = await openEscrow({ penalty: 20_001n })
  const a = server(aKey), b = server(bKey), c = server(cKey)
  const round = E.e.startRound
  const toA = await payRound(a, E, round)
  const toB = await payRound(b, E, round, E.twin())
  await nextRound()
  await payRound(c, E, round + 1)
  await mineTo(E.draw(round + 1) + 1)
  await c.settle({ force: true }) // C is paid first, for numbers of another round
  await a.settle({ force: true })
  const stolen = await winners(E, toB)
  const before = await balanceOf(b.address)
  // A stranger proves B's last stolen winner before B does: B books what it got.
  await proveDuplicate(chain, strangerKey, lottery, stolen[7], a.address)
  const r = await b.settle({ force: true })
  assert.deepEqual(r, report({ compensated: 8, compensation: 8000n, received: 8000n, transactions: 7, gasUsed: r.gasUsed }))
  assert.ok(r.gasUsed > 0n)
  assert.equal(await balanceOf(b.address), before + 8000n)
  const e = await getEscrow(chain, lottery, E.id)
  assert.deepEqual([e.closed, e.penalty, e.pool], [true, 0n, 10_000n - 8000n])
  const proven = stolen.slice(0, 7)
  assert.deepEqual(b.evidence(), proven.map((t) => ({ escrowId: E.id, round, seq: t.seq, kind: 'duplicate', a: strip(t), b: strip(toA.find((x) => x.seq === t.seq)!) })))
  assert.deepEqual(b.db.prepare('select seq, proven from microcash_evidence').all(), proven.map((t) => ({ seq: t.seq, proven: 1 })))
  assert.deepEqual(warnings(b, 'winner already paid to another server: duplicate sequence number'), proven.map((t) => ({ escrowId: E.id.toString(), round, seq: t.seq, other: a.address })))
  assert.deepEqual(b.stats(), { payments: 1, credited: 8000n, winning: 8, rejected: 0, settled: 0, received: 8000n, transactions: 7, gasUsed: r.gasUsed })
  assert.deepEqual(await b.settle({ force: true }), report({}))
})

test('a victims\' pool that runs dry: a partial compensation is received and its shortfall lost; later proofs are lost as pool-exhausted', async () => {
  await nextRound()
  const E = await openEscrow({ penalty: 3_001n }) // ⌈3001/2⌉ burned, 1500 for the pool
  const a = server(aKey), b = server(bKey, { escrowCacheMs: 1e9 })
  const round = E.e.startRound
  await payRound(a, E, round)
  const toB = await payRound(b, E, round, E.twin())
  await mineTo(E.draw(round) + 1)
  await a.settle({ force: true })
  const stolen = await winners(E, toB)
  const before = await balanceOf(b.address)
  const r = await b.settle({ force: true })
  const lost = [
    { escrowId: E.id, round, seq: stolen[1].seq, reason: 'pool-exhausted' as const, value: 500n, detail: 'compensated 500 of 1000' },
    ...stolen.slice(2).map((t) => ({ escrowId: E.id, round, seq: t.seq, reason: 'pool-exhausted' as const, value: 1000n, detail: 'ConcurrentLotteryPoolExhausted' })),
  ]
  assert.deepEqual(r, { ...report({ compensated: 2, compensation: 1500n, received: 1500n, transactions: 2, gasUsed: r.gasUsed, lost }), lostCount: 7, lostValue: 6500n })
  assert.deepEqual(b.losses(), lost)
  assert.equal(await balanceOf(b.address), before + 1500n)
  assert.equal(b.stats().lostCount, 7)
  assert.equal(b.stats().received, 1500n)
  assert.deepEqual(warnings(b, 'winner lost').map((f) => f!.seq), lost.map((l) => l.seq))
  // The escrow is caught: its tickets are refused at once, the long escrow cache notwithstanding.
  const now = roundAt(await head(), 4)
  await rejects(b.accept(E.owner, E.id, [single(E, { round: now, seq: 0, server: b.address })]), 'expired', new RegExp(`escrow ${E.id} was caught issuing a number twice: it issues no new tickets`))
  assert.deepEqual(await b.settle({ force: true }), report({}))
})

test('settle reads the escrow afresh: a schedule cut short by a proven duplicate makes waiting winners urgent', async () => {
  await nextRound()
  const E = await openEscrow({ penalty: 20_001n })
  const a = server(aKey), b = server(bKey), d = server(cKey, { escrowCacheMs: 1e9 })
  const round = E.e.startRound
  await payRound(a, E, round)
  await payRound(b, E, round, E.twin())
  await nextRound()
  await payRound(d, E, round + 1) // D's escrow read is cached now, with the whole schedule
  await mineTo(E.draw(round + 1) + 1)
  assert.deepEqual((await d.settle()).pending, 8)
  await a.settle({ force: true })
  assert.equal((await b.settle({ force: true })).compensated, 8) // the first proof ends the schedule early
  const cut = await getEscrow(chain, lottery, E.id)
  assert.ok(cut.expiryBlock < E.e.expiryBlock)
  await mineTo(cut.expiryBlock - 5)
  assert.deepEqual(await d.settle(), report({ pending: 8 }))
  await mineTo(cut.expiryBlock - 4)
  const r = await d.settle()
  assert.deepEqual(r, report({ settled: 8, received: 8000n, transactions: 1, gasUsed: r.gasUsed }))
})

test('proofs that would land after the expiry are lost as expired', async () => {
  await nextRound()
  const E = await openEscrow({ penalty: 20_001n, params: { rounds: 1, redeemWindowBlocks: 10 } })
  const a = server(aKey), b = server(bKey)
  const round = E.e.startRound
  await payRound(a, E, round)
  const toB = await payRound(b, E, round, E.twin())
  await mineTo(E.draw(round) + 1)
  await a.settle({ force: true })
  const stolen = await winners(E, toB)
  await mineTo(E.e.expiryBlock - 1)
  const r = await b.settle({ force: true }) // the first proof lands at the expiry block
  const lost = stolen.slice(1).map((t) => ({ escrowId: E.id, round, seq: t.seq, reason: 'expired' as const, value: 1000n, detail: 'ConcurrentLotteryEscrowExpired' }))
  assert.deepEqual(r, { ...report({ compensated: 1, compensation: 1000n, received: 1000n, transactions: 1, gasUsed: r.gasUsed, lost }), lostCount: 7, lostValue: 7000n })
})

test('settle: a redemption that fails for a reason other than a revert (no gas money) throws, loses nothing, and the next settle redeems', async () => {
  await nextRound()
  const E = await openEscrow()
  const poor = `0x${'5a'.repeat(32)}` as Hex // an account with no ether
  const s = server(poor)
  const round = E.e.startRound
  await payRound(s, E, round)
  await mineTo(E.draw(round) + 1)
  await assert.rejects(s.settle({ force: true }), (e: unknown) => e instanceof ChainError && !(e instanceof ContractRevertError) && /^redeemPacked failed/.test(e.message))
  assert.deepEqual(s.losses(), [])
  assert.deepEqual(s.db.prepare("select count(*) as n from microcash_tickets where status = 1").get(), { n: E.params.winnersPerRound })
  await chain.dev!.setBalance(s.address, 10n ** 18n)
  const r = await s.settle({ force: true })
  assert.deepEqual(r, report({ settled: 8, received: 8000n, transactions: 1, gasUsed: r.gasUsed }))
})

test('a proof someone else sent is booked at its own compensation: matched by round and sequence number, not either alone', async () => {
  // The pool holds 1.5 V: a stranger's first proof pays the victim V, its second only V/2. The victim must book V/2
  // for the second, not the V of an earlier proof that shares only its round (scenario 1) or only its number (2).
  const scenario = async (params: Partial<EscrowParams>, pick: (stolen: SignedTicket[]) => [SignedTicket, SignedTicket]) => {
    await nextRound()
    const E = await openEscrow({ penalty: 3_001n, params })
    const a = server(aKey), b = server(bKey)
    const toB: SignedTicket[] = []
    for (let i = 0; i < E.params.rounds; i++) {
      if (i > 0) await nextRound()
      await payRound(a, E, E.e.startRound + i)
      toB.push(...await payRound(b, E, E.e.startRound + i, E.twin()))
    }
    await mineTo(E.draw(E.e.endRound - 1) + 1)
    await a.settle({ force: true })
    const stolen = await winners(E, toB)
    const [first, second] = pick(stolen)
    await proveDuplicate(chain, strangerKey, lottery, first, a.address)
    await proveDuplicate(chain, strangerKey, lottery, second, a.address)
    const r = await b.settle({ force: true })
    assert.equal(r.compensated, 2)
    assert.equal(r.compensation, 1500n)
    assert.deepEqual(r.lost.find((l) => l.seq === second.seq && l.round === second.round), { escrowId: E.id, round: second.round, seq: second.seq, reason: 'pool-exhausted', value: 500n, detail: 'compensated 500 of 1000' })
    assert.equal(r.lost.length, stolen.length - 1)
  }
  // 1. Two proofs in one round, for different numbers.
  await scenario({}, (stolen) => [stolen[0], stolen[1]])
  // 2. Two proofs for one number, in different rounds: with N = 2 and W = 1, among three rounds' winners two share it.
  await scenario({ ticketsPerRound: 2, winnersPerRound: 1, rounds: 3 }, (stolen) => {
    for (const x of stolen) for (const y of stolen) if (x.round < y.round && x.seq === y.seq) return [x, y]
    throw new Error('unreachable: three winners from {0, 1}')
  })
})

test('settle: a winner the contract refuses for another reason (a corrupted store) is lost as unredeemable; the others are redeemed, nothing is booked as expired', async () => {
  await nextRound()
  const E = await openEscrow()
  const s = server(aKey)
  const round = E.e.startRound
  await payRound(s, E, round)
  await mineTo(E.draw(round) + 1)
  await s.settle() // classifies the draw (8 winners wait for a batch of 16)
  // The disk flipped the salt of one stored winner: its signature no longer covers it.
  const row = s.db.prepare('select seq from microcash_tickets where status = 1 order by rowid limit 1').get() as { seq: number }
  s.db.prepare('update microcash_tickets set salt = ? where seq = ? and status = 1').run(`0x${'00'.repeat(32)}`, row.seq)
  const before = await balanceOf(s.address)
  const r = await s.settle({ force: true })
  assert.equal(r.settled, 7)
  assert.equal(r.received, 7000n)
  assert.equal(r.transactions, 1)
  assert.equal(r.lost.length, 1)
  assert.deepEqual({ ...r.lost[0], detail: undefined }, { escrowId: E.id, round, seq: row.seq, reason: 'unredeemable', value: 1000n, detail: undefined })
  assert.match(r.lost[0].detail!, /^ConcurrentLottery/)
  assert.notEqual(r.lost[0].detail, 'ConcurrentLotteryEscrowExpired')
  assert.equal(await balanceOf(s.address), before + 7000n)
  assert.deepEqual(s.losses(), r.lost)
  assert.deepEqual(await s.settle({ force: true }), report({}))
})
