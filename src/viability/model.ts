/**
 * The closed-form viability model (protocols.md §9). Per item i of a Zipf catalog: arrival rate
 * λ_i = Λ·p_i / partitions, mean swarm size L_i = λ_i·T_eff (T_eff = watch time shortened by churn), offloaded share
 * G(L) = 1 − (1 − e^−L)/L when peers upload at least the bitrate, scaled by k = min(1, participation·upload/bitrate).
 * Costs: the sponsor pays peers per chunk, the provider for the rest, and on-chain fees amortized over
 * chunks per winning ticket × tickets per batch. Pure functions.
 *
 * @example
 * ```ts
 * import { swarmOffload, assessViability } from './model.js'
 * import { PRESETS } from './presets.js'
 * swarmOffload(10).toFixed(2) // '0.90'
 * swarmOffload(1).toFixed(2)  // '0.37'
 * assessViability(PRESETS['bbc-iplayer'].inputs).offload // ≈ 0.80
 * ```
 */
import type { ViabilityInputs } from './schema.js'
import { inputPaths, getInput, withInput } from './schema.js'

/** Decimal units, as providers bill: 1 GB = 1000 MB. */
export const MB_PER_GB = 1000

/** G(L) = 1 − (1 − e^−L)/L, the share of an item's traffic peers can serve when each uploads ≥ the bitrate. */
export function swarmOffload(meanSwarmSize: number, capacityFactor = 1): number {
  const L = meanSwarmSize
  const g = L < 1e-6 ? L / 2 : 1 + Math.expm1(-L) / L
  return Math.min(1, Math.max(0, capacityFactor)) * g
}

/** k = min(1, participation × upload / bitrate): the share of a viewer's stream the other peers can supply. */
export function capacityFactor(inputs: ViabilityInputs): number {
  return Math.min(1, (inputs.supply.participation * inputs.supply.uploadMbps) / inputs.demand.bitrateMbps)
}

/** Watch time shortened by churn: E[min(T, S)] for exponential T and S is T·S/(T+S). */
export function effectivePresenceSec(inputs: ViabilityInputs): number {
  const T = inputs.demand.watchTimeSec, S = inputs.supply.sessionLengthSec
  return S === null ? T : (T * S) / (T + S)
}

/** Zipf shares p_1..p_C (sum 1). */
export function zipfShares(catalogSize: number, exponent: number): Float64Array {
  const p = new Float64Array(catalogSize)
  let h = 0
  for (let i = 0; i < catalogSize; i++) { p[i] = Math.pow(i + 1, -exponent); h += p[i] }
  for (let i = 0; i < catalogSize; i++) p[i] /= h
  return p
}

export interface RankPoint { rank: number; share: number; arrivalRatePerSec: number; meanSwarmSize: number; offload: number }

export interface ViabilityResult {
  /** Traffic-weighted share served by peers. */
  offload: number
  /** Demand-weighted mean swarm size (per partition). */
  meanSwarmSize: number
  capacityFactor: number
  effectivePresenceSec: number
  /** Offload per popularity rank, at up to ~120 log-spaced ranks. */
  byRank: RankPoint[]
  chunksPerGB: number
  feePerTxUsd: number
  feePerChunkUsd: number
  baselineCostPerGB: number
  sponsorCostPerGB: number
  /** 1 − sponsor / baseline. */
  savings: number
  peerBreakEvenPricePerChunk: number
  /** Above this price per chunk, peers cost the sponsor more than the provider does. */
  sponsorMaxPricePerChunk: number
  peerProfitPerGB: number
  /** The price per chunk lies between the peer's break-even and the sponsor's maximum. */
  viable: boolean
}

function logRanks(n: number, count = 120): number[] {
  const out = new Set<number>([1, n])
  for (let j = 0; j < count; j++) out.add(Math.max(1, Math.min(n, Math.round(Math.exp((Math.log(n) * j) / (count - 1))))))
  return [...out].sort((a, b) => a - b)
}

export function assessViability(inputs: ViabilityInputs, opts: { byRank?: boolean } = {}): ViabilityResult {
  const { demand, supply, costs } = inputs
  const p = zipfShares(demand.catalogSize, demand.zipfExponent)
  const k = capacityFactor(inputs)
  const tEff = effectivePresenceSec(inputs)
  const perPartition = demand.arrivalRatePerSec / supply.swarmPartitions
  let offload = 0, meanL = 0
  for (let i = 0; i < p.length; i++) {
    const L = perPartition * p[i] * tEff
    offload += p[i] * swarmOffload(L, k)
    meanL += p[i] * L
  }
  const byRank = opts.byRank === false ? [] : logRanks(demand.catalogSize).map((rank) => {
    const share = p[rank - 1], L = perPartition * share * tEff
    return { rank, share, arrivalRatePerSec: demand.arrivalRatePerSec * share, meanSwarmSize: L, offload: swarmOffload(L, k) }
  })
  const chunksPerGB = MB_PER_GB / costs.chunkSizeMB
  const feePerTxUsd = costs.gasPerRedeemTx * costs.gasPriceGwei * 1e-9 * costs.ethPriceUsd
  const feePerChunkUsd = feePerTxUsd / (costs.chunksPerWinningTicket * costs.batchSize)
  const peerPerGB = (costs.pricePerChunk + feePerChunkUsd) * chunksPerGB
  const sponsorCostPerGB = (1 - offload) * costs.providerPricePerGB + offload * peerPerGB
  const peerBreakEvenPricePerChunk = costs.peerCostPerGB / chunksPerGB
  const sponsorMaxPricePerChunk = costs.providerPricePerGB / chunksPerGB - feePerChunkUsd
  return {
    offload, meanSwarmSize: meanL, capacityFactor: k, effectivePresenceSec: tEff, byRank, chunksPerGB, feePerTxUsd, feePerChunkUsd,
    baselineCostPerGB: costs.providerPricePerGB, sponsorCostPerGB,
    savings: costs.providerPricePerGB > 0 ? 1 - sponsorCostPerGB / costs.providerPricePerGB : 0,
    peerBreakEvenPricePerChunk, sponsorMaxPricePerChunk,
    peerProfitPerGB: (costs.pricePerChunk - peerBreakEvenPricePerChunk) * chunksPerGB,
    viable: costs.pricePerChunk >= peerBreakEvenPricePerChunk && costs.pricePerChunk <= sponsorMaxPricePerChunk,
  }
}

export const SENSITIVITY_OUTPUTS = ['offload', 'sponsorCostPerGB', 'savings', 'peerBreakEvenPricePerChunk'] as const
export type SensitivityOutput = (typeof SENSITIVITY_OUTPUTS)[number]

export interface SensitivityRow {
  input: string
  base: number
  low: number
  high: number
  /** Output values at the low and the high input. */
  outputs: Record<SensitivityOutput, { low: number; high: number; base: number }>
}

const INTEGER_INPUTS = new Set(['demand.catalogSize', 'supply.swarmPartitions', 'costs.batchSize'])
const MIN_ONE_INPUTS = new Set(['costs.chunksPerWinningTicket', ...INTEGER_INPUTS])

/** Clamps a perturbed input to its valid range (shares at most 1, counts whole and at least 1). */
function clampInput(path: string, v: number): number {
  if (path === 'supply.participation') v = Math.min(1, v)
  if (INTEGER_INPUTS.has(path)) v = Math.round(v)
  if (MIN_ONE_INPUTS.has(path)) v = Math.max(1, v)
  return Math.max(0, v)
}

/** One-at-a-time sensitivity: each numeric input at ×(1 − delta) and ×(1 + delta), all others at base. */
export function sensitivity(inputs: ViabilityInputs, delta = 0.2): SensitivityRow[] {
  const base = assessViability(inputs, { byRank: false })
  return inputPaths(inputs).map((input) => {
    const b = getInput(inputs, input)
    const low = clampInput(input, b * (1 - delta)), high = clampInput(input, b * (1 + delta))
    const lo = assessViability(withInput(inputs, input, low), { byRank: false })
    const hi = assessViability(withInput(inputs, input, high), { byRank: false })
    const outputs = Object.fromEntries(SENSITIVITY_OUTPUTS.map((o) => [o, { low: lo[o], high: hi[o], base: base[o] }])) as SensitivityRow['outputs']
    return { input, base: b, low, high, outputs }
  })
}

/** Offload of a swarm as a function of its mean size, for the plot. */
export function offloadCurve(k: number, from = 0.01, to = 1000, points = 150): { meanSwarmSize: number; offload: number }[] {
  return Array.from({ length: points }, (_, j) => {
    const L = from * Math.pow(to / from, j / (points - 1))
    return { meanSwarmSize: L, offload: swarmOffload(L, k) }
  })
}

/** Sponsor cost per GB as the price per chunk varies from 0 to `maxFactor` × the sponsor's maximum. */
export function costCurve(inputs: ViabilityInputs, points = 60, maxFactor = 2): { pricePerChunk: number; sponsorCostPerGB: number; baselineCostPerGB: number }[] {
  const r = assessViability(inputs, { byRank: false })
  const top = Math.max(r.sponsorMaxPricePerChunk, inputs.costs.pricePerChunk, r.peerBreakEvenPricePerChunk) * maxFactor || 1e-6
  return Array.from({ length: points }, (_, j) => {
    const price = (top * j) / (points - 1)
    const peerPerGB = (price + r.feePerChunkUsd) * r.chunksPerGB
    return { pricePerChunk: price, sponsorCostPerGB: (1 - r.offload) * r.baselineCostPerGB + r.offload * peerPerGB, baselineCostPerGB: r.baselineCostPerGB }
  })
}
