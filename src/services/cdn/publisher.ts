/**
 * The publisher (sponsor): registers content, recruits caches from their offers, answers client requests with
 * CAPnet bundles, and pays caches per chunk once they present the client's puzzle secret.
 *
 * @example
 * ```ts
 * const publisher = await createPublisher({ transport, payer, logger, clock, rng }, {
 *   contentId: 'video', content: bytes, policy: { maxPricePerChunk: 10n ** 12n, minCapacityBytes: 0, minCollateral: 0n, maxServers: 4 },
 * })
 * publisher.stats().bundlesIssued
 * ```
 */
import type { Address } from 'viem'
import type { Clock } from '../../core/clock.js'
import type { Logger } from '../../core/logger.js'
import { ProtocolViolationError, readMessage, sendMessage, type PeerId, type Transport } from '../../net/index.js'
import type { PayerSide, PaymentTerms } from '../../payments/types.js'
import { createSponsorDesk, type SponsorDesk } from '../../exchange/index.js'
import { loadSpreadingAssignment, reputationAssignment, type AssignmentStrategy, type HirePolicy, type HiredServer } from '../../market/assign.js'
import type { Reputation } from '../../market/reputation.js'
import { createMarketChecker, unmet } from '../../market/check.js'
import { MarketRejectedError } from '../../market/errors.js'
import { negotiateDeals, timeConcession, type Concession } from '../../market/negotiate.js'
import { LIMITS, type Offer } from '../../market/schema.js'
import { marketHash, signAsk, type MarketDomain, type MarketSigner } from '../../market/sign.js'
import {
  CAPNET_DEFAULT_PARAMS, createBundle, describeContent, encryptLayer, padChunk, sealCacheTicket, sha256, verifySolution, type BundleRecord, type PuzzleParams, type Rng,
} from '../../proofs/capnet/index.js'
import {
  CDN_CLAIM, CDN_CONTENT, CDN_JOIN, CDN_REQUEST, ClaimProofSchema, contentChunkCodec, contentRequestCodec, hex, joinCodec, joinReplyCodec,
  payOrderMac, requestCodec, requestReplyCodec, type PayOrder,
} from './protocol.js'
import type { EventSink, PublisherStats } from './types.js'

export interface PublisherComponents {
  transport: Transport
  /** Pays caches (the publisher's budget is this payer's deposit on chain). */
  payer: PayerSide
  clock: Clock
  /**
   * Secrets (publisher, per cache), request ids, puzzle start offsets and the cache-assignment draw: `systemRng` on a
   * node, a seeded stream in tests and simulations (which then replay the same draw).
   */
  rng: Rng
  logger: Logger
  /** Called once per hired cache before it is paid (e.g. fund a lottery reserve for it). */
  fundServer?(payee: Address): Promise<void>
  /** Signs its asks and deals (the payer's key: its address is the payer's). */
  signer: MarketSigner
  /**
   * What it learns of each cache from facts it verified itself: a claim with the right puzzle secret (delivered and
   * proven), a claim with a wrong one (a missed proof). With it, requests go to caches in shares proportional to
   * their optimistic proof rate (`reputationAssignment`: equal caches share equally, a cache not yet assigned is
   * explored at once, one that fails proofs loses share); a disqualified cache gets none.
   */
  reputation?: Reputation
  /** Assigns hired caches to requests (default: by reputation when there is one, else a uniform draw that spreads load). */
  assignment?: AssignmentStrategy
  onEvent?: EventSink
}

export interface PublisherOptions {
  contentId: string
  content: Uint8Array
  chunkSize?: number
  /** What it hires: the price cap per chunk, capacity and collateral floors, how many caches. */
  policy: HirePolicy
  /** The market's EIP-712 domain (`marketDomain(chainId)`): asks and deals are signed for it. */
  marketDomain: MarketDomain
  /** How it concedes from its opening bid to its cap when negotiating with a cache (default: linear in the rounds). */
  concession?: Concession
  /** Puzzle difficulty (rounds, pieceSize); cachesPerRequest caps n. */
  puzzle?: Partial<Pick<PuzzleParams, 'rounds' | 'pieceSize' | 'cachesPerRequest'>>
  /** How long a payment order stays valid. */
  orderTtlMs?: number
  /**
   * How long after its last order expired a bundle is kept for claims (default 2 min: a cache's proof timeout, its
   * late-claim delay and its retries). Then it is forgotten: a claim on it is rejected as `unknown request`.
   */
  claimGraceMs?: number
  /** Unproven bundles a client may hold at once. */
  maxOpenBundlesPerClient?: number
  /** Bundles kept at once, all clients together (default 50,000): beyond it requests are refused until some expire. */
  maxOpenBundles?: number
  maxRepairsPerBundle?: number
  /** How long a hired cache may take to fetch the content and report ready. */
  readyTimeoutMs?: number
}

/**
 * A cache under contract. `replaced`: the same payee joined again under a new peer id (a restarted `souk node`
 * gets a fresh libp2p identity, keeps its key): this one gets no new requests and no longer counts as a hire, but
 * its claims for what it already served are still verified and paid.
 */
interface Hired { offer: HiredServer; price: bigint; cacheSecret: Uint8Array; ready: boolean; replaced?: boolean }
interface Open {
  client: PeerId
  record: BundleRecord
  requestId: Uint8Array
  chunkIndices: number[]
  slots: PeerId[]
  proven: boolean
  repairs: number
  claimed: Set<number>
  /** When it is forgotten: its last order's expiry plus `claimGraceMs`. */
  forgetAtMs: number
}

export interface Publisher {
  readonly contentId: string
  readonly manifest: { merkleRoot: Uint8Array; contentLength: number; chunkSize: number; chunkCount: number }
  stats(): PublisherStats
  /** Sizes of the state it keeps per bundle, client and claim: bounded, and back to 0 once every order expired. */
  sizes(): PublisherSizes
  stop(): Promise<void>
}

export interface PublisherSizes {
  /** Bundles kept for claims and repairs (issued, not yet fully paid nor expired). */
  openBundles: number
  /** Clients holding unproven bundles. */
  clients: number
  /** Claim ids the sponsor desk remembers (paid or in flight). */
  claimIds: number
}

/**
 * Starts a publisher: handles joins, content fetches, bundle requests and claims on `transport`.
 *
 * @example
 * ```ts
 * const p = await createPublisher({ transport, payer, clock, rng, logger }, { contentId: 'v', content, policy })
 * ```
 */
export async function createPublisher(c: PublisherComponents, o: PublisherOptions): Promise<Publisher> {
  const { transport, payer, clock, rng } = c
  const log = c.logger.child('publisher')
  if (c.signer.address.toLowerCase() !== payer.address.toLowerCase()) throw new Error(`createPublisher: the signer ${c.signer.address} is not the payer ${payer.address}`)
  const emit = c.onEvent ?? (() => {})
  const selection = c.assignment ?? (c.reputation ? reputationAssignment<HiredServer>(c.reputation, (h) => h.payee) : loadSpreadingAssignment())
  const content = describeContent(o.content, o.chunkSize ?? CAPNET_DEFAULT_PARAMS.chunkSize)
  const publisherSecret = rng(32)
  const n = o.puzzle?.cachesPerRequest ?? CAPNET_DEFAULT_PARAMS.cachesPerRequest
  const orderTtl = o.orderTtlMs ?? 120_000
  const claimGrace = o.claimGraceMs ?? 120_000
  const maxOpen = o.maxOpenBundles ?? 50_000
  const hired = new Map<PeerId, Hired>()
  const proposed = new Set<PeerId>()
  const open = new Map<string, Open>()
  const openPerClient = new Map<PeerId, number>()
  const st: PublisherStats = { cachesHired: 0, cachesReady: 0, bundlesIssued: 0, bundlesProven: 0, repairs: 0, claimsPaid: 0, claimsRejected: 0, paymentsRefused: 0, paidTo: {} }
  /** A uniform draw in [0, 1) for the selection strategy, from 32 bits of `rng`. */
  const draw = () => { const b = rng(4); return (((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0) / 2 ** 32 }

  const order = (cacheId: PeerId, requestId: Uint8Array, chunkIndex: number, commitment: Uint8Array): PayOrder => {
    const h = hired.get(cacheId)!
    const base = { requestId, chunkIndex, cacheId, pricePerChunk: h.price, commitment, expiresAtMs: clock.now() + orderTtl }
    return { ...base, mac: payOrderMac(h.cacheSecret, base) }
  }
  const innerDigest = (rec: BundleRecord, requestId: Uint8Array, slot: number, chunkIndex: number) =>
    sha256(encryptLayer(padChunk(content.chunks[chunkIndex], content.manifest.chunkSize), { key: rec.innerKeys[slot], requestId, chunkIndex, layer: 'inner' }))
  // Candidates in peer-id order, not hiring order (caches join concurrently): the draw is then a function of the rng
  // and the set of ready caches, so a seeded run replays it.
  const readyCaches = (avoid: readonly string[]) => [...hired.values()].filter((h) => h.ready && !h.replaced && !avoid.includes(h.offer.peer) && !transport.isBanned(h.offer.peer)).map((h) => h.offer)
    .sort((a, b) => (a.peer < b.peer ? -1 : a.peer > b.peer ? 1 : 0))
  /** The bundle no longer counts against its client's unproven bundles (proven, or forgotten unproven). */
  const closeBundle = (b: Open) => {
    const left = (openPerClient.get(b.client) ?? 1) - 1
    if (left > 0) openPerClient.set(b.client, left)
    else openPerClient.delete(b.client)
  }
  const forget = (key: string, b: Open) => { open.delete(key); if (!b.proven) closeBundle(b) }
  /** Drops the bundles whose orders expired more than `claimGraceMs` ago: at most once a second of the clock. */
  let sweptAt = -Infinity
  const sweep = (force = false) => {
    const now = clock.now()
    if (!force && now - sweptAt < 1_000) return
    sweptAt = now
    for (const [key, b] of open) if (b.forgetAtMs <= now) forget(key, b)
  }

  // --- Recruiting through the market: a cache joins with its signed offer; we check it, negotiate a deal with it
  // (alternating offers, our cap per chunk as the limit), then hire it at the deal's price; it accepts with terms.
  const checker = createMarketChecker({ domain: o.marketDomain, clock, service: 'cdn' })
  const recruiting = new Set<PeerId>()
  let askSeq = BigInt(clock.now()) * 1000n // above every ask a restarted publisher signed before
  await transport.handle(CDN_JOIN, async (stream, peer) => {
    const join = await readMessage(stream, joinCodec, { timeoutMs: 10_000 })
    if (join.type !== 'join') throw new ProtocolViolationError(`expected join, got ${join.type}`, { peer, protocol: CDN_JOIN })
    const decline = async (reason: string, fields: Record<string, unknown> = {}) => {
      log.info('declined cache offer', { cache: peer, reason, ...fields })
      await sendMessage(stream, joinReplyCodec, { type: 'decline', reason: reason.slice(0, 200) })
    }
    let mo: Offer
    try { mo = checker.offer(join.offer) } catch (e) {
      if (e instanceof MarketRejectedError) return decline(e.reason, { error: e.shortMessage })
      throw e
    }
    if (mo.peer !== peer) return decline('the offer names another peer')
    if (hired.has(peer) || recruiting.has(peer)) return decline('already hired')
    // The offer is signed by its payee, so only the holder of that key can take the place of its earlier hire.
    const earlier = () => [...hired.entries()].find(([p, h]) => p !== peer && !h.replaced && h.offer.payee.toLowerCase() === mo.server.toLowerCase())
    const hires = () => [...hired.values()].filter((h) => !h.replaced).length - (earlier() ? 1 : 0)
    if (hires() + recruiting.size >= o.policy.maxServers) return decline('enough servers hired')
    if (mo.price.kind !== 'per-chunk') return decline(`a CDN cache prices per chunk, not ${mo.price.kind}`)
    const chunks = BigInt(content.manifest.chunkCount)
    const ask = signAsk({
      type: 'ask', service: 'cdn', buyer: c.signer.address, peer: transport.peerId,
      resources: { bytes: Math.max(o.policy.minCapacityBytes, content.manifest.contentLength), bandwidthBps: 0, durationSec: 0, computeUnits: 0 },
      usage: { chunks }, maxPrice: o.policy.maxPricePerChunk * chunks, minCollateral: o.policy.minCollateral, schemes: [payer.scheme],
      regions: [], maxLatencyMs: 0, capabilities: [], servers: 1, expiresAt: clock.now() + 120_000, seq: ++askSeq,
    }, c.signer, o.marketDomain)
    const why = unmet({ ...ask, maxPrice: LIMITS.maxAmount }, mo) // the price is negotiated below
    if (why) return decline(why)
    recruiting.add(peer)
    let decision: { pricePerChunk: bigint; deal: string }
    try {
      const r = await negotiateDeals({ transport, ask, signer: c.signer, candidates: [mo], checker, domain: o.marketDomain, clock, rng, logger: c.logger, concession: o.concession ?? timeConcession(1) })
      const deal = r.deals[0]
      if (!deal) return await decline(`no deal: ${r.outcomes[0]?.reason ?? 'unknown'}`)
      decision = { pricePerChunk: deal.price.rates[0].price, deal: marketHash(o.marketDomain, deal) }
      emit({ kind: 'deal', cache: peer, payee: mo.server, pricePerChunk: decision.pricePerChunk, listPricePerChunk: mo.price.rates[0].price, rounds: r.outcomes[0].rounds })
    } finally { recruiting.delete(peer) }
    const offer: HiredServer = { peer, payee: mo.server, pricePerChunk: decision.pricePerChunk, capacityBytes: mo.resources.bytes, collateral: mo.collateral, addresses: mo.addresses }
    if (hires() >= o.policy.maxServers) return decline('enough servers hired')
    // Fund what the scheme needs before the cache quotes terms (a lottery payee checks its reserve).
    await c.fundServer?.(offer.payee)
    const cacheSecret = rng(32)
    proposed.add(peer) // may fetch the content as soon as it accepts
    await sendMessage(stream, joinReplyCodec, { type: 'hire', contentId: o.contentId, manifest: content.manifest, pricePerChunk: decision.pricePerChunk, cacheSecret, publisherPayer: payer.address, deal: decision.deal })
    const ans = await readMessage(stream, joinCodec, { timeoutMs: 10_000 })
    if (ans.type !== 'accept') { log.info('cache declined our proposal', { cache: peer }); return }
    const terms = ans.terms as PaymentTerms
    if (terms.payee.toLowerCase() !== offer.payee.toLowerCase() || terms.pricePerChunk !== decision.pricePerChunk) {
      log.warn('cache sent terms that do not match its offer', { cache: peer })
      return
    }
    const h: Hired = { offer, price: decision.pricePerChunk, cacheSecret, ready: false }
    const before = earlier()
    if (before) {
      // At most one replaced hire per payee is kept (for its outstanding claims): a key restarted over and over
      // cannot grow this map.
      for (const [p, x] of hired) if (x.replaced && x.offer.payee.toLowerCase() === offer.payee.toLowerCase()) { hired.delete(p); await desk.removeServer(p) }
      before[1].replaced = true
      if (before[1].ready) st.cachesReady--
      log.info('cache rejoined under a new peer id: it takes the place of its earlier hire', { cache: peer, earlier: before[0], payee: offer.payee })
      emit({ kind: 'cache-replaced', cache: peer, earlier: before[0], payee: offer.payee })
    }
    hired.set(peer, h)
    await desk.addServer(peer, terms)
    st.cachesHired++
    emit({ kind: 'cache-hired', cache: peer, payee: offer.payee, pricePerChunk: decision.pricePerChunk })
    const ready = await readMessage(stream, joinCodec, { timeoutMs: o.readyTimeoutMs ?? 120_000 })
    if (ready.type !== 'ready' || hex(ready.merkleRoot) !== hex(content.manifest.merkleRoot)) throw new Error('cache did not report the right content ready')
    h.ready = true
    st.cachesReady++
    emit({ kind: 'cache-ready', cache: peer })
    await sendMessage(stream, joinReplyCodec, { type: 'ready-ack' })
  })

  // --- Content for hired caches.
  await transport.handle(CDN_CONTENT, async (stream, peer) => {
    if (!hired.has(peer) && !proposed.has(peer)) throw new ProtocolViolationError('content requested by a cache we did not hire', { peer, protocol: CDN_CONTENT })
    const r = await readMessage(stream, contentRequestCodec, { timeoutMs: 10_000 })
    if (r.contentId !== o.contentId) throw new ProtocolViolationError(`unknown content ${r.contentId}`, { peer, protocol: CDN_CONTENT })
    for (let i = r.from; i < Math.min(r.to, content.manifest.chunkCount); i++) {
      await sendMessage(stream, contentChunkCodec, { header: { index: i }, body: content.chunks[i] })
    }
  })

  // --- Bundles for clients.
  await transport.handle(CDN_REQUEST, async (stream, peer) => {
    const m = await readMessage(stream, requestCodec, { timeoutMs: 10_000 })
    const refuse = (reason: string) => { log.info('refused client request', { client: peer, reason }); return sendMessage(stream, requestReplyCodec, { type: 'refuse', reason }) }
    if (m.type === 'bundle') {
      if (m.contentId !== o.contentId) return refuse('unknown content')
      for (const x of m.solved) {
        const b = open.get(hex(x.requestId))
        if (b && b.client === peer && !b.proven && verifySolution(b.record.puzzle, x.secret)) { b.proven = true; st.bundlesProven++; closeBundle(b) }
      }
      if (m.firstChunk >= content.manifest.chunkCount) return refuse('first chunk out of range')
      sweep()
      if ((openPerClient.get(peer) ?? 0) >= (o.maxOpenBundlesPerClient ?? 2)) return refuse('too many unproven bundles')
      if (open.size >= maxOpen) { sweep(true); if (open.size >= maxOpen) return refuse('busy: too many open bundles, try again later') }
      const k = Math.min(n, content.manifest.chunkCount - m.firstChunk)
      const chosen = selection.assign(readyCaches(m.avoid), k, draw)
      if (chosen.length === 0) return refuse('no cache available')
      const chunkIndices = chosen.map((_, i) => m.firstChunk + i)
      const requestId = rng(16)
      const { bundle, record } = createBundle({
        content, chunkIndices, requestId, publisherSecret,
        caches: chosen.map((x) => ({ cacheId: x.peer, cacheSecret: hired.get(x.peer)!.cacheSecret })),
        params: { rounds: o.puzzle?.rounds, pieceSize: o.puzzle?.pieceSize }, rng,
      })
      open.set(hex(requestId), { client: peer, record, requestId, chunkIndices, slots: chosen.map((x) => x.peer), proven: false, repairs: 0, claimed: new Set(), forgetAtMs: clock.now() + orderTtl + claimGrace })
      openPerClient.set(peer, (openPerClient.get(peer) ?? 0) + 1)
      st.bundlesIssued++
      emit({ kind: 'bundle', client: peer, requestId: hex(requestId), caches: chosen.map((x) => x.peer), chunks: chunkIndices.length })
      await sendMessage(stream, requestReplyCodec, {
        type: 'bundle', bundle,
        caches: chosen.map((x) => ({ cacheId: x.peer, addresses: x.addresses })),
        orders: chosen.map((x, i) => order(x.peer, requestId, chunkIndices[i], record.puzzle.commitment)),
        innerDigests: chosen.map((_, i) => innerDigest(record, requestId, i, chunkIndices[i])),
      })
      return
    }
    // Repair: the same slot (same inner key, so the same inner bytes) from another cache.
    const b = open.get(hex(m.requestId))
    if (!b || b.client !== peer || b.forgetAtMs <= clock.now()) return refuse('unknown request')
    if (b.proven) return refuse('request already proven')
    if (m.slot >= b.slots.length) return refuse('slot out of range')
    if (b.repairs >= (o.maxRepairsPerBundle ?? 3)) return refuse('too many repairs')
    const [next] = selection.assign(readyCaches([...m.avoid, b.slots[m.slot]]), 1, draw)
    if (!next) return refuse('no other cache available')
    log.info('repairing a slot', { client: peer, from: b.slots[m.slot], to: next.peer, reason: m.reason })
    b.slots[m.slot] = next.peer
    b.repairs++
    b.forgetAtMs = Math.max(b.forgetAtMs, clock.now() + orderTtl + claimGrace) // a new order
    st.repairs++
    const ci = b.chunkIndices[m.slot]
    await sendMessage(stream, requestReplyCodec, {
      type: 'repair', slot: m.slot,
      cacheTicket: sealCacheTicket(b.record.innerKeys[m.slot], hired.get(next.peer)!.cacheSecret, b.requestId, ci),
      cache: { cacheId: next.peer, addresses: next.addresses },
      order: order(next.peer, b.requestId, ci, b.record.puzzle.commitment),
    })
  })

  // --- Claims: pay a cache per chunk on the puzzle secret (or, late, once another cache proved the bundle).
  const desk: SponsorDesk = await createSponsorDesk(transport, {
    protocol: CDN_CLAIM, payer, logger: log,
    // A claim id need not be remembered longer than its bundle: after that the bundle is gone (`unknown request`).
    clock, claimTtlMs: orderTtl + claimGrace,
    async verifyClaim(claim, server) {
      const parsed = ClaimProofSchema.safeParse(claim.proof)
      if (!parsed.success) return { ok: false, reason: 'malformed proof' }
      const p = parsed.data
      sweep()
      const b = open.get(hex(p.requestId))
      if (!b || b.forgetAtMs <= clock.now()) return { ok: false, reason: 'unknown request' }
      const slot = b.chunkIndices.indexOf(p.chunkIndex)
      if (slot < 0 || b.slots[slot] !== server) return { ok: false, reason: 'this cache does not serve that slot' }
      if (b.claimed.has(slot)) return { ok: false, reason: 'slot already paid' }
      const payee = hired.get(server)?.offer.payee
      if (p.secret) {
        if (!verifySolution(b.record.puzzle, p.secret)) {
          if (payee) c.reputation?.observe(payee, { kind: 'proof-missed', source: 'self' })
          emit({ kind: 'caught', who: server, why: 'wrong puzzle secret', role: 'cache', payee })
          return { ok: false, reason: 'wrong puzzle secret' }
        }
        if (payee) c.reputation?.observe(payee, { kind: 'proof-passed', source: 'self' })
        if (!b.proven) { b.proven = true; st.bundlesProven++; closeBundle(b) }
      } else if (!b.proven) return { ok: false, reason: 'late claim on a bundle nobody proved' }
      b.claimed.add(slot)
      if (b.claimed.size === b.slots.length) open.delete(hex(p.requestId)) // every slot paid: nothing left to claim
      return { ok: true }
    },
  })

  return {
    contentId: o.contentId,
    manifest: content.manifest,
    stats() {
      const d = desk.stats()
      return { ...st, claimsPaid: d.paid, claimsRejected: d.rejected, paymentsRefused: d.refusedByServer, paidTo: d.paidTo }
    },
    sizes() {
      sweep()
      return { openBundles: open.size, clients: openPerClient.size, claimIds: desk.sizes().claimIds }
    },
    async stop() {
      for (const p of [CDN_JOIN, CDN_CONTENT, CDN_REQUEST]) await transport.unhandle(p)
      await desk.stop()
    },
  }
}
