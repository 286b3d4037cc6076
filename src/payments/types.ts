/**
 * The payment layer's wire and role interfaces. A `PaymentScheme` (scheme.ts) has a payer side and a payee side; the exchange protocol
 * (src/market, src/services) moves `PaymentTerms` from payee to payer and one `Payment` per chunk back, and never
 * needs to know which scheme is in use. Every wire type is JSON-safe given the net codec (bigint and bytes
 * supported), and is validated by a zod schema at the boundary (`schemas.ts`).
 */
import type { Address, Hex } from 'viem'
import type { SchemeName } from './schemes.js'

/** The name of a scheme in the list (`schemes.ts`). */
export type { SchemeName } from './schemes.js'

/** What a payee requires of a payer, scheme-specific in `params`. Sent payee → payer, possibly renewed. */
export interface PaymentTerms {
  scheme: SchemeName
  chainId: number
  /** The settlement contract (TicketBroker, PaymentChannel, ConcurrentLottery). */
  contract: Address
  payee: Address
  /** Price of one chunk of service, in token units; a payment of this amount pays one chunk. */
  pricePerChunk: bigint
  params: Record<string, unknown>
}

/** One payment message payer → payee. `body` is scheme-specific. */
export interface Payment {
  scheme: SchemeName
  payer: Address
  payee: Address
  /** Nominal amount this message pays (expected value for probabilistic schemes). */
  amount: bigint
  body: Record<string, unknown>
}

/** The payee's answer to an accepted payment. */
export interface PaymentReceipt {
  /** Value credited to the payer's account with this payee (= payment.amount when accepted). */
  credited: bigint
  /** True when the payment carries redeemable value beyond its expected value (a winning ticket). */
  winning: boolean
  /** New terms the payer must use from now on (rand rotation, channel top-up...). */
  terms?: PaymentTerms
}

export interface SettleReport {
  /** On-chain transactions sent. */
  transactions: number
  gasUsed: bigint
  /** Token units received by the payee. */
  received: bigint
  /** Payments (tickets / vouchers) settled. */
  settled: number
  /** Left for later (not yet worth it, or not yet drawable). */
  pending: number
  /** Winners the chain queued as claims on a sender short of funds (paid from its next funding). */
  claims?: number
  /** Payments that can no longer be settled (expired, consumed by someone else, refused by the contract): losses,
   * each logged with its reason and kept in the store with status `lost`. Never counted in `received`. */
  lostCount?: number
  /** Face value of the lost payments. */
  lostValue?: bigint
}

export interface PayeeStats {
  payments: number
  credited: bigint
  winning: number
  rejected: number
  settled: number
  received: bigint
  transactions: number
  gasUsed: bigint
  /** Payments lost (see SettleReport.lostCount). */
  lostCount?: number
  /** lottery: the face value of the latest ticket parameters (a payout's spread is ~√(credited × faceValue)). */
  faceValue?: bigint
}

export interface PayeeSide {
  readonly scheme: SchemeName
  readonly address: Address
  /** Terms for `payer` at `pricePerChunk`. */
  terms(payer: Address, pricePerChunk: bigint, opts?: { signal?: AbortSignal }): Promise<PaymentTerms>
  /**
   * Validates a payment and, when it carries value to claim later, persists it BEFORE returning. Throws a
   * `PaymentError` naming the reason on bad input; a rejected payment stores nothing.
   */
  receive(payment: Payment, opts?: { signal?: AbortSignal }): Promise<PaymentReceipt>
  /** Settles what is worth settling now (batch redemption, voucher collection); `force` settles everything. */
  settle(opts?: { force?: boolean; signal?: AbortSignal }): Promise<SettleReport>
  stats(): PayeeStats
  close(): Promise<void>
}

export interface PayerSession {
  readonly payee: Address
  readonly terms: PaymentTerms
  /** Creates the payment message for `amount` (normally one chunk's price). */
  pay(amount: bigint, opts?: { signal?: AbortSignal }): Promise<Payment>
  /** Replaces the terms (after a receipt carried new ones). */
  update(terms: PaymentTerms): void
  /** Nominal total paid in this session. */
  paid(): bigint
  close(opts?: { signal?: AbortSignal }): Promise<void>
}

export interface PayerSide {
  readonly scheme: SchemeName
  readonly address: Address
  /** Starts paying a payee under its terms (may send chain transactions, e.g. open a channel). */
  open(terms: PaymentTerms, opts?: { signal?: AbortSignal }): Promise<PayerSession>
  close(): Promise<void>
}

/** Bytes helper type for signatures. */
export type Signature = Hex

/** Adds a settlement report to a payee's running stats. */
export function addSettleReport(stats: PayeeStats, r: SettleReport): void {
  stats.settled += r.settled
  stats.received += r.received
  stats.transactions += r.transactions
  stats.gasUsed += r.gasUsed
}
