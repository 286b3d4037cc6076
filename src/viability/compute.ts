/**
 * The compute (transcoding) market's own viability model (issue 13): what a verified, outsourced transcoding job
 * costs per hour of input video, broken down into worker compute, bandwidth, verification, on-chain gas, the capital
 * cost of the worker's stake and its margin; the ratio to a centralized baseline (AWS Elemental MediaConvert, the
 * retired Amazon Elastic Transcoder); what a worker earns a month with a given machine and its break-even
 * utilization; a Monte Carlo over the uncertain inputs; and a verdict that names the test that failed and by how
 * much. Pure functions. Not the video-swarm model: nothing here is a swarm of viewers.
 *
 * Unit: **one hour of input video**, transcoded into `job.profiles` renditions (so `profiles` output hours). A work
 * unit (a leaf of the batch's Merkle tree, `contracts/WorkMarket.sol`) is one segment of `segmentSeconds` in one
 * profile: a job has N = ⌈profiles · 3600 · inputHours / segmentSeconds⌉ units, claimed in ⌈N / n⌉ batches of at most
 * n = unitsPerBatch, each checked at min(k, its units) units; U = N / inputHours units and B = ⌈N / n⌉ / inputHours
 * batches an input hour.
 *
 *   W           = profiles · cpuSecondsPerOutputSecond                      core-hours of work an input hour
 *   compute     = W · (cpuHourUsd + wattsPerCore / 1000 · electricityPerKWh)
 *   dataGB      = (inputMbps + profiles · outputMbpsPerProfile) · 3600 / 8 / 1000
 *   bandwidth   = dataGB · perGB
 *   q           = checks / N                                                (k / n when n divides N)
 *   overhead    = verifiers · q · (1 + comparisonFraction)                  verifier CPU / worker CPU
 *   verification= overhead · compute + verifiers · q · (profiles · inputGB + outputGB) · perGB
 *   gas         = (B · (claimGas + settleGas + faultsPerBatch · faultGas) + (openGas + finalizeGas) / inputHours) · usdPerGas
 *   stake       = c · price, c = slashUnits · slashesCovered · annualCostOfCapital · lockDays / 365 / N
 *   price       = (1 + margin) · (compute + bandwidth + verification + gas) / (1 − (1 + margin) · c)
 *
 * The slash is `slashUnits` unit prices and must meet the contract's deterrence rule
 * `slash × checksPerBatch >= pricePerUnit × maxBatch`, i.e. slashUnits · k >= n; a setting that does not is refused
 * with a {@link ComputeDeterrenceError} (WorkMarketInsufficientDeterrence in the contract). The stake covers
 * `slashesCovered` slashes (the contract's `stake >= slash × (unresolved batches + 1)`).
 *
 * Baselines (list prices per output minute, us-east-1; check before relying):
 * - AWS Elemental MediaConvert, on-demand **Basic tier**, first volume tier: SD $0.0075, HD (720p and up) $0.015 per
 *   normalized output minute, as quoted in issue 13 and in AWS's pricing page
 *   (https://aws.amazon.com/mediaconvert/pricing/; the copies of that page found while writing this did not show the
 *   figures, so they are not independently confirmed here).
 * - Amazon Elastic Transcoder (retired): SD (< 720p) $0.015, HD (>= 720p) $0.030 per output minute in US East
 *   (AWS News Blog, "The New Amazon Elastic Transcoder", 2013: https://aws.amazon.com/blogs/aws/amazon-elastic-transcoder/).
 * - Livepeer: no advertised per-minute transcoding price was found (its current pages price AI pipelines per hour
 *   and transcoding per pixel, set by each orchestrator), so it is left out.
 * The default ladder (one HD rendition, two SD) averages (0.015 + 2 · 0.0075) / 3 = $0.01 per output minute on
 * MediaConvert Basic.
 *
 * @example
 * ```ts
 * import { assessCompute, COMPUTE_PRESETS } from './compute.js'
 * const r = assessCompute(COMPUTE_PRESETS.compute.inputs)
 * r.pricePerInputHour      // ≈ 0.088 ($ per input hour, 3 renditions) against the baseline's 1.80
 * r.verdict.viable         // true; r.verdict.text says why, or which test failed and by how much
 * ```
 */
import { z } from 'zod'
import { ViabilityInputError } from './schema.js'
import { mulberry32 } from './prng.js'

const rate = (d: string) => z.number().min(0).meta({ description: d })
const positive = (d: string) => z.number().positive().meta({ description: d })
const share = (d: string) => z.number().min(0).max(1).meta({ description: d })
const count = (d: string) => z.int().min(1).meta({ description: d })

export const ComputeInputsSchema = z.strictObject({
  job: z.strictObject({
    inputHours: positive('Hours of input video in one job (one openJob and one finalize).'),
    profiles: count('Output renditions each input second is transcoded into (the ladder).'),
    segmentSeconds: positive('Seconds of video in one work unit (one segment in one profile: one leaf of a batch).'),
    lockDays: rate("Days the worker's stake stays locked for one job: transcoding plus the last batch's dispute window."),
  }),
  baseline: z.strictObject({
    perOutputMinute: rate('What the centralized baseline charges per minute of output, averaged over the ladder (USD; MediaConvert Basic SD 0.0075, HD 0.015; Elastic Transcoder SD 0.015, HD 0.03).'),
  }),
  worker: z.strictObject({
    cpuSecondsPerOutputSecond: rate('CPU-seconds of one core per second of output, per profile (measured here: sharp 1080p -> 720p JPEG ~22.5 ms a frame x 24 fps = 0.54).'),
    cpuHourUsd: rate('What a busy core-hour costs the worker: hardware amortized over its busy hours, at a commodity or idle-hardware rate (USD).'),
    wattsPerCore: rate('Extra power one busy core draws (W).'),
    electricityPerKWh: rate('Price of electricity (USD/kWh).'),
    margin: rate("The worker's (and verifier's) margin on its costs (0.2 = 20% above cost)."),
  }),
  bandwidth: z.strictObject({
    inputMbps: rate('Bitrate of the input video the worker downloads (Mbit/s).'),
    outputMbpsPerProfile: rate('Mean bitrate of one output rendition the worker uploads (Mbit/s).'),
    perGB: rate("A worker's (and verifier's) bandwidth cost per GB moved (USD/GB)."),
  }),
  verification: z.strictObject({
    unitsPerBatch: count('Units one work claim covers (n, the terms\' maxBatch; the claim costs the same for 1,024 or 2^20).'),
    checksPerBatch: count('Units of each batch the chain challenges and a verifier re-executes (k); check rate q = k / n.'),
    verifiers: count('Verifiers that each re-execute every challenged unit (a quorum of checkers).'),
    comparisonFraction: rate('Cost of the perceptual comparison (PSNR/SSIM against the re-execution) and the format checks, as a fraction of re-executing the unit.'),
  }),
  gas: z.strictObject({
    claimGas: rate('Gas of one batched Merkle work claim (measured: 74,598 for 1,024 or 2^20 units).'),
    settleGas: rate('Gas to settle one batch (pay it out after its dispute window).'),
    faultGas: rate('Gas of a fault (a challenged leaf proven with its Merkle path and the verdict signatures; measured spot check ~50,000).'),
    faultsPerBatch: rate('Faults per batch: zero while workers are honest (a fault only when one cheats).'),
    openGas: rate('Gas to open a job (escrow and stake pulled, terms checked), once per job.'),
    finalizeGas: rate('Gas to finalize a job (unused escrow and stake released), once per job.'),
    gasPriceGwei: rate('Gas price (gwei).'),
    ethPriceUsd: rate('Price of the gas token (USD).'),
  }),
  stake: z.strictObject({
    slashUnits: rate('The slash, in unit prices. The deterrence rule needs slashUnits x checksPerBatch >= unitsPerBatch.'),
    slashesCovered: count("Slashes the worker's stake covers (the contract: stake >= slash x (unresolved batches + 1))."),
    annualCostOfCapital: rate('What locking a dollar for a year costs the worker (0.10 = 10%).'),
  }),
  supply: z.strictObject({
    cores: count("Cores of the worker's machine given to the market."),
    machineUsdPerMonth: rate("The machine's fixed cost a month whether busy or not: amortization, space, connection (USD; an owned, otherwise idle desktop: little)."),
    utilization: share('Share of the month the worker\'s cores are busy with paid work.'),
  }),
  targets: z.strictObject({
    maxVerificationOverhead: share('The verdict: verifier CPU / worker CPU must stay at or below this (issue 13: 0.05).'),
  }),
})
export type ComputeInputs = z.output<typeof ComputeInputsSchema>
export type ComputeTargets = ComputeInputs['targets']

/** The terms break the contract's deterrence rule `slash × checksPerBatch >= pricePerUnit × maxBatch`. */
export class ComputeDeterrenceError extends ViabilityInputError {
  override name = 'ComputeDeterrenceError'
}

function get(o: unknown, path: PropertyKey[]): unknown {
  return path.reduce<unknown>((x, k) => (x && typeof x === 'object' ? (x as Record<PropertyKey, unknown>)[k] : undefined), o)
}

/**
 * Throws a {@link ComputeDeterrenceError} unless slashUnits · k >= n and k <= n (a batch cannot be checked more
 * often than it has units); WorkMarket refuses the same terms at `openJob` (WorkMarketInsufficientDeterrence).
 */
export function checkComputeDeterrence(inputs: ComputeInputs): void {
  const { unitsPerBatch: n, checksPerBatch: k } = inputs.verification
  const s = inputs.stake.slashUnits
  if (k > n) {
    throw new ComputeDeterrenceError(`Check rate above 1: verification.checksPerBatch = ${k} > verification.unitsPerBatch = ${n}`, { hints: [`check at most ${n} units of a batch of ${n}`] })
  }
  if (s * k < n) {
    const need = n / k
    throw new ComputeDeterrenceError(
      `Deterrence rule broken (slash x checksPerBatch >= pricePerUnit x unitsPerBatch): stake.slashUnits ${fmt(s)} x verification.checksPerBatch ${k} = ${fmt(s * k)} unit prices < verification.unitsPerBatch ${n}; WorkMarket refuses these terms (WorkMarketInsufficientDeterrence)`,
      { hints: [`raise stake.slashUnits to at least n / k = ${fmt(need)}, check more units a batch (checksPerBatch >= ${Math.ceil(n / Math.max(s, 1e-300))}), or claim smaller batches (unitsPerBatch <= ${Math.floor(s * k)})`] },
    )
  }
}
const fmt = (x: number) => (Number.isInteger(x) ? x.toLocaleString('en-US') : String(Number(x.toPrecision(4))))

/** Validates compute inputs, then the deterrence rule; throws a `ViabilityInputError` naming every bad input. */
export function parseComputeInputs(raw: unknown): ComputeInputs {
  const r = ComputeInputsSchema.safeParse(raw)
  if (!r.success) {
    const lines = r.error.issues.map((i) => {
      const v = get(raw, i.path)
      return `${i.path.map(String).join('.')}${v === undefined ? '' : ` = ${JSON.stringify(v)}`}: ${i.message}`
    })
    throw new ViabilityInputError(`Invalid compute viability inputs:\n  ${lines.join('\n  ')}`, {
      hints: ['costs, rates and gas are non-negative; utilization and the overhead target lie in [0, 1]; profiles, units, checks, verifiers, cores and slashes covered are whole numbers >= 1'],
    })
  }
  checkComputeDeterrence(r.data)
  return r.data
}

/** Every numeric compute input as a dotted path, in a stable order (`--set`, sensitivity). */
export function computeInputPaths(inputs: ComputeInputs): string[] {
  const out: string[] = []
  for (const [g, obj] of Object.entries(inputs)) for (const [k, v] of Object.entries(obj)) if (typeof v === 'number') out.push(`${g}.${k}`)
  return out
}

export function getComputeInput(inputs: ComputeInputs, path: string): number | null {
  const [g, k] = path.split('.')
  return (inputs as unknown as Record<string, Record<string, number>>)[g]?.[k] ?? null
}

/** Returns a copy with one input replaced (not validated; call `parseComputeInputs` on user values). */
export function withComputeInput(inputs: ComputeInputs, path: string, value: number): ComputeInputs {
  const [g, k] = path.split('.')
  const copy = structuredClone(inputs) as unknown as Record<string, Record<string, number>>
  if (!copy[g] || !(k in copy[g])) throw new ViabilityInputError(`Unknown compute viability input "${path}"`, { hints: [`use one of: ${computeInputPaths(inputs).join(', ')}`] })
  copy[g][k] = value
  return copy as unknown as ComputeInputs
}

const SECONDS_PER_HOUR = 3600
const HOURS_PER_MONTH = 730
/** Megabits in a decimal gigabyte. */
const MBIT_PER_GB = 8000

/** P(a batch with a fraction f of wrong units is caught by k uniform checks) = 1 − (1 − f)^k. */
export function batchDetection(wrongFraction: number, checks: number): number {
  return 1 - Math.pow(1 - wrongFraction, checks)
}

export type ComputeTestName = 'price' | 'earnings' | 'verification'

export interface ComputeTest {
  name: ComputeTestName
  passed: boolean
  value: number
  limit: number
  /** value / limit (earnings: break-even utilization / expected utilization). Price fails at 1, the others above 1. */
  ratio: number
  detail: string
}

export interface ComputeVerdict {
  viable: boolean
  tests: ComputeTest[]
  failed: ComputeTestName[]
  /** One line: VIABLE, or NOT VIABLE and each failed test with how far it missed. */
  text: string
}

/** What the verdict reads from a result. */
export interface ComputeVerdictFigures {
  pricePerInputHour: number
  baselinePerInputHour: number
  /** Verifier CPU / worker CPU. */
  verificationOverhead: number
  /** The utilization at which the worker's machine breaks even (Infinity when no utilization does). */
  breakEvenUtilization: number
  utilization: number
  /** Set when no finite price covers the stake's capital cost. */
  infeasibleReason?: string
}

const ratioOf = (value: number, limit: number) => (limit > 0 ? value / limit : value > 0 ? Infinity : 0)
const times = (x: number) => (!Number.isFinite(x) ? 'infinitely many times' : x >= 100 ? `${x.toPrecision(3)}x` : `${x.toFixed(2)}x`)
const pctS = (x: number) => (!Number.isFinite(x) ? 'n/a' : `${(100 * x).toFixed(x < 0.001 ? 3 : 1)}%`)
const money = (x: number) => (!Number.isFinite(x) ? 'no finite price' : Math.abs(x) >= 1 ? `$${x.toFixed(2)}` : `$${x.toPrecision(3)}`)

/**
 * Viable only if the price per input hour is below the baseline's (strictly), the worker's machine breaks even at
 * its expected utilization (break-even utilization <= utilization), and verification overhead is at most
 * `maxVerificationOverhead`.
 */
export function computeVerdict(f: ComputeVerdictFigures, t: ComputeTargets): ComputeVerdict {
  const priceRatio = f.infeasibleReason ? Infinity : ratioOf(f.pricePerInputHour, f.baselinePerInputHour)
  const earnRatio = f.infeasibleReason ? Infinity : ratioOf(f.breakEvenUtilization, f.utilization)
  const verRatio = ratioOf(f.verificationOverhead, t.maxVerificationOverhead)
  const tests: ComputeTest[] = [
    {
      name: 'price', passed: priceRatio < 1, value: f.pricePerInputHour, limit: f.baselinePerInputHour, ratio: priceRatio,
      detail: f.infeasibleReason
        ? `price: ${f.infeasibleReason}`
        : priceRatio < 1
          ? `price ${money(f.pricePerInputHour)} per input hour is ${times(priceRatio)} the baseline's ${money(f.baselinePerInputHour)} (saves ${pctS(1 - priceRatio)})`
          : `price ${money(f.pricePerInputHour)} per input hour is ${times(priceRatio)} the baseline's ${money(f.baselinePerInputHour)}: ${money(f.pricePerInputHour - f.baselinePerInputHour)} (${pctS(priceRatio - 1)}) above it`,
    },
    {
      name: 'earnings', passed: earnRatio <= 1, value: f.breakEvenUtilization, limit: f.utilization, ratio: earnRatio,
      detail: f.infeasibleReason
        ? 'earnings: no finite price'
        : !Number.isFinite(f.breakEvenUtilization)
          ? `the worker loses money on every hour it works (its variable costs exceed its pay): no utilization breaks even`
          : earnRatio <= 1
            ? `the worker's machine breaks even at ${pctS(f.breakEvenUtilization)} utilization, at or below the ${pctS(f.utilization)} expected`
            : `the worker's machine breaks even only at ${pctS(f.breakEvenUtilization)} utilization, ${times(earnRatio)} the ${pctS(f.utilization)} expected`,
    },
    {
      name: 'verification', passed: verRatio <= 1, value: f.verificationOverhead, limit: t.maxVerificationOverhead, ratio: verRatio,
      detail: `verification costs ${pctS(f.verificationOverhead)} of the worker's compute, ${verRatio <= 1 ? 'within' : `${times(verRatio)}`} the ${pctS(t.maxVerificationOverhead)} limit`,
    },
  ]
  const failed = tests.filter((x) => !x.passed).map((x) => x.name)
  const text = failed.length === 0
    ? `VIABLE: ${tests.map((x) => x.detail).join('; ')}`
    : `NOT VIABLE (${failed.join(', ')} failed): ${tests.filter((x) => !x.passed).map((x) => x.detail).join('; ')}`
  return { viable: failed.length === 0, tests, failed, text }
}

/** USD per hour of input video. */
export interface ComputeBreakdown {
  compute: number
  bandwidth: number
  verification: number
  gas: number
  stake: number
  margin: number
}

export interface ComputeResult {
  /** Core-hours of transcoding an input hour (all profiles). */
  coreHoursPerInputHour: number
  /** USD per busy core-hour: hardware + electricity. */
  usdPerCoreHour: number
  /** GB the worker moves per input hour (input + outputs). */
  gbPerInputHour: number
  unitsPerJob: number
  batchesPerJob: number
  unitsPerInputHour: number
  batchesPerInputHour: number
  gasPerInputHour: number
  /** Checks / units over the job (k / n when n divides it), and verifier CPU / worker CPU. */
  checkRate: number
  verificationOverhead: number
  /** The verifiers' compute alone (USD per input hour; included in `breakdown.verification` with their bandwidth). */
  verifierComputeUsd: number
  breakdown: ComputeBreakdown
  /** What the client pays per input hour; Infinity (null in JSON) when no price covers the stake's capital cost. */
  pricePerInputHour: number
  pricePerOutputHour: number
  pricePerOutputMinute: number
  feasible: boolean
  /** (1 + margin) · c: the share of the price the stake's capital cost (with margin on it) takes; must be < 1. */
  stakeLoad: number
  baselinePerInputHour: number
  baselinePerOutputMinute: number
  priceToBaseline: number
  saving: number
  /** Gas / price. */
  gasShare: number
  /** What one job costs the client (USD). */
  jobCostUsd: number
  /** The terms the contract sees for one unit (USD). */
  terms: { pricePerUnit: number; slash: number; stake: number; minSlashUnits: number }
  /** P(a batch with 1% of its units wrong is caught), and with all of them wrong. */
  detection: { onePercentWrong: number; allWrong: number }
  /** The worker's side for its machine at its expected utilization (USD a month). */
  worker: {
    /** Pay per input hour after the verifiers' share, and its variable costs (electricity, bandwidth, gas, stake). */
    payPerInputHour: number
    variableCostPerInputHour: number
    /** Input hours the machine transcodes a month at full utilization. */
    capacityInputHoursPerMonth: number
    revenuePerMonth: number
    costPerMonth: number
    profitPerMonth: number
    /** The utilization at which profit is zero; Infinity when pay does not cover the variable costs. */
    breakEvenUtilization: number
    stakeLockedUsd: number
  }
  verdict: ComputeVerdict
}

/** Assesses one set of inputs (checks the deterrence rule first: a {@link ComputeDeterrenceError} if broken). */
export function assessCompute(inputs: ComputeInputs): ComputeResult {
  checkComputeDeterrence(inputs)
  const { job, baseline, worker: w, bandwidth: bw, verification: v, gas: g, stake: st, supply, targets } = inputs
  const P = job.profiles
  const coreHoursPerInputHour = P * w.cpuSecondsPerOutputSecond
  const electricityPerCoreHour = (w.wattsPerCore / 1000) * w.electricityPerKWh
  const usdPerCoreHour = w.cpuHourUsd + electricityPerCoreHour
  const compute = coreHoursPerInputHour * usdPerCoreHour
  const inputGB = (bw.inputMbps * SECONDS_PER_HOUR) / MBIT_PER_GB
  const outputGB = (P * bw.outputMbpsPerProfile * SECONDS_PER_HOUR) / MBIT_PER_GB
  const gbPerInputHour = inputGB + outputGB
  const bandwidth = gbPerInputHour * bw.perGB
  // A job's units are claimed in full batches of n and one partial batch; the contract checks min(k, count) units
  // of each, so q is the job's checks over its units (k / n when n divides the job).
  const unitsPerJob = Math.max(1, Math.ceil((P * SECONDS_PER_HOUR * job.inputHours) / job.segmentSeconds - 1e-9))
  const fullBatches = Math.floor(unitsPerJob / v.unitsPerBatch), rest = unitsPerJob - fullBatches * v.unitsPerBatch
  const batchesPerJob = fullBatches + (rest > 0 ? 1 : 0)
  const checksPerJob = fullBatches * v.checksPerBatch + Math.min(v.checksPerBatch, rest)
  const checkRate = checksPerJob / unitsPerJob
  const verificationOverhead = v.verifiers * checkRate * (1 + v.comparisonFraction)
  const verifierComputeUsd = verificationOverhead * compute
  // Each check fetches the unit's input segment and its claimed output: q of the units, each with its own input.
  const verifierGB = v.verifiers * checkRate * (P * inputGB + outputGB)
  const verification = verifierComputeUsd + verifierGB * bw.perGB
  const unitsPerInputHour = unitsPerJob / job.inputHours
  const batchesPerInputHour = batchesPerJob / job.inputHours
  const gasPerInputHour = batchesPerInputHour * (g.claimGas + g.settleGas + g.faultsPerBatch * g.faultGas) + (g.openGas + g.finalizeGas) / job.inputHours
  const usdPerGas = g.gasPriceGwei * 1e-9 * g.ethPriceUsd
  const gas = gasPerInputHour * usdPerGas
  const direct = compute + bandwidth + verification + gas
  const c = (st.slashUnits * st.slashesCovered * st.annualCostOfCapital * (job.lockDays / 365)) / (unitsPerInputHour * job.inputHours)
  const stakeLoad = (1 + w.margin) * c
  const feasible = stakeLoad < 1
  const price = feasible ? ((1 + w.margin) * direct) / (1 - stakeLoad) : Infinity
  const stake = feasible ? c * price : Infinity
  const margin = feasible ? w.margin * (direct + stake) : Infinity
  const baselinePerInputHour = baseline.perOutputMinute * 60 * P
  const priceToBaseline = feasible ? ratioOf(price, baselinePerInputHour) : Infinity
  const pricePerUnit = price / unitsPerInputHour
  const slash = st.slashUnits * pricePerUnit
  const stakeUsd = slash * st.slashesCovered
  // The worker's side: it is paid the price less the verifiers' cost and their margin; its hardware is a fixed cost
  // of its machine, the rest varies with the work.
  const payPerInputHour = price - (1 + w.margin) * verification
  const variableCostPerInputHour = coreHoursPerInputHour * electricityPerCoreHour + bandwidth + gas + stake
  const capacityInputHoursPerMonth = coreHoursPerInputHour > 0 ? (supply.cores * HOURS_PER_MONTH) / coreHoursPerInputHour : Infinity
  const contribution = payPerInputHour - variableCostPerInputHour
  const hoursWorked = supply.utilization * capacityInputHoursPerMonth
  const revenuePerMonth = hoursWorked * payPerInputHour
  const costPerMonth = supply.machineUsdPerMonth + hoursWorked * variableCostPerInputHour
  const profitPerMonth = revenuePerMonth - costPerMonth
  const breakEvenUtilization = !feasible ? Infinity
    : contribution > 0 ? supply.machineUsdPerMonth / (capacityInputHoursPerMonth * contribution)
      : supply.machineUsdPerMonth === 0 && contribution === 0 ? 0 : Infinity
  const infeasibleReason = feasible ? undefined : `no price covers the stake's capital cost: (1 + margin) x c = ${stakeLoad.toFixed(3)}, must be below 1`
  const verdict = computeVerdict({ pricePerInputHour: price, baselinePerInputHour, verificationOverhead, breakEvenUtilization, utilization: supply.utilization, infeasibleReason }, targets)
  return {
    coreHoursPerInputHour, usdPerCoreHour, gbPerInputHour, unitsPerJob, batchesPerJob, unitsPerInputHour, batchesPerInputHour, gasPerInputHour, checkRate, verificationOverhead, verifierComputeUsd,
    breakdown: { compute, bandwidth, verification, gas, stake, margin },
    pricePerInputHour: price, pricePerOutputHour: price / P, pricePerOutputMinute: price / P / 60,
    feasible, stakeLoad, baselinePerInputHour, baselinePerOutputMinute: baseline.perOutputMinute, priceToBaseline, saving: 1 - priceToBaseline,
    gasShare: feasible && price > 0 ? gas / price : 0,
    jobCostUsd: price * job.inputHours,
    terms: { pricePerUnit, slash, stake: stakeUsd, minSlashUnits: v.unitsPerBatch / v.checksPerBatch },
    detection: { onePercentWrong: batchDetection(0.01, v.checksPerBatch), allWrong: batchDetection(1, v.checksPerBatch) },
    worker: { payPerInputHour, variableCostPerInputHour, capacityInputHoursPerMonth, revenuePerMonth, costPerMonth, profitPerMonth, breakEvenUtilization, stakeLockedUsd: stakeUsd },
    verdict,
  }
}

export const COMPUTE_SENSITIVITY_OUTPUTS = ['pricePerInputHour', 'priceToBaseline', 'verificationOverhead', 'gasShare'] as const
export type ComputeSensitivityOutput = (typeof COMPUTE_SENSITIVITY_OUTPUTS)[number]

export interface ComputeSensitivityRow {
  input: string
  base: number
  low: number
  high: number
  outputs: Record<ComputeSensitivityOutput, { low: number; high: number; base: number }>
  /** The verdict at the low and the high input; `refused` when that setting breaks the deterrence rule. */
  verdict: { low: { viable: boolean; failed: ComputeTestName[]; refused?: string }; high: { viable: boolean; failed: ComputeTestName[]; refused?: string } }
  /** The largest test ratio (the binding test) at base, low and high. */
  binding: { base: number; low: number; high: number }
  flips: boolean
  moves: number
  testMoves: Record<ComputeTestName, number>
}

const INTEGER_COMPUTE_INPUTS = new Set(['job.profiles', 'verification.unitsPerBatch', 'verification.checksPerBatch', 'verification.verifiers', 'stake.slashesCovered', 'supply.cores'])
const SHARE_COMPUTE_INPUTS = new Set(['supply.utilization'])

function clampComputeInput(path: string, v: number): number {
  if (SHARE_COMPUTE_INPUTS.has(path)) v = Math.min(1, v)
  if (INTEGER_COMPUTE_INPUTS.has(path)) v = Math.max(1, Math.round(v))
  if (path === 'job.inputHours' || path === 'job.segmentSeconds') v = Math.max(1e-9, v)
  return Math.max(0, v)
}

const bindingOf = (v: ComputeVerdict) => Math.max(...v.tests.map((x) => x.ratio))
const log10Gap = (a: number, b: number) => {
  if (a === b) return 0
  const gap = Math.abs(Math.log10(Math.max(a, 1e-300)) - Math.log10(Math.max(b, 1e-300)))
  return Number.isNaN(gap) ? 0 : gap
}

/**
 * One-at-a-time sensitivity, as the storage model's: each numeric input (not the targets) at ×(1 ± delta), clamped;
 * a side whose setting breaks the deterrence rule is reported as refused (not viable, the base figures kept). Sorted:
 * rows that flip the verdict first, then by how far they move its tightest test.
 */
export function computeSensitivity(inputs: ComputeInputs, delta = 0.2): ComputeSensitivityRow[] {
  const base = assessCompute(inputs)
  const rows = computeInputPaths(inputs).filter((p) => !p.startsWith('targets.')).map((input) => {
    const b = getComputeInput(inputs, input)!
    const low = clampComputeInput(input, b * (1 - delta)), high = clampComputeInput(input, b * (1 + delta))
    const at = (x: number): { r: ComputeResult; refused?: string } => {
      try { return { r: assessCompute(withComputeInput(inputs, input, x)) } } catch (e) {
        if (e instanceof ComputeDeterrenceError) return { r: base, refused: e.message }
        throw e
      }
    }
    const lo = at(low), hi = at(high)
    const outputs = Object.fromEntries(COMPUTE_SENSITIVITY_OUTPUTS.map((o) => [o, { low: lo.r[o], high: hi.r[o], base: base[o] }])) as ComputeSensitivityRow['outputs']
    const side = (s: { r: ComputeResult; refused?: string }) => (s.refused ? { viable: false, failed: [] as ComputeTestName[], refused: s.refused } : { viable: s.r.verdict.viable, failed: s.r.verdict.failed })
    const bl = lo.refused ? Infinity : bindingOf(lo.r.verdict), bh = hi.refused ? Infinity : bindingOf(hi.r.verdict)
    const testMoves = Object.fromEntries(base.verdict.tests.map((t, i) => [t.name, log10Gap(lo.r.verdict.tests[i]!.ratio, hi.r.verdict.tests[i]!.ratio)])) as Record<ComputeTestName, number>
    const vl = side(lo), vh = side(hi)
    return {
      input, base: b, low, high, outputs, verdict: { low: vl, high: vh },
      binding: { base: bindingOf(base.verdict), low: bl, high: bh },
      flips: vl.viable !== base.verdict.viable || vh.viable !== base.verdict.viable,
      moves: log10Gap(bh, bl), testMoves,
    }
  })
  const most = (r: ComputeSensitivityRow) => Math.max(...Object.values(r.testMoves))
  return rows.sort((a, b) => Number(b.flips) - Number(a.flips) || b.moves - a.moves || most(b) - most(a) || a.input.localeCompare(b.input))
}

/** An uncertain input: drawn log-uniformly between base × low and base × high (clamped to its range). */
export interface ComputeUncertainty { input: string; low: number; high: number; why: string }

/** The default uncertainty of the Monte Carlo: what is not measured here, or moves with markets. */
export const COMPUTE_UNCERTAINTY: ComputeUncertainty[] = [
  { input: 'worker.cpuSecondsPerOutputSecond', low: 0.7, high: 4, why: 'measured for sharp JPEG frames; an x264/x265 encoder at a slower preset needs several times more' },
  { input: 'worker.cpuHourUsd', low: 0.5, high: 3, why: 'an idle desktop (near 0) to a rented cloud core (~$0.02-0.04)' },
  { input: 'worker.electricityPerKWh', low: 0.5, high: 2.5, why: 'US industrial ~$0.08 to European household ~$0.35' },
  { input: 'worker.wattsPerCore', low: 0.5, high: 2, why: 'efficient server cores to desktop cores at turbo' },
  { input: 'bandwidth.perGB', low: 0.2, high: 4, why: 'bulk transit to metered cloud egress at volume' },
  { input: 'bandwidth.outputMbpsPerProfile', low: 0.6, high: 1.6, why: 'codec and ladder choice' },
  { input: 'verification.comparisonFraction', low: 0.5, high: 2.5, why: 'PSNR is cheap, SSIM on every frame is not' },
  { input: 'gas.gasPriceGwei', low: 0.1, high: 20, why: 'L2 gas varies by orders of magnitude with congestion' },
  { input: 'gas.ethPriceUsd', low: 0.5, high: 2, why: 'the gas token price' },
  { input: 'supply.utilization', low: 0.3, high: 1.6, why: 'demand the market finds for a worker' },
]

export interface ComputeSimulation {
  draws: number
  /** Draws that were viable, with Wilson intervals. */
  viable: { hits: number; trials: number; estimate: number; ci95: [number, number] }
  /** Draws in which each test failed. */
  failedBy: Record<ComputeTestName, number>
  /** Quantiles of the price per input hour and of price / baseline over the draws. */
  price: { p05: number; p50: number; p95: number }
  priceToBaseline: { p05: number; p50: number; p95: number }
  uncertainty: ComputeUncertainty[]
}

function wilson(hits: number, n: number, z: number): [number, number] {
  if (n === 0) return [0, 1]
  const p = hits / n, z2 = z * z
  const centre = (p + z2 / (2 * n)) / (1 + z2 / n)
  const half = (z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / (1 + z2 / n)
  return [Math.max(0, centre - half), Math.min(1, centre + half)]
}
const quantile = (sorted: number[], q: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))))]! : NaN)

/**
 * Monte Carlo over the uncertain inputs: each draw multiplies every input of `uncertainty` by a log-uniform factor
 * in [low, high] (independently; seeded mulberry32), clamps it to its range and runs the model. Reports how often
 * the market is viable, which test fails how often, and the price's 5/50/95% quantiles.
 */
export function simulateCompute(inputs: ComputeInputs, opts: { draws: number; seed: number; uncertainty?: ComputeUncertainty[] }): ComputeSimulation {
  const rand = mulberry32(opts.seed)
  const unc = opts.uncertainty ?? COMPUTE_UNCERTAINTY
  for (const u of unc) if (getComputeInput(inputs, u.input) === null) throw new ViabilityInputError(`Unknown compute viability input "${u.input}" in the Monte Carlo's uncertainty`, { hints: [`use one of: ${computeInputPaths(inputs).join(', ')}`] })
  let hits = 0
  const failedBy: Record<ComputeTestName, number> = { price: 0, earnings: 0, verification: 0 }
  const prices: number[] = [], ratios: number[] = []
  for (let d = 0; d < opts.draws; d++) {
    let x = inputs
    for (const u of unc) {
      const f = u.low * Math.pow(u.high / u.low, rand())
      x = withComputeInput(x, u.input, clampComputeInput(u.input, getComputeInput(inputs, u.input)! * f))
    }
    const r = assessCompute(x)
    if (r.verdict.viable) hits++
    for (const t of r.verdict.failed) failedBy[t]++
    prices.push(r.pricePerInputHour); ratios.push(r.priceToBaseline)
  }
  prices.sort((a, b) => a - b); ratios.sort((a, b) => a - b)
  const q3 = (s: number[]) => ({ p05: quantile(s, 0.05), p50: quantile(s, 0.5), p95: quantile(s, 0.95) })
  return {
    draws: opts.draws,
    viable: { hits, trials: opts.draws, estimate: opts.draws ? hits / opts.draws : 0, ci95: wilson(hits, opts.draws, 1.959964) },
    failedBy, price: q3(prices), priceToBaseline: q3(ratios), uncertainty: unc,
  }
}

/** Centralized prices per output minute (us-east-1 list prices; see the module comment for sources). */
export const COMPUTE_BASELINES: Record<string, { title: string; perOutputMinute: number; note: string }> = {
  'mediaconvert-basic-sd': { title: 'AWS Elemental MediaConvert Basic, SD', perOutputMinute: 0.0075, note: 'on-demand Basic tier, SD output, first volume tier' },
  'mediaconvert-basic-hd': { title: 'AWS Elemental MediaConvert Basic, HD', perOutputMinute: 0.015, note: 'on-demand Basic tier, HD (720p-1080p) output, first volume tier' },
  'elastic-transcoder-sd': { title: 'Amazon Elastic Transcoder, SD (retired)', perOutputMinute: 0.015, note: 'SD (< 720p), US East, AWS News Blog 2013' },
  'elastic-transcoder-hd': { title: 'Amazon Elastic Transcoder, HD (retired)', perOutputMinute: 0.03, note: 'HD (>= 720p), US East, AWS News Blog 2013' },
}

/** The default ladder's MediaConvert Basic price: one HD rendition and two SD, averaged per output minute. */
export const MEDIACONVERT_BASIC_LADDER_PER_MINUTE = (COMPUTE_BASELINES['mediaconvert-basic-hd']!.perOutputMinute + 2 * COMPUTE_BASELINES['mediaconvert-basic-sd']!.perOutputMinute) / 3

/** The market's price per output minute against each of `COMPUTE_BASELINES`. */
export function compareComputeWithBaselines(inputs: ComputeInputs, result: ComputeResult = assessCompute(inputs)): { name: string; title: string; perOutputMinute: number; priceToBaseline: number }[] {
  return Object.entries(COMPUTE_BASELINES).map(([name, b]) => ({
    name, title: b.title, perOutputMinute: b.perOutputMinute, priceToBaseline: result.feasible ? ratioOf(result.pricePerOutputMinute, b.perOutputMinute) : Infinity,
  }))
}

export interface ComputePreset {
  title: string
  description: string
  baselineTitle: string
  inputs: ComputeInputs
  source?: string
  assumptions: string[]
}

/** Figures measured in this repository (issue 13): a batched Merkle work claim, a spot check, sharp's frame time. */
const MEASURED_COMPUTE = { claimGas: 75_000, spotCheckGas: 50_000, sharpMsPerFrame720p: 22.5, fps: 24 }
const L2_GAS = { gasPriceGwei: 0.01, ethPriceUsd: 3000 }

const computeInputs: ComputeInputs = {
  job: { inputHours: 1, profiles: 3, segmentSeconds: 2, lockDays: 1 },
  baseline: { perOutputMinute: MEDIACONVERT_BASIC_LADDER_PER_MINUTE },
  worker: { cpuSecondsPerOutputSecond: (MEASURED_COMPUTE.sharpMsPerFrame720p / 1000) * MEASURED_COMPUTE.fps, cpuHourUsd: 0.01, wattsPerCore: 15, electricityPerKWh: 0.15, margin: 0.2 },
  bandwidth: { inputMbps: 5, outputMbpsPerProfile: 1.8, perGB: 0.005 },
  verification: { unitsPerBatch: 1024, checksPerBatch: 16, verifiers: 1, comparisonFraction: 0.25 },
  gas: { claimGas: MEASURED_COMPUTE.claimGas, settleGas: 40_000, faultGas: MEASURED_COMPUTE.spotCheckGas, faultsPerBatch: 0, openGas: 200_000, finalizeGas: 60_000, ...L2_GAS },
  stake: { slashUnits: 128, slashesCovered: 4, annualCostOfCapital: 0.1 },
  supply: { cores: 8, machineUsdPerMonth: 10, utilization: 0.5 },
  targets: { maxVerificationOverhead: 0.05 },
}

const computeAssumptions = [
  'unit: one hour of input video, transcoded into 3 renditions (720p, 480p, 360p); 2-second segments, one unit = one segment in one profile (5,400 units an input hour); a job of 1 input hour',
  `baseline: AWS Elemental MediaConvert Basic tier, one HD rendition at $0.015/min and two SD at $0.0075/min: $${MEDIACONVERT_BASIC_LADDER_PER_MINUTE.toFixed(4)} per output minute on average (issue 13's figures; Elastic Transcoder's 2013 prices, SD $0.015 and HD $0.03, in the comparison)`,
  `compute: ${((MEASURED_COMPUTE.sharpMsPerFrame720p / 1000) * MEASURED_COMPUTE.fps).toFixed(2)} CPU-s per output second per profile (measured here: sharp turns a 1080p raw frame into a 720p JPEG in ~20-25 ms on one core, x ${MEASURED_COMPUTE.fps} fps; smaller profiles would cost less, a real video encoder more); $0.01 per busy core-hour (a commodity dedicated server: ~$40/month for 6 cores is ~$0.009/core-hour; an assumption); 15 W per busy core at $0.15/kWh`,
  'bandwidth: 5 Mbit/s input, 1.8 Mbit/s per rendition out (4.68 GB an input hour), $0.005/GB (bulk transit; an assumption)',
  'verification: n = 1,024 units a claim, k = 16 checks (q = 1.56% of a full batch, 1.78% over the job\'s 5,400 units in 6 batches; a batch with 1% wrong caught with 14.9%, a wholly lazy one always), 1 verifier, perceptual comparison at 25% of a re-execution',
  `gas on an L2 at 0.01 gwei and $3000: a claim ${MEASURED_COMPUTE.claimGas.toLocaleString('en-US')} (measured: 74,598 for 1,024 or 2^20 units) and a settle 40,000 (no bench figure yet) per batch; a fault (~${MEASURED_COMPUTE.spotCheckGas.toLocaleString('en-US')}, the measured spot check) only when a worker cheats: none here; open 200,000 and finalize 60,000 per job (assumptions, near the storage market's measured openDeal 205,947)`,
  'stake: slash = 128 unit prices (twice the deterrence minimum n / k = 64), the stake covers 4 slashes, locked 1 day a job at 10% a year',
  'worker: 8 cores of an otherwise idle desktop, $10 a month of fixed cost charged to the market (wear, a share of its amortization), busy half the month, 20% margin',
  'targets: verification overhead <= 5% of the worker\'s compute (issue 13\'s benchmark goal)',
]

export const COMPUTE_PRESETS: Record<string, ComputePreset> = {
  compute: {
    title: 'Verified transcoding by peer workers: a 3-rendition ladder, batched claims on an L2, against MediaConvert Basic',
    description: 'Transcoding jobs outsourced to staked workers, spot-checked by re-execution, one work claim per batch of units (issue 13), priced from the workers\' costs, against a centralized transcoder.',
    baselineTitle: 'AWS Elemental MediaConvert Basic (1 HD + 2 SD renditions)',
    source: 'AWS MediaConvert and Elastic Transcoder list prices; gas and sharp timing measured in this repository (contracts/WorkMarket.sol, src/services/compute); Livepeer left out (no per-minute transcoding price found)',
    assumptions: computeAssumptions,
    inputs: computeInputs,
  },
  'compute-l1': {
    title: 'Verified transcoding as the compute preset, with claims and settles on Ethereum L1 at 2 gwei',
    description: 'The compute preset with its gas on L1: shows what batching has to carry when gas is not cheap.',
    baselineTitle: 'AWS Elemental MediaConvert Basic (1 HD + 2 SD renditions)',
    source: 'as the compute preset; 2 gwei is a quiet L1 day (an assumption)',
    assumptions: [...computeAssumptions.filter((a) => !a.startsWith('gas')), 'gas on Ethereum L1 at 2 gwei and $3000, otherwise as the compute preset'],
    inputs: { ...computeInputs, gas: { ...computeInputs.gas, gasPriceGwei: 2 } },
  },
}
