/**
 * The channel payee's rules one at a time, each pinned exactly, against a real PaymentChannel on the embedded chain:
 * the terms it offers, what it credits and counts, the text and log line of every refusal, when `settle()` collects
 * and when it waits, what it books when the chain pays less than a voucher says (a loss, with its reason), a channel
 * its payer closed and settled behind its back, and what its SQLite store keeps. Fast on purpose: the mutation run
 * (`npm run mutate -- channel-payee`, docs/testing.md) runs this file first for every mutant.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { privateKeyToAddress } from 'viem/accounts'
import type { Address, Hex } from 'viem'
import { createChain, abis, type Chain } from '../../chain/index.js'
import { deploySouk, type SoukDeployment } from '../deploy.js'
import { write } from '../../chain/tx.js'
import { memoryLogger } from '../../core/logger.js'
import { bytesToHex } from '../../crypto/bytes.js'
import { PaymentRejectedError, type RejectReason } from '../errors.js'
import { fundPayer } from '../registry.js'
import type { PayeeSide, Payment, PayerSession } from '../types.js'
import { createChannelPayee, createChannelPayer, channelDomain, signVoucher, type ChannelPayeeOptions } from './index.js'
import { channelVoucherStore } from './store.js'

const P = 10n ** 15n
const SETTLE_DELAY = 5

let chain: Chain
let d: SoukDeployment
let dir: string
const keys: Hex[] = []
const addr = (k: Hex) => privateKeyToAddress(k).toLowerCase() as Address

before(async () => {
  chain = await createChain({ kind: 'embedded', accounts: 40 })
  d = await deploySouk(chain, chain.devKeys[0]!, { settleDelayBlocks: SETTLE_DELAY })
  keys.push(...(chain.devKeys.slice(1) as Hex[]))
  for (const k of keys.slice(0, 16)) await fundPayer('channel', { chain, deployment: d, key: k }, { deposit: 10n ** 20n })
  dir = mkdtempSync(join(tmpdir(), 'souk-channel-mut-'))
})
after(async () => {
  await chain.close()
  rmSync(dir, { recursive: true, force: true })
})

let next = 0
/** A funded payer and a payee (with `opts`, a memory logger and optionally a store), and a 10-chunk channel with one chunk paid. */
async function pair(o: { store?: string; options?: ChannelPayeeOptions; chain?: Chain } = {}) {
  const payerKey = keys[next]!
  const payeeKey = keys[16 + next++]!
  const payer = addr(payerKey)
  const payee = addr(payeeKey)
  const logger = memoryLogger()
  const pe = await createChannelPayee({ chain: o.chain ?? chain, deployment: d, key: payeeKey, store: channelVoucherStore(o.store), logger, options: o.options ?? { minDepositChunks: 10n } })
  const session = await (await createChannelPayer({ chain, deployment: d, key: payerKey })).open(await pe.terms(payer, P))
  const first = await session.pay(P)
  await pe.receive(first)
  const channelId = (first.body as { channelId: Hex }).channelId
  const voucher = (cumulative: bigint, v: { amount?: bigint; key?: Hex; from?: Address } = {}): Payment => {
    const sig = signVoucher(channelDomain(chain.chainId, d.contracts.channel.paymentChannel.toLowerCase() as Address), channelId, cumulative, v.key ?? payerKey)
    return { scheme: 'channel', payer: v.from ?? payer, payee, amount: v.amount ?? P, body: { channelId, cumulativeAmount: cumulative, sig: bytesToHex(sig) } }
  }
  return { payerKey, payeeKey, payer, payee, pe, session, channelId, voucher, logger }
}
async function payN(pe: PayeeSide, s: PayerSession, n: number) {
  for (let i = 0; i < n; i++) await pe.receive(await s.pay(P))
}
async function refusal(pe: PayeeSide, p: unknown): Promise<PaymentRejectedError> {
  try {
    await pe.receive(p as Payment)
  } catch (e) {
    assert.ok(e instanceof PaymentRejectedError, String(e))
    return e
  }
  assert.fail('accepted')
}
const balance = (a: Address) => chain.public.readContract({ address: d.token, abi: abis.SoukTokenAbi, functionName: 'balanceOf', args: [a] })
const channelCall = (key: Hex, functionName: 'startClose' | 'settle' | 'topUp' | 'challenge', args: readonly unknown[]) =>
  write(chain, chain.wallet(key), { address: d.contracts.channel.paymentChannel, abi: abis.PaymentChannelAbi, functionName, args } as never)
const STRANGER = () => keys[36]!
const mine = (n: number) => chain.dev!.mine(n)

test('terms: the payer\'s own open channel is offered again with its best voucher, to nobody else; the deposit asked is price x minDepositChunks, 100 by default', async () => {
  const t = await pair()
  assert.equal(t.pe.scheme, 'channel')
  await payN(t.pe, t.session, 2)
  const expect = { scheme: 'channel', chainId: chain.chainId, contract: d.contracts.channel.paymentChannel.toLowerCase(), payee: t.payee, pricePerChunk: P }
  assert.deepEqual(await t.pe.terms(t.payer, P), { ...expect, params: { settleDelayBlocks: SETTLE_DELAY, minDeposit: 10n * P, channelId: t.channelId, cumulative: 3n * P } })
  assert.deepEqual(await t.pe.terms(t.payer.toUpperCase().replace('0X', '0x') as Address, P), await t.pe.terms(t.payer, P), 'the payer\'s address in any case')
  const stranger = addr(STRANGER())
  assert.deepEqual(await t.pe.terms(stranger, P), { ...expect, params: { settleDelayBlocks: SETTLE_DELAY, minDeposit: 10n * P } })
  const plain = await createChannelPayee({ chain, deployment: d, key: keys[37]!, store: channelVoucherStore(), logger: memoryLogger() })
  assert.equal((await plain.terms(stranger, 3n)).params.minDeposit, 300n)
  await plain.close()
  // Closed: not offered again.
  await t.pe.settle({ force: true })
  assert.equal((await t.pe.terms(t.payer, P)).params.channelId, undefined)
  await t.pe.close()
})

test('receive: each accepted voucher is credited at the payment\'s amount, never as a winner, and counted', async () => {
  const t = await pair()
  assert.deepEqual(await t.pe.receive(t.voucher(3n * P, { amount: 2n * P })), { credited: 2n * P, winning: false })
  assert.deepEqual(t.pe.stats(), { payments: 2, credited: 3n * P, winning: 0, rejected: 0, settled: 0, received: 0n, transactions: 0, gasUsed: 0n })
  await refusal(t.pe, t.voucher(3n * P))
  assert.deepEqual(t.pe.stats(), { payments: 2, credited: 3n * P, winning: 0, rejected: 1, settled: 0, received: 0n, transactions: 0, gasUsed: 0n })
  await t.pe.close()
})

test('every refusal says what is wrong in words a payer can act on, and is logged as a warning with its reason', async () => {
  const t = await pair()
  const other = await pair()
  const id = t.channelId
  const cases: [unknown, RejectReason, string | RegExp][] = [
    [{ scheme: 'channel' }, 'malformed', /^payer: .*; payee: /],
    [{ ...t.voucher(2n * P), scheme: 'lottery' }, 'wrong-scheme', 'expected a channel payment, got lottery'],
    [{ ...t.voucher(2n * P), payee: other.payee }, 'wrong-payee', `payment is for ${other.payee}`],
    [{ ...t.voucher(2n * P), body: { channelId: id, cumulativeAmount: 2n * P, sig: '0x12' } }, 'malformed', /^sig: /],
    [{ ...other.voucher(2n * P), payee: t.payee }, 'wrong-payee', `channel ${other.channelId} pays ${privateKeyToAddress(other.payeeKey)}`],
    [{ ...t.voucher(2n * P), body: { ...(t.voucher(2n * P).body as object), channelId: `0x${'ab'.repeat(32)}` } }, 'unknown-channel', `channel 0x${'ab'.repeat(32)} does not exist on chain`],
    [t.voucher(2n * P, { key: other.payerKey, from: other.payer }), 'bad-signature', `channel belongs to ${t.payer}, not ${other.payer}`],
    [t.voucher(P), 'replayed', `cumulative ${P} is not above ${P}`],
    [t.voucher(2n * P, { amount: 2n * P }), 'not-monotonic', `voucher adds ${P}, less than the payment's ${2n * P}`],
    [t.voucher(11n * P), 'underfunded', `voucher ${11n * P} exceeds the channel deposit ${10n * P}`],
    [t.voucher(2n * P, { key: other.payerKey }), 'bad-signature', 'voucher signature is not the payer\'s (or not canonical)'],
  ]
  for (const [p, reason, msg] of cases) {
    const e = await refusal(t.pe, p)
    assert.equal(e.reason, reason, e.message)
    const prefix = `Payment rejected (${reason}): `
    assert.ok(e.message.startsWith(prefix), e.message)
    const detail = e.message.slice(prefix.length)
    if (typeof msg === 'string') assert.equal(detail, msg)
    else assert.match(detail, msg)
    const last = t.logger.entries.at(-1)!
    assert.deepEqual({ level: last.level, scope: last.scope, msg: last.msg, fields: last.fields }, { level: 'warn', scope: 'channel-payee', msg: 'voucher rejected', fields: { reason, msg: detail } })
  }
  assert.equal(t.pe.stats().rejected, cases.length)
  // Closing and closed channels (a payee that read the channel before the close notices it at its next settle).
  await channelCall(other.payerKey, 'startClose', [other.channelId])
  const late = await createChannelPayee({ chain, deployment: d, key: other.payeeKey, store: channelVoucherStore(), logger: memoryLogger() })
  const e2 = await refusal(late, other.voucher(2n * P))
  assert.deepEqual([e2.reason, e2.message], ['expired', 'Payment rejected (expired): channel is closing; open a new one'])
  await t.pe.settle({ force: true })
  const e3 = await refusal(t.pe, t.voucher(3n * P))
  assert.deepEqual([e3.reason, e3.message], ['unknown-channel', 'Payment rejected (unknown-channel): channel is closed'])
  for (const p of [t.pe, other.pe, late]) await p.close()
})

test('settle without force collects once what is due reaches collectThreshold (equal is enough), waits below it, and books the chain\'s events', async () => {
  const t = await pair({ options: { minDepositChunks: 10n, collectThreshold: 3n * P } })
  await payN(t.pe, t.session, 1) // 2 chunks due
  assert.deepEqual(await t.pe.settle(), { transactions: 0, gasUsed: 0n, received: 0n, settled: 0, pending: 1 })
  await payN(t.pe, t.session, 1) // 3 chunks due: the threshold
  const before = await balance(t.payee)
  const rep = await t.pe.settle()
  assert.equal((await balance(t.payee)) - before, 3n * P)
  assert.deepEqual({ ...rep, gasUsed: rep.gasUsed > 20_000n }, { transactions: 1, gasUsed: true, received: 3n * P, settled: 1, pending: 0 })
  const info = t.logger.entries.filter((e) => e.level === 'info')
  assert.deepEqual(info.map((e) => [e.scope, e.msg, e.fields]), [['channel-payee', 'collect done', { channel: t.channelId, amount: (3n * P).toString() }]])
  assert.equal(t.logger.entries.some((e) => e.level === 'warn'), false, 'a voucher within the deposit warns of nothing')
  await payN(t.pe, t.session, 2) // 2 more chunks due: below the threshold again
  assert.equal((await t.pe.settle()).pending, 1)
  const closed = await t.pe.settle({ force: true })
  assert.deepEqual({ ...closed, gasUsed: closed.gasUsed > 20_000n }, { transactions: 1, gasUsed: true, received: 2n * P, settled: 1, pending: 0 })
  assert.deepEqual(t.logger.entries.at(-1)!.msg, 'closeByRecipient done')
  assert.deepEqual(t.pe.stats(), { payments: 5, credited: 5n * P, winning: 0, rejected: 0, settled: 2, received: 5n * P, transactions: 2, gasUsed: rep.gasUsed + closed.gasUsed })
  assert.deepEqual(await t.pe.settle({ force: true }), { transactions: 0, gasUsed: 0n, received: 0n, settled: 0, pending: 0 }, 'a closed channel is done')
  await t.pe.close()
})

test('settle without a threshold collects anything due, and sends nothing when nothing is due', async () => {
  const t = await pair({ options: {} }) // no collectThreshold: 0
  const rep = await t.pe.settle()
  assert.equal(rep.received, P)
  assert.deepEqual(await t.pe.settle(), { transactions: 0, gasUsed: 0n, received: 0n, settled: 0, pending: 1 })
  const bare = await createChannelPayee({ chain, deployment: d, key: t.payeeKey, store: channelVoucherStore(), logger: memoryLogger() }) // no options at all
  await bare.receive(t.voucher(2n * P))
  assert.equal((await bare.settle()).received, P)
  await t.pe.close()
  await bare.close()
})

test('a voucher above a deposit the chain forgot: settle warns, collects the deposit only when that reaches the threshold, and the close books the rest as lost', async () => {
  const store = join(dir, 'forgot.sqlite')
  const t = await pair({ store, options: { minDepositChunks: 10n, collectThreshold: 4n * P } })
  await payN(t.pe, t.session, 3) // 4 chunks
  assert.equal((await t.pe.settle()).received, 4n * P) // the chain has paid 4
  await payN(t.pe, t.session, 6) // 10 chunks: the deposit
  const fork = await chain.dev!.snapshot()
  await payN(t.pe, t.session, 5) // the payer tops up to 20 chunks; 15 accepted
  await chain.dev!.revert(fork) // the top-up is gone: 10 chunks held, 4 paid, the voucher says 15
  await t.pe.close()
  // What is due is the deposit less what was paid: 6 chunks, not 11 nor 14.
  const logger = memoryLogger()
  const at7 = await createChannelPayee({ chain, deployment: d, key: t.payeeKey, store: channelVoucherStore(store), logger, options: { collectThreshold: 7n * P } })
  assert.deepEqual(await at7.settle(), { transactions: 0, gasUsed: 0n, received: 0n, settled: 0, pending: 1 })
  assert.deepEqual(logger.entries.map((e) => [e.level, e.msg, e.fields]), [['warn', 'voucher above the channel deposit: it pays the whole deposit, the rest is lost unless the payer tops up',
    { channel: t.channelId, cumulative: (15n * P).toString(), deposit: (10n * P).toString() }]])
  await at7.close()
  const at6 = await createChannelPayee({ chain, deployment: d, key: t.payeeKey, store: channelVoucherStore(store), logger, options: { collectThreshold: 6n * P } })
  const collected = await at6.settle()
  assert.equal(collected.received, 6n * P)
  assert.equal(collected.lostCount, undefined, 'collecting loses nothing yet: the payer may still top up')
  const closed = await at6.settle({ force: true })
  assert.equal(closed.received, 0n)
  assert.deepEqual([closed.lostCount, closed.lostValue, at6.stats().lostCount], [1, 5n * P, 1])
  const lost = logger.entries.at(-2)!
  assert.deepEqual([lost.level, lost.msg, lost.fields], ['warn', 'channel voucher lost', {
    channel: t.channelId, reason: 'the voucher is above what the channel holds (a top-up the chain no longer has)', value: (5n * P).toString(), cumulative: (15n * P).toString(),
  }])
  await at6.close()
  // The store says what the chain paid and that the channel is closed.
  const db = new Database(store, { readonly: true })
  assert.deepEqual(db.prepare('select cumulative, collected, closed from channel_vouchers where channel_id = ?').get(t.channelId), { cumulative: (15n * P).toString(), collected: (10n * P).toString(), closed: 1 })
  db.close()
})

test('a channel its payer closed and settled while the payee was away: nothing is sent, what the settlement paid is received, the rest is lost, and the channel is never offered again', async () => {
  const store = join(dir, 'away.sqlite')
  const t = await pair({ store, options: { minDepositChunks: 10n, collectThreshold: 2n * P } })
  await payN(t.pe, t.session, 1) // 2 chunks
  await t.pe.settle() // collected 2
  await payN(t.pe, t.session, 3) // 5 chunks, 3 not collected
  await t.pe.close()
  await channelCall(t.payerKey, 'startClose', [t.channelId])
  await mine(SETTLE_DELAY)
  await channelCall(STRANGER(), 'settle', [t.channelId]) // anyone may settle it after the delay
  const logger = memoryLogger()
  const back = await createChannelPayee({ chain, deployment: d, key: t.payeeKey, store: channelVoucherStore(store), logger })
  const rep = await back.settle({ force: true })
  assert.deepEqual(rep, { transactions: 0, gasUsed: 0n, received: 0n, settled: 0, pending: 0, lostCount: 1, lostValue: 3n * P })
  assert.deepEqual(logger.entries.map((e) => [e.level, e.msg, e.fields]), [['warn', 'channel voucher lost', {
    channel: t.channelId, reason: 'the payer closed and settled the channel before this payee presented its best voucher', value: (3n * P).toString(), cumulative: (5n * P).toString(),
  }]])
  assert.equal((await back.terms(t.payer, P)).params.channelId, undefined)
  assert.deepEqual(await back.settle({ force: true }), { transactions: 0, gasUsed: 0n, received: 0n, settled: 0, pending: 0 }, 'booked once')
  await back.close()
  const again = await createChannelPayee({ chain, deployment: d, key: t.payeeKey, store: channelVoucherStore(store), logger: memoryLogger() })
  assert.equal((await again.terms(t.payer, P)).params.channelId, undefined, 'closed in the store too')
  assert.deepEqual(await again.settle({ force: true }), { transactions: 0, gasUsed: 0n, received: 0n, settled: 0, pending: 0 })
  await again.close()
})

test('a watchtower challenged with the payee\'s voucher before the payer\'s close settled: the settlement\'s payment is received and nothing is lost', async () => {
  const store = join(dir, 'watchtower.sqlite')
  const t = await pair({ store, options: { minDepositChunks: 10n, collectThreshold: 2n * P } })
  const other = await pair() // another channel, settled meanwhile: its settlement is not this one's
  await other.pe.settle({ force: true })
  await payN(t.pe, t.session, 1)
  await t.pe.settle() // collected 2
  await payN(t.pe, t.session, 2) // 4 chunks
  await channelCall(t.payerKey, 'startClose', [t.channelId])
  const best = t.voucher(4n * P).body as { cumulativeAmount: bigint; sig: Hex }
  await channelCall(STRANGER(), 'challenge', [t.channelId, best.cumulativeAmount, best.sig])
  await mine(SETTLE_DELAY)
  await channelCall(STRANGER(), 'settle', [t.channelId])
  const rep = await t.pe.settle()
  assert.deepEqual(rep, { transactions: 0, gasUsed: 0n, received: 2n * P, settled: 0, pending: 0 })
  assert.equal(t.pe.stats().received, 4n * P)
  await t.pe.close()
  await other.pe.close()
  const db = new Database(store, { readonly: true })
  assert.deepEqual(db.prepare('select collected, closed from channel_vouchers where channel_id = ?').get(t.channelId), { collected: (4n * P).toString(), closed: 1 })
  db.close()
})

test('a payer that starts closing: the next settle closes at once with the best voucher, forced or not; a restarted payee refuses new vouchers on it', async () => {
  const store = join(dir, 'closing.sqlite')
  const t = await pair({ store, options: { minDepositChunks: 10n, collectThreshold: 100n * P } }) // collecting would wait
  await payN(t.pe, t.session, 2) // 3 chunks
  await t.pe.close()
  await channelCall(t.payerKey, 'startClose', [t.channelId])
  const back = await createChannelPayee({ chain, deployment: d, key: t.payeeKey, store: channelVoucherStore(store), logger: memoryLogger(), options: { collectThreshold: 100n * P } })
  const [reason] = [(await refusal(back, t.voucher(4n * P))).reason]
  assert.equal(reason, 'expired', 'the restarted payee reads the channel again and sees it closing')
  const before = await balance(t.payee)
  const rep = await back.settle() // not forced
  assert.deepEqual([rep.transactions, rep.settled, rep.received, rep.pending], [1, 1, 3n * P, 0])
  assert.equal((await balance(t.payee)) - before, 3n * P)
  await back.close()
})

test('a channel whose only voucher was refused has nothing to present: settle skips it', async () => {
  const t = await pair()
  const fresh = await createChannelPayee({ chain, deployment: d, key: t.payeeKey, store: channelVoucherStore(), logger: memoryLogger() })
  await refusal(fresh, t.voucher(2n * P, { key: STRANGER() })) // reads the channel, then refuses the signature
  assert.deepEqual(await fresh.settle({ force: true }), { transactions: 0, gasUsed: 0n, received: 0n, settled: 0, pending: 0 })
  await fresh.close()
  await t.pe.close()
})

test('settle reads the chain only for channels still open: a closed one costs no request', async () => {
  let reads = 0
  const counted: Chain = { ...chain, public: new Proxy(chain.public, { get: (o, k) => (k === 'readContract' ? (...a: unknown[]) => { reads++; return (o.readContract as (...x: unknown[]) => unknown)(...a) } : Reflect.get(o, k)) }) }
  const store = join(dir, 'reads.sqlite')
  const t = await pair({ store, chain: counted })
  await t.pe.settle({ force: true })
  await t.pe.close()
  const again = await createChannelPayee({ chain: counted, deployment: d, key: t.payeeKey, store: channelVoucherStore(store), logger: memoryLogger() })
  reads = 0
  await again.settle({ force: true })
  assert.equal(reads, 0)
  await again.close()
})

test('close() releases the store: the write-ahead log is checkpointed and removed', async () => {
  const store = join(dir, 'close.sqlite')
  const t = await pair({ store })
  assert.ok(existsSync(`${store}-wal`))
  await t.pe.close()
  assert.equal(existsSync(`${store}-wal`), false)
})

test('a store written before from_block existed is upgraded in place and its vouchers still collect', async () => {
  const store = join(dir, 'old.sqlite')
  const t = await pair()
  await payN(t.pe, t.session, 2) // the channel holds a 3-chunk voucher
  const best = t.voucher(3n * P).body as { cumulativeAmount: bigint; sig: Hex }
  const old = new Database(store)
  old.exec(`create table channel_vouchers (channel_id text primary key, sender text not null, cumulative text not null, sig text not null, collected text not null default '0', closed integer not null default 0)`)
  old.prepare('insert into channel_vouchers (channel_id, sender, cumulative, sig) values (?, ?, ?, ?)').run(t.channelId, t.payer, best.cumulativeAmount.toString(), best.sig)
  old.close()
  const pe = await createChannelPayee({ chain, deployment: d, key: t.payeeKey, store: channelVoucherStore(store), logger: memoryLogger() })
  assert.equal((await pe.terms(t.payer, P)).params.cumulative, 3n * P)
  assert.equal((await pe.settle({ force: true })).received, 3n * P)
  await pe.close()
  await t.pe.close()
})
