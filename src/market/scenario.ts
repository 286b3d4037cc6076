/**
 * A market of N servers and M buyers run round by round on the real market parts: every server posts a signed offer
 * at its current price, every buyer a signed ask at its valuation; the order book clears the asks against the
 * offers; each buyer negotiates (alternating offers, over the transport) with the servers it was matched to and
 * signs deals with those that agree; each server then moves its price by the demand it saw (`demandResponsive`:
 * up when it sold above its target utilization, down toward its cost when it did not). The competitive price of the
 * same supply and demand (`competitivePrice`, an interval of clearing prices) is the yardstick: the run reports the
 * round after which the market price (what the servers that sold had posted) stays within 2 % of that interval, the time each buyer took to its first deal, and who got hired at what price.
 *
 * One unit = one deal for `unitChunks` chunks of a CDN-style service (`usage: { chunks }`, a per-chunk price).
 * A server sells at most its capacity in units a round (its offer's `resources.bytes` = capacity × 1 MiB); a buyer
 * wants `demand` units from distinct servers.
 *
 * Roles take their components from the caller (transports, clock, rng, logger): the same code runs on a memory
 * network with loss and latency, or on libp2p.
 *
 * @example
 * ```ts
 * import { runMarketScenario } from './scenario.js'
 * const net = createMemoryNetwork({ latencyMs: 10, lossRate: 0.01 })
 * const r = await runMarketScenario({ servers: 20, buyers: 60, rounds: 30, newTransport: (id) => net.createTransport({ peerId: id }), clock: systemClock(), rng: seededRng('m'), logger: silentLogger() })
 * r.convergedAtRound // e.g. 14
 * ```
 */
import type { Address } from 'viem'
import type { Clock } from '../core/clock.js'
import type { Logger } from '../core/logger.js'
import { ValidationError } from '../core/errors.js'
import { forkRng, type Rng } from '../crypto/index.js'
import type { Transport } from '../net/index.js'
import { createOrderBook } from './book.js'
import { createMarketChecker } from './check.js'
import { createNegotiator, negotiateDeals, timeConcession, type Negotiator } from './negotiate.js'
import { competitivePrice, demandResponsive, randomMarket, type MarketBuyer, type MarketServer } from './pricing.js'
import { perChunk, priceOf, type Ask, type Offer } from './schema.js'
import { keySigner, marketDomain, signAsk, signOffer, type MarketSigner } from './sign.js'
import { bytesToHex } from '../crypto/bytes.js'

const MIB = 1 << 20

export interface MarketScenarioOptions {
  servers: number
  buyers: number
  /** Rounds to run (default 30). */
  rounds?: number
  /** Chunks in one unit (default 100). */
  unitChunks?: number
  /** Most units a server sells a round (drawn in [1, capacity], default 8) and a buyer wants (in [1, demand], default 2). */
  capacity?: number
  demand?: number
  /** The demand-responsive step (default 0.05) and target utilization (default 0.9). */
  priceStep?: number
  targetUtilization?: number
  /** Buyers negotiating at once (default 16). */
  concurrency?: number
  /** Per-message timeout of a negotiation (default 1,000 ms). */
  readTimeoutMs?: number
  newTransport(peerId: string): Transport | Promise<Transport>
  clock: Clock
  rng: Rng
  logger: Logger
  /** Told after every round (for a progress bar). */
  onRound?(r: MarketRound): void
}

export interface MarketRound {
  round: number
  /** Median price per chunk of this round's deals, as negotiated (0 when none). */
  medianPrice: bigint
  /** Median posted (list) price per chunk of the servers that signed deals this round: the market's price. */
  marketPrice: bigint
  /** Median posted price of the servers. */
  medianAsk: bigint
  deals: number
  /** Units wanted and not bought this round (buyers priced out at the competitive price are counted too). */
  unserved: number
  /** Median time from a buyer's first dial to its first deal this round (ms). */
  medianTimeToDealMs: number
  failedNegotiations: number
}

export interface MarketScenarioResult {
  rounds: MarketRound[]
  /** The competitive (market-clearing) price interval per chunk of the same supply and demand, its midpoint and quantity. */
  competitive: { low: bigint; high: bigint; price: bigint; quantity: number }
  /**
   * First round from which the market price (the median posted price of the servers that sold) stays within 2 % of
   * the competitive interval [low, high] (every price in it clears the market) to the end of the run (undefined:
   * never). Negotiated deal prices land between a server's cost and its posted price, below the market price.
   */
  convergedAtRound?: number
  /** Median time to a first deal over every round (ms). */
  medianTimeToDealMs: number
  /** Per server: its cost, capacity, last price, deals and revenue over the run. */
  servers: { server: Address; peer: string; cost: bigint; capacity: number; price: bigint; deals: number; revenue: bigint }[]
  deals: number
}

const median = (xs: readonly number[]) => { if (xs.length === 0) return 0; const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)] }
const medianBig = (xs: readonly bigint[]) => { if (xs.length === 0) return 0n; const s = [...xs].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)); return s[Math.floor(s.length / 2)] }
/** Within `pct` % of the interval [low, high]. */
const near = (x: bigint, low: bigint, high: bigint, pct: bigint) => (x >= low && x <= high) || (x < low ? (low - x) * 100n <= low * pct : (x - high) * 100n <= high * pct)

function positiveInt(name: string, v: number, max: number): number {
  if (!Number.isInteger(v) || v < 1 || v > max) throw new ValidationError(`--${name} must be an integer in [1, ${max}], got ${v}`, { hints: [`pass --${name} <1..${max}>`] })
  return v
}

export async function runMarketScenario(o: MarketScenarioOptions): Promise<MarketScenarioResult> {
  const N = positiveInt('servers', o.servers, 2000), M = positiveInt('buyers', o.buyers, 20_000)
  const rounds = positiveInt('rounds', o.rounds ?? 30, 10_000)
  const unitChunks = BigInt(positiveInt('unit-chunks', o.unitChunks ?? 100, 1e6))
  const log = o.logger.child('market:scenario')
  const clock = o.clock
  const domain = marketDomain(31337)
  const model = randomMarket(forkRng(o.rng, 'market'), { servers: N, buyers: M, capacity: o.capacity ?? 8, demand: o.demand ?? 2, cost: [50n, 150n], valuation: [50n, 250n] })
  // Prices per unit are per-chunk prices × unitChunks: keep them per chunk on the wire.
  const competitive = competitivePrice(model.servers, model.buyers)
  const step = demandResponsive({ floor: 1n, step: o.priceStep ?? 0.05, targetUtilization: o.targetUtilization ?? 0.9 })

  type S = MarketServer & { i: number; signer: MarketSigner; peer: string; t: Transport; price: bigint; negotiator?: Negotiator; seq: bigint; deals: number; revenue: bigint }
  type B = MarketBuyer & { i: number; signer: MarketSigner; peer: string; t: Transport; seq: bigint }
  const key = (label: string) => bytesToHex(forkRng(o.rng, `key:${label}`)(32)) as `0x${string}`
  const servers: S[] = []
  for (const [i, s] of model.servers.entries()) {
    const peer = `server-${i}`
    servers.push({ ...s, i, signer: keySigner(key(peer)), peer, t: await o.newTransport(peer), price: s.price ?? s.cost * 2n, seq: 0n, deals: 0, revenue: 0n })
  }
  const buyers: B[] = []
  for (const [i, b] of model.buyers.entries()) {
    const peer = `buyer-${i}`
    buyers.push({ ...b, i, signer: keySigner(key(peer)), peer, t: await o.newTransport(peer), seq: 0n })
  }
  const out: MarketRound[] = []
  try {
    for (let round = 1; round <= rounds; round++) {
      const now = clock.now()
      const book = createOrderBook({ service: 'cdn', clock })
      const offers = new Map<string, Offer>()
      for (const s of servers) {
        const offer = signOffer({
          type: 'offer', service: 'cdn', server: s.signer.address, peer: s.peer, resources: { bytes: s.capacity * MIB, bandwidthBps: 0, durationSec: 0, computeUnits: 0 },
          price: perChunk(s.price), collateral: 0n, schemes: ['lottery'], region: 'any', latencyMs: 0, addresses: s.t.addresses().slice(0, 1),
          capabilities: [], expiresAt: now + 600_000, seq: ++s.seq,
        }, s.signer, domain)
        offers.set(s.signer.address, offer)
        book.addOffer(offer)
        if (s.negotiator) await s.negotiator.stop()
        s.negotiator = createNegotiator({
          transport: s.t, offer, signer: s.signer, floor: (ask) => priceOf(perChunk(s.cost), ask.usage), concession: timeConcession(1),
          checker: createMarketChecker({ domain, clock, service: 'cdn' }), domain, clock, rng: forkRng(o.rng, `${s.peer}:${round}`), logger: o.logger,
          readTimeoutMs: o.readTimeoutMs ?? 1_000, confirmTimeoutMs: o.readTimeoutMs ?? 1_000,
        })
        await s.negotiator.start()
      }
      const asks = new Map<string, { b: B; ask: Ask }>()
      for (const b of buyers) {
        const ask = signAsk({
          type: 'ask', service: 'cdn', buyer: b.signer.address, peer: b.peer, resources: { bytes: MIB, bandwidthBps: 0, durationSec: 0, computeUnits: 0 },
          usage: { chunks: unitChunks }, maxPrice: b.valuation * unitChunks, minCollateral: 0n, schemes: ['lottery'], regions: [], maxLatencyMs: 0,
          capabilities: [], servers: b.demand, expiresAt: now + 600_000, seq: ++b.seq,
        }, b.signer, domain)
        asks.set(b.signer.address, { b, ask })
        book.addAsk(ask)
      }
      const matches = book.clear()
      const byBuyer = new Map<string, Offer[]>()
      for (const m of matches) byBuyer.set(m.ask.buyer, [...(byBuyer.get(m.ask.buyer) ?? []), m.offer])
      const dealPrices: bigint[] = [], listPrices: bigint[] = [], times: number[] = []
      let dealsN = 0, failed = 0, unserved = 0
      const jobs = [...asks.values()]
      const lane = async () => {
        for (let j = jobs.shift(); j; j = jobs.shift()) {
          const cands = byBuyer.get(j.b.signer.address) ?? []
          if (cands.length === 0) { unserved += j.b.demand; continue }
          const r = await negotiateDeals({
            transport: j.b.t, ask: j.ask, signer: j.b.signer, candidates: cands, parallel: cands.length, checker: createMarketChecker({ domain, clock, service: 'cdn' }),
            domain, clock, rng: forkRng(o.rng, `${j.b.peer}:${round}`), logger: o.logger, readTimeoutMs: o.readTimeoutMs ?? 1_000, concession: timeConcession(1),
          })
          unserved += j.b.demand - r.deals.length
          failed += r.outcomes.filter((x) => x.result === 'failed').length
          const first = r.outcomes.filter((x) => x.result === 'deal').map((x) => x.ms)
          if (first.length) times.push(Math.min(...first))
          for (const d of r.deals) {
            const total = priceOf(d.price, d.usage)
            dealPrices.push(total / unitChunks)
            listPrices.push(offers.get(d.server)!.price.rates[0].price)
            dealsN++
            const s = servers.find((x) => x.signer.address === d.server)!
            s.deals++
            s.revenue += total
          }
        }
      }
      await Promise.all(Array.from({ length: Math.min(o.concurrency ?? 16, M) }, () => lane()))
      // Each server moves its price by the utilization it saw this round.
      for (const s of servers) {
        const sold = s.negotiator!.deals().length
        s.price = step(s.price, sold / s.capacity)
        if (s.price < s.cost) s.price = s.cost
      }
      const r: MarketRound = {
        round, medianPrice: medianBig(dealPrices), marketPrice: medianBig(listPrices), medianAsk: medianBig(servers.map((s) => s.price)), deals: dealsN, unserved,
        medianTimeToDealMs: median(times), failedNegotiations: failed,
      }
      out.push(r)
      log.info('round', { round, medianPrice: r.medianPrice, deals: dealsN, unserved })
      o.onRound?.(r)
    }
  } finally {
    for (const s of servers) await s.negotiator?.stop().catch(() => {})
    for (const x of [...servers, ...buyers]) await x.t.stop().catch(() => {})
  }
  let convergedAtRound: number | undefined
  for (let i = out.length - 1; i >= 0; i--) {
    if (out[i].deals > 0 && near(out[i].marketPrice, competitive.low, competitive.high, 2n)) convergedAtRound = out[i].round
    else break
  }
  return {
    rounds: out, competitive: { low: competitive.low, high: competitive.high, price: competitive.price, quantity: competitive.quantity }, convergedAtRound,
    medianTimeToDealMs: median(out.map((r) => r.medianTimeToDealMs).filter((x) => x > 0)),
    servers: servers.map((s) => ({ server: s.signer.address, peer: s.peer, cost: s.cost, capacity: s.capacity, price: s.price, deals: s.deals, revenue: s.revenue })),
    deals: out.reduce((n, r) => n + r.deals, 0),
  }
}
