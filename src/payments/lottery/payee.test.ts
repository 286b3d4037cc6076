/**
 * The lottery payee against the attacks of issue 8 and the checks no other test exercised: lanes for concurrent
 * sessions, processes and stores behind one address; out-of-order tickets; capped nonces; exact amounts and win
 * probabilities; winners that can no longer be redeemed reported as losses (never as income); a refused ticket
 * isolated from its batch. Every test runs on the embedded EVM with real SQLite stores.
 */
import { test, before, after } from 'node:test'
import { deploySouk, type SoukDeployment } from '../deploy.js'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { privateKeyToAddress } from 'viem/accounts'
import type { Address, Hex } from 'viem'
import { createChain, abis, type Chain } from '../../chain/index.js'
import { write } from '../../chain/tx.js'
import { bytesToHex } from '../../crypto/bytes.js'
import { createPayee, createPayer, fundPayer, PaymentRejectedError, type LotteryParams, type Payment, type PaymentTerms } from '../index.js'
import { createLotteryPayee, LANE_SHIFT, SEQ_MASK, SEQ_WINDOW } from './payee.js'
import { lotteryPayeeStore } from './store.js'
import { expectedValue, MAX_WIN_PROB, randHash, signTicket, ticketDomain, winProbFor } from './ticket.js'
import { testComponents } from '../testing.js'

let chain: Chain
let d: SoukDeployment
let payerKey: Hex, payeeKey: Hex
let payer: Address, payee: Address
let dir: string
/** Above the payee's computed face value, so every ticket wins (winProb = price / face = 1). */
const ALWAYS = 10n ** 17n
/** Below it: tickets win with probability price / face. */
const PRICE = 10n ** 13n

before(async () => {
  chain = await createChain({ kind: 'embedded', accounts: 5 })
  d = await deploySouk(chain, chain.devKeys[0], { unlockPeriodBlocks: 20 })
  ;[, payerKey, payeeKey] = chain.devKeys as Hex[]
  payer = privateKeyToAddress(payerKey).toLowerCase() as Address
  payee = privateKeyToAddress(payeeKey).toLowerCase() as Address
  await fundPayer('lottery', { chain, deployment: d, key: payerKey }, { deposit: 10n ** 20n, reserves: [{ payee, amount: 10n ** 20n }] })
  dir = mkdtempSync(join(tmpdir(), 'souk-lottery-payee-'))
})
after(async () => {
  await chain.close()
  rmSync(dir, { recursive: true, force: true })
})

const lp = (t: PaymentTerms) => t.params as LotteryParams
const laneOf = (t: PaymentTerms) => lp(t).nextNonce >> LANE_SHIFT
const tokenBalance = (a: Address) => chain.public.readContract({ address: d.token, abi: abis.SoukTokenAbi, functionName: 'balanceOf', args: [a] })

/** A payment signed by hand: `seqs` in the terms' lane, in the order given. */
function payment(terms: PaymentTerms, seqs: bigint[], o: { amount?: bigint; nonces?: bigint[] } = {}): Payment {
  const p = lp(terms)
  const domain = ticketDomain(chain.chainId, d.contracts.lottery.ticketBroker)
  const nonces = o.nonces ?? seqs.map((s) => (laneOf(terms) << LANE_SHIFT) | s)
  const tickets = nonces.map((nonce) => ({
    nonce,
    sig: bytesToHex(signTicket(domain, { recipient: terms.payee, sender: payer, faceValue: p.faceValue, winProb: p.winProb, senderNonce: nonce, recipientRandHash: p.recipientRandHash, expirationBlock: p.expirationBlock }, payerKey)),
  }))
  return {
    scheme: 'lottery', payer, payee: terms.payee, amount: o.amount ?? terms.pricePerChunk * BigInt(tickets.length),
    body: { faceValue: p.faceValue, winProb: p.winProb, recipientRandHash: p.recipientRandHash, expirationBlock: p.expirationBlock, tickets },
  }
}

async function rejects(p: Promise<unknown>, reason: string) {
  await assert.rejects(p, (e: unknown) => e instanceof PaymentRejectedError && e.reason === reason ? true : assert.fail(`expected ${reason}, got ${(e as Error).message}`))
}

test('each session gets its own lane: two payer processes pay one payee concurrently and every ticket is accepted', async () => {
  const pe = await createPayee('lottery', { chain, deployment: d, key: payeeKey, ...testComponents('lottery-payee.test/payee-1') })
  try {
    // Two payer processes (same key, separate nonce counters), each with a session of its own.
    const [p1, p2] = await Promise.all([createPayer('lottery', { chain, deployment: d, key: payerKey, ...testComponents('lottery-payee.test/payer-2') }), createPayer('lottery', { chain, deployment: d, key: payerKey, ...testComponents('lottery-payee.test/payer-3') })])
    const [s1, s2] = await Promise.all([p1.open(await pe.terms(payer, PRICE)), p2.open(await pe.terms(payer, PRICE))])
    assert.notEqual(laneOf(s1.terms), laneOf(s2.terms), 'distinct lanes')
    for (let i = 0; i < 60; i++) {
      // Interleaved, and pairs in flight together.
      const [a, b] = await Promise.all([s1.pay(PRICE), s2.pay(PRICE)])
      const [ra, rb] = await Promise.all([pe.receive(a), pe.receive(b)])
      if (ra.terms) s1.update(ra.terms)
      if (rb.terms) s2.update(rb.terms)
    }
    assert.equal(pe.stats().payments, 120)
    assert.equal(pe.stats().rejected, 0)
  } finally {
    await pe.close()
  }
})

test('tickets out of order are accepted once each; nonces outside the lane or the window are refused (no 2^256 - 1 trap)', async () => {
  const pe = await createPayee('lottery', { chain, deployment: d, key: payeeKey, ...testComponents('lottery-payee.test/payee-4') })
  try {
    // Price 1: a win (which would rotate the parameters) has odds ~1e-16 per ticket.
    const terms = await pe.terms(payer, 1n)
    const start = lp(terms).nextNonce & SEQ_MASK
    // Out of order within a message and across messages: all accepted.
    await pe.receive(payment(terms, [start + 5n, start + 2n]))
    await pe.receive(payment(terms, [start + 1n]))
    await pe.receive(payment(terms, [start + 0n, start + 4n, start + 3n]))
    assert.equal(pe.stats().payments, 3)
    // Each sequence number once.
    await rejects(pe.receive(payment(terms, [start + 2n])), 'replayed')
    await rejects(pe.receive(payment(terms, [start + 7n, start + 7n])), 'replayed')
    // The top nonce is not in the lane; a sequence number past the window is capped.
    await rejects(pe.receive(payment(terms, [], { nonces: [MAX_WIN_PROB] })), 'params-mismatch')
    await rejects(pe.receive(payment(terms, [SEQ_MASK])), 'nonce-out-of-range')
    await rejects(pe.receive(payment(terms, [start + SEQ_WINDOW])), 'nonce-out-of-range')
    await rejects(pe.receive(payment(terms, [], { nonces: [((laneOf(terms) + 1n) << LANE_SHIFT) | start] })), 'params-mismatch')
    // None of the refused messages was counted.
    assert.equal(pe.stats().payments, 3)
  } finally {
    await pe.close()
  }
})

test('the amount must be exactly price × tickets (one ticket never buys a whole file); the win probability is price / face', async () => {
  const pe = await createPayee('lottery', { chain, deployment: d, key: payeeKey, ...testComponents('lottery-payee.test/payee-5') })
  try {
    const terms = await pe.terms(payer, PRICE)
    const p = lp(terms)
    const start = p.nextNonce & SEQ_MASK
    // One ticket claiming to pay for 100 chunks, and two tickets claiming one chunk.
    await rejects(pe.receive(payment(terms, [start], { amount: PRICE * 100n })), 'amount-too-low')
    await rejects(pe.receive(payment(terms, [start, start + 1n], { amount: PRICE })), 'amount-too-low')
    // The published win probability makes a ticket worth the price: EV = face × winProb / 2^256 within one unit.
    assert.equal(p.winProb, winProbFor(PRICE, p.faceValue))
    const ev = expectedValue(p.faceValue, p.winProb)
    assert.ok(ev <= PRICE && PRICE - ev <= 1n, `EV ${ev} vs price ${PRICE}`)
    assert.ok(p.faceValue > PRICE * 10n, 'face well above the price: redemption fees stay small')
    // A payer that claims a higher win probability (cheaper tickets for it? no: more wins) is refused.
    const tampered = payment(terms, [start])
    ;(tampered.body as { winProb: bigint }).winProb = p.winProb * 2n
    await rejects(pe.receive(tampered), 'params-mismatch')
    // At price >= face, every ticket wins (winProb = 2^256 - 1).
    assert.equal(lp(await pe.terms(payer, ALWAYS)).winProb, MAX_WIN_PROB)
  } finally {
    await pe.close()
  }
})

test("two processes of one payee (two stores, one address) never void each other's winners", async () => {
  const a = await createLotteryPayee({ chain, deployment: d, key: payeeKey, store: lotteryPayeeStore(join(dir, 'a.sqlite')), ...testComponents('lottery-payee.test/lotterypayee-6') })
  const b = await createLotteryPayee({ chain, deployment: d, key: payeeKey, store: lotteryPayeeStore(join(dir, 'b.sqlite')), ...testComponents('lottery-payee.test/lotterypayee-7') })
  try {
    const pr = await createPayer('lottery', { chain, deployment: d, key: payerKey, ...testComponents('lottery-payee.test/payer-8') })
    const sa = await pr.open(await a.terms(payer, ALWAYS))
    const sb = await pr.open(await b.terms(payer, ALWAYS))
    for (let i = 0; i < 6; i++) {
      const ra = await a.receive(await sa.pay(ALWAYS))
      if (ra.terms) sa.update(ra.terms)
      const rb = await b.receive(await sb.pay(ALWAYS))
      if (rb.terms) sb.update(rb.terms)
    }
    assert.equal(a.pendingWinners(), 6)
    assert.equal(b.pendingWinners(), 6)
    const before = await tokenBalance(payee)
    // b redeems first (its nonces may be far above a's): a's winners stay redeemable.
    const rb = await b.settle({ force: true })
    const ra = await a.settle({ force: true })
    assert.equal(rb.settled + ra.settled, 12)
    assert.equal(rb.lostCount ?? 0, 0)
    assert.equal(ra.lostCount ?? 0, 0)
    const face = lp(sa.terms).faceValue
    assert.equal((await tokenBalance(payee)) - before, 12n * face)
    assert.equal(ra.received + rb.received, 12n * face)
  } finally {
    await a.close()
    await b.close()
  }
})

test('a winner that can no longer be redeemed is a loss with its reason, never income; one found redeemed after a crash is not a loss', async () => {
  const store = join(dir, 'loss.sqlite')
  const pe = await createLotteryPayee({ chain, deployment: d, key: payeeKey, store: lotteryPayeeStore(store), options: { paramsValidityBlocks: 5, redeemWindowBlocks: 5 }, ...testComponents('lottery-payee.test/lotterypayee-9') })
  try {
    const pr = await createPayer('lottery', { chain, deployment: d, key: payerKey, ...testComponents('lottery-payee.test/payer-10') })
    const s = await pr.open(await pe.terms(payer, ALWAYS))
    const first = await s.pay(ALWAYS)
    const r1 = await pe.receive(first)
    if (r1.terms) s.update(r1.terms)
    const second = await s.pay(ALWAYS)
    const r2 = await pe.receive(second)
    if (r2.terms) s.update(r2.terms)
    const third = await s.pay(ALWAYS)
    await pe.receive(third)
    assert.equal(pe.pendingWinners(), 3)
    const stored = (n: bigint) => {
      const db = new Database(store, { readonly: true })
      try { return db.prepare('select * from lottery_winners where nonce = ?').get(n.toString()) as Record<string, string> } finally { db.close() }
    }
    const t = (p: Payment) => (p.body as { tickets: { nonce: bigint }[] }).tickets[0]!.nonce
    const argOf = (row: Record<string, string>) => {
      const sig = row.sig!
      return {
        ticket: { recipient: payee, sender: payer, faceValue: BigInt(row.face!), winProb: BigInt(row.win_prob!), senderNonce: BigInt(row.nonce!), recipientRandHash: row.rand_hash as Hex, expirationBlock: BigInt(row.expiration!) },
        r: `0x${sig.slice(2, 66)}` as Hex, s: `0x${sig.slice(66, 130)}` as Hex, v: Number.parseInt(sig.slice(130, 132), 16), recipientRand: BigInt(row.rand!),
      }
    }
    // 1. "A crash after the transaction": the second winner was redeemed on chain, but the store still says pending.
    await write(chain, chain.wallet(payeeKey), { address: d.contracts.lottery.ticketBroker, abi: abis.TicketBrokerAbi, functionName: 'redeemWinningTicket', args: [argOf(stored(t(second)))] })
    // That also put the lane past the first winner: redeemed by no one, it is now unredeemable — a loss.
    const before = await tokenBalance(payee)
    // 2. The third winner expires.
    await chain.dev!.mine(20)
    const rep = await pe.settle({ force: true })
    assert.equal(rep.received, 0n, 'nothing received in this settlement')
    assert.equal(rep.lostCount, 2)
    assert.equal(rep.lostValue, 2n * BigInt(stored(t(first)).face!))
    assert.equal(await tokenBalance(payee), before)
    assert.equal(pe.pendingWinners(), 0)
    const row1 = stored(t(first))
    const row2 = stored(t(second))
    const row3 = stored(t(third))
    assert.equal(row1.status, 'lost')
    assert.match(row1.reason!, /already consumed on chain .* this payee did not make/)
    assert.equal(row2.status, 'redeemed')
    assert.match(row2.reason!, /found on chain/)
    assert.equal(row3.status, 'lost')
    assert.match(row3.reason!, /expired/)
    assert.equal(pe.stats().lostCount, 2)
    assert.equal(pe.stats().received, 0n)
  } finally {
    await pe.close()
  }
})

test('a winner the broker refuses is isolated: the rest of the batch is paid, the refused one is a loss with the broker\'s reason', async () => {
  const store = join(dir, 'isolate.sqlite')
  const pe = await createLotteryPayee({ chain, deployment: d, key: payeeKey, store: lotteryPayeeStore(store), ...testComponents('lottery-payee.test/lotterypayee-11') })
  try {
    const pr = await createPayer('lottery', { chain, deployment: d, key: payerKey, ...testComponents('lottery-payee.test/payer-12') })
    const s = await pr.open(await pe.terms(payer, ALWAYS))
    for (let i = 0; i < 5; i++) {
      const r = await pe.receive(await s.pay(ALWAYS))
      if (r.terms) s.update(r.terms)
    }
    // The store is damaged under one row (a flipped signature byte): the broker would refuse that ticket.
    const db = new Database(store)
    const victim = db.prepare("select id, sig from lottery_winners where status = 'pending' order by id limit 1 offset 2").get() as { id: number; sig: string }
    db.prepare('update lottery_winners set sig = ? where id = ?').run(`${victim.sig.slice(0, 10)}${victim.sig[10] === '0' ? '1' : '0'}${victim.sig.slice(11)}`, victim.id)
    db.close()
    const face = lp(s.terms).faceValue
    const before = await tokenBalance(payee)
    const rep = await pe.settle({ force: true })
    assert.equal(rep.settled, 4)
    assert.equal(rep.lostCount, 1)
    assert.equal((await tokenBalance(payee)) - before, 4n * face)
    const check = new Database(store, { readonly: true })
    const row = check.prepare('select status, reason from lottery_winners where id = ?').get(victim.id) as { status: string; reason: string }
    check.close()
    assert.equal(row.status, 'lost')
    assert.match(row.reason, /TicketBroker(InvalidSignature|NotWinning)/)
  } finally {
    await pe.close()
  }
})

test('a payer that starts unlocking makes its stored winners urgent: they are redeemed before it can withdraw', async () => {
  const pe = await createLotteryPayee({ chain, deployment: d, key: payeeKey, store: lotteryPayeeStore(), options: { minValueToCostRatio: 10n ** 30n }, ...testComponents('lottery-payee.test/lotterypayee-13') })
  const otherPayer = chain.devKeys[3] as Hex
  const op = privateKeyToAddress(otherPayer).toLowerCase() as Address
  await fundPayer('lottery', { chain, deployment: d, key: otherPayer }, { deposit: 0n, reserves: [{ payee, amount: 10n ** 19n }] })
  try {
    const pr = await createPayer('lottery', { chain, deployment: d, key: otherPayer, ...testComponents('lottery-payee.test/payer-14') })
    const s = await pr.open(await pe.terms(op, ALWAYS))
    await pe.receive(await s.pay(ALWAYS))
    // Not worth redeeming yet (value/cost bar set absurdly high), so a normal settle waits.
    assert.equal((await pe.settle()).settled, 0)
    await write(chain, chain.wallet(otherPayer), { address: d.contracts.lottery.ticketBroker, abi: abis.TicketBrokerAbi, functionName: 'unlock', args: [] })
    const rep = await pe.settle()
    assert.equal(rep.settled, 1, 'redeemed because the payer is unlocking')
    assert.equal(pe.pendingWinners(), 0)
  } finally {
    await pe.close()
  }
})

test('a winner retires its rand at once: a lower-numbered ticket racing it under the same rand is refused, so no redemption can void it', async () => {
  const pe = await createLotteryPayee({ chain, deployment: d, key: payeeKey, store: lotteryPayeeStore(), ...testComponents('lottery-payee.test/lotterypayee-15') })
  try {
    const terms = await pe.terms(payer, ALWAYS) // every ticket wins
    const start = lp(terms).nextNonce & SEQ_MASK
    // Warm the payee's caches so both receives run as far as they can without the chain.
    await pe.receive(payment(terms, [start + 10n])).catch(() => undefined)
    const t2 = await pe.terms(payer, ALWAYS)
    const s2 = lp(t2).nextNonce & SEQ_MASK
    const [hi, lo] = await Promise.allSettled([pe.receive(payment(t2, [s2 + 5n])), pe.receive(payment(t2, [s2]))])
    assert.equal(hi.status, 'fulfilled')
    assert.equal(lo.status, 'rejected')
    assert.ok(lo.status === 'rejected' && lo.reason instanceof PaymentRejectedError && lo.reason.reason === 'expired', 'the racing ticket is told to use the new terms')
    const rep = await pe.settle({ force: true })
    assert.equal(rep.lostCount ?? 0, 0)
    assert.equal(rep.settled, 2)
  } finally {
    await pe.close()
  }
})

test("attack: a publisher drains its shared deposit through a cache of its own; the honest payee's winners never become claims", async () => {
  const sponsorKey = chain.devKeys[4] as Hex
  const sponsor = privateKeyToAddress(sponsorKey).toLowerCase() as Address
  const ownCacheKey = chain.devKeys[0] as Hex
  const ownCache = privateKeyToAddress(ownCacheKey).toLowerCase() as Address
  // A deposit of 10 chunks' worth, a reserve of 3 for the honest payee.
  await fundPayer('lottery', { chain, deployment: d, key: sponsorKey }, { deposit: 10n * ALWAYS, reserves: [{ payee, amount: 3n * ALWAYS }] })
  const pe = await createLotteryPayee({ chain, deployment: d, key: payeeKey, store: lotteryPayeeStore(), ...testComponents('lottery-payee.test/lotterypayee-16') })
  try {
    const pr = await createPayer('lottery', { chain, deployment: d, key: sponsorKey, ...testComponents('lottery-payee.test/payer-17') })
    const s = await pr.open(await pe.terms(sponsor, ALWAYS)) // every ticket wins, face = price
    for (let i = 0; i < 3; i++) {
      const r = await pe.receive(await s.pay(ALWAYS))
      if (r.terms) s.update(r.terms)
    }
    assert.equal(pe.pendingWinners(), 3)
    // The reserve now backs exactly the three winners held: a fourth ticket (which could win) is refused, and so are
    // new terms, until the payee redeems.
    await assert.rejects(pe.receive(await s.pay(ALWAYS)), (e: unknown) => e instanceof PaymentRejectedError && (e.reason === 'underfunded' || e.reason === 'expired' || e.reason === 'unknown-params'))
    await rejects(pe.terms(sponsor, ALWAYS), 'underfunded')
    // The sponsor's own cache redeems the whole deposit away (a winning ticket to itself for all of it).
    const domain = ticketDomain(chain.chainId, d.contracts.lottery.ticketBroker)
    const rand = 77n
    const t = { recipient: ownCache, sender: sponsor, faceValue: 10n * ALWAYS, winProb: MAX_WIN_PROB, senderNonce: 0n, recipientRandHash: randHash(rand), expirationBlock: (await chain.blockNumber()) + 100n }
    const sig = signTicket(domain, t, sponsorKey)
    await write(chain, chain.wallet(ownCacheKey), {
      address: d.contracts.lottery.ticketBroker, abi: abis.TicketBrokerAbi, functionName: 'redeemWinningTicket',
      args: [{ ticket: t, r: bytesToHex(sig.subarray(0, 32)), s: bytesToHex(sig.subarray(32, 64)), v: sig[64]!, recipientRand: rand }],
    })
    const [deposit] = await chain.public.readContract({ address: d.contracts.lottery.ticketBroker, abi: abis.TicketBrokerAbi, functionName: 'getSender', args: [sponsor] })
    assert.equal(deposit, 0n, 'the deposit is gone')
    // The honest payee's winners are paid in full from its reserve: no claim, no loss.
    const before = await tokenBalance(payee)
    const rep = await pe.settle({ force: true })
    assert.equal(rep.settled, 3)
    assert.equal(rep.claims ?? 0, 0)
    assert.equal(rep.lostCount ?? 0, 0)
    assert.equal((await tokenBalance(payee)) - before, 3n * ALWAYS)

  } finally {
    await pe.close()
  }
})
