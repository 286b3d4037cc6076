/**
 * Server selection and term negotiation, behind an interface so the general market module (matching, pricing
 * strategies, reputation) can replace this simple one without touching the services.
 *
 * `simpleSelection`: hire an offer if its capacity and collateral meet the policy; propose its asking price when
 * it is within budget, else counter with the budget (the server accepts or declines: one round of alternating
 * offers); stop at `maxServers`. Per request, assign n distinct servers by a uniform random draw (the caller's
 * rng), preferring servers with fewer assignments so load spreads.
 *
 * @example
 * ```ts
 * import { simpleSelection } from './selection.js'
 * const s = simpleSelection()
 * s.consider({ peer: 'c1', payee: '0x…', pricePerChunk: 12n, capacityBytes: 1e9, collateral: 0n, addresses: [] }, [],
 *   { maxPricePerChunk: 10n, minCapacityBytes: 1e6, minCollateral: 0n, maxServers: 4 }) // { hire: true, pricePerChunk: 10n }
 * ```
 */
import type { Address } from 'viem'
import type { PeerId } from '../net/index.js'

/** What a server offers when it joins: its asking price, capacity and collateral. */
export interface ServerOffer {
  peer: PeerId
  /** Where it is paid. */
  payee: Address
  pricePerChunk: bigint
  capacityBytes: number
  collateral: bigint
  addresses: string[]
}

/** What the buyer (sponsor) will accept. */
export interface HirePolicy {
  maxPricePerChunk: bigint
  minCapacityBytes: number
  minCollateral: bigint
  maxServers: number
}

export type HireDecision = { hire: true; pricePerChunk: bigint } | { hire: false; reason: string }

export interface SelectionStrategy {
  /** Decides on one offer given the servers already hired: a price to propose, or why not. */
  consider(offer: ServerOffer, hired: readonly ServerOffer[], policy: HirePolicy): HireDecision
  /** Picks `n` distinct candidates for one request (fewer if there are fewer candidates). */
  assign<T extends { peer: PeerId }>(candidates: readonly T[], n: number, rng: () => number): T[]
}

/** A server's side of the negotiation: accept a proposed price if it is at least its floor. */
export function acceptProposal(proposed: bigint, floor: bigint): boolean {
  return proposed >= floor
}

export function simpleSelection(): SelectionStrategy {
  const load = new Map<PeerId, number>()
  return {
    consider(offer, hired, policy) {
      if (hired.length >= policy.maxServers) return { hire: false, reason: 'enough servers hired' }
      if (hired.some((h) => h.peer === offer.peer)) return { hire: false, reason: 'already hired' }
      if (offer.capacityBytes < policy.minCapacityBytes) return { hire: false, reason: `capacity ${offer.capacityBytes} < ${policy.minCapacityBytes}` }
      if (offer.collateral < policy.minCollateral) return { hire: false, reason: `collateral ${offer.collateral} < ${policy.minCollateral}` }
      return { hire: true, pricePerChunk: offer.pricePerChunk <= policy.maxPricePerChunk ? offer.pricePerChunk : policy.maxPricePerChunk }
    },
    assign(candidates, n, rng) {
      // Random order, then stable sort by load: ties broken at random, lightly loaded servers first.
      const shuffled = candidates.map((c) => ({ c, r: rng() })).sort((a, b) => a.r - b.r).map((x) => x.c)
      shuffled.sort((a, b) => (load.get(a.peer) ?? 0) - (load.get(b.peer) ?? 0))
      const out = shuffled.slice(0, Math.min(n, shuffled.length))
      for (const c of out) load.set(c.peer, (load.get(c.peer) ?? 0) + 1)
      return out
    },
  }
}
