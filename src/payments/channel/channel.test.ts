/**
 * The channel payee against a real PaymentChannel on the embedded chain: every refusal (each with its reason, each
 * leaving the stored voucher as it was), vouchers above the deposit, the payee's SQLite store across restarts, and
 * what `settle()` books when the chain pays less than the voucher says.
 */
import { test, before, after } from 'node:test'
import { deploySouk, type SoukDeployment } from '../deploy.js'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { privateKeyToAddress } from 'viem/accounts'
import type { Address, Hex } from 'viem'
import { createChain, abis, type Chain } from '../../chain/index.js'
import { write } from '../../chain/tx.js'
import { bytesToHex, hexToBytes } from '../../crypto/bytes.js'
import { PaymentRejectedError, type RejectReason } from '../errors.js'
import { fundPayer } from '../registry.js'
import type { PayeeSide, Payment, PayerSession } from '../types.js'
import { createChannelPayee, createChannelPayer, channelDomain, signVoucher } from './index.js'
import { channelVoucherStore } from './store.js'
import { testComponents } from '../testing.js'

const P = 10n ** 15n // price of a chunk
const DEPOSIT_CHUNKS = 10n // the payee asks for a deposit of 10 chunks; the payer opens with exactly that

let chain: Chain
let d: SoukDeployment
let dir: string
const keys: Hex[] = []
const addr = (k: Hex) => privateKeyToAddress(k).toLowerCase() as Address

before(async () => {
  chain = await createChain({ kind: 'embedded', accounts: 16 })
  d = await deploySouk(chain, chain.devKeys[0]!, { settleDelayBlocks: 5 })
  keys.push(...(chain.devKeys.slice(1) as Hex[]))
  for (const k of keys.slice(0, 8)) await fundPayer('channel', { chain, deployment: d, key: k }, { deposit: 10n ** 20n })
  dir = mkdtempSync(join(tmpdir(), 'souk-channel-'))
})
after(async () => {
  await chain.close()
  rmSync(dir, { recursive: true, force: true })
})

let nextKey = 0
/** A fresh payer (funded) and payee, a channel holding 10 chunks, and a way to hand-craft vouchers on it. */
async function pair(storePath?: string) {
  const payerKey = keys[nextKey]!
  const payeeKey = keys[8 + nextKey++]!
  const payer = addr(payerKey)
  const payee = addr(payeeKey)
  const pe = await createChannelPayee({ chain, deployment: d, key: payeeKey, store: channelVoucherStore(storePath), options: { minDepositChunks: DEPOSIT_CHUNKS }, ...testComponents('channel.test/channelpayee-1') })
  const session = await (await createChannelPayer({ chain, deployment: d, key: payerKey })).open(await pe.terms(payer, P))
  const first = await session.pay(P)
  await pe.receive(first)
  const channelId = (first.body as { channelId: Hex }).channelId
  /** A voucher for `cumulative` on `id`, signed by `key`, claiming `amount` for this chunk. */
  const voucher = (cumulative: bigint, o: { amount?: bigint; key?: Hex; id?: Hex; from?: Address; to?: Address } = {}): Payment => {
    const sig = signVoucher(channelDomain(chain.chainId, d.contracts.channel.paymentChannel.toLowerCase() as Address), o.id ?? channelId, cumulative, o.key ?? payerKey)
    return { scheme: 'channel', payer: o.from ?? payer, payee: o.to ?? payee, amount: o.amount ?? P, body: { channelId: o.id ?? channelId, cumulativeAmount: cumulative, sig: bytesToHex(sig) } }
  }
  return { payerKey, payeeKey, payer, payee, pe, session, channelId, voucher }
}

async function rejects(pe: PayeeSide, p: unknown, reason: RejectReason, msg?: RegExp) {
  await assert.rejects(pe.receive(p as Payment), (e: unknown) => {
    assert.ok(e instanceof PaymentRejectedError, `not a PaymentRejectedError: ${String(e)}`)
    assert.equal(e.reason, reason, e.message)
    if (msg) assert.match(e.message, msg)
    return true
  })
}
const balance = (a: Address) => chain.public.readContract({ address: d.token, abi: abis.SoukTokenAbi, functionName: 'balanceOf', args: [a] })
const cumulativeOf = async (pe: PayeeSide, payer: Address) => (await pe.terms(payer, P)).params.cumulative as bigint | undefined
async function payN(pe: PayeeSide, s: PayerSession, n: number): Promise<Payment> {
  let last: Payment | undefined
  for (let i = 0; i < n; i++) await pe.receive((last = await s.pay(P)))
  return last!
}

test('attack: a voucher above the deposit', async () => {
  // The payer signs a voucher for more than the channel holds, without topping up: the excess is not backed by
  // anything, so the payee must refuse to serve for it.
  const t = await pair()
  await payN(t.pe, t.session, 9) // cumulative 10 chunks = the deposit
  const before = await balance(t.payee)
  await rejects(t.pe, t.voucher(11n * P), 'underfunded', /exceeds the channel deposit/)
  await rejects(t.pe, t.voucher(1000n * P, { amount: 990n * P }), 'underfunded', /exceeds the channel deposit/)
  assert.equal(await cumulativeOf(t.pe, t.payer), 10n * P, 'a refused voucher is not stored')
  // Once the payer tops up, the same voucher is backed: the payee reads the new deposit and accepts it.
  await write(chain, chain.wallet(t.payerKey), { address: d.contracts.channel.paymentChannel, abi: abis.PaymentChannelAbi, functionName: 'topUp', args: [t.channelId, P] })
  assert.equal((await t.pe.receive(t.voucher(11n * P))).credited, P)
  const rep = await t.pe.settle({ force: true })
  assert.equal(rep.received, 11n * P)
  assert.equal((await balance(t.payee)) - before, 11n * P)
  assert.equal(t.pe.stats().rejected, 2)
})

test('a top-up the chain forgets (reorg): the payee closes with its voucher, gets the whole deposit and books only that', async () => {
  const t = await pair()
  await payN(t.pe, t.session, 9) // 10 chunks: the deposit
  const fork = await chain.dev!.snapshot()
  await payN(t.pe, t.session, 5) // the payer tops up (deposit 20 chunks); the payee re-reads it and accepts 15
  assert.equal(await cumulativeOf(t.pe, t.payer), 15n * P)
  await chain.dev!.revert(fork) // the block with the top-up is gone: the channel holds 10 chunks again
  const before = await balance(t.payee)
  const rep = await t.pe.settle({ force: true })
  assert.equal((await balance(t.payee)) - before, 10n * P, 'the whole deposit')
  assert.equal(rep.received, 10n * P, 'booked as received: what the chain paid, not what the voucher says')
  assert.equal(rep.settled, 1)
  assert.equal(rep.lostCount, 1, 'the rest of the voucher is a loss')
  assert.equal(rep.lostValue, 5n * P)
  assert.equal(t.pe.stats().lostCount, 1)
})

test('not-monotonic: a voucher that adds less than the payment claims is refused, and nothing is stored', async () => {
  const t = await pair()
  await payN(t.pe, t.session, 2) // cumulative 3 chunks
  await rejects(t.pe, t.voucher(4n * P, { amount: 2n * P }), 'not-monotonic')
  await rejects(t.pe, t.voucher(3n * P + 1n, { amount: P }), 'not-monotonic')
  assert.equal(await cumulativeOf(t.pe, t.payer), 3n * P)
  assert.equal(t.pe.stats().credited, 3n * P)
  // A voucher may add more than the payment (an earlier one was lost): accepted, credited at the payment's amount.
  assert.equal((await t.pe.receive(t.voucher(5n * P, { amount: P }))).credited, P)
  assert.equal((await t.pe.settle({ force: true })).received, 5n * P)
})

test('a channel payee restarted on the same SQLite file keeps the latest voucher and collects and closes with it', async () => {
  const store = join(dir, 'restart.sqlite')
  const t = await pair(store)
  await payN(t.pe, t.session, 3) // 4 chunks
  assert.equal((await t.pe.settle()).received, 4n * P) // collected; the channel stays open
  const last = await payN(t.pe, t.session, 3) // 7 chunks, acknowledged, then the process dies (no close, no flush)
  const before = await balance(t.payee)

  const revived = await createChannelPayee({ chain, deployment: d, key: t.payeeKey, store: channelVoucherStore(store), options: { minDepositChunks: DEPOSIT_CHUNKS }, ...testComponents('channel.test/channelpayee-2') })
  const terms = await revived.terms(t.payer, P)
  assert.equal(terms.params.channelId, t.channelId, 'the open channel is offered again')
  assert.equal(terms.params.cumulative, 7n * P, 'with the latest voucher')
  await rejects(revived, last, 'replayed')
  await rejects(revived, t.voucher(6n * P), 'replayed')
  // It collects with the stored voucher: 3 chunks over what was collected before the crash.
  assert.equal((await revived.settle()).received, 3n * P)

  // A payer that restarted too resumes the channel from the terms, tops it up from its real deposit, and pays on.
  const s2 = await (await createChannelPayer({ chain, deployment: d, key: t.payerKey })).open(terms)
  await payN(revived, s2, 5) // 12 chunks: above the 10-chunk deposit, so the payer tops up first
  // Second crash; the third process closes with the stored 12-chunk voucher.
  const third = await createChannelPayee({ chain, deployment: d, key: t.payeeKey, store: channelVoucherStore(store), ...testComponents('channel.test/channelpayee-3') })
  const rep = await third.settle({ force: true })
  assert.equal(rep.received, 5n * P)
  assert.equal((await balance(t.payee)) - before, 8n * P)
  assert.equal(await cumulativeOf(third, t.payer), undefined, 'the closed channel is not offered again')
  for (const p of [t.pe, revived, third]) await p.close()
})

test('every other refusal of the channel payee, each with its reason and none storing anything', async () => {
  const t = await pair()
  const other = await pair() // another payer's channel to another payee
  await payN(t.pe, t.session, 1) // 2 chunks
  const good = t.voucher(3n * P)
  const body = good.body as { channelId: Hex; cumulativeAmount: bigint; sig: Hex }
  const reasons = new Set<RejectReason>()
  const no = async (p: unknown, reason: RejectReason, msg?: RegExp) => { await rejects(t.pe, p, reason, msg); reasons.add(reason) }

  await no({ scheme: 'channel' }, 'malformed')
  await no({ ...good, body: { ...body, sig: '0x1234' } }, 'malformed')
  await no({ ...good, scheme: 'lottery' }, 'wrong-scheme')
  await no({ ...good, payee: other.payee }, 'wrong-payee', /payment is for/)
  // A channel that pays someone else: its vouchers are worthless to this payee.
  await no(other.voucher(2n * P, { to: t.payee }), 'wrong-payee', /pays/)
  await no(t.voucher(3n * P, { id: `0x${'ee'.repeat(32)}` }), 'unknown-channel', /does not exist/)
  // The channel's owner is the payer: someone else's vouchers on it, even validly self-signed, are refused.
  await no(t.voucher(3n * P, { key: other.payerKey, from: other.payer }), 'bad-signature', /belongs to/)
  await no(t.voucher(3n * P, { key: other.payerKey }), 'bad-signature', /not the payer's/)
  // The same voucher with s replaced by n - s (valid on secp256k1, not canonical): refused.
  const sig = hexToBytes(body.sig)
  const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
  const s = BigInt(bytesToHex(sig.slice(32, 64)))
  const hs = new Uint8Array(sig)
  hs.set(hexToBytes(`0x${(N - s).toString(16).padStart(64, '0')}`), 32)
  hs[64] = hs[64] === 27 ? 28 : 27
  await no({ ...good, body: { ...body, sig: bytesToHex(hs) } }, 'bad-signature', /not canonical/)
  await no(t.voucher(2n * P), 'replayed')
  await no(t.voucher(P), 'replayed')
  assert.equal(await cumulativeOf(t.pe, t.payer), 2n * P)
  assert.equal((await t.pe.receive(good)).credited, P, 'the genuine voucher still passes after all that')

  // A channel its sender started closing: refused (the payee would have to race the settle delay for it).
  const c = await pair()
  await write(chain, chain.wallet(c.payerKey), { address: d.contracts.channel.paymentChannel, abi: abis.PaymentChannelAbi, functionName: 'startClose', args: [c.channelId] })
  const late = await createChannelPayee({ chain, deployment: d, key: c.payeeKey, store: channelVoucherStore(), ...testComponents('channel.test/channelpayee-4') })
  await rejects(late, c.voucher(2n * P), 'expired', /closing/)
  reasons.add('expired')
  // A channel this payee closed: refused.
  await t.pe.settle({ force: true })
  await no(t.voucher(4n * P), 'unknown-channel', /closed/)

  // With 'underfunded' and 'not-monotonic' (tests above), every reason the channel payee gives.
  assert.deepEqual([...reasons].sort(), ['bad-signature', 'expired', 'malformed', 'replayed', 'unknown-channel', 'wrong-payee', 'wrong-scheme'])
  for (const p of [t.pe, other.pe, c.pe, late]) await p.close()
})
