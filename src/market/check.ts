/**
 * The market's trust boundary: every offer, ask and deal from a peer goes through a checker before anything is
 * reserved for it. Order (cheapest first): schema → service → expiry and lifetime → signature (the signer must be
 * the address the message names) → sequence number (strictly above the highest seen from that signer for that
 * service and message type; remembered only once everything else passed, so a forged message cannot burn a real
 * signer's numbers). A deal is also checked against the offer and ask it names: their hashes, parties, service,
 * scheme, collateral, usage and price cap. `unmet(ask, offer)` is the constraint test the book and the selection
 * strategies share.
 *
 * The sequence memory is bounded (`maxSigners`, oldest forgotten first) and in memory: a restarted peer accepts an
 * old offer again until it expires, which is why offers expire.
 *
 * @example
 * ```ts
 * import { createMarketChecker } from './check.js'
 * const check = createMarketChecker({ domain, clock, service: 'cdn' })
 * const offer = check.offer(msg.offer)       // a typed, verified Offer, or MarketRejectedError(reason)
 * ```
 */
import type { ZodType } from 'zod'
import type { Clock } from '../core/clock.js'
import { MarketRejectedError, type MarketRejectReason } from './errors.js'
import type { Hex } from 'viem'
import { hexToBytes, recoverDigest } from '../crypto/index.js'
import { AskSchema, DealBodySchema, DealSchema, LIMITS, OfferSchema, USAGE_KEYS, fits, priceOf, type Ask, type Deal, type DealBody, type Offer } from './schema.js'
import { marketHash, recoverSigner, type MarketDomain } from './sign.js'

export interface MarketCheckerOptions {
  domain: MarketDomain
  clock: Clock
  /** Refuse messages of other services. */
  service?: string
  /** Signers whose sequence numbers are remembered (default 100,000). */
  maxSigners?: number
}

export interface MarketChecker {
  offer(raw: unknown): Offer
  ask(raw: unknown): Ask
  /** A deal, checked against the offer and ask it names (both already checked by the caller), with both signatures. */
  deal(raw: unknown, from: { offer: Offer; ask: Ask }): Deal
  /** A deal's terms only (everything `deal` checks but the signatures): what a buyer checks before it signs. */
  dealTerms(raw: unknown, from: { offer: Offer; ask: Ask }): DealBody
  /** One side's signature over a deal body; throws `bad-signature` unless it is that side's. */
  dealSignature(body: DealBody, sig: Hex, side: 'server' | 'buyer'): void
}

const reject = (reason: MarketRejectReason, msg: string, details?: Record<string, unknown>) => new MarketRejectedError(reason, msg, { details })

function parse<T>(schema: ZodType<T>, raw: unknown, what: string): T {
  const r = schema.safeParse(raw)
  if (!r.success) {
    const first = r.error.issues[0]
    throw reject('malformed', `not a valid ${what}: ${first.path.join('.') || '(root)'}: ${first.message}`, { issues: r.error.issues.length })
  }
  return r.data
}

/** Why `offer` does not meet `ask`'s constraints, or undefined when it does (price cap included). */
export function unmet(ask: Ask, offer: Offer): string | undefined {
  if (offer.service !== ask.service) return `service ${offer.service}, not ${ask.service}`
  if (!fits(ask.resources, offer.resources)) return 'not enough resources'
  if (offer.collateral < ask.minCollateral) return `collateral ${offer.collateral} < ${ask.minCollateral}`
  if (!offer.schemes.some((s) => ask.schemes.includes(s))) return `no common payment scheme (${offer.schemes.join(', ')})`
  if (ask.regions.length > 0 && !ask.regions.includes(offer.region)) return `region ${offer.region} not accepted`
  if (ask.maxLatencyMs > 0 && offer.latencyMs > ask.maxLatencyMs) return `latency ${offer.latencyMs} ms > ${ask.maxLatencyMs} ms`
  for (const c of ask.capabilities) if (!offer.capabilities.includes(c)) return `lacks capability ${c}`
  const p = priceOf(offer.price, ask.usage)
  if (p > ask.maxPrice) return `price ${p} > cap ${ask.maxPrice}`
  return undefined
}

export function createMarketChecker(o: MarketCheckerOptions): MarketChecker {
  const maxSigners = o.maxSigners ?? 100_000
  const seqs = new Map<string, bigint>()

  function timely(expiresAt: number, what: string): void {
    const now = o.clock.now()
    if (expiresAt <= now) throw reject('expired', `the ${what} expired at ${expiresAt} (now ${now})`)
    if (expiresAt - now > LIMITS.maxLifetimeMs) throw reject('absurd', `the ${what} expires ${expiresAt - now} ms from now (at most ${LIMITS.maxLifetimeMs})`)
  }
  function service(s: string): void {
    if (o.service !== undefined && s !== o.service) throw reject('wrong-service', `for service ${s}, not ${o.service}`)
  }
  function signedBy(m: Offer | Ask, signer: string, what: string): void {
    const r = recoverSigner(o.domain, m)
    if (!r.ok) throw reject('bad-signature', `the ${what}'s signature does not verify (${r.reason})`)
    if (r.address.toLowerCase() !== signer.toLowerCase()) throw reject('bad-signature', `the ${what} is signed by ${r.address}, not by ${signer}`)
  }
  function fresh(key: string, seq: bigint, what: string): () => void {
    const last = seqs.get(key)
    if (last !== undefined && seq <= last) throw reject('replayed', `the ${what}'s sequence number ${seq} is not above ${last}`)
    return () => {
      seqs.delete(key)
      seqs.set(key, seq)
      if (seqs.size > maxSigners) seqs.delete(seqs.keys().next().value!)
    }
  }

  function dealSignature(body: DealBody, sig: Hex, side: 'server' | 'buyer'): void {
    const r = recoverDigest(hexToBytes(marketHash(o.domain, body)), hexToBytes(sig))
    if (!r.ok) throw reject('bad-signature', `the ${side}'s signature on the deal does not verify (${r.reason})`)
    if (r.address.toLowerCase() !== body[side].toLowerCase()) throw reject('bad-signature', `the deal's ${side} signature is by ${r.address}, not by ${body[side]}`)
  }
  function terms(d: DealBody, from: { offer: Offer; ask: Ask }): void {
    service(d.service)
    const now = o.clock.now()
    if (d.endsAt <= now) throw reject('expired', `the deal ended at ${d.endsAt} (now ${now})`)
    if (d.startsAt >= d.endsAt) throw reject('absurd', `the deal starts at ${d.startsAt}, not before its end ${d.endsAt}`)
    if (d.endsAt - now > LIMITS.maxLifetimeMs) throw reject('absurd', `the deal ends ${d.endsAt - now} ms from now (at most ${LIMITS.maxLifetimeMs})`)
    const mismatch = (msg: string) => reject('terms-mismatch', msg)
    if (d.offer !== marketHash(o.domain, from.offer)) throw mismatch('the deal names another offer')
    if (d.ask !== marketHash(o.domain, from.ask)) throw mismatch('the deal names another ask')
    if (d.server !== from.offer.server || d.buyer !== from.ask.buyer) throw mismatch('the deal names other parties than its offer and ask')
    if (d.service !== from.offer.service || d.service !== from.ask.service) throw mismatch('the deal is for another service than its offer and ask')
    if (!from.offer.schemes.includes(d.scheme) || !from.ask.schemes.includes(d.scheme)) throw mismatch(`scheme ${d.scheme} is not one both sides accept`)
    if (d.collateral < from.ask.minCollateral) throw mismatch(`collateral ${d.collateral} < the ask's minimum ${from.ask.minCollateral}`)
    if (USAGE_KEYS.some((k) => (d.usage[k] ?? 0n) !== (from.ask.usage[k] ?? 0n))) throw mismatch('the deal bills another usage than the ask names')
    const p = priceOf(d.price, d.usage)
    if (p > from.ask.maxPrice) throw reject('price-above-cap', `the deal's price ${p} is above the ask's cap ${from.ask.maxPrice}`)
  }

  return {
    offer(raw) {
      const m = parse(OfferSchema, raw, 'offer')
      service(m.service)
      timely(m.expiresAt, 'offer')
      signedBy(m, m.server, 'offer')
      fresh(`offer|${m.server}|${m.service}`, m.seq, 'offer')()
      return m
    },
    ask(raw) {
      const m = parse(AskSchema, raw, 'ask')
      service(m.service)
      timely(m.expiresAt, 'ask')
      signedBy(m, m.buyer, 'ask')
      fresh(`ask|${m.buyer}|${m.service}`, m.seq, 'ask')()
      return m
    },
    dealTerms(raw, from) {
      const d = parse(DealBodySchema, raw, 'deal')
      terms(d, from)
      return d
    },
    dealSignature,
    deal(raw, from) {
      const d = parse(DealSchema, raw, 'deal')
      terms(d, from)
      dealSignature(d, d.serverSig, 'server')
      dealSignature(d, d.buyerSig, 'buyer')
      return d
    },
  }
}
