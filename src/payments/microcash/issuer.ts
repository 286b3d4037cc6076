/**
 * The sponsor's side of microcash: a crash-safe sequence allocator and a ticket issuer.
 *
 * Sequence numbers are per (escrow, round) in [0, ticketsPerRound). The allocator reserves a range durably in
 * SQLite (WAL, synchronous FULL, an IMMEDIATE transaction so several processes can share one file) before it hands
 * any number of the range out from memory. A restart skips the rest of a reserved range, so no number is ever
 * issued twice, even after a SIGKILL. better-sqlite3 is synchronous, so concurrent async callers in one process
 * never interleave inside a reservation.
 *
 * The issuer signs a bundle of tickets once: the tickets are the leaves of a Merkle tree and the sponsor signs
 * `TicketBatch(escrowId, root)`. A bundle may mix servers; each ticket travels with its path.
 *
 * @example
 * ```ts
 * import { createSequenceAllocator, createIssuer } from './issuer.js'
 * const alloc = createSequenceAllocator(openSqliteSequenceStore('sponsor.db'), { ticketsPerRound: 1 << 20 })
 * const issuer = createIssuer({ chainId, lottery, escrowId, privateKey, allocator: alloc, rng: pooledSystemRng })
 * const tickets = issuer.issueBundle(round, [{ server: a, count: 64 }, { server: b, count: 64 }])
 * ```
 */
import type { Address, Hex } from 'viem'
import { PaymentError } from '../errors.js'
import { addressOf, bytesToHex, hexToBytes, signDigest } from '../../crypto/index.js'
import { batchDigest, buildTree, microcashDomain, proofOf, ticketDigest, ticketHash, type MicroTicket } from './ticket.js'
import type { SignedTicket } from './contract.js'
import type { Rng } from '../../crypto/rng.js'
import type { SequenceStore } from './store.js'

/** Numbers reserved per durable write by default: one fsync per this many tickets. */
export const DEFAULT_RESERVE_SIZE = 256

export interface SequenceAllocator {
  /** `count` fresh sequence numbers of (escrow, round), or throws `ScheduleExhaustedError` when fewer remain. */
  take(escrowId: bigint, round: number, count: number): number[]
  /** Numbers never handed out in this process but durably reserved (lost on restart). */
  readonly reservedUnused: number
}

export class ScheduleExhaustedError extends PaymentError {
  override name = 'ScheduleExhaustedError'
}

/** An allocator over `store` (`openSqliteSequenceStore(db)` to survive restarts, `createMemorySequenceStore()`). */
export function createSequenceAllocator(store: SequenceStore, opts: { ticketsPerRound: number; reserveSize?: number }): SequenceAllocator {
  const size = opts.reserveSize ?? DEFAULT_RESERVE_SIZE
  const ranges = new Map<string, { next: number; end: number }>()
  let unused = 0
  return {
    take(escrowId, round, count) {
      const k = `${escrowId}:${round}`
      let r = ranges.get(k)
      const out: number[] = []
      while (out.length < count) {
        if (!r || r.next >= r.end) {
          // Durable before use: the reservation is committed (fsync) before any number of it is returned.
          const [from, end] = store.reserve(escrowId, round, Math.max(size, count - out.length), opts.ticketsPerRound)
          if (from >= end) throw new ScheduleExhaustedError(`Round ${round} of escrow ${escrowId} has no sequence numbers left`, { hints: ['Wait for the next round, or open an escrow with more tickets per round.'], details: { escrowId, round, ticketsPerRound: opts.ticketsPerRound } })
          r = { next: from, end }
          ranges.set(k, r)
          unused += end - from
        }
        out.push(r.next++)
        unused--
      }
      // Forget ranges of old rounds (a restart would skip them anyway).
      if (ranges.size > 64) for (const key of ranges.keys()) { if (key !== k) { const x = ranges.get(key)!; unused -= x.end - x.next; ranges.delete(key) } if (ranges.size <= 32) break }
      return out
    },
    get reservedUnused() { return unused },
  }
}

export interface IssuerOptions {
  chainId: number
  lottery: Address
  escrowId: bigint
  privateKey: Hex
  allocator: SequenceAllocator
  /**
   * Ticket salts, 32 bytes each. A CSPRNG on a real network (`pooledSystemRng`: one native call per 128 salts, as the
   * 4 KiB draw this issuer used to make itself): a server that could predict the salts of a bundle could rebuild its
   * undelivered siblings from its Merkle path and redeem them (docs/microcash.md, Tickets). Seeded streams are for
   * tests and simulations only.
   */
  rng: Rng
}

export interface Issuer {
  readonly address: Address
  /** One single-signed ticket for `server`. */
  issueOne(round: number, server: Address): SignedTicket
  /** Batch-signed tickets: `count` for each server, under one signature. Returned in request order. */
  issueBundle(round: number, requests: readonly { server: Address; count: number }[]): SignedTicket[]
}

export function createIssuer(o: IssuerOptions): Issuer {
  const key = hexToBytes(o.privateKey)
  const address = addressOf(key)
  const domain = microcashDomain(o.chainId, o.lottery)
  const salt = (): Hex => bytesToHex(o.rng(32))
  return {
    address,
    issueOne(round, server) {
      const [seq] = o.allocator.take(o.escrowId, round, 1)
      const t: MicroTicket = { escrowId: o.escrowId, server, seq, round, salt: salt() }
      return { ...t, batch: false, proof: [], sig: bytesToHex(signDigest(ticketDigest(domain, t), key)) }
    },
    issueBundle(round, requests) {
      const total = requests.reduce((a, r) => a + r.count, 0)
      if (total === 0) return []
      const seqs = o.allocator.take(o.escrowId, round, total)
      const tickets: MicroTicket[] = []
      let i = 0
      for (const r of requests) for (let k = 0; k < r.count; k++) tickets.push({ escrowId: o.escrowId, server: r.server, seq: seqs[i++], round, salt: salt() })
      const tree = buildTree(tickets.map(ticketHash))
      const sig = bytesToHex(signDigest(batchDigest(domain, o.escrowId, tree.root), key))
      const root = bytesToHex(tree.root)
      return tickets.map((t, j) => ({ ...t, batch: true, proof: proofOf(tree, j).map(bytesToHex), sig, root }))
    },
  }
}
