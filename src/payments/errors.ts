/**
 * Typed payment errors. `PaymentRejectedError.reason` names why a payment was refused; nothing is stored and no
 * funds move when one is thrown.
 */
import { SoukError, type SoukErrorOptions } from '../core/errors.js'

export type RejectReason =
  | 'malformed'
  | 'wrong-scheme'
  | 'wrong-chain'
  | 'wrong-contract'
  | 'wrong-payee'
  | 'bad-signature'
  | 'non-canonical-signature'
  | 'replayed'
  | 'nonce-out-of-range'
  | 'expired'
  | 'unknown-params'
  | 'params-mismatch'
  | 'underfunded'
  | 'amount-too-low'
  | 'out-of-schedule'
  | 'future-round'
  | 'bad-merkle-path'
  | 'duplicate-sequence'
  | 'unknown-channel'
  | 'not-monotonic'

export class PaymentError extends SoukError {
  override name = 'PaymentError'
  constructor(msg: string, opts: SoukErrorOptions = {}) {
    super(msg, { code: 'PAYMENT', ...opts })
  }
}

export class PaymentRejectedError extends PaymentError {
  override name = 'PaymentRejectedError'
  constructor(readonly reason: RejectReason, msg: string, opts: SoukErrorOptions = {}) {
    super(`Payment rejected (${reason}): ${msg}`, { code: `PAYMENT_${reason.toUpperCase().replace(/-/g, '_')}`, ...opts })
  }
}

export class InsufficientFundsError extends PaymentError {
  override name = 'InsufficientFundsError'
}

/** A scheme name no scheme in `schemes.ts` has (a configuration or flag naming a scheme this build does not know). */
export class UnknownSchemeError extends PaymentError {
  override name = 'UnknownSchemeError'
  constructor(readonly scheme: string, readonly known: readonly string[]) {
    super(`Unknown payment scheme "${scheme}"`, { code: 'PAYMENT_UNKNOWN_SCHEME', hints: [`Available: ${known.join(', ')}.`], details: { scheme } })
  }
}
