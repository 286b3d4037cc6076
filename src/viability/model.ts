/**
 * The closed-form viability model (protocols.md §9). Per item i of a Zipf catalog: arrival rate
 * λ_i = Λ·p_i / partitions, mean swarm size L_i = λ_i·T_eff (T_eff = watch time shortened by churn). Each viewer runs
 * the peer client with probability q (participation), independently, so the participants present are Poisson(q·L_i);
 * non-participants are served by the provider. With M participants the provider sends one stream and the others
 * upload min(M − 1, r·M) streams (r = upload / bitrate): offload_i = E[min((M − 1)⁺, r·M)] / L_i, which is
 * G(L) = 1 − (1 − e^−L)/L at q = 1 and r ≥ 1. Costs: the sponsor pays peers per chunk, the provider for the rest, and
 * on-chain fees amortized over chunks per winning ticket × tickets per batch. Supply side: what one participating peer
 * uploads, earns and spends a month. The verdict: offload, sponsor savings and the peer's profit, each against its
 * target, naming the one that fails. Pure functions.
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

/**
 * E[min((M − 1)⁺, r·M)] / L for M ~ Poisson(q·L): the share of a swarm's traffic peers serve when each of its L
 * viewers (on average) runs the peer client with probability q and participants upload r times the bitrate. The
 * provider sends one stream into the participants' swarm and all of the non-participants' streams. Increasing in q
 * and in L; equals `swarmOffload(L)` at q = 1, r ≥ 1.
 */
export function participantOffload(meanSwarmSize: number, participation = 1, uploadRatio = 1): number {
  const L = meanSwarmSize, q = Math.min(1, Math.max(0, participation)), r = Math.max(0, uploadRatio)
  const mu = q * L
  if (!(L > 0) || !(mu > 0) || r === 0) return 0
  let h: number
  if (r >= 1) {
    // E[(M − 1)⁺] = μ − 1 + e^−μ; a series for small μ, where the subtraction loses every digit.
    h = mu < 1e-4 ? mu * mu * (0.5 - mu / 6 + (mu * mu) / 24) : mu + Math.expm1(-mu)
  } else {
    // min(M − 1, rM) = rM once M ≥ 1/(1 − r): h = rμ + Σ_{m=1}^{m*−1} ((1 − r)m − 1)·P(M = m).
    const mStar = Math.ceil(1 / (1 - r) - 1e-12)
    const mMax = Math.min(mStar - 1, Math.ceil(mu + 40 * Math.sqrt(mu) + 40))
    h = r * mu
    // Past the mode the terms only shrink: stop when they fall below a double's precision of h.
    const tiny = 1e-17 * r * mu
    if (mu < 500) {
      let pm = Math.exp(-mu)
      for (let m = 1; m <= mMax; m++) {
        pm *= mu / m
        if (m > mu && pm < tiny) break
        h += ((1 - r) * m - 1) * pm
      }
    } else {
      let logp = -mu
      const lmu = Math.log(mu), lTiny = Math.log(tiny)
      for (let m = 1; m <= mMax; m++) {
        logp += lmu - Math.log(m)
        if (m > mu && logp < lTiny) break
        h += ((1 - r) * m - 1) * Math.exp(logp)
      }
    }
  }
  return Math.min(1, Math.max(0, h / L))
}

/** r = upload / bitrate: how many streams one participating peer can upload. */
export function uploadRatio(inputs: ViabilityInputs): number {
  return inputs.supply.uploadMbps / inputs.demand.bitrateMbps
}

/** k = min(1, participation × upload / bitrate): the fluid bound on the share of a viewer's stream the other peers can supply. */
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
  /** r = upload / bitrate. */
  uploadRatio: number
  /** The price per chunk lies between the peer's break-even and the sponsor's maximum (what `viable` meant before the verdict). */
  priceInBounds: boolean
  /** What one participating peer uploads, earns and spends. */
  supply: PeerSupply
  /** Offload, sponsor savings and the peer's profit against their targets; `viable` is `verdict.viable`. */
  verdict: SwarmVerdict
  /** All three tests pass (see `verdict`). */
  viable: boolean
}

/** Supply-side figures for one participating peer. */
export interface PeerSupply {
  /** Participating peers online at the modelled hour, over all partitions: q·Λ·T_eff. */
  participantsOnline: number
  /** Mean upload of a participating peer while it watches: offload·bitrate / q (Mbit/s). */
  uploadMbps: number
  /** That upload over the upload capacity it offers (`supply.uploadMbps`). */
  uploadShare: number
  /** Uploaded a month: uploadMbps·viewingHoursPerMonth·3600 / 8000 (GB). */
  gbPerMonth: number
  /** Paid a month: GB·chunks per GB·price per chunk (USD). */
  earningsPerMonth: number
  /** Its costs a month (USD): bandwidth = GB·peerCostPerGB, electricity = extraWatts/1000·hours·price per kWh, hardware. */
  costsPerMonth: { bandwidth: number; electricity: number; hardware: number; total: number }
  profitPerMonth: number
}

export type SwarmTestName = 'offload' | 'savings' | 'peer-earnings'
export interface SwarmTest { name: SwarmTestName; passed: boolean; value: number; limit: number; detail: string }
export interface SwarmVerdict {
  viable: boolean
  tests: SwarmTest[]
  failed: SwarmTestName[]
  /** One line: VIABLE, or NOT VIABLE and each failed test with its figures. */
  text: string
}

const pctS = (x: number) => `${(100 * x).toFixed(Math.abs(x) < 0.001 && x !== 0 ? 3 : 1)}%`
const usdS = (x: number) => (Math.abs(x) >= 1 ? `$${x.toFixed(2)}` : Math.abs(x) >= 0.0001 || x === 0 ? `$${x.toFixed(4)}` : `$${x.toExponential(2)}`)

/**
 * Viable only if all three pass: **offload** at least `targets.minOffload`; **savings** above 0 and at least
 * `targets.minSavings`; **peer-earnings**: a participating peer's monthly earnings above its monthly costs by at
 * least `targets.minPeerProfitPerMonth`. Each failed test is named with its figures.
 */
export function swarmVerdict(f: { offload: number; savings: number; supply: PeerSupply }, t: ViabilityInputs['targets']): SwarmVerdict {
  const s = f.supply
  const tests: SwarmTest[] = [
    {
      name: 'offload', passed: f.offload >= t.minOffload, value: f.offload, limit: t.minOffload,
      detail: f.offload >= t.minOffload ? `peers carry ${pctS(f.offload)} of the traffic (target at least ${pctS(t.minOffload)})` : `offload too low: peers carry ${pctS(f.offload)} of the traffic, below the ${pctS(t.minOffload)} target`,
    },
    {
      name: 'savings', passed: f.savings > 0 && f.savings >= t.minSavings, value: f.savings, limit: t.minSavings,
      detail: f.savings > 0 && f.savings >= t.minSavings ? `the sponsor saves ${pctS(f.savings)} against the provider alone (target at least ${pctS(t.minSavings)})` : f.savings <= 0 ? `no savings: the sponsor pays ${pctS(-f.savings)} more than with the provider alone` : `savings too small: the sponsor saves ${pctS(f.savings)}, below the ${pctS(t.minSavings)} target`,
    },
    {
      name: 'peer-earnings', passed: s.earningsPerMonth > s.costsPerMonth.total && s.profitPerMonth >= t.minPeerProfitPerMonth, value: s.profitPerMonth, limit: t.minPeerProfitPerMonth,
      detail: s.earningsPerMonth > s.costsPerMonth.total && s.profitPerMonth >= t.minPeerProfitPerMonth
        ? `a peer earns ${usdS(s.earningsPerMonth)} a month for ${s.gbPerMonth.toFixed(2)} GB uploaded, above its ${usdS(s.costsPerMonth.total)} of costs (keeps ${usdS(s.profitPerMonth)})`
        : `peers earn less than their costs: ${usdS(s.earningsPerMonth)} a month for ${s.gbPerMonth.toFixed(2)} GB uploaded against ${usdS(s.costsPerMonth.total)} (bandwidth ${usdS(s.costsPerMonth.bandwidth)}, electricity ${usdS(s.costsPerMonth.electricity)}, hardware ${usdS(s.costsPerMonth.hardware)})${s.earningsPerMonth > s.costsPerMonth.total ? `: a profit of ${usdS(s.profitPerMonth)} is below the ${usdS(t.minPeerProfitPerMonth)} target` : ''}`,
    },
  ]
  const failed = tests.filter((x) => !x.passed).map((x) => x.name)
  const text = failed.length === 0
    ? `VIABLE: ${tests.map((x) => x.detail).join('; ')}`
    : `NOT VIABLE (${failed.join(', ')} fail${failed.length === 1 ? 's' : ''}): ${tests.filter((x) => !x.passed).map((x) => x.detail).join('; ')}`
  return { viable: failed.length === 0, tests, failed, text }
}

/** What one participating peer uploads, earns and spends a month, from the offload and the inputs. */
export function peerSupply(inputs: ViabilityInputs, offload: number): PeerSupply {
  const { demand, supply, costs, peer } = inputs
  const q = supply.participation
  const uploadMbps = q > 0 ? (offload * demand.bitrateMbps) / q : 0
  const gbPerMonth = (uploadMbps * peer.viewingHoursPerMonth * 3600) / 8000
  const earningsPerMonth = gbPerMonth * (MB_PER_GB / costs.chunkSizeMB) * costs.pricePerChunk
  const bandwidth = gbPerMonth * costs.peerCostPerGB
  const electricity = (peer.extraWatts / 1000) * peer.viewingHoursPerMonth * peer.electricityPerKWh
  const hardware = peer.hardwareUsdPerMonth
  const total = bandwidth + electricity + hardware
  return {
    participantsOnline: q * demand.arrivalRatePerSec * effectivePresenceSec(inputs),
    uploadMbps, uploadShare: supply.uploadMbps > 0 ? uploadMbps / supply.uploadMbps : 0, gbPerMonth, earningsPerMonth,
    costsPerMonth: { bandwidth, electricity, hardware, total }, profitPerMonth: earningsPerMonth - total,
  }
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
  const r = uploadRatio(inputs), q = supply.participation
  const tEff = effectivePresenceSec(inputs)
  const perPartition = demand.arrivalRatePerSec / supply.swarmPartitions
  let offload = 0, meanL = 0
  for (let i = 0; i < p.length; i++) {
    const L = perPartition * p[i] * tEff
    offload += p[i] * participantOffload(L, q, r)
    meanL += p[i] * L
  }
  const byRank = opts.byRank === false ? [] : logRanks(demand.catalogSize).map((rank) => {
    const share = p[rank - 1], L = perPartition * share * tEff
    return { rank, share, arrivalRatePerSec: demand.arrivalRatePerSec * share, meanSwarmSize: L, offload: participantOffload(L, q, r) }
  })
  const chunksPerGB = MB_PER_GB / costs.chunkSizeMB
  const feePerTxUsd = costs.gasPerRedeemTx * costs.gasPriceGwei * 1e-9 * costs.ethPriceUsd
  const feePerChunkUsd = feePerTxUsd / (costs.chunksPerWinningTicket * costs.batchSize)
  const peerPerGB = (costs.pricePerChunk + feePerChunkUsd) * chunksPerGB
  const sponsorCostPerGB = (1 - offload) * costs.providerPricePerGB + offload * peerPerGB
  const peerBreakEvenPricePerChunk = costs.peerCostPerGB / chunksPerGB
  const sponsorMaxPricePerChunk = costs.providerPricePerGB / chunksPerGB - feePerChunkUsd
  const savings = costs.providerPricePerGB > 0 ? 1 - sponsorCostPerGB / costs.providerPricePerGB : 0
  const supplySide = peerSupply(inputs, offload)
  const verdict = swarmVerdict({ offload, savings, supply: supplySide }, inputs.targets)
  return {
    offload, meanSwarmSize: meanL, capacityFactor: k, effectivePresenceSec: tEff, byRank, chunksPerGB, feePerTxUsd, feePerChunkUsd,
    baselineCostPerGB: costs.providerPricePerGB, sponsorCostPerGB, savings,
    peerBreakEvenPricePerChunk, sponsorMaxPricePerChunk,
    peerProfitPerGB: (costs.pricePerChunk - peerBreakEvenPricePerChunk) * chunksPerGB,
    uploadRatio: r,
    priceInBounds: costs.pricePerChunk >= peerBreakEvenPricePerChunk && costs.pricePerChunk <= sponsorMaxPricePerChunk,
    supply: supplySide, verdict, viable: verdict.viable,
  }
}

export const SENSITIVITY_OUTPUTS = ['offload', 'sponsorCostPerGB', 'savings', 'peerBreakEvenPricePerChunk', 'peerProfitPerMonth'] as const
export type SensitivityOutput = (typeof SENSITIVITY_OUTPUTS)[number]

export interface SensitivityRow {
  input: string
  base: number
  low: number
  high: number
  /** Output values at the low and the high input. */
  outputs: Record<SensitivityOutput, { low: number; high: number; base: number }>
  /** The verdict's failed tests at the low and the high input (empty: viable). */
  verdict: { low: SwarmTestName[]; high: SwarmTestName[] }
}

const INTEGER_INPUTS = new Set(['demand.catalogSize', 'supply.swarmPartitions', 'costs.batchSize'])
const MIN_ONE_INPUTS = new Set(['costs.chunksPerWinningTicket', ...INTEGER_INPUTS])

/** Clamps a perturbed input to its valid range (shares at most 1, counts whole and at least 1). */
export function clampInput(path: string, v: number): number {
  if (path === 'supply.participation') v = Math.min(1, v)
  if (INTEGER_INPUTS.has(path)) v = Math.round(v)
  if (MIN_ONE_INPUTS.has(path)) v = Math.max(1, v)
  return Math.max(0, v)
}

/** One-at-a-time sensitivity: each numeric input at ×(1 − delta) and ×(1 + delta), all others at base. */
export function sensitivity(inputs: ViabilityInputs, delta = 0.2): SensitivityRow[] {
  const base = assessViability(inputs, { byRank: false })
  const value = (r: ViabilityResult, o: SensitivityOutput) => (o === 'peerProfitPerMonth' ? r.supply.profitPerMonth : r[o])
  return inputPaths(inputs).filter((p) => !p.startsWith('targets.')).map((input) => {
    const b = getInput(inputs, input)
    const low = clampInput(input, b * (1 - delta)), high = clampInput(input, b * (1 + delta))
    const lo = assessViability(withInput(inputs, input, low), { byRank: false })
    const hi = assessViability(withInput(inputs, input, high), { byRank: false })
    const outputs = Object.fromEntries(SENSITIVITY_OUTPUTS.map((o) => [o, { low: value(lo, o), high: value(hi, o), base: value(base, o) }])) as SensitivityRow['outputs']
    return { input, base: b, low, high, outputs, verdict: { low: lo.verdict.failed, high: hi.verdict.failed } }
  })
}

/** Offload of a swarm as a function of its mean size at participation q and upload ratio r, for the plot. */
export function participationOffloadCurve(q: number, r: number, from = 0.01, to = 1000, points = 150): { meanSwarmSize: number; offload: number }[] {
  return Array.from({ length: points }, (_, j) => {
    const L = from * Math.pow(to / from, j / (points - 1))
    return { meanSwarmSize: L, offload: participantOffload(L, q, r) }
  })
}

/** Offload of a swarm as a function of its mean size, k·G(L) (the fluid approximation at full participation). */
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
