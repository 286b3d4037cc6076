/**
 * The `microcash` PaymentScheme: a payer (sponsor) paying many payees concurrently from one ConcurrentLottery
 * escrow, and a payee (server) that validates, persists and redeems. Selected by configuration like `lottery` and
 * `channel` (see `microcashScheme` in index.ts).
 *
 * A payer session keeps a bundle of `bundleSize` tickets for its payee, signed once, and hands them out one (or a
 * few) per payment; a bundle is for the current round and is dropped when the round changes.
 *
 * @example
 * ```ts
 * import { createMicrocashPayer, createMicrocashPayee } from './scheme.js'
 * const payee = createMicrocashPayee({ chain, lottery, privateKey: serverKey, store: openSqliteMicrocashServerStore('server.db'), clock, logger })
 * const payer = createMicrocashPayer({ chain, lottery, privateKey: sponsorKey, escrowId, store: openSqliteSequenceStore('sponsor.db'), rng })
 * const session = await payer.open(await payee.terms(payer.address, price))
 * await payee.receive(await session.pay(price))
 * await payee.settle({ force: true })
 * ```
 */
import type { Address, Hex } from 'viem'
import type { Chain } from '../../chain/types.js'
import type { Rng } from '../../crypto/rng.js'
import { PaymentRejectedError, PaymentError } from '../errors.js'
import type { PayeeSide, PayerSession, PayerSide, Payment, PaymentReceipt, PaymentTerms } from '../types.js'
import { addressOf, bytesToHex, hexToBytes } from '../../crypto/index.js'
import { getEscrow, type EscrowState, type SignedTicket } from './contract.js'
import { createIssuer, createSequenceAllocator, type Issuer } from './issuer.js'
import { createMemorySequenceStore } from './store.js'
import {
  createMicrocashServer, MicrocashBodySchema, ticketExpectedValue, type MicrocashLoss, type MicrocashServer, type MicrocashServerOptions, type MicrocashSettleReport, type WireTicket,
} from './server.js'
import { processProof, roundAt, ticketHash } from './ticket.js'
import type { SequenceStore } from './store.js'

export const MICROCASH_SCHEME = 'microcash' as const

export interface MicrocashPayeeOptions extends MicrocashServerOptions {}

/** The server side of `microcash`: a `PayeeSide` whose settle report also gives compensations and losses. */
export interface MicrocashPayee extends PayeeSide {
  settle(opts?: { force?: boolean; signal?: AbortSignal }): Promise<MicrocashSettleReport>
  /** Every loss recorded so far, with its reason. */
  losses(): MicrocashLoss[]
  /** Evidence of reused or duplicated numbers kept so far. */
  evidence(): ReturnType<MicrocashServer['evidence']>
}

/** The server side of `microcash` as a `PayeeSide`. */
export function createMicrocashPayee(o: MicrocashPayeeOptions): MicrocashPayee {
  const server = createMicrocashServer(o)
  return {
    scheme: MICROCASH_SCHEME,
    address: server.address,
    async terms(payer, pricePerChunk) {
      return {
        scheme: MICROCASH_SCHEME,
        chainId: o.chain.chainId,
        contract: o.lottery,
        payee: server.address,
        pricePerChunk,
        params: { drawMarginBlocks: o.drawMarginBlocks ?? 2, minPenalty: o.minPenalty ?? 0n, payer },
      }
    },
    async receive(payment: Payment, opts = {}): Promise<PaymentReceipt> {
      if (payment.scheme !== MICROCASH_SCHEME) throw new PaymentRejectedError('wrong-scheme', `expected microcash, got ${payment.scheme}`)
      if (payment.payee.toLowerCase() !== server.address.toLowerCase()) throw new PaymentRejectedError('wrong-payee', `payment is for ${payment.payee}`)
      const body = MicrocashBodySchema.safeParse(payment.body)
      if (!body.success) throw new PaymentRejectedError('malformed', body.error.issues[0]?.message ?? 'bad body', { details: { path: body.error.issues[0]?.path.join('.') } })
      const { credited } = await server.accept(payment.payer, body.data.escrowId, body.data.tickets, { amount: payment.amount, signal: opts.signal })
      return { credited, winning: false }
    },
    settle: (opts) => server.settle(opts),
    losses: () => server.losses(),
    evidence: () => server.evidence(),
    stats: () => server.stats(),
    async close() {},
  }
}

export interface MicrocashPayerOptions {
  chain: Chain
  lottery: Address
  /** The sponsor's key: owner of the escrow, signs tickets. */
  privateKey: Hex
  escrowId: bigint
  /** Where sequence-number reservations are kept (`openSqliteSequenceStore(path)`: must survive restarts). */
  store: SequenceStore
  /** Tickets per bundle (one signature each). Default 64. */
  bundleSize?: number
  /** Sequence numbers reserved per durable write. Default 256. */
  reserveSize?: number
  /** Block-number cache (ms) for picking the issue round. Default 0. */
  blockCacheMs?: number
  /** Ticket salts (a CSPRNG on a real network: see `IssuerOptions.rng`). */
  rng: Rng
  /**
   * UNSAFE, for simulations only: makes this payer a cheating sponsor (the simulator's `duplicate-numbers`
   * publisher, docs/cdn.md#adversaries). Nothing in a node's configuration sets it; never set it on a real network.
   */
  unsafeAdversary?: MicrocashPayerAdversary
}

/** A cheating sponsor's moves (`MicrocashPayerOptions.unsafeAdversary`). */
export interface MicrocashPayerAdversary {
  /**
   * Issue the same sequence numbers to every payee: each session draws its numbers from an allocator of its own
   * over a fresh memory store, so the first bundle of a round goes 0, 1, 2… to every payee alike (what the scheme
   * test does with two allocators). The payee that is not paid for a duplicated winner proves it on chain at settle
   * and is compensated V from the victims' pool.
   */
  duplicateNumbers?: boolean
  /** Told of every bundle issued with numbers another payee gets too (the simulator counts them as attempts). */
  onAttack?(e: { what: 'duplicate-numbers'; payee: Address; round: number; numbers: number; firstSeq: number }): void
}

export interface MicrocashPayer extends PayerSide {
  readonly issuer: Issuer
  escrow(): Promise<EscrowState>
}

/** Turns an issued ticket into its wire form (what a payment body carries). */
export function toWire(t: SignedTicket): WireTicket {
  const w: WireTicket = { round: t.round, seq: t.seq, salt: t.salt, batch: t.batch, proof: t.proof, sig: t.sig }
  if (t.batch) w.root = t.root ?? bytesToHex(processProof(ticketHash(t), t.proof.map((h) => hexToBytes(h))))
  return w
}

/** The sponsor side of `microcash` as a `PayerSide`. */
export function createMicrocashPayer(o: MicrocashPayerOptions): MicrocashPayer {
  const address = addressOf(hexToBytes(o.privateKey))
  let state: EscrowState | undefined
  const escrow = async () => (state ??= await getEscrow(o.chain, o.lottery, o.escrowId))
  let issuer: Issuer | undefined
  const getIssuer = async () => {
    if (issuer) return issuer
    const e = await escrow()
    issuer = createIssuer({ chainId: o.chain.chainId, lottery: o.lottery, escrowId: o.escrowId, privateKey: o.privateKey, rng: o.rng, allocator: createSequenceAllocator(o.store, { ticketsPerRound: e.ticketsPerRound, reserveSize: o.reserveSize }) })
    return issuer
  }
  return {
    scheme: MICROCASH_SCHEME,
    address,
    get issuer() {
      if (!issuer) throw new PaymentError('microcash payer: open a session first')
      return issuer
    },
    escrow,
    async open(terms: PaymentTerms): Promise<PayerSession> {
      if (terms.scheme !== MICROCASH_SCHEME) throw new PaymentError(`terms are for ${terms.scheme}, not microcash`)
      if (terms.chainId !== o.chain.chainId || terms.contract.toLowerCase() !== o.lottery.toLowerCase()) throw new PaymentError('terms name another chain or contract', { details: { chainId: terms.chainId, contract: terms.contract } })
      const e = await escrow()
      if (e.owner.toLowerCase() !== address.toLowerCase()) throw new PaymentError(`escrow ${o.escrowId} is not owned by this payer`)
      const dup = o.unsafeAdversary?.duplicateNumbers === true
      // A cheating sponsor: this payee's numbers come from an allocator of its own, so they repeat every other's.
      const iss = dup
        ? createIssuer({ chainId: o.chain.chainId, lottery: o.lottery, escrowId: o.escrowId, privateKey: o.privateKey, rng: o.rng, allocator: createSequenceAllocator(createMemorySequenceStore(), { ticketsPerRound: e.ticketsPerRound, reserveSize: o.reserveSize }) })
        : await getIssuer()
      issuer ??= iss
      const ev = ticketExpectedValue(e)
      if (ev === 0n) throw new PaymentError('ticket expected value rounds to 0: raise ticketValue or winnersPerRound')
      let cur = terms
      let paid = 0n
      let bundle: SignedTicket[] = []
      let bundleRound = -1
      return {
        payee: terms.payee,
        get terms() { return cur },
        async pay(amount) {
          const n = Number((amount + ev - 1n) / ev)
          if (n < 1 || n > 64) throw new PaymentError(`a payment of ${amount} needs ${n} tickets of expected value ${ev} (1..64)`)
          const b = await o.chain.blockNumber({ maxAgeMs: o.blockCacheMs ?? 0 })
          const round = roundAt(b, e.roundLengthBlocks)
          if (round !== bundleRound) { bundle = []; bundleRound = round }
          const out: SignedTicket[] = []
          while (out.length < n) {
            if (bundle.length === 0) {
              bundle = iss.issueBundle(round, [{ server: cur.payee, count: Math.max(o.bundleSize ?? 64, n - out.length) }])
              if (dup) o.unsafeAdversary?.onAttack?.({ what: 'duplicate-numbers', payee: cur.payee, round, numbers: bundle.length, firstSeq: bundle[0].seq })
            }
            out.push(bundle.shift()!)
          }
          const value = ev * BigInt(n)
          paid += value
          return { scheme: MICROCASH_SCHEME, payer: address, payee: cur.payee, amount: value, body: { escrowId: o.escrowId, tickets: out.map(toWire) } }
        },
        update(t) { cur = t },
        paid: () => paid,
        async close() { bundle = [] },
      }
    },
    async close() {},
  }
}
