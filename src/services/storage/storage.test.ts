/**
 * The storage market end to end in one process: the real roles wired by `storageMarket.wire` over the memory
 * transport, the embedded EVM with `StorageMarket` deployed, lottery tickets for upload and retrieval, SQLite in
 * memory. Blocks are mined by the test (the chain's clock), and each role's `tick` is called after each block, so
 * every period's proof, fault and payout happens when the test says. Every figure is checked against the chain's
 * own events. Adversaries: a provider that drops data, forges proofs, keeps one replica for two, or refuses
 * retrieval; a client that stops paying; a stranger's bad inputs on the wire.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { parseEventLogs, type Address, type Hex } from 'viem'
import { StorageMarketAbi } from '../../../artifacts/contracts.js'
import { createChain, type Chain } from '../../chain/index.js'
import { bytesToHex } from '../../crypto/bytes.js'
import { readMessage, sendMessage } from '../../net/index.js'
import { deploySouk, type SoukDeployment } from '../../payments/deploy.js'
import { deployStorageMarketContract } from './chain.js'
import type { StorageConfig } from './market.js'
import { storageWorld } from './fixtures.js'
import { dealCodec, dealReplyCodec, STORAGE_DEAL, STORAGE_UPLOAD, uploadCodec, uploadReplyCodec, type StorageTerms } from './protocol.js'
import { dealUnits, pricePerPeriod, termsNonce } from './terms.js'
import { leafCount } from '../../proofs/storage/index.js'
import { marketDomain, marketHash, signAsk, signDealBody } from '../../market/sign.js'
import type { Offer } from '../../market/schema.js'
import { privateKeyToAddress } from 'viem/accounts'

let chain: Chain
let dep: SoukDeployment
let market: Address
before(async () => {
  chain = await createChain({ kind: 'embedded', accounts: 40 })
  dep = await deploySouk(chain, chain.devKeys[0])
  market = await deployStorageMarketContract(chain, chain.devKeys[0], dep.token)
})
after(async () => { await chain.close() })

let keyBase = 1
const nextKey = () => chain.devKeys[keyBase++] as Hex

const world = (provider: Partial<StorageConfig> = {}, client: Partial<StorageConfig> = {}) => storageWorld({ chain, deployment: dep, storageMarket: market, nextKey, seed: `storage-${keyBase}` }, provider, client)

const logsOf = async (eventName: string, dealId: Hex) =>
  (await chain.public.getContractEvents({ address: market, abi: StorageMarketAbi, eventName, args: { dealId }, fromBlock: 0n } as never)) as unknown as { args: Record<string, unknown> }[]

test('an honest provider proves every period in its window and is paid per proven period; the client retrieves byte-exact, paying per chunk', async () => {
  const w = await world()
  try {
    const dealId = await w.client.client.stored
    assert.equal((await w.client.chain.deal(dealId)).state, 'active')
    await w.blocks(() => w.client.result().ended)
    const r = w.client.result()
    assert.equal(r.error, undefined)
    assert.equal(r.periodsProven, 4)
    assert.equal(r.periodsFaulted, 0)
    assert.equal(r.retrieved?.ok, true, `retrieval: ${r.retrieved?.reason}`)
    assert.ok(r.retrieved!.paid > 0n)
    assert.ok(r.uploadPaid > 0n, 'the upload was paid per chunk')
    const proven = await logsOf('PeriodProven', dealId)
    assert.equal(proven.length, 4, 'four PeriodProven events')
    assert.equal((await logsOf('PeriodFaulted', dealId)).length, 0)
    const s = await w.provider.provider.settle()
    assert.equal(s.withdrawn, r.pricePerPeriod! * 4n + r.collateral!, 'the provider withdraws 4 periods and its whole collateral')
    const st = w.provider.provider.stats()
    assert.equal(st.periodsProven, 4)
    assert.ok(st.proofTransactions <= 4)
  } finally {
    await w.close()
  }
})

test('a provider that drops half the data skips the periods it cannot prove; the client faults them and receives the slashed collateral', async () => {
  const w = await world({ behaviour: 'drop', dropFraction: 0.5 })
  try {
    const dealId = await w.client.client.stored
    await w.blocks(() => w.client.result().ended)
    const r = w.client.result()
    assert.ok(r.faultsCalled >= 1, `the client faulted ${r.faultsCalled} periods`)
    const faulted = await logsOf('PeriodFaulted', dealId)
    assert.equal(faulted.length, r.periodsFaulted)
    const slashed = faulted.reduce((s, e) => s + (e.args.slashed as bigint), 0n)
    assert.ok(slashed > 0n)
    // The client gets back the escrow of every faulted period and the slashed collateral.
    assert.equal(r.withdrawn, BigInt(r.periodsFaulted) * r.pricePerPeriod! + slashed)
    const s = await w.provider.provider.settle()
    assert.equal(s.withdrawn, BigInt(r.periodsProven) * r.pricePerPeriod! + (r.collateral! - slashed), 'the provider is paid only for proven periods')
  } finally {
    await w.close()
  }
})

test('a provider that forges proofs is faulted by the contract itself (bad proof) and slashed', async () => {
  const w = await world({ behaviour: 'forge' })
  try {
    const dealId = await w.client.client.stored
    await w.blocks(() => w.client.result().ended)
    const faulted = await logsOf('PeriodFaulted', dealId)
    assert.equal(faulted.length, 4)
    assert.ok(faulted.every((e) => Number(e.args.reason) === 1), 'reason BadProof')
    assert.equal((await logsOf('PeriodProven', dealId)).length, 0)
    assert.equal(w.provider.provider.stats().periodsFaulted, 4)
    assert.equal(w.client.result().faultsCalled, 0, 'nobody needed to call fault')
  } finally {
    await w.close()
  }
})

test('a provider that keeps one replica for two fails the periods whose challenges fall on replica 1', async () => {
  const w = await world({ behaviour: 'one-replica' }, { challenges: 8, replicas: 2 })
  try {
    const dealId = await w.client.client.stored
    await w.blocks(() => w.client.result().ended)
    // With 8 challenges over two replicas, a period misses replica 1 with probability 2^-8.
    const faulted = await logsOf('PeriodFaulted', dealId)
    assert.ok(faulted.length >= 3, `faulted ${faulted.length} of 4`)
  } finally {
    await w.close()
  }
})

test('a provider that refuses retrieval is not paid for it; the client says why', async () => {
  const w = await world({ behaviour: 'refuse-retrieval' })
  try {
    await w.client.client.stored
    await w.blocks(() => w.client.result().ended)
    const r = w.client.result()
    assert.equal(r.retrieved?.ok, false)
    assert.equal(r.retrieved?.paid, 0n)
    assert.match(r.retrieved?.reason ?? '', /bad-request/)
    const e = await w.client.stop()
    assert.match(String(e.error), /retrieval failed/)
  } finally {
    await w.close()
  }
})

test('a client that stops paying for its upload is cut off after one unpaid chunk; the deal is never activated', async () => {
  const w = await world({}, { behaviour: 'stingy', stingyAfterChunks: 2, contentBytes: 8_000 })
  try {
    await assert.rejects(w.client.client.stored, /stopped the upload at chunk 3: unpaid/)
    assert.equal(w.provider.provider.stats().chunksUploaded, 3, 'chunks 0-1 paid, chunk 2 the one at risk')
    assert.equal(w.provider.provider.deals()[0].state, 'uploading')
    const dealId = w.client.result().dealId!
    assert.equal((await w.client.chain.deal(dealId)).state, 'opened', 'not activated: no collateral locked on it')
    // Past its activation window the provider frees the capacity the deal held (a proposal alone cannot fill it).
    await chain.dev!.mine(201)
    await w.provider.provider.tick()
    assert.equal(w.provider.provider.deals().length, 0)
    assert.ok(w.events.some((e) => e.kind === 'deal-released' && e.dealId === dealId))
  } finally {
    await w.close()
  }
})

test('bad input on the upload stream: an unknown deal, another payer, an active deal, a chunk that does not match the commitment: each refused by name, no payment taken', async () => {
  const w = await world()
  try {
    const dealId = await w.client.client.stored
    const stranger = w.net.createTransport({ peerId: 'stranger' })
    const creditedBefore = w.provider.payee.stats().credited
    const raw = async (open: Record<string, unknown>) => {
      const s = await stranger.dial('provider', STORAGE_UPLOAD, { timeoutMs: 5_000 })
      await sendMessage(s, uploadCodec, { header: open as never, body: new Uint8Array(0) })
      const reply = await readMessage(s, uploadReplyCodec, { timeoutMs: 5_000 })
      await s.close().catch(() => {})
      return reply.type === 'refuse' ? reply.reason : reply.type
    }
    const me = w.client.payer.address
    assert.match(await raw({ type: 'open', dealId: bytesToHex(new Uint8Array(32).fill(1)), payer: me }), /^unknown-deal/)
    assert.match(await raw({ type: 'open', dealId, payer: me }), /^not-uploading/, 'an active deal takes no more chunks')
    assert.equal(w.provider.payee.stats().credited, creditedBefore, 'no payment taken')
    await stranger.stop()
  } finally {
    await w.close()
  }
})

test('an upload whose chunk does not match the deal\'s data root is refused before its payment is taken; another payer is refused', async () => {
  const data = new Uint8Array(4_000).map((_, i) => (i * 7) & 255)
  const w = await world({}, { content: data })
  try {
    // The client's bytes change after it committed to them: chunk 0 no longer matches the data root it signed.
    data[100] ^= 1
    await assert.rejects(w.client.client.stored, /stopped the upload at chunk 0: commitment-mismatch/)
    assert.equal(w.provider.provider.stats().chunksUploaded, 0)
    assert.equal(w.provider.payee.stats().payments, 0, 'its payment was never taken')
    // The deal is still uploading: a stranger cannot upload for the client.
    const dealId = w.client.result().dealId!
    const stranger = w.net.createTransport({ peerId: 'stranger' })
    const s = await stranger.dial('provider', STORAGE_UPLOAD, { timeoutMs: 5_000 })
    await sendMessage(s, uploadCodec, { header: { type: 'open', dealId, payer: '0x000000000000000000000000000000000000dead' }, body: new Uint8Array(0) })
    const reply = await readMessage(s, uploadReplyCodec, { timeoutMs: 5_000 })
    assert.equal(reply.type, 'refuse')
    assert.match((reply as { reason: string }).reason, /^wrong-payer/)
    await stranger.stop()
  } finally {
    await w.close()
  }
})

test('the events a node prints name every deal, proof and fault', async () => {
  const w = await world()
  try {
    await w.client.client.stored
    await w.blocks(() => w.client.result().ended)
    for (const k of ['offering', 'deal-signed', 'deal-opened', 'deal-active', 'deal-stored', 'period-proven', 'retrieved', 'deal-ended']) assert.ok(w.events.some((e) => e.kind === k), `event ${k}`)
    const ended = w.events.find((e) => e.kind === 'deal-ended')!
    assert.equal(ended.proven, 4)
    const logs = await chain.public.getContractEvents({ address: market, abi: StorageMarketAbi, fromBlock: 0n })
    assert.ok(parseEventLogs({ abi: StorageMarketAbi, logs }).length > 0)
  } finally {
    await w.close()
  }
})

test('bad deal proposals: a forged buyer signature, no collateral, terms that are not the deal\'s nonce: each refused by name, nothing signed', async () => {
  const w = await world()
  try {
    await w.client.client.stored
    const stranger = w.net.createTransport({ peerId: 'stranger' })
    const key = nextKey()
    const me = privateKeyToAddress(key).toLowerCase() as Address
    const domain = marketDomain(chain.chainId, market)
    const ask1 = async () => {
      const s = await stranger.dial('provider', STORAGE_DEAL, { timeoutMs: 5_000 })
      await sendMessage(s, dealCodec, { type: 'get-offer' })
      const r = await readMessage(s, dealReplyCodec, { timeoutMs: 5_000 })
      await s.close()
      return (r as { offer: Offer }).offer
    }
    const offer = await ask1()
    const bytes = 4096, periods = 2, replicas = 1
    const each = pricePerPeriod(offer, bytes, replicas)
    const terms: StorageTerms = {
      root: `0x${'11'.repeat(20)}`, dataRoot: `0x${'22'.repeat(20)}`, salt: `0x${'33'.repeat(32)}`, leavesPerReplica: BigInt(leafCount(bytes)), replicas, challenges: 4,
      periodBlocks: 6, windowBlocks: 4, periods, activateWithinBlocks: 50, pricePerPeriod: each, collateral: each * BigInt(periods) * 2n,
    }
    const now = w.clock.now()
    let seq = 1n
    const propose = async (t: StorageTerms, opts: { signer?: Hex; nonce?: bigint } = {}) => {
      const ask = signAsk({
        type: 'ask', service: 'storage', buyer: me, peer: 'stranger', resources: { bytes, bandwidthBps: 0, durationSec: 0, computeUnits: 0 }, usage: { units: dealUnits(bytes, replicas, periods) },
        maxPrice: 10n ** 20n, minCollateral: 0n, schemes: ['lottery'], regions: [], maxLatencyMs: 0, capabilities: [], servers: 1, expiresAt: now + 60_000, seq: BigInt(now) * 1000n + seq++,
      }, key, domain)
      const deal = {
        type: 'deal' as const, service: 'storage', offer: marketHash(domain, offer), ask: marketHash(domain, ask), server: offer.server, buyer: me, price: offer.price,
        usage: { units: dealUnits(bytes, replicas, periods) }, collateral: t.collateral, scheme: 'lottery', startsAt: now, endsAt: now + 86_400_000, nonce: opts.nonce ?? termsNonce(t),
      }
      const s = await stranger.dial('provider', STORAGE_DEAL, { timeoutMs: 5_000 })
      await sendMessage(s, dealCodec, { type: 'propose', ask, deal, buyerSig: signDealBody(deal, opts.signer ?? key, domain), terms: t, bytes })
      const r = await readMessage(s, dealReplyCodec, { timeoutMs: 5_000 })
      await s.close()
      return r.type === 'refuse' ? r.reason : r.type
    }
    const before = w.provider.provider.stats().deals
    assert.match(await propose(terms, { signer: nextKey() }), /^bad-signature/)
    assert.match(await propose({ ...terms, collateral: 0n }), /^collateral/)
    assert.match(await propose(terms, { nonce: 7n }), /^terms-mismatch: the deal nonce/)
    assert.match(await propose({ ...terms, leavesPerReplica: 3n }), /^terms-mismatch/)
    assert.match(await propose({ ...terms, pricePerPeriod: each - 1n }), /^price/)
    assert.equal(w.provider.provider.stats().deals, before, 'no deal signed')
    // And the honest proposal is accepted (the checks are not refusing everything).
    assert.equal(await propose(terms), 'accept')
    await stranger.stop()
  } finally {
    await w.close()
  }
})
