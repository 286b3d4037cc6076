/**
 * Sponsor-pays exchange: a sponsor (publisher) pays servers for service delivered to its clients.
 *
 * A server claims each delivered chunk with a service-defined proof; the sponsor verifies it and pays exactly one
 * chunk through the server's payment scheme. Per server, claims are handled one at a time (a mutex on each side), so
 * payments arrive in the order they were made (lottery nonces, channel vouchers are monotonic).
 * ```
 * server                                 sponsor
 *   claim {id, proof}              →     verifyClaim(proof, server)
 *                                  ←     paid {payment} | rejected {reason}
 *   receipt {receipt} | {error}    →     session.update(receipt.terms)
 * ```
 * Risk: the sponsor pays only for verified proofs (never more than it verified); the server serves at most one
 * chunk per client before it holds a proof, and stops serving a sponsor that leaves a valid proof unpaid.
 *
 * @example
 * ```ts
 * const desk = await createSponsorDesk(publisherTransport, { payer, logger, verifyClaim: async (c, peer) => ({ ok: check(c) }) })
 * await desk.addServer(cachePeerId, termsFromCache)
 * const claimant = createClaimant(cacheTransport, { sponsor: publisherAddr, payee, logger })
 * await claimant.claim({ id: 'req-1/3', proof: { secret } }) // { paid: true, receipt }
 * ```
 */
import type { Address } from 'viem'
import type { Clock } from '../core/clock.js'
import type { Logger } from '../core/logger.js'
import { ProtocolViolationError, readMessage, sendMessage, type MessageStream, type PeerId, type Transport } from '../net/index.js'
import { ChainUnreachableError } from '../chain/errors.js'
import { PaymentRejectedError } from '../payments/errors.js'
import type { PayeeSide, PayerSide, PayerSession, PaymentReceipt, PaymentTerms } from '../payments/types.js'
import { createMutex, type Mutex } from './mutex.js'
import { releaseWhenRemoteEnds } from '../net/index.js'
import { claimCodec, claimReplyCodec, EXCHANGE_IDLE_TIMEOUT_MS, SPONSOR_CLAIM_PROTOCOL } from './protocol.js'
import type { ClaimantStats, ClaimVerdict, SponsorClaim, SponsorDeskStats } from './types.js'

export interface SponsorDeskOptions {
  protocol?: string
  payer: PayerSide
  /** Checks a claim's proof; called once per claim id (the desk refuses repeated ids itself). */
  verifyClaim(claim: SponsorClaim, server: PeerId): Promise<ClaimVerdict>
  timeoutMs?: number
  logger: Logger
  /**
   * How long a paid claim id is remembered (on `clock`), so a repeat is refused. Set it only if `verifyClaim` itself
   * refuses claims older than that (the CDN publisher: their bundle is gone); default: for as long as there is room.
   */
  claimTtlMs?: number
  /** Required with `claimTtlMs`. */
  clock?: Clock
  /**
   * Claim ids remembered at once (default 1,000,000). When full, new claims are refused as busy until some expire:
   * an id is never forgotten early, so it is never paid twice.
   */
  maxClaimIds?: number
}

export interface SponsorDesk {
  /** Opens a payment session to a server under the terms it gave when hired. */
  addServer(server: PeerId, terms: PaymentTerms): Promise<void>
  hasServer(server: PeerId): boolean
  /** Closes a server's session (its later claims are refused as from 'not a hired server'); no-op if unknown. */
  removeServer(server: PeerId): Promise<void>
  stats(): SponsorDeskStats
  /** Claim ids remembered and servers hired: bounded by `maxClaimIds` and the hires. */
  sizes(): { claimIds: number; servers: number }
  stop(): Promise<void>
}

/**
 * Sponsor side: takes claims from servers on `protocol` and pays verified ones.
 *
 * @example
 * ```ts
 * const desk = await createSponsorDesk(t, { payer, logger, verifyClaim: async (claim) => ({ ok: true }) })
 * ```
 */
export async function createSponsorDesk(transport: Transport, opts: SponsorDeskOptions): Promise<SponsorDesk> {
  const protocol = opts.protocol ?? SPONSOR_CLAIM_PROTOCOL
  const log = opts.logger.child('sponsor')
  const timeoutMs = opts.timeoutMs ?? EXCHANGE_IDLE_TIMEOUT_MS
  const servers = new Map<PeerId, { session: PayerSession; mutex: Mutex }>()
  if (opts.claimTtlMs !== undefined && !opts.clock) throw new TypeError('createSponsorDesk: claimTtlMs needs a clock')
  const maxIds = opts.maxClaimIds ?? 1_000_000
  /** Claim ids paid or in flight → when they were first seen (insertion order is time order). */
  const seen = new Map<string, number>()
  const now = () => opts.clock?.now() ?? 0
  const forgetOld = () => {
    if (opts.claimTtlMs === undefined) return
    const before = now() - opts.claimTtlMs
    for (const [k, at] of seen) { if (at > before) break; seen.delete(k) }
  }
  const st: SponsorDeskStats = { claims: 0, paid: 0, rejected: 0, refusedByServer: 0, paidTo: {} }

  await transport.handle(protocol, async (stream, peer) => {
    const s = servers.get(peer)
    const msg = await readMessage(stream, claimCodec, { timeoutMs })
    if (msg.type !== 'claim') throw new ProtocolViolationError(`expected a claim, got ${msg.type}`, { peer, protocol })
    st.claims++
    const reject = async (reason: string) => {
      st.rejected++
      log.warn('claim rejected', { server: peer, id: msg.id, reason })
      await sendMessage(stream, claimReplyCodec, { type: 'rejected', reason })
    }
    if (!s) return reject('not a hired server')
    // Verify on arrival (a claim is judged on the facts when it came in), pay in order (one payment at a time).
    const key = `${peer}\u0000${msg.id}`
    forgetOld()
    if (seen.has(key)) return reject('claim already paid or pending')
    if (seen.size >= maxIds) return reject('busy: too many claims remembered, try again later')
    seen.set(key, now())
    let verdict: ClaimVerdict
    try {
      verdict = await opts.verifyClaim({ id: msg.id, proof: msg.proof }, peer)
    } catch (e) {
      verdict = { ok: false, reason: `verification failed: ${(e as Error).message.split('\n')[0]}` }
    }
    if (!verdict.ok) { seen.delete(key); return reject(verdict.reason) }
    const chunks = BigInt(verdict.chunks ?? 1)
    await s.mutex.run(async () => {
      const payment = await s.session.pay(s.session.terms.pricePerChunk * chunks)
      await sendMessage(stream, claimReplyCodec, { type: 'paid', payment })
      let ack
      try {
        ack = await readMessage(stream, claimCodec, { timeoutMs })
      } catch (e) {
        st.refusedByServer++
        throw e
      }
      if (ack.type === 'receipt' && ack.receipt && !ack.error) {
        // Counted only once the server accepted (and persisted) it: a payment it refused paid nothing.
        st.paid++
        st.paidTo[s.session.payee] = (st.paidTo[s.session.payee] ?? 0n) + payment.amount
        if (ack.receipt.terms) s.session.update(ack.receipt.terms as PaymentTerms)
      } else {
        st.refusedByServer++
        log.warn('server refused our payment', { server: peer, id: msg.id, error: ack.type === 'receipt' ? ack.error : ack.type })
      }
    })
  })

  // Opening a session may send chain transactions from the sponsor's one wallet (channel: approve, then `open`,
  // whose id the payer reads beforehand from the sender's channel count). Servers are hired concurrently, so two
  // opens at once would race: nonce clashes, or a channel opened under another id than the one the payer signs
  // vouchers for (every voucher to that server then rejected as 'unknown-channel'). One open at a time.
  const opening = createMutex()
  return {
    addServer: (server, terms) => opening.run(async () => {
      if (servers.has(server)) return
      const session = await opts.payer.open(terms)
      servers.set(server, { session, mutex: createMutex() })
    }),
    hasServer: (server) => servers.has(server),
    removeServer: (server) => opening.run(async () => {
      const s = servers.get(server)
      if (!s) return
      servers.delete(server)
      await s.mutex.run(() => s.session.close().catch((e) => log.warn('closing a session failed', { server, reason: (e as Error).message.split('\n')[0] })))
    }),
    stats: () => ({ ...st, paidTo: { ...st.paidTo } }),
    sizes: () => { forgetOld(); return { claimIds: seen.size, servers: servers.size } },
    async stop() {
      await transport.unhandle(protocol)
      for (const s of servers.values()) await s.session.close().catch(() => {})
    },
  }
}

export interface ClaimantOptions {
  protocol?: string
  /** Address (multiaddr or peer id) of the sponsor's desk. */
  sponsor: string
  /** The sponsor's payer address: payments from anyone else are refused. */
  sponsorPayer?: Address
  payee: PayeeSide
  timeoutMs?: number
  logger: Logger
}

/** What became of one claim. */
export interface ClaimResult {
  paid: boolean
  receipt?: PaymentReceipt
  reason?: string
  /**
   * Set when the sponsor did not judge the claim (it could not be dialled, the stream broke before its reply, or it
   * answered `busy`): the claim may be sent again later with the same id (the sponsor pays an id at most once).
   */
  retryable?: boolean
  /** Set when the claim was judged valid but our payee refused the sponsor's payment (underfunded, forged...). */
  paymentRefused?: boolean
  /**
   * Set when the payee could not check the payment because the chain does not answer (`ChainUnreachableError` in the
   * failure's causes): nothing was accepted; the server must stop serving until the chain answers again.
   */
  chainUnreachable?: boolean
}

/** What a server says, and refuses with, while it cannot check payments. */
export const CHAIN_DOWN_REASON = 'cannot check payments: the chain does not answer'

/** The `ChainUnreachableError` among `e` and its causes, if any. */
export function chainUnreachable(e: unknown): ChainUnreachableError | undefined {
  for (let c: unknown = e, i = 0; c && i < 20; c = (c as { cause?: unknown }).cause, i++) if (c instanceof ChainUnreachableError) return c
  return undefined
}

export interface Claimant {
  /** Claims one chunk; resolves once the payment was received and persisted (or refused). Never rejects. */
  claim(claim: SponsorClaim, opts?: { signal?: AbortSignal }): Promise<ClaimResult>
  stats(): ClaimantStats
}

/**
 * Server side: claims payments from one sponsor, one claim at a time.
 *
 * @example
 * ```ts
 * const c = createClaimant(t, { sponsor: publisherAddr, payee, logger })
 * const r = await c.claim({ id: 'abc/0', proof })
 * ```
 */
export function createClaimant(transport: Transport, opts: ClaimantOptions): Claimant {
  const protocol = opts.protocol ?? SPONSOR_CLAIM_PROTOCOL
  const log = opts.logger.child('claimant')
  const timeoutMs = opts.timeoutMs ?? EXCHANGE_IDLE_TIMEOUT_MS
  const mutex = createMutex()
  const st: ClaimantStats = { claims: 0, paid: 0, rejected: 0, unpaidValid: 0, unanswered: 0, credited: 0n, winning: 0 }
  return {
    claim(claim, o) {
      return mutex.run(async (): Promise<ClaimResult> => {
        st.claims++
        let stream: MessageStream | undefined
        let answered = false
        try {
          // The dial is inside the try: a sponsor that is gone (stopped, unreachable) is a claim left unpaid, to
          // retry later, never a rejection the caller must catch.
          stream = await transport.dial(opts.sponsor, protocol, { timeoutMs, signal: o?.signal })
          await sendMessage(stream, claimCodec, { type: 'claim', id: claim.id, proof: claim.proof })
          const reply = await readMessage(stream, claimReplyCodec, { timeoutMs, signal: o?.signal })
          answered = true
          if (reply.type === 'rejected') {
            st.rejected++
            log.info('sponsor rejected claim', { id: claim.id, reason: reply.reason })
            releaseWhenRemoteEnds(stream)
            // A busy sponsor did not judge the claim: it may be sent again later.
            return { paid: false, reason: reply.reason, ...(/^busy\b/.test(reply.reason) ? { retryable: true } : {}) }
          }
          if (opts.sponsorPayer && reply.payment.payer.toLowerCase() !== opts.sponsorPayer.toLowerCase()) {
            await sendMessage(stream, claimCodec, { type: 'receipt', error: 'payment from another payer' })
            releaseWhenRemoteEnds(stream)
            st.unpaidValid++
            return { paid: false, reason: 'wrong-payer' }
          }
          let receipt: PaymentReceipt
          try {
            receipt = await opts.payee.receive(reply.payment)
          } catch (e) {
            st.unpaidValid++
            if (chainUnreachable(e)) {
              // Not the payment's fault: it could not be checked. The server warns once (it stops serving); per claim, info.
              log.info('sponsor payment not checked: the chain does not answer', { id: claim.id })
              await sendMessage(stream, claimCodec, { type: 'receipt', error: CHAIN_DOWN_REASON }).catch(() => {})
              releaseWhenRemoteEnds(stream)
              return { paid: false, reason: CHAIN_DOWN_REASON, chainUnreachable: true }
            }
            const reason = e instanceof PaymentRejectedError ? e.reason : (e as Error).message.split('\n')[0]
            log.warn('sponsor payment rejected', { id: claim.id, reason })
            await sendMessage(stream, claimCodec, { type: 'receipt', error: String(reason) }).catch(() => {})
            releaseWhenRemoteEnds(stream)
            return { paid: false, reason: String(reason), paymentRefused: true }
          }
          await sendMessage(stream, claimCodec, { type: 'receipt', receipt })
          releaseWhenRemoteEnds(stream)
          st.paid++
          st.credited += receipt.credited
          if (receipt.winning) st.winning++
          return { paid: true, receipt }
        } catch (e) {
          stream?.abort(e as Error)
          const reason = (e as Error).message.split('\n')[0]
          if (answered) {
            st.unpaidValid++
            log.warn('claim failed', { id: claim.id, reason })
            return { paid: false, reason }
          }
          st.unanswered++
          log.warn('claim not answered: the sponsor is unreachable', { id: claim.id, sponsor: opts.sponsor, reason })
          return { paid: false, reason, retryable: true }
        }
      })
    },
    stats: () => ({ ...st }),
  }
}
