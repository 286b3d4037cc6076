/**
 * The market module's figures (bench/results/market.json; field names are an interface):
 * - `clearSeconds50kx50k`, `matchesPerSecond` (and the speedup over the naive clearing): the order book
 *   (bench/market-book.ts);
 * - `medianTimeToDealMs`: a market of 20 servers and 60 buyers negotiating over the memory transport with 1 % frame
 *   loss and 20 ms one-way latency, from a buyer's first dial to its first signed deal; baseline: the same
 *   network's round trip, measured in the same run (`timeToDealRoundTrips` = the ratio);
 * - `reputationObservationsToWithin5pct` (bench/market-reputation.ts);
 * - `priceConvergenceRounds` (bench/market-pricing.ts), and `marketConvergedAtRound`: the same question asked of the
 *   real parts (signed offers, book, negotiation) in the run above.
 * Benchmarks assert nothing.
 */
import { systemClock } from '../src/core/clock.js'
import { silentLogger } from '../src/core/logger.js'
import { seededRng } from '../src/crypto/rng.js'
import { createMemoryNetwork, protocolId } from '../src/net/index.js'
import { runMarketScenario } from '../src/market/scenario.js'

async function roundTripMs(latencyMs: number): Promise<number> {
  const net = createMemoryNetwork({ latencyMs })
  const a = net.createTransport({ peerId: 'a' }), b = net.createTransport({ peerId: 'b' })
  const echo = protocolId('bench/echo', 1)
  await b.handle(echo, async (s) => { for await (const f of s) await s.write(f) })
  const s = await a.dial('b', echo)
  const times: number[] = []
  for (let i = 0; i < 20; i++) {
    const t0 = performance.now()
    await s.write(new Uint8Array(64))
    await s.read()
    times.push(performance.now() - t0)
  }
  await a.stop(); await b.stop()
  return times.sort((x, y) => x - y)[10]
}

export async function benchTimeToDeal(o: { log?: (s: string) => void } = {}): Promise<Record<string, number>> {
  const latencyMs = 20
  const rtt = await roundTripMs(latencyMs)
  const net = createMemoryNetwork({ latencyMs, lossRate: 0.01, seed: 3 })
  const r = await runMarketScenario({
    servers: 20, buyers: 60, rounds: 40, newTransport: (id) => net.createTransport({ peerId: id }), clock: systemClock(), rng: seededRng('bench-market'), logger: silentLogger(),
    onRound: (x) => o.log?.(`round ${x.round}: market price ${x.marketPrice}, ${x.deals} deals, ${x.medianTimeToDealMs} ms to deal`),
  })
  return {
    medianTimeToDealMs: r.medianTimeToDealMs,
    roundTripMs: rtt,
    timeToDealRoundTrips: r.medianTimeToDealMs / rtt,
    marketConvergedAtRound: r.convergedAtRound ?? -1,
    marketDealsPerRound: r.deals / r.rounds.length,
  }
}

export async function benchMarket(o: { log?: (s: string) => void } = {}): Promise<Record<string, number>> {
  const { benchBook } = await import('./market-book.js')
  const { benchReputation } = await import('./market-reputation.js')
  const { benchPricing } = await import('./market-pricing.js')
  o.log?.('order book')
  const book = await benchBook()
  o.log?.('reputation')
  const rep = await benchReputation()
  o.log?.('pricing')
  const pricing = await benchPricing()
  o.log?.('negotiation over the memory transport (1 % loss, 20 ms latency)')
  const deal = await benchTimeToDeal(o)
  return { ...book, ...rep, ...pricing, ...deal }
}
