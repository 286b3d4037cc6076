/**
 * The generic exchange protocol (docs/exchange.md): chunked service for per-chunk payment, client-pays or
 * sponsor-pays, over any `Transport` and any payment scheme.
 *
 * @example
 * ```ts
 * import { serveExchange, fetchExchange, createSponsorDesk, createClaimant } from './src/exchange/index.js'
 * ```
 */
export * from './types.js'
export { EXCHANGE_PROTOCOL, SPONSOR_CLAIM_PROTOCOL, EXCHANGE_IDLE_TIMEOUT_MS, ReceiptSchema } from './protocol.js'
export { serveExchange, fetchExchange, ExchangeError, type ServeExchangeOptions, type FetchExchangeOptions, type ExchangeServer } from './session.js'
export { createSponsorDesk, createClaimant, chainUnreachable, CHAIN_DOWN_REASON, type SponsorDesk, type SponsorDeskOptions, type Claimant, type ClaimantOptions, type ClaimResult } from './sponsor.js'
export { createMutex, type Mutex } from './mutex.js'
export { releaseWhenRemoteEnds, REMOTE_END_TIMEOUT_MS } from '../net/index.js'
