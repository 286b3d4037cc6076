/**
 * The cache (server): joins a publisher with an offer, fetches and stores the content it is hired for, serves
 * doubly encrypted chunks to the publisher's clients, releases the outer key on the client's payment message
 * (the publisher's payment order), accepts the puzzle secret as proof of service, and claims one chunk's payment
 * from the publisher per proof. It serves a client at most one unproven request at a time, so a client that stops
 * paying costs it one chunk. Winning tickets are redeemed in batches by `settle()`.
 *
 * Behaviours: `honest`; `garbage` (serves random bytes: must be detected and never paid); `colluding` (the accepted
 * accounting attack of models/cdn.yaml: it hands its partner clients its chunk and secret over the collude protocol
 * instead of serving them; a partner that solved the bundle by downloading every honest cache's chunk hands back the
 * secret, and the cache claims its slot with it — paid, never served. On its first `forgeTries` partner slots it
 * also tries forged claims, no secret and a made-up one, which the publisher rejects). Several colluding caches
 * sharing a partner client are Sybil caches of one operator: when every slot of a bundle is theirs, the client solves
 * it from their chunks alone and hands each the secret, and each claims its slot without serving (the accepted Sybil
 * case of models/cdn.yaml).
 *
 * Events: `attack` where this cache cheats (`what`: `garbage`, `forged-claim`, `unserved-claim`, `sybil-claim`), `caught` when it
 * catches a client (`who`: the client's peer id, `why`: `unpaid`, a ban's reason) or its publisher (`who`: the
 * payer's address, `why`: `duplicate-numbers`, from the settle report).
 *
 * @example
 * ```ts
 * const cache = await createCache({ transport, payee, store: memoryChunkStore(), clock, rng, logger }, { publisher: publisherAddr, offer: { pricePerChunk: 10n, floorPricePerChunk: 5n, capacityBytes: 1e9, collateral: 0n } })
 * await cache.ready
 * ```
 */
import type { Address } from 'viem'
import type { Clock } from '../../core/clock.js'
import type { Logger } from '../../core/logger.js'
import { ProtocolViolationError, readMessage, sendMessage, type MessageStream, type PeerId, type Transport } from '../../net/index.js'
import type { PayeeSide, SettleReport } from '../../payments/types.js'
import { CHAIN_DOWN_REASON, chainUnreachable, createClaimant, releaseWhenRemoteEnds, type Claimant, type ClaimResult } from '../../exchange/index.js'
import { createMarketChecker } from '../../market/check.js'
import { createNegotiator, timeConcession, type Concession } from '../../market/negotiate.js'
import { perChunk, priceOf, type Deal } from '../../market/schema.js'
import { marketHash, signOffer, type MarketDomain, type MarketSigner } from '../../market/sign.js'
import { deriveOuterKey, merkleRoot, serveChunk, verifySolution, type Rng } from '../../proofs/capnet/index.js'
import {
  CDN_CLAIM, CDN_COLLUDE, CDN_CONTENT, CDN_FETCH, CDN_JOIN, collideCodec, collideReplyCodec, contentChunkCodec, contentRequestCodec, fetchCodec, fetchReplyCodec,
  hex, joinCodec, joinReplyCodec, partnerList, verifyPayOrder,
} from './protocol.js'
import type { ChunkStore } from './store.js'
import type { CacheBehaviour, CacheStats, EventSink } from './types.js'

export interface CacheComponents {
  transport: Transport
  payee: PayeeSide
  /** Signs its market offer and its deals (the payee's key: its address is the payee's). */
  signer: MarketSigner
  store: ChunkStore
  clock: Clock
  /** Garbage mode's bytes and colluding mode's made-up secrets (a seeded stream in simulations). */
  rng: Rng
  logger: Logger
  onEvent?: EventSink
  /**
   * Reads the chain the payee checks payments against (e.g. `() => chain.blockNumber()`): while payments cannot be
   * checked, called every `chainProbeMs` to learn that the chain answers again. Without it, serving resumes after
   * `chainProbeMs` and the next payment tells (one chunk per client at risk per probe).
   */
  chainProbe?: () => Promise<unknown>
}

export interface CacheOptions {
  /** The publisher's address (multiaddr, or peer id on the memory network). */
  publisher: string
  /**
   * What it sells, as a signed market offer (`src/market`): its list price and floor per chunk (it negotiates between
   * them), capacity, collateral, region and latency estimate.
   */
  offer: { pricePerChunk: bigint; floorPricePerChunk: bigint; capacityBytes: number; collateral: bigint; region?: string; latencyMs?: number }
  /** The market's EIP-712 domain (`marketDomain(chainId)`): offers and deals are signed for it. */
  marketDomain: MarketDomain
  /** How it concedes from its list price to its floor (default: linear in the rounds). */
  concession?: Concession
  behaviour?: CacheBehaviour
  /** Colluding mode: the client peers we share secrets with (one, a list, or a comma-separated list). */
  partner?: PeerId | readonly PeerId[]
  /**
   * Colluding mode: try forged claims (no secret, a made-up one) on this many partner slots (default 2), before
   * handing the slot's chunk over. Each made-up secret is caught by the publisher and counts as a missed proof.
   */
  forgeTries?: number
  /** How long a client has, after the outer key, to present the puzzle secret. */
  proofTimeoutMs?: number
  /** After a client vanished without proof, wait this long and ask the publisher whether another cache proved it. */
  lateClaimDelayMs?: number
  /** Unproven requests a client may hold with us (default 1: it risks us one chunk). */
  maxUnprovenPerClient?: number
  /**
   * A claim the publisher did not answer (it is gone or unreachable) is sent again this many times (default 3), the
   * first after `claimRetryDelayMs` (default 5 s), each wait twice the one before; then it is recorded as unpaid.
   */
  claimRetries?: number
  claimRetryDelayMs?: number
  /**
   * How long a served request is remembered against replays (default 10 min); once its payment order arrived, until
   * that order expires (a replay after it cannot get the outer key). At most `maxServed` (default 100,000) at once.
   */
  servedRetentionMs?: number
  maxServed?: number
  /**
   * How long a client's unproven chunk counts against it (default 1 h: a client that stopped paying is refused that
   * long), for at most `maxDebtors` clients (default 10,000; beyond it the longest-known is forgotten, which costs no
   * more than a new identity would: one chunk).
   */
  debtRetentionMs?: number
  maxDebtors?: number
  /** While the chain does not answer, how often to probe it (default 5 s of the clock). */
  chainProbeMs?: number
}

export interface Cache {
  /** Resolves once hired and the content is stored and verified; rejects if declined. */
  readonly ready: Promise<void>
  stats(): CacheStats
  /** Sizes of the state it keeps per request and client: bounded, and back to 0 once every order and debt expired. */
  sizes(): { served: number; debtors: number; debts: number; timers: number }
  /** Redeems winning tickets now (batch); `force` redeems all. */
  settle(opts?: { force?: boolean }): Promise<SettleReport>
  /** Waits for claims in flight. */
  drain(): Promise<void>
  stop(): Promise<void>
}

interface Served { key: string; client: PeerId; requestId: Uint8Array; chunkIndex: number; proven: boolean; commitment?: Uint8Array; forgetAtMs: number }

/** Kept past a payment order's expiry before a served request is forgotten (clock skew between publisher and cache). */
const REPLAY_MARGIN_MS = 10_000

/**
 * Starts a cache and joins the publisher.
 *
 * @example
 * ```ts
 * const cache = await createCache({ transport, payee, store, clock, rng, logger }, { publisher, offer })
 * await cache.ready
 * ```
 */
export async function createCache(c: CacheComponents, o: CacheOptions): Promise<Cache> {
  const { transport, payee, store, clock, rng } = c
  const log = c.logger.child('cache')
  if (c.signer.address.toLowerCase() !== payee.address.toLowerCase()) throw new Error(`createCache: the signer ${c.signer.address} is not the payee ${payee.address}`)
  const emit = c.onEvent ?? (() => {})
  const behaviour = o.behaviour ?? 'honest'
  const maxUnproven = o.maxUnprovenPerClient ?? 1
  const partners = new Set(partnerList(o.partner))
  const st: CacheStats = {
    hired: false, ready: false, chunksServed: 0, bytesServed: 0, outerKeysReleased: 0, proofsAccepted: 0, proofsRejected: 0, refused: {},
    claimsPaid: 0, claimsRejected: 0, lateClaimsPaid: 0, claimsRetrying: 0, claimsUnpaid: 0, credited: 0n, winningTickets: 0, forgedClaims: 0, forgedClaimsPaid: 0, forgedClaimsLateValid: 0,
    sybilClaims: 0, sybilClaimsPaid: 0, unservedClaims: 0, unservedClaimsPaid: 0,
  }
  let forgedSlots = 0
  const claimRetries = o.claimRetries ?? 3
  const claimRetryDelayMs = o.claimRetryDelayMs ?? 5_000
  let stopped = false
  let hire: { contentId: string; chunkSize: number; chunkCount: number; contentLength: number; cacheSecret: Uint8Array; price: bigint; publisherPayer: Address } | undefined
  let claimant: Claimant | undefined
  let forger: Claimant | undefined // colluding mode: claims outside the honest queue, sent at once
  const servedRetention = o.servedRetentionMs ?? 600_000
  const maxServed = o.maxServed ?? 100_000
  const debtRetention = o.debtRetentionMs ?? 3_600_000
  const maxDebtors = o.maxDebtors ?? 10_000
  /** Requests served, by `<requestId>/<chunk>`, against replays (insertion order = serving order). */
  const served = new Map<string, Served>()
  /** Per client: its unproven chunks (`<requestId>/<chunk>`) → when served. */
  const unproven = new Map<PeerId, Map<string, number>>()
  const inflight = new Set<Promise<unknown>>()
  const track = <T>(p: Promise<T>) => { inflight.add(p); p.finally(() => inflight.delete(p)).catch(() => {}); return p }
  /** Pending timers (late claims, claim retries): cancel function → what to do if the cache stops first. */
  const timers = new Map<() => void, () => void>()
  /**
   * Per client: the claim of its last proven chunk, until it resolved. Its next chunk waits for it, so a payment that
   * cannot be checked (the chain is gone) stops the client after that one chunk.
   */
  const claiming = new Map<PeerId, Promise<boolean>>()
  /**
   * Set while payments cannot be checked (the payee's chain does not answer): nothing is served, and the chain is
   * probed every `chainProbeMs`. Cleared by a probe that got an answer or by a claim paid in the meantime.
   */
  let chainDown: { since: number; cancelProbe?: () => void } | undefined
  const PAYMENT_REFUSED_REASON = 'our payee refuses the publisher\'s payments for now'
  const chainProbeMs = o.chainProbeMs ?? 5_000
  const onChainDown = () => {
    if (chainDown || stopped) return
    chainDown = { since: clock.now() }
    log.warn('cannot check payments: the chain does not answer; serving nothing until it does', { probeEveryMs: chainProbeMs })
    scheduleProbe()
  }
  const onChainBack = (how: string) => {
    if (!chainDown) return
    const d = chainDown
    chainDown = undefined
    if (d.cancelProbe) { d.cancelProbe(); timers.delete(d.cancelProbe) }
    log.info('the chain answers again: serving resumed', { downMs: clock.now() - d.since, how })
  }
  function scheduleProbe() {
    const d = chainDown
    if (!d) return
    const cancel = clock.setTimer(chainProbeMs, () => {
      timers.delete(cancel)
      d.cancelProbe = undefined
      if (chainDown !== d || stopped) return
      if (!c.chainProbe) return onChainBack('probe interval over (no probe): the next payment tells')
      void track(c.chainProbe().then(
        () => onChainBack('probe answered'),
        (e: unknown) => {
          if (!chainUnreachable(e)) return onChainBack(`probe answered with an error: ${(e as Error).message.split('\n')[0]}`)
          log.debug('the chain still does not answer', { downMs: clock.now() - d.since })
          scheduleProbe()
        },
      ))
    })
    d.cancelProbe = cancel
    timers.set(cancel, () => {})
  }

  /**
   * Set while our payee refuses the publisher's payments for valid claims (its reserve does not cover the winners we
   * hold, it unlocks its funds, it pays with forged tickets): nothing is served, so the chunk at risk stays one. We
   * redeem what we hold at once (it frees the reserve) and try again after `chainProbeMs`.
   */
  let payRefused: { since: number; reason: string } | undefined
  const onPaymentRefused = (reason: string) => {
    if (payRefused || stopped) return
    payRefused = { since: clock.now(), reason }
    log.warn('the publisher\'s payment was refused: serving nothing for a while; redeeming what we hold', { reason, retryInMs: chainProbeMs })
    void track(c.payee.settle().catch((e: unknown) => log.warn('settle after a refused payment failed', { reason: (e as Error).message.split('\n')[0] })))
    const cancel = clock.setTimer(chainProbeMs, () => {
      timers.delete(cancel)
      if (!payRefused) return
      log.info('serving again after a refused payment (one chunk at risk until the next claim tells)', { pausedMs: clock.now() - payRefused.since })
      payRefused = undefined
    })
    timers.set(cancel, () => {})
  }

  const clearDebt = (s: Served) => {
    const debts = unproven.get(s.client)
    debts?.delete(s.key)
    if (debts?.size === 0) unproven.delete(s.client)
  }
  /** Forgets expired served requests and debts: at most once a second of the clock, unless `force`. */
  let sweptAt = -Infinity
  const sweep = (force = false) => {
    const now = clock.now()
    if (!force && now - sweptAt < 1_000) return
    sweptAt = now
    for (const [k, x] of served) if (x.forgetAtMs <= now) served.delete(k)
    for (const [peer, debts] of unproven) {
      for (const [k, at] of debts) if (at + debtRetention <= now) debts.delete(k)
      if (debts.size === 0) unproven.delete(peer)
    }
  }
  /**
   * Claims one served chunk from the publisher; resolves with whether it was paid and never rejects. A claim the
   * publisher did not answer (gone, unreachable) is kept and sent again later (same id: paid at most once), up to
   * `claimRetries` times; then it is recorded as unpaid (`claimsUnpaid`) with a warning.
   */
  const claim = (s: Served, secret: Uint8Array | undefined, late = false, attempt = 0): Promise<boolean> => track((async () => {
    if (!claimant) return false
    const id = `${hex(s.requestId)}/${s.chunkIndex}${late ? '/late' : ''}`
    const r = await claimant.claim({ id, proof: { requestId: s.requestId, chunkIndex: s.chunkIndex, secret } })
      .catch((e: unknown): ClaimResult => ({ paid: false, reason: (e as Error).message.split('\n')[0], retryable: true }))
    if (r.paid) {
      onChainBack('a payment was checked')
      st.claimsPaid++
      if (late) st.lateClaimsPaid++
      st.credited += r.receipt!.credited
      if (r.receipt!.winning) st.winningTickets++
      // faceValue (lottery): what a winner pays, so a watcher can draw the payout's ±2σ band while the run goes.
      const faceValue = payee.stats().faceValue
      emit({ kind: 'paid', credited: r.receipt!.credited, winning: r.receipt!.winning, late, ...(faceValue === undefined ? {} : { faceValue }) })
    } else if (r.chainUnreachable) {
      // The chunk at risk: the sponsor paid, the payee could not check it (nothing stored), the slot is spent.
      onChainDown()
      st.claimsUnpaid++
      log.info('claim left unpaid: the payment could not be checked', { id })
      emit({ kind: 'claim-unpaid', id, reason: CHAIN_DOWN_REASON })
    } else if (r.paymentRefused) {
      st.claimsUnpaid++
      onPaymentRefused(r.reason ?? 'refused')
      emit({ kind: 'claim-unpaid', id, reason: `payment refused: ${r.reason}` })
    } else if (r.retryable && attempt < claimRetries && !stopped) {
      const delayMs = claimRetryDelayMs * 2 ** attempt
      log.warn('the publisher did not answer a claim: kept, retrying later', { id, attempt: attempt + 1, delayMs, reason: r.reason })
      st.claimsRetrying++
      const cancel = clock.setTimer(delayMs, () => {
        timers.delete(cancel)
        st.claimsRetrying--
        void claim(s, secret, late, attempt + 1).then((paid) => { if (paid) clearDebt(s) })
      })
      timers.set(cancel, () => { st.claimsRetrying--; unpaid(id, 'the cache stopped before the publisher answered') })
    } else if (r.retryable) unpaid(id, stopped ? 'the cache stopped before the publisher answered' : r.reason ?? 'no answer')
    else st.claimsRejected++
    return r.paid
  })().catch((e: unknown) => {
    log.warn('claim failed', { request: hex(s.requestId), chunkIndex: s.chunkIndex, reason: (e as Error).message.split('\n')[0] })
    return false
  }))
  const unpaid = (id: string, reason: string) => {
    st.claimsUnpaid++
    log.warn('claim left unpaid: the publisher never answered it', { id, reason })
    emit({ kind: 'claim-unpaid', id, reason })
  }

  // --- Serving clients.
  await transport.handle(CDN_FETCH, async (stream, client) => {
    const refuse = async (reason: string, ban = false) => {
      st.refused[reason] = (st.refused[reason] ?? 0) + 1
      log.warn('refusing client', { client, reason })
      // A client that left a chunk unproven, or whose fault is unambiguous (banned), is caught cheating.
      if (ban || reason.startsWith('unpaid')) emit({ kind: 'caught', who: client, why: ban ? reason : 'unpaid', role: 'client' })
      await sendMessage(stream, fetchReplyCodec, { header: { type: 'refuse', reason }, body: new Uint8Array(0) }).catch(() => {})
      if (ban) await transport.ban(client, reason)
    }
    /** A refusal the cache already warned about once (the chain is down): counted, logged below warn. */
    const refuseQuietly = async (reason: string) => {
      st.refused[reason] = (st.refused[reason] ?? 0) + 1
      log.debug('refusing client', { client, reason })
      await sendMessage(stream, fetchReplyCodec, { header: { type: 'refuse', reason }, body: new Uint8Array(0) }).catch(() => {})
    }
    const get = await readMessage(stream, fetchCodec, { timeoutMs: 10_000 })
    if (get.type !== 'get') return refuse('expected get', true)
    if (!hire || !st.ready || get.contentId !== hire.contentId) return refuse('content not served here')
    if (get.chunkIndex >= hire.chunkCount) return refuse('chunk out of range', true)
    const reqHex = hex(get.requestId)
    const key = `${reqHex}/${get.chunkIndex}`
    // The client's previous chunk must be claimed first (its payment checked): see `claiming`.
    const prior = claiming.get(client)
    if (prior) await prior
    if (chainDown) return refuseQuietly(CHAIN_DOWN_REASON)
    if (payRefused) return refuseQuietly(PAYMENT_REFUSED_REASON)
    sweep()
    const debts = unproven.get(client) ?? new Map<string, number>()
    if (served.has(key) || debts.has(key)) return refuse('request already served (replay)')
    // Other chunks of this same request (a repair gave us two slots) do not count: one bundle, one proof.
    if ([...debts.keys()].filter((k) => !k.startsWith(`${reqHex}/`)).length >= maxUnproven) return refuse('unpaid: an earlier chunk has no proof of delivery yet')
    const chunk = store.get(hire.contentId, get.chunkIndex)
    if (!chunk) return refuse('chunk missing from store')
    let body: Uint8Array
    try {
      body = serveChunk({ chunk, chunkSize: hire.chunkSize, cacheSecret: hire.cacheSecret, requestId: get.requestId, chunkIndex: get.chunkIndex, cacheTicket: get.cacheTicket })
    } catch {
      return refuse('cache ticket does not open: not issued by our publisher for this chunk', true)
    }
    if (behaviour === 'garbage') { body = rng(body.length); emit({ kind: 'attack', what: 'garbage', chunkIndex: get.chunkIndex, bytes: body.length }) }
    const s: Served = { key, client, requestId: get.requestId, chunkIndex: get.chunkIndex, proven: false, forgetAtMs: clock.now() + servedRetention }
    if (served.size >= maxServed) {
      sweep(true)
      for (const k of served.keys()) { if (served.size < maxServed) break; served.delete(k) } // the oldest first
    }
    served.set(key, s)
    if (!unproven.has(client) && unproven.size >= maxDebtors) {
      sweep(true)
      for (const peer of unproven.keys()) { if (unproven.size < maxDebtors) break; unproven.delete(peer) }
    }
    debts.set(key, clock.now())
    unproven.set(client, debts)
    await sendMessage(stream, fetchReplyCodec, { header: { type: 'chunk', chunkIndex: get.chunkIndex }, body })
    st.chunksServed++
    st.bytesServed += body.length
    emit({ kind: 'served', bytes: body.length })

    const pay = await waitOrLate(stream, s, 10_000)
    if (!pay) return
    if (pay.type !== 'pay') return refuse('expected the payment message', true)
    const ord = pay.order
    if (!verifyPayOrder(hire.cacheSecret, ord)) return refuse('payment order not signed by our publisher', true)
    if (hex(ord.requestId) !== reqHex || ord.chunkIndex !== get.chunkIndex || ord.cacheId !== transport.peerId) return refuse('payment order for another chunk', true)
    if (ord.pricePerChunk < hire.price) return refuse('payment order below our price')
    if (ord.expiresAtMs < clock.now()) return refuse('payment order expired')
    if (chainDown) return refuseQuietly(CHAIN_DOWN_REASON)
    if (payRefused) return refuseQuietly(PAYMENT_REFUSED_REASON)
    s.commitment = ord.commitment
    // Remembered until this order expired: a replay after it cannot get the outer key again.
    s.forgetAtMs = Math.max(ord.expiresAtMs, clock.now()) + REPLAY_MARGIN_MS
    await sendMessage(stream, fetchReplyCodec, { header: { type: 'key', outerKey: deriveOuterKey(hire.cacheSecret, get.requestId, get.chunkIndex) }, body: new Uint8Array(0) })
    st.outerKeysReleased++

    const proof = await waitOrLate(stream, s, o.proofTimeoutMs ?? 30_000)
    if (!proof) return
    if (proof.type !== 'proof') return refuse('expected the proof', true)
    if (!verifySolution({ commitment: ord.commitment }, proof.secret)) {
      st.proofsRejected++
      await sendMessage(stream, fetchReplyCodec, { header: { type: 'ack', accepted: false, reason: 'wrong puzzle solution' }, body: new Uint8Array(0) })
      await transport.ban(client, 'wrong puzzle solution')
      emit({ kind: 'caught', who: client, why: 'wrong puzzle solution', role: 'client' })
      scheduleLateClaim(s)
      return
    }
    st.proofsAccepted++
    s.proven = true
    clearDebt(s)
    await sendMessage(stream, fetchReplyCodec, { header: { type: 'ack', accepted: true }, body: new Uint8Array(0) })
    const p = claim(s, proof.secret)
    claiming.set(client, p)
    void p.finally(() => { if (claiming.get(client) === p) claiming.delete(client) })
  })

  /** Reads the client's next message; if it vanished or timed out, schedules a late claim and returns undefined. */
  async function waitOrLate(stream: MessageStream, s: Served, timeoutMs: number) {
    try {
      return await readMessage(stream, fetchCodec, { timeoutMs })
    } catch (e) {
      log.info('client left before proving delivery', { client: s.client, reason: (e as Error).message.split('\n')[0] })
      scheduleLateClaim(s)
      return undefined
    }
  }

  function scheduleLateClaim(s: Served) {
    const cancel = clock.setTimer(o.lateClaimDelayMs ?? 3_000, () => {
      timers.delete(cancel)
      void claim(s, undefined, true).then((paid) => { if (paid) clearDebt(s) })
    })
    timers.set(cancel, () => {})
  }

  /**
   * The forgery: claim payment for a partner's slot before anyone solved its bundle (no secret, then a made-up one).
   * Awaited before the slot's chunk is handed over, so no honest proof can make the no-secret claim a valid late one.
   */
  async function tryForgedClaims(requestId: Uint8Array, chunkIndex: number) {
    for (const secret of [undefined, rng(32)]) {
      st.forgedClaims++
      await track((async () => {
        if (!forger) return
        const r = await forger.claim({ id: `${hex(requestId)}/${chunkIndex}/forged-${st.forgedClaims}`, proof: { requestId, chunkIndex, secret } })
        // A claim with no secret is paid when someone did prove the bundle: a valid late claim, not a forgery that worked.
        if (r.paid) { st.forgedClaimsPaid++; if (secret === undefined) st.forgedClaimsLateValid++; st.credited += r.receipt!.credited; st.claimsPaid++ }
        emit({ kind: 'forged-claim', paid: r.paid })
        emit({ kind: 'attack', what: 'forged-claim', secret: secret === undefined ? 'none' : 'made-up', paid: r.paid })
      })().catch((e: unknown) => log.info('forged claim failed', { reason: (e as Error).message.split('\n')[0] })))
    }
  }

  if (behaviour === 'colluding') {
    await transport.handle(CDN_COLLUDE, async (stream, peer) => {
      if (!partners.has(peer) || !hire) throw new ProtocolViolationError('not our partner', { peer, protocol: CDN_COLLUDE })
      const r = await readMessage(stream, collideCodec, { timeoutMs: 5_000 })
      let paid: boolean | undefined
      if (r.claim) {
        // The partner solved the bundle and hands us its secret: we claim our slot although we served nothing. Sybil
        // caches (`captured`): every slot was the operator's, solved from our chunks alone (the puzzle binds only
        // honest slots). Otherwise the accounting attack: the partner downloaded every honest cache's chunk, ours
        // came over this channel.
        const captured = r.claim.captured !== false
        if (captured) st.sybilClaims++
        else st.unservedClaims++
        const key = `${hex(r.claim.requestId)}/${r.chunkIndex}`
        paid = await claim({ key, client: peer, requestId: r.claim.requestId, chunkIndex: r.chunkIndex, proven: true, forgetAtMs: clock.now() }, r.claim.secret)
        if (paid) { if (captured) st.sybilClaimsPaid++; else st.unservedClaimsPaid++ }
        emit({ kind: 'attack', what: captured ? 'sybil-claim' : 'unserved-claim', chunkIndex: r.chunkIndex, served: false, paid })
      } else if (r.requestId && forgedSlots < (o.forgeTries ?? 2)) {
        forgedSlots++
        await tryForgedClaims(r.requestId, r.chunkIndex)
      }
      await sendMessage(stream, collideReplyCodec, { contentId: r.contentId, cacheSecret: hire.cacheSecret, chunk: store.get(hire.contentId, r.chunkIndex) ?? new Uint8Array(0), ...(paid === undefined ? {} : { paid }) })
    })
  }

  // --- Selling: a signed market offer; the publisher negotiates a deal with us (alternating offers) before it hires.
  const offer = signOffer({
    type: 'offer', service: 'cdn', server: payee.address.toLowerCase() as Address, peer: transport.peerId,
    resources: { bytes: o.offer.capacityBytes, bandwidthBps: 0, durationSec: 0, computeUnits: 0 }, price: perChunk(o.offer.pricePerChunk),
    collateral: o.offer.collateral, schemes: [payee.scheme], region: o.offer.region ?? 'any', latencyMs: o.offer.latencyMs ?? 0,
    addresses: transport.addresses().slice(0, 16), capabilities: [], expiresAt: clock.now() + 24 * 3_600_000, seq: BigInt(clock.now()),
  }, c.signer, o.marketDomain)
  const deals = new Map<string, Deal>()
  const negotiator = createNegotiator({
    transport, offer, signer: c.signer, checker: createMarketChecker({ domain: o.marketDomain, clock, service: 'cdn' }), domain: o.marketDomain,
    floor: (ask) => priceOf(perChunk(o.offer.floorPricePerChunk), ask.usage), concession: o.concession ?? timeConcession(1),
    clock, rng, logger: c.logger, onDeal: (d) => deals.set(marketHash(o.marketDomain, d), d),
  })
  await negotiator.start()

  // --- Joining the publisher: offer → (negotiation) → hire (the deal) → accept (terms) → fetch content → ready.
  const ready = (async () => {
    const stream = await transport.dial(o.publisher, CDN_JOIN, { timeoutMs: 10_000 })
    try {
      await sendMessage(stream, joinCodec, { type: 'join', offer })
      const h = await readMessage(stream, joinReplyCodec, { timeoutMs: 60_000 })
      if (h.type !== 'hire') throw new Error(`publisher declined: ${h.type === 'decline' ? h.reason : h.type}`)
      // Hired only on a deal we confirmed, with the publisher's payer, at the deal's price per chunk.
      const deal = deals.get(h.deal)
      if (!deal || deal.buyer !== h.publisherPayer.toLowerCase() || deal.price.kind !== 'per-chunk' || deal.price.rates[0].price !== h.pricePerChunk || h.manifest.contentLength > o.offer.capacityBytes) {
        await sendMessage(stream, joinCodec, { type: 'decline', reason: 'the hire does not match a deal we confirmed' })
        throw new Error('declined the publisher proposal: it does not match a deal we confirmed')
      }
      const terms = await payee.terms(h.publisherPayer, h.pricePerChunk)
      await sendMessage(stream, joinCodec, { type: 'accept', terms })
      hire = { contentId: h.contentId, chunkSize: h.manifest.chunkSize, chunkCount: h.manifest.chunkCount, contentLength: h.manifest.contentLength, cacheSecret: h.cacheSecret, price: h.pricePerChunk, publisherPayer: h.publisherPayer }
      st.hired = true
      emit({ kind: 'hired', pricePerChunk: h.pricePerChunk })
      // Fetch and verify the content against the manifest's Merkle root before serving a byte.
      const cs = await transport.dial(o.publisher, CDN_CONTENT, { timeoutMs: 10_000 })
      await sendMessage(cs, contentRequestCodec, { contentId: h.contentId, from: 0, to: h.manifest.chunkCount })
      const chunks: Uint8Array[] = []
      for (let i = 0; i < h.manifest.chunkCount; i++) {
        const m = await readMessage(cs, contentChunkCodec, { timeoutMs: 30_000 })
        if (m.header.index !== i) throw new Error('publisher sent chunks out of order')
        chunks.push(m.body.slice())
      }
      releaseWhenRemoteEnds(cs)
      if (hex(merkleRoot(chunks)) !== hex(h.manifest.merkleRoot)) throw new Error('content from the publisher does not match its Merkle root')
      chunks.forEach((ch, i) => store.put(h.contentId, i, ch))
      claimant = createClaimant(transport, { protocol: CDN_CLAIM, sponsor: o.publisher, sponsorPayer: h.publisherPayer, payee, logger: log })
      if (behaviour === 'colluding') forger = createClaimant(transport, { protocol: CDN_CLAIM, sponsor: o.publisher, sponsorPayer: h.publisherPayer, payee, logger: log })
      await sendMessage(stream, joinCodec, { type: 'ready', contentId: h.contentId, merkleRoot: h.manifest.merkleRoot })
      const ack = await readMessage(stream, joinReplyCodec, { timeoutMs: 10_000 })
      if (ack.type !== 'ready-ack') throw new Error('publisher did not acknowledge ready')
      st.ready = true
      releaseWhenRemoteEnds(stream)
      emit({ kind: 'ready', bytes: h.manifest.contentLength })
    } catch (e) {
      stream.abort(e as Error)
      throw e
    }
  })()
  ready.catch((e) => log.warn('could not join the publisher', { reason: (e as Error).message.split('\n')[0] }))

  /**
   * What a settle says about the publisher: microcash winners that another server was paid for (the sponsor issued
   * their numbers twice) were proven on chain (`compensated`) or could not be (`lost` with a duplicate's reason):
   * either way the publisher is caught. Any payment lost is reported too.
   */
  function reportSettle(r: SettleReport) {
    const m = r as SettleReport & { compensated?: number; compensation?: bigint; lost?: { reason: string }[] }
    const unproven = (m.lost ?? []).filter((l) => l.reason === 'pool-exhausted' || l.reason === 'payee-unknown' || l.reason === 'proof-rejected').length
    if ((m.compensated ?? 0) > 0 || unproven > 0) {
      emit({ kind: 'caught', who: hire?.publisherPayer ?? 'publisher', why: 'duplicate-numbers', role: 'publisher', proofs: m.compensated ?? 0, compensation: m.compensation ?? 0n, uncompensated: unproven })
    }
    if ((r.lostCount ?? 0) > 0) emit({ kind: 'payments-lost', count: r.lostCount, value: r.lostValue ?? 0n })
  }

  return {
    ready,
    stats: () => ({ ...st, refused: { ...st.refused } }),
    sizes() {
      sweep()
      let debts = 0
      for (const d of unproven.values()) debts += d.size
      return { served: served.size, debtors: unproven.size, debts, timers: timers.size }
    },
    async settle(opts) {
      try {
        const r = await payee.settle({ force: opts?.force })
        reportSettle(r)
        return r
      } catch (e) {
        if (!chainUnreachable(e)) throw e
        // The chain is gone: nothing to redeem against, nothing lost. The winners stay in the payee's store.
        const p = payee.stats()
        const pending = Math.max(0, p.winning - p.settled - (p.lostCount ?? 0))
        log.warn(`cannot settle: the chain does not answer; ${pending} winning ticket(s) of this run stay pending in the store, redeemed by the next settle (start the cache again with the same data directory once the chain is back)`, { pending })
        return { transactions: 0, gasUsed: 0n, received: 0n, settled: 0, pending }
      }
    },
    async drain() {
      while (inflight.size > 0) await Promise.allSettled([...inflight])
    },
    async stop() {
      stopped = true
      for (const [cancel, onCancel] of timers) { cancel(); onCancel() }
      timers.clear()
      await transport.unhandle(CDN_FETCH)
      await negotiator.stop()
      if (behaviour === 'colluding') await transport.unhandle(CDN_COLLUDE)
    },
  }
}
