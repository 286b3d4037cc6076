/**
 * Shared types of the CDN market roles (publisher, cache, client). Each role is a factory over injected components:
 * a `Transport`, a payment side (which holds the `Chain`), a `Clock`, an `Rng`, a store and a `Logger`; none does I/O
 * itself. `market.ts` wires them from the market's `RoleComponents`.
 */
import type { Address } from 'viem'

import type { ServiceEvent, ServiceEventSink } from '../market.js'

/** Something a role reports as it works: the node prints these as JSON lines, tests collect them. */
export type CdnEvent = ServiceEvent
export type EventSink = ServiceEventSink

export interface PublisherStats {
  cachesHired: number
  cachesReady: number
  bundlesIssued: number
  bundlesProven: number
  repairs: number
  /** Claims paid and accepted by the cache. */
  claimsPaid: number
  claimsRejected: number
  /** Payments for verified claims that the cache refused (e.g. a voucher on a channel it cannot find). */
  paymentsRefused: number
  /** Nominal amount paid per cache payee. */
  paidTo: Record<Address, bigint>
}

export interface CacheStats {
  hired: boolean
  ready: boolean
  chunksServed: number
  bytesServed: number
  outerKeysReleased: number
  proofsAccepted: number
  proofsRejected: number
  refused: Record<string, number>
  claimsPaid: number
  claimsRejected: number
  lateClaimsPaid: number
  /** Valid claims the publisher did not answer (gone, unreachable), waiting for a retry. */
  claimsRetrying: number
  /** Valid claims the publisher never answered, after every retry (or when the cache stopped): unpaid service. */
  claimsUnpaid: number
  credited: bigint
  winningTickets: number
  /** Forged claims a colluding cache tried (adversarial mode only), all expected to be rejected. */
  forgedClaims: number
  forgedClaimsPaid: number
  /** Of those, claims without a secret paid because the bundle was in fact proven (valid late claims). */
  forgedClaimsLateValid: number
  /**
   * Colluding mode, Sybil caches: claims made with a secret a partner client solved from the colluders' chunks alone
   * (every slot of its bundle was theirs), for slots this cache never served; and how many were paid.
   */
  sybilClaims: number
  sybilClaimsPaid: number
  /**
   * Colluding mode, the accounting attack: claims made with the secret of a bundle its partner client solved from
   * the honest caches' chunks and this cache's chunk handed over the collude protocol (never served), and how many
   * were paid. Not counted in `chunksServed`.
   */
  unservedClaims: number
  unservedClaimsPaid: number
}

export interface ClientStats {
  bundles: number
  chunksVerified: number
  bytesVerified: number
  /** Bytes downloaded from each cache (served, doubly encrypted). */
  bytesFrom: Record<string, number>
  solveMs: number
  badChunks: number
  repairs: number
  /** Caches that could not be handed their proof (gone at the proof step): the content was ours regardless. */
  proofsUndelivered: number
  /** Bundles asked for again after one failed (its caches gone, repairs used up). */
  bundleRetries: number
  /** Why the last download failed (publisher gone, no cache left...); unset while every download succeeded. */
  failed?: string
  /** Adversarial modes: attempts to skip honest caches, and how many failed. */
  shortcutAttempts: number
  shortcutFailures: number
  /** Stingy and free-rider modes: chunks received without paying, and the reason we were cut off. */
  unpaidChunks: number
  cutOff?: string
  /**
   * Colluding mode with several partner caches (Sybil caches): bundles whose every slot was a partner's, solved from
   * the partners' chunks without downloading anything, and the slots of those bundles the partners were paid for.
   */
  captured: number
  capturedSlotsPaid: number
  /**
   * Colluding mode, the accounting attack: partner slots of bundles that also had honest slots, obtained over the
   * collude protocol instead of being served (the honest slots downloaded and proven as anyone would), and how many
   * of them the partner cache was then paid for.
   */
  unservedSlots: number
  unservedSlotsPaid: number
  /**
   * Free-rider mode: fresh identities (transport peer ids) taken after being cut off (the first one not counted), and
   * the unpaid chunks received per identity and cache (`unpaidFrom[identity][cache]`, at most 1 each).
   */
  identities: number
  unpaidFrom: Record<string, Record<string, number>>
}

export type CacheBehaviour = 'honest' | 'garbage' | 'colluding'
export type ClientBehaviour = 'honest' | 'stingy' | 'colluding' | 'free-rider'
/**
 * `duplicate-numbers` (microcash): issues the same ticket numbers to every cache; `void-tickets` (lottery): tries to
 * void the caches' winners with tickets of its own in their lanes. Both act through the payer's `unsafeAdversary`
 * option (simulation only), never through the protocol code.
 */
export type PublisherBehaviour = 'honest' | 'duplicate-numbers' | 'void-tickets'
