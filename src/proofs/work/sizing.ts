/**
 * Sizing of the compute market's spot checks: the deterrence rule that `contracts/WorkMarket.sol` enforces at
 * openJob and that workers and clients check off chain before they sign terms (souk.compute v1, /tmp spec
 * "Deterrence rule").
 *
 * Spec:
 * - A batch claims at most `n = maxBatch` units; `k = checksPerBatch` of them are drawn uniformly (with repeats)
 *   after the root is posted. The check rate is `q = k / n`.
 * - **Rule**: `slash × checksPerBatch >= pricePerUnit × maxBatch` (i.e. `q·S >= price`: the expected slash per
 *   skipped unit covers what skipping it can save, which the price bounds) and `stake >= slash`. Anything else is
 *   refused with {@link InsufficientDeterrenceError} (on chain: `WorkMarketInsufficientDeterrence(required, given)`).
 * - **Detection**: a worker who skips a fraction `f` of a batch (fakes those outputs) is caught by at least one of
 *   the `k` draws with `g(f) = 1 − (1 − f)^k` ({@link detectionProbability}).
 *
 * Why skipping never pays ({@link cheatingGain}). Take a batch of `n` units at price `p`, cost `c` a unit, slash `S`.
 * Honest profit: `n(p − c)`. Skipping a fraction `f` saves `f·n·c`; when caught (probability `g(f)`) the worker
 * forfeits the whole batch's payment `n·p` (a faulted batch's price stays with the client) and is slashed `S`. So
 *
 *     gain(f) = cheating − honest = f·n·c − g(f)·(n·p + S).
 *
 * For k >= 1 and 0 <= f <= 1, `(1 − f)^k <= 1 − f`, hence `g(f) >= f`, and
 *
 *     gain(f) <= f·(n·c − n·p − S) = f·n·(c − p − S/n).
 *
 * Sharper: g is concave, so gain is convex in f with gain(0) = 0, hence gain(f) <= f·gain(1) = f·(n(c − p) − S):
 * the worst case per skipped fraction is skipping everything, and skipping pays for no f unless `n·c > n·p + S`.
 * The rule gives `S >= n·p / k`, so gain(f) <= 0 for every f whenever `c <= p·(1 + 1/k)`: at any price that covers
 * the cost, and a little below it, skipping any fraction loses money in expectation (by at least `f·S` when
 * `c <= p`). Only a worker whose cost exceeds the price by more than `S/n` a unit could gain, and
 * {@link sizeChecks} refuses such terms when given `costPerUnit`. Honest workers are never slashed for the
 * nondeterminism the checks allow (outputs within the PSNR tolerance pass, see src/services/compute/transcode.ts).
 *
 * @example
 * ```ts
 * import { sizeChecks, minSlash, detectionProbability } from './src/proofs/work/sizing.js'
 * minSlash({ pricePerUnit: 10n, maxBatch: 1024, checksPerBatch: 8 })                    // 1280n
 * sizeChecks({ pricePerUnit: 10n, maxBatch: 1024, checksPerBatch: 8, slash: 1280n, stake: 5000n }).checkRate // 0.0078125
 * sizeChecks({ pricePerUnit: 10n, maxBatch: 1024, checksPerBatch: 8, slash: 1000n, stake: 5000n }) // throws InsufficientDeterrenceError (required 1280)
 * detectionProbability(0.1, 8)                                                           // 0.5695…
 * ```
 */
import { ValidationError, type SoukErrorOptions } from '../../core/errors.js'
import { InsufficientDeterrenceError } from './errors.js'

/** Largest batch the contract accepts (2^20 units, the tree's maximum depth of 20). */
export const WORK_MAX_BATCH = 2 ** 20
/** checksPerBatch is a uint16 in the terms. */
export const WORK_MAX_CHECKS_PER_BATCH = 2 ** 16 - 1

// The error is errors.ts's (one class for the whole folder, the twin of the contract's
// WorkMarketInsufficientDeterrence(required, given)); `details.problem` says which side of the rule failed:
// 'slash-too-low' | 'stake-below-slash' | 'cheating-pays'.
export { InsufficientDeterrenceError }

export type DeterrenceProblem = 'slash-too-low' | 'stake-below-slash' | 'cheating-pays'

/** A sizing parameter of the wrong type or out of range. */
export class SizingParamsError extends ValidationError {
  override name = 'SizingParamsError'
  constructor(shortMessage: string, opts: SoukErrorOptions = {}) {
    super(shortMessage, { code: 'WORK_SIZING_PARAMS', ...opts })
  }
}

function aUnits(name: string, v: number, max: number): number {
  if (!Number.isInteger(v) || v < 1 || v > max) throw new SizingParamsError(`${name} must be an integer in [1, ${max}], got ${v}`)
  return v
}
function aAmount(name: string, v: bigint): bigint {
  if (typeof v !== 'bigint' || v < 0n) throw new SizingParamsError(`${name} must be a non-negative bigint, got ${String(v)}`)
  return v
}

export interface MinSlashParameters {
  pricePerUnit: bigint
  maxBatch: number
  checksPerBatch: number
}

/** The least slash the rule allows: `ceil(pricePerUnit × maxBatch / checksPerBatch)`. */
export function minSlash(p: MinSlashParameters): bigint {
  const price = aAmount('pricePerUnit', p.pricePerUnit)
  const n = BigInt(aUnits('maxBatch', p.maxBatch, WORK_MAX_BATCH))
  const k = BigInt(aUnits('checksPerBatch', p.checksPerBatch, WORK_MAX_CHECKS_PER_BATCH))
  return (price * n + k - 1n) / k
}

/** P(at least one of `k` uniform draws hits a skipped unit) when a fraction `skippedFraction` is skipped: 1 − (1 − f)^k. */
export function detectionProbability(skippedFraction: number, k: number): number {
  if (!(skippedFraction >= 0 && skippedFraction <= 1)) throw new SizingParamsError(`skippedFraction must be in [0, 1], got ${skippedFraction}`)
  if (!Number.isInteger(k) || k < 0) throw new SizingParamsError(`k must be a non-negative integer, got ${k}`)
  return 1 - (1 - skippedFraction) ** k
}

export interface CheatingGainParameters {
  /** f in [0, 1]: the fraction of the batch's units whose work is skipped. */
  skippedFraction: number
  /** n: units in the batch. */
  batchUnits: number
  /** k: draws on the batch (the contract uses min(checksPerBatch, count)). */
  checksPerBatch: number
  pricePerUnit: bigint
  costPerUnit: bigint
  slash: bigint
}

export interface CheatingGain {
  /** g(f) */
  detection: number
  /** n(p − c) */
  honestProfit: number
  /** (1 − g)·n·p − (1 − f)·n·c − g·S */
  cheatingProfit: number
  /** cheatingProfit − honestProfit = f·n·c − g·(n·p + S); <= 0 under the rule when c <= p(1 + 1/k) */
  gain: number
}

/**
 * Expected profit of skipping a fraction of a batch against doing all of it (token units as floating point: an
 * expectation, not an amount to pay). See the header for the proof that `gain <= 0` under the rule.
 */
export function cheatingGain(p: CheatingGainParameters): CheatingGain {
  const n = aUnits('batchUnits', p.batchUnits, WORK_MAX_BATCH)
  const k = Math.min(aUnits('checksPerBatch', p.checksPerBatch, WORK_MAX_CHECKS_PER_BATCH), n)
  const f = p.skippedFraction
  const g = detectionProbability(f, k)
  const price = Number(aAmount('pricePerUnit', p.pricePerUnit)), cost = Number(aAmount('costPerUnit', p.costPerUnit)), slash = Number(aAmount('slash', p.slash))
  const honestProfit = n * (price - cost)
  const cheatingProfit = (1 - g) * n * price - (1 - f) * n * cost - g * slash
  return { detection: g, honestProfit, cheatingProfit, gain: f * n * cost - g * (n * price + slash) }
}

export interface SizeChecksParameters extends MinSlashParameters {
  slash: bigint
  stake: bigint
  /** The worker's cost a unit, if known: terms where skipping could pay at this cost are refused too. */
  costPerUnit?: bigint
}

export interface ChecksSizing {
  /** q = checksPerBatch / maxBatch (can exceed 1 when more checks than units are drawn). */
  checkRate: number
  /** The least slash the rule allows ({@link minSlash}). */
  requiredSlash: bigint
  /** slash − requiredSlash (>= 0). */
  slashMargin: bigint
  /** How many unresolved batches the stake covers (the contract's StakeTooLow bound): floor(stake / slash). */
  batchesCovered: bigint
  /** With `costPerUnit`: the expected gain of skipping the whole of a full batch, the worst f (gain(f) <= f·this; <= 0). */
  maxCheatingGain?: number
}

/**
 * Validates terms against the deterrence rule and returns the check rate and margins. Throws
 * {@link InsufficientDeterrenceError} (`details.problem`: `slash-too-low`, `stake-below-slash`, or with `costPerUnit` `cheating-pays`)
 * and {@link SizingParamsError} on malformed parameters.
 */
export function sizeChecks(p: SizeChecksParameters): ChecksSizing {
  const requiredSlash = minSlash(p)
  const slash = aAmount('slash', p.slash), stake = aAmount('stake', p.stake)
  const k = p.checksPerBatch, n = p.maxBatch
  if (slash * BigInt(k) < p.pricePerUnit * BigInt(n)) {
    throw new InsufficientDeterrenceError(requiredSlash, slash, {
      hints: [
        `Raise the slash to at least ${requiredSlash} (price ${p.pricePerUnit} × maxBatch ${n} / checksPerBatch ${k}),`,
        `or check more units a batch (checksPerBatch >= ${slash === 0n ? 'any: a zero slash never deters' : String((p.pricePerUnit * BigInt(n) + slash - 1n) / slash)} at this slash), or cap batches lower.`,
      ],
      details: { problem: 'slash-too-low' satisfies DeterrenceProblem, pricePerUnit: p.pricePerUnit, maxBatch: n, checksPerBatch: k },
    })
  }
  if (stake < slash) {
    throw new InsufficientDeterrenceError(slash, stake, { hints: [`Stake at least one slash (${slash}), or lower the slash to the stake if the rule still holds.`], details: { problem: 'stake-below-slash' satisfies DeterrenceProblem } })
  }
  let maxCheatingGain: number | undefined
  if (p.costPerUnit !== undefined) {
    const cost = aAmount('costPerUnit', p.costPerUnit)
    // gain is convex in f with gain(0) = 0 (see the header), so its largest value on (0, 1] is at f = 1 (skip it all).
    const worst = cheatingGain({ skippedFraction: 1, batchUnits: n, checksPerBatch: k, pricePerUnit: p.pricePerUnit, costPerUnit: cost, slash }).gain
    maxCheatingGain = worst
    if (cost * BigInt(n) > p.pricePerUnit * BigInt(n) + slash) {
      const requiredPrice = cost - slash / BigInt(n) // least p with n·p + S >= n·c (floor of S/n keeps it sufficient)
      throw new InsufficientDeterrenceError(requiredPrice, p.pricePerUnit, {
        hints: [`The cost a unit (${cost}) exceeds the price by more than slash/maxBatch: raise the price to ${requiredPrice} or the slash to ${cost * BigInt(n) - p.pricePerUnit * BigInt(n)}.`],
        details: { problem: 'cheating-pays' satisfies DeterrenceProblem, costPerUnit: cost, maxCheatingGain: worst },
      })
    }
  }
  return {
    checkRate: k / n,
    requiredSlash,
    slashMargin: slash - requiredSlash,
    batchesCovered: slash === 0n ? 0n : stake / slash,
    ...(maxCheatingGain === undefined ? {} : { maxCheatingGain }),
  }
}
