/**
 * The storage client: makes a deal with a provider through the market (its signed offer, our signed ask, a deal both
 * sign whose nonce is the hash of the storage terms), opens it on chain with the escrow, uploads paying per chunk
 * (one chunk at risk), watches every period and calls `fault` on one its provider left unproven (collateral comes
 * to us), retrieves paying per chunk and checks every chunk against the data root, and at the end finalizes and
 * withdraws what the contract owes it.
 *
 * `stingy` is the adversarial client: it stops paying for the upload after `stingyAfterChunks` chunks.
 */
import type { Address, Hex } from 'viem'
import type { Clock } from '../../core/clock.js'
import type { Logger } from '../../core/logger.js'
import { bytesToHex, hexToBytes, type Rng } from '../../crypto/index.js'
import { readMessage, sendMessage, type Transport } from '../../net/index.js'
import { fetchExchange } from '../../exchange/index.js'
import type { PayerSide, PayerSession, PaymentTerms } from '../../payments/types.js'
import { createMarketChecker, unmet } from '../../market/check.js'
import { LIMITS, priceOf, type Offer } from '../../market/schema.js'
import { marketHash, signAsk, signDealBody, type MarketDomain, type MarketSigner } from '../../market/sign.js'
import { buildStorageTree, dataLeaf, leafCount, multiProof, replicatedLeaf, treeDepth, verifyMultiProof } from '../../proofs/storage/index.js'
import type { ServiceEventSink } from '../market.js'
import type { StorageChain } from './chain.js'
import { dealCodec, dealReplyCodec, uploadCodec, uploadReplyCodec, STORAGE_DEAL, STORAGE_RETRIEVE, STORAGE_UPLOAD, type StorageTerms } from './protocol.js'
import { chunkCount, chunkPositions, dataChunk, dealUnits, pricePerPeriod, termsNonce } from './terms.js'

export type ClientBehaviour = 'honest' | 'stingy'

export interface ClientComponents {
  transport: Transport
  chain: StorageChain
  payer: PayerSide
  signer: MarketSigner
  clock: Clock
  rng: Rng
  logger: Logger
  onEvent?: ServiceEventSink
  /** Funds what the payment scheme needs for this provider before we pay it (a lottery reserve for its payee). */
  fundProvider?: (payee: Address) => Promise<void>
}

export interface ClientOptions {
  marketDomain: MarketDomain
  /** The provider's address (multiaddr or peer id). */
  provider: string
  data: Uint8Array
  replicas: number
  periods: number
  periodBlocks: number
  windowBlocks: number
  challenges: number
  activateWithinBlocks: number
  /** Collateral asked of the provider, as a multiple of the deal's total price. */
  collateralMultiple: bigint
  /** The most it pays a period (refuses a dearer offer). */
  maxPricePerPeriod: bigint
  chunkSize: number
  behaviour: ClientBehaviour
  stingyAfterChunks: number
  /** How long the market deal is valid (ms on `clock`). */
  dealMs: number
  pollMs: number
  /** Retrieve the file (paid, verified) once this many periods were proven (0: never). */
  retrieveAfterPeriods: number
}

export interface ClientResult {
  dealId?: Hex
  error?: string
  pricePerPeriod?: bigint
  collateral?: bigint
  uploadChunks: number
  uploadPaid: bigint
  periodsProven: number
  periodsFaulted: number
  faultsCalled: number
  retrieved?: { ok: boolean; chunks: number; paid: bigint; reason?: string }
  withdrawn: bigint
  ended: boolean
}

export interface StorageClient {
  /** Makes the deal, opens it, uploads: resolves once the provider activated it (rejects with the reason). */
  readonly stored: Promise<Hex>
  result(): ClientResult
  /** Watches the deal to its end: faults, retrieval, finalize, withdraw. */
  run(signal: AbortSignal): Promise<void>
  /** Faults what is due now; the run loop calls it every `pollMs`. */
  tick(): Promise<void>
  stop(): Promise<void>
}

export class StorageDealError extends Error {
  override name = 'StorageDealError'
}

export async function createStorageClient(c: ClientComponents, o: ClientOptions): Promise<StorageClient> {
  const { transport, chain, clock } = c
  const log = c.logger.child('storage-client')
  const emit = c.onEvent ?? (() => {})
  const checker = createMarketChecker({ domain: o.marketDomain, clock, service: 'storage' })
  const me = c.payer.address.toLowerCase() as Address
  const res: ClientResult = { uploadChunks: 0, uploadPaid: 0n, periodsProven: 0, periodsFaulted: 0, faultsCalled: 0, withdrawn: 0n, ended: false }
  const n = leafCount(o.data.length)
  const dataTree = buildStorageTree(n, (i) => dataLeaf(o.data, i))
  const salt = c.rng(32)
  let terms: StorageTerms | undefined
  let start: bigint | undefined
  const resolved = new Set<number>()
  let retrieving = false

  async function makeDeal(): Promise<Hex> {
    const s1 = await transport.dial(o.provider, STORAGE_DEAL, { timeoutMs: 10_000 })
    let offer: Offer
    try {
      await sendMessage(s1, dealCodec, { type: 'get-offer' })
      const r = await readMessage(s1, dealReplyCodec, { timeoutMs: 10_000 })
      if (r.type !== 'offer') throw new StorageDealError(`the provider sent ${r.type} instead of its offer`)
      offer = checker.offer(r.offer)
    } finally { await s1.close().catch(() => {}) }
    await c.fundProvider?.(offer.server)
    const each = pricePerPeriod(offer, o.data.length, o.replicas)
    if (each > o.maxPricePerPeriod) throw new StorageDealError(`the provider asks ${each} a period, above our ${o.maxPricePerPeriod}`)
    const total = each * BigInt(o.periods)
    const replicaTree = buildStorageTree(n * o.replicas, (g) => replicatedLeaf(o.data, salt, n, g))
    terms = {
      root: bytesToHex(replicaTree.root), dataRoot: bytesToHex(dataTree.root), salt: bytesToHex(salt), leavesPerReplica: BigInt(n), replicas: o.replicas,
      challenges: o.challenges, periodBlocks: o.periodBlocks, windowBlocks: o.windowBlocks, periods: o.periods, activateWithinBlocks: o.activateWithinBlocks,
      pricePerPeriod: each, collateral: total * o.collateralMultiple,
    }
    const units = dealUnits(o.data.length, o.replicas, o.periods)
    const now = clock.now()
    const ask = signAsk({
      type: 'ask', service: 'storage', buyer: me, peer: transport.peerId,
      resources: { bytes: o.data.length * o.replicas, bandwidthBps: 0, durationSec: 0, computeUnits: 0 }, usage: { units },
      maxPrice: o.maxPricePerPeriod * BigInt(o.periods), minCollateral: 0n, schemes: [c.payer.scheme], regions: [], maxLatencyMs: 0, capabilities: [],
      servers: 1, expiresAt: now + 120_000, seq: BigInt(now) * 1000n + BigInt(c.rng(1)[0]),
    }, c.signer, o.marketDomain)
    const why = unmet({ ...ask, maxPrice: LIMITS.maxAmount }, offer)
    if (why) throw new StorageDealError(`the provider's offer does not meet our ask: ${why}`)
    const deal = {
      type: 'deal' as const, service: 'storage', offer: marketHash(o.marketDomain, offer), ask: marketHash(o.marketDomain, ask), server: offer.server, buyer: me,
      price: offer.price, usage: { units }, collateral: terms.collateral, scheme: c.payer.scheme, startsAt: now, endsAt: now + o.dealMs, nonce: termsNonce(terms),
    }
    if (priceOf(deal.price, deal.usage) !== total) throw new StorageDealError('the offer\'s price model does not give the periods\' price')
    const buyerSig = signDealBody(deal, c.signer, o.marketDomain)
    const s2 = await transport.dial(o.provider, STORAGE_DEAL, { timeoutMs: 10_000 })
    let serverSig: Hex
    try {
      await sendMessage(s2, dealCodec, { type: 'propose', ask, deal, buyerSig, terms, bytes: o.data.length })
      const r = await readMessage(s2, dealReplyCodec, { timeoutMs: 30_000 })
      if (r.type === 'refuse') throw new StorageDealError(`the provider refused the deal: ${r.reason}`)
      if (r.type !== 'accept') throw new StorageDealError(`the provider sent ${r.type} instead of its signature`)
      serverSig = r.serverSig
      checker.dealSignature(deal, serverSig, 'server')
    } finally { await s2.close().catch(() => {}) }
    const opened = await chain.openDeal({ ...deal, serverSig, buyerSig }, terms)
    res.dealId = opened.dealId
    res.pricePerPeriod = each
    res.collateral = terms.collateral
    emit({ kind: 'deal-opened', dealId: opened.dealId, provider: offer.server, pricePerPeriod: each, collateral: terms.collateral, periods: o.periods, replicas: o.replicas, tx: opened.tx })
    log.info('deal opened', { dealId: opened.dealId, pricePerPeriod: each.toString(), collateral: terms.collateral.toString() })
    return opened.dealId
  }

  async function upload(dealId: Hex): Promise<void> {
    const s = await transport.dial(o.provider, STORAGE_UPLOAD, { timeoutMs: 10_000 })
    try {
      await sendMessage(s, uploadCodec, { header: { type: 'open', dealId, payer: me }, body: new Uint8Array(0) })
      const t = await readMessage(s, uploadReplyCodec, { timeoutMs: 30_000 })
      if (t.type === 'refuse') throw new StorageDealError(`the provider refused the upload: ${t.reason}`)
      if (t.type !== 'terms') throw new StorageDealError(`the provider sent ${t.type} instead of terms`)
      const chunks = chunkCount(o.data.length, o.chunkSize)
      if (t.chunkCount !== chunks) throw new StorageDealError(`the provider expects ${t.chunkCount} chunks, the file has ${chunks}`)
      let session: PayerSession | undefined = t.terms ? await c.payer.open(t.terms as PaymentTerms) : undefined
      const price = (t.terms as PaymentTerms | undefined)?.pricePerChunk ?? 0n
      for (let i = 0; i < chunks; i++) {
        const positions = chunkPositions(i, o.chunkSize, n)
        const proof = bytesToHex(multiProof(dataTree, positions).siblings)
        const pays = session && !(o.behaviour === 'stingy' && i >= o.stingyAfterChunks)
        const payment = pays ? await session!.pay(price) : undefined
        await sendMessage(s, uploadCodec, { header: { type: 'chunk', index: i, proof, payment }, body: dataChunk(o.data, i, o.chunkSize) })
        const a = await readMessage(s, uploadReplyCodec, { timeoutMs: 30_000 })
        if (a.type === 'refuse') throw new StorageDealError(`the provider stopped the upload at chunk ${i}: ${a.reason}`)
        if (a.type !== 'ack' || a.index !== i) throw new StorageDealError(`the provider sent ${a.type} instead of the ack of chunk ${i}`)
        if (a.receipt?.terms) session?.update(a.receipt.terms as PaymentTerms)
        if (payment) res.uploadPaid += payment.amount
        res.uploadChunks++
      }
      await sendMessage(s, uploadCodec, { header: { type: 'done' }, body: new Uint8Array(0) })
      const d = await readMessage(s, uploadReplyCodec, { timeoutMs: 120_000 })
      if (d.type === 'refuse') throw new StorageDealError(`the provider did not activate the deal: ${d.reason}`)
      if (d.type !== 'stored') throw new StorageDealError(`the provider sent ${d.type} instead of stored`)
      await session?.close().catch(() => {})
      session = undefined
    } finally { await s.close().catch(() => {}) }
  }

  const stored = (async () => {
    const dealId = await makeDeal()
    try {
      await upload(dealId)
    } catch (e) {
      // Not activated: our escrow comes back once the activation window has passed.
      res.error = (e as Error).message
      throw e
    }
    const d = await chain.deal(dealId)
    if (d.state !== 'active') throw new StorageDealError(`the provider said stored but the deal is ${d.state} on chain`)
    start = d.start
    emit({ kind: 'deal-stored', dealId, start: d.start })
    return dealId
  })()
  stored.catch((e: unknown) => { res.error ??= (e as Error).message; log.warn('storage deal failed', { reason: res.error }) })

  async function retrieve(dealId: Hex): Promise<void> {
    retrieving = true
    const depth = treeDepth(n)
    const r = await fetchExchange(transport, o.provider, {
      protocol: STORAGE_RETRIEVE, payer: c.payer, request: { dealId }, logger: c.logger,
      verify: (i, body, meta) => typeof meta?.proof === 'string' && verifyMultiProof({ root: dataTree.root, depth, positions: chunkPositions(i, o.chunkSize, n), leaves: body, siblings: hexToBytes(meta.proof) }),
    }).catch((e: unknown) => ({ chunks: [], paid: 0n, refused: { reason: (e as Error).message.split('\n')[0], atChunk: 0 } }))
    const got = new Uint8Array(r.chunks.reduce((a, b) => a + b.length, 0))
    let off = 0
    for (const ch of r.chunks) { got.set(ch, off); off += ch.length }
    const ok = !r.refused && off >= o.data.length && got.subarray(0, o.data.length).every((b, i) => b === o.data[i])
    res.retrieved = { ok, chunks: r.chunks.length, paid: r.paid, reason: r.refused?.reason }
    emit({ kind: 'retrieved', dealId, ok, chunks: r.chunks.length, paid: r.paid, reason: r.refused?.reason })
    if (!ok) log.warn('retrieval failed', { dealId, reason: r.refused?.reason ?? 'the data did not match' })
  }

  async function tick(): Promise<void> {
    if (!res.dealId || start === undefined || !terms || res.ended) return
    const block = await chain.blockNumber()
    const P = BigInt(terms.periodBlocks)
    for (let t = 0; t < terms.periods; t++) {
      if (resolved.has(t)) continue
      const deadline = start + BigInt(t + 1) * P
      if (block <= deadline) break
      const s = await chain.periodState(res.dealId, t)
      if (s === 'due') {
        await chain.fault(res.dealId, t)
        res.faultsCalled++
        res.periodsFaulted++
        emit({ kind: 'fault-called', dealId: res.dealId, period: t })
        log.warn('our provider left a period unproven: fault called, its collateral share comes to us', { dealId: res.dealId, period: t })
      } else if (s === 'proven') res.periodsProven++
      else if (s === 'faulted') res.periodsFaulted++
      resolved.add(t)
    }
    if (!retrieving && o.retrieveAfterPeriods > 0 && res.periodsProven >= o.retrieveAfterPeriods) await retrieve(res.dealId)
    if (resolved.size === terms.periods) {
      const d = await chain.deal(res.dealId)
      if (d.state === 'active') await chain.finalize(res.dealId)
      if ((await chain.balanceOf(me)) > 0n) res.withdrawn += (await chain.withdraw()).amount
      res.ended = true
      emit({ kind: 'deal-ended', dealId: res.dealId, proven: res.periodsProven, faulted: res.periodsFaulted, withdrawn: res.withdrawn })
    }
  }

  return {
    stored,
    result: () => ({ ...res, retrieved: res.retrieved && { ...res.retrieved } }),
    tick,
    async run(signal) {
      try { await stored } catch { return }
      while (!signal.aborted && !res.ended) {
        try { await tick() } catch (e) { log.warn('watching the deal failed; retrying', { reason: (e as Error).message.split('\n')[0] }) }
        if (res.ended) break
        await clock.sleep(o.pollMs, { signal }).catch(() => {})
      }
    },
    async stop() {},
  }
}
