/**
 * The lottery payee's first half, one rule at a time, each pinned exactly, against a real TicketBroker on the
 * embedded chain: how long a payer's funds and the gas price are trusted (chain reads counted), which lane a new
 * session or a rotation takes, the reserve a rotation re-reads and what terms() says a reserve guarantees, and what
 * `settle()` does: the broker's order whatever order the store returns, urgency and its warnings, the cost of a
 * batch, a batch that fails once or twice, winners found on chain after a crash, events of other recipients.
 * Each payee runs on a chain handle that counts its calls and lets a test step into one (`spied`); time is a manual
 * clock. Fast on purpose: the mutation run (`npm run mutate -- lottery-payee`, docs/testing.md) runs the
 * `*.mutation.test.ts` files first for every mutant.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { privateKeyToAddress } from 'viem/accounts'
import { encodeAbiParameters, encodeEventTopics, getAddress, parseEventLogs, type Address, type Hex, type Log, type TransactionReceipt } from 'viem'
import { abis, type Chain, type SoukWallet } from '../../chain/index.js'
import type { SoukDeployment } from '../deploy.js'
import { faucet } from '../../chain/deploy.js'
import { write } from '../../chain/tx.js'
import { manualClock } from '../../core/clock.js'
import { memoryLogger } from '../../core/logger.js'
import { bytesToHex } from '../../crypto/bytes.js'
import { seededRng, type Rng } from '../../crypto/rng.js'
import { PaymentError, PaymentRejectedError, type RejectReason } from '../errors.js'
import { fundPayer } from '../registry.js'
import type { LotteryParams } from '../schemas.js'
import type { Payment, PaymentTerms } from '../types.js'
import { createLotteryPayee, LANE_SHIFT, MAX_LANES_PER_PAYER, MAX_RETIRED_KEPT, SEQ_MASK, type LotteryPayeeOptions } from './payee.js'
import { lotteryPayers, type LotteryPayers } from './mutation-fixtures.js'
import { lotteryPayeeStore, type LotteryPayeeStore, type StoredWinner } from './store.js'
import { signTicket, ticketDomain } from './ticket.js'
import { redeemedTickets } from './events.js'

/** Below any face value the payee computes: a ticket practically never wins (p ~ 1e-16). */
const NEVER = 1n
/** Above it: face = price, so every ticket wins. */
const ALWAYS = 10n ** 17n
const RESERVE = 10n ** 20n

let chain: Chain
let d: SoukDeployment
let dir: string
let keys: Hex[]
const addr = (k: Hex) => privateKeyToAddress(k).toLowerCase() as Address
/** The payee's order of senders: lower-case addresses compared as strings. */
const byAddress = (x: Hex, y: Hex) => (addr(x) < addr(y) ? -1 : 1)
/** Payers 1-4 (U unlocks in one test; POOR has a deposit and no reserves); payers with no deposit from key 39 down; payees from key 5 up, one per payee. */
let A: Hex, B: Hex, U: Hex, POOR: Hex
let nextPayee = 5
let nextBare = 39
/** One stream for the payees of this file that need no particular lanes. */
const rng = seededRng('lottery-settle-mut')

let world: LotteryPayers
before(async () => {
  world = await lotteryPayers({ accounts: 40, unlockPeriodBlocks: 30, reserve: RESERVE, tmpPrefix: 'souk-lottery-settle-mut-' })
  ;({ chain, d, keys, A, B, U, POOR, dir } = world)
})
after(() => world.close())

type Hook = (args: readonly unknown[], real: () => Promise<unknown>) => Promise<unknown>
/**
 * A handle on `base` for one payee: every call of its public client, its `blockNumber()` and its wallets'
 * `writeContract` is recorded in `calls` (`readContract:<function>` for reads), and `hooks[method]`, when set,
 * runs instead of the call (with the real call to make when it wants).
 */
function spied(base: Chain) {
  const calls: string[] = []
  const hooks: Partial<Record<string, Hook>> = {}
  const wrap = <T extends object>(target: T, only?: string) => new Proxy(target, {
    get(t, k, r) {
      const v = Reflect.get(t, k, r) as unknown
      if (typeof v !== 'function' || typeof k !== 'string' || (only && k !== only)) return v
      return (...args: unknown[]) => {
        const fn = (args[0] as { functionName?: string } | undefined)?.functionName
        calls.push(k === 'readContract' ? `${k}:${fn}` : k)
        const real = () => (v as (...a: unknown[]) => Promise<unknown>).apply(t, args)
        const h = hooks[k]
        return h ? h(args, real) : real()
      }
    },
  })
  const wallets = new Map<Hex, SoukWallet>()
  const c: Chain = {
    chainId: base.chainId, kind: base.kind, provider: base.provider, viemChain: base.viemChain, devKeys: base.devKeys, dev: base.dev,
    public: wrap(base.public),
    wallet(k) {
      if (!wallets.has(k)) wallets.set(k, wrap(base.wallet(k), 'writeContract'))
      return wallets.get(k)!
    },
    blockNumber(o) {
      calls.push('blockNumber')
      return base.blockNumber(o)
    },
    close: () => base.close(),
  }
  return { chain: c, calls, hooks, count: (name: string) => calls.filter((x) => x === name).length }
}

/** A new payee (its own key, backed by a reserve of each payer in `payers`: A by default) on a spied chain, a manual clock and a memory logger. */
async function payee(o: { options?: LotteryPayeeOptions; store?: string | LotteryPayeeStore; key?: Hex; payers?: Hex[]; rng?: Rng } = {}) {
  const key = o.key ?? keys[nextPayee++]!
  if (!o.key) for (const k of o.payers ?? [A]) await broker('fundReserve', k, [addr(key), RESERVE])
  const spy = spied(chain)
  const clock = manualClock(1_000_000)
  const logger = memoryLogger()
  const store = typeof o.store === 'object' ? o.store : lotteryPayeeStore(o.store)
  const pe = await createLotteryPayee({ chain: spy.chain, deployment: d, key, store, clock, rng: o.rng ?? rng, logger, options: o.options })
  return { pe, key, me: addr(key), clock, logger, spy, store }
}
/** A payer with no deposit whose only funds are the reserves given (tokens from the faucet). */
async function barePayer(reserves: { payee: Address; amount: bigint }[]): Promise<Hex> {
  const k = keys[nextBare--]!
  await fundPayer('lottery', { chain, deployment: d, key: k }, { deposit: 0n, reserves })
  return k
}
const lp = (t: PaymentTerms) => t.params as LotteryParams
const laneOf = (t: PaymentTerms) => lp(t).nextNonce >> LANE_SHIFT
const seqOf = (t: PaymentTerms) => lp(t).nextNonce & SEQ_MASK
/** A payment under `terms` for sequence numbers `seqs` (in its lane), signed by `key` (A by default). */
function pay(terms: PaymentTerms, seqs: bigint[], o: { key?: Hex } = {}): Payment {
  const key = o.key ?? A
  const p = lp(terms)
  const domain = ticketDomain(chain.chainId, d.contracts.lottery.ticketBroker)
  const tickets = seqs.map((s) => {
    const nonce = (laneOf(terms) << LANE_SHIFT) | s
    return { nonce, sig: bytesToHex(signTicket(domain, { recipient: terms.payee, sender: addr(key), faceValue: p.faceValue, winProb: p.winProb, senderNonce: nonce, recipientRandHash: p.recipientRandHash, expirationBlock: p.expirationBlock }, key)) }
  })
  return {
    scheme: 'lottery', payer: addr(key), payee: terms.payee, amount: terms.pricePerChunk * BigInt(tickets.length),
    body: { faceValue: p.faceValue, winProb: p.winProb, recipientRandHash: p.recipientRandHash, expirationBlock: p.expirationBlock, tickets },
  }
}
/** Pays one winner at the next sequence number of `t`'s lane; the new terms it comes back with. */
async function win(pe: Awaited<ReturnType<typeof payee>>['pe'], t: PaymentTerms, key: Hex = A): Promise<PaymentTerms> {
  const r = await pe.receive(pay(t, [seqOf(t)], { key }))
  assert.equal(r.winning, true)
  return r.terms!
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
async function refused(p: Promise<unknown>): Promise<[RejectReason, string]> {
  const e = await refusal(p)
  return [e.reason, e.shortMessage.slice(`Payment rejected (${e.reason}): `.length)]
}
const broker = (functionName: string, key: Hex, args: readonly unknown[] = []) =>
  write(chain, chain.wallet(key), { address: d.contracts.lottery.ticketBroker, abi: abis.TicketBrokerAbi, functionName, args } as never)
function rows(store: string): Record<string, unknown>[] {
  const db = new Database(store, { readonly: true })
  try { return db.prepare('select * from lottery_winners order by id').all() as Record<string, unknown>[] } finally { db.close() }
}
function exec(store: string, sql: string) {
  const db = new Database(store)
  try { db.exec(sql) } finally { db.close() }
}
/** The log entries after the first `from`, as [level, message, fields]. */
const logs = (logger: ReturnType<typeof memoryLogger>, from: number) => logger.entries.slice(from).map((e) => [e.level, e.msg, e.fields])
/** The tickets the broker paid `me` (its TicketsRedeemed and WinningTicketRedeemed events), in chain order, as [sender, nonce]. */
async function redeemedFor(me: Address): Promise<[string, bigint][]> {
  return (await redeemedTickets(chain, d.contracts.lottery.ticketBroker, { recipient: me, fromBlock: BigInt(d.blockNumber) })).map((e) => [e.sender, e.nonce])
}
/** Draws whose low 128 bits count up from 1: the lanes (a draw's low 128 bits) a payee opens increase in the order it opens them. */
function countingRng(label: string): Rng {
  const base = seededRng(label)
  let n = 0
  return (len) => {
    const out = base(len)
    n++
    for (let i = 0; i < 4; i++) out[len - 1 - i] = (n >> (8 * i)) & 0xff
    out.fill(0, len - 16, len - 4)
    return out
  }
}

// ---------------------------------------------------------------- caches

test('funds: a read is trusted for fundsCacheMs (2 s by default) by a payment and by the rotation after it, and read again from then on', async () => {
  for (const [options, ms] of [[{}, 2_000], [{ fundsCacheMs: 5_000 }, 5_000]] as const) {
    const { pe, clock, spy } = await payee({ options: { ...options, maxTicketsPerRand: 1 } })
    const reads = () => [spy.count('readContract:getSender'), spy.count('readContract:reserveOf')]
    const t = await pe.terms(addr(A), NEVER)
    assert.deepEqual(reads(), [1, 1])
    clock.advance(ms - 1)
    const r = await pe.receive(pay(t, [0n])) // maxTicketsPerRand 1: the payment rotates the rand
    assert.ok(r.terms)
    assert.deepEqual(reads(), [1, 1], `${ms - 1} ms after the read: the payment and the rotation use it`)
    clock.advance(1)
    const r2 = await pe.receive(pay(r.terms, [seqOf(r.terms)]))
    assert.ok(r2.terms)
    assert.deepEqual(reads(), [2, 2], `${ms} ms after it: read again, once (the rotation uses the new read)`)
    await pe.close()
  }
})

test('gas price: every terms() reads it; rotations and settle() reuse a read for gasPriceCacheMs (10 s by default) and read again from then on', async () => {
  for (const [options, ms] of [[{}, 10_000], [{ gasPriceCacheMs: 4_000 }, 4_000]] as const) {
    const { pe, clock, spy } = await payee({ options })
    const reads = () => spy.count('getGasPrice')
    const t = await pe.terms(addr(A), ALWAYS)
    assert.equal(reads(), 1)
    clock.advance(ms - 1)
    const t2 = await win(pe, t) // a winner rotates the rand
    assert.equal(reads(), 1, `${ms - 1} ms after the read: the rotation uses it`)
    clock.advance(1)
    await win(pe, t2)
    assert.equal(reads(), 2, `${ms} ms after it: the rotation reads it again`)
    await pe.terms(addr(A), NEVER)
    assert.equal(reads(), 3, 'terms() reads it even when a fresh read is cached')
    assert.equal((await pe.settle({ force: true })).settled, 2)
    assert.equal(reads(), 3, 'settle() uses the cached read')
    await pe.close()
  }
})

test('rotation: a cached reserve that covers the winners held plus one chunk is trusted; one that does not is read again, and new terms come from the new read', async () => {
  const { pe, me, spy } = await payee({ payers: [] })
  const C = await barePayer([{ payee: me, amount: 2n * ALWAYS }])
  const reads = () => spy.count('readContract:reserveOf')
  const t = await pe.terms(addr(C), ALWAYS)
  assert.deepEqual([lp(t).faceValue, reads()], [ALWAYS, 1])
  // One winner held: the cached 2 x ALWAYS is exactly held + one chunk.
  const t2 = await win(pe, t, C)
  assert.equal(reads(), 1, 'trusted')
  // The payer adds to the reserve; the payee's cached read still says 2 x ALWAYS.
  await fundPayer('lottery', { chain, deployment: d, key: C }, { deposit: 0n, reserves: [{ payee: me, amount: ALWAYS }] })
  const t3 = await win(pe, t2, C) // two held: 2 x ALWAYS is short of held + one chunk: read again (3 x ALWAYS)
  assert.equal(reads(), 2, 'read again')
  assert.equal(lp(t3).faceValue, ALWAYS)
  await pe.close()
})

// ---------------------------------------------------------------- what terms() guarantees

test('terms: a reserve that guarantees more than nothing but less than a chunk is refused with the amount it guarantees', async () => {
  const { pe, me } = await payee({ payers: [] })
  await fundPayer('lottery', { chain, deployment: d, key: POOR }, { deposit: 0n, reserves: [{ payee: me, amount: 500n }] })
  const e = await refusal(pe.terms(addr(POOR), 1_000n))
  assert.equal(e.shortMessage, `Payment rejected (underfunded): payer ${addr(POOR)} guarantees 500 for this payee beyond its unredeemed winners, less than one chunk (1000)`)
  assert.deepEqual(e.hints, ['The payer must fund a reserve for this payee: TicketBroker.fundReserve(payee, amount).'])
  assert.equal(lp(await pe.terms(addr(POOR), 500n)).faceValue, 500n, 'a chunk of 500 it does guarantee')
  await pe.close()
})

test('terms: winners held beyond what the reserve now holds (another process of the address redeemed from it) guarantee 0, not a negative amount', async () => {
  const key = keys[nextPayee++]!
  const C = await barePayer([{ payee: addr(key), amount: 2n * ALWAYS }])
  const one = await payee({ key, store: join(dir, 'held-1.sqlite') })
  const two = await payee({ key })
  // One holds two winners of C (the whole reserve); two holds a third, and redeems it: the reserve is down to ALWAYS.
  await win(one.pe, await win(one.pe, await one.pe.terms(addr(C), ALWAYS), C), C) // no new terms after it: nothing left to guarantee
  assert.equal(one.pe.pendingWinners(), 2)
  await win(two.pe, await two.pe.terms(addr(C), ALWAYS), C)
  assert.equal((await two.pe.settle({ force: true })).received, ALWAYS)
  const e = await refusal(one.pe.terms(addr(C), ALWAYS))
  assert.equal(e.shortMessage, `Payment rejected (underfunded): payer ${addr(C)} guarantees 0 for this payee beyond its unredeemed winners, less than one chunk (${ALWAYS})`)
  assert.deepEqual(e.hints, ['This payee holds unredeemed winners that use up the reserve: settle() redeems them, then new tickets are accepted.', 'Or the payer funds a larger reserve: TicketBroker.fundReserve(payee, amount).'])
  await one.pe.close()
  await two.pe.close()
})

// ---------------------------------------------------------------- lanes

test('lanes: a rotation keeps its own lane even when another is free; a new session takes a free lane before opening one', async () => {
  const { pe, clock } = await payee({ options: { paramsValidityBlocks: 2 } })
  const s1 = await pe.terms(addr(A), NEVER)
  await chain.dev!.mine(3)
  clock.advance(1_000) // the block is read again: s1 has expired
  const s2 = await pe.terms(addr(A), ALWAYS)
  assert.notEqual(laneOf(s2), laneOf(s1), 's1\'s rand is still active: a lane of its own')
  assert.equal((await refusal(pe.receive(pay(s1, [4n])))).reason, 'expired') // and s1's rand retired: its lane is free
  const r = await win(pe, s2)
  assert.deepEqual([laneOf(r), seqOf(r)], [laneOf(s2), 1n], 'the rotation stays in s2\'s lane')
  const s3 = await pe.terms(addr(A), NEVER)
  assert.deepEqual([laneOf(s3), seqOf(s3)], [laneOf(s1), 0n], 'the free lane, where nothing was accepted')
  await pe.close()
})

test('lanes: past MAX_LANES_PER_PAYER the session retired is the one accepting until the earliest block, not the first opened', async () => {
  const { pe, clock } = await payee({ payers: [B], options: { maxTicketsPerRand: 1, paramsValidityBlocks: 12 } })
  const sessions: PaymentTerms[] = []
  for (let i = 0; i < MAX_LANES_PER_PAYER; i++) sessions.push(await pe.terms(addr(B), NEVER))
  await chain.dev!.mine(2) // within 10 blocks of the window's end: the rotation opens a new window
  clock.advance(1_000)
  const rotated = (await pe.receive(pay(sessions[0]!, [0n], { key: B }))).terms! // the first lane's new rand accepts two blocks longer
  assert.equal(lp(rotated).acceptUntilBlock, lp(sessions[1]!).acceptUntilBlock + 2n)
  const extra = await pe.terms(addr(B), NEVER)
  assert.equal(laneOf(extra), laneOf(sessions[1]!))
  assert.equal((await refusal(pe.receive(pay(sessions[1]!, [0n], { key: B })))).reason, 'expired')
  assert.equal((await pe.receive(pay(rotated, [seqOf(rotated)], { key: B }))).credited, NEVER)
  await pe.close()
})

test('lanes: a session that takes a lane while the lane\'s rotation waits on the chain is retired when the rotation lands: a lane never has two live rands', async () => {
  const { pe, clock, spy } = await payee()
  const t = await pe.terms(addr(A), ALWAYS)
  clock.advance(10_000) // every cache is old: the rotation after the winner reads the gas price again
  let reached!: () => void
  let release!: () => void
  const atGas = new Promise<void>((r) => { reached = r })
  const gate = new Promise<void>((r) => { release = r })
  spy.hooks.getGasPrice = async (_args, real) => {
    spy.hooks.getGasPrice = undefined
    reached()
    await gate
    return real()
  }
  const winning = pe.receive(pay(t, [0n]))
  // The winner is stored and its rand retired; its rotation waits for the gas price.
  await Promise.race([atGas, winning.then(() => assert.fail('the rotation did not read the gas price'))])
  const other = await pe.terms(addr(A), ALWAYS)
  assert.deepEqual([laneOf(other), seqOf(other)], [laneOf(t), 1n], 'the lane had no live rand')
  release()
  const r = (await winning).terms!
  assert.deepEqual([laneOf(r), seqOf(r)], [laneOf(t), 1n])
  assert.deepEqual(await refused(pe.receive(pay(other, [1n]))), ['expired', 'these ticket parameters were rotated; use the newest terms'])
  assert.equal((await pe.receive(pay(r, [1n]))).credited, ALWAYS)
  await pe.close()
})

test('two late payments under one rand retire it once: it is remembered for exactly MAX_RETIRED_KEPT retirements, with its hash in the refusal', async () => {
  const { pe, clock } = await payee({ payers: [B], options: { paramsValidityBlocks: 1 } })
  const t = await pe.terms(addr(B), NEVER)
  await chain.dev!.mine(2)
  clock.advance(1_000) // both payments wait for the block, then both find the rand expired
  const late = await Promise.allSettled([pe.receive(pay(t, [0n], { key: B })), pe.receive(pay(t, [1n], { key: B }))])
  for (const l of late) assert.ok(l.status === 'rejected' && l.reason instanceof PaymentRejectedError && l.reason.shortMessage.startsWith('Payment rejected (expired): parameters expired at block'), String(l))
  // t's lane is free: MAX_LANES_PER_PAYER sessions fill the lanes, then each further one retires the oldest.
  for (let i = 0; i < MAX_LANES_PER_PAYER + MAX_RETIRED_KEPT - 1; i++) await pe.terms(addr(B), NEVER)
  const e = await refusal(pe.receive(pay(t, [2n], { key: B })))
  assert.deepEqual([e.reason, e.details], ['expired', { randHash: lp(t).recipientRandHash }], `${MAX_RETIRED_KEPT} retired, t's the oldest: still remembered`)
  await pe.terms(addr(B), NEVER)
  assert.equal((await refusal(pe.receive(pay(t, [2n], { key: B })))).reason, 'unknown-params')
  await pe.close()
})

// ---------------------------------------------------------------- settle

test('settle with no winner to redeem returns at once, reading nothing from the chain', async () => {
  const { pe, spy } = await payee()
  assert.deepEqual(await pe.settle({ force: true }), { transactions: 0, gasUsed: 0n, received: 0n, settled: 0, pending: 0 })
  assert.deepEqual(spy.calls, [])
  assert.deepEqual(pe.stats(), { payments: 0, credited: 0n, winning: 0, rejected: 0, settled: 0, received: 0n, transactions: 0, gasUsed: 0n })
  await pe.close()
})

test('settle redeems in the broker\'s order whatever order the store returns rows in: by sender, then nonce; each lane\'s next nonce and its payer\'s funds are read once', async () => {
  // S1 < S2 by address. Lanes increase in the order they are opened: S2's lane z first, then S1's lo and hi.
  const [S1, S2] = [A, B].sort(byAddress) as [Hex, Hex]
  const inner = lotteryPayeeStore()
  const rank = new Map<bigint, number>()
  // The store hands the rows back as lo0, lo1, z1, hi0, z0 (an order that every wrong comparison changes).
  const store: LotteryPayeeStore = { ...inner, pendingWinners: (s) => inner.pendingWinners(s).sort((x, y) => rank.get(x.nonce)! - rank.get(y.nonce)!) }
  const { pe, me, spy } = await payee({ store, payers: [A, B], rng: countingRng('settle-order') })
  const z = await pe.terms(addr(S2), ALWAYS)
  const lo = await pe.terms(addr(S1), ALWAYS)
  const hi = await pe.terms(addr(S1), ALWAYS)
  assert.ok(laneOf(z) < laneOf(lo) && laneOf(lo) < laneOf(hi))
  await win(pe, await win(pe, lo, S1), S1)
  await win(pe, hi, S1)
  await win(pe, await win(pe, z, S2), S2)
  const n = (t: PaymentTerms, seq: bigint) => (laneOf(t) << LANE_SHIFT) | seq
  for (const [i, nonce] of [n(lo, 0n), n(lo, 1n), n(z, 1n), n(hi, 0n), n(z, 0n)].entries()) rank.set(nonce, i)
  const from = spy.calls.length
  const rep = await pe.settle({ force: true })
  assert.deepEqual({ ...rep, gasUsed: undefined }, { transactions: 1, gasUsed: undefined, received: 5n * ALWAYS, settled: 5, pending: 0, claims: 0 })
  assert.deepEqual(await redeemedFor(me), [[addr(S1), n(lo, 0n)], [addr(S1), n(lo, 1n)], [addr(S1), n(hi, 0n)], [addr(S2), n(z, 0n)], [addr(S2), n(z, 1n)]])
  const during = spy.calls.slice(from)
  assert.deepEqual([during.filter((c) => c === 'readContract:nextNonce').length, during.filter((c) => c === 'readContract:getSender').length], [3, 3], 'three lanes')
  await pe.close()
})

test('settle without force: a payer unlocking its funds makes the whole batch urgent, logged once with the payers; a batch with no claim logs only its redemption', async () => {
  // The payer sorted second unlocks: its winner comes after the other payer's in the batch.
  const [P1, P2] = [A, U].sort(byAddress) as [Hex, Hex]
  const { pe, logger } = await payee({ payers: [A, U], options: { minValueToCostRatio: 10n ** 30n } })
  await win(pe, await pe.terms(addr(P1), ALWAYS), P1)
  await win(pe, await pe.terms(addr(P2), ALWAYS), P2)
  await broker('unlock', P2)
  try {
    const from = logger.entries.length
    const rep = await pe.settle()
    assert.deepEqual({ ...rep, gasUsed: undefined }, { transactions: 1, gasUsed: undefined, received: 2n * ALWAYS, settled: 2, pending: 0, claims: 0 })
    assert.deepEqual(logs(logger, from), [
      ['warn', 'payer is unlocking its funds: redeeming its winners now', { payers: [addr(P2)] }],
      ['info', 'batch redeemed', { tickets: 2, gas: rep.gasUsed.toString() }],
    ])
  } finally {
    await broker('cancelUnlock', P2)
  }
  await pe.close()
})

test('settle without force: a winner urgent by its expiry alone is redeemed without an unlocking warning', async () => {
  const { pe, logger } = await payee({ options: { minValueToCostRatio: 10n ** 30n, paramsValidityBlocks: 2, redeemWindowBlocks: 3 } })
  await win(pe, await pe.terms(addr(A), ALWAYS))
  const from = logger.entries.length
  const rep = await pe.settle() // expires within 5 blocks: inside the default margin of 50
  assert.equal(rep.settled, 1)
  assert.deepEqual(logs(logger, from), [['info', 'batch redeemed', { tickets: 1, gas: rep.gasUsed.toString() }]])
  await pe.close()
})

test('settle without force: a batch\'s gas counts each of its tickets: two winners must be worth (base + 2 x per-ticket gas) x gas price x minValueToCostRatio', async () => {
  // Two winners of `times` x gas price each against 2 x (57k + 2 x 7k) x gas price: worth it from 71k on.
  for (const [times, settled] of [[71_000n, 2], [70_999n, 0]] as const) {
    const { pe } = await payee({ options: { minValueToCostRatio: 2n, faceValueMultiplier: 1n } })
    const gp = await chain.public.getGasPrice() // what terms() reads (same block) and settle() reuses
    const t = await pe.terms(addr(A), times * gp)
    assert.equal(lp(t).faceValue, times * gp, 'face = price: both win')
    assert.equal((await pe.receive(pay(t, [0n, 1n]))).winning, true)
    const rep = await pe.settle()
    assert.deepEqual([rep.settled, rep.pending], [settled, 2 - settled], `${times} x gas price`)
    await pe.close()
  }
})

test('settle: an aborted signal stops it before a batch (its winner stays pending); with no batch to send, the losses it finds are recorded', async () => {
  const { pe } = await payee({ options: { paramsValidityBlocks: 2, redeemWindowBlocks: 3 } })
  const t = await pe.terms(addr(A), ALWAYS)
  await win(pe, t)
  await assert.rejects(pe.settle({ force: true, signal: AbortSignal.abort() }), { name: 'AbortError' })
  assert.equal(pe.pendingWinners(), 1)
  await chain.dev!.mine(Number(lp(t).expirationBlock - (await chain.blockNumber())))
  assert.deepEqual(await pe.settle({ force: true, signal: AbortSignal.abort() }), { transactions: 0, gasUsed: 0n, received: 0n, settled: 0, pending: 0, lostCount: 1, lostValue: ALWAYS })
  await pe.close()
})

test('settle after a crash between a redemption and the store\'s update: each winner is marked with its own transaction, found from its block or, in a row of an old store, from the deployment block', async () => {
  // P and Q share a seeded stream: the same lane, so the same nonces, from the same payer (another recipient).
  const store = join(dir, 'crashed.sqlite')
  const P = await payee({ store, rng: seededRng('twins') })
  const Q = await payee({ rng: seededRng('twins') })
  const tp = await P.pe.terms(addr(A), ALWAYS)
  const tq = await Q.pe.terms(addr(A), ALWAYS)
  assert.equal(laneOf(tp), laneOf(tq))
  await win(P.pe, await win(P.pe, tp))
  await win(Q.pe, await win(Q.pe, tq))
  assert.equal((await Q.pe.settle({ force: true })).settled, 2, 'Q\'s events come first')
  assert.equal((await P.pe.settle({ force: true })).settled, 2)
  const tx = rows(store)[0]!.tx
  await P.pe.close()
  // The crash: the store never saw the redemption. The second row has no block (a store from before lanes).
  exec(store, "update lottery_winners set status = 'pending', tx = null, reason = null; update lottery_winners set created_block = null where id = 2")
  await chain.dev!.mine(1) // the redemption is not in the latest block
  const again = await payee({ store, key: P.key })
  assert.deepEqual(await again.pe.settle({ force: true }), { transactions: 0, gasUsed: 0n, received: 0n, settled: 0, pending: 0 })
  assert.deepEqual(rows(store).map((r) => [r.status, r.tx, r.reason]), [['redeemed', tx, 'found on chain after a restart'], ['redeemed', tx, 'found on chain after a restart']])
  await again.pe.close()
  await Q.pe.close()
})

test('settle after a crash between a redemption that queued a claim and the store\'s update: the winner is marked a claim', async () => {
  const key = keys[nextPayee++]!
  const store = join(dir, 'crashed-claim.sqlite')
  const C = await barePayer([{ payee: addr(key), amount: ALWAYS }])
  // Two processes of one address each take a winner the one reserve backs; the second redeemed becomes a claim.
  const one = await payee({ key })
  const two = await payee({ key, store })
  await win(one.pe, await one.pe.terms(addr(C), ALWAYS), C)
  await win(two.pe, await two.pe.terms(addr(C), ALWAYS), C)
  assert.equal((await one.pe.settle({ force: true })).received, ALWAYS)
  assert.equal((await two.pe.settle({ force: true })).claims, 1)
  const tx = rows(store)[0]!.tx
  await two.pe.close()
  exec(store, "update lottery_winners set status = 'pending', tx = null, reason = null")
  const again = await payee({ key, store })
  assert.deepEqual(await again.pe.settle({ force: true }), { transactions: 0, gasUsed: 0n, received: 0n, settled: 0, pending: 0 })
  assert.deepEqual(rows(store).map((r) => [r.status, r.tx, r.reason]), [['claim', tx, 'found on chain after a restart']])
  await again.pe.close()
  await one.pe.close()
})

/** A payee holding `count` winners of A in one lane, in a SQLite store (`path`), and their rows. */
async function winners(name: string, count: number) {
  const store = join(dir, `${name}.sqlite`)
  const h = await payee({ store })
  let t = await h.pe.terms(addr(A), ALWAYS)
  for (let i = 0; i < count; i++) t = await win(h.pe, t)
  return { ...h, path: store, rows: rows(store) }
}
/** Damages a stored winner's rand (a store gone bad): the broker refuses it, alone or in a batch. */
const damage = (path: string, id: unknown) => exec(path, `update lottery_winners set rand = '12345' where id = ${Number(id)}`)
// In the run format the broker hashes the rand it is given: a wrong rand is a signature over other fields. Alone (the
// struct-format simulation that isolates it) the same winner is refused for its rand.
const refusedRand = (r: Record<string, unknown>) => `Contract reverted: TicketBrokerInvalidSignature(${getAddress(r.sender as string)})`

test('a failed batch is retried once without the winners the broker refuses alone; a winner whose check fails for another reason stays in it', async () => {
  const { pe, logger, spy, path, rows: [, w1, w2] } = await winners('retry', 3)
  damage(path, w1!.id)
  // w2's check fails on the way to the chain, with no revert: not the ticket's fault.
  spy.hooks.simulateContract = async (args, real) => {
    const ticket = (args[0] as { args: [{ ticket: { senderNonce: bigint } }] }).args[0].ticket
    return ticket.senderNonce === BigInt(w2!.nonce as string) ? Promise.reject(new Error('socket hang up')) : real()
  }
  const from = logger.entries.length
  const rep = await pe.settle({ force: true })
  assert.deepEqual({ ...rep, gasUsed: undefined }, { transactions: 1, gasUsed: undefined, received: 2n * ALWAYS, settled: 2, pending: 0, claims: 0, lostCount: 1, lostValue: ALWAYS })
  assert.deepEqual(rows(path).map((r) => [r.status, r.reason]), [['redeemed', null], ['lost', 'the broker refuses it: TicketBrokerInvalidRecipientRand'], ['redeemed', null]])
  assert.deepEqual(logs(logger, from), [
    ['error', 'batch redemption failed', { tickets: 3, error: refusedRand(w1!) }],
    ['error', 'winning ticket lost', { sender: addr(A), nonce: w1!.nonce, face: ALWAYS.toString(), reason: 'the broker refuses it: TicketBrokerInvalidRecipientRand' }],
    ['info', 'batch redeemed', { tickets: 2, gas: rep.gasUsed.toString() }],
  ])
  await pe.close()
})

test('a batch that fails again once the refused winners are set aside is an error that says to settle later; its winners stay pending', async () => {
  const { pe, logger, spy, path, rows: [w0] } = await winners('twice', 2)
  damage(path, w0!.id)
  const down = new Error('connect ECONNREFUSED 127.0.0.1:8545\n    at TCPConnectWrap.afterConnect')
  let sends = 0
  spy.hooks.writeContract = async (_args, real) => (++sends === 1 ? real() : Promise.reject(down))
  const from = logger.entries.length
  await assert.rejects(pe.settle({ force: true }), (e: unknown) => {
    assert.ok(e instanceof PaymentError, String(e))
    assert.equal(e.shortMessage, 'Batch redemption failed twice')
    assert.deepEqual(e.hints, ['Run settle again later: the chain may be unreachable.'])
    assert.equal((e.cause as { cause?: unknown }).cause, down)
    return true
  })
  assert.equal(pe.pendingWinners(), 1)
  assert.deepEqual(rows(path).map((r) => r.status), ['lost', 'pending'])
  assert.deepEqual(logs(logger, from), [
    ['error', 'batch redemption failed', { tickets: 2, error: refusedRand(w0!) }],
    ['error', 'winning ticket lost', { sender: addr(A), nonce: w0!.nonce, face: ALWAYS.toString(), reason: 'the broker refuses it: TicketBrokerInvalidRecipientRand' }],
    ['error', 'batch redemption failed', { tickets: 1, error: 'redeemRuns failed: connect ECONNREFUSED 127.0.0.1:8545' }],
  ])
  await pe.close()
})

test('a batch whose every winner the broker refuses: each is lost with its reason and nothing more is sent', async () => {
  const { pe, logger, spy, path, rows: ws } = await winners('all-refused', 2)
  for (const w of ws) damage(path, w.id)
  const from = logger.entries.length
  assert.deepEqual(await pe.settle({ force: true }), { transactions: 0, gasUsed: 0n, received: 0n, settled: 0, pending: 0, lostCount: 2, lostValue: 2n * ALWAYS })
  assert.deepEqual(logs(logger, from).map(([level, msg]) => [level, msg]), [['error', 'batch redemption failed'], ['error', 'winning ticket lost'], ['error', 'winning ticket lost']])
  assert.equal(spy.count('writeContract'), 1)
  await pe.close()
})

test('a redemption counts only its own events: another recipient\'s payment or claim in the same receipt is neither received nor a claim', async () => {
  const store = lotteryPayeeStore()
  const { pe, spy } = await payee({ store })
  const t = await pe.terms(addr(A), ALWAYS)
  await win(pe, t)
  const other = addr(keys[nextPayee++]!)
  const nonce = (laneOf(t) << LANE_SHIFT) | 0n
  const abi = abis.TicketBrokerAbi
  // The receipt also carries events naming another recipient, for the same sender and nonce (as a bundled
  // transaction's would).
  spy.hooks.getTransactionReceipt = async (_args, real) => {
    const r = (await real()) as TransactionReceipt
    const like = r.logs[0]!
    const ev = (eventName: 'WinningTicketRedeemed' | 'ClaimQueued' | 'TicketsRedeemed', data: Hex): Log => ({ ...like, topics: encodeEventTopics({ abi, eventName, args: { sender: addr(A), recipient: other } }) as Log['topics'], data })
    return {
      ...r,
      logs: [
        ...r.logs,
        ev('TicketsRedeemed', encodeAbiParameters([{ type: 'uint256' }, { type: 'uint256' }, { type: 'uint256' }, { type: 'uint256' }, { type: 'bytes' }], [laneOf(t), 7n, 7n, 0n, `0x${'00'.repeat(16)}`])),
        ev('WinningTicketRedeemed', encodeAbiParameters([{ type: 'uint256' }, { type: 'uint256' }, { type: 'uint256' }, { type: 'uint256' }], [7n, nonce, 7n, 0n])),
        ev('ClaimQueued', encodeAbiParameters([{ type: 'uint256' }, { type: 'uint256' }], [9n, nonce])),
      ],
    }
  }
  const rep = await pe.settle({ force: true })
  assert.deepEqual({ ...rep, gasUsed: undefined }, { transactions: 1, gasUsed: undefined, received: ALWAYS, settled: 1, pending: 0, claims: 0 })
  assert.deepEqual(store.winners({ chainId: chain.chainId, broker: d.contracts.lottery.ticketBroker.toLowerCase() as Address }).map((w: StoredWinner) => [w.status, w.reason]), [['redeemed', null]])
  await pe.close()
})

test('rotation inside the acceptance window keeps its face value, win probability and expiry (only the rand and the nonce move), so a lane\'s winners go to the broker as one run; within 10 blocks of the window\'s end it opens a new window', async () => {
  const { pe, clock } = await payee({ options: { paramsValidityBlocks: 40 } })
  const t0 = await pe.terms(addr(A), ALWAYS)
  let t = t0
  for (let i = 0; i < 3; i++) {
    const next = await win(pe, t)
    const [a, b] = [lp(t), lp(next)]
    assert.deepEqual([b.faceValue, b.winProb, b.expirationBlock, b.acceptUntilBlock], [a.faceValue, a.winProb, a.expirationBlock, a.acceptUntilBlock], 'the window is kept')
    assert.notEqual(b.recipientRandHash, a.recipientRandHash, 'a new rand')
    assert.equal(b.nextNonce, a.nextNonce + 1n, 'the lane counts on')
    t = next
  }
  const rep = await pe.settle({ force: true })
  assert.deepEqual([rep.settled, rep.transactions], [3, 1])
  const paid = await redeemedTickets(chain, d.contracts.lottery.ticketBroker, { recipient: pe.address, fromBlock: BigInt(d.blockNumber) })
  const mine = paid.filter((p) => p.nonce >> LANE_SHIFT === laneOf(t0))
  assert.equal(mine.length, 3)
  const receipt = await chain.public.getTransactionReceipt({ hash: mine[0]!.tx })
  const runs = parseEventLogs({ abi: abis.TicketBrokerAbi, logs: receipt.logs, eventName: 'TicketsRedeemed' })
  assert.equal(runs.length, 1, 'one run for the three winners')
  // Near the window's end (acceptUntil within 10 blocks) a rotation opens a new window.
  await chain.dev!.mine(Number(lp(t).acceptUntilBlock - (await chain.blockNumber())) - 10)
  clock.advance(1_000) // the payee's block read is cached for a second
  const fresh = await win(pe, t)
  assert.ok(lp(fresh).acceptUntilBlock > lp(t).acceptUntilBlock, 'a new window')
  await pe.close()
})
