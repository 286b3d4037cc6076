/**
 * A small seeded PRNG (mulberry32) and the draws the Monte Carlo needs. Not for cryptography.
 *
 * @example
 * ```ts
 * import { mulberry32, exponential } from './prng.js'
 * const rand = mulberry32(42)
 * exponential(rand, 2) // a draw with mean 1/2
 * ```
 */
export type Rand = () => number

/** mulberry32 by Tommy Ettinger: 32-bit state, period 2^32, uniform in [0, 1). */
export function mulberry32(seed: number): Rand {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** An exponential draw with the given rate (mean 1/rate). */
export function exponential(rand: Rand, rate: number): number {
  return -Math.log(1 - rand()) / rate
}

/** A Poisson draw with mean `mean` (Knuth for small means, normal approximation above 500). */
export function poisson(rand: Rand, mean: number): number {
  if (mean > 500) {
    const u = Math.max(rand(), 1e-300), v = rand()
    return Math.max(0, Math.round(mean + Math.sqrt(mean) * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v)))
  }
  const l = Math.exp(-mean)
  let k = 0, p = 1
  do { k++; p *= rand() } while (p > l)
  return k - 1
}
