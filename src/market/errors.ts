/**
 * Typed market errors. `MarketRejectedError.reason` names why an offer, ask or deal was refused; nothing is
 * reserved, recorded or answered for it.
 */
import { SoukError, type SoukErrorOptions } from '../core/errors.js'

export type MarketRejectReason =
  /** Not a valid message of the schema family (`schema.ts`). */
  | 'malformed'
  /** The signature does not verify, or is not the named signer's. */
  | 'bad-signature'
  /** Past its `expiresAt`, or a deal that has ended. */
  | 'expired'
  /** Its expiry or time span is further ahead than anyone needs (`LIMITS.maxLifetimeMs`), or a value is absurd. */
  | 'absurd'
  /** A sequence number at or below one already seen from this signer for this service. */
  | 'replayed'
  /** Its price for the ask's usage is above the ask's cap. */
  | 'price-above-cap'
  /** It does not meet the other side's constraints (resources, collateral, scheme, region, latency, capabilities). */
  | 'constraints'
  /** A deal whose terms differ from the offer and ask it names. */
  | 'terms-mismatch'
  /** For another service than this market's. */
  | 'wrong-service'

export class MarketError extends SoukError {
  override name = 'MarketError'
  constructor(msg: string, opts: SoukErrorOptions = {}) {
    super(msg, { code: 'MARKET', ...opts })
  }
}

export class MarketRejectedError extends MarketError {
  override name = 'MarketRejectedError'
  constructor(readonly reason: MarketRejectReason, msg: string, opts: SoukErrorOptions = {}) {
    super(`Market message rejected (${reason}): ${msg}`, { code: `MARKET_${reason.toUpperCase().replace(/-/g, '_')}`, ...opts })
  }
}
