/**
 * The storage market's own viability model (issue 12): what a decentralized storage deal costs per TB-month, broken
 * down into storage, bandwidth, proving gas, the capital cost of the provider's collateral and its margin; the ratio
 * to a centralized baseline (S3, Backblaze B2); what a provider earns for its capacity; the probability of losing
 * the file within the deal (independent providers, with or without repair); the probability that proofs detect a
 * lost fraction within a month; and a verdict that names the test that failed and by how much. Pure functions.
 *
 * Per TB of the client's data and month (docs/viability.md § The storage model):
 *   storage    = replicas · diskPerTBMonth
 *   bandwidth  = retrievalFractionPerMonth · egressPerTB
 *   provingGas = replicas · periodsPerMonth · (gasBase / dealsPerProofTx + k · gasPerChallenge(depth)) · usdPerGas / dataTB
 *   collateral = c · price, with c = multipleOfPayment · dealMonths · annualCostOfCapital / 12
 *   margin     = margin · (storage + bandwidth + provingGas + collateral)
 *   price      = (1 + margin) · (storage + bandwidth + provingGas) / (1 − (1 + margin) · c)
 *
 * @example
 * ```ts
 * import { assessStorage, STORAGE_PRESETS } from './storage.js'
 * const r = assessStorage(STORAGE_PRESETS.storage.inputs)
 * r.pricePerTBMonth   // ≈ 10.1 ($ per TB-month) against the baseline's 27.5
 * r.verdict.viable    // true; r.verdict.text says why, or which test failed and by how much
 * ```
 */
import { z } from 'zod'
import { ViabilityInputError } from './schema.js'
import { mulberry32, exponential } from './prng.js'

const rate = (d: string) => z.number().min(0).meta({ description: d })
const positive = (d: string) => z.number().positive().meta({ description: d })
const share = (d: string) => z.number().min(0).max(1).meta({ description: d })
const count = (d: string) => z.int().min(1).meta({ description: d })

export const StorageInputsSchema = z.strictObject({
  deal: z.strictObject({
    dataTB: positive('Data the client stores (TB, decimal: 1 TB = 10^12 bytes). One deal per replica covers all of it.'),
    dealMonths: positive('Length of the deal (months).'),
    replicas: count('Copies, each held by a different provider (independent failures), each proven on its own.'),
  }),
  baseline: z.strictObject({
    pricePerTBMonth: rate('What the centralized baseline charges to store one TB for a month (USD/TB-month; S3 Standard 23, S3 Standard-IA 12.5, Backblaze B2 6).'),
    egressPerTB: rate('What the baseline charges per TB read out: egress plus any retrieval fee (USD/TB; S3 90, S3 IA 100, B2 0 within 3x the data stored).'),
  }),
  provider: z.strictObject({
    diskPerTBMonth: rate("A provider's cost to keep one raw TB for a month: disks and servers amortized, power, space, operations (USD/TB-month)."),
    egressPerTB: rate("A provider's bandwidth cost per TB it serves (USD/TB)."),
    retrievalFractionPerMonth: rate('Share of the stored data read back each month (1/month; 0.05 = 5% of it).'),
    margin: rate("The provider's margin on its costs (0.2 = 20% above cost)."),
  }),
  proving: z.strictObject({
    challengesPerPeriod: count('Leaves challenged in each proof (k).'),
    periodsPerMonth: positive('Proving periods a month (30 = one proof a day per deal).'),
    gasBase: rate('Gas of a proof transaction before its challenges (the 21,000 of any transaction).'),
    gasPerChallenge: rate('Gas per challenged leaf at tree depth 30 with 20-byte nodes (measured: 21,000 + k x 27,000).'),
    gasPerExtraLevel: rate('Gas per tree level beyond (or short of) depth 30: one 20-byte node of calldata at the EIP-7623 floor (20 x 40).'),
    gasPriceGwei: rate('Gas price (gwei).'),
    ethPriceUsd: rate('Price of the gas token (USD).'),
    dealsPerProofTx: count('Deals one proof transaction proves (they share its base gas, not their challenges).'),
  }),
  collateral: z.strictObject({
    multipleOfPayment: rate("The provider's collateral as a multiple of the deal's whole payment (Sia: about 2)."),
    annualCostOfCapital: rate('What locking a dollar for a year costs the provider (a year, as a fraction: 0.10 = 10%).'),
  }),
  durability: z.strictObject({
    annualFailureProbability: z.number().min(0).lt(1).meta({ description: 'Probability that one provider loses its copy within a year (disks, operators that quit or vanish).' }),
    repairIntervalMonths: rate('Time to re-create a lost copy from a survivor once a proof has shown it lost (months); null = never repaired.').nullable(),
  }),
  detection: z.strictObject({
    lostFraction: share('Fraction of a replica a cheating or failing provider has lost (f), for the detection probability.'),
  }),
  supply: z.strictObject({
    capacityTB: rate("A provider's raw capacity, all of it rented (TB), for its monthly earnings."),
  }),
  targets: z.strictObject({
    maxProvingShare: share('The verdict: proving gas must stay below this share of the price.'),
    maxLossProbability: share('The verdict: the probability of losing the file within the deal must stay below this.'),
    minMonthlyDetection: share('The verdict: a lost fraction f must be caught within a month with at least this probability.'),
  }),
})
export type StorageInputs = z.output<typeof StorageInputsSchema>
export type StorageTargets = StorageInputs['targets']

function get(o: unknown, path: PropertyKey[]): unknown {
  return path.reduce<unknown>((x, k) => (x && typeof x === 'object' ? (x as Record<PropertyKey, unknown>)[k] : undefined), o)
}

/** Validates storage inputs; throws a `ViabilityInputError` naming every bad input, its value and its allowed range. */
export function parseStorageInputs(raw: unknown): StorageInputs {
  const r = StorageInputsSchema.safeParse(raw)
  if (r.success) return r.data
  const lines = r.error.issues.map((i) => {
    const v = get(raw, i.path)
    return `${i.path.map(String).join('.')}${v === undefined ? '' : ` = ${JSON.stringify(v)}`}: ${i.message}`
  })
  throw new ViabilityInputError(`Invalid storage viability inputs:\n  ${lines.join('\n  ')}`, {
    hints: ['sizes, prices and gas are non-negative; probabilities and shares lie in [0, 1] (a provider\'s annual failure probability below 1); replicas, challenges and deals per transaction are whole numbers >= 1'],
  })
}

/** Every numeric storage input as a dotted path, in a stable order (`--set`, sensitivity). */
export function storageInputPaths(inputs: StorageInputs): string[] {
  const out: string[] = []
  for (const [g, obj] of Object.entries(inputs)) for (const [k, v] of Object.entries(obj)) if (typeof v === 'number') out.push(`${g}.${k}`)
  return out
}

export function getStorageInput(inputs: StorageInputs, path: string): number | null {
  const [g, k] = path.split('.')
  return (inputs as unknown as Record<string, Record<string, number | null>>)[g]?.[k] ?? null
}

/** Returns a copy with one input replaced (not validated; call `parseStorageInputs` on user values). */
export function withStorageInput(inputs: StorageInputs, path: string, value: number | null): StorageInputs {
  const [g, k] = path.split('.')
  const copy = structuredClone(inputs) as unknown as Record<string, Record<string, number | null>>
  if (!copy[g] || !(k in copy[g])) throw new ViabilityInputError(`Unknown storage viability input "${path}"`, { hints: [`use one of: ${Object.entries(inputs).flatMap(([gg, o]) => Object.keys(o).map((kk) => `${gg}.${kk}`)).join(', ')}`] })
  copy[g][k] = value
  return copy as unknown as StorageInputs
}

/** Decimal terabyte, as providers bill. */
export const BYTES_PER_TB = 1e12
/** Bytes of data per leaf of the storage tree (as `src/proofs/storage`). */
export const STORAGE_LEAF_BYTES = 32
/** Tree depth at which `gasPerChallenge` was measured. */
export const MEASURED_PROOF_DEPTH = 30

/** Depth of the storage tree over `dataTB` of 32-byte leaves: ceil(log2(leaves)). */
export function storageTreeDepth(dataTB: number): number {
  const leaves = Math.ceil((dataTB * BYTES_PER_TB) / STORAGE_LEAF_BYTES)
  return leaves <= 1 ? 0 : Math.ceil(Math.log2(leaves))
}

/** P(a lost fraction f is hit by at least one of `challenges` uniform challenges) = 1 − (1 − f)^challenges. */
export function detectionWithin(lostFraction: number, challenges: number): number {
  return 1 - Math.pow(1 - lostFraction, challenges)
}

/**
 * Probability of losing every copy within `months`: r copies at independent providers, each failing as a Poisson
 * process of rate λ = −ln(1 − annualFailureProbability)/12 a month. Without repair: (1 − e^−λT)^r. With repair, a
 * lost copy is down for `downMonths` (detection + re-creation) and then back; the file is lost when a copy fails
 * while the r − 1 others are down. In steady state each copy is down a share d = λR/(1 + λR) of the time and fails
 * at rate λ(1 − d), so losses come at rate r·λ·(1 − d)·d^(r−1) and P = 1 − exp(−T·rate), never above the
 * no-repair figure. One copy cannot be repaired (nothing survives to copy from).
 */
export function lossProbability(o: { replicas: number; annualFailureProbability: number; months: number; downMonths: number | null }): { withRepair: number; noRepair: number; failureRatePerMonth: number } {
  const lambda = -Math.log1p(-o.annualFailureProbability) / 12
  const r = o.replicas, T = o.months
  const noRepair = Math.pow(-Math.expm1(-lambda * T), r)
  if (o.downMonths === null || r === 1) return { withRepair: noRepair, noRepair, failureRatePerMonth: lambda }
  const lr = lambda * o.downMonths
  const d = lr / (1 + lr)
  const lossRate = r * lambda * (1 - d) * Math.pow(d, r - 1)
  return { withRepair: Math.min(noRepair, -Math.expm1(-T * lossRate)), noRepair, failureRatePerMonth: lambda }
}

export type VerdictTestName = 'price' | 'proving-gas' | 'durability' | 'detection'

export interface VerdictTest {
  name: VerdictTestName
  passed: boolean
  value: number
  limit: number
  /** value / limit (detection: the miss probability over the allowed miss). Above 1 (price, gas, loss: at 1 too) the test fails. */
  ratio: number
  detail: string
}

export interface StorageVerdict {
  viable: boolean
  tests: VerdictTest[]
  failed: VerdictTestName[]
  /** One line: VIABLE, or NOT VIABLE and each failed test with how far it missed. */
  text: string
}

/** What the verdict reads from a result. */
export interface VerdictFigures {
  pricePerTBMonth: number
  baselinePerTBMonth: number
  /** Proving gas / price. */
  provingShare: number
  lossProbability: number
  monthlyDetectionProbability: number
  /** Set when no finite price covers the collateral's capital cost. */
  infeasibleReason?: string
}

const ratioOf = (value: number, limit: number) => (limit > 0 ? value / limit : value > 0 ? Infinity : 0)
const times = (x: number) => (!Number.isFinite(x) ? 'infinitely many times' : x >= 100 ? `${x.toPrecision(3)}x` : `${x.toFixed(2)}x`)
const sci = (x: number) => (x === 0 ? '0' : x >= 0.001 ? x.toPrecision(3) : x.toExponential(2))
const pctS = (x: number) => `${(100 * x).toFixed(x < 0.001 ? 3 : 1)}%`
const money = (x: number) => (Number.isFinite(x) ? `$${x.toFixed(2)}` : 'no finite price')

/**
 * The market is viable only if its price per TB-month is below the baseline's, proving gas is below
 * `maxProvingShare` of the price, the file's loss probability over the deal is below `maxLossProbability`, and a lost
 * fraction is detected within a month with at least `minMonthlyDetection` (without this last test a market that
 * proves nothing would pass the gas test for free).
 */
export function storageVerdict(f: VerdictFigures, t: StorageTargets): StorageVerdict {
  const priceRatio = f.infeasibleReason ? Infinity : ratioOf(f.pricePerTBMonth, f.baselinePerTBMonth)
  const gasRatio = ratioOf(f.provingShare, t.maxProvingShare)
  const lossRatio = ratioOf(f.lossProbability, t.maxLossProbability)
  const miss = 1 - f.monthlyDetectionProbability, allowed = 1 - t.minMonthlyDetection
  const detRatio = allowed > 0 ? miss / allowed : miss > 0 ? Infinity : 0
  const tests: VerdictTest[] = [
    {
      name: 'price', passed: priceRatio < 1, value: f.pricePerTBMonth, limit: f.baselinePerTBMonth, ratio: priceRatio,
      detail: f.infeasibleReason
        ? `price: ${f.infeasibleReason}`
        : priceRatio < 1
          ? `price ${money(f.pricePerTBMonth)}/TB-month is ${times(priceRatio)} the baseline's ${money(f.baselinePerTBMonth)} (saves ${pctS(1 - priceRatio)})`
          : `price ${money(f.pricePerTBMonth)}/TB-month is ${times(priceRatio)} the baseline's ${money(f.baselinePerTBMonth)}: ${money(f.pricePerTBMonth - f.baselinePerTBMonth)} (${pctS(priceRatio - 1)}) above it`,
    },
    {
      name: 'proving-gas', passed: gasRatio < 1, value: f.provingShare, limit: t.maxProvingShare, ratio: gasRatio,
      detail: `proving gas is ${pctS(f.provingShare)} of the price, ${gasRatio < 1 ? 'under' : times(gasRatio)} the ${pctS(t.maxProvingShare)} limit`,
    },
    {
      name: 'durability', passed: lossRatio < 1, value: f.lossProbability, limit: t.maxLossProbability, ratio: lossRatio,
      detail: `loss probability over the deal ${sci(f.lossProbability)} is ${times(lossRatio)} the target ${sci(t.maxLossProbability)}`,
    },
    {
      name: 'detection', passed: detRatio <= 1, value: f.monthlyDetectionProbability, limit: t.minMonthlyDetection, ratio: detRatio,
      detail: detRatio <= 1
        ? `a lost fraction is caught within a month with ${pctS(f.monthlyDetectionProbability)} (at least ${pctS(t.minMonthlyDetection)})`
        : `a lost fraction is caught within a month with only ${pctS(f.monthlyDetectionProbability)}, below ${pctS(t.minMonthlyDetection)}: it escapes ${pctS(miss)} of the time, ${times(detRatio)} the ${pctS(allowed)} allowed`,
    },
  ]
  const failed = tests.filter((x) => !x.passed).map((x) => x.name)
  const text = failed.length === 0
    ? `VIABLE: ${tests.map((x) => x.detail).join('; ')}`
    : `NOT VIABLE (${failed.join(', ')} failed): ${tests.filter((x) => !x.passed).map((x) => x.detail).join('; ')}`
  return { viable: failed.length === 0, tests, failed, text }
}

/** USD per TB of the client's data per month. */
export interface StorageBreakdown {
  storage: number
  bandwidth: number
  provingGas: number
  collateral: number
  margin: number
}

export interface StorageResult {
  /** Depth of each replica's storage tree, and the gas of one challenge at that depth. */
  treeDepth: number
  gasPerChallenge: number
  /** Gas one deal's proof costs per period (its share of the transaction's base gas + its challenges). */
  gasPerDealProof: number
  /** USD of one deal's proof per period. */
  usdPerDealProof: number
  breakdown: StorageBreakdown
  /** What the client pays per TB-month; Infinity (null in JSON) when no price covers the collateral's capital cost. */
  pricePerTBMonth: number
  feasible: boolean
  /** (1 + margin) · c: the share of the price the collateral's capital cost (with margin on it) takes; must be < 1. */
  collateralLoad: number
  /** The baseline per TB-month: its storage price + its egress for the same reads. */
  baselinePerTBMonth: number
  /** price / baseline, and 1 − that. */
  priceToBaseline: number
  saving: number
  provingShare: number
  /** What the client pays for the whole deal (USD). */
  dealCostUsd: number
  /** Supply side, per raw TB a provider holds (one replica's TB) and for its whole capacity. */
  provider: { revenuePerTBMonth: number; costPerTBMonth: number; profitPerTBMonth: number; revenuePerMonth: number; profitPerMonth: number; collateralLockedUsd: number }
  failureRatePerMonth: number
  /** Months a lost copy stays lost: one proving period to be caught + the repair interval (null without repair). */
  downMonths: number | null
  lossProbability: number
  lossProbabilityNoRepair: number
  monthlyDetectionProbability: number
  verdict: StorageVerdict
}

export function assessStorage(inputs: StorageInputs): StorageResult {
  const { deal, baseline, provider: pv, proving: p, collateral: col, durability: dur, detection, supply, targets } = inputs
  const r = deal.replicas
  const treeDepth = storageTreeDepth(deal.dataTB)
  const gasPerChallenge = Math.max(0, p.gasPerChallenge + p.gasPerExtraLevel * (treeDepth - MEASURED_PROOF_DEPTH))
  const gasPerDealProof = p.gasBase / p.dealsPerProofTx + p.challengesPerPeriod * gasPerChallenge
  const usdPerGas = p.gasPriceGwei * 1e-9 * p.ethPriceUsd
  const usdPerDealProof = gasPerDealProof * usdPerGas
  const storage = r * pv.diskPerTBMonth
  const bandwidth = pv.retrievalFractionPerMonth * pv.egressPerTB
  const provingGas = (r * p.periodsPerMonth * usdPerDealProof) / deal.dataTB
  const direct = storage + bandwidth + provingGas
  const c = (col.multipleOfPayment * deal.dealMonths * col.annualCostOfCapital) / 12
  const collateralLoad = (1 + pv.margin) * c
  const feasible = collateralLoad < 1
  const price = feasible ? ((1 + pv.margin) * direct) / (1 - collateralLoad) : Infinity
  const collateral = feasible ? c * price : Infinity
  const margin = feasible ? pv.margin * (direct + collateral) : Infinity
  const baselinePerTBMonth = baseline.pricePerTBMonth + pv.retrievalFractionPerMonth * baseline.egressPerTB
  const priceToBaseline = feasible ? ratioOf(price, baselinePerTBMonth) : Infinity
  const provingShare = feasible && price > 0 ? provingGas / price : 0
  const downMonths = dur.repairIntervalMonths === null ? null : dur.repairIntervalMonths + 1 / p.periodsPerMonth
  const loss = lossProbability({ replicas: r, annualFailureProbability: dur.annualFailureProbability, months: deal.dealMonths, downMonths })
  const monthlyDetectionProbability = detectionWithin(detection.lostFraction, p.challengesPerPeriod * p.periodsPerMonth)
  const perRaw = (x: number) => x / r
  const infeasibleReason = feasible ? undefined : `no price covers the collateral's capital cost: (1 + margin) x multiple x months x rate / 12 = ${collateralLoad.toFixed(3)}, must be below 1`
  const verdict = storageVerdict({ pricePerTBMonth: price, baselinePerTBMonth, provingShare, lossProbability: loss.withRepair, monthlyDetectionProbability, infeasibleReason }, targets)
  return {
    treeDepth, gasPerChallenge, gasPerDealProof, usdPerDealProof,
    breakdown: { storage, bandwidth, provingGas, collateral, margin },
    pricePerTBMonth: price, feasible, collateralLoad, baselinePerTBMonth, priceToBaseline, saving: 1 - priceToBaseline, provingShare,
    dealCostUsd: price * deal.dataTB * deal.dealMonths,
    provider: {
      revenuePerTBMonth: perRaw(price), costPerTBMonth: perRaw(direct + collateral), profitPerTBMonth: perRaw(margin),
      revenuePerMonth: perRaw(price) * supply.capacityTB, profitPerMonth: perRaw(margin) * supply.capacityTB,
      collateralLockedUsd: col.multipleOfPayment * perRaw(price) * deal.dealMonths * supply.capacityTB,
    },
    failureRatePerMonth: loss.failureRatePerMonth, downMonths, lossProbability: loss.withRepair, lossProbabilityNoRepair: loss.noRepair,
    monthlyDetectionProbability, verdict,
  }
}

export const STORAGE_SENSITIVITY_OUTPUTS = ['pricePerTBMonth', 'priceToBaseline', 'provingShare', 'lossProbability', 'monthlyDetectionProbability'] as const
export type StorageSensitivityOutput = (typeof STORAGE_SENSITIVITY_OUTPUTS)[number]

export interface StorageSensitivityRow {
  input: string
  base: number
  low: number
  high: number
  outputs: Record<StorageSensitivityOutput, { low: number; high: number; base: number }>
  /** The verdict at the low and the high input: viable, and the tests that failed. */
  verdict: { low: { viable: boolean; failed: VerdictTestName[] }; high: { viable: boolean; failed: VerdictTestName[] } }
  /** The largest test ratio (the binding test: above 1 fails) at base, low and high. */
  binding: { base: number; low: number; high: number }
  /** The ±delta flips the verdict (either way). */
  flips: boolean
  /** |log10(binding high) − log10(binding low)|: how far the input moves the verdict's tightest test. */
  moves: number
  /** The same for each test's own ratio (orders of magnitude between low and high). */
  testMoves: Record<VerdictTestName, number>
}

const INTEGER_STORAGE_INPUTS = new Set(['deal.replicas', 'proving.challengesPerPeriod', 'proving.dealsPerProofTx'])
const SHARE_STORAGE_INPUTS = new Set(['detection.lostFraction'])

function clampStorageInput(path: string, v: number): number {
  if (SHARE_STORAGE_INPUTS.has(path)) v = Math.min(1, v)
  if (path === 'durability.annualFailureProbability') v = Math.min(0.999999, v)
  if (INTEGER_STORAGE_INPUTS.has(path)) v = Math.max(1, Math.round(v))
  return Math.max(0, v)
}

const binding = (v: StorageVerdict) => Math.max(...v.tests.map((x) => x.ratio))
const log10Gap = (a: number, b: number) => {
  if (a === b) return 0
  const g = Math.abs(Math.log10(Math.max(a, 1e-300)) - Math.log10(Math.max(b, 1e-300)))
  return Number.isNaN(g) ? 0 : g
}

/**
 * One-at-a-time sensitivity: each numeric input (not the verdict's targets) at ×(1 − delta) and ×(1 + delta), the
 * others at base, clamped to its valid range. Sorted: inputs that flip the verdict first, then by how far they move
 * its tightest test, then by how far they move any test.
 */
export function storageSensitivity(inputs: StorageInputs, delta = 0.2): StorageSensitivityRow[] {
  const base = assessStorage(inputs)
  const rows = storageInputPaths(inputs).filter((p) => !p.startsWith('targets.')).map((input) => {
    const b = getStorageInput(inputs, input)!
    const low = clampStorageInput(input, b * (1 - delta)), high = clampStorageInput(input, b * (1 + delta))
    const lo = assessStorage(withStorageInput(inputs, input, low)), hi = assessStorage(withStorageInput(inputs, input, high))
    const outputs = Object.fromEntries(STORAGE_SENSITIVITY_OUTPUTS.map((o) => [o, { low: lo[o], high: hi[o], base: base[o] }])) as StorageSensitivityRow['outputs']
    const bl = binding(lo.verdict), bh = binding(hi.verdict)
    const testMoves = Object.fromEntries(base.verdict.tests.map((t, i) => [t.name, log10Gap(lo.verdict.tests[i]!.ratio, hi.verdict.tests[i]!.ratio)])) as Record<VerdictTestName, number>
    return {
      input, base: b, low, high, outputs,
      verdict: { low: { viable: lo.verdict.viable, failed: lo.verdict.failed }, high: { viable: hi.verdict.viable, failed: hi.verdict.failed } },
      binding: { base: binding(base.verdict), low: bl, high: bh },
      flips: lo.verdict.viable !== base.verdict.viable || hi.verdict.viable !== base.verdict.viable,
      moves: log10Gap(bh, bl), testMoves,
    }
  })
  const most = (r: StorageSensitivityRow) => Math.max(...Object.values(r.testMoves))
  return rows.sort((a, b) => Number(b.flips) - Number(a.flips) || b.moves - a.moves || most(b) - most(a) || a.input.localeCompare(b.input))
}

/** A proportion with its Wilson score 95% and 99% intervals (sound at 0 of n too). */
export interface Proportion { hits: number; trials: number; estimate: number; ci95: [number, number]; ci99: [number, number] }

function wilson(hits: number, n: number, z: number): [number, number] {
  if (n === 0) return [0, 1]
  const p = hits / n, z2 = z * z
  const centre = (p + z2 / (2 * n)) / (1 + z2 / n)
  const half = (z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / (1 + z2 / n)
  return [Math.max(0, centre - half), Math.min(1, centre + half)]
}
const proportion = (hits: number, trials: number): Proportion => ({ hits, trials, estimate: trials ? hits / trials : 0, ci95: wilson(hits, trials, 1.959964), ci99: wilson(hits, trials, 2.575829) })

export interface StorageSimulation {
  /** Simulated deals that lost every copy, against the closed form. */
  loss: Proportion & { closedForm: number }
  /** Simulated months in which a provider that lost `lostFraction` was caught by a challenge. */
  detection: Proportion & { closedForm: number }
}

/**
 * Monte Carlo check of the durability and detection formulas. Each simulated deal runs its r copies in continuous
 * time: a copy that is up fails after an exponential time of rate λ; a lost copy comes back `downMonths` later
 * (never without repair); the deal is lost when its last copy fails while the others are down. Each simulated month
 * draws k·periods challenges, each hitting the lost fraction with probability f. Seeded (mulberry32).
 */
export function simulateStorage(inputs: StorageInputs, opts: { deals: number; months?: number; seed: number }): StorageSimulation {
  const rand = mulberry32(opts.seed)
  const base = assessStorage(inputs)
  const r = inputs.deal.replicas, T = inputs.deal.dealMonths, lambda = base.failureRatePerMonth
  const down = base.downMonths === null || r === 1 ? Infinity : base.downMonths
  let losses = 0
  const next = new Float64Array(r), up = new Uint8Array(r)
  for (let d = 0; d < opts.deals; d++) {
    for (let i = 0; i < r; i++) { up[i] = 1; next[i] = lambda > 0 ? exponential(rand, lambda) : Infinity }
    let upCount = r
    for (;;) {
      let j = 0
      for (let i = 1; i < r; i++) if (next[i] < next[j]) j = i
      const t = next[j]
      if (t > T) break
      if (up[j]) {
        up[j] = 0; upCount--
        if (upCount === 0) { losses++; break }
        next[j] = t + down
      } else {
        up[j] = 1; upCount++
        next[j] = t + exponential(rand, lambda)
      }
    }
  }
  const months = opts.months ?? opts.deals
  const n = Math.round(inputs.proving.challengesPerPeriod * inputs.proving.periodsPerMonth), f = inputs.detection.lostFraction
  let caught = 0
  for (let m = 0; m < months; m++) {
    for (let c = 0; c < n; c++) if (rand() < f) { caught++; break }
  }
  return {
    loss: { ...proportion(losses, opts.deals), closedForm: base.lossProbability },
    detection: { ...proportion(caught, months), closedForm: detectionWithin(f, n) },
  }
}

/** Centralized prices to compare with (us-east-1 list prices and Backblaze's published price, 2024; check before relying). */
export const STORAGE_BASELINES: Record<string, { title: string; pricePerTBMonth: number; egressPerTB: number; note: string }> = {
  's3-standard': { title: 'Amazon S3 Standard', pricePerTBMonth: 23, egressPerTB: 90, note: '$0.023/GB-month (first 50 TB), internet egress $0.09/GB (first 10 TB a month)' },
  's3-ia': { title: 'Amazon S3 Standard-IA', pricePerTBMonth: 12.5, egressPerTB: 100, note: '$0.0125/GB-month, retrieval $0.01/GB + egress $0.09/GB' },
  'b2': { title: 'Backblaze B2', pricePerTBMonth: 6, egressPerTB: 0, note: '$6/TB-month, egress free up to 3x the data stored a month ($0.01/GB beyond)' },
}

/** The market's price against each of `STORAGE_BASELINES` for the same reads (retrievalFractionPerMonth). */
export function compareWithBaselines(inputs: StorageInputs, result: StorageResult = assessStorage(inputs)): { name: string; title: string; perTBMonth: number; priceToBaseline: number }[] {
  return Object.entries(STORAGE_BASELINES).map(([name, b]) => {
    const perTBMonth = b.pricePerTBMonth + inputs.provider.retrievalFractionPerMonth * b.egressPerTB
    return { name, title: b.title, perTBMonth, priceToBaseline: result.feasible ? ratioOf(result.pricePerTBMonth, perTBMonth) : Infinity }
  })
}

export interface StoragePreset {
  title: string
  description: string
  /** What `baseline.*` stands for. */
  baselineTitle: string
  inputs: StorageInputs
  source?: string
  assumptions: string[]
}

/** The gas figure measured in this repository for a proof over a depth-30 tree with 20-byte nodes (issue 12). */
const MEASURED = { gasBase: 21_000, gasPerChallenge: 27_000 }
/** EIP-7623's calldata floor: 10 gas per token, a non-zero byte 4 tokens; a 20-byte node is 800 gas. */
const CALLDATA_FLOOR_PER_NONZERO_BYTE = 40

export const STORAGE_PRESETS: Record<string, StoragePreset> = {
  storage: {
    title: 'Decentralized file storage: 10 TB for a year, 3 providers, daily proofs on an L2, against S3 Standard',
    description: 'Storage deals with collateral and on-chain proofs of storage (issue 12) priced from the providers\' costs, against a centralized object store.',
    baselineTitle: STORAGE_BASELINES['s3-standard']!.title,
    source: 'AWS S3 and Backblaze B2 list prices (2024); gas measured in this repository (src/proofs/storage, contracts/StorageMarket.sol); Sia collateral ~2x; Filecoin PDP daily proving',
    assumptions: [
      'deal: 10 TB for 12 months, 3 copies at 3 independent providers, each copy its own deal and proof',
      `baseline: S3 Standard $23/TB-month + $90/TB egress (${STORAGE_BASELINES['s3-standard']!.note})`,
      'provider cost: $2 per raw TB-month (a 20 TB disk at ~$15/TB over 5 years is $0.25; x3 for servers, spares and enclosures; plus power, space and operations; an assumption), bandwidth $5/TB, 5% of the data read a month, 20% margin',
      `proving: k = 16 challenges a day (catches 1% lost within 30 days with 99.2%), ${MEASURED.gasBase.toLocaleString('en-US')} + k x ${MEASURED.gasPerChallenge.toLocaleString('en-US')} gas at depth 30 (measured), ${20 * CALLDATA_FLOOR_PER_NONZERO_BYTE} gas per extra level (EIP-7623 calldata floor for a 20-byte node), 10 deals a transaction, 0.01 gwei at $3000 (an L2; its L1 data fee not counted)`,
      'collateral: 2x the deal\'s payment (Sia), capital at 10% a year (T-bills ~4-5% plus a small operator\'s risk premium)',
      'durability: 5% chance a year that a provider loses its copy (disk AFR ~1.5% in Backblaze\'s drive stats, plus operators that quit); a lost copy re-created within a week of the proof that shows it',
      'targets: proving gas < 10% of the price, loss < 1e-6 over the deal, 1% lost caught within a month with >= 99% (the issue\'s benchmark goal)',
    ],
    inputs: {
      deal: { dataTB: 10, dealMonths: 12, replicas: 3 },
      baseline: { pricePerTBMonth: STORAGE_BASELINES['s3-standard']!.pricePerTBMonth, egressPerTB: STORAGE_BASELINES['s3-standard']!.egressPerTB },
      provider: { diskPerTBMonth: 2, egressPerTB: 5, retrievalFractionPerMonth: 0.05, margin: 0.2 },
      proving: { challengesPerPeriod: 16, periodsPerMonth: 30, ...MEASURED, gasPerExtraLevel: 20 * CALLDATA_FLOOR_PER_NONZERO_BYTE, gasPriceGwei: 0.01, ethPriceUsd: 3000, dealsPerProofTx: 10 },
      collateral: { multipleOfPayment: 2, annualCostOfCapital: 0.1 },
      durability: { annualFailureProbability: 0.05, repairIntervalMonths: 0.25 },
      detection: { lostFraction: 0.01 },
      supply: { capacityTB: 100 },
      targets: { maxProvingShare: 0.1, maxLossProbability: 1e-6, minMonthlyDetection: 0.99 },
    },
  },
}
