/**
 * Monte Carlo check of the closed form: one item's viewers arrive as a Poisson process and stay an exponential
 * time (an M/M/∞ swarm); each runs the peer client with probability `participation`. With M participants present
 * the provider sends one stream into their swarm and peers upload min(M − 1, r·M) streams (r = `uploadRatio`), so the
 * offloaded share is ∫min((M − 1)⁺, r·M) dt / ∫N dt (at full participation, r ≥ 1: 1 − (time with N ≥ 1) / ∫N dt).
 * A 95% confidence interval comes from batch means over equal-length batches. `summarizeCheck` reads a catalog's
 * checks as one sentence. `simulateViability` is the other Monte Carlo: the model over draws of its uncertain inputs,
 * how often the market is viable and which test fails.
 *
 * @example
 * ```ts
 * import { simulateSwarm } from './montecarlo.js'
 * const r = simulateSwarm({ arrivalRatePerSec: 1, watchTimeSec: 10, horizonSec: 200_000, seed: 7 })
 * r.offload // ≈ 0.90 = swarmOffload(10); r.ci95 = [lo, hi]
 * ```
 */
import { mulberry32, exponential, poisson } from './prng.js'
import { participantOffload, zipfShares, assessViability, clampInput, type SwarmTestName } from './model.js'
import { getInput, withInput, inputPaths, ViabilityInputError, type ViabilityInputs } from './schema.js'

export interface SwarmSimulation {
  offload: number
  ci95: [number, number]
  /** 99% interval: use it when checking several items at once (a Bonferroni-style guard against 1-in-20 misses). */
  ci99: [number, number]
  closedForm: number
  meanSwarmSize: number
  events: number
}

/** z for two-sided 95% and 99% intervals. */
const Z95 = 1.959964
const Z99 = 2.575829

export function simulateSwarm(opts: { arrivalRatePerSec: number; watchTimeSec: number; horizonSec: number; seed: number; batches?: number; participation?: number; uploadRatio?: number }): SwarmSimulation {
  const { arrivalRatePerSec: lambda, watchTimeSec, horizonSec, seed } = opts
  const q = opts.participation ?? 1, r = opts.uploadRatio ?? 1
  if (q < 1 || r < 1) return simulateParticipants({ lambda, watchTimeSec, horizonSec, seed, batches: opts.batches ?? 40, q, r })
  const batches = opts.batches ?? 40
  const mu = 1 / watchTimeSec
  const rand = mulberry32(seed)
  const L = lambda * watchTimeSec
  // Start in the stationary distribution (Poisson(L)) so there is no warm-up bias.
  let n = poisson(rand, L)
  const batchLen = horizonSec / batches
  const demand = new Float64Array(batches), busy = new Float64Array(batches)
  let t = 0, events = 0
  while (t < horizonSec) {
    const total = lambda + n * mu
    const dt = total > 0 ? exponential(rand, total) : horizonSec
    // Spread [t, t + dt) over the batches it covers.
    let s = t
    const end = Math.min(horizonSec, t + dt)
    while (s < end) {
      const b = Math.min(batches - 1, Math.floor(s / batchLen))
      const e = Math.min(end, (b + 1) * batchLen)
      demand[b] += n * (e - s)
      if (n > 0) busy[b] += e - s
      s = e
    }
    t += dt
    events++
    if (rand() * total < lambda) n++
    else n--
  }
  let sumD = 0, sumB = 0
  for (let b = 0; b < batches; b++) { sumD += demand[b]; sumB += busy[b] }
  const offload = sumD > 0 ? 1 - sumB / sumD : 0
  const per = Array.from({ length: batches }, (_, b) => (demand[b] > 0 ? 1 - busy[b] / demand[b] : 0))
  const mean = per.reduce((a, x) => a + x, 0) / batches
  const sd = Math.sqrt(per.reduce((a, x) => a + (x - mean) ** 2, 0) / (batches - 1))
  const se = sd / Math.sqrt(batches)
  return { offload, ci95: [offload - Z95 * se, offload + Z95 * se], ci99: [offload - Z99 * se, offload + Z99 * se], closedForm: participantOffload(L, 1, r), meanSwarmSize: L, events }
}

/** Batch-means estimate of Σserved / Σdemand. */
function batchMeans(served: Float64Array, demand: Float64Array): { offload: number; se: number } {
  const batches = demand.length
  let sumD = 0, sumS = 0
  for (let b = 0; b < batches; b++) { sumD += demand[b]; sumS += served[b] }
  const offload = sumD > 0 ? sumS / sumD : 0
  const per = Array.from({ length: batches }, (_, b) => (demand[b] > 0 ? served[b] / demand[b] : 0))
  const mean = per.reduce((a, x) => a + x, 0) / batches
  const sd = Math.sqrt(per.reduce((a, x) => a + (x - mean) ** 2, 0) / (batches - 1))
  return { offload, se: sd / Math.sqrt(batches) }
}

/** Participants (M) and the others (Z) as two independent M/M/∞ queues (Poisson thinning); peers serve min((M − 1)⁺, r·M). */
function simulateParticipants(o: { lambda: number; watchTimeSec: number; horizonSec: number; seed: number; batches: number; q: number; r: number }): SwarmSimulation {
  const { lambda, watchTimeSec, horizonSec, batches, q, r } = o
  const mu = 1 / watchTimeSec, rand = mulberry32(o.seed), L = lambda * watchTimeSec
  let m = poisson(rand, q * L), z = poisson(rand, (1 - q) * L)
  const batchLen = horizonSec / batches
  const demand = new Float64Array(batches), served = new Float64Array(batches)
  let t = 0, events = 0
  while (t < horizonSec) {
    const total = lambda + (m + z) * mu
    const dt = total > 0 ? exponential(rand, total) : horizonSec
    const peers = m > 0 ? Math.min(m - 1, r * m) : 0
    let s = t
    const end = Math.min(horizonSec, t + dt)
    while (s < end) {
      const b = Math.min(batches - 1, Math.floor(s / batchLen))
      const e = Math.min(end, (b + 1) * batchLen)
      demand[b] += (m + z) * (e - s)
      served[b] += peers * (e - s)
      s = e
    }
    t += dt
    events++
    const u = rand() * total
    if (u < lambda) { if (rand() < q) m++; else z++ }
    else if (u < lambda + m * mu) m--
    else z--
  }
  const { offload, se } = batchMeans(served, demand)
  return { offload, ci95: [offload - Z95 * se, offload + Z95 * se], ci99: [offload - Z99 * se, offload + Z99 * se], closedForm: participantOffload(L, q, r), meanSwarmSize: L, events }
}

/** Simulates the `items` most popular items of a Zipf catalog and compares each with the closed form. */
export function simulateCatalog(opts: { catalogSize: number; zipfExponent: number; arrivalRatePerSec: number; watchTimeSec: number; items: number; horizonSec: number; seed: number; participation?: number; uploadRatio?: number }): (SwarmSimulation & { rank: number })[] {
  const p = zipfShares(opts.catalogSize, opts.zipfExponent)
  return Array.from({ length: Math.min(opts.items, opts.catalogSize) }, (_, i) => ({
    rank: i + 1,
    ...simulateSwarm({ arrivalRatePerSec: opts.arrivalRatePerSec * p[i], watchTimeSec: opts.watchTimeSec, horizonSec: opts.horizonSec, seed: opts.seed + i, participation: opts.participation, uploadRatio: opts.uploadRatio }),
  }))
}

/** A catalog check read as one result: how many items' intervals hold the closed form, and a sentence. */
export interface CheckSummary {
  items: number
  inside95: number
  inside99: number
  /** Largest |simulated − closed form| over the items. */
  maxAbsError: number
  /** The closed form is inside the 99% interval of every item but at most the ~1% expected to miss (at least one allowed). */
  agrees: boolean
  text: string
}

export function summarizeCheck(rows: SwarmSimulation[]): CheckSummary {
  const n = rows.length
  const in95 = rows.filter((m) => m.ci95[0] <= m.closedForm && m.closedForm <= m.ci95[1]).length
  const in99 = rows.filter((m) => m.ci99[0] <= m.closedForm && m.closedForm <= m.ci99[1]).length
  const maxAbsError = rows.reduce((a, m) => Math.max(a, Math.abs(m.offload - m.closedForm)), 0)
  const allowed = Math.max(1, Math.ceil(0.01 * n))
  const agrees = n - in99 <= allowed
  const text = n === 0 ? 'no items simulated'
    : `${agrees ? 'The simulation agrees with the closed form' : 'The simulation DISAGREES with the closed form'}: it lies inside the 95% interval for ${in95} of ${n} items (about ${Math.round(0.95 * n)} expected) and inside the 99% interval for ${in99}; the largest gap is ${(100 * maxAbsError).toFixed(2)} points.`
  return { items: n, inside95: in95, inside99: in99, maxAbsError, agrees, text }
}

/** An uncertain input: drawn log-uniformly between base × low and base × high (clamped to its range). */
export interface SwarmUncertainty { input: string; low: number; high: number; why: string }

/** The default uncertainty: what the presets assume rather than measure, or what moves with markets. */
export const SWARM_UNCERTAINTY: SwarmUncertainty[] = [
  { input: 'demand.zipfExponent', low: 0.8, high: 1.2, why: 'popularity concentration: the input offload is most sensitive to' },
  { input: 'demand.arrivalRatePerSec', low: 0.5, high: 2, why: 'the hour studied: off-peak to a big release' },
  { input: 'demand.watchTimeSec', low: 0.5, high: 1.5, why: 'how much of an item a viewer watches' },
  { input: 'supply.participation', low: 0.4, high: 1, why: 'who installs and keeps the peer client (NATs, opt-outs, browsers without it); at most 1' },
  { input: 'supply.uploadMbps', low: 0.5, high: 2, why: 'residential upload given to the market' },
  { input: 'costs.providerPricePerGB', low: 0.5, high: 1.5, why: 'the CDN price a sponsor negotiates' },
  { input: 'costs.peerCostPerGB', low: 0.25, high: 4, why: 'flat-rate broadband (near zero) to metered or mobile upload' },
  { input: 'costs.gasPriceGwei', low: 0.1, high: 20, why: 'L2 gas varies by orders of magnitude with congestion' },
  { input: 'costs.ethPriceUsd', low: 0.5, high: 2, why: 'the gas token price' },
  { input: 'peer.viewingHoursPerMonth', low: 0.5, high: 2, why: 'how much a participating peer watches, and so serves' },
  { input: 'peer.extraWatts', low: 0.5, high: 3, why: 'an idle laptop to a desktop kept awake' },
  { input: 'peer.electricityPerKWh', low: 0.5, high: 1.5, why: 'US to European household prices' },
]

export interface ViabilityDraw { offload: number; savings: number; peerProfitPerMonth: number; viable: boolean; failed: SwarmTestName[] }

export interface ViabilitySimulation {
  draws: number
  /** Draws that were viable, with a Wilson 95% interval. */
  viable: { hits: number; trials: number; estimate: number; ci95: [number, number] }
  /** Draws in which each test failed. */
  failedBy: Record<SwarmTestName, number>
  offload: { p05: number; p50: number; p95: number }
  savings: { p05: number; p50: number; p95: number }
  peerProfitPerMonth: { p05: number; p50: number; p95: number }
  /** Every draw's figures (for the plot). */
  points: ViabilityDraw[]
  uncertainty: SwarmUncertainty[]
  /** The verdict over the draws, as a sentence. */
  text: string
}

function wilson(hits: number, n: number, z: number): [number, number] {
  if (n === 0) return [0, 1]
  const p = hits / n, z2 = z * z
  const centre = (p + z2 / (2 * n)) / (1 + z2 / n)
  const half = (z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / (1 + z2 / n)
  return [Math.max(0, centre - half), Math.min(1, centre + half)]
}
const quantile = (sorted: number[], q: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))))]! : NaN)
const q3 = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return { p05: quantile(s, 0.05), p50: quantile(s, 0.5), p95: quantile(s, 0.95) } }

/** "Viable in 62.3% of 1,000 draws (95% CI 59.3-65.3%): likely but not robust; when it fails, offload fails most (310 draws)". */
export function monteCarloVerdictText(m: Pick<ViabilitySimulation, 'draws' | 'viable' | 'failedBy'>): string {
  const p = m.viable.estimate
  const pc = (x: number) => `${(100 * x).toFixed(1)}%`
  const word = p >= 0.9 ? 'robust: the market is viable across the plausible inputs' : p >= 0.5 ? 'likely but not robust: a fair share of plausible inputs break it' : p >= 0.1 ? 'unlikely: most plausible inputs break it' : 'not viable in almost any plausible world'
  const worst = (Object.entries(m.failedBy) as [SwarmTestName, number][]).sort((a, b) => b[1] - a[1])[0]
  const fails = worst && worst[1] > 0 ? `; when it fails, ${worst[0]} fails most (${worst[1].toLocaleString('en-US')} draws)` : ''
  return `Viable in ${pc(p)} of ${m.draws.toLocaleString('en-US')} draws (95% CI ${pc(m.viable.ci95[0])}-${pc(m.viable.ci95[1])}): ${word}${fails}.`
}

/**
 * Monte Carlo over the uncertain inputs: each draw multiplies every input of `uncertainty` by a log-uniform factor
 * in [low, high] (independently; seeded mulberry32), clamps it to its range (participation at most 1) and runs the
 * model. Inputs that are null (no churn) are left alone. Reports how often the market is viable, which test fails
 * how often, and the 5/50/95% quantiles of offload, savings and a peer's monthly profit.
 */
export function simulateViability(inputs: ViabilityInputs, opts: { draws: number; seed: number; uncertainty?: SwarmUncertainty[] }): ViabilitySimulation {
  const rand = mulberry32(opts.seed)
  const unc = opts.uncertainty ?? SWARM_UNCERTAINTY
  const known = new Set(inputPaths(inputs))
  for (const u of unc) {
    const [g, k] = u.input.split('.')
    if (!known.has(u.input) && !(g in inputs && k in (inputs as unknown as Record<string, object>)[g])) throw new ViabilityInputError(`Unknown viability input "${u.input}" in the Monte Carlo's uncertainty`, { hints: [`use one of: ${[...known].join(', ')}`] })
  }
  const points: ViabilityDraw[] = []
  const failedBy: Record<SwarmTestName, number> = { offload: 0, savings: 0, 'peer-earnings': 0 }
  let hits = 0
  for (let d = 0; d < opts.draws; d++) {
    let x = inputs
    for (const u of unc) {
      const f = u.low * Math.pow(u.high / u.low, rand())
      const b = getInput(inputs, u.input)
      if (typeof b === 'number') x = withInput(x, u.input, clampInput(u.input, b * f))
    }
    const r = assessViability(x, { byRank: false })
    if (r.verdict.viable) hits++
    for (const t of r.verdict.failed) failedBy[t]++
    points.push({ offload: r.offload, savings: r.savings, peerProfitPerMonth: r.supply.profitPerMonth, viable: r.verdict.viable, failed: r.verdict.failed })
  }
  const viable = { hits, trials: opts.draws, estimate: opts.draws ? hits / opts.draws : 0, ci95: wilson(hits, opts.draws, 1.959964) }
  const out = {
    draws: opts.draws, viable, failedBy,
    offload: q3(points.map((p) => p.offload)), savings: q3(points.map((p) => p.savings)), peerProfitPerMonth: q3(points.map((p) => p.peerProfitPerMonth)),
    points, uncertainty: unc,
  }
  return { ...out, text: monteCarloVerdictText(out) }
}
