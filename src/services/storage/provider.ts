/**
 * The storage provider (server): sells storage with a signed market offer, signs deals whose storage terms it
 * accepts, takes uploads chunk by chunk (each checked against the deal's data root before its payment is taken),
 * stores `replicas` encoded replicas, activates the deal on chain with its collateral once the upload matches the
 * commitment, proves every period in its window (all due deals in one transaction), serves paid retrievals with a
 * Merkle proof per chunk, and finalizes and withdraws what it earned.
 *
 * Adversarial behaviours (`models/storage.yaml`): `drop` loses a fraction of each replica's leaves and skips the
 * periods it cannot prove; `one-replica` keeps replica 0 only and answers the others with its bytes; `forge` sends
 * proofs with made-up siblings; `refuse-retrieval` stores and proves but will not serve the data back.
 *
 * Roles do no I/O of their own: transport, chain, store, clock, rng and logger come in.
 */
import type { Address, Hex } from 'viem'
import type { Clock } from '../../core/clock.js'
import type { Logger } from '../../core/logger.js'
import { bytesToHex, hexToBytes, type Rng } from '../../crypto/index.js'
import { readMessage, sendMessage, ProtocolViolationError, type Transport } from '../../net/index.js'
import { serveExchange, type ExchangeServer } from '../../exchange/index.js'
import type { PayeeSide } from '../../payments/types.js'
import { PaymentRejectedError } from '../../payments/errors.js'
import { createMarketChecker } from '../../market/check.js'
import { MarketRejectedError } from '../../market/errors.js'
import { perUnit, priceOf, type Offer } from '../../market/schema.js'
import { marketHash, signDealBody, signOffer, type MarketDomain, type MarketSigner } from '../../market/sign.js'
import {
  LEAF_BYTES, buildStorageTree, challengePositions, leafCount, multiProof, treeDepth, verifyMultiProof, replicaMask, type StorageTree,
} from '../../proofs/storage/index.js'
import type { ServiceEventSink } from '../market.js'
import type { ProofEntry, StorageChain } from './chain.js'
import { dealCodec, dealReplyCodec, uploadCodec, uploadReplyCodec, RetrieveRequestSchema, STORAGE_DEAL, STORAGE_RETRIEVE, STORAGE_UPLOAD, type StorageTerms } from './protocol.js'
import type { ProviderDeal, ProviderStore } from './store.js'
import { chunkCount, chunkPositions, leavesPerChunk, pricePerPeriod, termsNonce } from './terms.js'

export type ProviderBehaviour = 'honest' | 'drop' | 'one-replica' | 'forge' | 'refuse-retrieval'

export interface ProviderComponents {
  transport: Transport
  chain: StorageChain
  payee: PayeeSide
  signer: MarketSigner
  store: ProviderStore
  clock: Clock
  rng: Rng
  logger: Logger
  onEvent?: ServiceEventSink
}

export interface ProviderOptions {
  marketDomain: MarketDomain
  /** Price of one unit (one MiB of one replica for one period), token units. */
  unitPrice: bigint
  /** Collateral it locks per deal, as a multiple of the deal's total price (Sia: about 2). */
  collateralMultiple: bigint
  capacityBytes: number
  /** What an uploaded chunk costs (paid per chunk through the payee), and a retrieved one. */
  ingestPricePerChunk: bigint
  retrievalPricePerChunk: bigint
  chunkSize: number
  /** Terms it refuses below: periods at least this long, windows at least this wide, at most this many replicas. */
  minPeriodBlocks: number
  minWindowBlocks: number
  maxReplicas: number
  behaviour: ProviderBehaviour
  /** `drop`: the fraction of leaves lost. */
  dropFraction: number
  /** How often it looks at the chain for due proofs (ms on `clock`). */
  pollMs: number
}

export interface ProviderStats {
  deals: number
  bytesStored: number
  chunksUploaded: number
  uploadsRefused: number
  proofsSent: number
  proofTransactions: number
  proofGas: bigint
  periodsProven: number
  periodsFaulted: number
  periodsSkipped: number
  retrievalChunksServed: number
  earned: bigint
  refused: Record<string, number>
}

export interface StorageProvider {
  readonly offer: Offer
  stats(): ProviderStats
  /** Proves what is due now (the run loop calls it every `pollMs`). */
  tick(): Promise<void>
  /** The deals it holds. */
  deals(): ProviderDeal[]
  run(signal: AbortSignal): Promise<void>
  /** Finalizes ended deals and withdraws its balance. */
  settle(): Promise<{ finalized: number; withdrawn: bigint }>
  stop(): Promise<void>
}

interface Held { deal: ProviderDeal; signedBlock?: bigint; tree?: StorageTree; tree0?: StorageTree; dataTree?: StorageTree; start?: bigint; lost?: Set<number>; done: Set<number> }

export async function createStorageProvider(c: ProviderComponents, o: ProviderOptions): Promise<StorageProvider> {
  const { transport, chain, payee, store, clock } = c
  const log = c.logger.child('storage-provider')
  const emit = c.onEvent ?? (() => {})
  const checker = createMarketChecker({ domain: o.marketDomain, clock, service: 'storage' })
  const st: ProviderStats = { deals: 0, bytesStored: 0, chunksUploaded: 0, uploadsRefused: 0, proofsSent: 0, proofTransactions: 0, proofGas: 0n, periodsProven: 0, periodsFaulted: 0, periodsSkipped: 0, retrievalChunksServed: 0, earned: 0n, refused: {} }
  const refused = (why: string) => { st.refused[why] = (st.refused[why] ?? 0) + 1 }
  const me = payee.address.toLowerCase() as Address
  if (o.chunkSize % LEAF_BYTES !== 0 || o.chunkSize <= 0) throw new RangeError(`chunkSize must be a positive multiple of ${LEAF_BYTES}`)
  const per = leavesPerChunk(o.chunkSize)

  const offer = signOffer({
    type: 'offer', service: 'storage', server: me, peer: transport.peerId,
    resources: { bytes: o.capacityBytes, bandwidthBps: 0, durationSec: 0, computeUnits: 0 }, price: perUnit(o.unitPrice),
    collateral: 0n, schemes: [payee.scheme], region: 'any', latencyMs: 0, addresses: transport.addresses().slice(0, 16), capabilities: [],
    expiresAt: clock.now() + 24 * 3_600_000, seq: BigInt(clock.now()),
  }, c.signer, o.marketDomain)

  const held = new Map<Hex, Held>()
  let usedBytes = 0
  const leavesOf = (d: ProviderDeal) => Number(d.terms.leavesPerReplica)
  /** The leaves this provider lost (drop): a fixed pseudo-random subset per deal, from its rng. */
  const lostSet = (n: number, replicas: number): Set<number> => {
    const lost = new Set<number>()
    const total = n * replicas
    const want = Math.floor(total * o.dropFraction)
    while (lost.size < want) { const b = c.rng(4); lost.add((((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0) % total) }
    return lost
  }
  /** Leaf g of the all-replicas tree as this provider can produce it (its behaviour decides what it really kept). */
  const storedLeaf = (h: Held, g: number): Uint8Array => {
    const n = leavesOf(h.deal)
    const j = Math.floor(g / n), l = g - j * n
    if (h.lost?.has(g)) return new Uint8Array(LEAF_BYTES)
    // Keeps replica 0 only and answers for replica j with its bytes.
    if (o.behaviour === 'one-replica') return chunkLeaf(h.deal.dealId, 0, l)
    return chunkLeaf(h.deal.dealId, j, l)
  }
  const honestLeaf = (h: Held, g: number): Uint8Array => { const n = leavesOf(h.deal); return chunkLeaf(h.deal.dealId, Math.floor(g / n), g % n) }
  // The last chunk read, kept: a tree is built leaf by leaf in order, so this is one store read per chunk.
  let lastChunk: { key: string; body: Uint8Array | undefined } | undefined
  const chunkLeaf = (dealId: Hex, j: number, l: number): Uint8Array => {
    const c0 = Math.floor(l / per)
    const key = `${dealId}/${j}/${c0}`
    if (lastChunk?.key !== key) lastChunk = { key, body: store.chunk(dealId, j, c0) }
    const ch = lastChunk.body
    const off = (l % per) * LEAF_BYTES
    return ch && off + LEAF_BYTES <= ch.length ? ch.subarray(off, off + LEAF_BYTES) : new Uint8Array(LEAF_BYTES)
  }
  const dataLeafOf = (h: Held, l: number): Uint8Array => {
    const enc = chunkLeaf(h.deal.dealId, 0, l), m = replicaMask(hexToBytes(h.deal.terms.salt), 0, l)
    const out = new Uint8Array(LEAF_BYTES)
    for (let i = 0; i < LEAF_BYTES; i++) out[i] = enc[i] ^ m[i]
    return out
  }
  /** The proving tree over every replica (built once, at activation or after a restart). */
  const provingTree = (h: Held): StorageTree => {
    if (!h.tree) {
      const n = leavesOf(h.deal)
      // The tree's nodes are kept whole (20 bytes a leaf: even a provider that drops data keeps them, or it could
      // not prove the leaves it kept); the leaves come from what it stored.
      const full = h.tree0 ?? buildStorageTree(n * h.deal.terms.replicas, (g) => honestLeaf(h, g))
      h.tree0 = undefined
      h.tree = { ...full, leaf: (g) => storedLeaf(h, g) }
    }
    return h.tree
  }
  /** The data tree (plaintext, for retrieval proofs), built on the first retrieval. */
  const dataTreeOf = (h: Held): StorageTree => (h.dataTree ??= buildStorageTree(leavesOf(h.deal), (l) => dataLeafOf(h, l)))
  // Restart: what the store holds.
  for (const d of store.deals()) {
    if (d.state === 'ended') continue
    held.set(d.dealId, { deal: d, done: new Set(), lost: o.behaviour === 'drop' ? lostSet(leavesOf(d), d.terms.replicas) : undefined })
    usedBytes += d.bytes * d.terms.replicas
  }

  // --- Deals: hand out the offer; sign a proposed deal whose terms we accept.
  await transport.handle(STORAGE_DEAL, async (stream, peer) => {
    const m = await readMessage(stream, dealCodec, { timeoutMs: 10_000 })
    if (m.type === 'get-offer') return sendMessage(stream, dealReplyCodec, { type: 'offer', offer })
    const no = async (reason: string) => { refused(reason.split(':')[0]); log.info('deal refused', { client: peer, reason }); await sendMessage(stream, dealReplyCodec, { type: 'refuse', reason }) }
    const t = m.terms
    let ask
    try {
      ask = checker.ask(m.ask)
      checker.dealTerms(m.deal, { offer, ask })
      checker.dealSignature(m.deal, m.buyerSig, 'buyer')
    } catch (e) {
      if (e instanceof MarketRejectedError) return no(`${e.reason}: ${e.shortMessage}`)
      throw e
    }
    const d = m.deal
    const n = leafCount(m.bytes)
    if (d.nonce !== termsNonce(t)) return no('terms-mismatch: the deal nonce is not the hash of these storage terms')
    if (BigInt(n) !== t.leavesPerReplica) return no(`terms-mismatch: ${m.bytes} bytes are ${n} leaves, the terms say ${t.leavesPerReplica}`)
    if (d.collateral !== t.collateral) return no('terms-mismatch: deal and terms name different collateral')
    const each = pricePerPeriod(offer, m.bytes, t.replicas)
    if (t.pricePerPeriod < each) return no(`price: ${t.pricePerPeriod} a period is below our ${each}`)
    if (priceOf(d.price, d.usage) !== t.pricePerPeriod * BigInt(t.periods)) return no('terms-mismatch: the deal price is not the periods paid')
    const total = t.pricePerPeriod * BigInt(t.periods)
    if (t.collateral < total * o.collateralMultiple) return no(`collateral: ${t.collateral} is below ${o.collateralMultiple}x the deal's ${total}`)
    if (t.replicas > o.maxReplicas) return no(`replicas: at most ${o.maxReplicas}`)
    if (t.periodBlocks < o.minPeriodBlocks || t.windowBlocks < o.minWindowBlocks || t.windowBlocks > t.periodBlocks) return no('schedule: the period or window is too short')
    try { treeDepth(n * t.replicas) } catch (e) { return no(`size: ${(e as Error).message}`) }
    if (usedBytes + m.bytes * t.replicas > o.capacityBytes) return no('no-room')
    const dealId = marketHash(o.marketDomain, d)
    if (held.has(dealId)) return no('replayed: a deal we already hold')
    const serverSig = signDealBody(d, c.signer, o.marketDomain)
    const pd: ProviderDeal = { dealId, client: d.buyer, deal: { ...d, serverSig, buyerSig: m.buyerSig }, terms: t, bytes: m.bytes, state: 'uploading' }
    store.putDeal(pd)
    held.set(dealId, { deal: pd, done: new Set(), signedBlock: await chain.blockNumber() })
    usedBytes += m.bytes * t.replicas
    st.deals++
    emit({ kind: 'deal-signed', dealId, client: d.buyer, bytes: m.bytes, replicas: t.replicas, periods: t.periods, pricePerPeriod: t.pricePerPeriod, collateral: t.collateral })
    await sendMessage(stream, dealReplyCodec, { type: 'accept', serverSig })
  })

  // --- Upload: each chunk checked against the data root before its payment is taken; replicas encoded and stored.
  await transport.handle(STORAGE_UPLOAD, async (stream, peer) => {
    const first = await readMessage(stream, uploadCodec, { timeoutMs: 10_000 })
    if (first.header.type !== 'open') throw new ProtocolViolationError(`expected open, got ${first.header.type}`, { peer, protocol: STORAGE_UPLOAD })
    const h = held.get(first.header.dealId)
    const no = async (reason: string) => { st.uploadsRefused++; refused(reason.split(':')[0]); log.warn('upload refused', { client: peer, reason }); await sendMessage(stream, uploadReplyCodec, { type: 'refuse', reason }) }
    if (!h) return no('unknown-deal: no deal with that id')
    if (h.deal.state !== 'uploading') return no('not-uploading: the deal is already active')
    if (first.header.payer.toLowerCase() !== h.deal.client) return no('wrong-payer: the deal is another client\'s')
    const n = leavesOf(h.deal), chunks = chunkCount(h.deal.bytes, o.chunkSize)
    const terms = o.ingestPricePerChunk > 0n ? await payee.terms(h.deal.client, o.ingestPricePerChunk) : undefined
    await sendMessage(stream, uploadReplyCodec, { type: 'terms', terms, chunkCount: chunks })
    const depth = treeDepth(n)
    const salt = hexToBytes(h.deal.terms.salt)
    let credited = 0n
    const take = async (payment: unknown) => {
      if (!payment) return undefined
      const r = await payee.receive(payment as Parameters<PayeeSide['receive']>[0])
      credited += r.credited
      return r
    }
    for (let next = 0; ;) {
      const m = await readMessage(stream, uploadCodec, { timeoutMs: 30_000 })
      if (m.header.type === 'open') return no('out-of-order: second open')
      if (m.header.type === 'done') {
        try { await take(m.header.payment) } catch (e) { if (e instanceof PaymentRejectedError) return no(`bad-payment: ${e.reason}`); throw e }
        if (next !== chunks) return no(`incomplete: ${next} of ${chunks} chunks`)
        if (o.ingestPricePerChunk > 0n && credited < o.ingestPricePerChunk * BigInt(chunks)) return no('unpaid: the upload was not paid in full')
        // The replicas must give the committed root before we lock collateral on it.
        h.tree = undefined
        h.lost = o.behaviour === 'drop' ? lostSet(n, h.deal.terms.replicas) : undefined
        h.tree0 = buildStorageTree(n * h.deal.terms.replicas, (g) => honestLeaf(h, g))
        if (bytesToHex(h.tree0.root) !== h.deal.terms.root) return no('commitment-mismatch: the replicas do not give the deal\'s root')
        let tx: Hex
        try { tx = await chain.activate(h.deal.dealId) } catch (e) { return no(`activate-failed: ${(e as Error).message.split('\n')[0]}`) }
        h.deal.state = 'active'
        store.setState(h.deal.dealId, 'active')
        provingTree(h)
        if (o.behaviour === 'one-replica') for (let j = 1; j < h.deal.terms.replicas; j++) for (let ch = 0; ch < chunks; ch++) store.putChunk(h.deal.dealId, j, ch, new Uint8Array(0))
        st.bytesStored += h.deal.bytes * h.deal.terms.replicas
        emit({ kind: 'deal-active', dealId: h.deal.dealId, tx })
        log.info('deal active', { dealId: h.deal.dealId, bytes: h.deal.bytes, replicas: h.deal.terms.replicas })
        return sendMessage(stream, uploadReplyCodec, { type: 'stored', activated: tx })
      }
      const { index, proof, payment } = m.header
      if (index !== next) return no(`out-of-order: expected chunk ${next}, got ${index}`)
      const positions = chunkPositions(index, o.chunkSize, n)
      const expectLen = positions.length * LEAF_BYTES
      if (m.body.length !== expectLen) return no(`bad-chunk: chunk ${index} must be ${expectLen} bytes, got ${m.body.length}`)
      // Checked before the payment is taken: a chunk that does not match the commitment costs the client nothing.
      if (!verifyMultiProof({ root: hexToBytes(h.deal.terms.dataRoot), depth, positions, leaves: m.body, siblings: hexToBytes(proof) })) return no(`commitment-mismatch: chunk ${index} does not match the deal's data root`)
      let receipt
      try { receipt = await take(payment) } catch (e) { if (e instanceof PaymentRejectedError) return no(`bad-payment: ${e.reason}`); throw e }
      // One chunk at risk: chunk k is taken only once chunks 0..k-1 are paid.
      if (o.ingestPricePerChunk > 0n && credited < o.ingestPricePerChunk * BigInt(index)) return no(`unpaid: chunk ${index} with ${credited} paid`)
      for (let j = 0; j < h.deal.terms.replicas; j++) {
        const enc = new Uint8Array(m.body.length)
        positions.forEach((l, i) => { const mask = replicaMask(salt, j, l); for (let b = 0; b < LEAF_BYTES; b++) enc[i * LEAF_BYTES + b] = m.body[i * LEAF_BYTES + b] ^ mask[b] })
        store.putChunk(h.deal.dealId, j, index, enc)
      }
      st.chunksUploaded++
      next++
      await sendMessage(stream, uploadReplyCodec, { type: 'ack', index, receipt })
    }
  })

  // --- Retrieval: the client-pays exchange, one Merkle multi-proof per chunk against the data root.
  const retrieval: ExchangeServer = await serveExchange(transport, {
    protocol: STORAGE_RETRIEVE, payee, pricePerChunk: o.retrievalPricePerChunk, logger: c.logger,
    async open(request) {
      const r = RetrieveRequestSchema.safeParse(request)
      if (!r.success) throw new Error('bad request: { dealId } expected')
      const h = held.get(r.data.dealId)
      if (!h || h.deal.state !== 'active') throw new Error('unknown deal')
      if (o.behaviour === 'refuse-retrieval') throw new Error('not serving')
      const n = leavesOf(h.deal)
      const dataTree = dataTreeOf(h)
      return {
        chunkCount: chunkCount(h.deal.bytes, o.chunkSize),
        async chunk(i) {
          const positions = chunkPositions(i, o.chunkSize, n)
          const p = multiProof(dataTree, positions)
          st.retrievalChunksServed++
          return { header: { proof: bytesToHex(p.siblings) }, body: p.leaves }
        },
      }
    },
  })

  // --- Proving: every period's proof in its window, all due deals in one transaction.
  let ticking: Promise<void> | undefined
  /** A signed deal not activated in its activation window frees its capacity (a proposal alone cannot fill us). */
  async function releaseStale(block: bigint): Promise<void> {
    for (const h of held.values()) {
      if (h.deal.state !== 'uploading') continue
      h.signedBlock ??= block
      if (block <= h.signedBlock + BigInt(h.deal.terms.activateWithinBlocks)) continue
      const onChain = await chain.deal(h.deal.dealId)
      if (onChain.state === 'active') continue
      h.deal.state = 'ended'
      store.setState(h.deal.dealId, 'ended')
      store.dropData(h.deal.dealId)
      held.delete(h.deal.dealId)
      usedBytes -= h.deal.bytes * h.deal.terms.replicas
      log.info('deal never activated: its capacity is free again', { dealId: h.deal.dealId, onChain: onChain.state })
      emit({ kind: 'deal-released', dealId: h.deal.dealId })
    }
  }

  async function tickOnce(): Promise<void> {
    if (held.size === 0) return
    const block = await chain.blockNumber()
    await releaseStale(block)
    const active = [...held.values()].filter((h) => h.deal.state === 'active')
    if (active.length === 0) return
    const entries: ProofEntry[] = []
    for (const h of active) {
      const t = h.deal.terms
      if (h.start === undefined) { const onChain = await chain.deal(h.deal.dealId); if (onChain.state !== 'active') continue; h.start = onChain.start }
      const P = BigInt(t.periodBlocks), W = BigInt(t.windowBlocks)
      if (block <= h.start) continue
      const period = Number((block - h.start - 1n) / P)
      if (period >= t.periods) { h.deal.state = 'ended'; store.setState(h.deal.dealId, 'ended'); continue }
      const seedBlock = h.start + BigInt(period + 1) * P - W
      // The transaction lands in a later block: send only while one block of the window is left for it.
      if (block <= seedBlock || block >= h.start + BigInt(period + 1) * P || h.done.has(period)) continue
      const seed = await chain.blockHash(seedBlock)
      const n = leavesOf(h.deal)
      const positions = challengePositions({ seed, dealId: h.deal.dealId, period, challenges: t.challenges, totalLeaves: n * t.replicas })
      if (o.behaviour === 'drop' && positions.some((g) => h.lost!.has(g))) {
        // It cannot answer: a wrong proof is slashed just as a missing one, so it stays silent and hopes nobody calls `fault`.
        h.done.add(period)
        st.periodsSkipped++
        emit({ kind: 'period-skipped', dealId: h.deal.dealId, period })
        continue
      }
      const tree = provingTree(h)
      const p = multiProof(tree, positions)
      if (o.behaviour === 'forge') { const s = c.rng(p.siblings.length); p.siblings.set(s) }
      entries.push({ dealId: h.deal.dealId, period, leaves: p.leaves, siblings: p.siblings })
      h.done.add(period)
    }
    if (entries.length === 0) return
    const r = await chain.prove(entries)
    st.proofsSent += entries.length
    st.proofTransactions++
    st.proofGas += r.gasUsed
    st.periodsProven += r.proven.length
    st.periodsFaulted += r.faulted.length
    for (const x of r.proven) emit({ kind: 'period-proven', dealId: x.dealId, period: x.period, tx: r.tx })
    for (const x of r.faulted) emit({ kind: 'period-faulted', dealId: x.dealId, period: x.period, reason: x.reason, tx: r.tx })
    for (const x of r.skipped) { log.warn('proof skipped by the contract', x); held.get(x.dealId)?.done.delete(x.period) }
    log.info('proofs sent', { proofs: entries.length, proven: r.proven.length, faulted: r.faulted.length, gas: r.gasUsed.toString() })
  }
  const tick = async () => {
    if (!ticking) ticking = tickOnce().finally(() => { ticking = undefined })
    return ticking
  }

  return {
    offer,
    stats: () => ({ ...st, refused: { ...st.refused }, retrievalChunksServed: st.retrievalChunksServed }),
    tick,
    deals: () => [...held.values()].map((h) => h.deal),
    async run(signal) {
      while (!signal.aborted) {
        try { await tick() } catch (e) { log.warn('proving failed; retrying', { reason: (e as Error).message.split('\n')[0] }) }
        await clock.sleep(o.pollMs, { signal }).catch(() => {})
      }
    },
    async settle() {
      let finalized = 0
      const block = await chain.blockNumber()
      for (const h of held.values()) {
        const t = h.deal.terms
        if (h.start === undefined || block <= h.start + BigInt(t.periods) * BigInt(t.periodBlocks)) continue
        const d = await chain.deal(h.deal.dealId)
        if (d.state === 'active') { await chain.finalize(h.deal.dealId); finalized++ }
        h.deal.state = 'ended'
        store.setState(h.deal.dealId, 'ended')
      }
      const w = (await chain.balanceOf(me)) > 0n ? await chain.withdraw() : { amount: 0n }
      st.earned += w.amount
      return { finalized, withdrawn: w.amount }
    },
    async stop() {
      await transport.unhandle(STORAGE_DEAL)
      await transport.unhandle(STORAGE_UPLOAD)
      await retrieval.stop()
      await ticking?.catch(() => {})
    },
  }
}
