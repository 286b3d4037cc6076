/**
 * Monte Carlo check of the closed form: one item's viewers arrive as a Poisson process and stay an exponential
 * time (an M/M/∞ swarm). Whenever at least one viewer is present the provider sends one stream, the others are
 * served by peers, so the offloaded share is 1 − (time with N ≥ 1) / ∫N dt. A 95% confidence interval comes from
 * batch means over equal-length batches.
 *
 * @example
 * ```ts
 * import { simulateSwarm } from './montecarlo.js'
 * const r = simulateSwarm({ arrivalRatePerSec: 1, watchTimeSec: 10, horizonSec: 200_000, seed: 7 })
 * r.offload // ≈ 0.90 = swarmOffload(10); r.ci95 = [lo, hi]
 * ```
 */
import { mulberry32, exponential, poisson } from './prng.js'
import { swarmOffload, zipfShares } from './model.js'

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

export function simulateSwarm(opts: { arrivalRatePerSec: number; watchTimeSec: number; horizonSec: number; seed: number; batches?: number }): SwarmSimulation {
  const { arrivalRatePerSec: lambda, watchTimeSec, horizonSec, seed } = opts
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
  return { offload, ci95: [offload - Z95 * se, offload + Z95 * se], ci99: [offload - Z99 * se, offload + Z99 * se], closedForm: swarmOffload(L), meanSwarmSize: L, events }
}

/** Simulates the `items` most popular items of a Zipf catalog and compares each with the closed form. */
export function simulateCatalog(opts: { catalogSize: number; zipfExponent: number; arrivalRatePerSec: number; watchTimeSec: number; items: number; horizonSec: number; seed: number }): (SwarmSimulation & { rank: number })[] {
  const p = zipfShares(opts.catalogSize, opts.zipfExponent)
  return Array.from({ length: Math.min(opts.items, opts.catalogSize) }, (_, i) => ({
    rank: i + 1,
    ...simulateSwarm({ arrivalRatePerSec: opts.arrivalRatePerSec * p[i], watchTimeSec: opts.watchTimeSec, horizonSec: opts.horizonSec, seed: opts.seed + i }),
  }))
}
