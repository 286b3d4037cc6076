/**
 * Pricing benchmark (`src/market/pricing.ts`): how fast the price-discovery loop reaches the competitive price, the
 * baselines it beats (measured in the same run), and the speed of the pricing functions.
 *
 * Run: `node --import tsx bench/market-pricing.ts` (prints the figures as JSON).
 *
 * Markets: `MARKETS` seeded random markets (`randomMarket(seededRng('bench/market-pricing/<k>'), ...)`) of 50 servers
 * and 200 buyers: costs uniform in [50, 150) × 10^12, valuations in [50, 250) × 10^12, capacities 1-100 units,
 * demands 1-20 units, first prices each server's cost × a factor uniform in [1, 3). Competitive price: exact
 * (`competitivePrice`). Converged: the round's volume-weighted mean price and 95 % of its volume within 2 % of the
 * competitive interval, 3 rounds in a row; the round counted is the first of those three.
 *
 * Figures:
 * - priceConvergenceRounds: median rounds to converge (goal ≤ 50); ...P90, ...Max; priceMarketsConverged: the share
 *   that converged within the 500-round budget.
 * - fixedStepConvergenceRounds: the same markets with a fixed 1 % step (no step adaptation), median;
 *   adaptiveVsFixedRounds = priceConvergenceRounds / fixedStepConvergenceRounds.
 * - ownUtilizationConverged: share of the same markets that converge when each server follows only its own
 *   utilization (no-overtaking rule off), within 200 rounds; ownUtilizationPremiumPct: the median over the markets of
 *   the mean price of its last 50 rounds above the competitive price (%): the Edgeworth cycle's premium.
 * - withholdingPremiumPct: the same premium when servers aim at 80 % requested utilization instead of 100 %.
 * - discoveryRoundsPerSecond: rounds of the loop per second on these markets (post, buy, respond).
 * - competitivePriceMs50kx50k: `competitivePrice` on 50,000 servers and 50,000 buyers (median of 3).
 * - costPlusPerSecond: `costPlus` of a CDN server with lottery gas; honestyChecksPerSecond: `honestyCondition`.
 */
import { pathToFileURL } from 'node:url'
import { seededRng } from '../src/crypto/rng.js'
import { REDEEM_GAS, competitivePrice, costPlus, discoverPrice, honestyCondition, randomMarket, type DiscoverPriceOptions } from '../src/market/pricing.js'

const MARKETS = 21
const now = () => performance.now()
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * q))]
const r3 = (x: number) => Math.round(x * 1000) / 1000

function markets() {
  return Array.from({ length: MARKETS }, (_, k) => randomMarket(seededRng(`bench/market-pricing/${k}`), { servers: 50, buyers: 200 }))
}

/** Runs the loop on every market with `extra` options; rounds (the budget when not converged) and the runs. */
function runAll(extra: Partial<DiscoverPriceOptions>) {
  return markets().map((m, k) => discoverPrice({ ...m, rng: seededRng(`bench/market-pricing/loop/${k}`), ...extra }))
}

/** Mean traded price of the last `n` rounds above the competitive midpoint, in %. */
function premiumPct(r: ReturnType<typeof discoverPrice>, n: number): number {
  const tail = r.path.slice(-n)
  const mean = tail.reduce((a, p) => a + Number(p.mean), 0) / tail.length
  return (mean / Number(r.competitive.price) - 1) * 100
}

/** Calls per second of `fn`, for about `ms` milliseconds. */
function rate(fn: () => void, ms = 300): number {
  let calls = 0
  const start = now()
  let t = start
  while (t - start < ms) {
    for (let i = 0; i < 16; i++) fn()
    calls += 16
    t = now()
  }
  return (calls * 1000) / (t - start)
}

export async function benchPricing(): Promise<Record<string, number>> {
  const t0 = now()
  const adaptive = runAll({})
  const adaptiveMs = now() - t0
  const rounds = adaptive.map((r) => r.rounds)
  const played = adaptive.reduce((a, r) => a + r.played, 0)
  const fixed = runAll({ step: { initial: 0.01, adapt: false } }).map((r) => r.rounds)
  const own = runAll({ noOvertaking: false, maxRounds: 200 })
  const withhold = runAll({ targetUtilization: 0.8, maxRounds: 200 })

  const big = randomMarket(seededRng('bench/market-pricing/50k'), { servers: 50_000, buyers: 50_000 })
  const bigMs: number[] = []
  for (let i = 0; i < 3; i++) {
    const t = now()
    competitivePrice(big.servers, big.buyers)
    bigMs.push(now() - t)
  }
  const cdn = { service: 'cdn', chunkBytes: 131_072n, bandwidth: { amount: 10n ** 16n, per: 2n ** 30n }, gas: { gasPrice: 20_000_000_000n, winProb: 0.001, ...REDEEM_GAS } } as const
  const honesty = { price: 10n ** 13n, cost: 2n * 10n ** 12n, cheatGain: 10n ** 15n, detectionProbability: 0.1, discount: 0.99, futureDealsAtReputation: 10, reputationLossOnDetection: 0.5 }

  const converged = adaptive.filter((r) => r.converged).length
  return {
    priceConvergenceRounds: median(rounds),
    priceConvergenceRoundsP90: quantile(rounds, 0.9),
    priceConvergenceRoundsMax: Math.max(...rounds),
    priceMarketsConverged: r3(converged / MARKETS),
    fixedStepConvergenceRounds: median(fixed),
    adaptiveVsFixedRounds: r3(median(rounds) / median(fixed)),
    ownUtilizationConverged: r3(own.filter((r) => r.converged).length / MARKETS),
    ownUtilizationPremiumPct: r3(median(own.map((r) => premiumPct(r, 50)))),
    withholdingPremiumPct: r3(median(withhold.map((r) => premiumPct(r, 50)))),
    discoveryRoundsPerSecond: Math.round((played * 1000) / adaptiveMs),
    competitivePriceMs50kx50k: r3(median(bigMs)),
    costPlusPerSecond: Math.round(rate(() => costPlus(cdn, 0.2))),
    honestyChecksPerSecond: Math.round(rate(() => honestyCondition(honesty))),
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(JSON.stringify(await benchPricing(), null, 2))
}
