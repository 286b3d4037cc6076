/**
 * Souk's market layer (docs/market.md): one schema family for every service (offers, asks, deals, EIP-712 signed),
 * the checker at the trust boundary, an order book that clears many asks against many offers, negotiation by
 * alternating offers over the transport, selection strategies, reputation with forgetting from verifiable facts,
 * pricing strategies and the honesty rule, per-request assignment of hired servers, and a market scenario
 * (`souk market`). The service–payment exchange is `src/exchange`.
 */
export * from './schema.js'
export * from './errors.js'
export * from './sign.js'
export * from './check.js'
export * from './book.js'
export * from './negotiate.js'
export * from './select.js'
export * from './reputation.js'
export * from './pricing.js'
export * from './assign.js'
export * from './scenario.js'
export * from './report.js'
export { marketFixtures, type Party } from './fixtures.js'
