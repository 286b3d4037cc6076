/**
 * The lottery payee's rules one at a time, each pinned exactly, against a real TicketBroker on the embedded chain:
 * the parameters it publishes (face value, win probability, blocks, lanes), every refusal with its words and log
 * line, the boundaries of the sequence window, the block and the caches, what a winner does to the store and to the
 * parameters, when `settle()` redeems and when it waits, batches, claims, losses and what survives a restart.
 * Time is a manual clock, so the payee's caches expire exactly when a test says. Fast on purpose: the mutation run
 * (`npm run mutate -- lottery-payee`, docs/testing.md) runs this file first for every mutant.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { privateKeyToAddress } from 'viem/accounts'
import type { Address, Hex } from 'viem'
import { abis, type Chain } from '../../chain/index.js'
import { deploySouk, type SoukDeployment } from '../deploy.js'
import { write } from '../../chain/tx.js'
import { manualClock } from '../../core/clock.js'
import { memoryLogger } from '../../core/logger.js'
import { bytesToHex } from '../../crypto/bytes.js'
import { seededRng } from '../../crypto/rng.js'
import { PaymentError, PaymentRejectedError, type RejectReason } from '../errors.js'
import { fundPayer } from '../registry.js'
import type { LotteryParams } from '../schemas.js'
import type { Payment, PaymentTerms } from '../types.js'
import { createLotteryPayee, LANE_SHIFT, MAX_LANES_PER_PAYER, MAX_RETIRED_KEPT, SEQ_MASK, SEQ_WINDOW, type LotteryPayeeOptions } from './payee.js'
import { lotteryPayers, type LotteryPayers } from './mutation-fixtures.js'
import { lotteryPayeeStore } from './store.js'
import { MAX_WIN_PROB, randHash, signTicket, ticketDomain, winProbFor } from './ticket.js'

/** Below any face value the payee computes: a ticket practically never wins (p ~ 1e-16). */
const NEVER = 1n
/** Above it: face = price, so every ticket wins. */
const ALWAYS = 10n ** 17n
const RESERVE = 10n ** 20n
const UNLOCK = 30

let chain: Chain
let d: SoukDeployment
let dir: string
let keys: Hex[]
const addr = (k: Hex) => privateKeyToAddress(k).toLowerCase() as Address
/** Payers 1-4 (the 4th without reserves); payees from key 5 on, one per test. */
let A: Hex, B: Hex, POOR: Hex, U: Hex
let nextPayee = 5
/** One stream for every payee of this file: a restarted payee draws fresh lane ids and rands. */
const rng = seededRng('lottery-mut')

let world: LotteryPayers
before(async () => {
  world = await lotteryPayers({ accounts: 44, unlockPeriodBlocks: UNLOCK, reserve: RESERVE, tmpPrefix: 'souk-lottery-mut-' })
  ;({ chain, d, keys, A, B, U, POOR, dir } = world)
})
after(() => world.close())

/** A new payee (its own key, backed by a reserve of each payer in `payers`: A by default) with a manual clock and a memory logger. */
async function payee(o: { options?: LotteryPayeeOptions; store?: string; key?: Hex; deployment?: SoukDeployment; payers?: Hex[] } = {}) {
  const key = o.key ?? keys[nextPayee++]!
  if (!o.key) for (const k of o.payers ?? [A]) await broker('fundReserve', k, [addr(key), RESERVE])
  const clock = manualClock(1_000_000)
  const logger = memoryLogger()
  const pe = await createLotteryPayee({ chain, deployment: o.deployment ?? d, key, store: lotteryPayeeStore(o.store), clock, rng, logger, options: o.options })
  return { pe, key, me: addr(key), clock, logger }
}
const lp = (t: PaymentTerms) => t.params as LotteryParams
const laneOf = (t: PaymentTerms) => lp(t).nextNonce >> LANE_SHIFT
const seqOf = (t: PaymentTerms) => lp(t).nextNonce & SEQ_MASK
/** A payment under `terms` for sequence numbers `seqs` (in its lane), signed by `key`; fields may be overridden. */
function pay(terms: PaymentTerms, seqs: bigint[], o: { key?: Hex; from?: Address; amount?: bigint; nonces?: bigint[]; body?: Partial<LotteryParams & { faceValue: bigint }>; to?: Address; broker?: Address } = {}): Payment {
  const key = o.key ?? A
  const p = { ...lp(terms), ...o.body }
  const domain = ticketDomain(chain.chainId, o.broker ?? d.contracts.lottery.ticketBroker)
  const nonces = o.nonces ?? seqs.map((s) => (laneOf(terms) << LANE_SHIFT) | s)
  const tickets = nonces.map((nonce) => ({
    nonce,
    sig: bytesToHex(signTicket(domain, { recipient: terms.payee, sender: addr(key), faceValue: p.faceValue, winProb: p.winProb, senderNonce: nonce, recipientRandHash: p.recipientRandHash, expirationBlock: p.expirationBlock }, key)),
  }))
  return {
    scheme: 'lottery', payer: o.from ?? addr(key), payee: o.to ?? terms.payee, amount: o.amount ?? terms.pricePerChunk * BigInt(tickets.length),
    body: { faceValue: p.faceValue, winProb: p.winProb, recipientRandHash: p.recipientRandHash, expirationBlock: p.expirationBlock, tickets },
  }
}
async function refusal(p: Promise<unknown>): Promise<PaymentRejectedError> {
  try {
    await p
  } catch (e) {
    assert.ok(e instanceof PaymentRejectedError, String(e))
    return e
  }
  assert.fail('accepted')
}
/** The refusal's reason and its text after "Payment rejected (reason): ". */
async function refused(p: Promise<unknown>): Promise<[RejectReason, string]> {
  const e = await refusal(p)
  const prefix = `Payment rejected (${e.reason}): `
  assert.ok(e.shortMessage.startsWith(prefix), e.message)
  return [e.reason, e.shortMessage.slice(prefix.length)]
}
const broker = (functionName: string, key: Hex, args: readonly unknown[] = []) =>
  write(chain, chain.wallet(key), { address: d.contracts.lottery.ticketBroker, abi: abis.TicketBrokerAbi, functionName, args } as never)
const balance = (a: Address) => chain.public.readContract({ address: d.token, abi: abis.SoukTokenAbi, functionName: 'balanceOf', args: [a] })
function rows(store: string, sql = 'select * from lottery_winners order by id'): Record<string, unknown>[] {
  const db = new Database(store, { readonly: true })
  try { return db.prepare(sql).all() as Record<string, unknown>[] } finally { db.close() }
}

test('terms: face = (batch base + per-ticket gas) x gas price x multiplier, floored at the price and capped at the reserve; win probability price / face; blocks from the validity and redemption windows; a fresh lane at sequence 0', async () => {
  const { pe, me } = await payee()
  const gp = await chain.public.getGasPrice()
  const block = await chain.blockNumber()
  const t = await pe.terms(addr(A).toUpperCase().replace('0X', '0x') as Address, NEVER)
  const face = (57_000n + 7_000n) * gp * 100n
  assert.deepEqual({ ...t, params: { ...lp(t), recipientRandHash: undefined, nextNonce: undefined } }, {
    scheme: 'lottery', chainId: chain.chainId, contract: d.contracts.lottery.ticketBroker.toLowerCase(), payee: me, pricePerChunk: NEVER,
    params: { faceValue: face, winProb: winProbFor(NEVER, face), recipientRandHash: undefined, expirationBlock: block + 1_200n, acceptUntilBlock: block + 200n, nextNonce: undefined },
  })
  assert.equal(seqOf(t), 0n)
  assert.match(lp(t).recipientRandHash, /^0x[0-9a-f]{64}$/)
  // Every call opens a session in a lane of its own, with a rand of its own.
  const lanes = new Set<bigint>([laneOf(t)])
  const hashes = new Set<string>([lp(t).recipientRandHash])
  for (let i = 0; i < 3; i++) {
    const u = await pe.terms(addr(A), NEVER)
    lanes.add(laneOf(u))
    hashes.add(lp(u).recipientRandHash)
    assert.equal(seqOf(u), 0n)
  }
  assert.equal(lanes.size, 4)
  assert.equal(hashes.size, 4)
  // Options.
  const { pe: q } = await payee({ options: { faceValueMultiplier: 3n, redeemGasBase: 2_000n, redeemGasPerTicket: 1_000n, paramsValidityBlocks: 7, redeemWindowBlocks: 9 } })
  const gp2 = await chain.public.getGasPrice()
  const b2 = await chain.blockNumber()
  const u = lp(await q.terms(addr(A), NEVER))
  assert.deepEqual([u.faceValue, u.acceptUntilBlock, u.expirationBlock], [3_000n * gp2 * 3n, b2 + 7n, b2 + 16n])
  // Floor: a price above the computed face value is the face value; every ticket wins.
  const w = lp(await q.terms(addr(A), ALWAYS))
  assert.deepEqual([w.faceValue, w.winProb], [ALWAYS, MAX_WIN_PROB])
  await pe.close()
  await q.close()
})

test('terms: a payer whose reserve cannot back one chunk, or that is unlocking, is told why and what to do', async () => {
  const { pe, me } = await payee()
  const e = await refusal(pe.terms(addr(POOR), NEVER))
  assert.equal(e.reason, 'underfunded')
  assert.equal(e.shortMessage, `Payment rejected (underfunded): payer ${addr(POOR)} guarantees 0 for this payee beyond its unredeemed winners, less than one chunk (${NEVER})`)
  assert.deepEqual(e.hints, ['The payer must fund a reserve for this payee: TicketBroker.fundReserve(payee, amount).'])
  // A price of 0 with nothing guaranteed: still underfunded (a zero face value would be a division by zero).
  assert.equal((await refusal(pe.terms(addr(POOR), 0n))).reason, 'underfunded')
  // A reserve smaller than the computed face value: the face value is the reserve.
  await fundPayer('lottery', { chain, deployment: d, key: POOR }, { deposit: 0n, reserves: [{ payee: me, amount: 5_000n }] })
  const t = lp(await pe.terms(addr(POOR), 100n))
  assert.deepEqual([t.faceValue, t.winProb], [5_000n, winProbFor(100n, 5_000n)])
  // With a winner held against it, the rest of the reserve; none left: refused with both ways out.
  const { pe: w, me: wme, logger: wlog } = await payee()
  await fundPayer('lottery', { chain, deployment: d, key: POOR }, { deposit: 0n, reserves: [{ payee: wme, amount: 1_000n }] })
  const terms = await w.terms(addr(POOR), 1_000n) // face 1000 = price: wins
  const r = await w.receive(pay(terms, [0n], { key: POOR }))
  assert.equal(r.winning, true)
  assert.equal(r.terms, undefined, 'no new parameters: the reserve is used up')
  const logged = wlog.entries.find((x) => x.msg === 'could not issue new ticket parameters')!
  assert.equal(logged.level, 'warn')
  assert.deepEqual(Object.keys(logged.fields!), ['payer', 'error'])
  const e2 = await refusal(w.terms(addr(POOR), 1_000n))
  assert.equal(e2.shortMessage, `Payment rejected (underfunded): payer ${addr(POOR)} guarantees 0 for this payee beyond its unredeemed winners, less than one chunk (1000)`)
  assert.deepEqual(e2.hints, ['This payee holds unredeemed winners that use up the reserve: settle() redeems them, then new tickets are accepted.', 'Or the payer funds a larger reserve: TicketBroker.fundReserve(payee, amount).'])
  await fundPayer('lottery', { chain, deployment: d, key: POOR }, { deposit: 0n, reserves: [{ payee: wme, amount: 600n }] })
  assert.equal(lp(await w.terms(addr(POOR), 500n)).faceValue, 600n, 'the reserve less the winner it holds')
  // Unlocking.
  await broker('unlock', POOR)
  const withdraw = (await chain.blockNumber()) + BigInt(UNLOCK)
  const e3 = await refusal(pe.terms(addr(POOR), 100n))
  assert.equal(e3.shortMessage, `Payment rejected (underfunded): payer ${addr(POOR)} is unlocking its funds (withdraw at block ${withdraw})`)
  assert.deepEqual(e3.hints, ['The payer must cancel its unlock (TicketBroker.cancelUnlock) before paying with tickets.'])
  await broker('cancelUnlock', POOR)
  await pe.close()
  await w.close()
})

test('receive: every refusal says what is wrong, is counted, and is logged as a warning with its reason and details', async () => {
  const { pe, me, logger } = await payee()
  assert.equal(pe.scheme, 'lottery')
  const t = await pe.terms(addr(A), NEVER)
  const hash = lp(t).recipientRandHash
  const lane = laneOf(t)
  const cases: [unknown, RejectReason, string | RegExp, Record<string, unknown>?][] = [
    [{ scheme: 'channel' }, 'malformed', /^payer: .*; payee: /],
    [null, 'malformed', /^: /],
    [{ ...pay(t, [0n]), body: { ...pay(t, [0n]).body as object, tickets: [{ nonce: 0n, sig: 'x' }] } }, 'malformed', /^body\.tickets\.0\.sig: .*/],
    [{ ...pay(t, [0n]), scheme: 'channel' }, 'wrong-scheme', 'expected a lottery payment, got channel'],
    [{ ...pay(t, [0n]), body: { ...pay(t, [0n]).body as object, tickets: 'x' } }, 'malformed', /^body\.tickets: /],
    [pay(t, [0n], { to: addr(B) }), 'wrong-payee', `payment is for ${addr(B)}, not ${me}`],
    [pay(t, [0n], { body: { recipientRandHash: `0x${'11'.repeat(32)}` } }), 'unknown-params', 'tickets name a rand this payee does not accept (never issued, rotated, or issued before a restart)', { randHash: `0x${'11'.repeat(32)}` }],
    [pay(t, [0n], { key: B }), 'params-mismatch', 'these parameters were issued to another payer'],
    [pay(t, [0n], { body: { faceValue: lp(t).faceValue + 1n } }), 'params-mismatch', 'face value, win probability or expiry differ from the published parameters'],
    [pay(t, [0n], { body: { winProb: lp(t).winProb + 1n } }), 'params-mismatch', 'face value, win probability or expiry differ from the published parameters'],
    [pay(t, [0n], { body: { expirationBlock: lp(t).expirationBlock - 1n } }), 'params-mismatch', 'face value, win probability or expiry differ from the published parameters'],
    [pay(t, [0n, 1n], { amount: NEVER }), 'amount-too-low', `amount ${NEVER} ≠ 2 tickets × ${NEVER}`],
    [pay(t, [0n], { amount: 2n * NEVER }), 'amount-too-low', `amount ${2n * NEVER} ≠ 1 tickets × ${NEVER}`],
    [pay(t, [], { nonces: [((lane + 1n) << LANE_SHIFT) | 0n] }), 'params-mismatch', `nonce ${((lane + 1n) << LANE_SHIFT) | 0n} is not in lane ${lane} of these parameters`],
    [pay(t, [SEQ_WINDOW]), 'nonce-out-of-range', `sequence number ${SEQ_WINDOW} is outside [0, ${SEQ_WINDOW}) of these parameters`],
    [pay(t, [3n, 3n]), 'replayed', `nonce ${(lane << LANE_SHIFT) | 3n} was already paid under these parameters`],
    [pay(t, [4n], { key: B, from: addr(A) }), 'bad-signature', `ticket ${(lane << LANE_SHIFT) | 4n} is not signed by ${addr(A)} for chain ${chain.chainId} and broker ${d.contracts.lottery.ticketBroker.toLowerCase()} (forged, signed for another chain or contract, or not canonical)`],
    [pay(t, [4n], { broker: addr(B) }), 'bad-signature', /is not signed by/],
  ]
  for (const [p, reason, msg, details] of cases) {
    const [r, text] = await refused(pe.receive(p as Payment))
    assert.equal(r, reason, text)
    if (typeof msg === 'string') assert.equal(text, msg)
    else assert.match(text, msg)
    const last = logger.entries.at(-1)!
    assert.deepEqual([last.level, last.scope, last.msg, last.fields], ['warn', 'lottery-payee', 'ticket rejected', { reason, msg: text, ...details }])
  }
  assert.equal(pe.stats().rejected, cases.length)
  // The window's last number is accepted; a ticket once accepted is replayed.
  assert.equal((await pe.receive(pay(t, [SEQ_WINDOW - 1n]))).credited, NEVER)
  assert.deepEqual(await refused(pe.receive(pay(t, [SEQ_WINDOW - 1n]))), ['replayed', `nonce ${(lane << LANE_SHIFT) | (SEQ_WINDOW - 1n)} was already paid under these parameters`])
  assert.deepEqual(pe.stats(), { payments: 1, credited: NEVER, winning: 0, rejected: cases.length + 1, settled: 0, received: 0n, transactions: 0, gasUsed: 0n, faceValue: lp(t).faceValue })
  await pe.close()
})

test('sequence numbers: any order, each once; rotation after maxTicketsPerRand starts the lane\'s next rand above the highest seen, and the old window closes', async () => {
  const { pe, logger } = await payee({ options: { maxTicketsPerRand: 4 } })
  const t = await pe.terms(addr(A), NEVER)
  assert.equal((await pe.receive(pay(t, [7n]))).terms, undefined)
  assert.equal((await pe.receive(pay(t, [2n, 0n]))).terms, undefined, '3 tickets: below the rotation count')
  const r = await pe.receive(pay(t, [5n])) // the 4th ticket: rotate
  assert.ok(r.terms)
  assert.equal(laneOf(r.terms), laneOf(t), 'the same lane')
  assert.equal(seqOf(r.terms), 8n, 'above the highest sequence number seen (7), not the last (5)')
  assert.notEqual(lp(r.terms).recipientRandHash, lp(t).recipientRandHash)
  assert.deepEqual(await refused(pe.receive(pay(t, [1n]))), ['expired', 'these ticket parameters were rotated; use the newest terms'])
  assert.deepEqual(logger.entries.at(-1)!.fields, { reason: 'expired', msg: 'these ticket parameters were rotated; use the newest terms', randHash: lp(t).recipientRandHash })
  // The new rand's window is [8, 8 + 2^20).
  assert.deepEqual(await refused(pe.receive(pay(r.terms, [7n]))), ['nonce-out-of-range', `sequence number 7 is outside [8, ${8n + SEQ_WINDOW}) of these parameters`])
  assert.deepEqual(await refused(pe.receive(pay(r.terms, [8n + SEQ_WINDOW]))), ['nonce-out-of-range', `sequence number ${8n + SEQ_WINDOW} is outside [8, ${8n + SEQ_WINDOW}) of these parameters`])
  assert.equal((await pe.receive(pay(r.terms, [8n + SEQ_WINDOW - 1n]))).credited, NEVER)
  // A session rotated by count after one message of several tickets.
  const u = await pe.terms(addr(A), NEVER)
  const r2 = await pe.receive(pay(u, [0n, 1n, 2n, 3n]))
  assert.equal(seqOf(r2.terms!), 4n)
  await pe.close()
})

test('the block: a payment up to acceptUntilBlock is accepted (rotating within 10 blocks of it), after it is refused and its rand retired; the block is re-read after exactly one second', async () => {
  const { pe, clock } = await payee({ options: { paramsValidityBlocks: 14 } })
  const b0 = await chain.blockNumber()
  const t = await pe.terms(addr(A), NEVER) // acceptUntil b0 + 14
  await chain.dev!.mine(3) // b0 + 3: +10 = b0 + 13 < b0 + 14
  clock.advance(1_000)
  assert.equal((await pe.receive(pay(t, [0n]))).terms, undefined, 'not yet near the end')
  await chain.dev!.mine(1) // b0 + 4: +10 = acceptUntil: rotate
  clock.advance(999)
  assert.equal((await pe.receive(pay(t, [1n]))).terms, undefined, 'the block read 999 ms ago is still used')
  clock.advance(1)
  const r = await pe.receive(pay(t, [2n]))
  assert.ok(r.terms, 'rotated near the end of the window')
  const acceptUntil = lp(r.terms).acceptUntilBlock
  assert.equal(acceptUntil, b0 + 4n + 14n)
  // Past acceptUntil under the new rand.
  await chain.dev!.mine(Number(acceptUntil - (await chain.blockNumber())))
  clock.advance(1_000)
  const atEnd = await pe.receive(pay(r.terms, [seqOf(r.terms)]))
  assert.ok(atEnd.terms, 'accepted at acceptUntilBlock itself (and rotated)')
  const t3 = await pe.terms(addr(A), NEVER)
  await chain.dev!.mine(15)
  clock.advance(1_000)
  const now = await chain.blockNumber()
  assert.deepEqual(await refused(pe.receive(pay(t3, [0n]))), ['expired', `parameters expired at block ${lp(t3).acceptUntilBlock} (now ${now})`])
  assert.deepEqual(await refused(pe.receive(pay(t3, [1n]))), ['expired', 'these ticket parameters were rotated; use the newest terms'], 'and retired')
  await pe.close()
})

test('funds: a cached read is trusted when it says yes, re-read (one millisecond later) when it says no, and forgotten after fundsCacheMs', async () => {
  const { pe, me, clock, logger } = await payee({ options: { fundsCacheMs: 2_000 } })
  // POOR backs two winners of 1000 for this payee.
  await fundPayer('lottery', { chain, deployment: d, key: POOR }, { deposit: 0n, reserves: [{ payee: me, amount: 2_000n }] })
  const t = await pe.terms(addr(POOR), 10n) // face = max(computed, 10) capped at 2000
  const face = lp(t).faceValue
  assert.equal(face, 2_000n)
  const [r, text] = await refused(pe.receive(pay(t, [0n, 1n], { key: POOR })))
  assert.deepEqual([r, text], ['underfunded', `reserve 2000 does not cover 2 more winner(s) of 2000 on top of 0 unredeemed`])
  assert.deepEqual(logger.entries.at(-1)!.fields, { reason: 'underfunded', msg: text, hint: 'the payee must redeem its winners (settle) or the payer fund a larger reserve' })
  await fundPayer('lottery', { chain, deployment: d, key: POOR }, { deposit: 0n, reserves: [{ payee: me, amount: 2_000n }] }) // now 4000
  assert.equal((await refusal(pe.receive(pay(t, [0n, 1n], { key: POOR })))).reason, 'underfunded', 'same millisecond: the read that said no is the one used')
  clock.advance(1)
  assert.equal((await pe.receive(pay(t, [0n, 1n], { key: POOR }))).credited, 20n, 'read again: 4000 covers two')
  await pe.close()
  // The payer starts unlocking. A cached yes is trusted for fundsCacheMs.
  const near = await payee({ payers: [U], options: { paramsValidityBlocks: 15, redeemWindowBlocks: 5, fundsCacheMs: 2_000 } }) // tickets expire at block + 20
  const far = await payee({ payers: [U], options: { fundsCacheMs: 2_000 } }) // at block + 1200
  const edge = await payee({ payers: [U], options: { paramsValidityBlocks: 16, redeemWindowBlocks: 15, fundsCacheMs: 2_000 } }) // at block + 31
  const t1 = await near.pe.terms(addr(U), NEVER)
  const t2 = await far.pe.terms(addr(U), NEVER)
  const t3 = await edge.pe.terms(addr(U), NEVER)
  await broker('unlock', U) // withdrawal at block + 31
  edge.clock.advance(2_000)
  assert.deepEqual(await refused(edge.pe.receive(pay(t3, [0n], { key: U }))), ['underfunded', 'payer started unlocking its funds'], 'a withdrawal in the block the tickets expire is too early')
  near.clock.advance(1_999)
  far.clock.advance(1_999)
  assert.equal((await far.pe.receive(pay(t2, [0n], { key: U }))).credited, NEVER, 'within the cache time the read from terms() stands')
  near.clock.advance(1)
  far.clock.advance(1)
  // The withdrawal comes after this payee's tickets expire: they stay redeemable.
  assert.equal((await near.pe.receive(pay(t1, [0n], { key: U }))).credited, NEVER)
  // Not for a payee whose tickets expire after the withdrawal.
  assert.deepEqual(await refused(far.pe.receive(pay(t2, [1n], { key: U }))), ['underfunded', 'payer started unlocking its funds'])
  // Cancelled: a cached "unlocking" is read again (one millisecond later) before refusing.
  await broker('cancelUnlock', U)
  far.clock.advance(1)
  assert.equal((await far.pe.receive(pay(t2, [2n], { key: U }))).credited, NEVER)
  await near.pe.close()
  await far.pe.close()
  await edge.pe.close()
})

test('a winner is stored before it is acknowledged, retires its rand at once, and comes back with the lane\'s next parameters', async () => {
  const store = join(dir, 'winner.sqlite')
  const { pe, me, logger } = await payee({ store })
  const t = await pe.terms(addr(A), ALWAYS)
  const block = await chain.blockNumber()
  const r = await pe.receive(pay(t, [3n]))
  assert.equal(r.credited, ALWAYS)
  assert.equal(r.winning, true)
  assert.ok(r.terms)
  assert.deepEqual([laneOf(r.terms), seqOf(r.terms)], [laneOf(t), 4n])
  assert.deepEqual(await refused(pe.receive(pay(t, [1n]))), ['expired', 'these ticket parameters were rotated; use the newest terms'])
  assert.equal(pe.pendingWinners(), 1)
  const info = logger.entries.filter((e) => e.level === 'info')
  assert.deepEqual(info.map((e) => [e.scope, e.msg, e.fields]), [['lottery-payee', 'winning ticket stored', { payer: addr(A), winners: 1, face: ALWAYS }]])
  const [row] = rows(store)
  const p = lp(t)
  assert.deepEqual({ ...row, id: undefined, sig: undefined }, {
    id: undefined, chain_id: chain.chainId, broker: d.contracts.lottery.ticketBroker.toLowerCase(), sender: addr(A), nonce: ((laneOf(t) << LANE_SHIFT) | 3n).toString(), face: ALWAYS.toString(),
    win_prob: MAX_WIN_PROB.toString(), rand_hash: p.recipientRandHash, rand: row!.rand, expiration: p.expirationBlock.toString(), sig: undefined, status: 'pending', tx: null, reason: null,
    created_block: block.toString(),
  })
  assert.equal(randHash(BigInt(row!.rand as string)), p.recipientRandHash, 'the rand behind the published hash')
  assert.deepEqual(rows(store, 'select retired from lottery_rands order by rowid'), [{ retired: 1 }, { retired: 0 }], 'the old rand retired, the new one live')
  assert.deepEqual(pe.stats(), { payments: 1, credited: ALWAYS, winning: 1, rejected: 1, settled: 0, received: 0n, transactions: 0, gasUsed: 0n, faceValue: ALWAYS })
  // Redeemed: paid the face value, the row says so.
  const before = await balance(me)
  const rep = await pe.settle({ force: true })
  assert.equal((await balance(me)) - before, ALWAYS)
  assert.deepEqual({ ...rep, gasUsed: rep.gasUsed > 30_000n }, { transactions: 1, gasUsed: true, received: ALWAYS, settled: 1, pending: 0, claims: 0 })
  const done = rows(store)[0]!
  assert.equal(done.status, 'redeemed')
  assert.match(done.tx as string, /^0x[0-9a-f]{64}$/)
  assert.deepEqual(logger.entries.at(-1)!.msg, 'batch redeemed')
  assert.deepEqual(logger.entries.at(-1)!.fields, { tickets: 1, gas: rep.gasUsed.toString() })
  assert.deepEqual(pe.stats(), { payments: 1, credited: ALWAYS, winning: 1, rejected: 1, settled: 1, received: ALWAYS, transactions: 1, gasUsed: rep.gasUsed, faceValue: ALWAYS })
  assert.deepEqual(await pe.settle({ force: true }), { transactions: 0, gasUsed: 0n, received: 0n, settled: 0, pending: 0 })
  await pe.close()
})

test('lanes: past MAX_LANES_PER_PAYER sessions the oldest is retired and its lane reused above what it accepted', async () => {
  const { pe } = await payee({ payers: [A, B] })
  const sessions: PaymentTerms[] = []
  for (let i = 0; i < MAX_LANES_PER_PAYER; i++) sessions.push(await pe.terms(addr(A), NEVER))
  await pe.receive(pay(sessions[0]!, [5n]))
  const extra = await pe.terms(addr(A), NEVER)
  assert.equal(laneOf(extra), laneOf(sessions[0]!), 'the oldest session\'s lane')
  assert.equal(seqOf(extra), 6n, 'above what it accepted')
  assert.equal((await refusal(pe.receive(pay(sessions[0]!, [6n])))).reason, 'expired')
  assert.equal((await pe.receive(pay(sessions[1]!, [0n]))).credited, NEVER, 'the others live on')
  // Another payer's lanes are its own.
  assert.equal(seqOf(await pe.terms(addr(B), NEVER)), 0n)
  await pe.close()
})

test('settle without force: redeems when the batch is worth minValueToCostRatio (20 by default) x its gas cost, equal being enough, and gas is at most maxGasPrice', async () => {
  const cases: [LotteryPayeeOptions, bigint, number][] = [
    [{ minValueToCostRatio: 1_000n }, 1_000n, 1],
    [{ minValueToCostRatio: 1_001n }, 1_000n, 0],
    [{ minValueToCostRatio: 1n, maxGasPrice: 0n }, 1_000n, 0],
    [{ faceValueMultiplier: 1n }, 20n, 1],
    [{ faceValueMultiplier: 1n }, 19n, 0],
  ]
  for (const [options, times, settled] of cases) {
    const h = await payee({ options })
    const gp = await chain.public.getGasPrice() // what the payee reads in terms() (same block) and keeps for settle()
    const price = 64_000n * gp * times // one ticket's batch costs (57k + 7k) gas; face = price: every ticket wins
    const t = await h.pe.terms(addr(A), price)
    assert.equal(lp(t).faceValue, price)
    await h.pe.receive(pay(t, [0n]))
    const rep = await h.pe.settle()
    assert.deepEqual([rep.settled, rep.transactions, rep.pending], [settled, settled, 1 - settled], `${times} x cost, ${JSON.stringify(options, (_, v) => (typeof v === 'bigint' ? v.toString() : v))}`)
    await h.pe.close()
  }
  // maxGasPrice: at the price read, cheap enough; one wei below it, not.
  for (const [below, settled] of [[0n, 1], [1n, 0]] as const) {
    const key = keys[nextPayee++]!
    await broker('fundReserve', A, [addr(key), RESERVE])
    const gp = await chain.public.getGasPrice() // no block until terms() reads it
    const h = await payee({ key, options: { minValueToCostRatio: 1n, maxGasPrice: gp - below } })
    const t = await h.pe.terms(addr(A), ALWAYS)
    await h.pe.receive(pay(t, [0n]))
    assert.equal((await h.pe.settle()).settled, settled)
    await h.pe.close()
  }
})

test('settle without force: a winner expiring within expiryMarginBlocks (50 by default) of the settle\'s block is urgent whatever it is worth', async () => {
  for (const [margin, settled] of [[3, 0], [4, 1]] as const) {
    const { pe } = await payee({ options: { minValueToCostRatio: 10n ** 30n, paramsValidityBlocks: 2, redeemWindowBlocks: 3, expiryMarginBlocks: margin } })
    const t = await pe.terms(addr(A), ALWAYS)
    await pe.receive(pay(t, [0n]))
    await chain.dev!.mine(Number(lp(t).expirationBlock - 4n - (await chain.blockNumber()))) // 4 blocks left
    assert.equal((await pe.settle()).settled, settled, `margin ${margin}, 4 blocks left`)
    await pe.close()
  }
  for (const [left, settled] of [[51n, 0], [50n, 1]] as const) {
    const { pe } = await payee({ options: { minValueToCostRatio: 10n ** 30n, paramsValidityBlocks: 20, redeemWindowBlocks: 45 } })
    const t = await pe.terms(addr(A), ALWAYS)
    await pe.receive(pay(t, [0n]))
    await chain.dev!.mine(Number(lp(t).expirationBlock - left - (await chain.blockNumber())))
    assert.equal((await pe.settle()).settled, settled, `default margin, ${left} blocks left`)
    await pe.close()
  }
})

test('settle without force: a payer\'s winners holding half its reserve or more are redeemed whatever they are worth (else its tickets would soon be refused as underfunded and a running server would serve for nothing)', async () => {
  const key = keys[nextPayee++]!
  await broker('fundReserve', A, [addr(key), 3n * ALWAYS]) // covers three winners of face ALWAYS
  const { pe } = await payee({ key, options: { minValueToCostRatio: 10n ** 30n } })
  const t1 = await pe.terms(addr(A), ALWAYS)
  const r1 = await pe.receive(pay(t1, [0n]))
  assert.equal(r1.winning, true)
  assert.equal((await pe.settle()).settled, 0, 'one winner holds a third of the reserve: not worth its gas yet')
  const r2 = await pe.receive(pay(r1.terms!, [1n]))
  assert.equal(r2.winning, true)
  const rep = await pe.settle()
  assert.deepEqual([rep.settled, rep.pending], [2, 0], 'two winners hold two thirds: redeemed')
  await pe.close()
})

test('settle: winners expiring at the settle\'s block are lost with their reason; one block later they are redeemed', async () => {
  const store = join(dir, 'expiry.sqlite')
  const { pe, logger } = await payee({ store, options: { paramsValidityBlocks: 2, redeemWindowBlocks: 3 } })
  const t = await pe.terms(addr(A), ALWAYS)
  const r = await pe.receive(pay(t, [0n]))
  const exp = lp(t).expirationBlock
  await chain.dev!.mine(Number(exp - (await chain.blockNumber()) - 1n)) // the redemption runs in block exp
  assert.equal((await pe.settle({ force: true })).settled, 1)
  await pe.receive(pay(r.terms!, [seqOf(r.terms!)]))
  const exp2 = lp(r.terms!).expirationBlock
  await chain.dev!.mine(Number(exp2 - (await chain.blockNumber())))
  const rep = await pe.settle({ force: true })
  assert.deepEqual(rep, { transactions: 0, gasUsed: 0n, received: 0n, settled: 0, pending: 0, lostCount: 1, lostValue: ALWAYS })
  const lost = rows(store)[1]!
  assert.deepEqual([lost.status, lost.reason], ['lost', `expired at block ${exp2} before redemption`])
  const e = logger.entries.at(-1)!
  assert.deepEqual([e.level, e.msg, e.fields], ['error', 'winning ticket lost', { sender: addr(A), nonce: lost.nonce, face: ALWAYS.toString(), reason: `expired at block ${exp2} before redemption` }])
  assert.equal(pe.stats().lostCount, 1)
  await pe.close()
})

test('settle: winners of two payers in several lanes, out of order, in batches of maxBatchSize: each redeemed once, in the order the broker needs', async () => {
  const store = join(dir, 'batches.sqlite')
  const { pe, me } = await payee({ store, payers: [A, B], options: { maxBatchSize: 2 } })
  const ta = await pe.terms(addr(A), ALWAYS)
  const tb = await pe.terms(addr(B), ALWAYS)
  const ta2 = await pe.terms(addr(A), ALWAYS)
  // Each winner rotates its rand; the next one goes under the new terms, at a lower or higher number.
  let a = ta, b = tb
  for (const [who, seq] of [['a', 9n], ['b', 3n], ['a', 20n], ['b', 4n]] as const) {
    const t = who === 'a' ? a : b
    const r = await pe.receive(pay(t, [seqOf(t) + seq], { key: who === 'a' ? A : B }))
    if (who === 'a') a = r.terms!; else b = r.terms!
  }
  await pe.receive(pay(ta2, [1n]))
  // The store hands rows back in reverse (as a store rebuilt from a backup might): the payee orders them itself.
  const db = new Database(store)
  const all = db.prepare('select * from lottery_winners order by id').all() as Record<string, unknown>[]
  db.prepare('delete from lottery_winners').run()
  for (const r of all.reverse()) {
    const cols = Object.keys(r).filter((c) => c !== 'id')
    db.prepare(`insert into lottery_winners (${cols.join(', ')}) values (${cols.map(() => '?').join(', ')})`).run(...cols.map((c) => r[c]))
  }
  db.close()
  const before = await balance(me)
  const rep = await pe.settle({ force: true })
  assert.deepEqual({ ...rep, gasUsed: undefined }, { transactions: 3, gasUsed: undefined, received: 5n * ALWAYS, settled: 5, pending: 0, claims: 0 })
  assert.equal((await balance(me)) - before, 5n * ALWAYS)
  await pe.close()
})

test('settle: two processes behind one address over-commit a reserve; the winners it cannot pay become claims, never income', async () => {
  const C = keys[42]!
  const key = keys[41]!
  const me = addr(key)
  const one = await payee({ key, store: join(dir, 'claims-1.sqlite') })
  const two = await payee({ key, store: join(dir, 'claims-2.sqlite') })
  // C backs three winners for this address, and has no deposit: each process sees the whole reserve as its own.
  await fundPayer('lottery', { chain, deployment: d, key: C }, { deposit: 0n, reserves: [{ payee: me, amount: 3n * ALWAYS }] })
  for (const h of [one, two]) {
    let t = await h.pe.terms(addr(C), ALWAYS)
    for (let i = 0; i < 2; i++) t = (await h.pe.receive(pay(t, [seqOf(t)], { key: C }))).terms ?? t
  }
  assert.equal((await one.pe.settle({ force: true })).received, 2n * ALWAYS)
  const before = await balance(me)
  const rep = await two.pe.settle({ force: true })
  assert.deepEqual({ ...rep, gasUsed: undefined }, { transactions: 1, gasUsed: undefined, received: ALWAYS, settled: 1, pending: 0, claims: 1 })
  assert.equal((await balance(me)) - before, ALWAYS)
  const claim = rows(join(dir, 'claims-2.sqlite')).find((r) => r.status === 'claim')!
  assert.equal(claim.reason, 'queued as a claim on the sender')
  const warn = two.logger.entries.find((e) => e.level === 'warn')!
  assert.deepEqual([warn.msg, warn.fields], ['winning tickets queued as claims: the sender was short of funds', { claims: 1 }])
  await one.pe.close()
  await two.pe.close()
})

test('settle runs one at a time: two concurrent calls redeem each winner once; close() waits for a running settle', async () => {
  const { pe, me } = await payee()
  let t = await pe.terms(addr(A), ALWAYS)
  for (let i = 0; i < 3; i++) t = (await pe.receive(pay(t, [seqOf(t)]))).terms!
  const before = await balance(me)
  const [x, y] = await Promise.all([pe.settle({ force: true }), pe.settle({ force: true })])
  assert.equal(x.settled + y.settled, 3)
  assert.equal(x.transactions + y.transactions, 1)
  assert.equal((await balance(me)) - before, 3n * ALWAYS)
  t = (await pe.receive(pay(t, [seqOf(t)]))).terms!
  const running = pe.settle({ force: true })
  let finished = false
  void running.then(() => { finished = true })
  await pe.close()
  assert.equal(finished, true, 'close() returned only after the settle')
  assert.equal((await running).settled, 1)
})

test('concurrent payments under one rand: one that wins retires it while the other waits on the chain, and the same numbers twice are one payment', async () => {
  const { pe, clock } = await payee()
  const t = await pe.terms(addr(A), ALWAYS) // every ticket wins
  clock.advance(1_000) // both receives wait for a fresh block number
  const [win, late] = await Promise.allSettled([pe.receive(pay(t, [0n])), pe.receive(pay(t, [1n]))])
  assert.equal(win.status, 'fulfilled')
  assert.ok(late.status === 'rejected' && late.reason instanceof PaymentRejectedError)
  assert.deepEqual([late.reason.reason, late.reason.shortMessage], ['expired', 'Payment rejected (expired): these ticket parameters were rotated while the payment was checked; use the newest terms'])
  const u = await pe.terms(addr(A), NEVER)
  clock.advance(1_000)
  const [one, two] = await Promise.allSettled([pe.receive(pay(u, [4n])), pe.receive(pay(u, [4n]))])
  assert.equal(one.status, 'fulfilled')
  assert.ok(two.status === 'rejected' && two.reason instanceof PaymentRejectedError)
  assert.deepEqual([two.reason.reason, two.reason.shortMessage], ['replayed', 'Payment rejected (replayed): sequence number 4 was paid concurrently'])
  await pe.close()
})

test('several winners in one message hold several face values of the reserve, and a payment that is not a winner logs no win', async () => {
  const key = keys[nextPayee++]!
  await broker('fundReserve', A, [addr(key), 3n * ALWAYS])
  const { pe, logger } = await payee({ key })
  const t = await pe.terms(addr(A), ALWAYS)
  const r = await pe.receive(pay(t, [0n, 1n])) // two winners: 2 x ALWAYS of the 3 held
  assert.equal(pe.pendingWinners(), 2)
  assert.equal(lp(r.terms!).faceValue, ALWAYS)
  assert.equal((await refusal(pe.receive(pay(r.terms!, [seqOf(r.terms!), seqOf(r.terms!) + 1n])))).reason, 'underfunded', 'two more would need 4 x')
  const n = await pe.terms(addr(A), NEVER)
  await pe.receive(pay(n, [0n]))
  assert.equal(logger.entries.filter((e) => e.msg === 'winning ticket stored').length, 1)
  await pe.close()
})

test('a batch that fails with no ticket at fault is an error that says to retry; its winners stay pending', async () => {
  const { pe, me, logger } = await payee()
  const t = await pe.terms(addr(A), ALWAYS)
  await pe.receive(pay(t, [0n]))
  const eth = await chain.public.getBalance({ address: me })
  await chain.dev!.setBalance(me, 0n) // the payee cannot pay for gas
  await assert.rejects(pe.settle({ force: true }), (e: unknown) => {
    assert.ok(e instanceof PaymentError, String(e))
    assert.equal(e.shortMessage, 'Batch redemption failed')
    assert.deepEqual(e.hints, ['Run settle again: no single ticket is at fault (the chain or the account may be the problem).'])
    return true
  })
  assert.equal(pe.pendingWinners(), 1)
  assert.equal(logger.entries.at(-1)!.msg, 'batch redemption failed')
  await chain.dev!.setBalance(me, eth)
  assert.equal((await pe.settle({ force: true })).settled, 1, 'the next settle pays it')
  await pe.close()
})

test('a restart retires every rand of the last process and keeps its winners redeemable; a store written before lanes is upgraded', async () => {
  const store = join(dir, 'restart.sqlite')
  const first = await payee({ store })
  const t = await first.pe.terms(addr(A), ALWAYS)
  const live = (await first.pe.receive(pay(t, [0n]))).terms!
  await first.pe.close()
  assert.deepEqual(rows(store, 'select retired from lottery_rands order by rowid'), [{ retired: 1 }, { retired: 0 }])
  const second = await payee({ store, key: first.key })
  assert.deepEqual(rows(store, 'select retired from lottery_rands order by rowid'), [{ retired: 1 }, { retired: 1 }])
  assert.equal((await refusal(second.pe.receive(pay(live, [seqOf(live)])))).reason, 'unknown-params')
  assert.equal(second.pe.pendingWinners(), 1)
  assert.equal((await second.pe.settle({ force: true })).received, ALWAYS)
  await second.pe.close()
  // A store from before lanes: no created_block column. Its winners are found from the deployment block.
  const old = join(dir, 'old.sqlite')
  const db = new Database(old)
  db.exec(`create table lottery_winners (
    id integer primary key autoincrement, chain_id integer not null, broker text not null, sender text not null,
    nonce text not null, face text not null, win_prob text not null, rand_hash text not null, rand text not null,
    expiration text not null, sig text not null, status text not null default 'pending', tx text, reason text,
    unique (chain_id, broker, sender, nonce))`)
  db.close()
  const third = await payee({ store: old })
  const t3 = await third.pe.terms(addr(A), ALWAYS)
  await third.pe.receive(pay(t3, [0n]))
  assert.equal((await third.pe.settle({ force: true })).settled, 1)
  await third.pe.close()
})

test('one store, two deployments: each payee settles only its own broker\'s winners', async () => {
  const store = join(dir, 'two.sqlite')
  const d2 = await deploySouk(chain, chain.devKeys[0]!, { unlockPeriodBlocks: UNLOCK })
  const key = keys[43]!
  await broker('fundReserve', A, [addr(key), RESERVE])
  await fundPayer('lottery', { chain, deployment: d2, key: A }, { deposit: RESERVE, reserves: [{ payee: addr(key), amount: RESERVE }] })
  const one = await payee({ store, key })
  const t1 = await one.pe.terms(addr(A), ALWAYS)
  await one.pe.receive(pay(t1, [0n]))
  await one.pe.close()
  const two = await payee({ store, key, deployment: d2 })
  assert.equal(two.pe.pendingWinners(), 0)
  const t2 = await two.pe.terms(addr(A), ALWAYS)
  await two.pe.receive(pay(t2, [0n], { broker: d2.contracts.lottery.ticketBroker }))
  assert.equal(two.pe.pendingWinners(), 1)
  assert.deepEqual([(await two.pe.settle({ force: true })).settled], [1])
  await two.pe.close()
  const back = await payee({ store, key })
  assert.equal(back.pe.pendingWinners(), 1, 'the first broker\'s winner is still there')
  assert.equal((await back.pe.settle({ force: true })).received, ALWAYS)
  await back.pe.close()
})

test('after MAX_RETIRED_KEPT retired parameter sets the oldest is forgotten: a late ticket under it is unknown-params, not expired', async () => {
  const { pe } = await payee({ payers: [B] })
  const first = await pe.terms(addr(B), NEVER)
  for (let i = 0; i < MAX_LANES_PER_PAYER - 1; i++) await pe.terms(addr(B), NEVER)
  // Each further session retires the oldest: the first is retirement number 1.
  for (let i = 0; i < MAX_RETIRED_KEPT; i++) await pe.terms(addr(B), NEVER)
  assert.equal((await refusal(pe.receive(pay(first, [0n], { key: B })))).reason, 'expired', '1024 retired: still remembered')
  await pe.terms(addr(B), NEVER)
  assert.equal((await refusal(pe.receive(pay(first, [0n], { key: B })))).reason, 'unknown-params')
  await pe.close()
})
