/**
 * Viability assessment: closed-form offload and cost model, sensitivity, Monte Carlo check, presets, reports; and the
 * storage market's own cost model (`./storage.js`: $/TB-month, durability, proving gas, collateral, a verdict); and
 * the compute market's (`./compute.js`: $ per input hour of transcoding, verification, gas, stake, a worker's month).
 *
 * @example
 * ```ts
 * import { assessViability, PRESETS } from './index.js'
 * assessViability(PRESETS['bbc-iplayer'].inputs).offload // ≈ 0.80
 * ```
 */
export * from './schema.js'
export * from './model.js'
export * from './prng.js'
export * from './montecarlo.js'
export * from './presets.js'
export * from './report.js'
export * from './storage.js'
export * from './storage-report.js'
export * from './compute.js'
export * from './compute-report.js'
