/**
 * Runnable sizing example (docs/microcash.md): a publisher paying caches 0.001 token/s (1e15 units/s at 18
 * decimals) at 2,000 tickets/s, 12-second rounds on a 2-second-block chain, 300 funded rounds (1 hour), redemption
 * costing ~1e13 units per ticket, and no tolerated net gain for a cheater.
 *
 * Run: node --import tsx src/payments/microcash/examples/sizing.ts
 */
import { sizeMicrocash } from '../sizing.js'

const s = sizeMicrocash({
  paymentRatePerSecond: 10n ** 15n,
  ticketsPerSecond: 2000,
  roundSeconds: 12,
  blockSeconds: 2,
  rounds: 300,
  redeemCostPerTicket: 10n ** 13n,
  cheaterGainBound: 0n,
})
console.log(JSON.stringify(s, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 2))
