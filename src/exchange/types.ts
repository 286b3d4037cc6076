/**
 * Interfaces of the generic exchange protocol: a payer and a server trade service in chunks, one payment per
 * chunk, and neither side risks more than one chunk (architecture.md, principle 3). Two modes:
 *
 * - **client-pays** (`session.ts`): the client is the payer. It asks for chunk k with the payment for chunk k−1;
 *   the server serves chunk k only when every chunk before it is paid, so a client that stops paying gets exactly
 *   one unpaid chunk, and the client never pays for a chunk it has not received and verified.
 * - **sponsor-pays** (`sponsor.ts`): a third party (a publisher) pays the server for service to its clients. The
 *   server claims each chunk from the sponsor with a service-defined proof of delivery; the sponsor verifies it and
 *   pays one chunk; the server stops serving a sponsor that leaves a proven chunk unpaid.
 *
 * The payment scheme (channel, lottery, microcash) is whatever `PayeeSide` / `PayerSide` the caller passes in.
 */
import type { Address } from 'viem'
import type { PeerId } from '../net/index.js'

/** A service's view of one client-pays session: how many chunks it has, and how to produce each. */
export interface ChunkSource {
  readonly chunkCount: number
  /** Produces chunk `index` (0-based, `< chunkCount`). `header` travels as JSON beside the raw body. */
  chunk(index: number, opts?: { signal?: AbortSignal }): Promise<{ header?: Record<string, unknown>; body: Uint8Array }>
  close?(): void | Promise<void>
}

/** Why a server stopped a session (sent to the payer in a `refuse` message and counted in stats). */
export type RefuseReason =
  | 'unpaid'          // the payer asked for a chunk while an earlier one was unpaid
  | 'bad-payment'     // the payee rejected a payment (forged, replayed, wrong payee, ...)
  | 'wrong-payer'     // a payment signed by another account than the session's payer
  | 'out-of-order'    // asked for a chunk other than the next one
  | 'bad-request'     // the service refused the opening request
  | 'busy'            // no capacity
  | 'banned'

/** Counters a server keeps across sessions. */
export interface ExchangeServerStats {
  sessions: number
  chunksServed: number
  bytesServed: number
  /** Chunks whose payment was accepted by the payee. */
  chunksPaid: number
  credited: bigint
  refused: Partial<Record<RefuseReason, number>>
}

/** What a client-pays fetch returns. */
export interface ExchangeResult {
  chunks: Uint8Array[]
  headers: Record<string, unknown>[]
  /** Nominal amount paid (sum of payment amounts accepted by the server). */
  paid: bigint
  bytes: number
  /** Set when the server stopped early. */
  refused?: { reason: RefuseReason | string; atChunk: number }
}

/** One claim a server makes on a sponsor: an id unique per delivered chunk, and a service-defined proof. */
export interface SponsorClaim {
  /** Unique per delivered chunk (e.g. request id + chunk index); a sponsor pays each id at most once. */
  id: string
  proof: unknown
}

/** The sponsor's verdict on a claim. */
export type ClaimVerdict = { ok: true; chunks?: number } | { ok: false; reason: string }

/** Counters of a sponsor's payment desk. */
export interface SponsorDeskStats {
  claims: number
  /** Payments the server accepted (its receipt came back). */
  paid: number
  rejected: number
  /** Payments sent for verified claims that the server refused or never acknowledged (they paid nothing). */
  refusedByServer: number
  /** Nominal amount paid (and accepted) to each server payee address. */
  paidTo: Record<Address, bigint>
}

/** Counters of a server's claimant. */
export interface ClaimantStats {
  claims: number
  paid: number
  rejected: number
  /** Claims whose proof we believe valid but the sponsor did not pay (grounds to stop serving it). */
  unpaidValid: number
  /** Claims the sponsor never answered (unreachable, or the stream broke before its reply): the caller may retry them. */
  unanswered: number
  credited: bigint
  winning: number
}

export type { PeerId }
